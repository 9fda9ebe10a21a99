/* SPDX-License-Identifier: MIT */
#pragma once

/* The host as hw/ sees it: a root directory under which every /sys, /dev,
 * /proc, /lib/modules and /run path is taken, and the table of the
 * operations that change the host.  hw/ does everything through the table
 * and never asks what is behind it: the running kernel
 * (hw_host_ops_kernel), or a plug-in such as the simulator of src/sim/.
 * Code above hw/ cannot tell the difference. */

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

typedef struct HwHost HwHost;
typedef struct Bar0 Bar0;
typedef struct CcError CcError;
typedef struct PciConfig PciConfig;

typedef struct HwHostOps {
        /* Writes value to the sysfs attribute at path (a path under the
         * root); the kernel acts on it before the write returns. */
        int (*write_attribute)(HwHost *h, const char *path, const char *value);
        /* Maps the BAR0 register window of bdf; err (optional) names what
         * failed. */
        int (*bar0_open)(HwHost *h, const char *bdf, Bar0 **ret, CcError *err);
        /* Loads a kernel module (and what it depends on). */
        int (*load_module)(HwHost *h, const char *module);
        /* Opens the PCI config space of bdf (pci-config.h). */
        int (*config_open)(HwHost *h, const char *bdf, PciConfig **ret);
} HwHostOps;

/* write(2) to sysfs, mmap of resource0, libkmod, pread of config. */
extern const HwHostOps hw_host_ops_kernel;

/* ops NULL: the running kernel's. */
int hw_host_new(const char *root, const HwHostOps *ops, HwHost **ret);
/* Drops the caller's reference.  A sysfs write still blocked in the kernel
 * (sysfs-write.h) keeps one of its own, so the host outlives it. */
HwHost *hw_host_free(HwHost *h);
HwHost *hw_host_ref(HwHost *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(HwHost *, hw_host_free);

const char *hw_host_root(const HwHost *h);
const HwHostOps *hw_host_ops(const HwHost *h);

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
