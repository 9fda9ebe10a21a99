/* SPDX-License-Identifier: MIT */

/* The kernel side of a simulated host: what writes to bind, unbind,
 * driver_override, drivers_probe and reset do to a fake tree, and the
 * errors the kernel would give.  Driven through the pci-sysfs calls the
 * daemon uses, and through raw writes where those cannot reach. */

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "bar0.h"
#include "fake-host.h"
#include "sim-host.h"
#include "fileio.h"
#include "kernel-sim.h"
#include "nv-regs.h"
#include "pci-sysfs.h"

#define GPU "0000:65:00.0"
#define AUDIO "0000:65:00.1"
#define LONE "0000:b3:00.0"   /* no IOMMU group */
#define NIC "0000:03:00.0"
#define ABSENT "0000:99:00.0"

typedef struct Test {
        FakeHost *fake;
        HwHost *host;
} Test;

static int setup(void **state) {
        Test *t = calloc(1, sizeof(Test));

        assert_non_null(t);
        t->fake = fake_host_new();
        assert_non_null(t->fake);
        assert_int_equal(fake_host_add_gpu(t->fake, GPU, 0x2330, &(FakeGpuOptions) {
                .driver = "nvidia", .iommu_group = 7, .boot_ms = 600000 }), 0);
        /* A function sharing the GPU's group, unbound. */
        assert_int_equal(fake_host_add_device(t->fake, AUDIO, 0x10de, 0x22ba, 0x040300, NULL, 7), 0);
        assert_int_equal(fake_host_add_gpu(t->fake, LONE, 0x2331, &(FakeGpuOptions) {
                .default_driver = "nvidia", .iommu_group = FAKE_NO_IOMMU }), 0);
        assert_int_equal(fake_host_add_device(t->fake, NIC, 0x15b3, 0x101d, 0x020000, "mlx5_core", 0), 0);
        assert_int_equal(sim_host_new(fake_host_root(t->fake), &t->host), 0);
        *state = t;
        return 0;
}

static int teardown(void **state) {
        Test *t = *state;

        hw_host_free(t->host);
        fake_host_free(t->fake);
        free(t);
        return 0;
}

/* A raw write and its kernel effect, as pci-sysfs does it. */
static int sysfs_write(Test *t, const char *relative, const char *value) {
        _cleanup_free_ char *path = hw_path(t->host, "%s", relative);
        int r;

        assert_non_null(path);
        r = write_attribute(path, value);
        if (r < 0)
                return r;
        return kernel_sim_after_write(t->host, path, value);
}

static char *driver_of(Test *t, const char *bdf) {
        char *driver = NULL;

        assert_int_equal(hw_pci_get_driver(t->host, bdf, &driver), 0);
        return driver;
}

static bool exists(Test *t, const char *relative) {
        _cleanup_free_ char *path = hw_path(t->host, "%s", relative);
        struct stat st;

        return lstat(path, &st) == 0;
}

/* Where the link at relative points, as written. */
static char *link_target(Test *t, const char *relative) {
        _cleanup_free_ char *path = hw_path(t->host, "%s", relative);
        char target[PATH_MAX];
        ssize_t k;

        assert_non_null(path);
        k = readlink(path, target, sizeof(target) - 1);
        assert_true(k > 0);
        target[k] = '\0';
        return strdup(target);
}

static char *file_content(Test *t, const char *relative) {
        _cleanup_free_ char *path = hw_path(t->host, "%s", relative);
        char *value = NULL;

        assert_int_equal(read_text_file(path, &value), 0);
        return value;
}

static void test_unbind(void **state) {
        Test *t = *state;
        _cleanup_free_ char *driver = driver_of(t, GPU);

        assert_string_equal(driver, "nvidia");
        assert_true(exists(t, "sys/bus/pci/drivers/nvidia/" GPU));

        /* Through the device's driver link, as hw_pci_unbind writes it. */
        assert_int_equal(hw_pci_unbind(t->host, GPU), 0);
        assert_null(driver_of(t, GPU));
        assert_false(exists(t, "sys/bus/pci/drivers/nvidia/" GPU));
        /* Unbound already: nothing to do. */
        assert_int_equal(hw_pci_unbind(t->host, GPU), 0);

        /* Straight to the driver's own file. */
        assert_int_equal(hw_pci_bind(t->host, GPU, "nvidia"), 0);
        assert_int_equal(sysfs_write(t, "sys/bus/pci/drivers/nvidia/unbind", GPU "\n"), 0);
        assert_null(driver_of(t, GPU));
}

static void test_unbind_errors(void **state) {
        Test *t = *state;
        _cleanup_free_ char *driver = NULL;

        /* Bound, but not to this driver. */
        assert_int_equal(sysfs_write(t, "sys/bus/pci/drivers/vfio-pci/unbind", GPU), -ENODEV);
        driver = driver_of(t, GPU);
        assert_string_equal(driver, "nvidia");
        /* Unbound device, absent device, not an address. */
        assert_int_equal(sysfs_write(t, "sys/bus/pci/drivers/nvidia/unbind", AUDIO), -ENODEV);
        assert_int_equal(sysfs_write(t, "sys/bus/pci/drivers/nvidia/unbind", ABSENT), -ENODEV);
        assert_int_equal(sysfs_write(t, "sys/bus/pci/drivers/nvidia/unbind", "../../x"), -ENODEV);
        assert_int_equal(hw_pci_unbind(t->host, ABSENT), -ENODEV);
        assert_int_equal(hw_pci_unbind(t->host, "../../../etc"), -EINVAL);
}

static void test_bind(void **state) {
        Test *t = *state;
        _cleanup_free_ char *driver = NULL, *link = NULL, *back = NULL;

        assert_int_equal(hw_pci_bind(t->host, AUDIO, "snd_hda_intel"), -ENOENT); /* not loaded */
        assert_int_equal(fake_host_add_driver(t->fake, "snd_hda_intel"), 0);
        assert_int_equal(hw_pci_bind(t->host, AUDIO, "snd_hda_intel"), 0);
        driver = driver_of(t, AUDIO);
        assert_string_equal(driver, "snd_hda_intel");
        /* Both links are relative, as the kernel makes them. */
        link = link_target(t, "sys/bus/pci/devices/" AUDIO "/driver");
        assert_string_equal(link, "../../../bus/pci/drivers/snd_hda_intel");
        back = link_target(t, "sys/bus/pci/drivers/snd_hda_intel/" AUDIO);
        assert_string_equal(back, "../../../../devices/pci0000:65/" AUDIO);

        assert_int_equal(hw_pci_bind(t->host, AUDIO, "snd_hda_intel"), -EBUSY);
        assert_int_equal(hw_pci_bind(t->host, GPU, "vfio-pci"), -EBUSY);
        assert_int_equal(hw_pci_bind(t->host, ABSENT, "nvidia"), -ENODEV);
        assert_int_equal(sysfs_write(t, "sys/bus/pci/drivers/nvidia/bind", "garbage"), -ENODEV);
        assert_int_equal(hw_pci_bind(t->host, "0000:65:00", "nvidia"), -EINVAL);
        assert_int_equal(hw_pci_bind(t->host, AUDIO, "../nvidia"), -EINVAL);
}

static void test_driver_override(void **state) {
        Test *t = *state;
        _cleanup_free_ char *shown = NULL, *override = NULL, *cleared = NULL;

        assert_int_equal(hw_pci_get_driver_override(t->host, LONE, &override), 0);
        assert_null(override);

        assert_int_equal(hw_pci_set_driver_override(t->host, LONE, "vfio-pci"), 0);
        shown = file_content(t, "sys/bus/pci/devices/" LONE "/driver_override");
        assert_string_equal(shown, "vfio-pci");
        assert_int_equal(hw_pci_get_driver_override(t->host, LONE, &override), 0);
        assert_string_equal(override, "vfio-pci");

        /* The override decides what the device matches. */
        assert_int_equal(hw_pci_bind(t->host, LONE, "nvidia"), -ENODEV);
        assert_null(driver_of(t, LONE));

        /* A lone newline clears it; the kernel then shows "(null)". */
        assert_int_equal(sysfs_write(t, "sys/bus/pci/devices/" LONE "/driver_override", "\n"), 0);
        cleared = file_content(t, "sys/bus/pci/devices/" LONE "/driver_override");
        assert_string_equal(cleared, "(null)");
        free(override);
        assert_int_equal(hw_pci_get_driver_override(t->host, LONE, &override), 0);
        assert_null(override);
        assert_int_equal(hw_pci_bind(t->host, LONE, "nvidia"), 0);
}

static void test_drivers_probe(void **state) {
        Test *t = *state;
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

        /* The override wins. */
        assert_int_equal(hw_pci_unbind(t->host, GPU), 0);
        assert_int_equal(hw_pci_set_driver_override(t->host, GPU, "vfio-pci"), 0);
        assert_int_equal(hw_pci_probe(t->host, GPU), 0);
        a = driver_of(t, GPU);
        assert_string_equal(a, "vfio-pci");

        /* Bound already: probing changes nothing. */
        assert_int_equal(hw_pci_set_driver_override(t->host, GPU, NULL), 0);
        assert_int_equal(hw_pci_probe(t->host, GPU), 0);
        b = driver_of(t, GPU);
        assert_string_equal(b, "vfio-pci");

        /* Without an override, the device's default driver. */
        assert_int_equal(hw_pci_unbind(t->host, GPU), 0);
        assert_int_equal(hw_pci_probe(t->host, GPU), 0);
        c = driver_of(t, GPU);
        assert_string_equal(c, "nvidia");

        /* No default and no override: stays unbound, and that is no error. */
        assert_int_equal(hw_pci_probe(t->host, AUDIO), 0);
        assert_null(driver_of(t, AUDIO));
        /* An override naming a driver that is not loaded: likewise. */
        assert_int_equal(hw_pci_set_driver_override(t->host, AUDIO, "snd_hda_intel"), 0);
        assert_int_equal(hw_pci_probe(t->host, AUDIO), 0);
        assert_null(driver_of(t, AUDIO));

        assert_int_equal(hw_pci_probe(t->host, ABSENT), -ENODEV);
}

static void test_vfio_node(void **state) {
        Test *t = *state;
        _cleanup_free_ char *none = NULL, *node = NULL, *still = NULL, *gone = NULL;

        assert_int_equal(hw_pci_get_vfio_device(t->host, GPU, &none), 0);
        assert_string_equal(none, "");

        assert_int_equal(hw_pci_unbind(t->host, GPU), 0);
        assert_int_equal(hw_pci_bind(t->host, GPU, "vfio-pci"), 0);
        assert_int_equal(hw_pci_bind(t->host, AUDIO, "vfio-pci"), 0);
        assert_true(exists(t, "dev/vfio/7"));
        assert_int_equal(hw_pci_get_vfio_device(t->host, AUDIO, &node), 0);
        assert_string_equal(node, "/dev/vfio/7");

        /* One member still on vfio keeps the group's node. */
        assert_int_equal(hw_pci_unbind(t->host, GPU), 0);
        assert_true(exists(t, "dev/vfio/7"));
        assert_int_equal(hw_pci_get_vfio_device(t->host, GPU, &still), 0);
        assert_string_equal(still, "/dev/vfio/7");

        assert_int_equal(hw_pci_unbind(t->host, AUDIO), 0);
        assert_false(exists(t, "dev/vfio/7"));
        assert_int_equal(hw_pci_get_vfio_device(t->host, GPU, &gone), 0);
        assert_string_equal(gone, "");
        /* The container node is not the group's to remove. */
        assert_true(exists(t, "dev/vfio/vfio"));
}

static void test_vfio_needs_iommu(void **state) {
        Test *t = *state;

        /* vfio-pci's probe fails without a group (gpu-operator #650). */
        assert_int_equal(hw_pci_bind(t->host, LONE, "vfio-pci"), -EINVAL);
        assert_null(driver_of(t, LONE));
        assert_int_equal(hw_pci_set_driver_override(t->host, LONE, "vfio-pci"), 0);
        assert_int_equal(hw_pci_probe(t->host, LONE), 0);
        assert_null(driver_of(t, LONE));
}

static uint32_t boot_complete(Test *t, const char *bdf) {
        _cleanup_(bar0_closep) Bar0 *b = NULL;

        assert_int_equal(bar0_open(t->host, bdf, &b, NULL), 0);
        return bar0_read32(b, NV_FSP_BOOT_COMPLETE);
}

static void test_reset(void **state) {
        Test *t = *state;

        assert_int_equal(boot_complete(t, GPU), NV_FSP_BOOT_COMPLETE_DONE);
        assert_int_equal(hw_pci_reset(t->host, GPU), 0);
        /* Booting again, for the ten minutes the fake GPU takes. */
        assert_int_not_equal(boot_complete(t, GPU), NV_FSP_BOOT_COMPLETE_DONE);
        /* The other GPU was not touched. */
        assert_int_equal(boot_complete(t, LONE), NV_FSP_BOOT_COMPLETE_DONE);

        assert_int_equal(sysfs_write(t, "sys/bus/pci/devices/" LONE "/reset", "0"), -EINVAL);
        assert_int_equal(sysfs_write(t, "sys/bus/pci/devices/" LONE "/reset", "yes"), -EINVAL);
        assert_int_equal(boot_complete(t, LONE), NV_FSP_BOOT_COMPLETE_DONE);
        /* No simulator behind the NIC: the reset has nothing to reboot. */
        assert_int_equal(hw_pci_reset(t->host, NIC), 0);
        assert_int_equal(hw_pci_reset(t->host, ABSENT), -ENOENT);
}

static void test_unrelated_paths(void **state) {
        Test *t = *state;
        _cleanup_free_ char *driver = NULL;

        assert_int_equal(sysfs_write(t, "sys/bus/pci/devices/" GPU "/enable", "0"), 0);
        assert_int_equal(sysfs_write(t, "sys/bus/pci/rescan", "1"), 0);
        assert_int_equal(kernel_sim_after_write(t->host, "/nonexistent/dir/bind", GPU), 0);
        assert_int_equal(kernel_sim_after_write(t->host, "bind", GPU), 0);
        driver = driver_of(t, GPU);
        assert_string_equal(driver, "nvidia");
}

/* sysfs has one directory per device, sys/devices/pci<domain>:<bus>/.../<bdf>;
 * the bus's entry and the driver's entry are links to it.  A write has its
 * effect whichever of them it went through. */
static void test_writes_however_reached(void **state) {
        Test *t = *state;
        _cleanup_free_ char *dir = fake_host_device_dir(t->fake, GPU), *via_dir = NULL, *via_driver = NULL;
        _cleanup_free_ char *shown = NULL, *unbound = NULL, *bound = NULL;
        const char *rel;

        /* The tree is the kernel's: the bus entry is a link into sys/devices. */
        assert_non_null(dir);
        rel = dir + strlen(fake_host_root(t->fake)) + 1;
        assert_string_equal(rel, "sys/devices/pci0000:65/" GPU);

        /* reset, written in the device's own directory. */
        assert_int_equal(boot_complete(t, GPU), NV_FSP_BOOT_COMPLETE_DONE);
        assert_true(asprintf(&via_dir, "%s/reset", rel) > 0);
        assert_int_equal(sysfs_write(t, via_dir, "1"), 0);
        assert_int_not_equal(boot_complete(t, GPU), NV_FSP_BOOT_COMPLETE_DONE);

        /* driver_override, written through the driver's link to the device. */
        assert_true(asprintf(&via_driver, "sys/bus/pci/drivers/nvidia/%s/driver_override", GPU) > 0);
        assert_int_equal(sysfs_write(t, via_driver, "vfio-pci"), 0);
        shown = file_content(t, "sys/bus/pci/devices/" GPU "/driver_override");
        assert_string_equal(shown, "vfio-pci");

        /* unbind through the device's driver link, then drivers_probe. */
        assert_int_equal(sysfs_write(t, "sys/bus/pci/devices/" GPU "/driver/unbind", GPU), 0);
        unbound = driver_of(t, GPU);
        assert_null(unbound);
        assert_int_equal(sysfs_write(t, "sys/bus/pci/drivers_probe", GPU), 0);
        bound = driver_of(t, GPU);
        assert_string_equal(bound, "vfio-pci");
        assert_true(exists(t, "dev/vfio/7"));
}

/* A GPU behind a PCIe switch, as on an HGX board: nested directories. */
static void test_device_behind_bridges(void **state) {
        Test *t = *state;
        _cleanup_free_ char *dir = NULL, *driver = NULL, *link = NULL, *bound = NULL;

        assert_int_equal(fake_host_add_bridge_to(t->fake, "0000:15:01.0", 0x16, 0), 0);
        assert_int_equal(fake_host_add_bridge_to(t->fake, "0000:16:00.0", 0x17, 0), 0);
        assert_int_equal(fake_host_add_bridge_to(t->fake, "0000:17:00.0", 0x18, 0), 0);
        assert_int_equal(fake_host_add_gpu(t->fake, "0000:18:00.0", 0x2335, &(FakeGpuOptions) {
                .driver = "nvidia", .boot_ms = 600000 }), 0);
        dir = fake_host_device_dir(t->fake, "0000:18:00.0");
        assert_non_null(dir);
        assert_string_equal(dir + strlen(fake_host_root(t->fake)) + 1,
                            "sys/devices/pci0000:15/0000:15:01.0/0000:16:00.0/0000:17:00.0/0000:18:00.0");
        link = link_target(t, "sys/bus/pci/devices/0000:18:00.0");
        assert_string_equal(link, "../../../devices/pci0000:15/0000:15:01.0/0000:16:00.0/0000:17:00.0/0000:18:00.0");

        assert_int_equal(hw_pci_reset(t->host, "0000:18:00.0"), 0);
        assert_int_not_equal(boot_complete(t, "0000:18:00.0"), NV_FSP_BOOT_COMPLETE_DONE);
        assert_int_equal(hw_pci_unbind(t->host, "0000:18:00.0"), 0);
        assert_int_equal(hw_pci_bind(t->host, "0000:18:00.0", "vfio-pci"), 0);
        driver = driver_of(t, "0000:18:00.0");
        assert_string_equal(driver, "vfio-pci");
        bound = link_target(t, "sys/bus/pci/devices/0000:18:00.0/driver");
        assert_string_equal(bound, "../../../../../../bus/pci/drivers/vfio-pci");
}

static void test_real_host_has_no_effects(void **state) {
        Test *t = *state;
        _cleanup_(hw_host_freep) HwHost *real = NULL;
        _cleanup_free_ char *written = NULL;

        /* The same tree, not simulated: the write lands and nothing plays
         * the kernel. */
        assert_int_equal(hw_host_new(fake_host_root(t->fake), NULL, &real), 0);
        assert_int_equal(hw_pci_bind(real, AUDIO, "vfio-pci"), 0);
        assert_null(driver_of(t, AUDIO));
        written = file_content(t, "sys/bus/pci/drivers/vfio-pci/bind");
        assert_string_equal(written, AUDIO);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_unbind, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unbind_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bind, setup, teardown),
                cmocka_unit_test_setup_teardown(test_driver_override, setup, teardown),
                cmocka_unit_test_setup_teardown(test_drivers_probe, setup, teardown),
                cmocka_unit_test_setup_teardown(test_vfio_node, setup, teardown),
                cmocka_unit_test_setup_teardown(test_vfio_needs_iommu, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unrelated_paths, setup, teardown),
                cmocka_unit_test_setup_teardown(test_writes_however_reached, setup, teardown),
                cmocka_unit_test_setup_teardown(test_device_behind_bridges, setup, teardown),
                cmocka_unit_test_setup_teardown(test_real_host_has_no_effects, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
