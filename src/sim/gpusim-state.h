/* SPDX-License-Identifier: MIT */
#pragma once

/* The simulator's persistent state: what the key file of gpusim.h says, and
 * what the register model (gpusim.c) reads of it.  Private to sim/. */

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
