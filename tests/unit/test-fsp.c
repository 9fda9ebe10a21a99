/* SPDX-License-Identifier: MIT */

/* cc-hw and the FSP RPC against the simulator (and against a table of
 * register values, for decoding). */

#include <glib.h>
#include <glib/gstdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "cc-hw.h"
#include "gpusim.h"
#include "nv-regs.h"

typedef struct Fixture {
        char *dir;
        char *path;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        f->dir = g_dir_make_tmp("test-fsp-XXXXXX", NULL);
        assert_non_null(f->dir);
        f->path = g_build_filename(f->dir, "gpusim.ini", NULL);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        assert_int_equal(g_unlink(f->path), 0);
        assert_int_equal(g_rmdir(f->dir), 0);
        g_free(f->dir);
        g_free(f->path);
        free(f);
        return 0;
}

static uint64_t now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static void set(const char *path, const char *group, const char *key, const char *value) {
        assert_int_equal(gpusim_set(path, group, key, value), 0);
}

static void assert_ini(const char *path, const char *group, const char *key, const char *expected) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autofree char *v = NULL;

        assert_true(g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, NULL));
        v = g_key_file_get_value(kf, group, key, NULL);
        assert_non_null(v);
        assert_string_equal(v, expected);
}

static Bar0 *open_new(const char *path, GpuArch arch, DeviceCcMode initial) {
        Bar0 *b = NULL;

        assert_int_equal(gpusim_create(path, arch, 0, initial), 0);
        assert_int_equal(gpusim_open(path, arch, &b), 0);
        return b;
}

/* Short timeouts so the timeout paths run fast. */
static CcTimeouts short_timeouts(void) {
        return (CcTimeouts) {
                .boot_ms = 30,
                .boot_poll_ms = 1,
                .queue_empty_ms = 30,
                .queue_poll_us = 1000,
                .response_ms = 30,
                .response_poll_ms = 1,
                .mnoc_ready_ms = 30,
                .mnoc_credit_ms = 30,
                .mnoc_poll_us = 1000,
                .firewall_ms = 30,
                .firewall_poll_ms = 1,
                .firewall_fallback_ms = 30,
        };
}

/* A BAR0 that forwards to another and records what goes through it: the
 * knob writes (decoded from the command messages), the knob reads, and the
 * writes outside the FSP. */
typedef struct Recorder {
        Bar0 *inner;
        uint32_t msg[8];
        size_t n_msg;
        KnobWrite writes[32];
        size_t n_writes;
        size_t n_reads;
        struct {
                uint32_t offset, value;
        } other[8];
        size_t n_other;
} Recorder;

static uint32_t rec_read32(void *impl, uint32_t offset) {
        Recorder *r = impl;
        return bar0_read32(r->inner, offset);
}

static void rec_write32(void *impl, uint32_t offset, uint32_t value) {
        Recorder *r = impl;

        switch (offset) {
        case NV_FSP_EMEM_CTRL:
                r->n_msg = 0;
                break;
        case NV_FSP_EMEM_DATA:
                if (r->n_msg < ELEMENTSOF(r->msg))
                        r->msg[r->n_msg++] = value;
                break;
        case NV_FSP_CMD_QUEUE_TAIL:
                assert_true(r->n_msg >= 3);
                if ((r->msg[2] & 0xff) == NV_PRC_OP_WRITE) {
                        assert_int_equal(r->n_msg, 4);
                        assert_true(r->n_writes < ELEMENTSOF(r->writes));
                        r->writes[r->n_writes++] = (KnobWrite) {
                                .knob = (r->msg[2] >> 16) & 0xff,
                                .value = (uint16_t) r->msg[3],
                        };
                } else {
                        assert_int_equal(r->msg[2] & 0xff, NV_PRC_OP_READ);
                        r->n_reads++;
                }
                break;
        case NV_FSP_CMD_QUEUE_HEAD:
        case NV_FSP_MSG_QUEUE_HEAD:
        case NV_FSP_MSG_QUEUE_TAIL:
                break;
        default:
                assert_true(r->n_other < ELEMENTSOF(r->other));
                r->other[r->n_other].offset = offset;
                r->other[r->n_other].value = value;
                r->n_other++;
                break;
        }
        bar0_write32(r->inner, offset, value);
}

static const Bar0Ops rec_ops = {
        .read32 = rec_read32,
        .write32 = rec_write32,
};

/* A BAR0 that is a fixed table of register values. */
typedef struct RegTable {
        uint32_t offset[4];
        uint32_t value[4];
} RegTable;

static uint32_t table_read32(void *impl, uint32_t offset) {
        RegTable *t = impl;

        for (size_t i = 0; i < ELEMENTSOF(t->offset); i++)
                if (t->offset[i] == offset)
                        return t->value[i];
        return 0;
}

static void table_write32(void *impl, uint32_t offset, uint32_t value) {
}

static const Bar0Ops table_ops = {
        .read32 = table_read32,
        .write32 = table_write32,
};

/* A BAR0 that falls off the bus once a command has been sent. */
typedef struct FallOff {
        Bar0 *inner;
        bool fallen;
} FallOff;

static uint32_t fall_off_read32(void *impl, uint32_t offset) {
        FallOff *r = impl;
        return r->fallen ? NV_PMC_BOOT_0_OFF_BUS : bar0_read32(r->inner, offset);
}

static void fall_off_write32(void *impl, uint32_t offset, uint32_t value) {
        FallOff *r = impl;

        if (r->fallen)
                return;
        bar0_write32(r->inner, offset, value);
        if (offset == NV_FSP_CMD_QUEUE_TAIL)
                r->fallen = true;
}

static const Bar0Ops fall_off_ops = {
        .read32 = fall_off_read32,
        .write32 = fall_off_write32,
};

static void test_strings(void **state) {
        assert_string_equal(device_cc_mode_to_string(DEVICE_CC_OFF), "off");
        assert_string_equal(device_cc_mode_to_string(DEVICE_CC_ON), "on");
        assert_string_equal(device_cc_mode_to_string(DEVICE_CC_DEVTOOLS), "devtools");
        assert_string_equal(device_cc_mode_to_string(DEVICE_CC_INVALID), "invalid");
        assert_string_equal(device_cc_mode_to_string(DEVICE_CC_UNKNOWN), "unknown");
        assert_null(device_cc_mode_to_string((DeviceCcMode) 42));

        for (TargetMode m = 0; m < _TARGET_MODE_MAX; m++)
                assert_int_equal(target_mode_from_string(target_mode_to_string(m)), m);
        assert_string_equal(target_mode_to_string(TARGET_MODE_PPCIE), "ppcie");
        assert_int_equal(target_mode_from_string("devtools"), TARGET_MODE_DEVTOOLS);
        assert_int_equal(target_mode_from_string("On"), TARGET_MODE_INVALID);
        assert_int_equal(target_mode_from_string("on "), TARGET_MODE_INVALID);
        assert_int_equal(target_mode_from_string(""), TARGET_MODE_INVALID);
        assert_int_equal(target_mode_from_string("invalid"), TARGET_MODE_INVALID);
        assert_int_equal(target_mode_from_string(NULL), TARGET_MODE_INVALID);
        assert_null(target_mode_to_string(TARGET_MODE_INVALID));
        assert_null(target_mode_to_string(_TARGET_MODE_MAX));

        assert_string_equal(gpu_arch_to_string(GPU_ARCH_HOPPER), "hopper");
        assert_string_equal(gpu_arch_to_string(GPU_ARCH_BLACKWELL), "blackwell");
        assert_string_equal(gpu_arch_to_string(GPU_ARCH_LS10_NVSWITCH), "hopper");
        assert_string_equal(gpu_arch_to_string(GPU_ARCH_OTHER), "other");
}

static void test_timeouts_default(void **state) {
        CcTimeouts h = cc_timeouts_default(GPU_ARCH_HOPPER);
        CcTimeouts b = cc_timeouts_default(GPU_ARCH_BLACKWELL);

        assert_int_equal(h.boot_ms, 5000);
        assert_int_equal(b.boot_ms, 10000);
        assert_int_equal(h.boot_poll_ms, 10);
        assert_int_equal(h.queue_empty_ms, 1000);
        assert_int_equal(h.queue_poll_us, 1000);
        assert_int_equal(h.response_ms, 5000);
        assert_int_equal(h.response_poll_ms, 10);
        assert_int_equal(cc_timeouts_default(GPU_ARCH_LS10_NVSWITCH).boot_ms, 5000);
        /* MNOC: RECEIVE_READY and MESSAGE_READY 5 s, credits 1 s, every
         * poll 1 ms; the BAR firewall 15 s, or one 3 s wait without it. */
        assert_int_equal(b.mnoc_ready_ms, 5000);
        assert_int_equal(b.mnoc_credit_ms, 1000);
        assert_int_equal(b.mnoc_poll_us, 1000);
        assert_int_equal(b.response_ms, 5000);
        assert_int_equal(b.firewall_ms, 15000);
        assert_int_equal(b.firewall_fallback_ms, 3000);
}

static void test_knob_roundtrip(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        CcTimeouts t = short_timeouts();
        CcError err = CC_ERROR_INIT;
        uint16_t v = 0xdead;

        b = open_new(f->path, GPU_ARCH_HOPPER, DEVICE_CC_OFF);
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GH100, &t, NV_KNOB_BAR0_DECOUPLER, &v, &err), 0);
        assert_int_equal(v, 0);
        assert_int_equal(fsp_write_knob(b, GPU_CHIP_GH100, &t, NV_KNOB_BAR0_DECOUPLER, 2, &err), 0);
        assert_int_equal(fsp_write_knob(b, GPU_CHIP_GH100, &t, NV_KNOB_CLEAR_2, 0xffff, &err), 0);
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GH100, &t, NV_KNOB_BAR0_DECOUPLER, &v, &err), 0);
        assert_int_equal(v, 2);
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GH100, &t, NV_KNOB_CLEAR_2, &v, &err), 0);
        assert_int_equal(v, 0xffff);
        assert_false(cc_error_is_set(&err));
        assert_ini(f->path, "Knobs", "Pending", "2:65535;10:2");

        /* NULL timeouts are the defaults. */
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GH100, NULL, NV_KNOB_CCM, &v, &err), 0);
        assert_int_equal(v, 0);
}

static void test_query_encodings(void **state) {
        static const struct {
                GpuArch arch;
                const char *active;
                const char *stuck;
                DeviceCcMode cc;
                bool ppcie;
        } cases[] = {
                { GPU_ARCH_HOPPER,    "8:0;6:0",      "false", DEVICE_CC_OFF,      false },
                { GPU_ARCH_HOPPER,    "8:1;6:0",      "false", DEVICE_CC_ON,       false },
                { GPU_ARCH_HOPPER,    "8:1;6:1",      "false", DEVICE_CC_DEVTOOLS, false },
                { GPU_ARCH_HOPPER,    "8:0;6:1",      "false", DEVICE_CC_INVALID,  false },
                { GPU_ARCH_HOPPER,    "8:1;6:0",      "true",  DEVICE_CC_INVALID,  false },
                { GPU_ARCH_HOPPER,    "8:0;6:0;45:1", "false", DEVICE_CC_OFF,      true },
                { GPU_ARCH_HOPPER,    "8:1;6:0;45:1", "false", DEVICE_CC_ON,       true },
                { GPU_ARCH_BLACKWELL, "8:0;6:0",      "false", DEVICE_CC_OFF,      false },
                { GPU_ARCH_BLACKWELL, "8:1;6:0",      "false", DEVICE_CC_ON,       false },
                { GPU_ARCH_BLACKWELL, "8:1;6:1",      "false", DEVICE_CC_DEVTOOLS, false },
                { GPU_ARCH_BLACKWELL, "8:0;6:1",      "false", DEVICE_CC_INVALID,  false },
                { GPU_ARCH_BLACKWELL, "8:0;6:0",      "true",  DEVICE_CC_INVALID,  false },
                { GPU_ARCH_LS10_NVSWITCH, "45:0",     "false", DEVICE_CC_OFF,      false },
                { GPU_ARCH_LS10_NVSWITCH, "45:1",     "false", DEVICE_CC_OFF,      true },
        };
        Fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(bar0_closep) Bar0 *b = open_new(f->path, cases[i].arch, DEVICE_CC_OFF);
                CcError err = CC_ERROR_INIT;
                CcStatus s = { DEVICE_CC_UNKNOWN, !cases[i].ppcie };

                set(f->path, "Knobs", "Active", cases[i].active);
                set(f->path, "Inject", "StuckInvalid", cases[i].stuck);
                assert_int_equal(cc_query(b, gpu_chip_default(cases[i].arch), &s, &err), 0);
                assert_int_equal(s.cc, cases[i].cc);
                assert_int_equal(s.ppcie, cases[i].ppcie);
        }
}

/* Every raw encoding, including bits the decoder must ignore. */
static void test_decode_registers(void **state) {
        static const struct {
                GpuArch arch;
                uint32_t offset, value;
                DeviceCcMode cc;
                bool ppcie;
        } cases[] = {
                { GPU_ARCH_HOPPER, NV_HOPPER_CC_STATUS, 0x0, DEVICE_CC_OFF, false },
                { GPU_ARCH_HOPPER, NV_HOPPER_CC_STATUS, 0x1, DEVICE_CC_ON, false },
                { GPU_ARCH_HOPPER, NV_HOPPER_CC_STATUS, 0x2, DEVICE_CC_INVALID, false },
                { GPU_ARCH_HOPPER, NV_HOPPER_CC_STATUS, 0x3, DEVICE_CC_DEVTOOLS, false },
                { GPU_ARCH_HOPPER, NV_HOPPER_CC_STATUS, 0x20, DEVICE_CC_OFF, true },
                { GPU_ARCH_HOPPER, NV_HOPPER_CC_STATUS, 0x21, DEVICE_CC_ON, true },
                { GPU_ARCH_HOPPER, NV_HOPPER_CC_STATUS, 0x1c, DEVICE_CC_OFF, false },
                { GPU_ARCH_HOPPER, NV_HOPPER_CC_STATUS, 0xff00001d, DEVICE_CC_ON, false },
                { GPU_ARCH_BLACKWELL, NV_BLACKWELL_CC_STATUS, 0x0, DEVICE_CC_OFF, false },
                { GPU_ARCH_BLACKWELL, NV_BLACKWELL_CC_STATUS, 0x1, DEVICE_CC_ON, false },
                { GPU_ARCH_BLACKWELL, NV_BLACKWELL_CC_STATUS, 0x5, DEVICE_CC_ON, false },
                { GPU_ARCH_BLACKWELL, NV_BLACKWELL_CC_STATUS, 0x2, DEVICE_CC_INVALID, false },
                { GPU_ARCH_BLACKWELL, NV_BLACKWELL_CC_STATUS, 0x3, DEVICE_CC_DEVTOOLS, false },
                { GPU_ARCH_BLACKWELL, NV_BLACKWELL_CC_STATUS, 0x20, DEVICE_CC_OFF, false },
                { GPU_ARCH_LS10_NVSWITCH, NV_LS10_PPCIE_STATUS, 0x1, DEVICE_CC_OFF, true },
                { GPU_ARCH_LS10_NVSWITCH, NV_LS10_PPCIE_STATUS, 0xfffffffe, DEVICE_CC_OFF, false },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint32_t boot = cases[i].arch == GPU_ARCH_LS10_NVSWITCH ? NV_LS10_FSP_BOOT_COMPLETE : NV_FSP_BOOT_COMPLETE;
                RegTable regs = {
                        .offset = { NV_PMC_BOOT_0, boot, cases[i].offset },
                        .value = { 0x180000a1, NV_FSP_BOOT_COMPLETE_DONE, cases[i].value },
                };
                Bar0 b = { .ops = &table_ops, .impl = &regs };
                CcStatus s = { DEVICE_CC_UNKNOWN, !cases[i].ppcie };
                CcError err = CC_ERROR_INIT;

                assert_int_equal(cc_query(&b, gpu_chip_default(cases[i].arch), &s, &err), 0);
                assert_int_equal(s.cc, cases[i].cc);
                assert_int_equal(s.ppcie, cases[i].ppcie);
        }
}

static void test_query_not_booted_and_not_capable(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        CcError err = CC_ERROR_INIT;
        CcStatus s = { DEVICE_CC_ON, true };

        b = open_new(f->path, GPU_ARCH_HOPPER, DEVICE_CC_ON);
        set(f->path, "Device", "BootMs", "600000");
        assert_int_equal(gpusim_reset(f->path), 0);
        assert_int_equal(cc_query(b, gpu_chip_default(GPU_ARCH_HOPPER), &s, &err), 0);
        assert_int_equal(s.cc, DEVICE_CC_UNKNOWN);
        assert_false(s.ppcie);
        assert_false(cc_status_matches(GPU_ARCH_HOPPER, &s, TARGET_MODE_ON));

        assert_int_equal(cc_query(b, gpu_chip_default(GPU_ARCH_OTHER), &s, &err), -EOPNOTSUPP);
        assert_int_equal(err.kind, CC_ERROR_NOT_CAPABLE);
        cc_error_clear(&err);
        assert_int_equal(cc_wait_boot(b, gpu_chip_default(GPU_ARCH_OTHER), NULL, &err), -EOPNOTSUPP);
        assert_int_equal(err.kind, CC_ERROR_NOT_CAPABLE);
}

static void test_unknown_knob(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        CcTimeouts t = short_timeouts();
        CcError err = CC_ERROR_INIT;
        KnobWrite plan[CC_KNOB_PLAN_MAX];
        size_t n;
        uint16_t v;

        b = open_new(f->path, GPU_ARCH_HOPPER, DEVICE_CC_OFF);
        set(f->path, "Inject", "UnknownKnob", "45");

        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GH100, &t, NV_KNOB_PPCIE, &v, &err), -EOPNOTSUPP);
        assert_int_equal(err.kind, CC_ERROR_NOT_CAPABLE);
        assert_string_equal(err.message, "firmware does not know knob 45");

        cc_error_clear(&err);
        assert_int_equal(fsp_write_knob(b, GPU_CHIP_GH100, &t, NV_KNOB_PPCIE, 1, &err), -EOPNOTSUPP);
        assert_int_equal(err.kind, CC_ERROR_NOT_CAPABLE);

        /* Older firmware stops the plan at the knob it lacks. */
        cc_error_clear(&err);
        n = cc_knob_plan(TARGET_MODE_ON, GPU_ARCH_HOPPER, false, plan);
        assert_int_equal(cc_apply_knobs(b, GPU_CHIP_GH100, &t, plan, n, NULL, &err), -EOPNOTSUPP);
        assert_int_equal(err.kind, CC_ERROR_NOT_CAPABLE);
        assert_string_equal(err.message, "firmware does not know knob 45");
        assert_ini(f->path, "Knobs", "Pending", "");

        /* Other knobs still work. */
        cc_error_clear(&err);
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GH100, &t, NV_KNOB_CCM, &v, &err), 0);
}

static void test_queue_timeout(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        CcTimeouts t = short_timeouts();
        CcError err = CC_ERROR_INIT;
        uint64_t t0;
        uint16_t v = 0xdead;

        b = open_new(f->path, GPU_ARCH_HOPPER, DEVICE_CC_ON);
        set(f->path, "Inject", "FspTimeout", "queue");

        /* The queue was empty, so the command goes out and is never answered. */
        t0 = now_us();
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GH100, &t, NV_KNOB_BAR0_DECOUPLER, &v, &err), -ETIMEDOUT);
        assert_true(now_us() - t0 >= 30000);
        assert_int_equal(err.kind, CC_ERROR_TIMEOUT);
        assert_string_equal(err.message, "FSP response timeout after 30 ms for the read of knob 10");

        /* The next one finds the command queue still full. */
        cc_error_clear(&err);
        assert_int_equal(fsp_write_knob(b, GPU_CHIP_GH100, &t, NV_KNOB_CCM, 0, &err), -ETIMEDOUT);
        assert_int_equal(err.kind, CC_ERROR_TIMEOUT);
        assert_string_equal(err.message, "FSP command queue busy after 30 ms, before the write of knob 8");
        assert_ini(f->path, "Knobs", "Pending", "");

        /* Through cc_apply_knobs too the message names the knob. */
        cc_error_clear(&err);
        KnobWrite w = { NV_KNOB_CCM, 0 };
        assert_int_equal(cc_apply_knobs(b, GPU_CHIP_GH100, &t, &w, 1, NULL, &err), -ETIMEDOUT);
        assert_string_equal(err.message, "FSP command queue busy after 30 ms, before the read of knob 8");

        /* When the FSP comes back, the late answer to knob 10 is not taken
         * for the answer to knob 8. */
        set(f->path, "Inject", "FspTimeout", "none");
        cc_error_clear(&err);
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GH100, &t, NV_KNOB_CCM, &v, &err), 0);
        assert_int_equal(v, 1);
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GH100, &t, NV_KNOB_BAR0_DECOUPLER, &v, &err), 0);
        assert_int_equal(v, 2);
}

static void test_response_timeout(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        CcTimeouts t = short_timeouts();
        CcError err = CC_ERROR_INIT;
        uint16_t v = 0;

        b = open_new(f->path, GPU_ARCH_HOPPER, DEVICE_CC_OFF);
        set(f->path, "Inject", "FspTimeout", "response");

        assert_int_equal(fsp_write_knob(b, GPU_CHIP_GH100, &t, NV_KNOB_CCM, 1, &err), -ETIMEDOUT);
        assert_int_equal(err.kind, CC_ERROR_TIMEOUT);
        assert_string_equal(err.message, "FSP response timeout after 30 ms for the write of knob 8");
        /* The command queue drained: the next request fails the same way. */
        cc_error_clear(&err);
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GH100, &t, NV_KNOB_CCM, &v, &err), -ETIMEDOUT);
        assert_string_equal(err.message, "FSP response timeout after 30 ms for the read of knob 8");

        set(f->path, "Inject", "FspTimeout", "none");
        cc_error_clear(&err);
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GH100, &t, NV_KNOB_CCM, &v, &err), 0);
        assert_int_equal(v, 0);

        /* Whole seconds read as seconds. */
        set(f->path, "Inject", "FspTimeout", "response");
        t.response_ms = 1000;
        t.response_poll_ms = 50;
        cc_error_clear(&err);
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GH100, &t, NV_KNOB_CCM, &v, &err), -ETIMEDOUT);
        assert_string_equal(err.message, "FSP response timeout after 1 s for the read of knob 8");
}

static void test_off_bus(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        CcTimeouts t = cc_timeouts_default(GPU_ARCH_HOPPER);
        CcError err = CC_ERROR_INIT;
        KnobWrite plan[CC_KNOB_PLAN_MAX];
        CcStatus s;
        uint64_t t0;
        uint16_t v;
        size_t n;

        FallOff rec = {};
        Bar0 falling = { .ops = &fall_off_ops, .impl = &rec };

        b = open_new(f->path, GPU_ARCH_HOPPER, DEVICE_CC_ON);
        assert_int_equal(cc_check_alive(b, &err), 0);
        set(f->path, "Inject", "OffBus", "true");

        assert_int_equal(cc_check_alive(b, &err), -ENODEV);
        assert_int_equal(err.kind, CC_ERROR_HARDWARE_FAILURE);
        assert_string_equal(err.message, "GPU has fallen off the bus (PMC_BOOT_0 = 0xffffffff)");

        cc_error_clear(&err);
        assert_int_equal(cc_query(b, gpu_chip_default(GPU_ARCH_HOPPER), &s, &err), -ENODEV);
        assert_string_equal(err.message, "GPU has fallen off the bus (PMC_BOOT_0 = 0xffffffff)");

        /* Said at once, not after the default timeouts. */
        t0 = now_us();
        cc_error_clear(&err);
        assert_int_equal(cc_wait_boot(b, gpu_chip_default(GPU_ARCH_HOPPER), &t, &err), -ENODEV);
        assert_int_equal(err.kind, CC_ERROR_HARDWARE_FAILURE);
        cc_error_clear(&err);
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GH100, &t, NV_KNOB_CCM, &v, &err), -ENODEV);
        assert_int_equal(err.kind, CC_ERROR_HARDWARE_FAILURE);
        cc_error_clear(&err);
        n = cc_knob_plan(TARGET_MODE_OFF, GPU_ARCH_HOPPER, false, plan);
        assert_int_equal(cc_apply_knobs(b, GPU_CHIP_GH100, &t, plan, n, NULL, &err), -ENODEV);
        assert_int_equal(err.kind, CC_ERROR_HARDWARE_FAILURE);
        assert_true(now_us() - t0 < 1000000);

        /* Falling off while waiting for an answer is said at once too. */
        set(f->path, "Inject", "OffBus", "false");
        rec = (FallOff) { .inner = b };
        t0 = now_us();
        cc_error_clear(&err);
        assert_int_equal(fsp_read_knob(&falling, GPU_CHIP_GH100, &t, NV_KNOB_CCM, &v, &err), -ENODEV);
        assert_true(rec.fallen);
        assert_int_equal(err.kind, CC_ERROR_HARDWARE_FAILURE);
        assert_true(now_us() - t0 < 1000000);
}

static void test_security_fault(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        CcError err = CC_ERROR_INIT;
        CcStatus s;
        uint16_t v;
        RegTable regs = {
                .offset = { NV_PMC_BOOT_0 },
                .value = { NV_PMC_BOOT_0_SEC_FAULT_B },
        };
        Bar0 table = { .ops = &table_ops, .impl = &regs };

        b = open_new(f->path, GPU_ARCH_HOPPER, DEVICE_CC_ON);
        set(f->path, "Inject", "SecurityFault", "true");
        assert_int_equal(cc_check_alive(b, &err), -EIO);
        assert_int_equal(err.kind, CC_ERROR_HARDWARE_FAILURE);
        assert_string_equal(err.message, "GPU reports a security fault (PMC_BOOT_0 = 0xbadf0200)");
        cc_error_clear(&err);
        assert_int_equal(cc_query(b, gpu_chip_default(GPU_ARCH_HOPPER), &s, &err), -EIO);
        cc_error_clear(&err);
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GH100, NULL, NV_KNOB_CCM, &v, &err), -EIO);
        assert_int_equal(err.kind, CC_ERROR_HARDWARE_FAILURE);

        cc_error_clear(&err);
        assert_int_equal(cc_check_alive(&table, &err), -EIO);
        assert_string_equal(err.message, "GPU reports a security fault (PMC_BOOT_0 = 0xbad00200)");
        regs.value[0] = 0x180000a1;
        cc_error_clear(&err);
        assert_int_equal(cc_check_alive(&table, &err), 0);
        assert_false(cc_error_is_set(&err));
}

typedef struct PlanCase {
        TargetMode mode;
        GpuArch arch;
        bool off_only;
        KnobWrite expected[CC_KNOB_PLAN_MAX];
        size_t n;
} PlanCase;

static void test_knob_plans(void **state) {
        static const PlanCase cases[] = {
                { TARGET_MODE_ON, GPU_ARCH_HOPPER, false,
                  { { 2, 0 }, { 4, 0 }, { 34, 0 }, { 45, 0 }, { 10, 2 }, { 8, 1 }, { 6, 0 } }, 7 },
                /* Blackwell: CCM and CCD only; 34 and PPCIE left alone. */
                { TARGET_MODE_ON, GPU_ARCH_BLACKWELL, false,
                  { { 2, 0 }, { 4, 0 }, { 8, 1 }, { 6, 0 } }, 4 },
                { TARGET_MODE_DEVTOOLS, GPU_ARCH_HOPPER, false,
                  { { 2, 0 }, { 4, 0 }, { 34, 0 }, { 45, 0 }, { 10, 0 }, { 8, 1 }, { 6, 1 } }, 7 },
                { TARGET_MODE_DEVTOOLS, GPU_ARCH_BLACKWELL, false,
                  { { 2, 0 }, { 4, 0 }, { 8, 1 }, { 6, 1 } }, 4 },
                { TARGET_MODE_PPCIE, GPU_ARCH_BLACKWELL, false, {}, 0 },
                { TARGET_MODE_PPCIE, GPU_ARCH_BLACKWELL, true, {}, 0 },
                { TARGET_MODE_OFF, GPU_ARCH_HOPPER, false,
                  { { 45, 0 }, { 10, 0 }, { 6, 0 }, { 8, 0 } }, 4 },
                { TARGET_MODE_OFF, GPU_ARCH_BLACKWELL, false,
                  { { 6, 0 }, { 8, 0 } }, 2 },
                { TARGET_MODE_PPCIE, GPU_ARCH_HOPPER, false,
                  { { 10, 0 }, { 6, 0 }, { 8, 0 }, { 45, 1 } }, 4 },
                { TARGET_MODE_PPCIE, GPU_ARCH_HOPPER, true,
                  { { 45, 0 }, { 10, 0 }, { 6, 0 }, { 8, 0 } }, 4 },
                { TARGET_MODE_PPCIE, GPU_ARCH_LS10_NVSWITCH, false,
                  { { 45, 1 } }, 1 },
                { TARGET_MODE_PPCIE, GPU_ARCH_LS10_NVSWITCH, true,
                  { { 45, 0 } }, 1 },
                { TARGET_MODE_ON, GPU_ARCH_LS10_NVSWITCH, false,
                  { { 45, 0 } }, 1 },
                { TARGET_MODE_OFF, GPU_ARCH_LS10_NVSWITCH, false,
                  { { 45, 0 } }, 1 },
                { TARGET_MODE_ON, GPU_ARCH_OTHER, false, {}, 0 },
                { TARGET_MODE_INVALID, GPU_ARCH_HOPPER, false, {}, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                KnobWrite out[CC_KNOB_PLAN_MAX];
                size_t n;

                memset(out, 0xff, sizeof(out));
                n = cc_knob_plan(cases[i].mode, cases[i].arch, cases[i].off_only, out);
                assert_int_equal(n, cases[i].n);
                for (size_t j = 0; j < n; j++) {
                        assert_int_equal(out[j].knob, cases[i].expected[j].knob);
                        assert_int_equal(out[j].value, cases[i].expected[j].value);
                }
        }
}

/* One switch through the simulator: the writes that reach the FSP, in
 * order, the pending knobs it ends with, and the status after reset. */
typedef struct SwitchCase {
        GpuArch arch;
        const char *active;
        TargetMode mode;
        bool off_only;
        KnobWrite writes[CC_KNOB_PLAN_MAX];
        size_t n_writes;
        const char *pending;
        DeviceCcMode cc_after;
        bool ppcie_after;
} SwitchCase;

/* Writes of knobs that have an _ALLOW_INB permission knob. */
static size_t guarded_writes(const KnobWrite *w, size_t n) {
        size_t k = 0;

        for (size_t i = 0; i < n; i++)
                k += cc_knob_permission(w[i].knob) >= 0;
        return k;
}

static void test_switch_through_simulator(void **state) {
        static const SwitchCase cases[] = {
                /* Enabling: CCM before CCD. */
                { GPU_ARCH_HOPPER, "6:0;8:0;10:0;45:0", TARGET_MODE_ON, false,
                  { { 10, 2 }, { 8, 1 } }, 2, "8:1;10:2", DEVICE_CC_ON, false },
                { GPU_ARCH_HOPPER, "6:1;8:0;10:0;45:0", TARGET_MODE_ON, false,
                  { { 10, 2 }, { 8, 1 }, { 6, 0 } }, 3, "6:0;8:1;10:2", DEVICE_CC_ON, false },
                { GPU_ARCH_HOPPER, "2:1;4:7;34:1;6:0;8:0;10:0;45:1", TARGET_MODE_ON, false,
                  { { 2, 0 }, { 4, 0 }, { 34, 0 }, { 45, 0 }, { 10, 2 }, { 8, 1 } }, 6,
                  "2:0;4:0;8:1;10:2;34:0;45:0", DEVICE_CC_ON, false },
                { GPU_ARCH_HOPPER, "6:0;8:0;10:0;45:0", TARGET_MODE_DEVTOOLS, false,
                  { { 8, 1 }, { 6, 1 } }, 2, "6:1;8:1", DEVICE_CC_DEVTOOLS, false },
                { GPU_ARCH_HOPPER, "6:0;8:1;10:2;45:0", TARGET_MODE_DEVTOOLS, false,
                  { { 10, 0 }, { 6, 1 } }, 2, "6:1;10:0", DEVICE_CC_DEVTOOLS, false },
                /* Disabling: CCD before CCM. */
                { GPU_ARCH_HOPPER, "6:1;8:1;10:0;45:0", TARGET_MODE_OFF, false,
                  { { 6, 0 }, { 8, 0 } }, 2, "6:0;8:0", DEVICE_CC_OFF, false },
                { GPU_ARCH_HOPPER, "6:0;8:1;10:2;45:0", TARGET_MODE_OFF, false,
                  { { 10, 0 }, { 8, 0 } }, 2, "8:0;10:0", DEVICE_CC_OFF, false },
                /* Off leaves PPCIe too. */
                { GPU_ARCH_HOPPER, "6:0;8:0;10:0;45:1", TARGET_MODE_OFF, false,
                  { { 45, 0 } }, 1, "45:0", DEVICE_CC_OFF, false },
                /* PPCIe in two phases. */
                { GPU_ARCH_HOPPER, "6:0;8:1;10:2;45:0", TARGET_MODE_PPCIE, true,
                  { { 10, 0 }, { 8, 0 } }, 2, "8:0;10:0", DEVICE_CC_OFF, false },
                { GPU_ARCH_HOPPER, "6:0;8:0;10:0;45:0", TARGET_MODE_PPCIE, false,
                  { { 45, 1 } }, 1, "45:1", DEVICE_CC_OFF, true },
                { GPU_ARCH_HOPPER, "6:0;8:0;10:0;45:1", TARGET_MODE_PPCIE, true,
                  { { 45, 0 } }, 1, "45:0", DEVICE_CC_OFF, false },
                { GPU_ARCH_HOPPER, "6:0;8:0;10:0;45:1", TARGET_MODE_ON, false,
                  { { 45, 0 }, { 10, 2 }, { 8, 1 } }, 3, "8:1;10:2;45:0", DEVICE_CC_ON, false },
                /* Blackwell, over MNOC: tests/unit/test-mnoc.c. */
                /* The NVSwitch only has PPCIe. */
                { GPU_ARCH_LS10_NVSWITCH, "45:0", TARGET_MODE_PPCIE, false,
                  { { 45, 1 } }, 1, "45:1", DEVICE_CC_OFF, true },
                { GPU_ARCH_LS10_NVSWITCH, "45:1", TARGET_MODE_PPCIE, true,
                  { { 45, 0 } }, 1, "45:0", DEVICE_CC_OFF, false },
        };
        Fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const SwitchCase *c = &cases[i];
                _cleanup_(bar0_closep) Bar0 *inner = open_new(f->path, c->arch, DEVICE_CC_OFF);
                Recorder rec = { .inner = inner };
                Bar0 b = { .ops = &rec_ops, .impl = &rec };
                CcTimeouts t = short_timeouts();
                CcError err = CC_ERROR_INIT;
                KnobWrite plan[CC_KNOB_PLAN_MAX];
                CcStatus before, after;
                size_t n;

                print_message("case %zu: %s %s%s from %s\n", i,
                              c->arch == GPU_ARCH_LS10_NVSWITCH ? "ls10" : gpu_arch_to_string(c->arch),
                              target_mode_to_string(c->mode), c->off_only ? " (PPCIe off)" : "", c->active);

                set(f->path, "Knobs", "Active", c->active);
                assert_int_equal(cc_query(&b, gpu_chip_default(c->arch), &before, &err), 0);

                n = cc_knob_plan(c->mode, c->arch, c->off_only, plan);
                assert_int_equal(cc_apply_knobs(&b, gpu_chip_default(c->arch), &t, plan, n, NULL, &err), 0);
                assert_false(cc_error_is_set(&err));

                /* Each knob is read, and so is the permission of each written
                 * knob that has one. */
                assert_int_equal(rec.n_reads, n + guarded_writes(c->writes, c->n_writes));
                assert_int_equal(rec.n_writes, c->n_writes);
                for (size_t j = 0; j < c->n_writes; j++) {
                        assert_int_equal(rec.writes[j].knob, c->writes[j].knob);
                        assert_int_equal(rec.writes[j].value, c->writes[j].value);
                }
                assert_ini(f->path, "Knobs", "Pending", c->pending);

                /* Nothing changes before the reset. */
                assert_int_equal(cc_query(&b, gpu_chip_default(c->arch), &after, &err), 0);
                assert_int_equal(after.cc, before.cc);
                assert_int_equal(after.ppcie, before.ppcie);

                cc_mark_before_reset(&b, c->arch);
                assert_int_equal(gpusim_reset(f->path), 0);
                assert_int_equal(cc_wait_boot(&b, gpu_chip_default(c->arch), &t, &err), 0);
                assert_int_equal(cc_query(&b, gpu_chip_default(c->arch), &after, &err), 0);
                assert_int_equal(after.cc, c->cc_after);
                assert_int_equal(after.ppcie, c->ppcie_after);
                assert_true(cc_status_matches(c->arch, &after, c->off_only ? TARGET_MODE_OFF : c->mode));

                /* Read-compare-write: the same plan again writes nothing. */
                rec.n_writes = rec.n_reads = 0;
                assert_int_equal(cc_apply_knobs(&b, gpu_chip_default(c->arch), &t, plan, n, NULL, &err), 0);
                assert_int_equal(rec.n_reads, n);
                assert_int_equal(rec.n_writes, 0);
                assert_ini(f->path, "Knobs", "Pending", "");
        }
}

static void test_read_compare_write(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *inner = NULL;
        Recorder rec = {};
        Bar0 b = { .ops = &rec_ops, .impl = &rec };
        CcTimeouts t = short_timeouts();
        CcError err = CC_ERROR_INIT;
        KnobWrite plan[CC_KNOB_PLAN_MAX];
        size_t n;

        unsigned writes = 99;

        /* Already on: every knob read, none written. */
        inner = open_new(f->path, GPU_ARCH_HOPPER, DEVICE_CC_ON);
        rec.inner = inner;
        n = cc_knob_plan(TARGET_MODE_ON, GPU_ARCH_HOPPER, false, plan);
        assert_int_equal(cc_apply_knobs(&b, GPU_CHIP_GH100, &t, plan, n, &writes, &err), 0);
        assert_int_equal(rec.n_reads, 7);
        assert_int_equal(rec.n_writes, 0);
        assert_int_equal(writes, 0);

        /* Written once (BAR0_DECOUPLER and CCM, each after reading its
         * permission); a second run before the reset compares against the
         * pending values and writes nothing. */
        n = cc_knob_plan(TARGET_MODE_OFF, GPU_ARCH_HOPPER, false, plan);
        assert_int_equal(cc_apply_knobs(&b, GPU_CHIP_GH100, &t, plan, n, &writes, &err), 0);
        assert_int_equal(rec.n_writes, 2);
        assert_int_equal(writes, 2);
        assert_int_equal(cc_apply_knobs(&b, GPU_CHIP_GH100, &t, plan, n, &writes, &err), 0);
        assert_int_equal(rec.n_writes, 2);
        assert_int_equal(writes, 0);
        assert_int_equal(rec.n_reads, 7 + 4 + 2 + 4);

        /* An empty plan touches nothing. */
        assert_int_equal(cc_apply_knobs(&b, GPU_CHIP_GH100, &t, plan, 0, NULL, &err), 0);
        assert_int_equal(rec.n_reads, 17);
}

static void test_invalid_state_fixed(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        CcError err = CC_ERROR_INIT;
        KnobWrite plan[CC_KNOB_PLAN_MAX];
        CcStatus s;
        size_t n;

        b = open_new(f->path, GPU_ARCH_HOPPER, DEVICE_CC_INVALID);
        assert_int_equal(cc_query(b, gpu_chip_default(GPU_ARCH_HOPPER), &s, &err), 0);
        assert_int_equal(s.cc, DEVICE_CC_INVALID);
        for (TargetMode m = 0; m < _TARGET_MODE_MAX; m++)
                assert_false(cc_status_matches(GPU_ARCH_HOPPER, &s, m));

        n = cc_knob_plan(TARGET_MODE_OFF, GPU_ARCH_HOPPER, false, plan);
        assert_int_equal(cc_apply_knobs(b, GPU_CHIP_GH100, NULL, plan, n, NULL, &err), 0);
        assert_int_equal(gpusim_reset(f->path), 0);
        assert_int_equal(cc_wait_boot(b, gpu_chip_default(GPU_ARCH_HOPPER), NULL, &err), 0);
        assert_int_equal(cc_query(b, gpu_chip_default(GPU_ARCH_HOPPER), &s, &err), 0);
        assert_int_equal(s.cc, DEVICE_CC_OFF);
        assert_true(cc_status_matches(GPU_ARCH_HOPPER, &s, TARGET_MODE_OFF));
}

static void test_status_matches(void **state) {
        static const struct {
                GpuArch arch;
                CcStatus s;
                TargetMode mode;
                bool expected;
        } cases[] = {
                { GPU_ARCH_HOPPER, { DEVICE_CC_ON, false }, TARGET_MODE_ON, true },
                { GPU_ARCH_HOPPER, { DEVICE_CC_ON, true }, TARGET_MODE_ON, false },
                { GPU_ARCH_HOPPER, { DEVICE_CC_DEVTOOLS, false }, TARGET_MODE_ON, false },
                { GPU_ARCH_HOPPER, { DEVICE_CC_DEVTOOLS, false }, TARGET_MODE_DEVTOOLS, true },
                { GPU_ARCH_HOPPER, { DEVICE_CC_OFF, false }, TARGET_MODE_OFF, true },
                { GPU_ARCH_HOPPER, { DEVICE_CC_OFF, true }, TARGET_MODE_OFF, false },
                { GPU_ARCH_HOPPER, { DEVICE_CC_OFF, true }, TARGET_MODE_PPCIE, true },
                { GPU_ARCH_HOPPER, { DEVICE_CC_ON, true }, TARGET_MODE_PPCIE, false },
                { GPU_ARCH_HOPPER, { DEVICE_CC_OFF, false }, TARGET_MODE_PPCIE, false },
                { GPU_ARCH_HOPPER, { DEVICE_CC_INVALID, false }, TARGET_MODE_OFF, false },
                { GPU_ARCH_HOPPER, { DEVICE_CC_UNKNOWN, false }, TARGET_MODE_OFF, false },
                { GPU_ARCH_HOPPER, { DEVICE_CC_ON, false }, TARGET_MODE_INVALID, false },
                { GPU_ARCH_BLACKWELL, { DEVICE_CC_ON, false }, TARGET_MODE_ON, true },
                { GPU_ARCH_BLACKWELL, { DEVICE_CC_OFF, false }, TARGET_MODE_ON, false },
                { GPU_ARCH_LS10_NVSWITCH, { DEVICE_CC_OFF, true }, TARGET_MODE_PPCIE, true },
                { GPU_ARCH_LS10_NVSWITCH, { DEVICE_CC_OFF, false }, TARGET_MODE_PPCIE, false },
                { GPU_ARCH_LS10_NVSWITCH, { DEVICE_CC_OFF, false }, TARGET_MODE_OFF, true },
                { GPU_ARCH_LS10_NVSWITCH, { DEVICE_CC_OFF, true }, TARGET_MODE_OFF, false },
                { GPU_ARCH_LS10_NVSWITCH, { DEVICE_CC_UNKNOWN, false }, TARGET_MODE_OFF, false },
                { GPU_ARCH_OTHER, { DEVICE_CC_OFF, false }, TARGET_MODE_OFF, false },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                assert_int_equal(cc_status_matches(cases[i].arch, &cases[i].s, cases[i].mode), cases[i].expected);
}

static void test_mark_before_reset(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *inner = NULL;
        Recorder rec = {};
        Bar0 b = { .ops = &rec_ops, .impl = &rec };

        inner = open_new(f->path, GPU_ARCH_HOPPER, DEVICE_CC_OFF);
        rec.inner = inner;
        cc_mark_before_reset(&b, GPU_ARCH_HOPPER);
        assert_int_equal(rec.n_other, 2);
        assert_int_equal(rec.other[0].offset, NV_SCRATCH_RESET_MARKER);
        assert_int_equal(rec.other[0].value, 1);
        assert_int_equal(rec.other[1].offset, NV_HOPPER_SCRATCH_SBR_MARKER);
        assert_int_equal(rec.other[1].value, 1);
        assert_int_equal(bar0_read32(&b, NV_SCRATCH_RESET_MARKER), 1);
        assert_int_equal(gpusim_reset(f->path), 0);
        assert_int_equal(bar0_read32(&b, NV_SCRATCH_RESET_MARKER), 0);
        assert_int_equal(bar0_read32(&b, NV_HOPPER_SCRATCH_SBR_MARKER), 1);

        rec.n_other = 0;
        cc_mark_before_reset(&b, GPU_ARCH_BLACKWELL);
        assert_int_equal(rec.n_other, 1);
        assert_int_equal(rec.other[0].offset, NV_SCRATCH_RESET_MARKER);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_strings),
                cmocka_unit_test(test_timeouts_default),
                cmocka_unit_test_setup_teardown(test_knob_roundtrip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_query_encodings, setup, teardown),
                cmocka_unit_test(test_decode_registers),
                cmocka_unit_test_setup_teardown(test_query_not_booted_and_not_capable, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unknown_knob, setup, teardown),
                cmocka_unit_test_setup_teardown(test_queue_timeout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_response_timeout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_off_bus, setup, teardown),
                cmocka_unit_test_setup_teardown(test_security_fault, setup, teardown),
                cmocka_unit_test(test_knob_plans),
                cmocka_unit_test_setup_teardown(test_switch_through_simulator, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_compare_write, setup, teardown),
                cmocka_unit_test_setup_teardown(test_invalid_state_fixed, setup, teardown),
                cmocka_unit_test(test_status_matches),
                cmocka_unit_test_setup_teardown(test_mark_before_reset, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
