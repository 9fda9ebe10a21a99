/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "gpusim-mnoc.h"

void sim_mnoc_forget(SimMnoc *m) {
        memset(m, 0, sizeof(*m));
}

/* Whether [Inject] MnocErrorOn picks this request. */
static bool error_applies(const SimState *st, const uint32_t *req, size_t n) {
        uint32_t word = n >= 3 ? req[2] : 0;

        if (st->mnoc_error_op >= 0 && (int) (word & 0xff) != st->mnoc_error_op)
                return false;
        if (st->mnoc_error_knob >= 0 && (int) ((word >> 16) & 0xff) != st->mnoc_error_knob)
                return false;
        return true;
}

/* The whole message is in: the FSP takes it. */
static void take_message(SimMnoc *m, const SimState *st, uint64_t now, SimFspServe serve, void *userdata) {
        size_t n = m->rx_size / 4;
        uint32_t resp[6];
        size_t rn;

        m->rx_size = 0;
        m->credit = false;

        if (st->mnoc_error != SIM_MNOC_ERROR_NONE && error_applies(st, m->rx, n)) {
                if (st->mnoc_error == SIM_MNOC_ERROR_RECEIVE) {
                        m->rx_err = true; /* dropped, never answered */
                        return;
                }
                m->answer_err = true;
        }
        if (st->fsp_timeout == SIM_FSP_TIMEOUT_RESPONSE)
                return; /* taken, never answered */

        rn = serve(userdata, m->rx, n, resp);
        memcpy(m->tx, resp, rn * 4);
        /* A longer answer, as future firmware may send. */
        memset(m->tx + rn, 0, (size_t) st->reply_pad_dwords * 4);
        m->tx_n = rn + st->reply_pad_dwords;
        m->tx_pos = 0;
        m->busy = true;
        m->answer_at = now + (uint64_t) st->fsp_latency_ms * 1000u;
}

/* Publishes an answer once the FSP's latency has passed. */
static void step(SimMnoc *m, uint64_t now) {
        if (!m->busy || now < m->answer_at)
                return;
        m->busy = false;
        m->tx_ready = true;
        m->tx_err = m->answer_err;
        m->answer_err = false;
}

static bool receive_ready(const SimMnoc *m, const SimState *st, uint64_t now) {
        return sim_booted(st, now) && st->fsp_timeout != SIM_FSP_TIMEOUT_QUEUE && !m->busy && m->rx_size == 0;
}

static uint32_t recv_info(SimMnoc *m, const SimState *st, uint64_t now) {
        uint32_t v = m->rx_size;

        /* A spent credit comes back only to a host that polls for it. */
        if (m->rx_size > 0 && !m->credit) {
                if (m->credit_wait == 0)
                        m->credit = true;
                else
                        m->credit_wait--;
        }
        if (receive_ready(m, st, now))
                v |= NV_MNOC_INFO_READY;
        if (m->rx_err)
                v |= NV_MNOC_INFO_ERR;
        if (m->rx_size > 0 && m->credit)
                v |= NV_MNOC_INFO_CREDIT;
        return v;
}

bool sim_mnoc_read(SimMnoc *m, const SimState *st, uint64_t now, uint32_t offset, uint32_t *ret) {
        assert(m);

        if (st->arch != GPU_ARCH_BLACKWELL)
                return false;
        step(m, now);

        switch (offset) {
        case NV_FSP_MNOC_RECV_INFO:
                *ret = recv_info(m, st, now);
                return true;
        case NV_FSP_MNOC_RECV_DATA:
                *ret = 0; /* write-only */
                return true;
        case NV_FSP_MNOC_SEND_INFO:
                *ret = (m->tx_ready ? NV_MNOC_INFO_READY | (uint32_t) (m->tx_n * 4) : 0) |
                       (m->tx_err ? NV_MNOC_INFO_ERR : 0);
                return true;
        case NV_FSP_MNOC_SEND_DATA:
                if (!m->tx_ready) {
                        /* Reading with nothing to read is an error the FSP keeps. */
                        m->tx_err = true;
                        *ret = 0;
                        return true;
                }
                *ret = m->tx[m->tx_pos++];
                /* The last dword consumes the message: no acknowledge. */
                if (m->tx_pos == m->tx_n)
                        m->tx_ready = false;
                return true;
        default:
                return false;
        }
}

static void start_message(SimMnoc *m, const SimState *st, uint64_t now, uint32_t value) {
        uint32_t size = value & NV_MNOC_INFO_SIZE_MASK;

        /* TRIGGER only while ready, with an answer left unread or a size
         * no packet has, is refused. */
        if (!(value & NV_MNOC_INFO_TRIGGER) || !receive_ready(m, st, now) || m->tx_ready ||
            size == 0 || size % 4 != 0 || size > NV_MNOC_MAX_PACKET_BYTES) {
                m->rx_err = true;
                return;
        }
        m->rx_err = false;
        m->tx_err = false;
        m->rx_size = size;
        m->rx_got = 0;
        m->credit = true;
        m->credit_wait = 0;
}

static void write_data(SimMnoc *m, const SimState *st, uint64_t now, uint32_t value, SimFspServe serve,
                       void *userdata) {
        /* Data without a message, or past a spent credit, is dropped. */
        if (m->rx_size == 0 || !m->credit) {
                m->rx_err = true;
                m->rx_size = 0;
                return;
        }
        m->rx[m->rx_got++] = value;
        if (m->rx_got * 4 == m->rx_size) {
                take_message(m, st, now, serve, userdata);
                return;
        }
        if (m->rx_got % NV_MNOC_CREDIT_DWORDS == 0) {
                m->credit = false;
                m->credit_wait = st->credit_polls;
        }
}

bool sim_mnoc_write(SimMnoc *m, const SimState *st, uint64_t now, uint32_t offset, uint32_t value,
                    SimFspServe serve, void *userdata) {
        assert(m);

        if (st->arch != GPU_ARCH_BLACKWELL)
                return false;
        step(m, now);

        switch (offset) {
        case NV_FSP_MNOC_RECV_INFO:
                start_message(m, st, now, value);
                return true;
        case NV_FSP_MNOC_RECV_DATA:
                write_data(m, st, now, value, serve, userdata);
                return true;
        case NV_FSP_MNOC_SEND_INFO:
        case NV_FSP_MNOC_SEND_DATA:
                return true; /* read-only */
        default:
                return false;
        }
}
