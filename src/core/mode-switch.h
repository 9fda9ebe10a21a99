/* SPDX-License-Identifier: MIT */
#pragma once

/* The CC mode engine.  A switch runs on a worker thread so the event loop
 * keeps answering: unbind every target from its driver, write the knobs on
 * every target, reset them all at once, wait for boot, verify each, bind each
 * back to the driver it had.  PPCIe runs the two phases of docs/hardware.md and
 * is all-or-nothing.  The intent is recorded in the state directory before
 * the first knob write, so a crash is finished at the next start.
 *
 * Before the first unbind, a switch whose devices a process holds open is
 * refused (in-use.h): the driver would wait for that process.
 *
 * The caller adds cc_switch_get_fd() to its loop; when it is readable,
 * cc_switch_finish() collects the outcome.  The worker touches nothing that
 * the caller reads: it works on copies and hands results back. */

#include <stdbool.h>
#include <stddef.h>

#include "cc-error.h"
#include "cc-hw.h"
#include "device.h"
#include "hw-host.h"

typedef struct CcSwitchTarget {
        char bdf[16];
        GpuArch arch;
        GpuChip chip;
        DeviceKind kind;
        char *driver; /* driver to bind back after the switch; "" for none */
} CcSwitchTarget;

typedef struct CcSwitchOutcome {
        char bdf[16];
        bool verified;       /* reached the mode asked for */
        CcStatus status;     /* as read after the reset (unknown if unreadable) */
        /* The driver it could not be bound back to because an earlier write
         * for it is still blocked in the kernel; "" when none. */
        char lost_driver[64];
} CcSwitchOutcome;

typedef struct CcSwitch CcSwitch;

/* Chooses the targets of a request: bdf NULL = every CC-capable GPU (and, for
 * ppcie, every NVSwitch); else that one device.  Refuses what cannot work
 * (NotFound, NotCapable, ppcie on a single device, ppcie where a capable GPU
 * is Blackwell) without touching anything. */
int cc_switch_select(const CcInventory *inv, TargetMode mode, const char *bdf,
                     CcSwitchTarget **ret, size_t *ret_n, CcError *err);
void cc_switch_targets_free(CcSwitchTarget *t, size_t n);

/* Takes ownership of targets.  state_dir holds the intent file. */
int cc_switch_new(HwHost *h, const char *state_dir, TargetMode mode,
                  CcSwitchTarget *targets, size_t n_targets, CcSwitch **ret);
CcSwitch *cc_switch_free(CcSwitch *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(CcSwitch *, cc_switch_free);

/* Overrides the architecture defaults (tests, benchmarks). */
void cc_switch_set_timeouts(CcSwitch *s, const CcTimeouts *t);
/* Resets one GPU after another, as the Operator does (benchmark baseline). */
void cc_switch_set_sequential(CcSwitch *s, bool sequential);

int cc_switch_start(CcSwitch *s);
int cc_switch_get_fd(CcSwitch *s);   /* readable once the worker is done */
bool cc_switch_done(CcSwitch *s);

/* Joins the worker; 0 when every target was verified, else the first error
 * (naming the device and the step) in *err.  Busy (cc_switch_refused())
 * when a process held a device the switch would have taken from its
 * driver: nothing was touched.  Timeout when a sysfs write did not return
 * in time (a process opened the device after the check). */
int cc_switch_finish(CcSwitch *s, CcError *err);
bool cc_switch_refused(const CcSwitch *s);
/* The first device found in use, when refused. */
const char *cc_switch_refused_device(const CcSwitch *s);

TargetMode cc_switch_mode(const CcSwitch *s);
size_t cc_switch_n_outcomes(const CcSwitch *s);
const CcSwitchOutcome *cc_switch_outcome(const CcSwitch *s, size_t i);

/* Crash safety.  The intent file "<state_dir>/mode-switch.intent" is a key
 * file with the mode and the targets with their drivers.  Returns 0 and
 * *ret_targets = NULL when there is none. */
int cc_switch_intent_load(const char *state_dir, TargetMode *ret_mode,
                          CcSwitchTarget **ret_targets, size_t *ret_n, CcError *err);
int cc_switch_intent_save(const char *state_dir, TargetMode mode,
                          const CcSwitchTarget *targets, size_t n);
int cc_switch_intent_remove(const char *state_dir);
