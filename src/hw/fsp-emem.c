/* SPDX-License-Identifier: MIT */

/* The EMEM transport of FSP RPC (Hopper, LS10): messages through EMEM
 * channel 2 and the command/message queues (docs/hardware.md).
 *
 * The host owns the command queue while it is empty (head == tail): it
 * writes the request into the channel's EMEM area through the auto-
 * incrementing data port, then publishes it by setting head and tail; the
 * tail write is the doorbell.  The FSP answers in the same area and
 * publishes through the message queue; the host reads the answer and hands
 * the queue back by writing tail = head.  Nothing else synchronises the two
 * sides, so every wait is a bounded poll. */

#include <assert.h>
#include <time.h>

#include "fsp-transport.h"
#include "log.h"
#include "nv-regs.h"
#include "time-util.h"

static int emem_wait_cmd_queue_empty(Bar0 *b, const CcTimeouts *t, const char *what, CcError *err) {
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
        return cc_error_set(err, CC_ERROR_TIMEOUT, ETIMEDOUT, "FSP command queue busy after %s, before %s",
                            format_timeout_ms(buf, t->queue_empty_ms), what);
}

/* An answer left over from a request that timed out must not be taken for
 * the answer to the next one. */
static void emem_discard_stale_message(Bar0 *b) {
        uint32_t head = bar0_read32(b, NV_FSP_MSG_QUEUE_HEAD);

        if (head == bar0_read32(b, NV_FSP_MSG_QUEUE_TAIL))
                return;
        log_debug("Discarding a stale FSP message");
        bar0_write32(b, NV_FSP_MSG_QUEUE_TAIL, head);
}

static void emem_send(Bar0 *b, const uint32_t *msg, size_t n) {
        bar0_write32(b, NV_FSP_EMEM_CTRL,
                     NV_FSP_EMEM_CHANNEL_BASE | NV_FSP_EMEM_CTRL_AINCW | NV_FSP_EMEM_CTRL_AINCR);
        for (size_t i = 0; i < n; i++)
                bar0_write32(b, NV_FSP_EMEM_DATA, msg[i]);

        /* The tail write tells the FSP a command is there. */
        bar0_write32(b, NV_FSP_CMD_QUEUE_HEAD, NV_FSP_EMEM_CHANNEL_BASE);
        bar0_write32(b, NV_FSP_CMD_QUEUE_TAIL, NV_FSP_EMEM_CHANNEL_BASE + (uint32_t) (n - 1) * 4);
}

static int emem_receive(Bar0 *b, const CcTimeouts *t, uint32_t *resp, size_t resp_max, size_t *ret_n,
                        const char *what, CcError *err) {
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
                        return cc_error_set(err, CC_ERROR_TIMEOUT, ETIMEDOUT, "FSP response timeout after %s for %s",
                                            format_timeout_ms(buf, t->response_ms), what);
                }
                sleep_usec((uint64_t) t->response_poll_ms * 1000u);
        }

        if (tail < head || (tail - head) % 4 != 0 || (tail - head) / 4 + 1 > resp_max) {
                bar0_write32(b, NV_FSP_MSG_QUEUE_TAIL, head);
                return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, EBADMSG,
                                    "FSP sent a malformed message for %s (queue head 0x%x, tail 0x%x)", what, head, tail);
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

static int emem_exchange(Bar0 *b, const CcTimeouts *t, const uint32_t *req, size_t n,
                         uint32_t *resp, size_t resp_max, size_t *ret_n, const char *what, CcError *err) {
        int r;

        assert(b);
        assert(t);
        assert(req && n > 0);

        r = emem_wait_cmd_queue_empty(b, t, what, err);
        if (r < 0)
                return r;
        emem_discard_stale_message(b);
        emem_send(b, req, n);
        return emem_receive(b, t, resp, resp_max, ret_n, what, err);
}

const FspTransport fsp_transport_emem = {
        .name = "EMEM channel 2",
        .exchange = emem_exchange,
};
