/* SPDX-License-Identifier: MIT */

/* Discovery on fake trees: which functions become devices, what is read
 * about them from sysfs and from their simulated BAR0, the host's TEE, and
 * the aggregate mode. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "device.h"
#include "fake-host.h"
#include "sim-host.h"
#include "gpusim.h"
#include "pci-enum.h"
#include "pci-sysfs.h"
#include "tee.h"

static const char *const hgx_gpus[] = {
        "0000:18:00.0", "0000:2a:00.0", "0000:3a:00.0", "0000:5d:00.0",
        "0000:9a:00.0", "0000:ab:00.0", "0000:ba:00.0", "0000:db:00.0",
};
static const char *const hgx_switches[] = { "0000:05:00.0", "0000:06:00.0", "0000:07:00.0", "0000:08:00.0" };

typedef struct Tree {
        FakeHost *fake;
        HwHost *host;
        CcConfig config;
        CcInventory *inv;
} Tree;

static Tree *tree_new(const char *config) {
        Tree *t = calloc(1, sizeof(Tree));
        CcError err = CC_ERROR_INIT;

        assert_non_null(t);
        t->fake = fake_host_new();
        assert_non_null(t->fake);
        assert_int_equal(sim_host_new(fake_host_root(t->fake), &t->host), 0);
        cc_config_init(&t->config);
        if (config)
                assert_int_equal(cc_config_load_from_data(&t->config, config, &err), 0);
        return t;
}

static void tree_free(Tree *t) {
        cc_inventory_free(t->inv);
        cc_config_done(&t->config);
        hw_host_free(t->host);
        fake_host_free(t->fake);
        free(t);
}

static CcInventory *scan(Tree *t) {
        CcError err = CC_ERROR_INIT;

        t->inv = cc_inventory_free(t->inv);
        assert_int_equal(cc_inventory_scan(t->host, &t->config, &t->inv, &err), 0);
        assert_false(cc_error_is_set(&err));
        return t->inv;
}

static void add_gpu(Tree *t, const char *bdf, uint16_t id, DeviceCcMode mode) {
        assert_int_equal(fake_host_add_gpu(t->fake, bdf, id, &(FakeGpuOptions) {
                .driver = "nvidia", .mode = mode }), 0);
}

static void build_hgx(Tree *t) {
        for (size_t i = 0; i < ELEMENTSOF(hgx_gpus); i++)
                assert_int_equal(fake_host_add_gpu(t->fake, hgx_gpus[i], 0x2330, &(FakeGpuOptions) {
                        .driver = "nvidia", .iommu_group = 20 + (int) i, .numa_node = i < 4 ? 0 : 1,
                        .subsystem_device = 0x16c1 }), 0);
        for (size_t i = 0; i < ELEMENTSOF(hgx_switches); i++)
                assert_int_equal(fake_host_add_nvswitch(t->fake, hgx_switches[i], 0x22a3, &(FakeGpuOptions) {
                        .driver = "nvidia" }), 0);
        /* A ConnectX NIC, the first GPU's audio-class function in its group,
         * and an SR-IOV VF of the second GPU. */
        assert_int_equal(fake_host_add_device(t->fake, "0000:1a:00.0", 0x15b3, 0x101d, 0x020000, "mlx5_core", 0), 0);
        assert_int_equal(fake_host_add_device(t->fake, "0000:18:00.1", 0x10de, 0x22ba, 0x040300, NULL, 20), 0);
        assert_int_equal(fake_host_add_virtfn(t->fake, "0000:2a:00.0", "0000:2a:00.4", 0x2330), 0);
}

static void test_hgx(void **state) {
        Tree *t = tree_new(NULL);
        CcInventory *inv;
        CcDevice *d;

        build_hgx(t);
        inv = scan(t);

        /* 8 GPUs and 4 NVSwitches; the NIC, the audio function and the VF are not devices. */
        assert_int_equal(inv->n_devices, 12);
        for (size_t i = 1; i < inv->n_devices; i++)
                assert_true(strcmp(inv->devices[i - 1]->bdf, inv->devices[i]->bdf) < 0);
        assert_null(cc_inventory_find(inv, "0000:1a:00.0"));
        assert_null(cc_inventory_find(inv, "0000:18:00.1"));
        assert_null(cc_inventory_find(inv, "0000:2a:00.4"));

        for (size_t i = 0; i < ELEMENTSOF(hgx_gpus); i++) {
                d = cc_inventory_find(inv, hgx_gpus[i]);
                assert_non_null(d);
                assert_int_equal(d->kind, DEVICE_KIND_GPU);
                assert_int_equal(d->vendor_id, 0x10de);
                assert_int_equal(d->device_id, 0x2330);
                assert_int_equal(d->class_code, 0x030200);
                assert_non_null(strstr(d->name, "H100 SXM5"));
                assert_int_equal(d->arch, GPU_ARCH_HOPPER);
                assert_true(d->cc_capable);
                assert_true(d->ppcie_capable);
                assert_int_equal(d->cc_mode, DEVICE_CC_OFF);
                assert_int_equal(d->ppcie_mode, DEVICE_CC_OFF);
                assert_string_equal(d->driver, "nvidia");
                assert_int_equal(d->iommu_group, 20 + (int) i);
                assert_int_equal(d->numa_node, i < 4 ? 0 : 1);
                assert_string_equal(d->vfio_device, "");
        }
        for (size_t i = 0; i < ELEMENTSOF(hgx_switches); i++) {
                d = cc_inventory_find(inv, hgx_switches[i]);
                assert_non_null(d);
                assert_int_equal(d->kind, DEVICE_KIND_NVSWITCH);
                assert_string_equal(device_kind_to_string(d->kind), "nvswitch");
                assert_int_equal(d->arch, GPU_ARCH_LS10_NVSWITCH);
                assert_false(d->cc_capable);
                assert_true(d->ppcie_capable);
                assert_int_equal(d->cc_mode, DEVICE_CC_UNKNOWN);
                assert_int_equal(d->ppcie_mode, DEVICE_CC_OFF);
        }
        assert_string_equal(cc_inventory_mode(inv), "off");
        assert_true(cc_inventory_cc_capable(inv));
        tree_free(t);
}

static void test_iommu_group_and_vfio(void **state) {
        Tree *t = tree_new(NULL);
        CcDevice *d, *lone;

        build_hgx(t);
        assert_int_equal(fake_host_add_gpu(t->fake, "0000:c1:00.0", 0x2331, &(FakeGpuOptions) {
                .driver = "nvidia", .iommu_group = FAKE_NO_IOMMU, .numa_node = -1 }), 0);
        scan(t);

        d = cc_inventory_find(t->inv, "0000:18:00.0");
        assert_non_null(d);
        assert_int_equal(strv_length(d->group_members), 2);
        assert_string_equal(d->group_members[0], "0000:18:00.0");
        assert_string_equal(d->group_members[1], "0000:18:00.1");

        lone = cc_inventory_find(t->inv, "0000:c1:00.0");
        assert_non_null(lone);
        assert_int_equal(lone->iommu_group, -1);
        assert_non_null(lone->group_members);
        assert_int_equal(strv_length(lone->group_members), 0);
        assert_int_equal(lone->numa_node, -1);

        /* Refresh follows a bind: driver and vfio node change, then settle. */
        assert_int_equal(cc_device_refresh(t->host, d), 0);
        assert_int_equal(hw_pci_unbind(t->host, d->bdf), 0);
        assert_int_equal(hw_pci_bind(t->host, d->bdf, "vfio-pci"), 0);
        assert_int_equal(cc_device_refresh(t->host, d), 1);
        assert_string_equal(d->driver, "vfio-pci");
        assert_string_equal(d->vfio_device, "/dev/vfio/20");
        assert_int_equal(cc_device_refresh(t->host, d), 0);
        assert_int_equal(hw_pci_unbind(t->host, d->bdf), 0);
        assert_int_equal(cc_device_refresh(t->host, d), 1);
        assert_string_equal(d->driver, "");
        assert_string_equal(d->vfio_device, "");

        /* A device that went away. */
        {
                _cleanup_free_ char *dir = fake_host_path(t->fake, "sys/bus/pci/devices/0000:c1:00.0");
                _cleanup_free_ char *cmd = NULL;
                assert_true(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
                assert_int_equal(system(cmd), 0);
                assert_int_equal(cc_device_refresh(t->host, lone), -ENODEV);
        }
        tree_free(t);
}

static void test_extra_devices(void **state) {
        Tree *plain = tree_new(NULL), *t = tree_new("[Devices]\nExtraDevices=1234:11e8\n");
        CcDevice *d;

        assert_int_equal(fake_host_add_device(plain->fake, "0000:00:04.0", 0x1234, 0x11e8, 0x00ff00, NULL, 0), 0);
        assert_int_equal(scan(plain)->n_devices, 0);

        assert_int_equal(fake_host_add_device(t->fake, "0000:00:04.0", 0x1234, 0x11e8, 0x00ff00, NULL, 0), 0);
        assert_int_equal(fake_host_add_device(t->fake, "0000:00:05.0", 0x1234, 0x11e9, 0x00ff00, NULL, 0), 0);
        scan(t);
        assert_int_equal(t->inv->n_devices, 1);
        d = cc_inventory_find(t->inv, "0000:00:04.0");
        assert_non_null(d);
        assert_int_equal(d->kind, DEVICE_KIND_GPU);
        assert_int_equal(d->arch, GPU_ARCH_OTHER);
        assert_false(d->cc_capable);
        assert_false(d->ppcie_capable);
        assert_int_equal(d->cc_mode, DEVICE_CC_UNKNOWN);
        assert_true(d->iommu_group > 0);
        /* Not an NVIDIA GPU: the host is not CC-capable, and has no mode. */
        assert_false(cc_inventory_cc_capable(t->inv));
        assert_string_equal(cc_inventory_mode(t->inv), "none");
        tree_free(plain);
        tree_free(t);
}

static void build_mixed_models(Tree *t) {
        add_gpu(t, "0000:18:00.0", 0x2330, DEVICE_CC_ON); /* H100 SXM5 */
        add_gpu(t, "0000:2a:00.0", 0x2331, DEVICE_CC_ON); /* H100 PCIe */
        add_gpu(t, "0000:3a:00.0", 0x20b0, DEVICE_CC_OFF); /* A100: no simulator */
        add_gpu(t, "0000:5d:00.0", 0x2901, DEVICE_CC_ON); /* B200 */
}

static void test_cc_capable_ids(void **state) {
        Tree *builtin = tree_new(NULL);
        Tree *narrow = tree_new("[Devices]\nCcCapableDeviceIds=0x2330,0x2901\n");
        Tree *extend = tree_new("[Devices]\nCcCapableDeviceIds=0x2330,0x2331,0x20b0,0x2901\n");
        CcDevice *d;

        build_mixed_models(builtin);
        scan(builtin);
        assert_true(cc_inventory_find(builtin->inv, "0000:2a:00.0")->cc_capable);
        assert_false(cc_inventory_find(builtin->inv, "0000:3a:00.0")->cc_capable);
        d = cc_inventory_find(builtin->inv, "0000:5d:00.0");
        assert_int_equal(d->arch, GPU_ARCH_BLACKWELL);
        assert_true(d->cc_capable);
        assert_false(d->ppcie_capable);
        assert_int_equal(d->cc_mode, DEVICE_CC_ON);
        assert_int_equal(d->ppcie_mode, DEVICE_CC_UNKNOWN);
        /* The A100 is an NVIDIA GPU that cannot do CC. */
        assert_false(cc_inventory_cc_capable(builtin->inv));
        assert_string_equal(cc_inventory_mode(builtin->inv), "on");

        build_mixed_models(narrow);
        scan(narrow);
        d = cc_inventory_find(narrow->inv, "0000:2a:00.0");
        assert_false(d->cc_capable);
        assert_int_equal(d->cc_mode, DEVICE_CC_UNKNOWN); /* not queried */
        assert_true(d->ppcie_capable);                  /* still Hopper */
        assert_true(cc_inventory_find(narrow->inv, "0000:18:00.0")->cc_capable);
        assert_string_equal(cc_inventory_mode(narrow->inv), "on");

        build_mixed_models(extend);
        scan(extend);
        d = cc_inventory_find(extend->inv, "0000:3a:00.0");
        assert_true(d->cc_capable);
        assert_int_equal(d->arch, GPU_ARCH_OTHER);
        assert_int_equal(d->cc_mode, DEVICE_CC_UNKNOWN);
        assert_true(cc_inventory_cc_capable(extend->inv));
        assert_string_equal(cc_inventory_mode(extend->inv), "unknown");

        tree_free(builtin);
        tree_free(narrow);
        tree_free(extend);
}

static void test_ids(void **state) {
        CcConfig c;
        CcError err = CC_ERROR_INIT;

        assert_int_equal(cc_device_arch(0x10de, 0x22f0, 0x030200), GPU_ARCH_HOPPER);
        assert_int_equal(cc_device_arch(0x10de, 0x237f, 0x030000), GPU_ARCH_HOPPER);
        assert_int_equal(cc_device_arch(0x10de, 0x2380, 0x030200), GPU_ARCH_OTHER);
        assert_int_equal(cc_device_arch(0x10de, 0x22ef, 0x030200), GPU_ARCH_OTHER);
        assert_int_equal(cc_device_arch(0x10de, 0x2342, 0x030200), GPU_ARCH_HOPPER); /* GH200 */
        assert_int_equal(cc_device_arch(0x10de, 0x2901, 0x030200), GPU_ARCH_BLACKWELL);
        assert_int_equal(cc_device_arch(0x10de, 0x22a3, 0x068000), GPU_ARCH_LS10_NVSWITCH);
        assert_int_equal(cc_device_arch(0x10de, 0x22a3, 0x030200), GPU_ARCH_OTHER);
        assert_int_equal(cc_device_arch(0x10de, 0x1af1, 0x068000), GPU_ARCH_OTHER); /* LR10 */
        assert_int_equal(cc_device_arch(0x10de, 0x2330, 0x040300), GPU_ARCH_OTHER);
        assert_int_equal(cc_device_arch(0x8086, 0x2330, 0x030200), GPU_ARCH_OTHER);

        assert_true(cc_device_is_cc_capable(NULL, 0x10de, 0x2330, 0x030200));
        assert_false(cc_device_is_cc_capable(NULL, 0x10de, 0x22a3, 0x068000));
        assert_false(cc_device_is_cc_capable(NULL, 0x10de, 0x20b0, 0x030200));
        assert_true(cc_device_is_ppcie_capable(0x10de, 0x2330, 0x030200));
        assert_true(cc_device_is_ppcie_capable(0x10de, 0x22a3, 0x068000));
        assert_false(cc_device_is_ppcie_capable(0x10de, 0x2901, 0x030200));

        assert_true(cc_device_is_managed(NULL, 0x10de, 0x2330, 0x030200));
        assert_true(cc_device_is_managed(NULL, 0x10de, 0x1db6, 0x030000));
        assert_true(cc_device_is_managed(NULL, 0x10de, 0x22a3, 0x068000));
        assert_false(cc_device_is_managed(NULL, 0x10de, 0x22ba, 0x040300));
        assert_false(cc_device_is_managed(NULL, 0x10de, 0x1ad8, 0x0c0330)); /* USB */
        assert_false(cc_device_is_managed(NULL, 0x15b3, 0x101d, 0x020000));

        cc_config_init(&c);
        assert_int_equal(cc_config_load_from_data(&c, "[Devices]\nCcCapableDeviceIds=0x2331\n", &err), 0);
        assert_false(cc_device_is_cc_capable(&c, 0x10de, 0x2330, 0x030200));
        assert_true(cc_device_is_cc_capable(&c, 0x10de, 0x2331, 0x030200));
        /* The ids are NVIDIA GPU ids. */
        assert_false(cc_device_is_cc_capable(&c, 0x1234, 0x2331, 0x030200));
        assert_false(cc_device_is_cc_capable(&c, 0x10de, 0x2331, 0x068000));
        cc_config_done(&c);
}

static void test_host_tee(void **state) {
        Tree *t = tree_new(NULL);

        assert_string_equal(hw_host_tee(t->host), "none"); /* no kvm at all */
        assert_int_equal(fake_host_set_tee(t->fake, "tdx"), 0);
        assert_string_equal(hw_host_tee(t->host), "tdx");
        assert_int_equal(fake_host_set_tee(t->fake, "sev-snp"), 0);
        assert_string_equal(hw_host_tee(t->host), "sev-snp");
        assert_int_equal(fake_host_set_tee(t->fake, "none"), 0);
        assert_string_equal(hw_host_tee(t->host), "none");

        assert_int_equal(fake_host_write(t->fake, "sys/module/kvm_intel/parameters/tdx", "1\n"), 0);
        assert_string_equal(hw_host_tee(t->host), "tdx");
        assert_int_equal(fake_host_write(t->fake, "sys/module/kvm_intel/parameters/tdx", "0\n"), 0);
        assert_string_equal(hw_host_tee(t->host), "none");
        assert_int_equal(fake_host_write(t->fake, "sys/module/kvm_amd/parameters/sev_snp", "1\n"), 0);
        assert_string_equal(hw_host_tee(t->host), "sev-snp");
        assert_int_equal(fake_host_write(t->fake, "sys/module/kvm_amd/parameters/sev_snp", "N\n"), 0);
        assert_string_equal(hw_host_tee(t->host), "none");
        tree_free(t);
}

/* The aggregate of a tree whose GPUs start in the given modes. */
static const char *tree_mode(Tree *t, const DeviceCcMode *modes, size_t n) {
        for (size_t i = 0; i < n; i++)
                add_gpu(t, hgx_gpus[i], 0x2330, modes[i]);
        assert_int_equal(fake_host_add_nvswitch(t->fake, hgx_switches[0], 0x22a3, NULL), 0);
        return cc_inventory_mode(scan(t));
}

#define CHECK_MODE(expected, ...)                                                              \
        do {                                                                                   \
                const DeviceCcMode m[] = { __VA_ARGS__ };                                      \
                Tree *mt = tree_new(NULL);                                                     \
                assert_string_equal(tree_mode(mt, m, ELEMENTSOF(m)), expected);                \
                tree_free(mt);                                                                 \
        } while (0)

static char *state_file(Tree *t, const char *bdf) {
        char *p = fake_host_path(t->fake, "sys/bus/pci/devices/%s/gpusim.ini", bdf);
        assert_non_null(p);
        return p;
}

static void test_aggregate_mode(void **state) {
        Tree *t;

        CHECK_MODE("off", DEVICE_CC_OFF, DEVICE_CC_OFF, DEVICE_CC_OFF);
        CHECK_MODE("on", DEVICE_CC_ON, DEVICE_CC_ON);
        CHECK_MODE("devtools", DEVICE_CC_DEVTOOLS, DEVICE_CC_DEVTOOLS);
        CHECK_MODE("mixed", DEVICE_CC_ON, DEVICE_CC_OFF);
        CHECK_MODE("mixed", DEVICE_CC_DEVTOOLS, DEVICE_CC_ON);

        /* PPCIe: CC off and PPCIe on, on every GPU (knob 45 active). */
        t = tree_new(NULL);
        for (size_t i = 0; i < 2; i++) {
                _cleanup_free_ char *p = NULL;
                add_gpu(t, hgx_gpus[i], 0x2330, DEVICE_CC_OFF);
                p = state_file(t, hgx_gpus[i]);
                assert_int_equal(gpusim_set(p, "Knobs", "Active", "8:0;6:0;10:0;45:1"), 0);
        }
        assert_string_equal(cc_inventory_mode(scan(t)), "ppcie");
        assert_int_equal(cc_inventory_find(t->inv, hgx_gpus[0])->ppcie_mode, DEVICE_CC_ON);
        /* A GPU left in plain off makes it mixed. */
        add_gpu(t, hgx_gpus[2], 0x2330, DEVICE_CC_OFF);
        assert_string_equal(cc_inventory_mode(scan(t)), "mixed");
        /* A half-done switch (state 2) makes it unknown, however many agree. */
        {
                _cleanup_free_ char *p = state_file(t, hgx_gpus[2]);
                assert_int_equal(gpusim_set(p, "Inject", "StuckInvalid", "true"), 0);
        }
        assert_string_equal(cc_inventory_mode(scan(t)), "unknown");
        assert_int_equal(cc_inventory_find(t->inv, hgx_gpus[2])->cc_mode, DEVICE_CC_INVALID);
        tree_free(t);

        /* No CC-capable GPU at all; an NVSwitch alone does not count. */
        t = tree_new(NULL);
        assert_int_equal(fake_host_add_nvswitch(t->fake, hgx_switches[0], 0x22a3, NULL), 0);
        assert_string_equal(cc_inventory_mode(scan(t)), "none");
        assert_false(cc_inventory_cc_capable(t->inv));
        tree_free(t);
}

static void test_unknown_modes(void **state) {
        Tree *t = tree_new(NULL);
        struct timespec a, b;
        CcDevice *d;

        add_gpu(t, hgx_gpus[0], 0x2330, DEVICE_CC_ON);
        /* A simulator state that cannot be read: neither can BAR0. */
        assert_int_equal(fake_host_add_gpu(t->fake, hgx_gpus[1], 0x2330, &(FakeGpuOptions) {
                .driver = "nvidia", .mode = DEVICE_CC_ON, .no_gpusim = true }), 0);
        {
                _cleanup_free_ char *p = state_file(t, hgx_gpus[1]);
                assert_int_equal(fake_host_write(t->fake, p + strlen(fake_host_root(t->fake)) + 1,
                                                 "[Device]\nModel=volta\n"), 0);
        }
        /* Booting for ten minutes after a reset: not waited for. */
        assert_int_equal(fake_host_add_gpu(t->fake, hgx_gpus[2], 0x2330, &(FakeGpuOptions) {
                .driver = "nvidia", .mode = DEVICE_CC_ON, .boot_ms = 600000 }), 0);
        assert_int_equal(hw_pci_reset(t->host, hgx_gpus[2]), 0);
        /* Off the bus. */
        add_gpu(t, hgx_gpus[3], 0x2330, DEVICE_CC_ON);
        {
                _cleanup_free_ char *p = state_file(t, hgx_gpus[3]);
                assert_int_equal(gpusim_set(p, "Inject", "OffBus", "true"), 0);
        }

        clock_gettime(CLOCK_MONOTONIC, &a);
        scan(t);
        clock_gettime(CLOCK_MONOTONIC, &b);
        assert_true(b.tv_sec - a.tv_sec < 3);

        assert_int_equal(t->inv->n_devices, 4);
        assert_int_equal(cc_inventory_find(t->inv, hgx_gpus[0])->cc_mode, DEVICE_CC_ON);
        for (size_t i = 1; i < 4; i++) {
                d = cc_inventory_find(t->inv, hgx_gpus[i]);
                assert_int_equal(d->cc_mode, DEVICE_CC_UNKNOWN);
                assert_int_equal(d->ppcie_mode, DEVICE_CC_UNKNOWN);
        }
        assert_string_equal(cc_inventory_mode(t->inv), "unknown");
        tree_free(t);
}

/* A GPU with no simulator state yet, as in a tree made by hand: the first
 * look makes it, with the defaults of its model (off). */
static void test_state_made_on_first_look(void **state) {
        Tree *t = tree_new(NULL);
        _cleanup_free_ char *p = NULL;

        assert_int_equal(fake_host_add_gpu(t->fake, hgx_gpus[0], 0x2335, &(FakeGpuOptions) {
                .driver = "nvidia", .no_gpusim = true }), 0);
        p = state_file(t, hgx_gpus[0]);
        assert_int_equal(access(p, F_OK), -1);
        scan(t);
        assert_int_equal(cc_inventory_find(t->inv, hgx_gpus[0])->cc_mode, DEVICE_CC_OFF);
        assert_int_equal(access(p, F_OK), 0);
        assert_string_equal(cc_inventory_mode(t->inv), "off");
        tree_free(t);
}

static void test_aggregate_table(void **state) {
        CcDevice gpu[3] = {}, nvswitch = {}, old = {};
        CcDevice *list[] = { &gpu[0], &gpu[1], &gpu[2], &nvswitch, &old };
        CcInventory inv = { .devices = list, .n_devices = ELEMENTSOF(list) };

        for (size_t i = 0; i < 3; i++)
                gpu[i] = (CcDevice) { .vendor_id = 0x10de, .kind = DEVICE_KIND_GPU, .cc_capable = true,
                                      .cc_mode = DEVICE_CC_ON, .ppcie_mode = DEVICE_CC_OFF };
        /* Neither an NVSwitch nor a GPU that cannot do CC takes part. */
        nvswitch = (CcDevice) { .vendor_id = 0x10de, .kind = DEVICE_KIND_NVSWITCH, .cc_mode = DEVICE_CC_UNKNOWN };
        old = (CcDevice) { .vendor_id = 0x10de, .kind = DEVICE_KIND_GPU, .cc_mode = DEVICE_CC_UNKNOWN };

        assert_string_equal(cc_inventory_mode(&inv), "on");
        gpu[1].cc_mode = DEVICE_CC_DEVTOOLS;
        assert_string_equal(cc_inventory_mode(&inv), "mixed");
        gpu[2].cc_mode = DEVICE_CC_INVALID;
        assert_string_equal(cc_inventory_mode(&inv), "unknown");
        for (size_t i = 0; i < 3; i++)
                gpu[i].cc_mode = DEVICE_CC_OFF, gpu[i].ppcie_mode = DEVICE_CC_ON;
        assert_string_equal(cc_inventory_mode(&inv), "ppcie");
        gpu[0].ppcie_mode = DEVICE_CC_UNKNOWN;
        assert_string_equal(cc_inventory_mode(&inv), "mixed");
        for (size_t i = 0; i < 3; i++)
                gpu[i].cc_mode = DEVICE_CC_DEVTOOLS;
        assert_string_equal(cc_inventory_mode(&inv), "devtools");
        gpu[0].cc_mode = DEVICE_CC_UNKNOWN;
        assert_string_equal(cc_inventory_mode(&inv), "unknown");
        inv.n_devices = 0;
        assert_string_equal(cc_inventory_mode(&inv), "none");
        assert_false(cc_inventory_cc_capable(&inv));
        assert_string_equal(cc_inventory_mode(NULL), "none");
}

static void test_enumerate(void **state) {
        Tree *t = tree_new(NULL);
        HwPciDevice *devices = NULL;
        size_t n = 0;

        assert_int_equal(fake_host_add_gpu(t->fake, "0000:65:00.0", 0x2330, &(FakeGpuOptions) {
                .subsystem_device = 0x16c1 }), 0);
        assert_int_equal(fake_host_add_device(t->fake, "0000:00:14.0", 0x8086, 0x7ae0, 0x0c0330, NULL, 0), 0);
        assert_int_equal(fake_host_add_device(t->fake, "0001:00:00.0", 0xfffd, 0x0001, 0x120000, NULL, 0), 0);
        assert_int_equal(hw_pci_enumerate(t->host, &devices, &n), 0);
        assert_int_equal(n, 3);
        assert_string_equal(devices[0].bdf, "0000:00:14.0");
        assert_int_equal(devices[0].class_code, 0x0c0330); /* prog-if kept */
        assert_string_equal(devices[1].bdf, "0000:65:00.0");
        assert_int_equal(devices[1].vendor_id, 0x10de);
        assert_int_equal(devices[1].device_id, 0x2330);
        assert_int_equal(devices[1].subsystem_vendor_id, 0x10de);
        assert_int_equal(devices[1].subsystem_device_id, 0x16c1);
        assert_int_equal(devices[1].class_code, 0x030200);
        assert_non_null(strstr(devices[1].name, "H100 SXM5"));
        assert_string_equal(devices[2].bdf, "0001:00:00.0");
        assert_string_equal(devices[2].name, ""); /* not in pci.ids */
        hw_pci_devices_free(devices, n);
        tree_free(t);
}

static void test_broken_trees(void **state) {
        Tree *t = tree_new(NULL);
        CcInventory *inv = NULL;
        CcError err = CC_ERROR_INIT;
        HwPciDevice *devices = NULL;
        size_t n = 0;
        char long_value[2048];
        _cleanup_free_ char *vendor = NULL, *pci = NULL, *cmd = NULL;

        add_gpu(t, hgx_gpus[0], 0x2330, DEVICE_CC_OFF);
        add_gpu(t, hgx_gpus[1], 0x2330, DEVICE_CC_OFF);
        add_gpu(t, hgx_gpus[2], 0x2330, DEVICE_CC_OFF);

        /* libpci gives up on a device whose vendor is missing, or whose class
         * is longer than it reads: that device is left out, the process and
         * the other devices carry on. */
        vendor = fake_host_path(t->fake, "sys/bus/pci/devices/%s/vendor", hgx_gpus[0]);
        assert_int_equal(unlink(vendor), 0);
        memset(long_value, '0', sizeof(long_value) - 1);
        long_value[sizeof(long_value) - 1] = '\0';
        assert_int_equal(fake_host_write(t->fake, "sys/bus/pci/devices/0000:2a:00.0/class", long_value), 0);
        /* An entry that is no PCI address is not a device. */
        assert_int_equal(fake_host_write(t->fake, "sys/bus/pci/devices/bogus/vendor", "0x10de\n"), 0);

        assert_int_equal(hw_pci_enumerate(t->host, &devices, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(devices[0].bdf, hgx_gpus[2]);
        hw_pci_devices_free(devices, n);
        assert_int_equal(scan(t)->n_devices, 1);

        /* Repaired, the devices come back. */
        assert_int_equal(fake_host_write(t->fake, "sys/bus/pci/devices/0000:18:00.0/vendor", "0x10de\n"), 0);
        assert_int_equal(fake_host_write(t->fake, "sys/bus/pci/devices/0000:2a:00.0/class", "0x030200\n"), 0);
        assert_int_equal(scan(t)->n_devices, 3);

        /* No PCI tree at all. */
        pci = fake_host_path(t->fake, "sys/bus/pci");
        assert_true(asprintf(&cmd, "rm -rf '%s'", pci) > 0);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(cc_inventory_scan(t->host, &t->config, &inv, &err), -ENOENT);
        assert_null(inv);
        assert_int_equal(err.kind, CC_ERROR_HOST_NOT_READY);
        assert_non_null(strstr(err.message, "Cannot enumerate"));
        tree_free(t);
}

/* The stand-in NVML of tests/fakenvml for this tree: "key=value" lines
 * (see fake-nvml.c), its call log in the tree. */
static char *use_fake_nvml(Tree *t, const char *lines) {
        _cleanup_free_ char *state = fake_host_path(t->fake, "fake-nvml.state");
        char *log = fake_host_path(t->fake, "fake-nvml.log");
        _cleanup_free_ char *text = NULL;

        assert_true(asprintf(&text, "%slog=%s\n", lines, log) > 0);
        assert_int_equal(fake_host_write(t->fake, "fake-nvml.state", text), 0);
        assert_int_equal(setenv("NVIDIA_CCD_NVML_LIBRARY", FAKE_NVML_LIBRARY, 1), 0);
        assert_int_equal(setenv("FAKE_NVML_STATE", state, 1), 0);
        unlink(log);
        return log;
}

static size_t count_lines(const char *path, const char *line) {
        char buf[256];
        size_t n = 0;
        FILE *f = fopen(path, "re");

        if (!f)
                return 0;
        while (fgets(buf, sizeof(buf), f))
                if (strcspn(buf, "\n") == strlen(line) && strncmp(buf, line, strlen(line)) == 0)
                        n++;
        fclose(f);
        return n;
}

static void assert_mode(Tree *t, const char *bdf, DeviceCcMode mode, CcModeSource source) {
        CcDevice *d = cc_inventory_find(t->inv, bdf);

        assert_non_null(d);
        assert_int_equal(d->cc_mode, mode);
        assert_int_equal(d->mode_source, source);
}

static void test_mode_sources(void **state) {
        Tree *t = tree_new(NULL);
        _cleanup_free_ char *log = NULL;

        /* Every simulated BAR0 says on; NVML says off, and knows the first
         * two GPUs.  The second is on vfio-pci, the third on nvidia but
         * unknown to NVML (as with CC on), the fourth on no driver. */
        add_gpu(t, hgx_gpus[0], 0x2330, DEVICE_CC_ON);
        assert_int_equal(fake_host_add_gpu(t->fake, hgx_gpus[1], 0x2330, &(FakeGpuOptions) {
                .driver = "vfio-pci", .mode = DEVICE_CC_ON }), 0);
        add_gpu(t, hgx_gpus[2], 0x2330, DEVICE_CC_ON);
        assert_int_equal(fake_host_add_gpu(t->fake, hgx_gpus[3], 0x2330, &(FakeGpuOptions) {
                .mode = DEVICE_CC_ON }), 0);
        assert_int_equal(fake_host_add_nvswitch(t->fake, hgx_switches[0], 0x22a3, &(FakeGpuOptions) {
                .driver = "nvidia" }), 0);
        log = use_fake_nvml(t, "devices=0000:18:00.0,0000:2a:00.0\ncc_feature=0\nmulti_gpu=0\n");

        scan(t);
        assert_mode(t, hgx_gpus[0], DEVICE_CC_OFF, CC_MODE_SOURCE_NVML);
        assert_int_equal(cc_inventory_find(t->inv, hgx_gpus[0])->ppcie_mode, DEVICE_CC_OFF);
        assert_mode(t, hgx_gpus[1], DEVICE_CC_ON, CC_MODE_SOURCE_BAR0);
        assert_mode(t, hgx_gpus[2], DEVICE_CC_ON, CC_MODE_SOURCE_BAR0);
        assert_mode(t, hgx_gpus[3], DEVICE_CC_ON, CC_MODE_SOURCE_BAR0);
        /* NVSwitches are read through BAR0 whatever their driver. */
        assert_int_equal(cc_inventory_find(t->inv, hgx_switches[0])->mode_source, CC_MODE_SOURCE_BAR0);
        assert_string_equal(cc_inventory_mode(t->inv), "mixed");
        /* One session for the whole scan, ended before the scan returned;
         * only the GPUs bound to nvidia were asked about. */
        assert_int_equal(count_lines(log, "init"), 1);
        assert_int_equal(count_lines(log, "shutdown"), 1);
        assert_int_equal(count_lines(log, "handle 0000:18:00.0"), 1);
        assert_int_equal(count_lines(log, "handle 0000:3a:00.0"), 1);
        assert_int_equal(count_lines(log, "handle 0000:2a:00.0"), 0);

        /* A second scan opens its own session. */
        scan(t);
        assert_int_equal(count_lines(log, "init"), 2);
        assert_int_equal(count_lines(log, "shutdown"), 2);

        /* NVML that cannot start: BAR0 answers for all. */
        free(log);
        log = use_fake_nvml(t, "init=9\ndevices=0000:18:00.0\n");
        scan(t);
        assert_mode(t, hgx_gpus[0], DEVICE_CC_ON, CC_MODE_SOURCE_BAR0);
        assert_int_equal(count_lines(log, "init"), 1);
        assert_int_equal(count_lines(log, "shutdown"), 0);

        /* No library (a fake root without the variable): BAR0, as before. */
        unsetenv("NVIDIA_CCD_NVML_LIBRARY");
        scan(t);
        assert_mode(t, hgx_gpus[0], DEVICE_CC_ON, CC_MODE_SOURCE_BAR0);
        unsetenv("FAKE_NVML_STATE");
        tree_free(t);
}

static void test_nvml_only_when_needed(void **state) {
        Tree *t = tree_new(NULL);
        _cleanup_free_ char *log = NULL;

        /* No GPU on nvidia: the library is not even initialised. */
        assert_int_equal(fake_host_add_gpu(t->fake, hgx_gpus[0], 0x2330, &(FakeGpuOptions) {
                .driver = "vfio-pci", .mode = DEVICE_CC_ON }), 0);
        assert_int_equal(fake_host_add_gpu(t->fake, hgx_gpus[1], 0x20b0, &(FakeGpuOptions) {
                .driver = "nvidia" }), 0); /* A100: not CC-capable */
        log = use_fake_nvml(t, "devices=0000:18:00.0,0000:2a:00.0\n");
        scan(t);
        assert_mode(t, hgx_gpus[0], DEVICE_CC_ON, CC_MODE_SOURCE_BAR0);
        assert_mode(t, hgx_gpus[1], DEVICE_CC_UNKNOWN, CC_MODE_SOURCE_NONE);
        assert_int_equal(count_lines(log, "init"), 0);

        /* Neither NVML nor BAR0 (the real host's operations: a fake tree's
         * BAR0 cannot be mapped, as for an unprivileged daemon): unknown. */
        assert_int_equal(fake_host_add_gpu(t->fake, hgx_gpus[2], 0x2335, &(FakeGpuOptions) {
                .driver = "nvidia", .no_gpusim = true }), 0);
        hw_host_free(t->host);
        assert_int_equal(hw_host_new(fake_host_root(t->fake), NULL, &t->host), 0);
        scan(t);
        assert_mode(t, hgx_gpus[2], DEVICE_CC_UNKNOWN, CC_MODE_SOURCE_NONE);
        assert_int_equal(count_lines(log, "handle 0000:3a:00.0"), 1);
        unsetenv("NVIDIA_CCD_NVML_LIBRARY");
        unsetenv("FAKE_NVML_STATE");
        tree_free(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hgx),
                cmocka_unit_test(test_iommu_group_and_vfio),
                cmocka_unit_test(test_extra_devices),
                cmocka_unit_test(test_cc_capable_ids),
                cmocka_unit_test(test_ids),
                cmocka_unit_test(test_host_tee),
                cmocka_unit_test(test_aggregate_mode),
                cmocka_unit_test(test_unknown_modes),
                cmocka_unit_test(test_state_made_on_first_look),
                cmocka_unit_test(test_aggregate_table),
                cmocka_unit_test(test_enumerate),
                cmocka_unit_test(test_broken_trees),
                cmocka_unit_test(test_mode_sources),
                cmocka_unit_test(test_nvml_only_when_needed),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
