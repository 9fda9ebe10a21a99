/* SPDX-License-Identifier: MIT */
#pragma once

/* The host as hw/ sees it: a root directory under which every /sys, /dev,
 * /proc, /lib/modules and /run path is taken, and whether the GPUs and the
 * kernel's sysfs side effects are simulated.  Code above hw/ cannot tell a
 * simulated host from a real one. */

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

typedef struct HwHost HwHost;

int hw_host_new(const char *root, bool simulate, HwHost **ret);
/* Drops the caller's reference.  A sysfs write still blocked in the kernel
 * (sysfs-write.h) keeps one of its own, so the host outlives it. */
HwHost *hw_host_free(HwHost *h);
HwHost *hw_host_ref(HwHost *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(HwHost *, hw_host_free);

const char *hw_host_root(const HwHost *h);
bool hw_host_simulated(const HwHost *h);

/* How long a sysfs write may take before its caller gets -ETIMEDOUT
 * (sysfs-write.h); HW_WRITE_TIMEOUT_USEC_DEFAULT unless set. */
void hw_host_set_write_timeout(HwHost *h, uint64_t usec);
uint64_t hw_host_get_write_timeout(const HwHost *h);

/* The one function that builds host paths: hw_path(h, "sys/bus/pci/devices/%s/reset", bdf)
 * gives "<root>/sys/bus/pci/devices/<bdf>/reset".  The format is relative
 * (no leading slash).  Returns a malloc'ed string, NULL on OOM. */
char *hw_path(const HwHost *h, const char *fmt, ...) _printf_(2, 3);

/* For sysfs-write.c: the writes of this host that timed out and are still
 * blocked in the kernel. */
struct HwPendingWrites *hw_host_pending_writes(HwHost *h);
