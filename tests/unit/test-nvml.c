/* SPDX-License-Identifier: MIT */

/* src/hw/nvml.c and its helper, nvidia-ccd-nvml, against the stand-in
 * library of tests/fakenvml: what each NVML answer decodes to, what each
 * failure says, that one helper run is one nvmlInit_v2 .. nvmlShutdown for
 * all GPUs, and that a broken helper is an error, not an answer. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fake-host.h"
#include "fileio.h"
#include "nvml.h"
#include "sim-host.h"

#define H200 "0000:00:06.0"

typedef struct Test {
        FakeHost *fake;
        HwHost *host;
        char *state_path, *log_path;
} Test;

static int setup(void **state) {
        Test *t = calloc(1, sizeof(Test));

        assert_non_null(t);
        t->fake = fake_host_new();
        assert_non_null(t->fake);
        assert_int_equal(sim_host_new(fake_host_root(t->fake), &t->host), 0);
        t->state_path = fake_host_path(t->fake, "fake-nvml.state");
        t->log_path = fake_host_path(t->fake, "fake-nvml.log");
        assert_int_equal(setenv("NVIDIA_CCD_NVML_LIBRARY", FAKE_NVML_LIBRARY, 1), 0);
        assert_int_equal(setenv("FAKE_NVML_STATE", t->state_path, 1), 0);
        *state = t;
        return 0;
}

static int teardown(void **state) {
        Test *t = *state;

        unsetenv("NVIDIA_CCD_NVML_LIBRARY");
        unsetenv("FAKE_NVML_STATE");
        free(t->state_path);
        free(t->log_path);
        hw_host_free(t->host);
        fake_host_free(t->fake);
        free(t);
        return 0;
}

/* The stand-in's answers: "key=value" lines, plus its call log. */
static void set_nvml(Test *t, const char *lines) {
        _cleanup_free_ char *text = NULL;
        FILE *f;

        assert_true(asprintf(&text, "%slog=%s\n", lines, t->log_path) > 0);
        f = fopen(t->state_path, "we");
        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
        unlink(t->log_path);
}

static char *calls(Test *t) {
        char *text = NULL;

        if (read_text_file(t->log_path, &text) == -ENOENT)
                return strdup("");
        assert_non_null(text);
        return text;
}

/* One helper run for the GPUs given; every answer must be there. */
static HwNvmlAnswer *query(Test *t, char *const *bdfs, size_t n) {
        HwNvmlAnswer *answers = NULL;
        CcError err = CC_ERROR_INIT;
        double init_ms = -1;

        assert_int_equal(hw_nvml_query(t->host, bdfs, n, &answers, &init_ms, &err), 0);
        assert_false(cc_error_is_set(&err));
        assert_true(init_ms >= 0);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(answers[i].bdf, bdfs[i]);
        return answers;
}

static HwNvmlCcState query_ok(Test *t, const char *bdf) {
        char *bdfs[] = { (char *) bdf };
        _cleanup_free_ HwNvmlAnswer *a = query(t, bdfs, 1);

        assert_int_equal(a[0].error, 0);
        return a[0].state;
}

static void test_off_as_on_the_real_h200(void **state) {
        Test *t = *state;
        _cleanup_free_ char *log = NULL;
        HwNvmlCcState s;

        /* What NVML said on the H200 with the driver bound and CC off. */
        set_nvml(t, "devices=" H200 "\nenvironment=0\ncc_feature=0\ndevtools=0\ngpus_caps=1\nmulti_gpu=0\n");
        s = query_ok(t, H200);
        assert_int_equal(s.cc, DEVICE_CC_OFF);
        assert_int_equal(s.ppcie, DEVICE_CC_OFF);
        assert_int_equal(s.environment, 0);
        assert_int_equal(s.cc_feature, 0);
        assert_int_equal(s.devtools_mode, 0);
        assert_int_equal(s.multi_gpu_mode, 0);
        assert_int_equal(s.gpus_caps, 1);

        /* One session, ended: nvmlShutdown after the queries. */
        log = calls(t);
        assert_string_equal(log, "init\nhandle " H200 "\nstate\nsettings\ncaps\nshutdown");
        assert_string_equal(hw_nvml_library(t->host), FAKE_NVML_LIBRARY);
}

static void test_modes(void **state) {
        Test *t = *state;
        HwNvmlCcState s;

        set_nvml(t, "devices=" H200 "\nenvironment=2\ncc_feature=1\ndevtools=0\nmulti_gpu=0\n");
        s = query_ok(t, H200);
        assert_int_equal(s.cc, DEVICE_CC_ON);
        assert_int_equal(s.environment, 2);

        set_nvml(t, "devices=" H200 "\nenvironment=2\ncc_feature=1\ndevtools=1\nmulti_gpu=0\n");
        assert_int_equal(query_ok(t, H200).cc, DEVICE_CC_DEVTOOLS);

        /* Protected PCIe: CC off, multi-GPU mode 1. */
        set_nvml(t, "devices=" H200 "\nenvironment=2\ncc_feature=0\nmulti_gpu=1\n");
        s = query_ok(t, H200);
        assert_int_equal(s.cc, DEVICE_CC_OFF);
        assert_int_equal(s.ppcie, DEVICE_CC_ON);

        /* NVLink encryption (2) is another multi-GPU mode, not PPCIe; a
         * value NVML documents no meaning for leaves PPCIe unknown. */
        set_nvml(t, "devices=" H200 "\ncc_feature=1\nmulti_gpu=2\n");
        s = query_ok(t, H200);
        assert_int_equal(s.ppcie, DEVICE_CC_OFF);
        assert_int_equal(s.multi_gpu_mode, 2);
        set_nvml(t, "devices=" H200 "\ncc_feature=1\nmulti_gpu=7\n");
        s = query_ok(t, H200);
        assert_int_equal(s.cc, DEVICE_CC_ON);
        assert_int_equal(s.ppcie, DEVICE_CC_UNKNOWN);

        /* A driver without the settings call: PPCIe unknown, CC still read. */
        set_nvml(t, "devices=" H200 "\ncc_feature=1\n");
        s = query_ok(t, H200);
        assert_int_equal(s.cc, DEVICE_CC_ON);
        assert_int_equal(s.ppcie, DEVICE_CC_UNKNOWN);
        assert_int_equal(s.multi_gpu_mode, HW_NVML_NO_VALUE);
}

static void test_several_gpus_one_session(void **state) {
        Test *t = *state;
        char *bdfs[] = { (char *) "0000:db:00.0", (char *) "0000:2a:00.0", (char *) "0000:18:00.0" };
        _cleanup_free_ HwNvmlAnswer *a = NULL;
        _cleanup_free_ char *log = NULL;

        /* NVML knows two of the three; the third (as with CC on, which
         * the host driver cannot open) gets its own answer. */
        set_nvml(t, "devices=0000:18:00.0,0000:db:00.0\ncc_feature=0\n");
        a = query(t, bdfs, 3);
        assert_int_equal(a[0].error, 0);
        assert_int_equal(a[0].state.cc, DEVICE_CC_OFF);
        assert_int_equal(a[1].error, -ENODEV);
        assert_non_null(strstr(a[1].message, "0000:2a:00.0"));
        assert_int_equal(a[2].error, 0);
        log = calls(t);
        assert_string_equal(log, "init\n"
                                 "handle 0000:db:00.0\nstate\nsettings\ncaps\n"
                                 "handle 0000:2a:00.0\n"
                                 "handle 0000:18:00.0\nstate\nsettings\ncaps\n"
                                 "shutdown");
}

static void test_failures(void **state) {
        Test *t = *state;
        char *bdfs[] = { (char *) H200 };
        _cleanup_free_ HwNvmlAnswer *a = NULL;
        _cleanup_free_ char *log = NULL;
        CcError err = CC_ERROR_INIT;

        /* nvmlInit_v2 fails: no session, NVML's words in the message, and
         * no nvmlShutdown for a session that never began. */
        set_nvml(t, "init=9\ndevices=" H200 "\n");
        assert_int_equal(hw_nvml_query(t->host, bdfs, 1, &a, NULL, &err), -EIO);
        assert_null(a);
        assert_non_null(strstr(err.message, "nvmlInit_v2 failed: Driver Not Loaded (9)"));
        log = calls(t);
        assert_string_equal(log, "init");

        /* The state call fails: that GPU's answer says so. */
        set_nvml(t, "state=3\ndevices=" H200 "\n");
        a = query(t, bdfs, 1);
        assert_int_equal(a[0].error, -EIO);
        assert_non_null(strstr(a[0].message, "nvmlSystemGetConfComputeState failed: Not Supported (3)"));
        free(TAKE_PTR(a));

        /* Values NVML documents no meaning for are not guessed at. */
        set_nvml(t, "devices=" H200 "\ncc_feature=2\n");
        a = query(t, bdfs, 1);
        assert_int_equal(a[0].error, -EBADMSG);
        assert_non_null(strstr(a[0].message, "ccFeature 2"));
}

static void test_no_library(void **state) {
        Test *t = *state;
        char *bdfs[] = { (char *) H200 };
        HwNvmlAnswer *a = NULL;
        CcError err = CC_ERROR_INIT;

        /* A fake root without the variable: never the real library. */
        unsetenv("NVIDIA_CCD_NVML_LIBRARY");
        assert_null(hw_nvml_library(t->host));
        assert_int_equal(hw_nvml_query(t->host, bdfs, 1, &a, NULL, &err), -ENOENT);
        assert_non_null(strstr(err.message, fake_host_root(t->fake)));

        assert_int_equal(setenv("NVIDIA_CCD_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1), 0);
        cc_error_clear(&err);
        assert_int_equal(hw_nvml_query(t->host, bdfs, 1, &a, NULL, &err), -ENOENT);
        assert_non_null(strstr(err.message, "cannot load /nonexistent/libnvidia-ml.so.1"));

        /* A library without NVML's calls. */
        assert_int_equal(setenv("NVIDIA_CCD_NVML_LIBRARY", "libm.so.6", 1), 0);
        cc_error_clear(&err);
        assert_int_equal(hw_nvml_query(t->host, bdfs, 1, &a, NULL, &err), -EOPNOTSUPP);
        assert_int_equal(err.kind, CC_ERROR_NOT_CAPABLE);
        assert_non_null(strstr(err.message, "r535"));
        assert_null(a);
}

/* A stand-in helper: a shell script under the tree. */
static void use_helper(Test *t, const char *script) {
        _cleanup_free_ char *path = fake_host_path(t->fake, "helper.sh");
        _cleanup_free_ char *text = NULL;

        assert_true(asprintf(&text, "#!/bin/sh\n%s\n", script) > 0);
        assert_int_equal(fake_host_write(t->fake, "helper.sh", text), 0);
        assert_int_equal(chmod(path, 0755), 0);
        assert_int_equal(setenv("NVIDIA_CCD_NVML_HELPER", path, 1), 0);
}

static void test_helper_breaks(void **state) {
        Test *t = *state;
        _cleanup_free_ char *real = strdup(getenv("NVIDIA_CCD_NVML_HELPER"));
        char *bdfs[] = { (char *) H200 };
        HwNvmlAnswer *a = NULL;
        CcError err = CC_ERROR_INIT;

        set_nvml(t, "devices=" H200 "\n");

        /* No helper at all. */
        assert_int_equal(setenv("NVIDIA_CCD_NVML_HELPER", "/nonexistent/nvidia-ccd-nvml", 1), 0);
        assert_int_equal(hw_nvml_query(t->host, bdfs, 1, &a, NULL, &err), -ENOENT);
        assert_non_null(strstr(err.message, "/nonexistent/nvidia-ccd-nvml"));

        /* Killed before it reported. */
        use_helper(t, "kill -9 $$");
        cc_error_clear(&err);
        assert_int_equal(hw_nvml_query(t->host, bdfs, 1, &a, NULL, &err), -EIO);
        assert_non_null(strstr(err.message, "killed by signal 9"));

        /* Lines that are not the protocol, or answers for GPUs not asked about. */
        use_helper(t, "echo 'session ok 1.0 lib'; echo 'gpu " H200 " ok 0 0'");
        cc_error_clear(&err);
        assert_int_equal(hw_nvml_query(t->host, bdfs, 1, &a, NULL, &err), -EBADMSG);
        assert_non_null(strstr(err.message, "invalid line"));
        use_helper(t, "echo 'session ok 1.0 lib'; echo 'gpu 0000:99:00.0 ok 0 0 0 0 1'");
        cc_error_clear(&err);
        assert_int_equal(hw_nvml_query(t->host, bdfs, 1, &a, NULL, &err), -EBADMSG);
        use_helper(t, "echo 'gpu " H200 " ok 0 0 0 0 1'");
        cc_error_clear(&err);
        assert_int_equal(hw_nvml_query(t->host, bdfs, 1, &a, NULL, &err), -EBADMSG);
        use_helper(t, "exit 0");
        cc_error_clear(&err);
        assert_int_equal(hw_nvml_query(t->host, bdfs, 1, &a, NULL, &err), -EIO);
        assert_non_null(strstr(err.message, "without a report"));

        /* A session that says nothing about a GPU: that answer says so. */
        use_helper(t, "echo 'session ok 1.0 lib'");
        cc_error_clear(&err);
        assert_int_equal(hw_nvml_query(t->host, bdfs, 1, &a, NULL, &err), 0);
        assert_int_equal(a[0].error, -EIO);
        assert_non_null(strstr(a[0].message, "said nothing about " H200));
        free(a);
        a = NULL;

        /* Not a PCI address: refused before any helper runs. */
        {
                char *bad[] = { (char *) "0000:00:06.0 --evil" };
                cc_error_clear(&err);
                assert_int_equal(hw_nvml_query(t->host, bad, 1, &a, NULL, &err), -EINVAL);
        }
        assert_int_equal(setenv("NVIDIA_CCD_NVML_HELPER", real, 1), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_off_as_on_the_real_h200, setup, teardown),
                cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_several_gpus_one_session, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_library, setup, teardown),
                cmocka_unit_test_setup_teardown(test_helper_breaks, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
