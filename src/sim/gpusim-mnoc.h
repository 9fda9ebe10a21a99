/* SPDX-License-Identifier: MIT */
#pragma once

/* The simulated FSP MNOC mailbox, port 0 (docs/hardware.md): both
 * mailboxes, the size limit, credits per 64 bytes, ERR, and the faults of
 * [Inject] MnocError.  Like EMEM it lives in the open BAR0, as on the
 * device, and is forgotten on a reset.  Private to the simulator. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gpusim-state.h"
#include "nv-regs.h"

#define SIM_MNOC_MAX_DWORDS (NV_MNOC_MAX_PACKET_BYTES / 4)

typedef struct SimMnoc {
        /* Receive mailbox: host -> FSP. */
        uint32_t rx[SIM_MNOC_MAX_DWORDS];
        uint32_t rx_size;        /* bytes announced by TRIGGER; 0: no message */
        uint32_t rx_got;         /* dwords written so far */
        bool rx_err;
        bool credit;
        unsigned credit_wait;    /* info reads left before a spent credit returns */

        /* The FSP working on a message. */
        bool busy;
        uint64_t answer_at;      /* CLOCK_REALTIME µs */
        bool answer_err;

        /* Send mailbox: FSP -> host. */
        uint32_t tx[SIM_MNOC_MAX_DWORDS];
        size_t tx_n, tx_pos;
        bool tx_ready;
        bool tx_err;
} SimMnoc;

/* Serves one request (the PRC model of gpusim.c); returns the answer's
 * length in dwords (at most 6). */
typedef size_t (*SimFspServe)(void *userdata, const uint32_t *req, size_t n, uint32_t resp[6]);

void sim_mnoc_forget(SimMnoc *m);

/* Registers of the mailbox; false for other offsets. */
bool sim_mnoc_read(SimMnoc *m, const SimState *st, uint64_t now, uint32_t offset, uint32_t *ret);
bool sim_mnoc_write(SimMnoc *m, const SimState *st, uint64_t now, uint32_t offset, uint32_t value,
                    SimFspServe serve, void *userdata);
