/* SPDX-License-Identifier: MIT */
#pragma once

/* A device a process holds open is never taken from its driver.  The
 * nvidia driver's remove waits, in the kernel, until the last process
 * closes the GPU, so a write to `unbind` would block for as long as that
 * process lives (nvidia-persistenced, a monitoring agent, a CUDA job);
 * vfio-pci's waits for the VM that has the device.  Operations check first
 * and refuse with Busy, naming each holder, before anything is touched.
 * A process that opens the device after the check makes the write block
 * anyway: hw/ bounds every write (sysfs-write.h), and the operation ends
 * with Timeout naming the device and the step. */

#include <stdbool.h>

#include "cc-error.h"
#include "hw-host.h"
#include "proc-holders.h"

/* "nvidia-persistenced (pid 1234) and python3 (pid 5678)"; "a, b and c".
 * malloc'ed; NULL on OOM. */
char *cc_holders_to_string(const HwHolders *h);

/* Refuses with Busy when a process holds any of bdfs (NULL-terminated)
 * open through the driver it is bound to now: "0000:3a:00.0 is in use by
 * nvidia-persistenced (pid 1234) and python3 (pid 5678)", one such part per
 * device held, separated by "; ".  ret_device (optional, 16 bytes) gets the
 * first device held.  0 when none is.  Timeout when an earlier write for
 * one of them is still blocked in the kernel (sysfs-write.h). */
int cc_check_not_in_use(HwHost *h, char *const *bdfs, char ret_device[16], CcError *err);

/* For a sysfs write that failed with -ETIMEDOUT (the kernel did not finish
 * it in time) or -EDEADLK (an earlier write for the device still has not
 * finished): fills err with Timeout naming the step ("unbind from nvidia";
 * the caller prefixes the device) and returns true.  False for any other
 * result. */
bool cc_error_from_stuck_write(HwHost *h, int r, const char *bdf, const char *step, CcError *err);
