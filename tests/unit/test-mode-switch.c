/* SPDX-License-Identifier: MIT */

/* The mode engine on fake trees with the simulator: targets, every mode,
 * drivers bound back, PPCIe all-or-nothing, failures named, the intent
 * record. */

#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <glib.h>

#include "fake-host.h"
#include "sim-host.h"
#include "gpusim.h"
#include "mode-switch.h"
#include "pci-sysfs.h"
#include "sysfs-write.h"

static const char *const gpus[] = { "0000:18:00.0", "0000:2a:00.0", "0000:3a:00.0", "0000:5d:00.0" };
#define SWITCH_BDF "0000:05:00.0"

typedef struct Fixture {
        FakeHost *fake;
        HwHost *host;
        CcConfig config;
        CcInventory *inv;
        char *state_dir;
} Fixture;

static CcTimeouts short_timeouts(void) {
        return (CcTimeouts) {
                .boot_ms = 2000, .boot_poll_ms = 1,
                .queue_empty_ms = 100, .queue_poll_us = 100,
                .response_ms = 100, .response_poll_ms = 1,
        };
}

/* The root port and the switch ports above the GPU at 0000:BB:00.0, on
 * buses BB-3 to BB-1, as on an HGX board. */
static void add_bridges_above(FakeHost *fake, const char *gpu) {
        unsigned bus = (unsigned) strtoul(gpu + 5, NULL, 16);
        char bdf[16];

        for (unsigned k = 0; k < 3; k++) {
                snprintf(bdf, sizeof(bdf), "0000:%02x:%s", bus - 3 + k, k == 0 ? "01.0" : "00.0");
                assert_int_equal(fake_host_add_bridge_to(fake, bdf, bus - 2 + k, 0), 0);
        }
}

static Fixture *fixture_new(void) {
        Fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        f->fake = fake_host_new();
        assert_non_null(f->fake);
        return f;
}

/* Discovery and a state directory for the tree built so far. */
static void fixture_open(Fixture *f) {
        CcError e = CC_ERROR_INIT;

        assert_int_equal(sim_host_new(fake_host_root(f->fake), &f->host), 0);
        cc_config_init(&f->config);
        assert_int_equal(cc_inventory_scan(f->host, &f->config, &f->inv, &e), 0);
        f->state_dir = fake_host_path(f->fake, "state");
        assert_int_equal(mkdir(f->state_dir, 0755), 0);
}

static int setup_host(void **state, bool with_nvswitch, const char *driver, bool bridges) {
        Fixture *f = fixture_new();

        for (size_t i = 0; i < ELEMENTSOF(gpus); i++) {
                if (bridges)
                        add_bridges_above(f->fake, gpus[i]);
                assert_int_equal(fake_host_add_gpu(f->fake, gpus[i], 0x2330,
                                                   &(FakeGpuOptions) { .driver = driver, .boot_ms = 5 }), 0);
        }
        if (with_nvswitch)
                assert_int_equal(fake_host_add_nvswitch(f->fake, SWITCH_BDF, 0x22a3,
                                                        &(FakeGpuOptions) { .boot_ms = 5 }), 0);
        fixture_open(f);
        *state = f;
        return 0;
}

/* The GPU of a real host's snapshot, with no simulator state yet: a tree
 * as a new user would make it by hand. */
static int setup_snapshot(void **state) {
        Fixture *f = fixture_new();
        _cleanup_free_ char *bdf = NULL, *ini = NULL;

        assert_int_equal(fake_host_add_from_fixture(f->fake, FIXTURES_DIR "/h200-sxm-host.txt", &bdf), 0);
        assert_string_equal(bdf, "0000:00:06.0");
        ini = fake_host_path(f->fake, "sys/bus/pci/devices/%s/gpusim.ini", bdf);
        assert_int_equal(unlink(ini), 0);
        fixture_open(f);
        *state = f;
        return 0;
}

static int setup_bridges(void **state) {
        return setup_host(state, false, "nvidia", true);
}

static int setup(void **state) {
        return setup_host(state, false, "nvidia", false);
}

static int setup_hgx(void **state) {
        return setup_host(state, true, "nvidia", false);
}

static int setup_vfio(void **state) {
        return setup_host(state, false, "vfio-pci", false);
}

static int teardown(void **state) {
        Fixture *f = *state;

        cc_inventory_free(f->inv);
        cc_config_done(&f->config);
        hw_host_free(f->host);
        fake_host_free(f->fake);
        free(f->state_dir);
        free(f);
        return 0;
}

static char *sim_path(Fixture *f, const char *bdf) {
        return fake_host_path(f->fake, "sys/bus/pci/devices/%s/gpusim.ini", bdf);
}

static void inject(Fixture *f, const char *bdf, const char *key, const char *value) {
        _cleanup_free_ char *p = sim_path(f, bdf);
        assert_int_equal(gpusim_set(p, "Inject", key, value), 0);
}

static char *sim_value(Fixture *f, const char *bdf, const char *group, const char *key) {
        _cleanup_free_ char *p = sim_path(f, bdf);
        g_autoptr(GKeyFile) kf = g_key_file_new();
        assert_true(g_key_file_load_from_file(kf, p, G_KEY_FILE_NONE, NULL));
        return g_key_file_get_string(kf, group, key, NULL);
}

/* Runs a switch to the end the way the daemon does: wait for the fd. */
static int run_switch(Fixture *f, TargetMode mode, const char *bdf, CcSwitch **ret, CcError *e) {
        CcSwitchTarget *targets = NULL;
        CcSwitch *sw = NULL;
        CcTimeouts t = short_timeouts();
        size_t n = 0;
        int r;

        r = cc_switch_select(f->inv, mode, bdf, &targets, &n, e);
        if (r < 0)
                return r;
        assert_int_equal(cc_switch_new(f->host, f->state_dir, mode, targets, n, &sw), 0);
        cc_switch_set_timeouts(sw, &t);
        assert_int_equal(cc_switch_start(sw), 0);

        struct pollfd p = { .fd = cc_switch_get_fd(sw), .events = POLLIN };
        assert_int_equal(poll(&p, 1, 30000), 1);
        assert_true(cc_switch_done(sw));
        r = cc_switch_finish(sw, e);
        *ret = sw;
        return r;
}

static DeviceCcMode query_mode(Fixture *f, const char *bdf, bool *ppcie) {
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        CcStatus s;
        GpuArch arch = streq(bdf, SWITCH_BDF) ? GPU_ARCH_LS10_NVSWITCH : GPU_ARCH_HOPPER;

        assert_int_equal(bar0_open(f->host, bdf, &b, NULL), 0);
        assert_int_equal(cc_query(b, gpu_chip_default(arch), &s, NULL), 0);
        if (ppcie)
                *ppcie = s.ppcie;
        return s.cc;
}

static void assert_driver(Fixture *f, const char *bdf, const char *expected) {
        _cleanup_free_ char *drv = NULL;
        assert_int_equal(hw_pci_get_driver(f->host, bdf, &drv), 0);
        assert_string_equal(strempty(drv), expected);
}

static void assert_no_intent(Fixture *f) {
        _cleanup_free_ char *p = g_build_filename(f->state_dir, "mode-switch.intent", NULL);
        assert_int_equal(access(p, F_OK), -1);
}

static void test_select(void **state) {
        Fixture *f = *state;
        CcSwitchTarget *t = NULL;
        CcError e = CC_ERROR_INIT;
        size_t n = 0;

        assert_int_equal(cc_switch_select(f->inv, TARGET_MODE_ON, NULL, &t, &n, &e), 0);
        assert_int_equal(n, ELEMENTSOF(gpus));
        assert_string_equal(t[0].driver, "nvidia");
        cc_switch_targets_free(t, n);

        /* The NVSwitch joins only for ppcie. */
        assert_int_equal(cc_switch_select(f->inv, TARGET_MODE_PPCIE, NULL, &t, &n, &e), 0);
        assert_int_equal(n, ELEMENTSOF(gpus) + 1);
        cc_switch_targets_free(t, n);

        assert_int_equal(cc_switch_select(f->inv, TARGET_MODE_ON, gpus[1], &t, &n, &e), 0);
        assert_int_equal(n, 1);
        assert_string_equal(t[0].bdf, gpus[1]);
        cc_switch_targets_free(t, n);

        assert_true(cc_switch_select(f->inv, TARGET_MODE_ON, "0000:99:00.0", &t, &n, &e) < 0);
        assert_int_equal(e.kind, CC_ERROR_NOT_FOUND);
        assert_non_null(strstr(e.message, "0000:99:00.0"));

        assert_true(cc_switch_select(f->inv, TARGET_MODE_PPCIE, gpus[0], &t, &n, &e) < 0);
        assert_int_equal(e.kind, CC_ERROR_INVALID_ARGUMENT);
}

static void test_modes(void **state) {
        static const struct {
                TargetMode mode;
                DeviceCcMode expected;
        } cases[] = {
                { TARGET_MODE_ON, DEVICE_CC_ON },
                { TARGET_MODE_DEVTOOLS, DEVICE_CC_DEVTOOLS },
                { TARGET_MODE_OFF, DEVICE_CC_OFF },
                { TARGET_MODE_ON, DEVICE_CC_ON },
        };
        Fixture *f = *state;

        for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
                _cleanup_(cc_switch_freep) CcSwitch *sw = NULL;
                CcError e = CC_ERROR_INIT;

                assert_int_equal(run_switch(f, cases[c].mode, NULL, &sw, &e), 0);
                assert_int_equal(cc_switch_n_outcomes(sw), ELEMENTSOF(gpus));
                for (size_t i = 0; i < ELEMENTSOF(gpus); i++) {
                        const CcSwitchOutcome *o = cc_switch_outcome(sw, i);
                        assert_true(o->verified);
                        assert_int_equal(o->status.cc, cases[c].expected);
                        assert_int_equal(query_mode(f, gpus[i], NULL), cases[c].expected);
                        assert_driver(f, gpus[i], "nvidia");
                }
                assert_no_intent(f);
        }
}

/* The tree is the kernel's (sys/bus/pci/devices/<bdf> a link into
 * sys/devices/pci0000:BB/..., each GPU behind a switch): the unbind, the
 * reset and the bind through those links all take effect, and the GPUs come
 * back in the mode.  On such a tree the simulated kernel once dropped the
 * writes and "on" failed with "mode is off after reset, expected on". */
static void test_on_over_kernel_layout(void **state) {
        _cleanup_(cc_switch_freep) CcSwitch *sw = NULL;
        Fixture *f = *state;
        CcError e = CC_ERROR_INIT;

        for (size_t i = 0; i < ELEMENTSOF(gpus); i++) {
                _cleanup_free_ char *link = fake_host_path(f->fake, "sys/bus/pci/devices/%s", gpus[i]);
                _cleanup_free_ char *dir = fake_host_device_dir(f->fake, gpus[i]);
                struct stat st;

                assert_int_equal(lstat(link, &st), 0);
                assert_true(S_ISLNK(st.st_mode));
                assert_non_null(strstr(dir, "/sys/devices/pci0000:"));
        }
        assert_int_equal(run_switch(f, TARGET_MODE_ON, NULL, &sw, &e), 0);
        for (size_t i = 0; i < ELEMENTSOF(gpus); i++) {
                _cleanup_free_ char *reset_at = sim_value(f, gpus[i], "State", "ResetAtUs");

                assert_true(cc_switch_outcome(sw, i)->verified);
                assert_int_equal(query_mode(f, gpus[i], NULL), DEVICE_CC_ON);
                assert_string_not_equal(reset_at, "0");
                assert_driver(f, gpus[i], "nvidia");
        }
        assert_no_intent(f);
}

/* The H200 of a real host's snapshot, its simulator state made on first
 * use: on, then off again. */
static void test_snapshot_on_and_off(void **state) {
        Fixture *f = *state;
        static const TargetMode modes[] = { TARGET_MODE_ON, TARGET_MODE_OFF };
        static const DeviceCcMode expected[] = { DEVICE_CC_ON, DEVICE_CC_OFF };

        assert_int_equal(cc_inventory_find(f->inv, "0000:00:06.0")->cc_mode, DEVICE_CC_OFF);
        for (size_t m = 0; m < ELEMENTSOF(modes); m++) {
                _cleanup_(cc_switch_freep) CcSwitch *sw = NULL;
                CcError e = CC_ERROR_INIT;

                assert_int_equal(run_switch(f, modes[m], NULL, &sw, &e), 0);
                assert_int_equal(cc_switch_n_outcomes(sw), 1);
                assert_true(cc_switch_outcome(sw, 0)->verified);
                assert_int_equal(query_mode(f, "0000:00:06.0", NULL), expected[m]);
                assert_driver(f, "0000:00:06.0", "nvidia");
        }
}

static void test_one_gpu(void **state) {
        _cleanup_(cc_switch_freep) CcSwitch *sw = NULL;
        Fixture *f = *state;
        CcError e = CC_ERROR_INIT;

        assert_int_equal(run_switch(f, TARGET_MODE_DEVTOOLS, gpus[2], &sw, &e), 0);
        assert_int_equal(query_mode(f, gpus[2], NULL), DEVICE_CC_DEVTOOLS);
        assert_int_equal(query_mode(f, gpus[0], NULL), DEVICE_CC_OFF);
        assert_int_equal(query_mode(f, gpus[3], NULL), DEVICE_CC_OFF);
}

static void test_same_mode_no_reset(void **state) {
        _cleanup_(cc_switch_freep) CcSwitch *sw = NULL;
        _cleanup_(cc_switch_freep) CcSwitch *again = NULL;
        _cleanup_free_ char *before = NULL, *after = NULL;
        Fixture *f = *state;
        CcError e = CC_ERROR_INIT;

        _cleanup_free_ char *link = fake_host_path(f->fake, "sys/bus/pci/devices/%s/driver", gpus[0]);
        struct stat bound, still;

        assert_int_equal(run_switch(f, TARGET_MODE_ON, gpus[0], &sw, &e), 0);
        before = sim_value(f, gpus[0], "State", "ResetAtUs");
        assert_int_equal(lstat(link, &bound), 0);
        assert_int_equal(run_switch(f, TARGET_MODE_ON, gpus[0], &again, &e), 0);
        after = sim_value(f, gpus[0], "State", "ResetAtUs");
        assert_true(cc_switch_outcome(again, 0)->verified);
        assert_int_equal(cc_switch_outcome(again, 0)->status.cc, DEVICE_CC_ON);
        /* Neither reset nor taken from its driver: the link is the same one. */
        assert_string_equal(before, after);
        assert_int_equal(lstat(link, &still), 0);
        assert_int_equal(bound.st_ino, still.st_ino);
        assert_int_equal(bound.st_ctim.tv_sec, still.st_ctim.tv_sec);
        assert_int_equal(bound.st_ctim.tv_nsec, still.st_ctim.tv_nsec);
}

/* A switch cut short left a GPU in the mode but without its driver: the
 * finishing run binds it back without resetting it. */
static void test_untouched_but_unbound_is_bound_back(void **state) {
        _cleanup_(cc_switch_freep) CcSwitch *sw = NULL;
        _cleanup_(cc_switch_freep) CcSwitch *again = NULL;
        _cleanup_free_ char *before = NULL, *after = NULL;
        Fixture *f = *state;
        CcError e = CC_ERROR_INIT;

        assert_int_equal(run_switch(f, TARGET_MODE_ON, NULL, &sw, &e), 0);
        assert_int_equal(hw_pci_unbind(f->host, gpus[1]), 0);
        assert_driver(f, gpus[1], "");
        before = sim_value(f, gpus[1], "State", "ResetAtUs");

        assert_int_equal(run_switch(f, TARGET_MODE_ON, NULL, &again, &e), 0);
        after = sim_value(f, gpus[1], "State", "ResetAtUs");
        assert_string_equal(before, after);
        assert_driver(f, gpus[1], "nvidia");
}

/* The driver bound back is the one the device had when the switch began,
 * even when discovery saw another. */
static void test_driver_at_switch_time_wins(void **state) {
        _cleanup_(cc_switch_freep) CcSwitch *sw = NULL;
        _cleanup_(cc_switch_freep) CcSwitch *again = NULL;
        Fixture *f = *state;
        CcError e = CC_ERROR_INIT;

        assert_int_equal(hw_pci_unbind(f->host, gpus[2]), 0);
        assert_int_equal(hw_pci_bind(f->host, gpus[2], "vfio-pci"), 0);

        assert_int_equal(run_switch(f, TARGET_MODE_DEVTOOLS, NULL, &sw, &e), 0);
        assert_driver(f, gpus[2], "vfio-pci");
        assert_driver(f, gpus[0], "nvidia");

        /* Already there: left on vfio-pci, not moved to the driver on record. */
        assert_int_equal(run_switch(f, TARGET_MODE_DEVTOOLS, NULL, &again, &e), 0);
        assert_driver(f, gpus[2], "vfio-pci");
}

static void test_vfio_bound_back(void **state) {
        _cleanup_(cc_switch_freep) CcSwitch *sw = NULL;
        Fixture *f = *state;
        CcError e = CC_ERROR_INIT;

        assert_int_equal(run_switch(f, TARGET_MODE_ON, NULL, &sw, &e), 0);
        for (size_t i = 0; i < ELEMENTSOF(gpus); i++)
                assert_driver(f, gpus[i], "vfio-pci");
}

static void test_ppcie(void **state) {
        _cleanup_(cc_switch_freep) CcSwitch *sw = NULL;
        Fixture *f = *state;
        CcError e = CC_ERROR_INIT;
        bool ppcie = false;

        assert_int_equal(run_switch(f, TARGET_MODE_PPCIE, NULL, &sw, &e), 0);
        for (size_t i = 0; i < ELEMENTSOF(gpus); i++) {
                assert_int_equal(query_mode(f, gpus[i], &ppcie), DEVICE_CC_OFF);
                assert_true(ppcie);
        }
        query_mode(f, SWITCH_BDF, &ppcie);
        assert_true(ppcie);
}

static void test_ppcie_all_or_nothing(void **state) {
        _cleanup_(cc_switch_freep) CcSwitch *sw = NULL;
        Fixture *f = *state;
        CcError e = CC_ERROR_INIT;
        bool ppcie = true;

        inject(f, SWITCH_BDF, "UnknownKnob", "45");
        assert_true(run_switch(f, TARGET_MODE_PPCIE, NULL, &sw, &e) < 0);
        assert_int_equal(e.kind, CC_ERROR_NOT_CAPABLE);
        assert_non_null(strstr(e.message, SWITCH_BDF));
        for (size_t i = 0; i < ELEMENTSOF(gpus); i++) {
                query_mode(f, gpus[i], &ppcie);
                assert_false(ppcie);
                assert_driver(f, gpus[i], "nvidia");
        }
        assert_no_intent(f);
}

static void test_fsp_timeout_named(void **state) {
        _cleanup_(cc_switch_freep) CcSwitch *sw = NULL;
        Fixture *f = *state;
        CcError e = CC_ERROR_INIT;

        inject(f, gpus[1], "FspTimeout", "response");
        assert_true(run_switch(f, TARGET_MODE_ON, NULL, &sw, &e) < 0);
        assert_int_equal(e.kind, CC_ERROR_TIMEOUT);
        assert_non_null(strstr(e.message, gpus[1]));
        assert_non_null(strstr(e.message, "FSP"));
        /* The others switched; the failed one kept its mode and said so. */
        assert_int_equal(query_mode(f, gpus[0], NULL), DEVICE_CC_ON);
        assert_false(cc_switch_outcome(sw, 1)->verified);
        assert_int_equal(cc_switch_outcome(sw, 1)->status.cc, DEVICE_CC_OFF);
        for (size_t i = 0; i < ELEMENTSOF(gpus); i++)
                assert_driver(f, gpus[i], "nvidia");
        assert_no_intent(f);
}

static void test_off_bus_named(void **state) {
        _cleanup_(cc_switch_freep) CcSwitch *sw = NULL;
        Fixture *f = *state;
        CcError e = CC_ERROR_INIT;

        inject(f, gpus[3], "OffBus", "true");
        assert_true(run_switch(f, TARGET_MODE_ON, NULL, &sw, &e) < 0);
        assert_int_equal(e.kind, CC_ERROR_HARDWARE_FAILURE);
        assert_non_null(strstr(e.message, gpus[3]));
        assert_int_equal(cc_switch_outcome(sw, 3)->status.cc, DEVICE_CC_UNKNOWN);
}

static void test_stuck_invalid_reported(void **state) {
        _cleanup_(cc_switch_freep) CcSwitch *sw = NULL;
        Fixture *f = *state;
        CcError e = CC_ERROR_INIT;

        inject(f, gpus[0], "StuckInvalid", "true");
        assert_true(run_switch(f, TARGET_MODE_ON, gpus[0], &sw, &e) < 0);
        assert_int_equal(e.kind, CC_ERROR_HARDWARE_FAILURE);
        assert_non_null(strstr(e.message, "invalid"));
        assert_int_equal(cc_switch_outcome(sw, 0)->status.cc, DEVICE_CC_INVALID);
}

static void test_intent_round_trip(void **state) {
        Fixture *f = *state;
        CcSwitchTarget targets[3] = {
                { .bdf = "0000:18:00.0", .arch = GPU_ARCH_HOPPER, .chip = GPU_CHIP_GH100, .kind = DEVICE_KIND_GPU,
                  .driver = (char *) "nvidia" },
                { .bdf = "0000:05:00.0", .arch = GPU_ARCH_LS10_NVSWITCH, .chip = GPU_CHIP_LS10,
                  .kind = DEVICE_KIND_NVSWITCH, .driver = (char *) "" },
                { .bdf = "0000:1b:00.0", .arch = GPU_ARCH_BLACKWELL, .chip = GPU_CHIP_GB202, .kind = DEVICE_KIND_GPU,
                  .driver = (char *) "nvidia" },
        };
        CcSwitchTarget *loaded = NULL;
        CcError e = CC_ERROR_INIT;
        TargetMode mode = TARGET_MODE_INVALID;
        size_t n = 0;

        assert_int_equal(cc_switch_intent_load(f->state_dir, &mode, &loaded, &n, &e), 0);
        assert_null(loaded);

        assert_int_equal(cc_switch_intent_save(f->state_dir, TARGET_MODE_PPCIE, targets, 3), 0);
        assert_int_equal(cc_switch_intent_load(f->state_dir, &mode, &loaded, &n, &e), 1);
        assert_int_equal(mode, TARGET_MODE_PPCIE);
        assert_int_equal(n, 3);
        assert_string_equal(loaded[1].bdf, "0000:05:00.0");
        assert_int_equal(loaded[1].arch, GPU_ARCH_LS10_NVSWITCH);
        assert_int_equal(loaded[1].kind, DEVICE_KIND_NVSWITCH);
        assert_string_equal(loaded[0].driver, "nvidia");
        assert_string_equal(loaded[1].driver, "");
        /* The chip picks the waits (GB202's boot register), so it is kept. */
        for (size_t i = 0; i < 3; i++)
                assert_int_equal(loaded[i].chip, targets[i].chip);
        cc_switch_targets_free(loaded, n);

        assert_int_equal(cc_switch_intent_remove(f->state_dir), 0);
        assert_no_intent(f);
        assert_int_equal(cc_switch_intent_remove(f->state_dir), 0);
}

static void test_intent_garbage_refused(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *p = g_build_filename(f->state_dir, "mode-switch.intent", NULL);
        CcSwitchTarget *loaded = NULL;
        CcError e = CC_ERROR_INIT;
        TargetMode mode;
        size_t n = 0;

        static const char *const bad[] = {
                "[Switch]\nMode=sideways\nTargets=1\n",
                "[Switch]\nMode=on\nTargets=1\n[Target 0]\nAddress=../../../etc\nArch=1\nKind=0\nDriver=nvidia\n",
                "[Switch]\nMode=on\nTargets=1\n[Target 0]\nAddress=0000:18:00.0\nArch=9\nKind=0\nDriver=nvidia\n",
                "[Switch]\nMode=on\nTargets=1\n[Target 0]\nAddress=0000:18:00.0\nArch=1\nKind=0\nDriver=../x\n",
                /* A chip that is not of the architecture, or no chip at all. */
                "[Switch]\nMode=on\nTargets=1\n[Target 0]\nAddress=0000:18:00.0\nArch=1\nChip=gb202\nKind=0\nDriver=nvidia\n",
                "[Switch]\nMode=on\nTargets=1\n[Target 0]\nAddress=0000:18:00.0\nArch=2\nChip=gb999\nKind=0\nDriver=nvidia\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_true(g_file_set_contents(p, bad[i], -1, NULL));
                assert_true(cc_switch_intent_load(f->state_dir, &mode, &loaded, &n, &e) < 0);
                assert_null(loaded);
                assert_non_null(strstr(e.message, "mode-switch.intent"));
        }

        /* A record from before chips were kept gets the architecture's. */
        assert_true(g_file_set_contents(p, "[Switch]\nMode=on\nTargets=1\n[Target 0]\nAddress=0000:18:00.0\n"
                                        "Arch=2\nKind=0\nDriver=nvidia\n", -1, NULL));
        assert_int_equal(cc_switch_intent_load(f->state_dir, &mode, &loaded, &n, &e), 1);
        assert_int_equal(loaded[0].chip, GPU_CHIP_GB100);
        cc_switch_targets_free(loaded, n);
}

static char *sim_bytes(Fixture *f, const char *bdf) {
        _cleanup_free_ char *p = sim_path(f, bdf);
        char *text = NULL;
        assert_true(g_file_get_contents(p, &text, NULL, NULL));
        return text;
}

static void test_refused_when_held(void **state) {
        Fixture *f = *state;
        _cleanup_(cc_switch_freep) CcSwitch *sw = NULL;
        _cleanup_free_ char *node = fake_host_nvidia_node(f->fake, gpus[2]);
        char *before[ELEMENTSOF(gpus)];
        CcError e = CC_ERROR_INIT;

        for (size_t i = 0; i < ELEMENTSOF(gpus); i++)
                before[i] = sim_bytes(f, gpus[i]);
        assert_int_equal(fake_host_add_holder(f->fake, 5678, "python3", node), 0);

        assert_int_equal(run_switch(f, TARGET_MODE_ON, NULL, &sw, &e), -EBUSY);
        assert_int_equal(e.kind, CC_ERROR_BUSY);
        assert_true(cc_switch_refused(sw));
        assert_string_equal(cc_switch_refused_device(sw), gpus[2]);
        assert_non_null(strstr(e.message, "is in use by python3 (pid 5678)"));
        /* Nothing touched: drivers, simulator state, no intent; the modes
         * are known, not "unknown". */
        for (size_t i = 0; i < ELEMENTSOF(gpus); i++) {
                _cleanup_free_ char *after = sim_bytes(f, gpus[i]);

                assert_driver(f, gpus[i], "nvidia");
                assert_string_equal(after, before[i]);
                assert_int_equal(cc_switch_outcome(sw, i)->status.cc, DEVICE_CC_OFF);
                free(before[i]);
        }
        assert_no_intent(f);
}

static void test_blocked_unbind_times_out(void **state) {
        Fixture *f = *state;
        _cleanup_(cc_switch_freep) CcSwitch *sw = NULL;
        CcError e = CC_ERROR_INIT;

        hw_host_set_write_timeout(f->host, 200 * 1000);
        assert_int_equal(fake_host_block_unbind(f->fake, gpus[1]), 0);
        assert_int_equal(run_switch(f, TARGET_MODE_ON, NULL, &sw, &e), -ETIMEDOUT);
        assert_int_equal(e.kind, CC_ERROR_TIMEOUT);
        assert_true(g_str_has_prefix(e.message, "0000:2a:00.0: unbind from nvidia did not return within 0.2 s"));
        assert_false(cc_switch_refused(sw));
        /* The device unbound before it is given back; the rest were never
         * touched. */
        assert_driver(f, gpus[0], "nvidia");
        assert_driver(f, gpus[1], "");
        assert_driver(f, gpus[2], "nvidia");
        assert_no_intent(f);

        assert_int_equal(fake_host_release_unbind(f->fake, gpus[1]), 0);
        assert_int_equal(hw_sysfs_wait_idle(f->host, 10 * 1000 * 1000), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_select, setup_hgx, teardown),
                cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_on_over_kernel_layout, setup_bridges, teardown),
                cmocka_unit_test_setup_teardown(test_snapshot_on_and_off, setup_snapshot, teardown),
                cmocka_unit_test_setup_teardown(test_one_gpu, setup, teardown),
                cmocka_unit_test_setup_teardown(test_same_mode_no_reset, setup, teardown),
                cmocka_unit_test_setup_teardown(test_vfio_bound_back, setup_vfio, teardown),
                cmocka_unit_test_setup_teardown(test_untouched_but_unbound_is_bound_back, setup, teardown),
                cmocka_unit_test_setup_teardown(test_driver_at_switch_time_wins, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ppcie, setup_hgx, teardown),
                cmocka_unit_test_setup_teardown(test_ppcie_all_or_nothing, setup_hgx, teardown),
                cmocka_unit_test_setup_teardown(test_fsp_timeout_named, setup, teardown),
                cmocka_unit_test_setup_teardown(test_off_bus_named, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stuck_invalid_reported, setup, teardown),
                cmocka_unit_test_setup_teardown(test_intent_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_intent_garbage_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refused_when_held, setup, teardown),
                cmocka_unit_test_setup_teardown(test_blocked_unbind_times_out, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
