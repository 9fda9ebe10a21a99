/* SPDX-License-Identifier: MIT */
#pragma once

/* Carries out a VFIO plan on a worker thread, so the event loop keeps
 * answering while drivers let go of their devices (which takes seconds for
 * nvidia):
 *
 *   bind:   record each device's driver (state "binding") in the state
 *           directory, load the VFIO modules, then per device: driver_override,
 *           unbind, bind.  A failure anywhere gives every device the request
 *           touched back to the driver it had (the whole request, not just the
 *           group: a request either happens or does not), and the error names
 *           the device and the kernel's errno.
 *   unbind: state "unbinding", then per device: clear driver_override, unbind,
 *           bind the recorded driver (drivers_probe when there is no record).
 *
 * Before either, a device to be taken from its driver that a process holds
 * open (a VM its group, a CUDA job the GPU) refuses the whole job with Busy,
 * nothing touched (in-use.h); a write the kernel does not finish in time
 * ends it with Timeout naming the device and the step.
 *
 * Afterwards the CDI specification is rewritten from what sysfs shows.  The
 * caller adds cc_vfio_job_get_fd() to its loop and calls
 * cc_vfio_job_finish() once it is readable. */

#include <stdbool.h>
#include <stddef.h>

#include "cc-error.h"
#include "hw-host.h"
#include "vfio-cdi.h"
#include "vfio-plan.h"

typedef struct CcVfioJob CcVfioJob;

/* What happened to one group, for the journal. */
typedef struct VfioGroupOutcome {
        int group;
        char gpu[16];        /* the group's target */
        char driver[64];     /* bind: the vfio driver; unbind: the driver given back */
        bool changed;        /* false: it was already there */
} VfioGroupOutcome;

/* Takes ownership of plan.  cdi: what the CDI specifications are made of
 * afterwards (vfio-cdi.h); copied. */
int cc_vfio_job_new(HwHost *h, const char *state_dir, VfioPlan *plan, const CcCdiDevice *cdi, CcVfioJob **ret);
CcVfioJob *cc_vfio_job_free(CcVfioJob *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(CcVfioJob *, cc_vfio_job_free);

/* Runs the job on this thread (tests) or on a worker. */
int cc_vfio_job_run(CcVfioJob *j, CcError *err);
int cc_vfio_job_start(CcVfioJob *j);
int cc_vfio_job_get_fd(CcVfioJob *j);
int cc_vfio_job_finish(CcVfioJob *j, CcError *err);

VfioAction cc_vfio_job_action(const CcVfioJob *j);
const VfioPlan *cc_vfio_job_plan(const CcVfioJob *j);
size_t cc_vfio_job_n_outcomes(const CcVfioJob *j);
const VfioGroupOutcome *cc_vfio_job_outcome(const CcVfioJob *j, size_t i);
/* After a failed bind: the device that failed, and whether the devices
 * touched before it were given back. */
const char *cc_vfio_job_failed_device(const CcVfioJob *j);
int cc_vfio_job_failed_group(const CcVfioJob *j);
bool cc_vfio_job_rolled_back(const CcVfioJob *j);
/* Refused (Busy, nothing touched) because a process held a device the job
 * would have taken from its driver; the first such device. */
bool cc_vfio_job_refused(const CcVfioJob *j);
const char *cc_vfio_job_refused_device(const CcVfioJob *j);

/* At start: finishes what a crash cut short, from the record: devices
 * "binding" go back to their previous driver (the bind is rolled back),
 * devices "unbinding" too (the unbind is finished), and entries for devices
 * no longer on a vfio driver (a reboot) are dropped.  Returns the number of
 * devices put back. */
int cc_vfio_recover(HwHost *h, const char *state_dir, CcError *err);

