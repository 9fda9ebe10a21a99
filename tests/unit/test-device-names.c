/* SPDX-License-Identifier: MIT */

/* The Name property's fallbacks: pci.ids first, then the built-in names of
 * the parts the ranges know, then "Device XXXX" as lspci writes it. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "device.h"

static void assert_name(const char *pci_name, uint16_t vendor, uint16_t device, const char *want) {
        _cleanup_free_ char *name = cc_device_name(pci_name, vendor, device);

        assert_non_null(name);
        assert_string_equal(name, want);
}

static void test_pci_ids_first(void **state) {
        /* A newer pci.ids may word a name differently; its word wins. */
        assert_name("GH100 [H200 SXM 141GB] (newer wording)", 0x10de, 0x2335,
                    "GH100 [H200 SXM 141GB] (newer wording)");
        assert_name("GH100[H100 SXM5 80GB]", 0x10de, 0x2330, "GH100[H100 SXM5 80GB]");
}

static void test_builtin_when_pci_ids_lacks_it(void **state) {
        /* The real H200 on Debian 12: libpci found no name. */
        assert_name("", 0x10de, 0x2335, "GH100 [H200 SXM 141GB]");
        assert_name(NULL, 0x10de, 0x2335, "GH100 [H200 SXM 141GB]");
        assert_name("", 0x10de, 0x233b, "GH100 [H200 NVL]");
        assert_name("", 0x10de, 0x2901, "GB100 [B200]");
        assert_name("", 0x10de, 0x2bb5, "GB202GL [RTX PRO 6000 Blackwell Server Edition]");
        /* First and last entries, so the search covers both ends. */
        assert_name("", 0x10de, 0x22a3, "GH100 [H100 NVSwitch]");
        assert_name("", 0x10de, 0x2bbc, "GB202GL [RTX PRO 6000D Blackwell Max-Q Workstation Edition]");
}

static void test_lspci_style_fallback(void **state) {
        /* In a range but unnamed, outside the ranges, another vendor with
         * an id the table holds: lspci's "Device %04x", lower-case. */
        assert_name("", 0x10de, 0x2bff, "Device 2bff");
        assert_name("", 0x10de, 0x2380, "Device 2380");
        assert_name("", 0x10de, 0x20b0, "Device 20b0");
        assert_name("", 0x1234, 0x2335, "Device 2335");
        assert_name(NULL, 0x1234, 0x11e8, "Device 11e8");
        assert_name("", 0x10de, 0x0000, "Device 0000");
        assert_null(cc_device_builtin_name(0x10de, 0x2bff));
        assert_null(cc_device_builtin_name(0x1234, 0x2335));
}

static void test_table_matches_ranges(void **state) {
        const char *name, *prev_name = NULL;
        uint16_t id, prev = 0;
        size_t n = 0;

        for (size_t i = 0; cc_device_builtin_name_at(i, &id, &name); i++, n++) {
                /* Sorted and unique: the lookup is a binary search. */
                if (i > 0)
                        assert_true(id > prev);
                assert_non_null(name);
                assert_true(name[0] == 'G');
                assert_ptr_equal(cc_device_builtin_name(0x10de, id), name);

                /* Every entry is a part of an architecture the ranges know:
                 * the table names nothing else.  (CC capability is per SKU,
                 * src/hw/cc-sku.c: an RTX 5090 has a name but no CC.) */
                if (cc_device_arch(0x10de, id, 0x068000) == GPU_ARCH_LS10_NVSWITCH) {
                        assert_true(cc_device_is_ppcie_capable(0x10de, id, 0x068000));
                } else {
                        GpuArch arch = cc_device_arch(0x10de, id, 0x030200);

                        assert_true(arch == GPU_ARCH_HOPPER || arch == GPU_ARCH_BLACKWELL);
                        if (arch == GPU_ARCH_HOPPER)
                                assert_true(cc_device_is_cc_capable(NULL, 0x10de, id, 0x030200));
                }
                prev = id;
                prev_name = name;
        }
        assert_non_null(prev_name);
        assert_true(n >= 50);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pci_ids_first),
                cmocka_unit_test(test_builtin_when_pci_ids_lacks_it),
                cmocka_unit_test(test_lspci_style_fallback),
                cmocka_unit_test(test_table_matches_ranges),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
