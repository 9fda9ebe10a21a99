/* SPDX-License-Identifier: MIT */
#pragma once

/* Writes to sysfs that cannot wedge the caller.  A write to a driver's
 * `unbind` returns only when the driver's remove does, and the nvidia
 * driver's remove waits for the last process to close the GPU ("NVRM:
 * Attempting to remove device ... with non-zero usage count!"), for as long
 * as that process lives; vfio-pci's waits for the VM that has the device.
 * So each write runs on a thread of its own and the caller waits for it at
 * most the host's write timeout: then it gets -ETIMEDOUT, the journal names
 * the thread left blocked, and that thread finishes the write whenever the
 * kernel lets it.  Until then the kernel holds the device's lock, and any
 * other write for the device would block behind it: those fail at once with
 * -EDEADLK instead of blocking one more thread.
 *
 * The write itself is the host's write_attribute operation, run on the
 * writing thread, so a plug-in's blocking write behaves the same. */

#include <stdbool.h>
#include <stdint.h>

#include "hw-host.h"
#include "time-util.h"

/* The kernel waits up to 60 s for a device to come back from a reset
 * (PCIE_RESET_READY_POLL_MS); a write that takes longer is stuck. */
#define HW_WRITE_TIMEOUT_USEC_DEFAULT (60 * USEC_PER_SEC)

/* Writes value to the attribute at path on behalf of device bdf (the device
 * whose attribute it is, or the one a bus or driver attribute is given).
 * 0, a negative errno from the kernel, -ETIMEDOUT, or -EDEADLK while an
 * earlier write for bdf is still blocked. */
int hw_sysfs_write(HwHost *h, const char *bdf, const char *path, const char *value);

/* Whether a timed-out write for bdf is still blocked in the kernel, and
 * since when (CLOCK_MONOTONIC µs; optional). */
bool hw_sysfs_write_pending(HwHost *h, const char *bdf, uint64_t *ret_since);

/* Waits until no write of the host is blocked any more, at most usec;
 * -ETIMEDOUT otherwise. */
int hw_sysfs_wait_idle(HwHost *h, uint64_t usec);

/* The table behind them, one per host (hw-host.c). */
struct HwPendingWrites *hw_pending_writes_new(void);
void hw_pending_writes_free(struct HwPendingWrites *p);
