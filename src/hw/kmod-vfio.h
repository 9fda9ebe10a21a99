/* SPDX-License-Identifier: MIT */
#pragma once

/* Which VFIO driver serves a PCI device, and loading its module, through
 * libkmod on the module tree of the running kernel under the host root
 * (<root>/lib/modules/<uname -r>).  libkmod reads the binary alias index,
 * modules.alias.bin, that depmod writes next to modules.alias. */

#include "hw-host.h"

#define HW_VFIO_FALLBACK_MODULE "vfio_pci"

/* The module whose `vfio_pci:` alias matches the device's modalias most
 * specifically (fewest wildcards: nvgrace_gpu_vfio_pci beats the catch-all
 * of vfio_pci), or "vfio_pci" when none matches or the index is missing.
 * Fails only when the device cannot be read. */
int hw_vfio_resolve_module(HwHost *h, const char *bdf, char **ret_module);

/* The name of the PCI driver the module registers: from
 * /sys/module/<module>/drivers/pci:<driver> once it is loaded, else the
 * usual name ("vfio-pci" for vfio_pci, the module's own name for the variant
 * drivers).  Loads nothing. */
int hw_vfio_module_driver(HwHost *h, const char *module, char **ret);

/* Loads the module through the host's operations, and returns the name of
 * the PCI driver it registers ("vfio-pci" for vfio_pci). */
int hw_vfio_load_module(HwHost *h, const char *module, char **ret_driver);

/* The running kernel's way (hw_host_ops_kernel): libkmod inserts the module
 * with its dependencies and modprobe.d options, unless it is loaded. */
int hw_kmod_load_module(HwHost *h, const char *module);
