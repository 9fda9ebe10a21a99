/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "oci-reference.h"

static void check_ok(const char *s, const char *host, unsigned port, const char *authority,
                     const char *repo, const char *tag, const char *digest) {
        OciReference r = {};
        CcError err = CC_ERROR_INIT;

        assert_int_equal(oci_reference_parse(s, &r, &err), 0);
        assert_string_equal(r.host, host);
        assert_int_equal(r.port, port);
        assert_string_equal(r.authority, authority);
        assert_string_equal(r.repository, repo);
        if (tag)
                assert_string_equal(r.tag, tag);
        else
                assert_null(r.tag);
        if (digest)
                assert_string_equal(r.digest, digest);
        else
                assert_null(r.digest);
        oci_reference_done(&r);
}

#define D "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_valid(void **state) {
        check_ok("nvcr.io/nvidia/cloud-native/kata-gpu-artifacts:ubuntu-22.04-535",
                 "nvcr.io", 0, "nvcr.io", "nvidia/cloud-native/kata-gpu-artifacts", "ubuntu-22.04-535", NULL);
        check_ok("127.0.0.1:5000/kata", "127.0.0.1", 5000, "127.0.0.1:5000", "kata", "latest", NULL);
        check_ok("localhost:5000/a/b@" D, "localhost", 5000, "localhost:5000", "a/b", NULL, D);
        check_ok("[::1]:443/kata:v1@" D, "[::1]", 443, "[::1]:443", "kata", "v1", D);
        check_ok("registry/a__b.c-d--e:V_1.0", "registry", 0, "registry", "a__b.c-d--e", "V_1.0", NULL);
}

static void check_bad(const char *s, const char *words) {
        OciReference r = {};
        CcError err = CC_ERROR_INIT;

        assert_int_equal(oci_reference_parse(s, &r, &err), -EINVAL);
        assert_int_equal(err.kind, CC_ERROR_INVALID_ARGUMENT);
        if (!strstr(err.message, words))
                fail_msg("%s: \"%s\" does not say \"%s\"", s, err.message, words);
        assert_null(r.host);
}

static void test_invalid(void **state) {
        check_bad("", "empty");
        check_bad("kata:v1", "no registry host");
        check_bad("host/Kata", "repository");
        check_bad("host//kata", "repository");
        check_bad("host/kata/", "repository");
        check_bad("host/-kata", "repository");
        check_bad("host/ka___ta", "repository");
        check_bad("host/kata:", "tag");
        check_bad("host/kata:.v1", "tag");
        check_bad("host/kata:v1:v2", "tag");
        check_bad("host/kata@sha256:abc", "digest");
        check_bad("host/kata@sha512:" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "digest");
        check_bad("host/kata@" "sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "digest");
        check_bad("host:0/kata", "port");
        check_bad("host:65536/kata", "port");
        check_bad("host:/kata", "port");
        check_bad("host:05/kata", "port");
        check_bad("-host/kata", "host");
        check_bad("ho_st/kata", "host");
        check_bad("host./kata", "host");
        check_bad("[::1/kata", "IPv6");
        check_bad("[zz::1]/kata", "IPv6");
        check_bad("host/ka ta", "space");
        check_bad("host/ka\nta", "space");
        check_bad("h\xc3\xa9/kata", "printable");
}

static void test_too_long(void **state) {
        char s[OCI_REFERENCE_MAX + 2];
        OciReference r = {};
        CcError err = CC_ERROR_INIT;

        memset(s, 'a', sizeof(s) - 1);
        s[sizeof(s) - 1] = '\0';
        memcpy(s, "host/", 5);
        assert_int_equal(oci_reference_parse(s, &r, &err), -EINVAL);
        assert_non_null(strstr(err.message, "longer than"));
}

static void test_loopback(void **state) {
        static const struct { const char *ref; bool loopback; } cases[] = {
                { "localhost/a", true },
                { "127.0.0.1:5000/a", true },
                { "127.1.2.3/a", true },
                { "[::1]:5000/a", true },
                { "128.0.0.1/a", false },
                { "10.0.0.1/a", false },
                { "127.0.0.1.example.com/a", false },
                { "localhost.example.com/a", false },
                { "[::2]/a", false },
                { "registry/a", false },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                OciReference r = {};

                assert_int_equal(oci_reference_parse(cases[i].ref, &r, NULL), 0);
                if (oci_reference_is_loopback(&r) != cases[i].loopback)
                        fail_msg("%s", cases[i].ref);
                oci_reference_done(&r);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid),
                cmocka_unit_test(test_invalid),
                cmocka_unit_test(test_too_long),
                cmocka_unit_test(test_loopback),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
