/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "config.h"

#define ARTIFACTS_DEFAULT "/opt/nvidia-gpu-operator/artifacts/runtimeclasses"
#define CONTAINERD_DEFAULT "/etc/containerd/config.toml"

static void assert_defaults(const CcConfig *c) {
        assert_int_equal(c->default_mode, TARGET_MODE_INVALID);
        assert_false(c->cc_capable_ids_set);
        assert_int_equal(c->n_cc_capable_ids, 0);
        assert_null(c->cc_capable_ids);
        assert_int_equal(c->n_extra_devices, 0);
        assert_null(c->extra_devices);
        assert_false(c->bind_nvswitches);
        assert_int_equal(c->sysfs_write_timeout_sec, 60);
        assert_string_equal(c->artifacts_dir, ARTIFACTS_DEFAULT);
        assert_string_equal(c->containerd_config, CONTAINERD_DEFAULT);
        assert_null(c->allowed_host_paths);
        assert_null(c->allowed_extra_args);
        assert_int_equal(c->pull_timeout_usec, 30ULL * 60 * 1000000);
        assert_null(c->cdi_kind);
}

/* Loads data into a fresh configuration; returns the result and leaves the
 * configuration for the caller to inspect and free. */
static int load(CcConfig *c, const char *data, CcError *err) {
        cc_config_init(c);
        cc_error_clear(err);
        return cc_config_load_from_data(c, data, err);
}

/* Asserts that data is refused with an InvalidArgument whose message is
 * exactly the expected one. */
static void assert_refused(const char *data, const char *message) {
        CcConfig c;
        CcError err = CC_ERROR_INIT;
        int r = load(&c, data, &err);

        assert_int_equal(r, -EINVAL);
        assert_int_equal(err.kind, CC_ERROR_INVALID_ARGUMENT);
        assert_string_equal(err.message, message);
        /* A refused file leaves the defaults in place. */
        assert_defaults(&c);
        cc_config_done(&c);
}

static void test_defaults(void **state) {
        CcConfig c;
        CcError err = CC_ERROR_INIT;

        cc_config_init(&c);
        assert_defaults(&c);
        cc_config_done(&c);

        assert_int_equal(load(&c, "", &err), 0);
        assert_false(cc_error_is_set(&err));
        assert_defaults(&c);
        cc_config_done(&c);

        assert_int_equal(load(&c, "# only a comment\n\n[Mode]\n", &err), 0);
        assert_defaults(&c);
        cc_config_done(&c);

        /* Done twice is harmless. */
        cc_config_done(&c);
        cc_config_done(NULL);
}

static void test_mode(void **state) {
        static const struct {
                const char *value;
                TargetMode mode;
        } good[] = {
                { "on", TARGET_MODE_ON },
                { "off", TARGET_MODE_OFF },
                { "devtools", TARGET_MODE_DEVTOOLS },
                { "ppcie", TARGET_MODE_PPCIE },
                { "", TARGET_MODE_INVALID },
                { "   ", TARGET_MODE_INVALID },
        };
        CcConfig c;
        CcError err = CC_ERROR_INIT;

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                g_autofree char *data = g_strdup_printf("[Mode]\nDefault=%s\n", good[i].value);
                assert_int_equal(load(&c, data, &err), 0);
                assert_int_equal(c.default_mode, good[i].mode);
                cc_config_done(&c);
        }

        assert_refused("[Mode]\nDefault=On\n",
                       "(configuration data): [Mode] Default: \"On\" is not one of on, off, devtools, ppcie");
        assert_refused("[Mode]\nDefault=none\n",
                       "(configuration data): [Mode] Default: \"none\" is not one of on, off, devtools, ppcie");
        assert_refused("[Mode]\nDefault=mixed\n",
                       "(configuration data): [Mode] Default: \"mixed\" is not one of on, off, devtools, ppcie");
        assert_refused("[Mode]\nDefault=on off\n",
                       "(configuration data): [Mode] Default: \"on off\" is not one of on, off, devtools, ppcie");
        assert_refused("[Mode]\nDefault=\"on\"\n",
                       "(configuration data): [Mode] Default: \"\"on\"\" is not one of on, off, devtools, ppcie");
}

static void test_whitespace(void **state) {
        CcConfig c;
        CcError err = CC_ERROR_INIT;

        assert_int_equal(load(&c,
                              "[Mode]\n"
                              "  Default =   devtools   \n"
                              "[Devices]\n"
                              "CcCapableDeviceIds =  0x2330 ,2331\t, 0X2322  \n"
                              "ExtraDevices= 1234:11e8 , 1af4:1041\n"
                              "[Kata]\n"
                              "ArtifactsDir =\t/srv/artifacts  \n",
                              &err), 0);
        assert_int_equal(c.default_mode, TARGET_MODE_DEVTOOLS);
        assert_true(c.cc_capable_ids_set);
        assert_int_equal(c.n_cc_capable_ids, 3);
        assert_int_equal(c.cc_capable_ids[0], 0x2330);
        assert_int_equal(c.cc_capable_ids[1], 0x2331);
        assert_int_equal(c.cc_capable_ids[2], 0x2322);
        assert_int_equal(c.n_extra_devices, 2);
        assert_int_equal(c.extra_devices[1].vendor_id, 0x1af4);
        assert_int_equal(c.extra_devices[1].device_id, 0x1041);
        assert_string_equal(c.artifacts_dir, "/srv/artifacts");
        cc_config_done(&c);
}

static void test_cc_capable_ids(void **state) {
        CcConfig c;
        CcError err = CC_ERROR_INIT;

        /* A list of one. */
        assert_int_equal(load(&c, "[Devices]\nCcCapableDeviceIds=0x2330\n", &err), 0);
        assert_true(c.cc_capable_ids_set);
        assert_int_equal(c.n_cc_capable_ids, 1);
        assert_int_equal(c.cc_capable_ids[0], 0x2330);
        cc_config_done(&c);

        /* Bare, mixed case, both ends of the range. */
        assert_int_equal(load(&c, "[Devices]\nCcCapableDeviceIds=2324,0xABcd,0000,ffff\n", &err), 0);
        assert_int_equal(c.n_cc_capable_ids, 4);
        assert_int_equal(c.cc_capable_ids[0], 0x2324);
        assert_int_equal(c.cc_capable_ids[1], 0xabcd);
        assert_int_equal(c.cc_capable_ids[2], 0x0000);
        assert_int_equal(c.cc_capable_ids[3], 0xffff);
        cc_config_done(&c);

        /* Empty: the built-in ranges. */
        assert_int_equal(load(&c, "[Devices]\nCcCapableDeviceIds=\n", &err), 0);
        assert_false(c.cc_capable_ids_set);
        assert_int_equal(c.n_cc_capable_ids, 0);
        cc_config_done(&c);

        /* The last assignment wins, and an empty one resets. */
        assert_int_equal(load(&c, "[Devices]\nCcCapableDeviceIds=2330\nCcCapableDeviceIds=2331,2322\n", &err), 0);
        assert_int_equal(c.n_cc_capable_ids, 2);
        assert_int_equal(c.cc_capable_ids[0], 0x2331);
        cc_config_done(&c);
        assert_int_equal(load(&c, "[Devices]\nCcCapableDeviceIds=2330\n[Devices]\nCcCapableDeviceIds=\n", &err), 0);
        assert_false(c.cc_capable_ids_set);
        assert_null(c.cc_capable_ids);
        cc_config_done(&c);

        static const char *const bad[] = { "0x233", "233", "0x23300", "23300", "zzzz", "0x", "0xg330", "x2330", "-2330", "+233" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                g_autofree char *data = g_strdup_printf("[Devices]\nCcCapableDeviceIds=2330,%s\n", bad[i]);
                g_autofree char *msg = g_strdup_printf(
                        "(configuration data): [Devices] CcCapableDeviceIds: \"%s\" is not a PCI device id (0xNNNN or NNNN)",
                        bad[i]);
                assert_refused(data, msg);
        }

        assert_refused("[Devices]\nCcCapableDeviceIds=2330,,2331\n",
                       "(configuration data): [Devices] CcCapableDeviceIds: \"2330,,2331\" has an empty entry");
        assert_refused("[Devices]\nCcCapableDeviceIds=2330,\n",
                       "(configuration data): [Devices] CcCapableDeviceIds: \"2330,\" has an empty entry");
        assert_refused("[Devices]\nCcCapableDeviceIds=2330;2331\n",
                       "(configuration data): [Devices] CcCapableDeviceIds: \"2330;2331\" is not a PCI device id (0xNNNN or NNNN)");
}

static void test_extra_devices(void **state) {
        CcConfig c;
        CcError err = CC_ERROR_INIT;

        assert_int_equal(load(&c, "[Devices]\nExtraDevices=1234:11e8\n", &err), 0);
        assert_int_equal(c.n_extra_devices, 1);
        assert_int_equal(c.extra_devices[0].vendor_id, 0x1234);
        assert_int_equal(c.extra_devices[0].device_id, 0x11e8);
        /* Extra devices do not touch the capable id list. */
        assert_false(c.cc_capable_ids_set);
        cc_config_done(&c);

        assert_int_equal(load(&c, "[Devices]\nExtraDevices=10DE:2330,1b36:0010\n", &err), 0);
        assert_int_equal(c.n_extra_devices, 2);
        assert_int_equal(c.extra_devices[0].vendor_id, 0x10de);
        assert_int_equal(c.extra_devices[0].device_id, 0x2330);
        assert_int_equal(c.extra_devices[1].vendor_id, 0x1b36);
        assert_int_equal(c.extra_devices[1].device_id, 0x0010);
        cc_config_done(&c);

        assert_int_equal(load(&c, "[Devices]\nExtraDevices=\n", &err), 0);
        assert_int_equal(c.n_extra_devices, 0);
        assert_null(c.extra_devices);
        cc_config_done(&c);

        static const char *const bad[] = { "10de-2330", "10de", "10de:", ":2330", "10de:2330:1", "0x10de:0x2330",
                                           "10de:233", "10d:2330", "10de :2330", "10de: 2330", "g0de:2330" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                g_autofree char *data = g_strdup_printf("[Devices]\nExtraDevices=1234:11e8,%s\n", bad[i]);
                g_autofree char *msg = g_strdup_printf(
                        "(configuration data): [Devices] ExtraDevices: \"%s\" is not VENDOR:DEVICE", bad[i]);
                assert_refused(data, msg);
        }
        assert_refused("[Devices]\nExtraDevices=,1234:11e8\n",
                       "(configuration data): [Devices] ExtraDevices: \",1234:11e8\" has an empty entry");
}

static void test_bind_nvswitches(void **state) {
        static const struct {
                const char *value;
                bool expected;
        } good[] = {
                { "true", true }, { "1", true }, { "false", false }, { "0", false }, { "", false }, { " true ", true },
        };
        CcConfig c;
        CcError err = CC_ERROR_INIT;

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                g_autofree char *data = g_strdup_printf("[Vfio]\nBindNvSwitches=%s\n", good[i].value);
                assert_int_equal(load(&c, data, &err), 0);
                assert_int_equal(c.bind_nvswitches, good[i].expected);
                cc_config_done(&c);
        }

        /* An empty assignment after a true one goes back to the default. */
        assert_int_equal(load(&c, "[Vfio]\nBindNvSwitches=true\n[Vfio]\nBindNvSwitches=\n", &err), 0);
        assert_false(c.bind_nvswitches);
        cc_config_done(&c);

        static const char *const bad[] = { "yes", "TRUE", "True", "2", "on", "truex" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                g_autofree char *data = g_strdup_printf("[Vfio]\nBindNvSwitches=%s\n", bad[i]);
                g_autofree char *msg = g_strdup_printf(
                        "(configuration data): [Vfio] BindNvSwitches: \"%s\" is not a boolean (true or false)", bad[i]);
                assert_refused(data, msg);
        }
}

static void test_cdi_kind(void **state) {
        CcConfig c;
        CcError err = CC_ERROR_INIT;

        assert_int_equal(load(&c, "[Vfio]\nCdiKind=example.com/gpu\n", &err), 0);
        assert_string_equal(c.cdi_kind, "example.com/gpu");
        cc_config_done(&c);
        assert_int_equal(load(&c, "[Vfio]\nCdiKind=per-model\n", &err), 0);
        assert_null(c.cdi_kind);
        cc_config_done(&c);
        /* Empty: the default, as for every key. */
        assert_int_equal(load(&c, "[Vfio]\nCdiKind=nvidia.com/pgpu\n[Vfio]\nCdiKind=\n", &err), 0);
        assert_null(c.cdi_kind);
        cc_config_done(&c);

        assert_refused("[Vfio]\nCdiKind=pgpu\n", "(configuration data): [Vfio] CdiKind: \"pgpu\" is not an extended "
                                                 "resource name (DOMAIN/NAME) or per-model");
        assert_refused("[Vfio]\nCdiKind=kubernetes.io/gpu\n",
                       "(configuration data): [Vfio] CdiKind: \"kubernetes.io/gpu\" is not an extended resource name "
                       "(DOMAIN/NAME) or per-model");
        assert_refused("[Vfio]\nCdiKind=nvidia.com/2901\n",
                       "(configuration data): [Vfio] CdiKind: \"nvidia.com/2901\" is not a CDI kind (VENDOR/CLASS, "
                       "the class beginning with a letter)");
}

static void test_write_timeout(void **state) {
        static const struct {
                const char *value;
                unsigned expected;
        } good[] = { { "1", 1 }, { "3600", 3600 }, { " 5 ", 5 }, { "", 60 } };
        static const char *const bad[] = { "0", "3601", "-1", "5s", "1.5", "abc", "99999999999999999999999" };
        CcConfig c;
        CcError err = CC_ERROR_INIT;

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                g_autofree char *data = g_strdup_printf("[Devices]\nSysfsWriteTimeoutSec=%s\n", good[i].value);
                assert_int_equal(load(&c, data, &err), 0);
                assert_int_equal(c.sysfs_write_timeout_sec, good[i].expected);
                cc_config_done(&c);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                g_autofree char *data = g_strdup_printf("[Devices]\nSysfsWriteTimeoutSec=%s\n", bad[i]);
                g_autofree char *msg = g_strdup_printf(
                        "(configuration data): [Devices] SysfsWriteTimeoutSec: \"%s\" is not a number of seconds%s", bad[i],
                        g_ascii_isdigit(bad[i][0]) ? " from 1 to 3600" : "");
                assert_refused(data, msg);
        }
}

static void test_paths(void **state) {
        CcConfig c;
        CcError err = CC_ERROR_INIT;

        assert_int_equal(load(&c,
                              "[Kata]\n"
                              "ArtifactsDir=/var/lib/kata/artifacts\n"
                              "ContainerdConfig=/etc/k3s/containerd/config.toml\n",
                              &err), 0);
        assert_string_equal(c.artifacts_dir, "/var/lib/kata/artifacts");
        assert_string_equal(c.containerd_config, "/etc/k3s/containerd/config.toml");
        cc_config_done(&c);

        /* Escapes are GKeyFile's. */
        assert_int_equal(load(&c, "[Kata]\nArtifactsDir=/srv/with\\sspace\n", &err), 0);
        assert_string_equal(c.artifacts_dir, "/srv/with space");
        cc_config_done(&c);

        /* Empty: the default. */
        assert_int_equal(load(&c, "[Kata]\nArtifactsDir=/x\nArtifactsDir=\nContainerdConfig=\n", &err), 0);
        assert_string_equal(c.artifacts_dir, ARTIFACTS_DEFAULT);
        assert_string_equal(c.containerd_config, CONTAINERD_DEFAULT);
        cc_config_done(&c);

        assert_refused("[Kata]\nArtifactsDir=relative/dir\n",
                       "(configuration data): [Kata] ArtifactsDir: \"relative/dir\" is not an absolute path");
        assert_refused("[Kata]\nContainerdConfig=~/config.toml\n",
                       "(configuration data): [Kata] ContainerdConfig: \"~/config.toml\" is not an absolute path");
        assert_refused("[Kata]\nArtifactsDir=/bad\\qescape\n",
                       "(configuration data): [Kata] ArtifactsDir: \"/bad\\qescape\" has a bad escape sequence or is not UTF-8");
        assert_refused("[Kata]\nContainerdConfig=/bad\xff\n",
                       "(configuration data): [Kata] ContainerdConfig: \"/bad\xff\" has a bad escape sequence or is not UTF-8");
}

/* What a Kata configuration may name on the host: lists replacing the
 * defaults (NULL), paths absolute without "." or "..". */
static void test_allowed_host_paths(void **state) {
        CcConfig c;
        CcError err = CC_ERROR_INIT;

        assert_int_equal(load(&c,
                              "[Kata]\n"
                              "AllowedHostPaths=/usr/local/kata/, /usr/bin/qemu-kvm\n"
                              "AllowedExtraArgs=--cache=*,--thread-pool-size=*\n",
                              &err), 0);
        assert_int_equal(g_strv_length(c.allowed_host_paths), 2);
        assert_string_equal(c.allowed_host_paths[0], "/usr/local/kata/");
        assert_string_equal(c.allowed_host_paths[1], "/usr/bin/qemu-kvm");
        assert_int_equal(g_strv_length(c.allowed_extra_args), 2);
        assert_string_equal(c.allowed_extra_args[0], "--cache=*");
        cc_config_done(&c);

        assert_int_equal(load(&c, "[Kata]\nAllowedHostPaths=/x\nAllowedHostPaths=\n", &err), 0);
        assert_null(c.allowed_host_paths);
        cc_config_done(&c);

        assert_refused("[Kata]\nAllowedHostPaths=/opt/kata,usr/bin\n",
                       "(configuration data): [Kata] AllowedHostPaths: \"usr/bin\" is not an absolute path");
        assert_refused("[Kata]\nAllowedHostPaths=/opt/kata/../../bin\n",
                       "(configuration data): [Kata] AllowedHostPaths: \"/opt/kata/../../bin\" has a \".\" or \"..\" "
                       "component");
        assert_refused("[Kata]\nAllowedExtraArgs=-o,,x\n",
                       "(configuration data): [Kata] AllowedExtraArgs: \"-o,,x\" has an empty entry");
}

static void test_pull_timeout(void **state) {
        static const struct {
                const char *value;
                uint64_t usec;
        } good[] = { { "90", 90000000ULL }, { "90s", 90000000ULL }, { "45min", 2700000000ULL },
                     { "2h", 7200000000ULL }, { "0", 0 } };
        CcConfig c;
        CcError err = CC_ERROR_INIT;

        for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
                g_autofree char *text = g_strdup_printf("[Kata]\nPullTimeout=%s\n", good[i].value);

                assert_int_equal(load(&c, text, &err), 0);
                assert_int_equal(c.pull_timeout_usec, good[i].usec);
                cc_config_done(&c);
        }
        assert_refused("[Kata]\nPullTimeout=5m\n",
                       "(configuration data): [Kata] PullTimeout: \"5m\" is not a time span (e.g. 30min)");
        assert_refused("[Kata]\nPullTimeout=-1\n",
                       "(configuration data): [Kata] PullTimeout: \"-1\" is not a time span (e.g. 30min)");
        assert_refused("[Kata]\nPullTimeout=99999999999999999999h\n",
                       "(configuration data): [Kata] PullTimeout: \"99999999999999999999h\" is not a time span (e.g. 30min)");
}

static void test_unknown(void **state) {
        CcConfig c;
        CcError err = CC_ERROR_INIT;

        /* Unknown groups and keys are skipped with a warning; the known ones
         * around them still count, and a bad value in an unknown key is not
         * looked at. */
        assert_int_equal(load(&c,
                              "[Future]\nSomething=1\n"
                              "[Mode]\nDefault=on\nDefaultForNewGpus=whatever\n"
                              "[Vfio]\nBindNvSwitches=true\nBindEverything=maybe\n"
                              "[Devices]\nDefault=on\nCcCapableDeviceIds=2330\n",
                              &err), 0);
        assert_false(cc_error_is_set(&err));
        assert_int_equal(c.default_mode, TARGET_MODE_ON);
        assert_true(c.bind_nvswitches);
        assert_int_equal(c.n_cc_capable_ids, 1);
        cc_config_done(&c);

        /* Key names are case-sensitive, like the rest of GKeyFile. */
        assert_int_equal(load(&c, "[mode]\nDefault=on\n[Mode]\ndefault=on\n", &err), 0);
        assert_int_equal(c.default_mode, TARGET_MODE_INVALID);
        cc_config_done(&c);
}

static void test_syntax_error(void **state) {
        CcConfig c;
        CcError err = CC_ERROR_INIT;

        assert_int_equal(load(&c, "Default=on\n", &err), -EINVAL);
        assert_int_equal(err.kind, CC_ERROR_INVALID_ARGUMENT);
        assert_true(g_str_has_prefix(err.message, "(configuration data): "));
        assert_defaults(&c);
        cc_config_done(&c);

        assert_int_equal(load(&c, "[Mode]\nthis line has no equals sign\n", &err), -EINVAL);
        assert_int_equal(err.kind, CC_ERROR_INVALID_ARGUMENT);
        cc_config_done(&c);
}

/* A failed load keeps what was there; a good one replaces all of it. */
static void test_reload(void **state) {
        CcConfig c;
        CcError err = CC_ERROR_INIT;

        assert_int_equal(load(&c, "[Mode]\nDefault=ppcie\n[Devices]\nCcCapableDeviceIds=2330\nExtraDevices=1234:11e8\n", &err), 0);
        assert_int_equal(cc_config_load_from_data(&c, "[Mode]\nDefault=on\n[Kata]\nArtifactsDir=rel\n", &err), -EINVAL);
        assert_int_equal(c.default_mode, TARGET_MODE_PPCIE);
        assert_int_equal(c.n_cc_capable_ids, 1);
        assert_int_equal(c.n_extra_devices, 1);

        cc_error_clear(&err);
        assert_int_equal(cc_config_load_from_data(&c, "[Vfio]\nBindNvSwitches=true\n", &err), 0);
        assert_int_equal(c.default_mode, TARGET_MODE_INVALID);
        assert_false(c.cc_capable_ids_set);
        assert_int_equal(c.n_extra_devices, 0);
        assert_true(c.bind_nvswitches);
        cc_config_done(&c);
}

static char *make_tmpdir(void) {
        g_autoptr(GError) error = NULL;
        char *d = g_dir_make_tmp("test-config-XXXXXX", &error);
        assert_non_null(d);
        return d;
}

static void test_file(void **state) {
        g_autofree char *dir = make_tmpdir();
        g_autofree char *path = g_build_filename(dir, "nvidia-ccd.conf", NULL);
        g_autofree char *missing = g_build_filename(dir, "missing.conf", NULL);
        g_autofree char *expected = NULL;
        CcConfig c;
        CcError err = CC_ERROR_INIT;

        /* Missing file: defaults unless it must exist. */
        cc_config_init(&c);
        assert_int_equal(cc_config_load(&c, missing, false, &err), 0);
        assert_false(cc_error_is_set(&err));
        assert_defaults(&c);
        assert_int_equal(cc_config_load(&c, missing, true, &err), -ENOENT);
        assert_int_equal(err.kind, CC_ERROR_NOT_FOUND);
        assert_non_null(strstr(err.message, missing));
        cc_config_done(&c);

        /* NULL: defaults. */
        cc_error_clear(&err);
        cc_config_init(&c);
        assert_int_equal(cc_config_load(&c, NULL, true, &err), 0);
        assert_defaults(&c);
        cc_config_done(&c);

        assert_true(g_file_set_contents(path,
                                        "# nvidia-ccd.conf\n"
                                        "[Mode]\nDefault=on\n"
                                        "[Devices]\nCcCapableDeviceIds=0x2330,0x2331\n",
                                        -1, NULL));
        cc_config_init(&c);
        assert_int_equal(cc_config_load(&c, path, true, &err), 0);
        assert_int_equal(c.default_mode, TARGET_MODE_ON);
        assert_int_equal(c.n_cc_capable_ids, 2);
        cc_config_done(&c);

        /* A bad value names the file, the group, the key and the value. */
        assert_true(g_file_set_contents(path, "[Devices]\nExtraDevices=10de-2330\n", -1, NULL));
        cc_config_init(&c);
        assert_int_equal(cc_config_load(&c, path, false, &err), -EINVAL);
        assert_int_equal(err.kind, CC_ERROR_INVALID_ARGUMENT);
        expected = g_strdup_printf("%s: [Devices] ExtraDevices: \"10de-2330\" is not VENDOR:DEVICE", path);
        assert_string_equal(err.message, expected);
        assert_defaults(&c);
        cc_config_done(&c);

        /* An empty file is a file with no settings. */
        assert_true(g_file_set_contents(path, "", -1, NULL));
        cc_config_init(&c);
        assert_int_equal(cc_config_load(&c, path, true, &err), 0);
        assert_defaults(&c);
        cc_config_done(&c);

        /* A directory is not a configuration file, must exist or not. */
        cc_error_clear(&err);
        cc_config_init(&c);
        assert_true(cc_config_load(&c, dir, false, &err) < 0);
        assert_true(cc_error_is_set(&err));
        assert_non_null(strstr(err.message, dir));
        cc_config_done(&c);

        assert_int_equal(g_unlink(path), 0);
        assert_int_equal(g_rmdir(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_mode),
                cmocka_unit_test(test_whitespace),
                cmocka_unit_test(test_cc_capable_ids),
                cmocka_unit_test(test_extra_devices),
                cmocka_unit_test(test_bind_nvswitches),
                cmocka_unit_test(test_cdi_kind),
                cmocka_unit_test(test_write_timeout),
                cmocka_unit_test(test_paths),
                cmocka_unit_test(test_allowed_host_paths),
                cmocka_unit_test(test_pull_timeout),
                cmocka_unit_test(test_unknown),
                cmocka_unit_test(test_syntax_error),
                cmocka_unit_test(test_reload),
                cmocka_unit_test(test_file),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
