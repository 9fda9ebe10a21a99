/* SPDX-License-Identifier: MIT */
#pragma once

/* On a simulated host, plays the kernel's part after a write to a fake
 * tree's sysfs attribute: `unbind` removes the device's driver links, `bind`
 * (written to drivers/<drv>/bind) creates them, `driver_override` is stored,
 * `drivers_probe` binds to the override (or to the driver in the device's
 * `sim_default_driver` file), and `reset` reboots the simulated GPU.  The
 * tree is laid out as the kernel's (kernel-sim.c says how), and a write has
 * its effect however the attribute was reached. */

#include "hw-host.h"

/* path is the full path just written (under the host root), value what was
 * written.  Returns 0 for paths with no effect to play. */
int kernel_sim_after_write(HwHost *h, const char *path, const char *value);

/* Plays the loading of a module: its PCI driver directory appears under
 * sys/bus/pci/drivers/ and sys/module/<module>/drivers/ names it. */
int kernel_sim_load_module(HwHost *h, const char *module);
