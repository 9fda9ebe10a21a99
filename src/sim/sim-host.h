/* SPDX-License-Identifier: MIT */
#pragma once

/* A simulated host: the operations of hw-host.h played on a fake tree.
 * Each GPU's BAR0 is served by the simulator (gpusim.h) and every sysfs
 * write gets the effect the kernel would give it (kernel-sim.h).  hw/ calls
 * these through the table and does not know they are here; the tests, the
 * demo and `nvidia-ccd --simulate` plug them in. */

#include "hw-host.h"

extern const HwHostOps sim_host_ops;

/* A simulated host on the fake tree at root.  -EPERM when root is the real
 * root directory: the simulation writes what the kernel would, and under
 * the real /sys that would be writing to the kernel's own attributes. */
int sim_host_new(const char *root, HwHost **ret);
