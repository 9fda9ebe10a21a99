/* SPDX-License-Identifier: MIT */

/* The MNOC transport of FSP RPC against the simulated mailbox: every step of
 * a send and a receive, credits, ERR, the size limits and the timeouts; and
 * the exact PRC words each architecture's knob set sends, compared with the
 * worked example of docs/hardware.md. */

#include <glib.h>
#include <glib/gstdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cc-hw.h"
#include "fsp-transport.h"
#include "gpusim.h"
#include "nv-regs.h"

typedef struct Fixture {
        char *dir;
        char *path;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        f->dir = g_dir_make_tmp("test-mnoc-XXXXXX", NULL);
        assert_non_null(f->dir);
        f->path = g_build_filename(f->dir, "gpusim.ini", NULL);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        (void) g_unlink(f->path);
        assert_int_equal(g_rmdir(f->dir), 0);
        g_free(f->dir);
        g_free(f->path);
        free(f);
        return 0;
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

static CcTimeouts short_timeouts(void) {
        CcTimeouts t = cc_timeouts_default(GPU_ARCH_BLACKWELL);

        t.response_ms = t.mnoc_ready_ms = t.mnoc_credit_ms = 30;
        t.queue_empty_ms = 30;
        t.response_poll_ms = 1;
        t.mnoc_poll_us = 500;
        return t;
}

/* A BAR0 that forwards to another and records every access, and decodes
 * the PRC messages that went out over either transport. */
typedef struct Access {
        bool write;
        uint32_t offset, value;
} Access;

typedef struct Recorder {
        Bar0 *inner;
        Access log[4096];
        size_t n_log;
        /* messages, as sent */
        uint32_t cur[64];
        size_t n_cur;
        uint32_t cur_size; /* MNOC: bytes announced */
        uint32_t msgs[64][8];
        size_t msg_len[64];
        size_t n_msgs;
} Recorder;

static void rec_log(Recorder *r, bool write, uint32_t offset, uint32_t value) {
        if (r->n_log < ELEMENTSOF(r->log))
                r->log[r->n_log++] = (Access) { write, offset, value };
}

static void rec_message_done(Recorder *r) {
        assert_true(r->n_msgs < ELEMENTSOF(r->msgs));
        /* PRC messages are at most 4 dwords; longer ones are kept in part. */
        memcpy(r->msgs[r->n_msgs], r->cur, MIN(r->n_cur, ELEMENTSOF(r->msgs[0])) * 4);
        r->msg_len[r->n_msgs++] = r->n_cur;
        r->n_cur = 0;
}

static uint32_t rec_read32(void *impl, uint32_t offset) {
        Recorder *r = impl;
        uint32_t v = bar0_read32(r->inner, offset);

        rec_log(r, false, offset, v);
        return v;
}

static void rec_write32(void *impl, uint32_t offset, uint32_t value) {
        Recorder *r = impl;

        rec_log(r, true, offset, value);
        switch (offset) {
        case NV_FSP_MNOC_RECV_INFO:
                r->n_cur = 0;
                r->cur_size = value & NV_MNOC_INFO_SIZE_MASK;
                break;
        case NV_FSP_MNOC_RECV_DATA:
                if (r->n_cur < ELEMENTSOF(r->cur))
                        r->cur[r->n_cur++] = value;
                if (r->n_cur * 4 == r->cur_size)
                        rec_message_done(r);
                break;
        case NV_FSP_EMEM_CTRL:
                r->n_cur = 0;
                break;
        case NV_FSP_EMEM_DATA:
                if (r->n_cur < ELEMENTSOF(r->cur))
                        r->cur[r->n_cur++] = value;
                break;
        case NV_FSP_CMD_QUEUE_TAIL:
                rec_message_done(r);
                break;
        default:
                break;
        }
        bar0_write32(r->inner, offset, value);
}

static const Bar0Ops rec_ops = {
        .read32 = rec_read32,
        .write32 = rec_write32,
};

/* The worked example of docs/hardware.md: writing CCM = 1 announces 16
 * bytes with TRIGGER and sends the four dwords; the answer is five dwords,
 * echoing PRC with status 0. */
static void test_worked_example(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *inner = open_new(f->path, GPU_ARCH_BLACKWELL, DEVICE_CC_OFF);
        Recorder rec = { .inner = inner };
        Bar0 b = { .ops = &rec_ops, .impl = &rec };
        static const uint32_t expected[] = { 0xc0000000, 0x1310de7e, 0x0008020d, 0x00000001 };
        CcTimeouts t = short_timeouts();
        CcError err = CC_ERROR_INIT;
        uint32_t resp[FSP_MAX_RESPONSE_DWORDS];
        size_t data = 0, n_resp = 0, info_writes = 0;

        assert_int_equal(fsp_write_knob(&b, GPU_CHIP_GB100, &t, NV_KNOB_CCM, 1, &err), 0);
        assert_false(cc_error_is_set(&err));

        for (size_t i = 0; i < rec.n_log; i++) {
                const Access *a = &rec.log[i];

                if (!a->write)
                        continue;
                /* Nothing but the receive mailbox is written. */
                assert_true(a->offset == NV_FSP_MNOC_RECV_INFO || a->offset == NV_FSP_MNOC_RECV_DATA);
                if (a->offset == NV_FSP_MNOC_RECV_INFO) {
                        assert_int_equal(a->value, 0x00100010);
                        info_writes++;
                } else {
                        assert_true(data < ELEMENTSOF(expected));
                        assert_int_equal(a->value, expected[data++]);
                }
        }
        assert_int_equal(info_writes, 1);
        assert_int_equal(data, 4);
        assert_ini(f->path, "Knobs", "Pending", "8:1");

        /* The answer, read step by step. */
        assert_int_equal(fsp_mnoc_send(inner, &t, expected, 4, "the write of knob 8", &err), 0);
        assert_int_equal(fsp_mnoc_receive(inner, &t, resp, ELEMENTSOF(resp), &n_resp, "the write of knob 8", &err), 0);
        assert_int_equal(n_resp, 5);
        assert_int_equal(resp[1] >> 24, NV_NVDM_TYPE_RESPONSE);
        assert_int_equal(resp[3], 0x13);
        assert_int_equal(resp[4], 0);
        /* The last dword consumed it: no acknowledge, nothing more to read. */
        assert_int_equal(bar0_read32(inner, NV_FSP_MNOC_SEND_INFO) & NV_MNOC_INFO_READY, 0);
}

/* Every send step in order: ERR checked, RECEIVE_READY polled, TRIGGER with
 * the size, CREDIT_AVAILABLE polled before dwords 0, 16 and 32, ERR checked
 * again. */
static void test_send_steps_and_credits(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *inner = open_new(f->path, GPU_ARCH_BLACKWELL, DEVICE_CC_OFF);
        Recorder rec = { .inner = inner };
        Bar0 b = { .ops = &rec_ops, .impl = &rec };
        CcTimeouts t = short_timeouts();
        CcError err = CC_ERROR_INIT;
        uint32_t msg[40], resp[FSP_MAX_RESPONSE_DWORDS];
        uint32_t last_info = 0;
        size_t data = 0, credit_checked = 0, n = 0;
        bool triggered = false;

        /* The FSP hands a spent credit back only after three polls. */
        set(f->path, "Device", "CreditPolls", "3");
        for (size_t i = 0; i < ELEMENTSOF(msg); i++)
                msg[i] = 0x1000 + (uint32_t) i;

        assert_int_equal(fsp_mnoc_send(&b, &t, msg, ELEMENTSOF(msg), "a long message", &err), 0);
        assert_false(cc_error_is_set(&err));

        /* First access: the ERR check; then RECEIVE_READY. */
        assert_false(rec.log[0].write);
        assert_int_equal(rec.log[0].offset, NV_FSP_MNOC_RECV_INFO);
        for (size_t i = 0; i < rec.n_log; i++) {
                const Access *a = &rec.log[i];

                if (!a->write && a->offset == NV_FSP_MNOC_RECV_INFO) {
                        last_info = a->value;
                        assert_int_equal(a->value & NV_MNOC_INFO_ERR, 0);
                        continue;
                }
                if (!a->write)
                        continue;
                if (a->offset == NV_FSP_MNOC_RECV_INFO) {
                        assert_true(last_info & NV_MNOC_INFO_READY);
                        assert_int_equal(a->value, (uint32_t) sizeof(msg) | NV_MNOC_INFO_TRIGGER);
                        triggered = true;
                        continue;
                }
                assert_int_equal(a->offset, NV_FSP_MNOC_RECV_DATA);
                assert_true(triggered);
                if (data % 16 == 0) {
                        /* The read just before holds the credit. */
                        assert_false(rec.log[i - 1].write);
                        assert_true(rec.log[i - 1].value & NV_MNOC_INFO_CREDIT);
                        credit_checked++;
                }
                assert_int_equal(a->value, msg[data++]);
        }
        assert_int_equal(data, 40);
        assert_int_equal(credit_checked, 3);
        /* The last access: ERR checked after the data. */
        assert_false(rec.log[rec.n_log - 1].write);
        assert_int_equal(rec.log[rec.n_log - 1].offset, NV_FSP_MNOC_RECV_INFO);

        /* Not a PRC request: the FSP says so, in an ordinary answer. */
        assert_int_equal(fsp_mnoc_receive(&b, &t, resp, ELEMENTSOF(resp), &n, "a long message", &err), 0);
        assert_int_equal(n, 5);
        assert_int_not_equal(resp[4], 0);
}

/* The simulated mailbox is as strict as the device: data past a spent
 * credit, data without a message, and a message too long for the port are
 * dropped with ERR. */
static void test_mailbox_strict(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = open_new(f->path, GPU_ARCH_BLACKWELL, DEVICE_CC_OFF);
        CcTimeouts t = short_timeouts();
        CcError err = CC_ERROR_INIT;
        uint32_t msg[40] = {};

        /* 17 dwords without polling for the second credit. */
        assert_true(bar0_read32(b, NV_FSP_MNOC_RECV_INFO) & NV_MNOC_INFO_READY);
        bar0_write32(b, NV_FSP_MNOC_RECV_INFO, 40 * 4 | NV_MNOC_INFO_TRIGGER);
        for (size_t i = 0; i < 17; i++)
                bar0_write32(b, NV_FSP_MNOC_RECV_DATA, 0);
        assert_true(bar0_read32(b, NV_FSP_MNOC_RECV_INFO) & NV_MNOC_INFO_ERR);

        /* The transport sees ERR before it sends, and says so. */
        assert_int_equal(fsp_mnoc_send(b, &t, msg, 4, "the read of knob 8", &err), -EIO);
        assert_int_equal(err.kind, CC_ERROR_HARDWARE_FAILURE);
        assert_non_null(strstr(err.message, "FSP mailbox error before the read of knob 8 (0x8f1f84 = 0x"));
        b = bar0_close(b);

        /* Data with no message announced. */
        assert_int_equal(gpusim_open(f->path, GPU_ARCH_BLACKWELL, &b), 0);
        bar0_write32(b, NV_FSP_MNOC_RECV_DATA, 0);
        assert_true(bar0_read32(b, NV_FSP_MNOC_RECV_INFO) & NV_MNOC_INFO_ERR);
        b = bar0_close(b);

        /* A size no port-0 packet has. */
        assert_int_equal(gpusim_open(f->path, GPU_ARCH_BLACKWELL, &b), 0);
        bar0_write32(b, NV_FSP_MNOC_RECV_INFO, (NV_MNOC_MAX_PACKET_BYTES + 4) | NV_MNOC_INFO_TRIGGER);
        assert_true(bar0_read32(b, NV_FSP_MNOC_RECV_INFO) & NV_MNOC_INFO_ERR);

        /* And the transport never tries one. */
        cc_error_clear(&err);
        {
                uint32_t big[NV_MNOC_MAX_PACKET_BYTES / 4 + 1] = {};
                assert_int_equal(fsp_mnoc_send(b, &t, big, ELEMENTSOF(big), "x", &err), -EMSGSIZE);
        }
}

/* An answer longer than 64 bytes (25 dwords): the receive reads exactly
 * size / 4 dwords across the boundary, and the PRC layer takes its value. */
static void test_reply_across_credit_boundary(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *inner = open_new(f->path, GPU_ARCH_BLACKWELL, DEVICE_CC_ON);
        Recorder rec = { .inner = inner };
        Bar0 b = { .ops = &rec_ops, .impl = &rec };
        CcTimeouts t = short_timeouts();
        CcError err = CC_ERROR_INIT;
        size_t data_reads = 0;
        uint16_t v = 0;

        set(f->path, "Inject", "ReplyPadDwords", "19");
        assert_int_equal(fsp_read_knob(&b, GPU_CHIP_GB100, &t, NV_KNOB_CCM, &v, &err), 0);
        assert_int_equal(v, 1);
        for (size_t i = 0; i < rec.n_log; i++)
                if (!rec.log[i].write && rec.log[i].offset == NV_FSP_MNOC_SEND_DATA)
                        data_reads++;
        assert_int_equal(data_reads, 25);
        /* Consumed whole: nothing left, no ERR for the next request. */
        assert_int_equal(bar0_read32(inner, NV_FSP_MNOC_SEND_INFO), 0);
        assert_int_equal(fsp_read_knob(&b, GPU_CHIP_GB100, &t, NV_KNOB_CCD, &v, &err), 0);
        assert_int_equal(v, 0);
}

/* A BAR0 whose send mailbox says what the test wants. */
typedef struct FakeSend {
        uint32_t info;
        unsigned data_reads;
} FakeSend;

static uint32_t fake_send_read32(void *impl, uint32_t offset) {
        FakeSend *s = impl;

        switch (offset) {
        case NV_PMC_BOOT_0:
                return 0x1a0000a1;
        case NV_FSP_MNOC_SEND_INFO:
                return s->info;
        case NV_FSP_MNOC_SEND_DATA:
                s->data_reads++;
                return 0;
        default:
                return 0;
        }
}

static void fake_send_write32(void *impl, uint32_t offset, uint32_t value) {
}

static const Bar0Ops fake_send_ops = {
        .read32 = fake_send_read32,
        .write32 = fake_send_write32,
};

static void test_receive_malformed(void **state) {
        static const uint32_t infos[] = {
                NV_MNOC_INFO_READY | 0,              /* empty */
                NV_MNOC_INFO_READY | 18,             /* not whole dwords */
                NV_MNOC_INFO_READY | (NV_MNOC_MAX_PACKET_BYTES + 4),
                NV_MNOC_INFO_READY | NV_MNOC_INFO_SIZE_MASK,
        };
        CcTimeouts t = short_timeouts();
        uint32_t resp[FSP_MAX_RESPONSE_DWORDS];

        for (size_t i = 0; i < ELEMENTSOF(infos); i++) {
                FakeSend s = { .info = infos[i] };
                Bar0 b = { .ops = &fake_send_ops, .impl = &s };
                CcError err = CC_ERROR_INIT;
                size_t n = 0;

                assert_int_equal(fsp_mnoc_receive(&b, &t, resp, ELEMENTSOF(resp), &n, "the read of knob 8", &err),
                                 -EBADMSG);
                assert_int_equal(err.kind, CC_ERROR_HARDWARE_FAILURE);
                assert_non_null(strstr(err.message, "FSP sent a malformed message for the read of knob 8"));
                /* Nothing is read of a size no message has. */
                assert_int_equal(s.data_reads, 0);
        }

        /* A size that fits the port but not the caller's buffer. */
        {
                FakeSend s = { .info = NV_MNOC_INFO_READY | 64 };
                Bar0 b = { .ops = &fake_send_ops, .impl = &s };
                CcError err = CC_ERROR_INIT;
                size_t n = 0;

                assert_int_equal(fsp_mnoc_receive(&b, &t, resp, 8, &n, "x", &err), -EBADMSG);
                assert_int_equal(s.data_reads, 0);
        }

        /* ERR without an answer: the timeout names the error. */
        {
                FakeSend s = { .info = NV_MNOC_INFO_ERR };
                Bar0 b = { .ops = &fake_send_ops, .impl = &s };
                CcError err = CC_ERROR_INIT;
                size_t n = 0;

                assert_int_equal(fsp_mnoc_receive(&b, &t, resp, ELEMENTSOF(resp), &n, "the read of knob 8", &err),
                                 -EIO);
                assert_string_equal(err.message,
                                    "FSP mailbox error instead of the answer to the read of knob 8 (0x8f1f04 = 0x02000000)");
        }
}

static void test_injected_errors(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        CcTimeouts t = short_timeouts();
        CcError err = CC_ERROR_INIT;
        uint16_t v;

        b = open_new(f->path, GPU_ARCH_BLACKWELL, DEVICE_CC_OFF);
        set(f->path, "Inject", "MnocError", "receive");
        set(f->path, "Inject", "MnocErrorOn", "write:8");

        /* Reads of knob 8 and writes of others go through. */
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GB100, &t, NV_KNOB_CCM, &v, &err), 0);
        assert_int_equal(fsp_write_knob(b, GPU_CHIP_GB100, &t, NV_KNOB_CCD, 0, &err), 0);
        assert_int_equal(fsp_write_knob(b, GPU_CHIP_GB100, &t, NV_KNOB_CCM, 1, &err), -EIO);
        assert_int_equal(err.kind, CC_ERROR_HARDWARE_FAILURE);
        assert_string_equal(err.message, "FSP mailbox error after the write of knob 8 (0x8f1f84 = 0x03000000)");
        /* Dropped: not pending. */
        assert_ini(f->path, "Knobs", "Pending", "6:0");
        b = bar0_close(b);

        set(f->path, "Inject", "MnocError", "send");
        set(f->path, "Inject", "MnocErrorOn", "");
        assert_int_equal(gpusim_open(f->path, GPU_ARCH_BLACKWELL, &b), 0);
        cc_error_clear(&err);
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GB100, &t, NV_KNOB_CCD, &v, &err), -EIO);
        assert_non_null(strstr(err.message, "FSP mailbox error in the answer to the read of knob 6 (0x8f1f04 = 0x"));
        b = bar0_close(b);

        /* An FSP that takes no message, and one that never answers. */
        set(f->path, "Inject", "MnocError", "none");
        set(f->path, "Inject", "FspTimeout", "queue");
        assert_int_equal(gpusim_open(f->path, GPU_ARCH_BLACKWELL, &b), 0);
        cc_error_clear(&err);
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GB100, &t, NV_KNOB_CCM, &v, &err), -ETIMEDOUT);
        assert_int_equal(err.kind, CC_ERROR_TIMEOUT);
        assert_string_equal(err.message, "FSP mailbox not ready after 30 ms, before the read of knob 8");
        set(f->path, "Inject", "FspTimeout", "response");
        cc_error_clear(&err);
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GB100, &t, NV_KNOB_CCM, &v, &err), -ETIMEDOUT);
        assert_string_equal(err.message, "FSP response timeout after 30 ms for the read of knob 8");
        b = bar0_close(b);

        /* Credits that do not come back within the wait. */
        set(f->path, "Inject", "FspTimeout", "none");
        set(f->path, "Device", "CreditPolls", "1000");
        assert_int_equal(gpusim_open(f->path, GPU_ARCH_BLACKWELL, &b), 0);
        {
                uint32_t msg[20] = {};
                cc_error_clear(&err);
                assert_int_equal(fsp_mnoc_send(b, &t, msg, ELEMENTSOF(msg), "the read of knob 8", &err), -ETIMEDOUT);
                assert_string_equal(err.message,
                                    "FSP mailbox gave no credit for dword 16 after 30 ms, during the read of knob 8");
        }
}

/* An answer that comes after its request timed out is not taken for the
 * answer to the next request. */
static void test_late_answer_discarded(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = open_new(f->path, GPU_ARCH_BLACKWELL, DEVICE_CC_ON);
        CcTimeouts t = short_timeouts();
        CcError err = CC_ERROR_INIT;
        uint16_t v = 0xdead;

        set(f->path, "Device", "FspLatencyMs", "50");
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GB100, &t, NV_KNOB_CCM, &v, &err), -ETIMEDOUT);
        set(f->path, "Device", "FspLatencyMs", "0");
        t.mnoc_ready_ms = 1000;
        cc_error_clear(&err);
        /* CCD is 0, CCM's late answer says 1. */
        assert_int_equal(fsp_read_knob(b, GPU_CHIP_GB100, &t, NV_KNOB_CCD, &v, &err), 0);
        assert_int_equal(v, 0);
}

/* The PRC words a switch sends, in order, from the messages that went out
 * over the architecture's transport. */
typedef struct SequenceCase {
        GpuArch arch;
        GpuChip chip;
        const char *active;
        TargetMode mode;
        uint32_t words[24]; /* PRC word, followed by the value for writes */
        size_t n_words;
} SequenceCase;

#define RD(k) NV_PRC_WORD(NV_PRC_OP_READ, k)
#define WR(k, v) NV_PRC_WORD(NV_PRC_OP_WRITE, k), (v)

static void test_knob_sequences(void **state) {
        static const SequenceCase cases[] = {
                /* Blackwell on from off: 2 and 4 read (already 0), CCM read,
                 * its permission read, CCM written (the worked example),
                 * then CCD read.  No 10, 34 or 45. */
                { GPU_ARCH_BLACKWELL, GPU_CHIP_GB100, "2:0;4:0;6:0;8:0;10:2", TARGET_MODE_ON,
                  { RD(2), RD(4), RD(8), RD(7), WR(8, 1), RD(6) }, 7 },
                /* The same on GB202. */
                { GPU_ARCH_BLACKWELL, GPU_CHIP_GB202, "2:1;4:0;6:0;8:0;10:2", TARGET_MODE_ON,
                  { RD(2), WR(2, 0), RD(4), RD(8), RD(7), WR(8, 1), RD(6) }, 9 },
                /* Devtools: CCM then CCD, each after its permission. */
                { GPU_ARCH_BLACKWELL, GPU_CHIP_GB100, "6:0;8:0;10:2", TARGET_MODE_DEVTOOLS,
                  { RD(2), RD(4), RD(8), RD(7), WR(8, 1), RD(6), RD(5), WR(6, 1) }, 10 },
                /* Off: CCD before CCM; nothing cleared. */
                { GPU_ARCH_BLACKWELL, GPU_CHIP_GB100, "6:1;8:1;10:2", TARGET_MODE_OFF,
                  { RD(6), RD(5), WR(6, 0), RD(8), RD(7), WR(8, 0) }, 8 },
                /* Hopper on from off, over EMEM: 34 and PPCIE cleared, the
                 * decoupler set, CCM then CCD. */
                { GPU_ARCH_HOPPER, GPU_CHIP_GH100, "6:0;8:0;10:0;45:0", TARGET_MODE_ON,
                  { RD(2), RD(4), RD(34), RD(45), RD(10), RD(9), WR(10, 2), RD(8), RD(7), WR(8, 1), RD(6) }, 13 },
                { GPU_ARCH_HOPPER, GPU_CHIP_GH100, "6:0;8:0;10:0;45:1", TARGET_MODE_OFF,
                  { RD(45), RD(44), WR(45, 0), RD(10), RD(6), RD(8) }, 7 },
        };
        Fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const SequenceCase *c = &cases[i];
                _cleanup_(bar0_closep) Bar0 *inner = open_new(f->path, c->arch, DEVICE_CC_OFF);
                Recorder rec = { .inner = inner };
                Bar0 b = { .ops = &rec_ops, .impl = &rec };
                CcTimeouts t = short_timeouts();
                CcError err = CC_ERROR_INIT;
                KnobWrite plan[CC_KNOB_PLAN_MAX];
                size_t n, w = 0;

                print_message("case %zu: %s %s from %s\n", i, gpu_chip_to_string(c->chip),
                              target_mode_to_string(c->mode), c->active);
                set(f->path, "Device", "Chip", gpu_chip_to_string(c->chip));
                set(f->path, "Knobs", "Active", c->active);
                n = cc_knob_plan(c->mode, c->arch, false, plan);
                assert_int_equal(cc_apply_knobs(&b, c->chip, &t, plan, n, NULL, &err), 0);

                for (size_t m = 0; m < rec.n_msgs; m++) {
                        /* MCTP start and end, vendor-defined PRC. */
                        assert_int_equal(rec.msgs[m][0], NV_MCTP_HEADER_SOM_EOM);
                        assert_int_equal(rec.msgs[m][1], 0x1310de7e);
                        for (size_t k = 2; k < rec.msg_len[m]; k++) {
                                assert_true(w < c->n_words);
                                assert_int_equal(rec.msgs[m][k], c->words[w++]);
                        }
                }
                assert_int_equal(w, c->n_words);
                /* Each architecture talks over its own mailbox only. */
                for (size_t k = 0; k < rec.n_log; k++) {
                        uint32_t o = rec.log[k].offset;
                        bool mnoc = o >= NV_FSP_MNOC_BASE && o < NV_FSP_MNOC_BASE + 0x200;
                        bool emem = o >= NV_FSP_EMEM_CTRL && o <= NV_FSP_MSG_QUEUE_TAIL;
                        assert_false(c->arch == GPU_ARCH_BLACKWELL ? emem : mnoc);
                }
        }
}

#undef RD
#undef WR

/* A permission knob at 0: the write is not tried, and the error says the
 * mode can only be set out of band.  Firmware that does not know the
 * permission knob imposes none. */
static void test_allow_inband(void **state) {
        Fixture *f = *state;
        _cleanup_(bar0_closep) Bar0 *b = open_new(f->path, GPU_ARCH_BLACKWELL, DEVICE_CC_OFF);
        CcTimeouts t = short_timeouts();
        CcError err = CC_ERROR_INIT;
        KnobWrite plan[CC_KNOB_PLAN_MAX];
        unsigned writes = 99;
        size_t n;

        set(f->path, "Inject", "InbandDenied", "true");
        n = cc_knob_plan(TARGET_MODE_ON, GPU_ARCH_BLACKWELL, false, plan);
        assert_int_equal(cc_apply_knobs(b, GPU_CHIP_GB100, &t, plan, n, &writes, &err), -EPERM);
        assert_int_equal(err.kind, CC_ERROR_NOT_CAPABLE);
        assert_string_equal(err.message,
                            "the mode can only be set out of band on this GPU (through its BMC): CCM_ALLOW_INB "
                            "(knob 7) is 0, so the firmware refuses in-band writes of CCM (knob 8)");
        assert_int_equal(writes, 0);
        assert_ini(f->path, "Knobs", "Pending", "");

        /* The simulated firmware refuses the write itself too. */
        cc_error_clear(&err);
        assert_int_equal(fsp_write_knob(b, GPU_CHIP_GB100, &t, NV_KNOB_CCM, 1, &err), -EIO);
        assert_non_null(strstr(err.message, "FSP refused writing knob 8"));

        /* Older firmware without permission knobs. */
        set(f->path, "Inject", "InbandDenied", "false");
        set(f->path, "Inject", "UnknownKnob", "5,7,9,44");
        cc_error_clear(&err);
        assert_int_equal(cc_apply_knobs(b, GPU_CHIP_GB100, &t, plan, n, &writes, &err), 0);
        assert_int_equal(writes, 1);
        assert_ini(f->path, "Knobs", "Pending", "8:1");
}

static void test_transport_choice(void **state) {
        assert_ptr_equal(fsp_transport_for(GPU_CHIP_GH100), &fsp_transport_emem);
        assert_ptr_equal(fsp_transport_for(GPU_CHIP_LS10), &fsp_transport_emem);
        for (GpuChip c = GPU_CHIP_GB100; c < _GPU_CHIP_MAX; c++)
                assert_ptr_equal(fsp_transport_for(c), &fsp_transport_mnoc);
        assert_null(fsp_transport_for(GPU_CHIP_OTHER));

        /* The mailbox registers of port 0. */
        assert_int_equal(NV_FSP_MNOC_SEND_INFO, 0x8f1f04);
        assert_int_equal(NV_FSP_MNOC_SEND_DATA, 0x8f1f08);
        assert_int_equal(NV_FSP_MNOC_RECV_INFO, 0x8f1f84);
        assert_int_equal(NV_FSP_MNOC_RECV_DATA, 0x8f1f88);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_transport_choice),
                cmocka_unit_test_setup_teardown(test_worked_example, setup, teardown),
                cmocka_unit_test_setup_teardown(test_send_steps_and_credits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mailbox_strict, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reply_across_credit_boundary, setup, teardown),
                cmocka_unit_test(test_receive_malformed),
                cmocka_unit_test_setup_teardown(test_injected_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_late_answer_discarded, setup, teardown),
                cmocka_unit_test_setup_teardown(test_knob_sequences, setup, teardown),
                cmocka_unit_test_setup_teardown(test_allow_inband, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
