/* SPDX-License-Identifier: MIT */
#pragma once

/* The Hopper/Blackwell/LS10 simulator of docs/hardware.md.  It serves BAR0 for
 * one device and keeps its persistent state (active and pending knobs, the
 * time of the last reset, fault injection) in a key file per device, in the
 * device's sysfs directory:
 *   <root>/sys/bus/pci/devices/<bdf>/gpusim.ini
 * so a daemon restart sees the same GPU.  A device that has none gets one
 * with the defaults of its model (from its device id) the first time its
 * BAR0 is opened: booted, CC off.  The file is re-read whenever the
 * status registers or the FSP are touched, so tests and the kernel side of
 * the simulation (a reset) can change it between accesses.
 *
 *   [Device]  Model=hopper|blackwell|ls10   BootMs=1500   FspLatencyMs=0
 *   [State]   ResetAtUs=<CLOCK_REALTIME µs of the last reset>
 *             ResetMarker=0  SbrMarker=0   (scratch 0x1458 and 0x91288)
 *   [Knobs]   Active=8:1;6:0;...   Pending=8:1;...
 *             (Pending: written since the last reset; PRC reads see it,
 *             the status registers see only Active; absent knobs are 0)
 *   [Inject]  SlowBootMs=0  FspTimeout=none|queue|response  UnknownKnob=45
 *             StuckInvalid=false  OffBus=false  SecurityFault=false
 */

#include <stdbool.h>
#include <stdint.h>

#include "bar0.h"
#include "cc-hw.h"

/* Opens a simulated BAR0 backed by the state file (created with defaults for
 * arch when absent). */
int gpusim_open(const char *state_path, GpuArch arch, Bar0 **ret);

/* Creates or rewrites the state file with defaults (used by the fake host
 * helpers).  boot_ms is the simulated boot time after a reset. */
int gpusim_create(const char *state_path, GpuArch arch, unsigned boot_ms, DeviceCcMode initial);

/* The model the simulator plays for a PCI device: Hopper (GH100/GH200),
 * Blackwell or an LS10 NVSwitch; GPU_ARCH_OTHER for anything else. */
GpuArch gpusim_arch_of(uint16_t vendor, uint16_t device, uint32_t class_code);
/* The chip, from the simulator's own table of id ranges (gpusim-chip.c):
 * Blackwell chips differ in their waits (GB20x). */
GpuChip gpusim_chip_of(uint16_t vendor, uint16_t device, uint32_t class_code);

/* The model named by the state file ([Device] Model). */
int gpusim_get_arch(const char *state_path, GpuArch *ret);

/* The kernel's part of a reset: pending knobs become active, the reset time
 * is now, boot complete reads 0 until boot_ms (+ SlowBootMs) have passed. */
int gpusim_reset(const char *state_path);

/* Sets one key of the state file (group, key, value) — for tests and tools. */
int gpusim_set(const char *state_path, const char *group, const char *key, const char *value);
