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
#include "cc-error.h"

typedef enum GpuArch {
        GPU_ARCH_OTHER,
        GPU_ARCH_HOPPER,
        GPU_ARCH_BLACKWELL,
        GPU_ARCH_LS10_NVSWITCH,
} GpuArch;

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

typedef struct CcTimeouts {
        unsigned boot_ms;          /* 5000 Hopper, 10000 Blackwell */
        unsigned boot_poll_ms;     /* 10 */
        unsigned queue_empty_ms;   /* 1000 */
        unsigned queue_poll_us;    /* 1000 */
        unsigned response_ms;      /* 5000 */
        unsigned response_poll_ms; /* 10 */
} CcTimeouts;

/* Defaults of docs/hardware.md for the architecture. */
CcTimeouts cc_timeouts_default(GpuArch arch);

/* Checks PMC_BOOT_0: off the bus (0xffffffff) or security fault. */
int cc_check_alive(Bar0 *b, CcError *err);

/* Polls boot complete until 0xff. */
int cc_wait_boot(Bar0 *b, GpuArch arch, const CcTimeouts *t, CcError *err);

typedef struct CcStatus {
        DeviceCcMode cc;
        bool ppcie;
} CcStatus;

/* Reads the status registers once (no wait).  For an NVSwitch cc is
 * DEVICE_CC_OFF and only ppcie is meaningful.  A device whose FSP has not
 * finished booting reads cc = DEVICE_CC_UNKNOWN. */
int cc_query(Bar0 *b, GpuArch arch, CcStatus *ret, CcError *err);

/* FSP PRC knob access over EMEM (Hopper transport; LS10 uses the same). */
int fsp_read_knob(Bar0 *b, const CcTimeouts *t, uint8_t knob, uint16_t *ret, CcError *err);
int fsp_write_knob(Bar0 *b, const CcTimeouts *t, uint8_t knob, uint16_t value, CcError *err);

typedef struct KnobWrite {
        uint8_t knob;
        uint16_t value;
} KnobWrite;

/* The ordered knob writes that move a device of arch to mode (CCM before CCD
 * when enabling, CCD before CCM when disabling).  For TARGET_MODE_PPCIE the
 * plan is CC off and PPCIe on; ppcie_off_only gives the first phase of a
 * PPCIe switch (PPCIe knob 0, CC off).  Returns the number of writes. */
#define CC_KNOB_PLAN_MAX 12
size_t cc_knob_plan(TargetMode mode, GpuArch arch, bool ppcie_off_only, KnobWrite out[CC_KNOB_PLAN_MAX]);

/* Applies a plan read-compare-write: each knob is read and written only when
 * it differs. */
int cc_apply_knobs(Bar0 *b, const CcTimeouts *t, const KnobWrite *plan, size_t n, CcError *err);

/* Whether a queried status satisfies the mode asked for. */
bool cc_status_matches(GpuArch arch, const CcStatus *s, TargetMode mode);

/* Writes the reset markers to the scratch registers before a reset. */
void cc_mark_before_reset(Bar0 *b, GpuArch arch);
