/* SPDX-License-Identifier: MIT */

/* The real GPUs of tests/fixtures/h100-sxm5-host.txt and h200-sxm-host.txt,
 * rebuilt as fake trees in the kernel's layout, must come out of discovery
 * as those GPUs: what the daemon would have shown on the hosts the
 * snapshots were taken on. */

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "device.h"
#include "fake-host.h"
#include "fileio.h"
#include "pci-enum.h"
#include "pci-sysfs.h"
#include "sim-host.h"
#include "tee.h"

#define FIXTURE_H200 FIXTURES_DIR "/h200-sxm-host.txt"
#define BDF "0000:00:06.0"

/* What each snapshot says of its GPU. */
typedef struct Snapshot {
        const char *file;
        uint16_t device_id, subsystem_device;
        const char *modalias;
        const char *resource; /* the first three lines of `resource` */
        uint8_t config_03, config_2e, config_04;
} Snapshot;

static const Snapshot h100 = {
        .file = FIXTURES_DIR "/h100-sxm5-host.txt",
        .device_id = 0x2330,
        .subsystem_device = 0x16c1,
        .modalias = "pci:v000010DEd00002330sv000010DEsd000016C1bc03sc02i00",
        /* BAR0, BAR1 and BAR3 are 64-bit: lines 0, 2 and 4 of resource. */
        .resource = "0x0000102002000000 0x0000102002ffffff 0x000000000014220c\n"
                    "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
                    "0x0000100000000000 0x0000101fffffffff 0x000000000014220c\n",
        .config_03 = 0x23, .config_2e = 0xc1, .config_04 = 0x06,
};

static const Snapshot h200 = {
        .file = FIXTURES_DIR "/h200-sxm-host.txt",
        .device_id = 0x2335,
        .subsystem_device = 0x18bf,
        .modalias = "pci:v000010DEd00002335sv000010DEsd000018BFbc03sc02i00",
        /* Numbered by line in this snapshot, upper halves empty. */
        .resource = "0x0000104002000000 0x0000104002ffffff 0x000000000014220c\n"
                    "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
                    "0x0000100000000000 0x0000103fffffffff 0x000000000014220c\n",
        .config_03 = 0x23, .config_2e = 0xbf, .config_04 = 0x46,
};

typedef struct Test {
        const Snapshot *snap;
        FakeHost *fake;
        HwHost *host;
} Test;

static int setup(void **state, const Snapshot *snap) {
        Test *t = calloc(1, sizeof(Test));
        _cleanup_free_ char *bdf = NULL;

        assert_non_null(t);
        t->snap = snap;
        t->fake = fake_host_new();
        assert_non_null(t->fake);
        assert_int_equal(fake_host_add_from_fixture(t->fake, snap->file, &bdf), 0);
        assert_string_equal(bdf, BDF);
        assert_int_equal(sim_host_new(fake_host_root(t->fake), &t->host), 0);
        *state = t;
        return 0;
}

static int setup_h100(void **state) {
        return setup(state, &h100);
}

static int setup_h200(void **state) {
        return setup(state, &h200);
}

static int teardown(void **state) {
        Test *t = *state;

        hw_host_free(t->host);
        fake_host_free(t->fake);
        free(t);
        return 0;
}

static void test_discovered(void **state) {
        Test *t = *state;
        _cleanup_(cc_inventory_freep) CcInventory *inv = NULL;
        CcError err = CC_ERROR_INIT;
        CcConfig config;
        CcDevice *d;

        cc_config_init(&config);
        assert_int_equal(cc_inventory_scan(t->host, &config, &inv, &err), 0);
        cc_config_done(&config);

        assert_int_equal(inv->n_devices, 1);
        d = cc_inventory_find(inv, BDF);
        assert_non_null(d);
        assert_int_equal(d->vendor_id, 0x10de);
        assert_int_equal(d->device_id, t->snap->device_id);
        assert_int_equal(d->class_code, 0x030200);
        if (t->snap == &h100)
                assert_non_null(strstr(d->name, "H100 SXM5"));
        assert_int_equal(d->kind, DEVICE_KIND_GPU);
        assert_string_equal(device_kind_to_string(d->kind), "gpu");
        assert_int_equal(d->arch, GPU_ARCH_HOPPER);
        assert_true(d->cc_capable);
        assert_true(d->ppcie_capable);
        assert_string_equal(d->driver, "nvidia");
        assert_int_equal(d->iommu_group, -1);
        assert_int_equal(strv_length(d->group_members), 0);
        assert_string_equal(d->vfio_device, "");
        assert_int_equal(d->numa_node, -1);
        /* nvidia-smi said "CC status: OFF". */
        assert_int_equal(d->cc_mode, DEVICE_CC_OFF);
        assert_string_equal(cc_inventory_mode(inv), "off");
        assert_true(cc_inventory_cc_capable(inv));
        /* Neither kvm_intel's tdx nor kvm_amd's sev_snp was there. */
        assert_string_equal(hw_host_tee(t->host), "none");
}

static void test_enumerated_ids(void **state) {
        Test *t = *state;
        HwPciDevice *devices = NULL;
        size_t n = 0;

        assert_int_equal(hw_pci_enumerate(t->host, &devices, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(devices[0].bdf, BDF);
        assert_int_equal(devices[0].device_id, t->snap->device_id);
        assert_int_equal(devices[0].subsystem_vendor_id, 0x10de);
        assert_int_equal(devices[0].subsystem_device_id, t->snap->subsystem_device);
        assert_int_equal(devices[0].class_code, 0x030200);
        hw_pci_devices_free(devices, n);
}

static char *attribute(Test *t, const char *name) {
        _cleanup_free_ char *path = fake_host_path(t->fake, "sys/bus/pci/devices/" BDF "/%s", name);
        char *value = NULL;

        assert_int_equal(read_text_file(path, &value), 0);
        return value;
}

static void test_tree_reads_as_snapshot(void **state) {
        Test *t = *state;
        _cleanup_free_ char *reset = attribute(t, "reset_method"), *override = attribute(t, "driver_override");
        _cleanup_free_ char *uevent = attribute(t, "uevent"), *control = attribute(t, "power/control");
        _cleanup_free_ char *resource = attribute(t, "resource"), *modalias = attribute(t, "modalias");
        _cleanup_free_ char *path = fake_host_path(t->fake, "sys/bus/pci/devices/" BDF "/config");
        uint8_t config[256];
        FILE *f;

        assert_string_equal(reset, "flr");
        assert_string_equal(override, "(null)");
        assert_string_equal(control, "on");
        assert_string_equal(modalias, t->snap->modalias);
        assert_non_null(strstr(uevent, "DRIVER=nvidia\nPCI_CLASS=30200\n"));
        assert_true(strncmp(resource, t->snap->resource, strlen(t->snap->resource)) == 0);

        f = fopen(path, "re");
        assert_non_null(f);
        assert_int_equal(fread(config, 1, sizeof(config), f), sizeof(config));
        fclose(f);
        assert_int_equal(config[0x00], 0xde);
        assert_int_equal(config[0x03], t->snap->config_03);
        assert_int_equal(config[0x04], t->snap->config_04);
        assert_int_equal(config[0x2e], t->snap->config_2e);
        assert_int_equal(config[0x40], 0x01);
        assert_int_equal(config[0xa0], 0x00);
        assert_int_equal(config[0xb0], 0x11);
        assert_int_equal(config[0xba], 0xba);
}

static char *link_target(Test *t, const char *relative) {
        _cleanup_free_ char *path = fake_host_path(t->fake, "%s", relative);
        char target[PATH_MAX];
        ssize_t k;

        k = readlink(path, target, sizeof(target) - 1);
        assert_true(k > 0);
        target[k] = '\0';
        return strdup(target);
}

/* The links read as on the host: the snapshot's own driver line is
 * "driver -> ../../../bus/pci/drivers/nvidia", which only a device directory
 * in sys/devices/pci0000:00/ gives. */
static void test_links_as_on_host(void **state) {
        Test *t = *state;
        _cleanup_free_ char *device = link_target(t, "sys/bus/pci/devices/" BDF);
        _cleanup_free_ char *driver = link_target(t, "sys/bus/pci/devices/" BDF "/driver");
        _cleanup_free_ char *back = link_target(t, "sys/bus/pci/drivers/nvidia/" BDF);
        _cleanup_free_ char *subsystem = link_target(t, "sys/bus/pci/devices/" BDF "/subsystem");
        _cleanup_free_ char *iommu = fake_host_path(t->fake, "sys/bus/pci/devices/" BDF "/iommu_group");
        struct stat st;

        assert_string_equal(device, "../../../devices/pci0000:00/" BDF);
        assert_string_equal(driver, "../../../bus/pci/drivers/nvidia");
        assert_string_equal(back, "../../../../devices/pci0000:00/" BDF);
        assert_string_equal(subsystem, "../../../bus/pci");
        /* No vIOMMU in that guest: no group. */
        assert_int_equal(lstat(iommu, &st), -1);
        assert_int_equal(errno, ENOENT);
}

/* The H200 host: Debian 12's pci.ids has no name for 10de:2335, and NVML,
 * with the driver bound, said what k8s-node-facts.md records. */
static void test_discovered_as_h200(void **state) {
        _cleanup_(fake_host_freep) FakeHost *fake = fake_host_new();
        _cleanup_(hw_host_freep) HwHost *host = NULL;
        _cleanup_(cc_inventory_freep) CcInventory *inv = NULL;
        _cleanup_free_ char *bdf = NULL, *nvml_state = NULL, *sim = NULL;
        CcError err = CC_ERROR_INIT;
        CcConfig config;
        CcDevice *d;

        assert_non_null(fake);
        assert_int_equal(fake_host_add_from_fixture(fake, FIXTURE_H200, &bdf), 0);
        assert_string_equal(bdf, BDF);
        assert_int_equal(hw_host_new(fake_host_root(fake), NULL, &host), 0);
        /* The daemon there ran unprivileged: no BAR0 to read. */
        sim = fake_host_path(fake, "sys/bus/pci/devices/" BDF "/gpusim.ini");
        (void) unlink(sim);
        nvml_state = fake_host_path(fake, "fake-nvml.state");
        assert_int_equal(fake_host_write(fake, "fake-nvml.state",
                                         "devices=" BDF "\nenvironment=0\ncc_feature=0\ndevtools=0\n"
                                         "gpus_caps=1\nmulti_gpu=0\n"), 0);
        assert_int_equal(setenv("NVIDIA_CCD_NVML_LIBRARY", FAKE_NVML_LIBRARY, 1), 0);
        assert_int_equal(setenv("FAKE_NVML_STATE", nvml_state, 1), 0);

        cc_config_init(&config);
        assert_int_equal(cc_inventory_scan(host, &config, &inv, &err), 0);
        cc_config_done(&config);
        unsetenv("NVIDIA_CCD_NVML_LIBRARY");
        unsetenv("FAKE_NVML_STATE");

        assert_int_equal(inv->n_devices, 1);
        d = cc_inventory_find(inv, BDF);
        assert_non_null(d);
        assert_int_equal(d->device_id, 0x2335);
        assert_int_equal(d->class_code, 0x030200);
        /* pci.ids' name where it has one, the same built-in words where not. */
        assert_string_equal(d->name, "GH100 [H200 SXM 141GB]");
        assert_int_equal(d->arch, GPU_ARCH_HOPPER);
        assert_true(d->cc_capable);
        assert_string_equal(d->driver, "nvidia");
        assert_int_equal(d->iommu_group, -1);
        assert_int_equal(d->numa_node, -1);
        /* nvidia-smi said "CC status: OFF"; NVML answered it. */
        assert_int_equal(d->cc_mode, DEVICE_CC_OFF);
        assert_int_equal(d->ppcie_mode, DEVICE_CC_OFF);
        assert_int_equal(d->mode_source, CC_MODE_SOURCE_NVML);
        assert_string_equal(cc_inventory_mode(inv), "off");
        assert_string_equal(hw_host_tee(host), "none");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_discovered, setup_h100, teardown),
                cmocka_unit_test_setup_teardown(test_enumerated_ids, setup_h100, teardown),
                cmocka_unit_test_setup_teardown(test_tree_reads_as_snapshot, setup_h100, teardown),
                cmocka_unit_test_setup_teardown(test_links_as_on_host, setup_h100, teardown),
                cmocka_unit_test_setup_teardown(test_discovered, setup_h200, teardown),
                cmocka_unit_test_setup_teardown(test_enumerated_ids, setup_h200, teardown),
                cmocka_unit_test_setup_teardown(test_tree_reads_as_snapshot, setup_h200, teardown),
                cmocka_unit_test_setup_teardown(test_links_as_on_host, setup_h200, teardown),
                cmocka_unit_test(test_discovered_as_h200),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
