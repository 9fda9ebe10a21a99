/* SPDX-License-Identifier: MIT */
#pragma once

/* The simulator's persistent state: what the key file of gpusim.h says, and
 * what the register model (gpusim.c) reads of it.  Private to sim/. */

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "cc-hw.h"

#define SIM_N_KNOBS             256
#define SIM_DEFAULT_BOOT_MS     1500u

typedef enum SimFspTimeout {
        SIM_FSP_TIMEOUT_NONE,
        SIM_FSP_TIMEOUT_QUEUE,    /* the command queue never drains */
        SIM_FSP_TIMEOUT_RESPONSE, /* commands are taken but never answered */
} SimFspTimeout;

/* Where the simulated MNOC mailbox reports an error (gpusim-mnoc.c). */
typedef enum SimMnocError {
        SIM_MNOC_ERROR_NONE,
        SIM_MNOC_ERROR_RECEIVE, /* ERR in the receive mailbox once the message is in; no answer */
        SIM_MNOC_ERROR_SEND,    /* the answer comes with ERR in the send mailbox */
} SimMnocError;

typedef struct KnobSet {
        bool set[SIM_N_KNOBS];
        uint16_t value[SIM_N_KNOBS];
} KnobSet;

/* What the state file says. */
typedef struct SimState {
        GpuArch arch;
        unsigned boot_ms;
        unsigned fsp_latency_ms;
        uint64_t reset_at_us;
        KnobSet active;
        KnobSet pending; /* written since the last reset; overlays active */
        uint32_t reset_marker;
        uint32_t sbr_marker;
        unsigned slow_boot_ms;
        SimFspTimeout fsp_timeout;
        bool unknown_knob[SIM_N_KNOBS];
        bool stuck_invalid;
        bool off_bus;
        bool security_fault;

        /* Blackwell (gpusim-chip.c, gpusim-mnoc.c). */
        GpuChip chip;              /* [Device] Chip; the architecture's default when absent */
        unsigned firewall_ms;      /* [Device] FirewallMs: BAR firewall up this long after a reset */
        bool nvle;                 /* [Device] NvlinkEncryption: 0x590 bit 6 */
        bool firewall_stuck;       /* [Inject] FirewallStuck */
        bool inband_denied;        /* [Inject] InbandDenied: every _ALLOW_INB knob reads 0 */
        bool recovery_mode;        /* [Inject] RecoveryMode */
        SimMnocError mnoc_error;   /* [Inject] MnocError=none|receive|send */
        int mnoc_error_op;         /* [Inject] MnocErrorOn=read:N|write:N: -1 any, else NV_PRC_OP_* */
        int mnoc_error_knob;       /*   -1 any knob */
        unsigned reply_pad_dwords; /* [Inject] ReplyPadDwords: dwords added to every MNOC answer */
        unsigned credit_polls;     /* [Device] CreditPolls: info reads before a spent credit returns (1) */
} SimState;

typedef void (*SimStateChange)(SimState *st, uint32_t a, uint32_t b);

/* Reads the state file; fallback_arch stands in for a missing Model. */
int sim_state_load(const char *path, GpuArch fallback_arch, SimState *ret);

/* Applies change(st, a, b) to the state file and saves it; *ret is the new
 * state, left as it is on failure. */
int sim_state_update(const char *path, GpuArch fallback_arch, SimStateChange change, uint32_t a, uint32_t b, SimState *ret);

/* The value a PRC read returns: pending over active. */
uint16_t sim_state_knob_persistent(const SimState *st, uint8_t knob);

/* Whether boot has completed at now (CLOCK_REALTIME µs). */
bool sim_booted(const SimState *st, uint64_t now);

/* NV_CC_STATUS_* as the status registers show it (active knobs only). */
uint32_t sim_cc_mode(const SimState *st);

bool sim_ppcie(const SimState *st);

/* Parses the Blackwell keys of the state file (gpusim-chip.c). */
int sim_state_parse_chip(GKeyFile *kf, SimState *st);

/* The firmware's view of a knob for a PRC read, and whether it refuses an
 * in-band write of it (its _ALLOW_INB knob reads 0). */
uint16_t sim_knob_read(const SimState *st, uint8_t knob);
bool sim_knob_write_refused(const SimState *st, uint8_t knob);
