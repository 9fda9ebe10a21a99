/* SPDX-License-Identifier: MIT */
#pragma once

/* Querying and setting the confidential-computing mode of one device through
 * its BAR0: boot wait, status decode, FSP RPC knob access, and the knob plan
 * for each mode.  Everything here blocks (it polls hardware) and runs on a
 * worker thread, never on the event loop. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bar0.h"
#include "cc-chip.h"
#include "cc-error.h"

typedef enum DeviceCcMode {
        DEVICE_CC_OFF,
        DEVICE_CC_ON,
        DEVICE_CC_DEVTOOLS,
        DEVICE_CC_INVALID, /* status 2: a half-done switch */
        DEVICE_CC_UNKNOWN, /* not queried, not booted, or not capable */
} DeviceCcMode;

/* The modes a caller can ask for. */
typedef enum TargetMode {
        TARGET_MODE_OFF,
        TARGET_MODE_ON,
        TARGET_MODE_DEVTOOLS,
        TARGET_MODE_PPCIE,
        _TARGET_MODE_MAX,
        TARGET_MODE_INVALID = -1,
} TargetMode;

const char *device_cc_mode_to_string(DeviceCcMode m); /* "on" "off" "devtools" "invalid" "unknown" */
const char *target_mode_to_string(TargetMode m);
TargetMode target_mode_from_string(const char *s); /* exact match only, else TARGET_MODE_INVALID */
const char *gpu_arch_to_string(GpuArch a);         /* "hopper" "blackwell" "other"; NVSwitch reads "hopper" (LS10 is of that generation) */

/* A zero timeout makes its loop a single look. */
typedef struct CcTimeouts {
        unsigned boot_ms;          /* 5000 Hopper, 10000 Blackwell */
        unsigned boot_poll_ms;     /* 10 */
        unsigned queue_empty_ms;   /* 1000 (EMEM command queue) */
        unsigned queue_poll_us;    /* 1000 */
        unsigned response_ms;      /* 5000 (EMEM message queue, MNOC MESSAGE_READY) */
        unsigned response_poll_ms; /* 10 (EMEM) */
        unsigned mnoc_ready_ms;    /* 5000 (MNOC RECEIVE_READY) */
        unsigned mnoc_credit_ms;   /* 1000 (MNOC CREDIT_AVAILABLE) */
        unsigned mnoc_poll_us;     /* 1000 (every MNOC poll) */
        unsigned firewall_ms;      /* 15000 (Blackwell BAR firewall, in config space) */
        unsigned firewall_poll_ms; /* 10 */
        unsigned firewall_fallback_ms; /* 3000: one wait when the firewall bit cannot be read */
} CcTimeouts;

/* Defaults of docs/hardware.md for the architecture. */
CcTimeouts cc_timeouts_default(GpuArch arch);

/* Checks PMC_BOOT_0: off the bus (0xffffffff) or security fault. */
int cc_check_alive(Bar0 *b, CcError *err);

/* Polls the chip's boot-complete register until 0xff (on Blackwell only
 * once the BAR firewall is down: cc-ready.h). */
int cc_wait_boot(Bar0 *b, GpuChip chip, const CcTimeouts *t, CcError *err);

typedef struct CcStatus {
        DeviceCcMode cc;
        bool ppcie;
        bool nvle;          /* Blackwell: 0x590 bit 6, NVLink encryption */
        bool bar0_firewall; /* Blackwell: 0x590 bit 2 */
} CcStatus;

/* Reads the status registers once (no wait).  For an NVSwitch cc is
 * DEVICE_CC_OFF and only ppcie is meaningful.  A device whose FSP has not
 * finished booting reads cc = DEVICE_CC_UNKNOWN. */
int cc_query(Bar0 *b, GpuChip chip, CcStatus *ret, CcError *err);

/* FSP PRC knob access, over the chip's transport (fsp-transport.h).  t
 * NULL: the architecture's defaults. */
int fsp_read_knob(Bar0 *b, GpuChip chip, const CcTimeouts *t, uint8_t knob, uint16_t *ret, CcError *err);
int fsp_write_knob(Bar0 *b, GpuChip chip, const CcTimeouts *t, uint8_t knob, uint16_t value, CcError *err);

typedef struct KnobWrite {
        uint8_t knob;
        uint16_t value;
} KnobWrite;

/* The ordered knob writes that move a device of arch to mode (CCM before CCD
 * when enabling, CCD before CCM when disabling).  For TARGET_MODE_PPCIE the
 * plan is CC off and PPCIe on; ppcie_off_only gives the first phase of a
 * PPCIe switch (PPCIe knob 0, CC off).  Blackwell's set is CCM and CCD
 * only (knobs 2 and 4 cleared before enabling): no BAR0_DECOUPLER, no
 * PPCIE, and no plan at all for ppcie.  Returns the number of writes. */
#define CC_KNOB_PLAN_MAX 12
size_t cc_knob_plan(TargetMode mode, GpuArch arch, bool ppcie_off_only, KnobWrite out[CC_KNOB_PLAN_MAX]);

/* Applies a plan read-compare-write: each knob is read and written only when
 * it differs.  Before a write, a knob with an _ALLOW_INB permission knob
 * (CCD 5, CCM 7, BAR0_DECOUPLER 9, PPCIE 44) has it read: 0 refuses with
 * NotCapable, "can only be set out of band"; firmware that does not know
 * the permission knob imposes none.  *ret_writes (optional): knobs written. */
int cc_apply_knobs(Bar0 *b, GpuChip chip, const CcTimeouts *t, const KnobWrite *plan, size_t n,
                   unsigned *ret_writes, CcError *err);

/* The _ALLOW_INB knob guarding knob, or -1 when it has none. */
int cc_knob_permission(uint8_t knob);
/* "CCM", "CCM_ALLOW_INB", ...; NULL for knobs without a name here. */
const char *cc_knob_name(uint8_t knob);

/* Whether a queried status satisfies the mode asked for. */
bool cc_status_matches(GpuArch arch, const CcStatus *s, TargetMode mode);

/* Writes the reset markers to the scratch registers before a reset. */
void cc_mark_before_reset(Bar0 *b, GpuArch arch);
