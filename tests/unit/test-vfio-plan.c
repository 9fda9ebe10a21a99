/* SPDX-License-Identifier: MIT */

/* VFIO plans on fake trees: whole groups with their audio, USB and UCSI
 * functions, bridges left out, strangers refused, no IOMMU refused with the
 * fix, already bound devices as no-ops, the module chosen through a test
 * modules.alias, bad addresses refused. */

#include <sys/utsname.h>

#include "vfio-test-util.h"

#define GPU "0000:65:00.0"
#define AUDIO "0000:65:00.1"
#define USB "0000:65:00.2"
#define UCSI "0000:65:00.3"
#define BRIDGE "0000:64:00.0"
#define NIC "0000:66:00.0"
#define GPU2 "0000:b3:00.0"
#define NVSWITCH "0000:05:00.0"

static VfioPlan *plan_ok(VfioFixture *f, VfioAction action, char *const *bdfs) {
        VfioRecord *record = NULL;
        VfioPlan *p = NULL;
        CcError e = CC_ERROR_INIT;

        assert_int_equal(vfio_record_load(f->state_dir, &record, &e), 0);
        if (cc_vfio_plan_new(f->host, &f->config, f->inv, action, bdfs, record, &p, &e) < 0)
                fail_msg("plan failed: %s", e.message);
        vfio_record_free(record);
        return p;
}

static int plan_error(VfioFixture *f, VfioAction action, char *const *bdfs, CcError *e) {
        VfioPlan *p = NULL;
        int r;

        r = cc_vfio_plan_new(f->host, &f->config, f->inv, action, bdfs, NULL, &p, e);
        assert_true(r < 0);
        assert_null(p);
        return r;
}

static const VfioPlanDevice *find(const VfioPlan *p, const char *bdf) {
        for (size_t i = 0; i < p->n_groups; i++)
                for (size_t j = 0; j < p->groups[i].n_devices; j++)
                        if (streq(p->groups[i].devices[j].bdf, bdf))
                                return &p->groups[i].devices[j];
        return NULL;
}

static void test_multifunction_group(void **state) {
        VfioFixture *f = *state;
        VfioPlan *p;

        assert_int_equal(fake_host_add_gpu(f->fake, GPU, 0x2330, &(FakeGpuOptions) { .driver = "nvidia", .iommu_group = 7 }), 0);
        assert_int_equal(fake_host_add_audio(f->fake, AUDIO, 7, "snd_hda_intel"), 0);
        assert_int_equal(fake_host_add_usb(f->fake, USB, 7, "xhci_hcd"), 0);
        assert_int_equal(fake_host_add_ucsi(f->fake, UCSI, 7, NULL), 0);
        vfio_fixture_open(f, NULL);

        p = plan_ok(f, VFIO_ACTION_BIND, (char *[]) { (char *) GPU, NULL });
        assert_int_equal(p->n_groups, 1);
        assert_int_equal(p->groups[0].group, 7);
        assert_int_equal(p->groups[0].n_devices, 4);
        assert_int_equal(cc_vfio_plan_n_changes(p), 4);
        assert_true(find(p, GPU)->target);
        assert_false(find(p, AUDIO)->target);
        assert_string_equal(find(p, GPU)->driver, "nvidia");
        assert_string_equal(find(p, USB)->driver, "xhci_hcd");
        assert_null(find(p, UCSI)->driver);
        for (size_t j = 0; j < 4; j++)
                assert_string_equal(p->groups[0].devices[j].module, "vfio_pci");
        assert_string_equal(cc_vfio_plan_group_target(&p->groups[0])->bdf, GPU);
        cc_vfio_plan_free(p);
}

static void test_bridge_left_out(void **state) {
        VfioFixture *f = *state;
        VfioPlan *p;

        assert_int_equal(fake_host_add_bridge(f->fake, BRIDGE, 7), 0);
        assert_int_equal(fake_host_add_gpu(f->fake, GPU, 0x2330, &(FakeGpuOptions) { .driver = "nvidia", .iommu_group = 7 }), 0);
        assert_int_equal(fake_host_add_audio(f->fake, AUDIO, 7, "snd_hda_intel"), 0);
        vfio_fixture_open(f, NULL);

        p = plan_ok(f, VFIO_ACTION_BIND, NULL);
        assert_int_equal(p->n_groups, 1);
        assert_int_equal(p->groups[0].n_devices, 2);
        assert_null(find(p, BRIDGE));
        assert_non_null(find(p, AUDIO));
        cc_vfio_plan_free(p);
}

static void test_foreign_device_refused(void **state) {
        VfioFixture *f = *state;
        CcError e = CC_ERROR_INIT;
        VfioPlan *p;

        assert_int_equal(fake_host_add_gpu(f->fake, GPU, 0x2330, &(FakeGpuOptions) { .driver = "nvidia", .iommu_group = 7 }), 0);
        assert_int_equal(fake_host_add_nic(f->fake, NIC, 7, "mlx5_core"), 0);
        assert_int_equal(fake_host_add_gpu(f->fake, GPU2, 0x2330, &(FakeGpuOptions) { .driver = "nvidia", .iommu_group = 9 }), 0);
        vfio_fixture_open(f, NULL);

        plan_error(f, VFIO_ACTION_BIND, NULL, &e);
        assert_int_equal(e.kind, CC_ERROR_NOT_CAPABLE);
        assert_non_null(strstr(e.message, NIC));
        assert_non_null(strstr(e.message, "mlx5_core"));
        assert_non_null(strstr(e.message, "group 7"));

        /* The other GPU alone is fine. */
        p = plan_ok(f, VFIO_ACTION_BIND, (char *[]) { (char *) GPU2, NULL });
        assert_int_equal(p->n_groups, 1);
        cc_vfio_plan_free(p);

        /* An unbinding plan never refuses, and leaves the stranger alone. */
        p = plan_ok(f, VFIO_ACTION_UNBIND, (char *[]) { (char *) GPU, NULL });
        assert_int_equal(cc_vfio_plan_n_changes(p), 0);
        cc_vfio_plan_free(p);
}

static void test_unbound_foreign_device_joins(void **state) {
        VfioFixture *f = *state;
        VfioPlan *p;

        assert_int_equal(fake_host_add_gpu(f->fake, GPU, 0x2330, &(FakeGpuOptions) { .driver = "nvidia", .iommu_group = 7 }), 0);
        assert_int_equal(fake_host_add_nic(f->fake, NIC, 7, NULL), 0);
        vfio_fixture_open(f, NULL);

        p = plan_ok(f, VFIO_ACTION_BIND, NULL);
        assert_int_equal(p->groups[0].n_devices, 2);
        assert_true(find(p, NIC)->change);
        cc_vfio_plan_free(p);
}

static void test_no_iommu(void **state) {
        VfioFixture *f = *state;
        CcError e = CC_ERROR_INIT;

        assert_int_equal(fake_host_add_gpu(f->fake, GPU, 0x2330,
                                           &(FakeGpuOptions) { .driver = "nvidia", .iommu_group = FAKE_NO_IOMMU }), 0);
        vfio_fixture_open(f, NULL);

        plan_error(f, VFIO_ACTION_BIND, NULL, &e);
        assert_int_equal(e.kind, CC_ERROR_HOST_NOT_READY);
        assert_non_null(strstr(e.message, GPU));
        assert_non_null(strstr(e.message, "intel_iommu=on"));
        assert_non_null(strstr(e.message, "amd_iommu=on"));
        assert_non_null(strstr(e.message, "VT-d"));
        assert_non_null(strstr(e.message, "not in /sys/kernel/iommu_groups"));

        assert_int_equal(fake_host_remove_iommu_groups(f->fake), 0);
        plan_error(f, VFIO_ACTION_BIND, (char *[]) { (char *) GPU, NULL }, &e);
        assert_int_equal(e.kind, CC_ERROR_HOST_NOT_READY);
        assert_non_null(strstr(e.message, "no /sys/kernel/iommu_groups"));

        /* Nothing can be bound, so an unbind has nothing to do. */
        VfioPlan *p = plan_ok(f, VFIO_ACTION_UNBIND, NULL);
        assert_int_equal(p->n_groups, 0);
        cc_vfio_plan_free(p);
}

static void test_already_bound(void **state) {
        VfioFixture *f = *state;
        VfioPlan *p;

        assert_int_equal(fake_host_add_gpu(f->fake, GPU, 0x2330, &(FakeGpuOptions) { .driver = "vfio-pci", .iommu_group = 7 }), 0);
        assert_int_equal(fake_host_add_audio(f->fake, AUDIO, 7, "snd_hda_intel"), 0);
        vfio_fixture_open(f, NULL);

        p = plan_ok(f, VFIO_ACTION_BIND, NULL);
        assert_false(find(p, GPU)->change);
        assert_null(find(p, GPU)->module);
        assert_true(find(p, AUDIO)->change);
        assert_int_equal(cc_vfio_plan_n_changes(p), 1);
        cc_vfio_plan_free(p);

        /* Unbind: the NVIDIA device on vfio is given back, the audio
         * function on its own driver is left. */
        p = plan_ok(f, VFIO_ACTION_UNBIND, NULL);
        assert_true(find(p, GPU)->change);
        assert_false(find(p, AUDIO)->change);
        cc_vfio_plan_free(p);
}

static void test_variant_driver_alias(void **state) {
        VfioFixture *f = *state;
        VfioPlan *p;

        /* GH200 (0x2342) has a variant driver; another vendor's variant
         * with a looser pattern does not win; the audio function has none. */
        assert_int_equal(fake_host_add_gpu(f->fake, GPU, 0x2342, &(FakeGpuOptions) { .driver = "nvidia", .iommu_group = 7 }), 0);
        assert_int_equal(fake_host_add_audio(f->fake, AUDIO, 7, NULL), 0);
        assert_int_equal(fake_host_add_gpu(f->fake, GPU2, 0x2330, &(FakeGpuOptions) { .driver = "nvidia", .iommu_group = 9 }), 0);
        assert_int_equal(fake_host_set_modules_alias(f->fake, (const char *const[]) {
                "vfio_pci:v000010DEd00002342sv*sd*bc*sc*i* nvgrace_gpu_vfio_pci",
                "vfio_pci:v000010DEd*sv*sd*bc*sc*i* loose_vfio_pci",
                "pci:v000010DEd*sv*sd*bc03sc*i* nvidia",
                NULL }), 0);
        vfio_fixture_open(f, NULL);

        p = plan_ok(f, VFIO_ACTION_BIND, NULL);
        assert_string_equal(find(p, GPU)->module, "nvgrace_gpu_vfio_pci");
        assert_string_equal(find(p, GPU2)->module, "loose_vfio_pci");
        assert_string_equal(find(p, AUDIO)->module, "loose_vfio_pci");
        cc_vfio_plan_free(p);

        /* Only the catch-all: vfio_pci. */
        assert_int_equal(fake_host_set_modules_alias(f->fake, NULL), 0);
        p = plan_ok(f, VFIO_ACTION_BIND, NULL);
        assert_string_equal(find(p, GPU)->module, "vfio_pci");
        cc_vfio_plan_free(p);

        /* No index at all (no depmod run): vfio_pci too. */
        {
                struct utsname u;
                char *bin;

                assert_int_equal(uname(&u), 0);
                bin = fake_host_path(f->fake, "lib/modules/%s/modules.alias.bin", u.release);
                assert_int_equal(unlink(bin), 0);
                free(bin);
        }
        p = plan_ok(f, VFIO_ACTION_BIND, NULL);
        assert_string_equal(find(p, GPU)->module, "vfio_pci");
        cc_vfio_plan_free(p);
}

static void test_vfio_driver_names(void **state) {
        assert_true(hw_driver_is_vfio("vfio-pci"));
        assert_true(hw_driver_is_vfio("nvgrace_gpu_vfio_pci"));
        assert_true(hw_driver_is_vfio("mlx5_vfio_pci"));
        assert_false(hw_driver_is_vfio("nvidia"));
        assert_false(hw_driver_is_vfio("vfio"));
        assert_false(hw_driver_is_vfio(""));
        assert_false(hw_driver_is_vfio(NULL));
        assert_true(cc_pci_class_is_bridge(0x060400));
        assert_true(cc_pci_class_is_bridge(0x060000));
        assert_false(cc_pci_class_is_bridge(0x068000)); /* NVSwitch */
        assert_false(cc_pci_class_is_bridge(0x030200));
}

static void test_bad_addresses(void **state) {
        VfioFixture *f = *state;
        CcError e = CC_ERROR_INIT;

        assert_int_equal(fake_host_add_gpu(f->fake, GPU, 0x2330, &(FakeGpuOptions) { .driver = "nvidia", .iommu_group = 7 }), 0);
        assert_int_equal(fake_host_add_audio(f->fake, AUDIO, 7, "snd_hda_intel"), 0);
        assert_int_equal(fake_host_add_nic(f->fake, NIC, 8, "mlx5_core"), 0);
        vfio_fixture_open(f, NULL);

        plan_error(f, VFIO_ACTION_BIND, (char *[]) { (char *) GPU, (char *) "65:00.0", NULL }, &e);
        assert_int_equal(e.kind, CC_ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(e.message, "\"65:00.0\" is not a PCI address"));
        plan_error(f, VFIO_ACTION_UNBIND, (char *[]) { (char *) "../../../etc", NULL }, &e);
        assert_int_equal(e.kind, CC_ERROR_INVALID_ARGUMENT);

        plan_error(f, VFIO_ACTION_BIND, (char *[]) { (char *) "0000:99:00.0", NULL }, &e);
        assert_int_equal(e.kind, CC_ERROR_NOT_FOUND);
        assert_string_equal(e.message, "No PCI device 0000:99:00.0 on this host");

        plan_error(f, VFIO_ACTION_BIND, (char *[]) { (char *) NIC, NULL }, &e);
        assert_int_equal(e.kind, CC_ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(e.message, NIC " (15b3:1021, class 020000) is not an NVIDIA GPU"));
        plan_error(f, VFIO_ACTION_BIND, (char *[]) { (char *) AUDIO, NULL }, &e);
        assert_int_equal(e.kind, CC_ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(e.message, AUDIO));
}

static void test_targets(void **state) {
        VfioFixture *f = *state;
        CcError e = CC_ERROR_INIT;
        VfioPlan *p;

        assert_int_equal(fake_host_add_gpu(f->fake, GPU, 0x2330, &(FakeGpuOptions) { .driver = "nvidia", .iommu_group = 7 }), 0);
        assert_int_equal(fake_host_add_gpu(f->fake, GPU2, 0x2330, &(FakeGpuOptions) { .driver = "nvidia", .iommu_group = 9 }), 0);
        assert_int_equal(fake_host_add_nvswitch(f->fake, NVSWITCH, 0x22a3, &(FakeGpuOptions) { .driver = "nvidia", .iommu_group = 3 }), 0);
        assert_int_equal(fake_host_add_device(f->fake, "0000:c0:00.0", 0x1234, 0x11e8, 0x00ff00, NULL, 11), 0);
        vfio_fixture_open(f, "[Devices]\nExtraDevices=1234:11e8\n");

        /* Every GPU and the extra device, not the NVSwitch; sorted by group. */
        p = plan_ok(f, VFIO_ACTION_BIND, NULL);
        assert_int_equal(p->n_groups, 3);
        assert_int_equal(p->groups[0].group, 7);
        assert_int_equal(p->groups[1].group, 9);
        assert_int_equal(p->groups[2].group, 11);
        cc_vfio_plan_free(p);

        /* Named twice: one group. Named explicitly: the NVSwitch too. */
        p = plan_ok(f, VFIO_ACTION_BIND, (char *[]) { (char *) GPU2, (char *) GPU2, (char *) NVSWITCH, NULL });
        assert_int_equal(p->n_groups, 2);
        assert_int_equal(p->groups[0].group, 3);
        cc_vfio_plan_free(p);

        cc_config_done(&f->config);
        cc_config_init(&f->config);
        assert_int_equal(cc_config_load_from_data(&f->config, "[Vfio]\nBindNvSwitches=true\n", &e), 0);
        p = plan_ok(f, VFIO_ACTION_BIND, NULL);
        assert_int_equal(p->n_groups, 4); /* the inventory still has the extra device */
        assert_int_equal(p->groups[0].group, 3);
        cc_vfio_plan_free(p);
}

static void test_no_gpu(void **state) {
        VfioFixture *f = *state;
        CcError e = CC_ERROR_INIT;

        vfio_fixture_open(f, NULL);
        plan_error(f, VFIO_ACTION_BIND, NULL, &e);
        assert_int_equal(e.kind, CC_ERROR_NOT_FOUND);
        assert_string_equal(e.message, "No NVIDIA GPU to bind");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_multifunction_group, vfio_fixture_setup, vfio_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_bridge_left_out, vfio_fixture_setup, vfio_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_foreign_device_refused, vfio_fixture_setup, vfio_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_unbound_foreign_device_joins, vfio_fixture_setup, vfio_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_no_iommu, vfio_fixture_setup, vfio_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_already_bound, vfio_fixture_setup, vfio_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_variant_driver_alias, vfio_fixture_setup, vfio_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_bad_addresses, vfio_fixture_setup, vfio_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_targets, vfio_fixture_setup, vfio_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_no_gpu, vfio_fixture_setup, vfio_fixture_teardown),
                cmocka_unit_test(test_vfio_driver_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
