/* SPDX-License-Identifier: MIT */

/* VFIO binds and unbinds carried out on fake trees through the kernel
 * simulation: drivers recorded and given back, idempotence, the rollback
 * of an injected bind failure, the recovery of a bind cut short, the CDI
 * specifications (named as the kubelet device plugin names the devices). */

#include <glib.h>

#include "device-names.h"
#include "vfio-test-util.h"

#define GPU "0000:65:00.0"
#define AUDIO "0000:65:00.1"
#define GPU2 "0000:b3:00.0"
#define AUDIO2 "0000:b3:00.1"
#define CDI "var/run/cdi/nvidia.com-pgpu.yaml"
/* The single Kata-mode resource's profile: no index names. */
#define SINGLE_KIND "[Vfio]\nCdiKind=nvidia.com/pgpu\n"

static void add_two_gpus(VfioFixture *f, uint16_t device_id) {
        assert_int_equal(fake_host_add_gpu(f->fake, GPU, device_id, &(FakeGpuOptions) { .driver = "nvidia", .iommu_group = 7 }), 0);
        assert_int_equal(fake_host_add_audio(f->fake, AUDIO, 7, "snd_hda_intel"), 0);
        assert_int_equal(fake_host_add_gpu(f->fake, GPU2, 0x2330, &(FakeGpuOptions) { .driver = "nvidia", .iommu_group = 9 }), 0);
        assert_int_equal(fake_host_add_audio(f->fake, AUDIO2, 9, NULL), 0);
        assert_int_equal(fake_host_add_driver(f->fake, "snd_hda_intel"), 0);
}

static char *read_file(VfioFixture *f, const char *relative) {
        char *path = fake_host_path(f->fake, "%s", relative), *text = NULL;

        assert_non_null(path);
        assert_int_equal(read_text_file(path, &text), 0);
        free(path);
        return text;
}

static char *record_text(VfioFixture *f) {
        char *path = NULL, *text = NULL;

        assert_true(asprintf(&path, "%s/vfio-bindings", f->state_dir) > 0);
        if (read_text_file(path, &text) < 0)
                text = NULL;
        free(path);
        return text;
}

static void assert_original(VfioFixture *f) {
        assert_string_equal(vfio_driver(f, GPU), "nvidia");
        assert_string_equal(vfio_driver(f, AUDIO), "snd_hda_intel");
        assert_string_equal(vfio_driver(f, GPU2), "nvidia");
        assert_string_equal(vfio_driver(f, AUDIO2), "");
        for (const char *const *b = (const char *const[]) { GPU, AUDIO, GPU2, AUDIO2, NULL }; *b; b++)
                assert_false(vfio_override_set(f, *b));
        assert_false(vfio_file_exists(f, "dev/vfio/7"));
        assert_false(vfio_file_exists(f, "dev/vfio/9"));
        assert_false(vfio_file_exists(f, CDI));
        assert_null(record_text(f));
}

static void test_bind_unbind_restores(void **state) {
        VfioFixture *f = *state;
        CcError e = CC_ERROR_INIT;
        char *text;

        add_two_gpus(f, 0x2330);
        vfio_fixture_open(f, NULL);

        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_BIND, (char *[]) { (char *) GPU, NULL }, &e), 0);
        assert_string_equal(vfio_driver(f, GPU), "vfio-pci");
        assert_string_equal(vfio_driver(f, AUDIO), "vfio-pci");
        assert_string_equal(vfio_driver(f, GPU2), "nvidia");
        assert_true(vfio_override_set(f, GPU));
        assert_true(vfio_file_exists(f, "dev/vfio/7"));
        assert_false(vfio_file_exists(f, "dev/vfio/9"));

        text = record_text(f);
        assert_non_null(text);
        assert_non_null(strstr(text, "[Device " GPU "]\nPreviousDriver=nvidia\nIommuGroup=7\nState=bound"));
        assert_non_null(strstr(text, "[Device " AUDIO "]\nPreviousDriver=snd_hda_intel\nIommuGroup=7\nState=bound"));
        assert_null(strstr(text, GPU2));
        free(text);

        /* Again: nothing changes. */
        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_BIND, (char *[]) { (char *) GPU, NULL }, &e), 0);
        assert_string_equal(vfio_driver(f, GPU), "vfio-pci");

        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_UNBIND, NULL, &e), 0);
        assert_original(f);
        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_UNBIND, NULL, &e), 0);
        assert_original(f);

        /* Every GPU, the unbound audio function too, and back. */
        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_BIND, NULL, &e), 0);
        assert_string_equal(vfio_driver(f, AUDIO2), "vfio-pci");
        assert_string_equal(vfio_driver(f, GPU2), "vfio-pci");
        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_UNBIND, NULL, &e), 0);
        assert_original(f);
}

static void test_unbind_without_record(void **state) {
        VfioFixture *f = *state;
        CcError e = CC_ERROR_INIT;

        /* Bound to vfio by someone else: given to the driver the kernel
         * matches (sim_default_driver plays the kernel's match). */
        assert_int_equal(fake_host_add_gpu(f->fake, GPU, 0x2330, &(FakeGpuOptions) {
                .driver = "vfio-pci", .default_driver = "nvidia", .iommu_group = 7 }), 0);
        vfio_fixture_open(f, NULL);
        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_UNBIND, NULL, &e), 0);
        assert_string_equal(vfio_driver(f, GPU), "nvidia");
        assert_false(vfio_file_exists(f, "dev/vfio/7"));
}

static void test_rollback_on_bind_failure(void **state) {
        VfioFixture *f = *state;
        CcError e = CC_ERROR_INIT;

        add_two_gpus(f, 0x2330);
        vfio_fixture_open(f, NULL);

        /* The second group's audio function fails: the first group, bound
         * by then, is given back too. */
        assert_int_equal(fake_host_inject_bind_error(f->fake, AUDIO2, EINVAL), 0);
        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_BIND, NULL, &e), -EINVAL);
        assert_int_equal(e.kind, CC_ERROR_HARDWARE_FAILURE);
        assert_int_equal(e.errno_value, EINVAL);
        assert_non_null(strstr(e.message, AUDIO2 ": cannot bind to vfio-pci: Invalid argument (EINVAL)"));
        assert_non_null(strstr(e.message, "rolled back"));
        assert_original(f);

        /* In the first device of a group. */
        assert_int_equal(fake_host_inject_bind_error(f->fake, AUDIO2, 0), 0);
        assert_int_equal(fake_host_inject_bind_error(f->fake, GPU, EBUSY), 0);
        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_BIND, (char *[]) { (char *) GPU, NULL }, &e), -EBUSY);
        assert_non_null(strstr(e.message, GPU ": cannot bind to vfio-pci: Device or resource busy (EBUSY)"));
        assert_original(f);

        /* Fixed: it works, and the record is right. */
        assert_int_equal(fake_host_inject_bind_error(f->fake, GPU, 0), 0);
        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_BIND, NULL, &e), 0);
        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_UNBIND, NULL, &e), 0);
        assert_original(f);
}

static void test_job_outcomes(void **state) {
        VfioFixture *f = *state;
        VfioRecord *record = NULL;
        VfioPlan *plan = NULL;
        CcVfioJob *job = NULL;
        CcError e = CC_ERROR_INIT;

        add_two_gpus(f, 0x2330);
        vfio_fixture_open(f, NULL);
        assert_int_equal(fake_host_inject_bind_error(f->fake, AUDIO, ENODEV), 0);

        assert_int_equal(vfio_record_load(f->state_dir, &record, &e), 0);
        assert_int_equal(cc_vfio_plan_new(f->host, &f->config, f->inv, VFIO_ACTION_BIND, NULL, record, &plan, &e), 0);
        vfio_record_free(record);
        {
                CcCdiDevice *cdi = cc_cdi_devices_new(f->inv, f->config.cdi_kind);

                assert_non_null(cdi);
                assert_int_equal(cc_vfio_job_new(f->host, f->state_dir, plan, cdi, &job), 0);
                cc_cdi_devices_free(cdi);
        }
        assert_int_equal(cc_vfio_job_start(job), 0);
        assert_true(cc_vfio_job_get_fd(job) >= 0);
        assert_int_equal(cc_vfio_job_finish(job, &e), -ENODEV);
        assert_string_equal(cc_vfio_job_failed_device(job), AUDIO);
        assert_int_equal(cc_vfio_job_failed_group(job), 7);
        assert_true(cc_vfio_job_rolled_back(job));
        assert_int_equal(cc_vfio_job_action(job), VFIO_ACTION_BIND);
        assert_int_equal(cc_vfio_job_n_outcomes(job), 2);
        assert_int_equal(cc_vfio_job_outcome(job, 0)->group, 7);
        assert_string_equal(cc_vfio_job_outcome(job, 0)->gpu, GPU);
        cc_vfio_job_free(job);
        assert_original(f);
}

static void test_variant_driver_bound(void **state) {
        VfioFixture *f = *state;
        CcError e = CC_ERROR_INIT;

        add_two_gpus(f, 0x2342);
        assert_int_equal(fake_host_set_modules_alias(f->fake, (const char *const[]) {
                "vfio_pci:v000010DEd00002342sv*sd*bc*sc*i* nvgrace_gpu_vfio_pci", NULL }), 0);
        vfio_fixture_open(f, NULL);
        assert_false(vfio_file_exists(f, "sys/bus/pci/drivers/nvgrace_gpu_vfio_pci"));

        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_BIND, (char *[]) { (char *) GPU, NULL }, &e), 0);
        assert_string_equal(vfio_driver(f, GPU), "nvgrace_gpu_vfio_pci");
        assert_string_equal(vfio_driver(f, AUDIO), "vfio-pci");
        assert_true(vfio_file_exists(f, "sys/module/nvgrace_gpu_vfio_pci/drivers/pci:nvgrace_gpu_vfio_pci"));
        assert_true(vfio_file_exists(f, "dev/vfio/7"));

        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_UNBIND, NULL, &e), 0);
        assert_original(f);
}

/* A bind cut short: the record says "binding", the devices are half done. */
static void test_recover_interrupted_bind(void **state) {
        VfioFixture *f = *state;
        CcError e = CC_ERROR_INIT;
        char *path = NULL;

        add_two_gpus(f, 0x2330);
        vfio_fixture_open(f, NULL);

        /* GPU moved to vfio-pci, its audio function unbound, override set. */
        assert_int_equal(hw_pci_set_driver_override(f->host, GPU, "vfio-pci"), 0);
        assert_int_equal(hw_pci_unbind(f->host, GPU), 0);
        assert_int_equal(hw_pci_bind(f->host, GPU, "vfio-pci"), 0);
        assert_int_equal(hw_pci_set_driver_override(f->host, AUDIO, "vfio-pci"), 0);
        assert_int_equal(hw_pci_unbind(f->host, AUDIO), 0);
        assert_true(asprintf(&path, "%s/vfio-bindings", f->state_dir) > 0);
        assert_int_equal(write_file_atomic(path, "[Device " GPU "]\nPreviousDriver=nvidia\nIommuGroup=7\nState=binding\n"
                                                 "[Device " AUDIO "]\nPreviousDriver=snd_hda_intel\nIommuGroup=7\nState=binding\n"
                                                 "[Device " AUDIO2 "]\nPreviousDriver=\nIommuGroup=9\nState=binding\n",
                                           strlen("[Device " GPU "]\nPreviousDriver=nvidia\nIommuGroup=7\nState=binding\n"
                                                  "[Device " AUDIO "]\nPreviousDriver=snd_hda_intel\nIommuGroup=7\nState=binding\n"
                                                  "[Device " AUDIO2 "]\nPreviousDriver=\nIommuGroup=9\nState=binding\n"), 0600), 0);
        free(path);

        assert_int_equal(cc_vfio_recover(f->host, f->state_dir, &e), 3);
        assert_original(f);
        assert_int_equal(cc_vfio_recover(f->host, f->state_dir, &e), 0);
}

static void test_recover_keeps_bound_drops_stale(void **state) {
        VfioFixture *f = *state;
        CcError e = CC_ERROR_INIT;
        char *text;

        add_two_gpus(f, 0x2330);
        vfio_fixture_open(f, NULL);
        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_BIND, (char *[]) { (char *) GPU, NULL }, &e), 0);

        /* A restart with the group still bound: the record stays, so that
         * the unbind still knows the previous drivers. */
        assert_int_equal(cc_vfio_recover(f->host, f->state_dir, &e), 0);
        assert_string_equal(vfio_driver(f, GPU), "vfio-pci");
        text = record_text(f);
        assert_non_null(strstr(text, "State=bound"));
        free(text);

        /* After a reboot the devices are on their own drivers again: the
         * stale entries go. */
        assert_int_equal(hw_pci_set_driver_override(f->host, GPU, NULL), 0);
        assert_int_equal(hw_pci_unbind(f->host, GPU), 0);
        assert_int_equal(hw_pci_bind(f->host, GPU, "nvidia"), 0);
        assert_int_equal(hw_pci_set_driver_override(f->host, AUDIO, NULL), 0);
        assert_int_equal(hw_pci_unbind(f->host, AUDIO), 0);
        assert_int_equal(hw_pci_bind(f->host, AUDIO, "snd_hda_intel"), 0);
        assert_int_equal(cc_vfio_recover(f->host, f->state_dir, &e), 0);
        /* The daemon rewrites the CDI specification after discovery. */
        {
                CcCdiDevice *cdi = cc_cdi_devices_new(f->inv, f->config.cdi_kind);

                assert_non_null(cdi);
                assert_int_equal(cc_vfio_cdi_update(f->host, cdi, &e), 0);
                cc_cdi_devices_free(cdi);
        }
        assert_original(f);
}

static void test_record_refuses_garbage(void **state) {
        VfioFixture *f = *state;
        VfioRecord *r = NULL;
        CcError e = CC_ERROR_INIT;
        char *path = NULL;
        const char *bad = "[Device 0000:65:00.0]\nPreviousDriver=../../x\nIommuGroup=7\nState=binding\n";

        vfio_fixture_open(f, NULL);
        assert_true(asprintf(&path, "%s/vfio-bindings", f->state_dir) > 0);
        assert_int_equal(write_file_atomic(path, bad, strlen(bad), 0600), 0);
        assert_int_equal(vfio_record_load(f->state_dir, &r, &e), -EBADMSG);
        assert_null(r);
        assert_non_null(strstr(e.message, "unreadable entry"));
        assert_int_equal(cc_vfio_recover(f->host, f->state_dir, &e), -EBADMSG);
        free(path);
}

static void test_cdi(void **state) {
        VfioFixture *f = *state;
        CcError e = CC_ERROR_INIT;
        char *text;

        add_two_gpus(f, 0x2330);
        vfio_fixture_open(f, SINGLE_KIND);

        /* GPU2 is in group 9: one device, named "9" and nothing else (no
         * index a user could pin another GPU with), with its group's node. */
        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_BIND, (char *[]) { (char *) GPU2, NULL }, &e), 0);
        text = read_file(f, CDI);
        assert_string_equal(text, "# Written by nvidia-ccd: the devices of nvidia.com/pgpu bound to VFIO.  Do not edit.\n"
                                  "cdiVersion: \"0.5.0\"\n"
                                  "kind: nvidia.com/pgpu\n"
                                  "devices:\n"
                                  "  - name: \"9\"\n"
                                  "    containerEdits:\n"
                                  "      deviceNodes:\n"
                                  "        - path: /dev/vfio/9\n"
                                  "containerEdits:\n"
                                  "  deviceNodes:\n"
                                  "    - path: /dev/vfio/vfio");
        free(text);

        /* Both: in group order; GPU2 unbound: without it; none: removed. */
        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_BIND, NULL, &e), 0);
        text = read_file(f, CDI);
        assert_non_null(strstr(text, "  - name: \"7\"\n    containerEdits:\n      deviceNodes:\n"
                                     "        - path: /dev/vfio/7\n  - name: \"9\"\n"));
        assert_null(strstr(text, "name: \"0\""));
        assert_null(strstr(text, "name: \"1\""));
        free(text);
        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_UNBIND, (char *[]) { (char *) GPU2, NULL }, &e), 0);
        text = read_file(f, CDI);
        assert_non_null(strstr(text, "name: \"7\""));
        assert_null(strstr(text, "name: \"9\""));
        assert_null(strstr(text, "/dev/vfio/9"));
        free(text);
        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_UNBIND, NULL, &e), 0);
        assert_false(vfio_file_exists(f, CDI));
        assert_original(f);
}

static void test_cdi_iommufd(void **state) {
        VfioFixture *f = *state;
        CcError e = CC_ERROR_INIT;
        char *text;

        add_two_gpus(f, 0x2330);
        assert_int_equal(fake_host_enable_iommufd(f->fake), 0);
        vfio_fixture_open(f, SINGLE_KIND);

        /* GPU2 gets vfio0, its audio function vfio1: the device is named
         * "0" (its own vfioN), with the nodes of both functions and not the
         * group node, which QEMU would see as the same device again. */
        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_BIND, (char *[]) { (char *) GPU2, NULL }, &e), 0);
        text = read_file(f, CDI);
        assert_string_equal(text, "# Written by nvidia-ccd: the devices of nvidia.com/pgpu bound to VFIO.  Do not edit.\n"
                                  "cdiVersion: \"0.5.0\"\n"
                                  "kind: nvidia.com/pgpu\n"
                                  "devices:\n"
                                  "  - name: \"0\"\n"
                                  "    containerEdits:\n"
                                  "      deviceNodes:\n"
                                  "        - path: /dev/vfio/devices/vfio0\n"
                                  "        - path: /dev/vfio/devices/vfio1\n"
                                  "containerEdits:\n"
                                  "  deviceNodes:\n"
                                  "    - path: /dev/iommu");
        free(text);
        {
                char *cdev = NULL;
                assert_int_equal(hw_pci_get_vfio_cdev(f->host, GPU2, &cdev), 0);
                assert_string_equal(cdev, "/dev/vfio/devices/vfio0");
                free(cdev);
                assert_int_equal(hw_pci_get_vfio_cdev(f->host, GPU, &cdev), 0);
                assert_string_equal(cdev, "");
                free(cdev);
        }
        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_UNBIND, NULL, &e), 0);
        assert_false(vfio_file_exists(f, "dev/vfio/devices/vfio0"));
        assert_original(f);
}

static void test_cdi_per_model_and_old_files(void **state) {
        VfioFixture *f = *state;
        CcError e = CC_ERROR_INIT;
        char *path, *text, *other, *dir;

        /* A GPU pci.ids names, one it does not (0x2901 here), an NVSwitch. */
        assert_int_equal(fake_host_add_gpu(f->fake, GPU, 0x2330, &(FakeGpuOptions) { .driver = "nvidia", .iommu_group = 7 }), 0);
        assert_int_equal(fake_host_add_gpu(f->fake, GPU2, 0x2901, &(FakeGpuOptions) { .driver = "nvidia", .iommu_group = 9 }), 0);
        assert_int_equal(fake_host_add_nvswitch(f->fake, "0000:05:00.0", 0x22a3, &(FakeGpuOptions) { .driver = "nvidia-nvswitch", .iommu_group = 3 }), 0);
        /* What an older version wrote, and another producer's spec. */
        path = fake_host_path(f->fake, "var/run/cdi/nvidia-ccd.yaml");
        dir = fake_host_path(f->fake, "var/run/cdi");
        assert_int_equal(mkdir_parents(dir, 0755), 0);
        free(dir);
        assert_int_equal(write_file_atomic(path, "# Written by nvidia-ccd: the GPUs bound to VFIO.  Do not edit.\n", 61, 0644), 0);
        other = fake_host_path(f->fake, "var/run/cdi/example.com-nic.yaml");
        assert_int_equal(write_file_atomic(other, "cdiVersion: \"0.5.0\"\n", 20, 0644), 0);
        vfio_fixture_open(f, "[Vfio]\nCdiKind=per-model\nBindNvSwitches=true\n");
        assert_null(f->config.cdi_kind);

        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_BIND, NULL, &e), 0);
        {
                CcDevice *d = cc_inventory_find(f->inv, GPU);
                char *kind = model_resource_name(d->name, d->device_id), *file = NULL, *expected = NULL;

                /* pci.ids names the H100: its kind is the model's. */
                assert_non_null(kind);
                assert_string_not_equal(kind, "nvidia.com/2330");
                file = cc_vfio_cdi_path(f->host, kind);
                assert_int_equal(read_text_file(file, &text), 0);
                assert_true(asprintf(&expected, "kind: %s\ndevices:\n  - name: \"7\"\n", kind) > 0);
                assert_non_null(strstr(text, expected));
                free(expected);
                free(text);
                free(file);
                free(kind);
        }
        /* nvidia.com/2901 is no CDI kind (a class begins with a letter): no
         * spec for it. */
        assert_false(vfio_file_exists(f, "var/run/cdi/nvidia.com-2901.yaml"));
        text = read_file(f, "var/run/cdi/nvidia.com-nvswitch.yaml");
        assert_non_null(strstr(text, "kind: nvidia.com/nvswitch\ndevices:\n  - name: \"3\"\n"));
        free(text);
        /* The index spec: both GPUs in PCI address order (the B200 too,
         * whose model has no spec), the NVSwitch not. */
        text = read_file(f, CDI);
        assert_string_equal(text, "# Written by nvidia-ccd: the devices of nvidia.com/pgpu bound to VFIO.  Do not edit.\n"
                                  "cdiVersion: \"0.5.0\"\n"
                                  "kind: nvidia.com/pgpu\n"
                                  "devices:\n"
                                  "  - name: \"0\"\n"
                                  "    containerEdits:\n"
                                  "      deviceNodes:\n"
                                  "        - path: /dev/vfio/7\n"
                                  "  - name: \"1\"\n"
                                  "    containerEdits:\n"
                                  "      deviceNodes:\n"
                                  "        - path: /dev/vfio/9\n"
                                  "containerEdits:\n"
                                  "  deviceNodes:\n"
                                  "    - path: /dev/vfio/vfio");
        free(text);
        /* The old file is gone; another producer's stays. */
        assert_int_equal(access(path, F_OK), -1);
        assert_int_equal(access(other, F_OK), 0);

        /* The second GPU alone: still index 1, whatever is bound. */
        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_UNBIND, (char *[]) { (char *) GPU, NULL }, &e), 0);
        text = read_file(f, CDI);
        assert_non_null(strstr(text, "devices:\n  - name: \"1\"\n    containerEdits:\n      deviceNodes:\n"
                                     "        - path: /dev/vfio/9\n"));
        assert_null(strstr(text, "name: \"0\""));
        free(text);
        assert_int_equal(vfio_fixture_run(f, VFIO_ACTION_UNBIND, NULL, &e), 0);
        assert_false(vfio_file_exists(f, CDI));
        assert_false(vfio_file_exists(f, "var/run/cdi/nvidia.com-nvswitch.yaml"));
        assert_int_equal(access(other, F_OK), 0);
        free(path);
        free(other);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_bind_unbind_restores, vfio_fixture_setup, vfio_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_unbind_without_record, vfio_fixture_setup, vfio_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_rollback_on_bind_failure, vfio_fixture_setup, vfio_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_job_outcomes, vfio_fixture_setup, vfio_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_variant_driver_bound, vfio_fixture_setup, vfio_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_recover_interrupted_bind, vfio_fixture_setup, vfio_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_recover_keeps_bound_drops_stale, vfio_fixture_setup, vfio_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_record_refuses_garbage, vfio_fixture_setup, vfio_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_cdi, vfio_fixture_setup, vfio_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_cdi_iommufd, vfio_fixture_setup, vfio_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_cdi_per_model_and_old_files, vfio_fixture_setup, vfio_fixture_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
