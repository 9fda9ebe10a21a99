/* SPDX-License-Identifier: MIT */

/* PRC knob access through the FSP firmware: MCTP/NVDM messages over EMEM
 * channel 2 and the command/message queues (docs/hardware.md). */

#include <assert.h>
#include <time.h>

#include "cc-hw.h"
#include "log.h"
#include "nv-regs.h"
#include "time-util.h"

#define FSP_MAX_DWORDS 16

static int fsp_wait_cmd_queue_empty(Bar0 *b, const CcTimeouts *t, CcError *err) {
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + (uint64_t) t->queue_empty_ms * 1000u;
        char buf[32];
        int r;

        for (;;) {
                if (bar0_read32(b, NV_FSP_CMD_QUEUE_HEAD) == bar0_read32(b, NV_FSP_CMD_QUEUE_TAIL))
                        return 0;
                if (now_usec(CLOCK_MONOTONIC) >= deadline)
                        break;
                sleep_usec(t->queue_poll_us);
        }

        r = cc_check_alive(b, err);
        if (r < 0)
                return r;
        return cc_error_set(err, CC_ERROR_TIMEOUT, ETIMEDOUT, "FSP command queue busy after %s",
                            format_timeout_ms(buf, t->queue_empty_ms));
}

/* An answer left over from a request that timed out must not be taken for
 * the answer to the next one. */
static void fsp_discard_stale_message(Bar0 *b) {
        uint32_t head = bar0_read32(b, NV_FSP_MSG_QUEUE_HEAD);

        if (head == bar0_read32(b, NV_FSP_MSG_QUEUE_TAIL))
                return;
        log_debug("Discarding a stale FSP message");
        bar0_write32(b, NV_FSP_MSG_QUEUE_TAIL, head);
}

static void fsp_send(Bar0 *b, const uint32_t *msg, size_t n) {
        bar0_write32(b, NV_FSP_EMEM_CTRL,
                     NV_FSP_EMEM_CHANNEL_BASE | NV_FSP_EMEM_CTRL_AINCW | NV_FSP_EMEM_CTRL_AINCR);
        for (size_t i = 0; i < n; i++)
                bar0_write32(b, NV_FSP_EMEM_DATA, msg[i]);

        /* The tail write tells the FSP a command is there. */
        bar0_write32(b, NV_FSP_CMD_QUEUE_HEAD, NV_FSP_EMEM_CHANNEL_BASE);
        bar0_write32(b, NV_FSP_CMD_QUEUE_TAIL, NV_FSP_EMEM_CHANNEL_BASE + (uint32_t) (n - 1) * 4);
}

static int fsp_receive(Bar0 *b, const CcTimeouts *t, uint32_t resp[FSP_MAX_DWORDS], size_t *ret_n, CcError *err) {
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + (uint64_t) t->response_ms * 1000u;
        uint32_t head, tail;
        size_t n;
        char buf[32];
        int r;

        for (;;) {
                head = bar0_read32(b, NV_FSP_MSG_QUEUE_HEAD);
                tail = bar0_read32(b, NV_FSP_MSG_QUEUE_TAIL);
                if (head == NV_PMC_BOOT_0_OFF_BUS) {
                        r = cc_check_alive(b, err);
                        if (r < 0)
                                return r;
                }
                if (head != tail)
                        break;
                if (now_usec(CLOCK_MONOTONIC) >= deadline) {
                        r = cc_check_alive(b, err);
                        if (r < 0)
                                return r;
                        return cc_error_set(err, CC_ERROR_TIMEOUT, ETIMEDOUT, "FSP response timeout after %s",
                                            format_timeout_ms(buf, t->response_ms));
                }
                sleep_usec((uint64_t) t->response_poll_ms * 1000u);
        }

        if (tail < head || (tail - head) % 4 != 0 || (tail - head) / 4 + 1 > FSP_MAX_DWORDS) {
                bar0_write32(b, NV_FSP_MSG_QUEUE_TAIL, head);
                return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, EBADMSG,
                                    "FSP sent a malformed message (queue head 0x%x, tail 0x%x)", head, tail);
        }

        n = (tail - head) / 4 + 1;
        bar0_write32(b, NV_FSP_EMEM_CTRL, head | NV_FSP_EMEM_CTRL_AINCW | NV_FSP_EMEM_CTRL_AINCR);
        for (size_t i = 0; i < n; i++)
                resp[i] = bar0_read32(b, NV_FSP_EMEM_DATA);

        /* Hands the message queue back to the FSP. */
        bar0_write32(b, NV_FSP_MSG_QUEUE_TAIL, head);

        *ret_n = n;
        return 0;
}

/* One PRC request: a read when value is NULL, else a write. */
static int fsp_prc(Bar0 *b, const CcTimeouts *t, uint8_t knob, const uint16_t *value, uint16_t *ret, CcError *err) {
        CcTimeouts defaults = cc_timeouts_default(GPU_ARCH_HOPPER);
        uint32_t req[4], resp[FSP_MAX_DWORDS];
        size_t n = 0, rn = 0;
        int r;

        assert(b);

        if (!t)
                t = &defaults;

        req[n++] = NV_MCTP_HEADER_SOM_EOM;
        req[n++] = NV_MCTP_VENDOR_HEADER(NV_NVDM_TYPE_PRC);
        req[n++] = NV_PRC_WORD(value ? NV_PRC_OP_WRITE : NV_PRC_OP_READ, knob);
        if (value)
                req[n++] = *value;

        r = cc_check_alive(b, err);
        if (r < 0)
                return r;
        r = fsp_wait_cmd_queue_empty(b, t, err);
        if (r < 0)
                return r;
        fsp_discard_stale_message(b);
        fsp_send(b, req, n);
        r = fsp_receive(b, t, resp, &rn, err);
        if (r < 0)
                return r;

        if (rn < 5 || (resp[1] >> 24) != NV_NVDM_TYPE_RESPONSE)
                return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, EBADMSG,
                                    "FSP answered knob %u with an unexpected message (%zu dwords, NVDM type 0x%x)",
                                    knob, rn, rn >= 2 ? resp[1] >> 24 : 0);
        if (resp[3] != NV_NVDM_TYPE_PRC)
                return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, EBADMSG,
                                    "FSP answered knob %u for NVDM type 0x%x instead of PRC", knob, resp[3]);
        if (resp[4] == NV_PRC_STATUS_UNKNOWN_KNOB)
                return cc_error_set(err, CC_ERROR_NOT_CAPABLE, EOPNOTSUPP, "firmware does not know knob %u", knob);
        if (resp[4] != NV_PRC_STATUS_OK)
                return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, EIO,
                                    "FSP refused %s knob %u (status 0x%x)", value ? "writing" : "reading", knob, resp[4]);

        if (!value) {
                if (rn < 6)
                        return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, EBADMSG,
                                            "FSP answered reading knob %u without a value", knob);
                *ret = resp[5] & 0xffff;
        }
        return 0;
}

int fsp_read_knob(Bar0 *b, const CcTimeouts *t, uint8_t knob, uint16_t *ret, CcError *err) {
        assert(ret);

        return fsp_prc(b, t, knob, NULL, ret, err);
}

int fsp_write_knob(Bar0 *b, const CcTimeouts *t, uint8_t knob, uint16_t value, CcError *err) {
        return fsp_prc(b, t, knob, &value, NULL, err);
}
