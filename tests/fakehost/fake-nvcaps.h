/* SPDX-License-Identifier: MIT */
#pragma once

/* What a fake Blackwell GPU carries beyond the common PCI function: its
 * chip, as the builder's own table of id ranges says (kept apart from
 * src/hw/cc-chip.c on purpose, so that discovery is checked against an
 * independent idea of the hardware), and the extended capabilities of its
 * config space that hold the BAR firewall bit and the security-fault word:
 * a DVSEC (vendor 0x10de, id 0) on GB100-class chips, a VSEC (id 1,
 * revision 1) on GB20x, chained after an AER capability at 0x100. */

#include <stdint.h>

#include "cc-chip.h"

/* GPU_CHIP_OTHER unless NVIDIA and in a known range (class not checked). */
GpuChip fake_nv_chip(uint16_t vendor, uint16_t device);

/* Extends the device's `config` file (written by the builder, 256 bytes) to
 * 4 KiB with the chip's capabilities.  Nothing to do for other chips. */
int fake_nvcaps_write(const char *config_path, GpuChip chip);
