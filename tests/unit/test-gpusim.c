/* SPDX-License-Identifier: MIT */

/* The simulator on its own: registers, EMEM, queues, knobs, reset, boot
 * time, injection and persistence, driven mostly by raw register accesses
 * so the FSP client code is not what is being checked. */

#include <fcntl.h>
#include <ftw.h>
#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "cc-hw.h"
#include "fileio.h"
#include "gpusim.h"
#include "hw-host.h"
#include "sim-host.h"
#include "nv-regs.h"

typedef struct Fixture {
        char *dir;
        char *path;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        f->dir = g_dir_make_tmp("test-gpusim-XXXXXX", NULL);
        assert_non_null(f->dir);
        f->path = g_build_filename(f->dir, "gpusim.ini", NULL);
        *state = f;
        return 0;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        return remove(path);
}

static int teardown(void **state) {
        Fixture *f = *state;

        /* Depth first, so the fake sysfs trees go too. */
        assert_int_equal(nftw(f->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0);
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

static char *ini_value(const char *path, const char *group, const char *key) {
        g_autoptr(GKeyFile) kf = g_key_file_new();

        assert_true(g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, NULL));
        return g_key_file_get_value(kf, group, key, NULL);
}

static void assert_ini(const char *path, const char *group, const char *key, const char *expected) {
        g_autofree char *v = ini_value(path, group, key);

        assert_non_null(v);
        assert_string_equal(v, expected);
}

static void set(const char *path, const char *group, const char *key, const char *value) {
        assert_int_equal(gpusim_set(path, group, key, value), 0);
}

static Bar0 *open_new(const char *path, GpuArch arch, unsigned boot_ms, DeviceCcMode initial) {
        Bar0 *b = NULL;

        assert_int_equal(gpusim_create(path, arch, boot_ms, initial), 0);
        assert_int_equal(gpusim_open(path, arch, &b), 0);
        assert_non_null(b);
        return b;
}

/* Puts a message in the command queue by hand, as the host side does. */
static void raw_send(Bar0 *b, const uint32_t *msg, size_t n) {
        bar0_write32(b, NV_FSP_EMEM_CTRL, NV_FSP_EMEM_CHANNEL_BASE | NV_FSP_EMEM_CTRL_AINCW);
        for (size_t i = 0; i < n; i++)
                bar0_write32(b, NV_FSP_EMEM_DATA, msg[i]);
        bar0_write32(b, NV_FSP_CMD_QUEUE_HEAD, NV_FSP_EMEM_CHANNEL_BASE);
        bar0_write32(b, NV_FSP_CMD_QUEUE_TAIL, NV_FSP_EMEM_CHANNEL_BASE + (uint32_t) (n - 1) * 4);
}

/* Takes the message the FSP has published now; 0 when there is none. */
static size_t raw_receive(Bar0 *b, uint32_t out[16]) {
        uint32_t head = bar0_read32(b, NV_FSP_MSG_QUEUE_HEAD);
        uint32_t tail = bar0_read32(b, NV_FSP_MSG_QUEUE_TAIL);
        size_t n;

        if (head == tail)
                return 0;
        assert_true(tail > head);
        n = (tail - head) / 4 + 1;
        assert_true(n <= 16);
        bar0_write32(b, NV_FSP_EMEM_CTRL, head | NV_FSP_EMEM_CTRL_AINCR);
        for (size_t i = 0; i < n; i++)
                out[i] = bar0_read32(b, NV_FSP_EMEM_DATA);
        bar0_write32(b, NV_FSP_MSG_QUEUE_TAIL, head);
        return n;
}

static void raw_read_request(Bar0 *b, uint8_t knob) {
        uint32_t req[] = { NV_MCTP_HEADER_SOM_EOM, NV_MCTP_VENDOR_HEADER(NV_NVDM_TYPE_PRC), NV_PRC_WORD(NV_PRC_OP_READ, knob) };
        raw_send(b, req, ELEMENTSOF(req));
}

static void raw_write_request(Bar0 *b, uint8_t knob, uint32_t value) {
        uint32_t req[] = { NV_MCTP_HEADER_SOM_EOM, NV_MCTP_VENDOR_HEADER(NV_NVDM_TYPE_PRC),
                           NV_PRC_WORD(NV_PRC_OP_WRITE, knob), value };
        raw_send(b, req, ELEMENTSOF(req));
}

static bool cmd_queue_empty(Bar0 *b) {
        return bar0_read32(b, NV_FSP_CMD_QUEUE_HEAD) == bar0_read32(b, NV_FSP_CMD_QUEUE_TAIL);
}

static void test_create_defaults(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        GpuArch arch;
        uint32_t boot0;

        b = open_new(f->path, GPU_ARCH_HOPPER, 50, DEVICE_CC_OFF);
        boot0 = bar0_read32(b, NV_PMC_BOOT_0);
        assert_int_equal((boot0 >> 24) & 0x1f, 0x18);  /* GH100 */
        /* Never reset since power-on: booted. */
        assert_int_equal(bar0_read32(b, NV_FSP_BOOT_COMPLETE), NV_FSP_BOOT_COMPLETE_DONE);
        assert_int_equal(bar0_read32(b, NV_HOPPER_CC_STATUS), 0);
        assert_int_equal(gpusim_get_arch(f->path, &arch), 0);
        assert_int_equal(arch, GPU_ARCH_HOPPER);
        assert_ini(f->path, "Device", "BootMs", "50");
        assert_ini(f->path, "Knobs", "Pending", "");
        b = bar0_close(b);

        b = open_new(f->path, GPU_ARCH_BLACKWELL, 50, DEVICE_CC_OFF);
        assert_int_equal((bar0_read32(b, NV_PMC_BOOT_0) >> 24) & 0x1f, 0x1a);  /* GB100 */
        assert_int_equal(bar0_read32(b, NV_FSP_BOOT_COMPLETE), NV_FSP_BOOT_COMPLETE_DONE);
        b = bar0_close(b);

        b = open_new(f->path, GPU_ARCH_LS10_NVSWITCH, 50, DEVICE_CC_OFF);
        assert_int_equal(bar0_read32(b, NV_LS10_FSP_BOOT_COMPLETE), NV_FSP_BOOT_COMPLETE_DONE);
        assert_int_equal(bar0_read32(b, NV_FSP_BOOT_COMPLETE), 0);
        assert_int_not_equal(bar0_read32(b, NV_PMC_BOOT_0), NV_PMC_BOOT_0_OFF_BUS);
        assert_int_equal(gpusim_get_arch(f->path, &arch), 0);
        assert_int_equal(arch, GPU_ARCH_LS10_NVSWITCH);
}

static void test_open_creates_missing(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        GpuArch arch;

        assert_false(g_file_test(f->path, G_FILE_TEST_EXISTS));
        assert_int_equal(gpusim_open(f->path, GPU_ARCH_BLACKWELL, &b), 0);
        assert_true(g_file_test(f->path, G_FILE_TEST_EXISTS));
        assert_int_equal(gpusim_get_arch(f->path, &arch), 0);
        assert_int_equal(arch, GPU_ARCH_BLACKWELL);
        assert_int_equal(bar0_read32(b, NV_BLACKWELL_CC_STATUS), 0);
}

static void test_bad_arguments(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        GpuArch arch;

        assert_int_equal(gpusim_create(f->path, GPU_ARCH_OTHER, 10, DEVICE_CC_OFF), -EINVAL);
        assert_int_equal(gpusim_set(f->path, "Inject", "OffBus", "true"), -ENOENT);
        assert_int_equal(gpusim_reset(f->path), -ENOENT);
        assert_int_equal(gpusim_get_arch(f->path, &arch), -ENOENT);

        b = open_new(f->path, GPU_ARCH_HOPPER, 10, DEVICE_CC_ON);
        /* Values the simulator could not read back are refused, the file kept. */
        assert_int_equal(gpusim_set(f->path, "Knobs", "Active", "8"), -EINVAL);
        assert_int_equal(gpusim_set(f->path, "Knobs", "Active", "300:1"), -EINVAL);
        assert_int_equal(gpusim_set(f->path, "Inject", "FspTimeout", "sometimes"), -EINVAL);
        assert_int_equal(gpusim_set(f->path, "Inject", "OffBus", "maybe"), -EINVAL);
        assert_int_equal(gpusim_set(f->path, "Device", "Model", "volta"), -EINVAL);
        assert_int_equal(gpusim_set(f->path, "Device", "BootMs", "-5"), -EINVAL);
        assert_int_equal(bar0_read32(b, NV_HOPPER_CC_STATUS), NV_CC_STATUS_ON);
        assert_int_not_equal(bar0_read32(b, NV_PMC_BOOT_0), NV_PMC_BOOT_0_OFF_BUS);
}

static void test_status_hopper(void **state) {
        static const struct {
                const char *active;
                const char *stuck;
                uint32_t expected;
        } cases[] = {
                { "8:0;6:0",       "false", 0x0 },
                { "8:1;6:0",       "false", 0x1 },
                { "8:1;6:1",       "false", 0x3 },
                { "8:0;6:1",       "false", 0x2 },  /* half-done switch */
                { "6:0",           "false", 0x0 },  /* absent knobs read 0 */
                { "8:1;6:0;45:1",  "false", 0x21 },
                { "8:0;6:0;45:1",  "false", 0x20 },
                { "8:1;6:0",       "true",  0x2 },
                { "8:1;6:1;45:1",  "true",  0x22 },
        };
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;

        b = open_new(f->path, GPU_ARCH_HOPPER, 10, DEVICE_CC_OFF);
        /* One open BAR0 sees every change of the file. */
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                set(f->path, "Knobs", "Active", cases[i].active);
                set(f->path, "Inject", "StuckInvalid", cases[i].stuck);
                assert_int_equal(bar0_read32(b, NV_HOPPER_CC_STATUS), cases[i].expected);
                assert_int_equal(bar0_read32(b, NV_BLACKWELL_CC_STATUS), 0);
        }
}

static void test_status_blackwell(void **state) {
        static const struct {
                const char *active;
                uint32_t expected;
        } cases[] = {
                { "8:0;6:0;10:2", 0x0 },
                /* The BAR0 firewall: CC on with its setting (knob 10) on. */
                { "8:1;6:0;10:2", 0x1 | NV_BLACKWELL_CC_STATUS_FIREWALL },
                { "8:1;6:0;10:0", 0x1 },
                { "8:1;6:0", 0x1 },
                { "8:1;6:1;10:2", 0x3 },
                { "8:0;6:1;10:2", 0x2 },
        };
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;

        b = open_new(f->path, GPU_ARCH_BLACKWELL, 10, DEVICE_CC_OFF);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                set(f->path, "Knobs", "Active", cases[i].active);
                assert_int_equal(bar0_read32(b, NV_BLACKWELL_CC_STATUS), cases[i].expected);
                assert_int_equal(bar0_read32(b, NV_HOPPER_CC_STATUS), 0);
                /* NVLink encryption is a property of the board (bit 6). */
                set(f->path, "Device", "NvlinkEncryption", "true");
                assert_int_equal(bar0_read32(b, NV_BLACKWELL_CC_STATUS), cases[i].expected | NV_BLACKWELL_CC_STATUS_NVLE);
                set(f->path, "Device", "NvlinkEncryption", "false");
        }
}

static void test_status_ls10(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;

        b = open_new(f->path, GPU_ARCH_LS10_NVSWITCH, 10, DEVICE_CC_OFF);
        assert_int_equal(bar0_read32(b, NV_LS10_PPCIE_STATUS), 0);
        set(f->path, "Knobs", "Active", "45:1");
        assert_int_equal(bar0_read32(b, NV_LS10_PPCIE_STATUS), 1);
        assert_int_equal(bar0_read32(b, NV_HOPPER_CC_STATUS), 0);
}

static void test_initial_modes(void **state) {
        static const struct {
                DeviceCcMode initial;
                uint32_t expected;
        } cases[] = {
                { DEVICE_CC_OFF, 0 },
                { DEVICE_CC_ON, 1 },
                { DEVICE_CC_DEVTOOLS, 3 },
                { DEVICE_CC_INVALID, 2 },
                { DEVICE_CC_UNKNOWN, 0 },
        };
        Fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(bar0_closep) Bar0 *b = open_new(f->path, GPU_ARCH_HOPPER, 10, cases[i].initial);
                assert_int_equal(bar0_read32(b, NV_HOPPER_CC_STATUS), cases[i].expected);
        }
}

static void test_off_bus_and_security_fault(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;

        b = open_new(f->path, GPU_ARCH_HOPPER, 10, DEVICE_CC_ON);
        set(f->path, "Inject", "OffBus", "true");
        assert_int_equal(bar0_read32(b, NV_PMC_BOOT_0), NV_PMC_BOOT_0_OFF_BUS);
        assert_int_equal(bar0_read32(b, NV_HOPPER_CC_STATUS), 0xffffffffu);
        assert_int_equal(bar0_read32(b, NV_FSP_BOOT_COMPLETE), 0xffffffffu);
        assert_int_equal(bar0_read32(b, NV_FSP_MSG_QUEUE_HEAD), 0xffffffffu);

        set(f->path, "Inject", "OffBus", "false");
        set(f->path, "Inject", "SecurityFault", "true");
        assert_int_equal(bar0_read32(b, NV_PMC_BOOT_0), NV_PMC_BOOT_0_SEC_FAULT_A);

        set(f->path, "Inject", "SecurityFault", "false");
        assert_int_equal((bar0_read32(b, NV_PMC_BOOT_0) >> 24) & 0x1f, 0x18);
}

static void test_emem_autoincrement(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;

        b = open_new(f->path, GPU_ARCH_HOPPER, 10, DEVICE_CC_OFF);

        bar0_write32(b, NV_FSP_EMEM_CTRL, 0x800 | NV_FSP_EMEM_CTRL_AINCW);
        bar0_write32(b, NV_FSP_EMEM_DATA, 0x11111111);
        bar0_write32(b, NV_FSP_EMEM_DATA, 0x22222222);
        bar0_write32(b, NV_FSP_EMEM_DATA, 0x33333333);
        assert_int_equal(bar0_read32(b, NV_FSP_EMEM_CTRL), 0x80c | NV_FSP_EMEM_CTRL_AINCW);

        /* Auto-increment on write does not move on reads. */
        bar0_write32(b, NV_FSP_EMEM_CTRL, 0x804 | NV_FSP_EMEM_CTRL_AINCW);
        assert_int_equal(bar0_read32(b, NV_FSP_EMEM_DATA), 0x22222222);
        assert_int_equal(bar0_read32(b, NV_FSP_EMEM_DATA), 0x22222222);

        bar0_write32(b, NV_FSP_EMEM_CTRL, 0x800 | NV_FSP_EMEM_CTRL_AINCR);
        assert_int_equal(bar0_read32(b, NV_FSP_EMEM_DATA), 0x11111111);
        assert_int_equal(bar0_read32(b, NV_FSP_EMEM_DATA), 0x22222222);
        assert_int_equal(bar0_read32(b, NV_FSP_EMEM_DATA), 0x33333333);
        assert_int_equal(bar0_read32(b, NV_FSP_EMEM_CTRL), 0x80c | NV_FSP_EMEM_CTRL_AINCR);

        /* Without AINCW a write stays in place. */
        bar0_write32(b, NV_FSP_EMEM_CTRL, 0x800);
        bar0_write32(b, NV_FSP_EMEM_DATA, 0x44444444);
        bar0_write32(b, NV_FSP_EMEM_DATA, 0x55555555);
        bar0_write32(b, NV_FSP_EMEM_CTRL, 0x800 | NV_FSP_EMEM_CTRL_AINCR);
        assert_int_equal(bar0_read32(b, NV_FSP_EMEM_DATA), 0x55555555);
        assert_int_equal(bar0_read32(b, NV_FSP_EMEM_DATA), 0x22222222);
}

static void test_prc_pending_until_reset(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        uint32_t resp[16];

        b = open_new(f->path, GPU_ARCH_HOPPER, 0, DEVICE_CC_OFF);
        assert_true(cmd_queue_empty(b));
        assert_int_equal(raw_receive(b, resp), 0);

        raw_write_request(b, NV_KNOB_CCM, 1);
        assert_true(cmd_queue_empty(b));
        assert_int_equal(bar0_read32(b, NV_FSP_MSG_QUEUE_HEAD), 0x800);
        assert_int_equal(bar0_read32(b, NV_FSP_MSG_QUEUE_TAIL), 0x810);
        assert_int_equal(raw_receive(b, resp), 5);
        assert_int_equal(bar0_read32(b, NV_FSP_MSG_QUEUE_TAIL), bar0_read32(b, NV_FSP_MSG_QUEUE_HEAD));
        assert_int_equal(resp[0], 0xc0000000u);
        assert_int_equal(resp[1], NV_MCTP_VENDOR_HEADER(NV_NVDM_TYPE_RESPONSE));
        assert_int_equal(resp[1], 0x1510de7eu);
        assert_int_equal(resp[2], NV_PRC_WORD(NV_PRC_OP_WRITE, NV_KNOB_CCM));
        assert_int_equal(resp[3], 0x13);
        assert_int_equal(resp[4], NV_PRC_STATUS_OK);

        /* Written, persisted as pending, not in effect. */
        assert_ini(f->path, "Knobs", "Pending", "8:1");
        assert_int_equal(bar0_read32(b, NV_HOPPER_CC_STATUS), NV_CC_STATUS_OFF);

        /* A read gives the value the firmware keeps for the next reset. */
        raw_read_request(b, NV_KNOB_CCM);
        assert_int_equal(raw_receive(b, resp), 6);
        assert_int_equal(resp[2], NV_PRC_WORD(NV_PRC_OP_READ, NV_KNOB_CCM));
        assert_int_equal(resp[4], NV_PRC_STATUS_OK);
        assert_int_equal(resp[5], 1);

        /* A knob never written reads 0. */
        raw_read_request(b, 77);
        assert_int_equal(raw_receive(b, resp), 6);
        assert_int_equal(resp[5], 0);

        assert_int_equal(gpusim_reset(f->path), 0);
        assert_int_equal(bar0_read32(b, NV_HOPPER_CC_STATUS), NV_CC_STATUS_ON);
        assert_ini(f->path, "Knobs", "Pending", "");
        assert_ini(f->path, "Knobs", "Active", "6:0;8:1;10:0;45:0");
}

static void test_unknown_knob_and_bad_request(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        uint32_t resp[16];
        uint32_t bad_header[] = { NV_MCTP_HEADER_SOM_EOM, NV_MCTP_VENDOR_HEADER(0x14), NV_PRC_WORD(NV_PRC_OP_READ, 8) };
        uint32_t bad_op[] = { NV_MCTP_HEADER_SOM_EOM, NV_MCTP_VENDOR_HEADER(NV_NVDM_TYPE_PRC), NV_PRC_WORD(0x0e, 8) };

        b = open_new(f->path, GPU_ARCH_HOPPER, 0, DEVICE_CC_OFF);
        set(f->path, "Inject", "UnknownKnob", "45");

        raw_read_request(b, NV_KNOB_PPCIE);
        assert_int_equal(raw_receive(b, resp), 5);
        assert_int_equal(resp[4], NV_PRC_STATUS_UNKNOWN_KNOB);

        raw_write_request(b, NV_KNOB_PPCIE, 1);
        assert_int_equal(raw_receive(b, resp), 5);
        assert_int_equal(resp[4], NV_PRC_STATUS_UNKNOWN_KNOB);
        assert_ini(f->path, "Knobs", "Pending", "");

        raw_read_request(b, NV_KNOB_CCM);
        assert_int_equal(raw_receive(b, resp), 6);
        assert_int_equal(resp[4], NV_PRC_STATUS_OK);

        raw_send(b, bad_header, ELEMENTSOF(bad_header));
        assert_int_equal(raw_receive(b, resp), 5);
        assert_int_not_equal(resp[4], NV_PRC_STATUS_OK);

        raw_send(b, bad_op, ELEMENTSOF(bad_op));
        assert_int_equal(raw_receive(b, resp), 5);
        assert_int_not_equal(resp[4], NV_PRC_STATUS_OK);
}

static void test_fsp_timeout_queue(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        uint32_t resp[16];

        b = open_new(f->path, GPU_ARCH_HOPPER, 0, DEVICE_CC_OFF);
        set(f->path, "Inject", "FspTimeout", "queue");
        raw_write_request(b, NV_KNOB_CCM, 1);
        assert_false(cmd_queue_empty(b));
        assert_false(cmd_queue_empty(b));
        assert_int_equal(raw_receive(b, resp), 0);
        assert_ini(f->path, "Knobs", "Pending", "");

        /* Once the FSP is back it takes the waiting command. */
        set(f->path, "Inject", "FspTimeout", "none");
        assert_true(cmd_queue_empty(b));
        assert_int_equal(raw_receive(b, resp), 5);
        assert_int_equal(resp[4], NV_PRC_STATUS_OK);
        assert_ini(f->path, "Knobs", "Pending", "8:1");
}

static void test_fsp_timeout_response(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        uint32_t resp[16];

        b = open_new(f->path, GPU_ARCH_HOPPER, 0, DEVICE_CC_OFF);
        set(f->path, "Inject", "FspTimeout", "response");
        raw_write_request(b, NV_KNOB_CCM, 1);
        assert_true(cmd_queue_empty(b));
        assert_int_equal(raw_receive(b, resp), 0);
        set(f->path, "Inject", "FspTimeout", "none");
        assert_int_equal(raw_receive(b, resp), 0);
        assert_ini(f->path, "Knobs", "Pending", "");
}

static void test_fsp_latency(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        CcTimeouts t = cc_timeouts_default(GPU_ARCH_HOPPER);
        CcError err = CC_ERROR_INIT;
        uint32_t resp[16];
        uint64_t t0, elapsed;
        size_t n;
        uint16_t v = 0xdead;

        b = open_new(f->path, GPU_ARCH_HOPPER, 0, DEVICE_CC_ON);
        set(f->path, "Device", "FspLatencyMs", "300");

        t.response_poll_ms = 1;
        t0 = now_us();
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GH100, &t, NV_KNOB_CCM, &v, &err), 0);
        elapsed = now_us() - t0;
        assert_int_equal(v, 1);
        assert_true(elapsed >= 300000);

        /* The command is taken at once; the message queue reads empty until
         * the latency has passed. */
        t0 = now_us();
        raw_read_request(b, NV_KNOB_CCM);
        assert_true(cmd_queue_empty(b));
        n = raw_receive(b, resp);
        if (now_us() - t0 < 300000)
                assert_int_equal(n, 0);
}

static void test_fsp_answer_waits_for_host(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        uint32_t resp[16];

        b = open_new(f->path, GPU_ARCH_HOPPER, 0, DEVICE_CC_ON);
        raw_read_request(b, NV_KNOB_CCM);
        assert_true(cmd_queue_empty(b));
        /* The first answer is not taken: the next command waits for it. */
        raw_read_request(b, NV_KNOB_BAR0_DECOUPLER);
        assert_false(cmd_queue_empty(b));
        assert_false(cmd_queue_empty(b));

        /* Handing the message queue back lets the FSP go on. */
        bar0_write32(b, NV_FSP_MSG_QUEUE_TAIL, bar0_read32(b, NV_FSP_MSG_QUEUE_HEAD));
        assert_true(cmd_queue_empty(b));
        assert_int_equal(raw_receive(b, resp), 6);
        assert_int_equal(resp[2], NV_PRC_WORD(NV_PRC_OP_READ, NV_KNOB_BAR0_DECOUPLER));
        assert_int_equal(resp[5], 2);
        assert_int_equal(raw_receive(b, resp), 0);
}

static void test_boot_time(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        CcTimeouts t = cc_timeouts_default(GPU_ARCH_HOPPER);
        CcError err = CC_ERROR_INIT;
        uint64_t t0, t1;
        uint32_t v;

        b = open_new(f->path, GPU_ARCH_HOPPER, 50, DEVICE_CC_OFF);
        t.boot_poll_ms = 1;

        t0 = now_us();
        assert_int_equal(gpusim_reset(f->path), 0);
        v = bar0_read32(b, NV_FSP_BOOT_COMPLETE);
        t1 = now_us();
        if (t1 - t0 < 50000)
                assert_int_equal(v, 0);
        assert_int_equal(cc_wait_boot(b, gpu_chip_default(GPU_ARCH_HOPPER), &t, &err), 0);
        assert_true(now_us() - t0 >= 50000);
        assert_int_equal(bar0_read32(b, NV_FSP_BOOT_COMPLETE), NV_FSP_BOOT_COMPLETE_DONE);

        /* A slow boot outlasts a short wait, with a message that says so. */
        set(f->path, "Inject", "SlowBootMs", "600000");
        assert_int_equal(gpusim_reset(f->path), 0);
        assert_int_equal(bar0_read32(b, NV_FSP_BOOT_COMPLETE), 0);
        t.boot_ms = 100;
        assert_int_equal(cc_wait_boot(b, gpu_chip_default(GPU_ARCH_HOPPER), &t, &err), -ETIMEDOUT);
        assert_int_equal(err.kind, CC_ERROR_TIMEOUT);
        assert_string_equal(err.message, "boot not complete after 100 ms (0x0200bc = 0x0)");

        set(f->path, "Inject", "SlowBootMs", "0");
        cc_error_clear(&err);
        assert_int_equal(cc_wait_boot(b, gpu_chip_default(GPU_ARCH_HOPPER), &t, &err), 0);
        assert_false(cc_error_is_set(&err));
}

static void test_ls10_boot(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        CcError err = CC_ERROR_INIT;
        CcTimeouts t = cc_timeouts_default(GPU_ARCH_LS10_NVSWITCH);

        b = open_new(f->path, GPU_ARCH_LS10_NVSWITCH, 600000, DEVICE_CC_OFF);
        assert_int_equal(gpusim_reset(f->path), 0);
        assert_int_equal(bar0_read32(b, NV_LS10_FSP_BOOT_COMPLETE), 0);
        t.boot_ms = 20;
        t.boot_poll_ms = 1;
        assert_int_equal(cc_wait_boot(b, gpu_chip_default(GPU_ARCH_LS10_NVSWITCH), &t, &err), -ETIMEDOUT);
        set(f->path, "Device", "BootMs", "0");
        assert_int_equal(cc_wait_boot(b, gpu_chip_default(GPU_ARCH_LS10_NVSWITCH), &t, &err), 0);
}

static void test_command_waits_for_boot(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        uint32_t resp[16];

        b = open_new(f->path, GPU_ARCH_HOPPER, 600000, DEVICE_CC_OFF);
        assert_int_equal(gpusim_reset(f->path), 0);
        raw_read_request(b, NV_KNOB_CCM);
        assert_false(cmd_queue_empty(b));
        assert_int_equal(raw_receive(b, resp), 0);

        set(f->path, "Device", "BootMs", "0");
        assert_true(cmd_queue_empty(b));
        assert_int_equal(raw_receive(b, resp), 6);
        assert_int_equal(resp[4], NV_PRC_STATUS_OK);
}

static void test_reset_clears_queues(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        uint32_t resp[16];

        b = open_new(f->path, GPU_ARCH_HOPPER, 0, DEVICE_CC_OFF);
        set(f->path, "Inject", "FspTimeout", "queue");
        raw_read_request(b, NV_KNOB_CCM);
        assert_false(cmd_queue_empty(b));
        set(f->path, "Inject", "FspTimeout", "none");
        assert_int_equal(gpusim_reset(f->path), 0);
        /* The command was lost with the reset: nothing is answered. */
        assert_true(cmd_queue_empty(b));
        assert_int_equal(raw_receive(b, resp), 0);
        bar0_write32(b, NV_FSP_EMEM_CTRL, 0x800 | NV_FSP_EMEM_CTRL_AINCR);
        assert_int_equal(bar0_read32(b, NV_FSP_EMEM_DATA), 0);
}

static void test_persistence(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        CcError err = CC_ERROR_INIT;
        uint16_t v = 0;

        b = open_new(f->path, GPU_ARCH_HOPPER, 0, DEVICE_CC_OFF);
        assert_int_equal(fsp_write_knob(b, GPU_CHIP_GH100, NULL, NV_KNOB_CCM, 1, &err), 0);
        assert_int_equal(fsp_write_knob(b, GPU_CHIP_GH100, NULL, NV_KNOB_BAR0_DECOUPLER, 2, &err), 0);
        bar0_write32(b, NV_SCRATCH_RESET_MARKER, 1);
        bar0_write32(b, NV_HOPPER_SCRATCH_SBR_MARKER, 1);
        b = bar0_close(b);

        /* A daemon restart sees the same GPU. */
        assert_int_equal(gpusim_open(f->path, GPU_ARCH_HOPPER, &b), 0);
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GH100, NULL, NV_KNOB_CCM, &v, &err), 0);
        assert_int_equal(v, 1);
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GH100, NULL, NV_KNOB_BAR0_DECOUPLER, &v, &err), 0);
        assert_int_equal(v, 2);
        assert_int_equal(bar0_read32(b, NV_HOPPER_CC_STATUS), NV_CC_STATUS_OFF);
        assert_int_equal(bar0_read32(b, NV_SCRATCH_RESET_MARKER), 1);
        assert_int_equal(bar0_read32(b, NV_HOPPER_SCRATCH_SBR_MARKER), 1);
        b = bar0_close(b);

        assert_int_equal(gpusim_reset(f->path), 0);
        assert_int_equal(gpusim_open(f->path, GPU_ARCH_HOPPER, &b), 0);
        assert_int_equal(bar0_read32(b, NV_HOPPER_CC_STATUS), NV_CC_STATUS_ON);
        /* The reset is an FLR: 0x1458 is cleared, 0x91288 survives. */
        assert_int_equal(bar0_read32(b, NV_SCRATCH_RESET_MARKER), 0);
        assert_int_equal(bar0_read32(b, NV_HOPPER_SCRATCH_SBR_MARKER), 1);
        assert_ini(f->path, "Knobs", "Active", "6:0;8:1;10:2;45:0");
}

/* A device of a tree made by hand, the kernel's way: its directory under
 * sys/devices and the bus's link to it. */
static char *hand_made_device(Fixture *f, const char *bdf, const char *device_id) {
        g_autofree char *bus = g_strdup_printf("pci0000:%.2s", bdf + 5);
        g_autofree char *devdir = g_build_filename(f->dir, "sys/devices", bus, bdf, NULL);
        g_autofree char *links = g_build_filename(f->dir, "sys/bus/pci/devices", NULL);
        g_autofree char *link = g_build_filename(links, bdf, NULL);
        g_autofree char *target = g_strdup_printf("../../../devices/%s/%s", bus, bdf);

        assert_int_equal(mkdir_parents(devdir, 0755), 0);
        assert_int_equal(mkdir_parents(links, 0755), 0);
        assert_int_equal(symlink(target, link), 0);
        if (device_id) {
                g_autofree char *vendor = g_build_filename(devdir, "vendor", NULL);
                g_autofree char *device = g_build_filename(devdir, "device", NULL);
                g_autofree char *class = g_build_filename(devdir, "class", NULL);

                assert_true(g_file_set_contents(vendor, "0x10de\n", -1, NULL));
                assert_true(g_file_set_contents(device, device_id, -1, NULL));
                assert_true(g_file_set_contents(class, "0x030200\n", -1, NULL));
        }
        return g_steal_pointer(&devdir);
}

/* bar0_open on a real host maps resource0; a regular file stands in for it. */
static void test_bar0_open_mmio(void **state) {
        Fixture *f = *state;
        _cleanup_(hw_host_freep) HwHost *h = NULL;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        g_autofree char *devdir = hand_made_device(f, "0000:65:00.0", NULL);
        g_autofree char *res = g_build_filename(devdir, "resource0", NULL);
        CcError err = CC_ERROR_INIT;
        uint32_t v = 0;
        int fd;

        fd = open(res, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, BAR0_SIZE), 0);
        assert_int_equal(pwrite(fd, &(uint32_t) { 0x180000a1 }, 4, 0), 4);

        assert_int_equal(hw_host_new(f->dir, NULL, &h), 0);
        assert_int_equal(bar0_open(h, "0000:65:00.0", &b, NULL), 0);
        assert_int_equal(bar0_read32(b, NV_PMC_BOOT_0), 0x180000a1);
        bar0_write32(b, NV_FSP_EMEM_DATA, 0x12345678);
        assert_int_equal(pread(fd, &v, 4, NV_FSP_EMEM_DATA), 4);
        assert_int_equal(v, 0x12345678);
        /* Outside the window reads as all ones and writes go nowhere. */
        assert_int_equal(bar0_read32(b, BAR0_SIZE), 0xffffffffu);
        bar0_write32(b, BAR0_SIZE, 1);
        b = bar0_close(b);
        close(fd);

        /* The error names the file it could not map. */
        assert_int_equal(bar0_open(h, "0000:66:00.0", &b, &err), -ENOENT);
        assert_non_null(strstr(err.message, "0000:66:00.0/resource0"));
        assert_null(bar0_close(NULL));
}

/* On a simulated host the same call serves the simulator of the device. */
static void test_bar0_open_simulated(void **state) {
        Fixture *f = *state;
        _cleanup_(hw_host_freep) HwHost *h = NULL;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        g_autofree char *devdir = hand_made_device(f, "0000:65:00.0", NULL);
        g_autofree char *ini = g_build_filename(devdir, "gpusim.ini", NULL);
        CcError err = CC_ERROR_INIT;

        assert_int_equal(sim_host_new(f->dir, &h), 0);
        /* No simulator state, and no ids to make one from: the error names
         * the state file. */
        assert_int_equal(bar0_open(h, "0000:65:00.0", &b, &err), -ENOENT);
        assert_null(b);
        assert_non_null(strstr(err.message, "/sys/bus/pci/devices/0000:65:00.0/gpusim.ini"));
        assert_false(g_file_test(ini, G_FILE_TEST_EXISTS));

        assert_int_equal(gpusim_create(ini, GPU_ARCH_BLACKWELL, 0, DEVICE_CC_ON), 0);
        assert_int_equal(bar0_open(h, "0000:65:00.0", &b, NULL), 0);
        assert_int_equal((bar0_read32(b, NV_PMC_BOOT_0) >> 24) & 0x1f, 0x1a);
        assert_int_equal(bar0_read32(b, NV_BLACKWELL_CC_STATUS), 0x1 | NV_BLACKWELL_CC_STATUS_FIREWALL);
        b = bar0_close(b);

        /* A broken state file is named too. */
        assert_true(g_file_set_contents(ini, "[Device]\nModel=volta\n", -1, NULL));
        cc_error_clear(&err);
        assert_int_equal(bar0_open(h, "0000:65:00.0", &b, &err), -EINVAL);
        assert_non_null(strstr(err.message, "/sys/bus/pci/devices/0000:65:00.0/gpusim.ini"));
}

/* A tree made by hand has no gpusim.ini: the first open makes one with the
 * defaults of the model the device id says, as gpusim.h promises. */
static void test_bar0_open_creates_state(void **state) {
        Fixture *f = *state;
        _cleanup_(hw_host_freep) HwHost *h = NULL;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        g_autofree char *h200 = hand_made_device(f, "0000:18:00.0", "0x2335\n");
        g_autofree char *ampere = hand_made_device(f, "0000:2a:00.0", "0x20b0\n");
        g_autofree char *ini = g_build_filename(h200, "gpusim.ini", NULL);
        g_autofree char *ampere_ini = g_build_filename(ampere, "gpusim.ini", NULL);
        CcError err = CC_ERROR_INIT;

        assert_int_equal(sim_host_new(f->dir, &h), 0);
        assert_int_equal(bar0_open(h, "0000:18:00.0", &b, &err), 0);
        assert_int_equal((bar0_read32(b, NV_PMC_BOOT_0) >> 24) & 0x1f, 0x18); /* GH100 */
        assert_int_equal(bar0_read32(b, NV_FSP_BOOT_COMPLETE), NV_FSP_BOOT_COMPLETE_DONE);
        assert_int_equal(bar0_read32(b, NV_HOPPER_CC_STATUS), NV_CC_STATUS_OFF);
        b = bar0_close(b);
        assert_ini(ini, "Device", "Model", "hopper");

        /* An A100 is no part the simulator plays: said, and nothing made. */
        assert_int_equal(bar0_open(h, "0000:2a:00.0", &b, &err), -ENODEV);
        assert_non_null(strstr(err.message, "/sys/bus/pci/devices/0000:2a:00.0/gpusim.ini"));
        assert_non_null(strstr(err.message, "10de:20b0"));
        assert_false(g_file_test(ampere_ini, G_FILE_TEST_EXISTS));
}

/* --simulate on the real root would write over the kernel's own files. */
static void test_sim_host_refuses_real_root(void **state) {
        HwHost *h = NULL;

        assert_int_equal(sim_host_new("/", &h), -EPERM);
        assert_null(h);
        assert_int_equal(sim_host_new("/tmp/..", &h), -EPERM);
        assert_null(h);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_create_defaults, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_creates_missing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
                cmocka_unit_test_setup_teardown(test_status_hopper, setup, teardown),
                cmocka_unit_test_setup_teardown(test_status_blackwell, setup, teardown),
                cmocka_unit_test_setup_teardown(test_status_ls10, setup, teardown),
                cmocka_unit_test_setup_teardown(test_initial_modes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_off_bus_and_security_fault, setup, teardown),
                cmocka_unit_test_setup_teardown(test_emem_autoincrement, setup, teardown),
                cmocka_unit_test_setup_teardown(test_prc_pending_until_reset, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unknown_knob_and_bad_request, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fsp_timeout_queue, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fsp_timeout_response, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fsp_latency, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fsp_answer_waits_for_host, setup, teardown),
                cmocka_unit_test_setup_teardown(test_boot_time, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ls10_boot, setup, teardown),
                cmocka_unit_test_setup_teardown(test_command_waits_for_boot, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reset_clears_queues, setup, teardown),
                cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bar0_open_mmio, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bar0_open_simulated, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bar0_open_creates_state, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sim_host_refuses_real_root, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
