/* SPDX-License-Identifier: MIT */

/* The one DNS name check (common/cc-names.c) and the names built on it:
 * RuntimeClass handlers, registry hosts' rules (any case) and Kubernetes'
 * (lower case only). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cc-names.h"
#include "macro.h"

static bool dns(const char *s, bool lowercase) {
        return dns_name_valid(s, strlen(s), lowercase);
}

static void test_dns_names(void **state) {
        char label[DNS_LABEL_MAX + 2], name[DNS_NAME_MAX + 2];

        assert_true(dns("nvidia.com", true));
        assert_true(dns("a", true));
        assert_true(dns("a-b.c0", true));
        assert_true(dns("Registry.Example.COM", false));
        assert_false(dns("Registry.Example.COM", true));
        assert_false(dns("", false));
        assert_false(dns("-a", false));
        assert_false(dns("a-", false));
        assert_false(dns("a-.b", false));
        assert_false(dns("a..b", false));
        assert_false(dns(".a", false));
        assert_false(dns("a.", false));
        assert_false(dns("a_b", false));
        assert_false(dns("a b", false));
        assert_false(dns("\xc3\xa9t\xc3\xa9", false));

        /* A label of 63 and a name of 253; one more each is refused. */
        memset(label, 'a', DNS_LABEL_MAX);
        label[DNS_LABEL_MAX] = '\0';
        assert_true(dns(label, true));
        label[DNS_LABEL_MAX] = 'a';
        label[DNS_LABEL_MAX + 1] = '\0';
        assert_false(dns(label, true));
        for (size_t i = 0; i < DNS_NAME_MAX; i++)
                name[i] = i % 4 == 3 ? '.' : 'a';
        name[DNS_NAME_MAX] = '\0';
        assert_true(dns(name, true));
        name[DNS_NAME_MAX] = 'a';
        name[DNS_NAME_MAX + 1] = '\0';
        assert_false(dns(name, true));
}

static void test_runtime_class(void **state) {
        char label[DNS_LABEL_MAX + 2];

        assert_true(cc_runtime_class_valid("kata-qemu-nvidia-gpu-snp"));
        assert_true(cc_runtime_class_valid("k8s1"));
        assert_false(cc_runtime_class_valid(NULL));
        assert_false(cc_runtime_class_valid(""));
        /* A label, not a name: no dots, no capitals. */
        assert_false(cc_runtime_class_valid("kata.qemu"));
        assert_false(cc_runtime_class_valid("Kata"));
        assert_false(cc_runtime_class_valid("-kata"));
        assert_false(cc_runtime_class_valid("kata-"));
        memset(label, 'k', DNS_LABEL_MAX);
        label[DNS_LABEL_MAX] = '\0';
        assert_true(cc_runtime_class_valid(label));
        label[DNS_LABEL_MAX] = 'k';
        label[DNS_LABEL_MAX + 1] = '\0';
        assert_false(cc_runtime_class_valid(label));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dns_names),
                cmocka_unit_test(test_runtime_class),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
