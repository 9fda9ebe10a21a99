/* SPDX-License-Identifier: MIT */

/* The MNOC transport of FSP RPC (Blackwell): port 0 of the FSP's MNOC
 * mailboxes at 0x8f1e00, as gpu-admin-tools talks to Blackwell since
 * v2024.07.29 (docs/hardware.md).
 *
 * Two one-way mailboxes, named from the FSP's side.  The host writes a
 * message into the FSP's receive mailbox: it waits for RECEIVE_READY,
 * announces the size with TRIGGER, then writes the dwords through the data
 * register; the FSP takes them in 64-byte chunks and grants a credit for
 * each, so the host waits for CREDIT_AVAILABLE before dwords 0, 16, 32...
 * The answer comes in the send mailbox: MESSAGE_READY with the size, then
 * the dwords through its data register; reading the last one consumes it
 * (there is no acknowledge).  ERR in either info register means the FSP
 * dropped the message. */

#include <assert.h>
#include <time.h>

#include "fsp-transport.h"
#include "log.h"
#include "nv-regs.h"
#include "time-util.h"

/* Polls an info register until one of mask's bits is set.  Returns 1 with
 * *ret the value that had it, 0 on the deadline (*ret the last value read),
 * or a negative errno when the device went away. */
static int poll_info(Bar0 *b, uint32_t reg, uint32_t mask, unsigned timeout_ms, unsigned poll_us, uint32_t *ret,
                     CcError *err) {
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + (uint64_t) timeout_ms * 1000u;
        int r;

        for (;;) {
                uint32_t v = bar0_read32(b, reg);

                *ret = v;
                /* All ones has every bit: it says nothing of the mailbox. */
                if (v == UINT32_MAX) {
                        r = cc_check_alive(b, err);
                        if (r < 0)
                                return r;
                } else if (v & mask)
                        return 1;
                if (now_usec(CLOCK_MONOTONIC) >= deadline)
                        return 0;
                sleep_usec(poll_us);
        }
}

/* The size an info register announces, when it is one a message can have. */
static bool size_valid(uint32_t info, size_t resp_max) {
        uint32_t size = info & NV_MNOC_INFO_SIZE_MASK;

        return size > 0 && size % 4 == 0 && size <= NV_MNOC_MAX_PACKET_BYTES && size / 4 <= resp_max;
}

/* An answer left over from a request that timed out must not be taken for
 * the answer to the next one, and the FSP need not take a new message while
 * one waits to be read.  Called once the FSP is ready: an answer it was
 * still working on is there by then. */
static void mnoc_discard_stale_message(Bar0 *b) {
        uint32_t info = bar0_read32(b, NV_FSP_MNOC_SEND_INFO);
        size_t n;

        if (info == UINT32_MAX || !(info & NV_MNOC_INFO_READY) || !size_valid(info, FSP_MAX_RESPONSE_DWORDS))
                return;
        n = (info & NV_MNOC_INFO_SIZE_MASK) / 4;
        log_debug("Discarding a stale FSP message of %zu bytes", n * 4);
        for (size_t i = 0; i < n; i++)
                (void) bar0_read32(b, NV_FSP_MNOC_SEND_DATA);
}

static int mailbox_error(CcError *err, const char *when, const char *what, uint32_t reg, uint32_t info) {
        return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, EIO, "FSP mailbox error %s %s (0x%06x = 0x%08x)",
                            when, what, reg, info);
}

int fsp_mnoc_send(Bar0 *b, const CcTimeouts *t, const uint32_t *msg, size_t n, const char *what, CcError *err) {
        uint32_t info;
        char buf[32];
        int r;

        assert(b);
        assert(t);
        assert(msg);
        assert(what);

        if (n == 0 || n * 4 > NV_MNOC_MAX_PACKET_BYTES)
                return cc_error_set(err, CC_ERROR_INTERNAL, EMSGSIZE, "a %zu-byte message does not fit the FSP mailbox",
                                    n * 4);

        info = bar0_read32(b, NV_FSP_MNOC_RECV_INFO);
        if (info == UINT32_MAX) {
                r = cc_check_alive(b, err);
                if (r < 0)
                        return r;
        }
        if (info & NV_MNOC_INFO_ERR)
                return mailbox_error(err, "before", what, NV_FSP_MNOC_RECV_INFO, info);

        r = poll_info(b, NV_FSP_MNOC_RECV_INFO, NV_MNOC_INFO_READY, t->mnoc_ready_ms, t->mnoc_poll_us, &info, err);
        if (r < 0)
                return r;
        if (r == 0) {
                r = cc_check_alive(b, err);
                if (r < 0)
                        return r;
                return cc_error_set(err, CC_ERROR_TIMEOUT, ETIMEDOUT, "FSP mailbox not ready after %s, before %s",
                                    format_timeout_ms(buf, t->mnoc_ready_ms), what);
        }
        mnoc_discard_stale_message(b);

        bar0_write32(b, NV_FSP_MNOC_RECV_INFO, (uint32_t) (n * 4) | NV_MNOC_INFO_TRIGGER);
        for (size_t i = 0; i < n; i++) {
                /* The FSP grants one credit per 64 bytes it can take. */
                if (i % NV_MNOC_CREDIT_DWORDS == 0) {
                        r = poll_info(b, NV_FSP_MNOC_RECV_INFO, NV_MNOC_INFO_CREDIT, t->mnoc_credit_ms,
                                      t->mnoc_poll_us, &info, err);
                        if (r < 0)
                                return r;
                        if (r == 0) {
                                if (info & NV_MNOC_INFO_ERR)
                                        return mailbox_error(err, "during", what, NV_FSP_MNOC_RECV_INFO, info);
                                return cc_error_set(err, CC_ERROR_TIMEOUT, ETIMEDOUT,
                                                    "FSP mailbox gave no credit for dword %zu after %s, during %s",
                                                    i, format_timeout_ms(buf, t->mnoc_credit_ms), what);
                        }
                }
                bar0_write32(b, NV_FSP_MNOC_RECV_DATA, msg[i]);
        }

        info = bar0_read32(b, NV_FSP_MNOC_RECV_INFO);
        if (info == UINT32_MAX) {
                r = cc_check_alive(b, err);
                if (r < 0)
                        return r;
        }
        if (info & NV_MNOC_INFO_ERR)
                return mailbox_error(err, "after", what, NV_FSP_MNOC_RECV_INFO, info);
        return 0;
}

int fsp_mnoc_receive(Bar0 *b, const CcTimeouts *t, uint32_t *resp, size_t resp_max, size_t *ret_n,
                     const char *what, CcError *err) {
        uint32_t info;
        size_t n;
        char buf[32];
        int r;

        assert(b);
        assert(t);
        assert(resp);
        assert(ret_n);
        assert(what);

        r = poll_info(b, NV_FSP_MNOC_SEND_INFO, NV_MNOC_INFO_READY, t->response_ms, t->mnoc_poll_us, &info, err);
        if (r < 0)
                return r;
        if (r == 0) {
                r = cc_check_alive(b, err);
                if (r < 0)
                        return r;
                /* The FSP clears ERR when it sends an answer, so it only
                 * tells something when none came. */
                if (info & NV_MNOC_INFO_ERR)
                        return mailbox_error(err, "instead of the answer to", what, NV_FSP_MNOC_SEND_INFO, info);
                return cc_error_set(err, CC_ERROR_TIMEOUT, ETIMEDOUT, "FSP response timeout after %s for %s",
                                    format_timeout_ms(buf, t->response_ms), what);
        }

        /* Nothing is read of a size no message can have: reading a wrong
         * count would leave the mailbox half drained, or take 2^18 reads. */
        if (!size_valid(info, resp_max))
                return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, EBADMSG,
                                    "FSP sent a malformed message for %s (0x%06x = 0x%08x)",
                                    what, NV_FSP_MNOC_SEND_INFO, info);

        n = (info & NV_MNOC_INFO_SIZE_MASK) / 4;
        for (size_t i = 0; i < n; i++)
                resp[i] = bar0_read32(b, NV_FSP_MNOC_SEND_DATA);

        info = bar0_read32(b, NV_FSP_MNOC_SEND_INFO);
        if (info == UINT32_MAX) {
                r = cc_check_alive(b, err);
                if (r < 0)
                        return r;
        }
        if (info & NV_MNOC_INFO_ERR)
                return mailbox_error(err, "in the answer to", what, NV_FSP_MNOC_SEND_INFO, info);

        *ret_n = n;
        return 0;
}

static int mnoc_exchange(Bar0 *b, const CcTimeouts *t, const uint32_t *req, size_t n,
                         uint32_t *resp, size_t resp_max, size_t *ret_n, const char *what, CcError *err) {
        int r;

        r = fsp_mnoc_send(b, t, req, n, what, err);
        if (r < 0)
                return r;
        return fsp_mnoc_receive(b, t, resp, resp_max, ret_n, what, err);
}

const FspTransport fsp_transport_mnoc = {
        .name = "MNOC port 0",
        .exchange = mnoc_exchange,
};
