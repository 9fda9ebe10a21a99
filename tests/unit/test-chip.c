/* SPDX-License-Identifier: MIT */

/* Chips and SKUs (cc-chip.c, cc-sku.c), config-space capabilities
 * (pci-config.c) and each chip's waits (cc-ready.c), on fake hosts whose
 * Blackwell GPUs carry their DVSEC or VSEC and a simulated BAR firewall. */

#include <fcntl.h>
#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "bar0.h"
#include "cc-ready.h"
#include "cc-sku.h"
#include "config.h"
#include "device.h"
#include "fake-host.h"
#include "gpusim.h"
#include "nv-regs.h"
#include "pci-config.h"
#include "sim-host.h"

#define BDF "0000:1b:00.0"

static uint64_t now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static void test_chips(void **state) {
        static const struct {
                uint16_t vendor, device;
                uint32_t class_code;
                GpuChip chip;
                uint32_t boot;
        } cases[] = {
                { 0x10de, 0x2330, 0x030200, GPU_CHIP_GH100, 0x200bc },
                { 0x10de, 0x2348, 0x030200, GPU_CHIP_GH100, 0x200bc },
                { 0x10de, 0x22a3, 0x068000, GPU_CHIP_LS10, 0x660bc },
                { 0x10de, 0x22a3, 0x030200, GPU_CHIP_OTHER, 0x200bc },
                { 0x10de, 0x2901, 0x030200, GPU_CHIP_GB100, 0x200bc },
                { 0x10de, 0x2941, 0x030200, GPU_CHIP_GB100, 0x200bc },
                { 0x10de, 0x29bc, 0x030200, GPU_CHIP_GB102, 0x200bc },
                { 0x10de, 0x2a10, 0x030200, GPU_CHIP_BLACKWELL_OTHER, 0x200bc },
                { 0x10de, 0x2b85, 0x030000, GPU_CHIP_GB202, 0xad00bc },
                { 0x10de, 0x2bb5, 0x030200, GPU_CHIP_GB202, 0xad00bc },
                { 0x10de, 0x2c05, 0x030000, GPU_CHIP_GB203, 0xad00bc },
                { 0x10de, 0x2d04, 0x030000, GPU_CHIP_GB206, 0xad00bc },
                { 0x10de, 0x2d83, 0x030000, GPU_CHIP_GB207, 0xad00bc },
                { 0x10de, 0x2f04, 0x030000, GPU_CHIP_GB205, 0xad00bc },
                { 0x10de, 0x3182, 0x030200, GPU_CHIP_GB110, 0x200bc },
                { 0x10de, 0x31c3, 0x030200, GPU_CHIP_GB110, 0x200bc },
                { 0x10de, 0x3200, 0x030200, GPU_CHIP_GB112, 0x200bc },
                { 0x10de, 0x20b0, 0x030200, GPU_CHIP_OTHER, 0x200bc },  /* A100 */
                { 0x10de, 0x2380, 0x030200, GPU_CHIP_OTHER, 0x200bc },
                { 0x10de, 0x2901, 0x040300, GPU_CHIP_OTHER, 0x200bc },  /* not a GPU function */
                { 0x1234, 0x2901, 0x030200, GPU_CHIP_OTHER, 0x200bc },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                GpuChip chip = gpu_chip_from_ids(cases[i].vendor, cases[i].device, cases[i].class_code);

                print_message("%04x:%04x\n", cases[i].vendor, cases[i].device);
                assert_int_equal(chip, cases[i].chip);
                assert_int_equal(gpu_chip_boot_register(chip), cases[i].boot);
                assert_int_equal(gpu_chip_from_string(gpu_chip_to_string(chip)), chip);
                assert_int_equal(cc_device_arch(cases[i].vendor, cases[i].device, cases[i].class_code),
                                 gpu_chip_arch(chip));
        }
        /* An unknown Blackwell id is still Blackwell. */
        assert_int_equal(cc_device_arch(0x10de, 0x2a10, 0x030200), GPU_ARCH_BLACKWELL);
        assert_int_equal((int) gpu_chip_from_string("gb999"), -1);
        assert_int_equal(gpu_chip_default(GPU_ARCH_BLACKWELL), GPU_CHIP_GB100);
}

static void test_sku_table(void **state) {
        static const struct {
                uint16_t device;
                bool capable;
        } cases[] = {
                { 0x2330, true }, { 0x2331, true }, { 0x2335, true }, { 0x2329, true }, { 0x233d, true },
                { 0x2336, true },  /* a Hopper id the table does not name: every GH100 */
                { 0x2901, true }, { 0x2909, true }, { 0x2920, true }, { 0x2941, true }, { 0x29bc, true },
                { 0x3182, true }, { 0x31c2, true }, { 0x31c3, true }, { 0x2bb5, true },
                { 0x2b85, false }, /* RTX 5090 */
                { 0x2bb1, false }, /* RTX PRO 6000 Workstation Edition */
                { 0x2a10, false }, { 0x2c05, false }, { 0x2900, false }, { 0x20b0, false },
        };
        const CcSku *table;
        size_t n;
        char buf[256];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                print_message("0x%04x\n", cases[i].device);
                assert_int_equal(cc_sku_is_cc_capable(0x10de, cases[i].device, 0x030200), cases[i].capable);
                assert_int_equal(cc_device_is_cc_capable(NULL, 0x10de, cases[i].device, 0x030200), cases[i].capable);
        }
        assert_false(cc_sku_is_cc_capable(0x10de, 0x2901, 0x068000));
        assert_false(cc_sku_is_cc_capable(0x1234, 0x2901, 0x030200));

        /* Sorted (looked up by bisection), each entry of the chip its id
         * range says, capable ones without a reason, others with one. */
        table = cc_sku_table(&n);
        assert_true(n > 20);
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        assert_true(table[i - 1].device_id < table[i].device_id);
                assert_ptr_equal(cc_sku_lookup(table[i].device_id), &table[i]);
                assert_int_equal(gpu_chip_from_ids(0x10de, table[i].device_id, 0x030200), table[i].chip);
                assert_true(table[i].cc_capable == !table[i].note);
                /* Every part of the table has a name to fall back to, but
                 * GB110's, which the built-in names do not list yet. */
                if (table[i].chip != GPU_CHIP_GB110)
                        assert_non_null(cc_device_builtin_name(0x10de, table[i].device_id));
        }
        assert_null(cc_sku_lookup(0x2a10));

        assert_null(cc_sku_why_not_capable(0x10de, 0x2901, 0x030200, NULL, buf, sizeof(buf)));
        assert_null(cc_sku_why_not_capable(0x10de, 0x20b0, 0x030200, NULL, buf, sizeof(buf)));
        assert_string_equal(cc_sku_why_not_capable(0x10de, 0x2b85, 0x030000, "GB202 [GeForce RTX 5090]", buf, sizeof(buf)),
                            "GB202 [GeForce RTX 5090] (0x2b85) is not CC-capable: a consumer part; NVIDIA's tools refuse "
                            "it (nvtrust #88)");
        assert_string_equal(cc_sku_why_not_capable(0x10de, 0x2a10, 0x030200, "Device 2a10", buf, sizeof(buf)),
                            "Blackwell device 0x2a10 (blackwell, Device 2a10) is not in the table of CC-capable parts; "
                            "list it in [Devices] CcCapableDeviceIds= if NVIDIA supports CC on it");
}

static void test_config_list_replaces_table(void **state) {
        CcConfig c;
        CcError err = CC_ERROR_INIT;

        cc_config_init(&c);
        assert_int_equal(cc_config_load_from_data(&c, "[Devices]\nCcCapableDeviceIds=0x2b85,0x2330\n", &err), 0);
        assert_true(cc_device_is_cc_capable(&c, 0x10de, 0x2b85, 0x030000));
        assert_true(cc_device_is_cc_capable(&c, 0x10de, 0x2330, 0x030200));
        assert_false(cc_device_is_cc_capable(&c, 0x10de, 0x2901, 0x030200));
        cc_config_done(&c);
}

/* Config-space files written by hand: the walk follows next pointers from
 * 0x100 and ends on 0, on a loop, or past a short file. */
static void put32(uint8_t *c, uint32_t off, uint32_t v) {
        memcpy(c + off, &v, 4); /* little-endian host */
}

static PciConfig *config_from(const char *dir, const uint8_t *bytes, size_t size) {
        g_autofree char *path = g_build_filename(dir, "config", NULL);
        PciConfig *c = NULL;

        assert_true(g_file_set_contents(path, (const char *) bytes, (gssize) size, NULL));
        assert_int_equal(pci_config_open_file(path, &c), 0);
        return c;
}

static void test_config_walk(void **state) {
        g_autofree char *dir = g_dir_make_tmp("test-chip-XXXXXX", NULL);
        g_autofree char *path = g_build_filename(dir, "config", NULL);
        uint8_t bytes[4096] = {};
        PciConfig *c;
        uint32_t off = 0;

        /* AER -> VSEC (id 2) -> VSEC (id 1, rev 1) -> DVSEC (other vendor) -> DVSEC (0x10de, 0) */
        put32(bytes, 0x100, 0x0001 | 2u << 16 | 0x200u << 20);
        put32(bytes, 0x200, 0x000b | 1u << 16 | 0x300u << 20);
        put32(bytes, 0x204, 0x2 | 1u << 16);
        put32(bytes, 0x300, 0x000b | 1u << 16 | 0x400u << 20);
        put32(bytes, 0x304, 0x1 | 1u << 16);
        put32(bytes, 0x400, 0x0023 | 1u << 16 | 0x500u << 20);
        put32(bytes, 0x404, 0x1e98);
        put32(bytes, 0x500, 0x0023 | 1u << 16);
        put32(bytes, 0x504, 0x10de);
        put32(bytes, 0x508, 0x0);

        c = config_from(dir, bytes, sizeof(bytes));
        assert_int_equal(pci_config_find_vsec(c, 1, 1, &off), 0);
        assert_int_equal(off, 0x300);
        assert_int_equal(pci_config_find_dvsec(c, 0x10de, 0, &off), 0);
        assert_int_equal(off, 0x500);
        assert_int_equal(pci_config_find_vsec(c, 1, 2, &off), -ENOENT);
        assert_int_equal(pci_config_find_dvsec(c, 0x10de, 1, &off), -ENOENT);
        assert_int_equal(pci_config_read32(c, 0x1002, &off), -ERANGE);
        assert_int_equal(pci_config_read32(c, 4096, &off), -ERANGE);
        c = pci_config_close(c);

        /* A loop back to 0x100 ends. */
        put32(bytes, 0x500, 0x0023 | 1u << 16 | 0x100u << 20);
        put32(bytes, 0x504, 0x1234);
        c = config_from(dir, bytes, sizeof(bytes));
        assert_int_equal(pci_config_find_dvsec(c, 0x10de, 0, &off), -ENOENT);
        c = pci_config_close(c);

        /* What an unprivileged reader gets: 64 bytes. */
        c = config_from(dir, bytes, 64);
        assert_int_equal(pci_config_find_dvsec(c, 0x10de, 0, &off), -ERANGE);
        {
                CcConfigRegs regs;
                assert_int_equal(cc_config_regs(c, GPU_CHIP_GB100, &regs), -ENOENT);
                assert_int_equal(cc_config_regs(c, GPU_CHIP_GH100, &regs), -EOPNOTSUPP);
        }
        c = pci_config_close(c);

        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
}

/* A fake host with one GPU of device_id, its BAR0 and config space. */
typedef struct Gpu {
        FakeHost *fake;
        HwHost *host;
        Bar0 *bar;
        PciConfig *cfg;
        char *state;
        GpuChip chip;
} Gpu;

static void gpu_open(Gpu *g, uint16_t device_id, unsigned boot_ms) {
        *g = (Gpu) {};
        g->fake = fake_host_new();
        assert_non_null(g->fake);
        assert_int_equal(fake_host_add_gpu(g->fake, BDF, device_id, &(FakeGpuOptions) {
                .driver = "nvidia", .boot_ms = boot_ms }), 0);
        assert_int_equal(sim_host_new(fake_host_root(g->fake), &g->host), 0);
        assert_int_equal(bar0_open(g->host, BDF, &g->bar, NULL), 0);
        assert_int_equal(pci_config_open(g->host, BDF, &g->cfg), 0);
        g->state = fake_host_path(g->fake, "sys/bus/pci/devices/%s/gpusim.ini", BDF);
        g->chip = gpu_chip_from_ids(0x10de, device_id, 0x030200);
}

static void gpu_close(Gpu *g) {
        pci_config_close(g->cfg);
        bar0_close(g->bar);
        hw_host_free(g->host);
        fake_host_free(g->fake);
        free(g->state);
}

static CcTimeouts short_timeouts(void) {
        CcTimeouts t = cc_timeouts_default(GPU_ARCH_BLACKWELL);

        t.boot_ms = 2000;
        t.boot_poll_ms = 1;
        t.firewall_ms = 2000;
        t.firewall_poll_ms = 1;
        t.firewall_fallback_ms = 50;
        return t;
}

static void test_firewall_regs(void **state) {
        static const struct {
                uint16_t device;
                uint32_t firewall, bit, sec_fault;
                const char *cap;
        } cases[] = {
                { 0x2901, 0xaf8, 1u << 20, 0xb04, "DVSEC" },
                { 0x3182, 0xaf8, 1u << 20, 0xb04, "DVSEC" },
                { 0x2bb5, 0x614, 1u << 24, 0x610, "VSEC" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Gpu g;
                CcConfigRegs regs;
                uint32_t v;

                gpu_open(&g, cases[i].device, 0);
                assert_int_equal(cc_config_regs(g.cfg, g.chip, &regs), 0);
                assert_int_equal(regs.firewall, cases[i].firewall);
                assert_int_equal(regs.firewall_bit, cases[i].bit);
                assert_int_equal(regs.sec_fault, cases[i].sec_fault);
                assert_string_equal(regs.cap, cases[i].cap);
                /* Down on a GPU booted long ago; up while injected. */
                assert_int_equal(pci_config_read32(g.cfg, regs.firewall, &v), 0);
                assert_int_equal(v & regs.firewall_bit, 0);
                assert_int_equal(gpusim_set(g.state, "Inject", "FirewallStuck", "true"), 0);
                assert_int_equal(pci_config_read32(g.cfg, regs.firewall, &v), 0);
                assert_int_equal(v & regs.firewall_bit, regs.firewall_bit);
                /* Behind it BAR0 answers all ones. */
                assert_int_equal(bar0_read32(g.bar, NV_PMC_BOOT_0), NV_PMC_BOOT_0_OFF_BUS);
                gpu_close(&g);
        }
}

/* After a reset: the firewall is up for FirewallMs (BAR0 unreadable), then
 * boot completes in the chip's own register. */
static void test_wait_after_reset(void **state) {
        static const uint16_t devices[] = { 0x2901, 0x2bb5 };

        for (size_t i = 0; i < ELEMENTSOF(devices); i++) {
                Gpu g;
                CcTimeouts t = short_timeouts();
                CcError err = CC_ERROR_INIT;
                uint64_t t0;

                gpu_open(&g, devices[i], 200);
                assert_int_equal(gpusim_set(g.state, "Device", "FirewallMs", "100"), 0);
                t0 = now_us();
                assert_int_equal(gpusim_reset(g.state), 0);
                assert_int_equal(bar0_read32(g.bar, gpu_chip_boot_register(g.chip)), NV_PMC_BOOT_0_OFF_BUS);

                assert_int_equal(cc_wait_firewall(g.cfg, g.bar, g.chip, &t, &err), 0);
                assert_true(now_us() - t0 >= 100000);
                /* Firewall down, boot not yet complete. */
                if (now_us() - t0 < 200000)
                        assert_int_equal(bar0_read32(g.bar, gpu_chip_boot_register(g.chip)), 0);
                assert_int_equal(cc_wait_ready(g.cfg, g.bar, g.chip, &t, &err), 0);
                assert_true(now_us() - t0 >= 200000);
                assert_int_equal(bar0_read32(g.bar, gpu_chip_boot_register(g.chip)), NV_FSP_BOOT_COMPLETE_DONE);
                gpu_close(&g);
        }
}

/* GB202 says it booted at 0xad00bc only: waiting on 0x200bc never ends. */
static void test_gb202_boot_register(void **state) {
        Gpu g;
        CcTimeouts t = short_timeouts();
        CcError err = CC_ERROR_INIT;

        gpu_open(&g, 0x2bb5, 0);
        t.boot_ms = 20;
        assert_int_equal(bar0_read32(g.bar, NV_FSP_BOOT_COMPLETE), 0);
        assert_int_equal(bar0_read32(g.bar, NV_GB20X_FSP_BOOT_COMPLETE), NV_FSP_BOOT_COMPLETE_DONE);
        assert_int_equal(cc_wait_boot(g.bar, GPU_CHIP_GB202, &t, &err), 0);
        assert_int_equal(cc_wait_boot(g.bar, GPU_CHIP_GB100, &t, &err), -ETIMEDOUT);
        assert_string_equal(err.message, "boot not complete after 20 ms (0x0200bc = 0x0)");
        gpu_close(&g);

        /* And a GB100 the other way round. */
        gpu_open(&g, 0x2901, 0);
        cc_error_clear(&err);
        assert_int_equal(cc_wait_boot(g.bar, GPU_CHIP_GB100, &t, &err), 0);
        assert_int_equal(bar0_read32(g.bar, NV_GB20X_FSP_BOOT_COMPLETE), 0);
        gpu_close(&g);
}

static void test_firewall_never_drops(void **state) {
        static const struct {
                uint16_t device;
                const char *message;
        } cases[] = {
                { 0x2901, "BAR firewall still up after 30 ms (config 0xaf8 = 0x00100000, DVSEC)" },
                { 0x2bb5, "BAR firewall still up after 30 ms (config 0x614 = 0x01000000, VSEC)" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Gpu g;
                CcTimeouts t = short_timeouts();
                CcError err = CC_ERROR_INIT;
                uint64_t t0;

                gpu_open(&g, cases[i].device, 0);
                assert_int_equal(gpusim_set(g.state, "Inject", "FirewallStuck", "true"), 0);
                t.firewall_ms = 30;
                t0 = now_us();
                assert_int_equal(cc_wait_ready(g.cfg, g.bar, g.chip, &t, &err), -ETIMEDOUT);
                assert_true(now_us() - t0 >= 30000);
                assert_int_equal(err.kind, CC_ERROR_TIMEOUT);
                assert_string_equal(err.message, cases[i].message);
                gpu_close(&g);
        }
}

/* Without the capability (no config space, or 64 bytes of it): BAR0 all
 * ones gets one fallback wait, then an error; a readable BAR0 none. */
static void test_firewall_fallback(void **state) {
        Gpu g;
        CcTimeouts t = short_timeouts();
        CcError err = CC_ERROR_INIT;
        uint64_t t0;

        gpu_open(&g, 0x2901, 0);
        /* A fallback wait long enough that taking it cannot be mistaken for
         * a slow machine. */
        t.firewall_fallback_ms = 20000;
        t0 = now_us();
        assert_int_equal(cc_wait_firewall(NULL, g.bar, g.chip, &t, &err), 0);
        assert_true(now_us() - t0 < 10000000);
        t.firewall_fallback_ms = 50;

        assert_int_equal(gpusim_set(g.state, "Inject", "FirewallStuck", "true"), 0);
        t0 = now_us();
        assert_int_equal(cc_wait_firewall(NULL, g.bar, g.chip, &t, &err), -ENODEV);
        assert_true(now_us() - t0 >= 50000);
        assert_int_equal(err.kind, CC_ERROR_HARDWARE_FAILURE);
        assert_string_equal(err.message,
                            "BAR0 still reads 0xffffffff after 50 ms and the BAR firewall cannot be read from "
                            "config space: the GPU is firewalled or has fallen off the bus");
        gpu_close(&g);

        /* Hopper has no firewall to wait for. */
        gpu_open(&g, 0x2330, 0);
        cc_error_clear(&err);
        assert_int_equal(cc_wait_firewall(g.cfg, g.bar, g.chip, &t, &err), 0);
        assert_int_equal(cc_wait_ready(g.cfg, g.bar, g.chip, &t, &err), 0);
        gpu_close(&g);
}

static void test_security_fault_and_recovery(void **state) {
        Gpu g;
        CcTimeouts t = short_timeouts();
        CcError err = CC_ERROR_INIT;
        CcStatus s;

        gpu_open(&g, 0x2901, 0);
        assert_int_equal(cc_check_security_fault(g.cfg, g.chip, &err), 0);
        assert_int_equal(gpusim_set(g.state, "Inject", "SecurityFault", "true"), 0);
        assert_int_equal(cc_wait_ready(g.cfg, g.bar, g.chip, &t, &err), -EIO);
        assert_int_equal(err.kind, CC_ERROR_HARDWARE_FAILURE);
        assert_string_equal(err.message,
                            "GPU reports a security fault (config 0xb04 = 0x00000001, DVSEC); only a cold reset clears it");
        assert_int_equal(gpusim_set(g.state, "Inject", "SecurityFault", "false"), 0);

        cc_error_clear(&err);
        assert_int_equal(gpusim_set(g.state, "Inject", "RecoveryMode", "true"), 0);
        assert_int_equal(cc_wait_ready(g.cfg, g.bar, g.chip, &t, &err), -EIO);
        assert_string_equal(err.message,
                            "GPU is in recovery mode (0x8aa128 = 0x00000003); its firmware must be recovered first");
        assert_int_equal(gpusim_set(g.state, "Inject", "RecoveryMode", "false"), 0);

        /* Off the bus: config space reads all ones too. */
        cc_error_clear(&err);
        assert_int_equal(gpusim_set(g.state, "Inject", "OffBus", "true"), 0);
        assert_int_equal(cc_wait_ready(g.cfg, g.bar, g.chip, &t, &err), -ENODEV);
        assert_string_equal(err.message, "GPU has fallen off the bus (config space reads 0xffffffff)");
        assert_int_equal(gpusim_set(g.state, "Inject", "OffBus", "false"), 0);

        /* GB202 keeps the word in its VSEC. */
        gpu_close(&g);
        gpu_open(&g, 0x2bb5, 0);
        cc_error_clear(&err);
        assert_int_equal(gpusim_set(g.state, "Inject", "SecurityFault", "true"), 0);
        assert_int_equal(cc_check_security_fault(g.cfg, g.chip, &err), -EIO);
        assert_non_null(strstr(err.message, "(config 0x610 = 0x00000001, VSEC)"));
        assert_int_equal(gpusim_set(g.state, "Inject", "SecurityFault", "false"), 0);

        /* NVLink encryption and the BAR0 firewall in the status. */
        assert_int_equal(gpusim_set(g.state, "Device", "NvlinkEncryption", "true"), 0);
        assert_int_equal(gpusim_set(g.state, "Knobs", "Active", "8:1;6:0;10:2"), 0);
        assert_int_equal(cc_query(g.bar, g.chip, &s, &err), 0);
        assert_int_equal(s.cc, DEVICE_CC_ON);
        assert_true(s.nvle);
        assert_true(s.bar0_firewall);
        assert_false(s.ppcie);
        gpu_close(&g);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_chips),
                cmocka_unit_test(test_sku_table),
                cmocka_unit_test(test_config_list_replaces_table),
                cmocka_unit_test(test_config_walk),
                cmocka_unit_test(test_firewall_regs),
                cmocka_unit_test(test_wait_after_reset),
                cmocka_unit_test(test_gb202_boot_register),
                cmocka_unit_test(test_firewall_never_drops),
                cmocka_unit_test(test_firewall_fallback),
                cmocka_unit_test(test_security_fault_and_recovery),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
