/* SPDX-License-Identifier: MIT */

/* src/hw/nvml.c against the stand-in library of tests/fakenvml: what each
 * NVML answer decodes to, what each failure says, and that a session is
 * nvmlInit_v2 .. nvmlShutdown with nothing left open. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fake-host.h"
#include "fileio.h"
#include "nvml.h"

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
        assert_int_equal(hw_host_new(fake_host_root(t->fake), true, &t->host), 0);
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

static HwNvmlCcState query_ok(Test *t, const char *bdf) {
        _cleanup_(hw_nvml_closep) HwNvml *n = NULL;
        CcError err = CC_ERROR_INIT;
        HwNvmlCcState s;

        assert_int_equal(hw_nvml_open(t->host, &n, &err), 0);
        assert_string_equal(hw_nvml_library(n), FAKE_NVML_LIBRARY);
        assert_int_equal(hw_nvml_query(n, bdf, &s, &err), 0);
        assert_false(cc_error_is_set(&err));
        return s;
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

static void test_bus_id_forms(void **state) {
        Test *t = *state;

        /* The handle is looked up by the address as sysfs writes it. */
        set_nvml(t, "devices=0000:18:00.0,0000:db:00.0\n");
        assert_int_equal(query_ok(t, "0000:db:00.0").cc, DEVICE_CC_OFF);
        assert_int_equal(query_ok(t, "0000:18:00.0").cc, DEVICE_CC_OFF);
}

static void test_unknown_gpu(void **state) {
        Test *t = *state;
        _cleanup_(hw_nvml_closep) HwNvml *n = NULL;
        _cleanup_free_ char *log = NULL;
        CcError err = CC_ERROR_INIT;
        HwNvmlCcState s;

        set_nvml(t, "devices=0000:18:00.0\ncc_feature=0\n");
        assert_int_equal(hw_nvml_open(t->host, &n, &err), 0);
        assert_int_equal(hw_nvml_query(n, "0000:2a:00.0", &s, &err), -ENODEV);
        assert_non_null(strstr(err.message, "0000:2a:00.0"));
        n = hw_nvml_close(n);
        log = calls(t);
        /* No state was read for a GPU NVML does not know. */
        assert_string_equal(log, "init\nhandle 0000:2a:00.0\nshutdown");
}

static void test_failures(void **state) {
        Test *t = *state;
        _cleanup_(hw_nvml_closep) HwNvml *n = NULL;
        _cleanup_free_ char *log = NULL;
        CcError err = CC_ERROR_INIT;
        HwNvmlCcState s;

        /* nvmlInit_v2 fails: no session, NVML's words in the message, and
         * no nvmlShutdown for a session that never began. */
        set_nvml(t, "init=9\ndevices=" H200 "\n");
        assert_int_equal(hw_nvml_open(t->host, &n, &err), -EIO);
        assert_null(n);
        assert_non_null(strstr(err.message, "Driver Not Loaded"));
        log = calls(t);
        assert_string_equal(log, "init");

        /* The state call fails. */
        set_nvml(t, "state=3\ndevices=" H200 "\n");
        cc_error_clear(&err);
        assert_int_equal(hw_nvml_open(t->host, &n, &err), 0);
        assert_int_equal(hw_nvml_query(n, H200, &s, &err), -EIO);
        assert_non_null(strstr(err.message, "nvmlSystemGetConfComputeState"));
        assert_non_null(strstr(err.message, "Not Supported"));
        n = hw_nvml_close(n);

        /* Values NVML documents no meaning for are not guessed at. */
        set_nvml(t, "devices=" H200 "\ncc_feature=2\n");
        cc_error_clear(&err);
        assert_int_equal(hw_nvml_open(t->host, &n, &err), 0);
        assert_int_equal(hw_nvml_query(n, H200, &s, &err), -EBADMSG);
        assert_non_null(strstr(err.message, "ccFeature 2"));
        n = hw_nvml_close(n);
}

static void test_no_library(void **state) {
        Test *t = *state;
        _cleanup_(hw_nvml_closep) HwNvml *n = NULL;
        CcError err = CC_ERROR_INIT;

        /* A fake root without the variable: never the real library. */
        unsetenv("NVIDIA_CCD_NVML_LIBRARY");
        assert_int_equal(hw_nvml_open(t->host, &n, &err), -ENOENT);
        assert_non_null(strstr(err.message, fake_host_root(t->fake)));

        assert_int_equal(setenv("NVIDIA_CCD_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1), 0);
        cc_error_clear(&err);
        assert_int_equal(hw_nvml_open(t->host, &n, &err), -ENOENT);
        assert_non_null(strstr(err.message, "/nonexistent/libnvidia-ml.so.1"));

        /* A library without NVML's calls. */
        assert_int_equal(setenv("NVIDIA_CCD_NVML_LIBRARY", "libm.so.6", 1), 0);
        cc_error_clear(&err);
        assert_int_equal(hw_nvml_open(t->host, &n, &err), -EOPNOTSUPP);
        assert_non_null(strstr(err.message, "r535"));
        assert_null(n);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_off_as_on_the_real_h200, setup, teardown),
                cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bus_id_forms, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unknown_gpu, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_library, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
