/* SPDX-License-Identifier: MIT */
#pragma once

/* What a fake Blackwell GPU carries beyond the common PCI function: the
 * extended capabilities of its config space that hold the BAR firewall bit
 * and the security-fault word: a DVSEC (vendor 0x10de, id 0) on GB100-class
 * chips, a VSEC (id 1, revision 1) on GB20x, chained after an AER
 * capability at 0x100.  The chip is the simulator's idea of it
 * (gpusim_chip_of). */

#include <stdint.h>

#include "cc-chip.h"

/* Extends the device's `config` file (written by the builder, 256 bytes) to
 * 4 KiB with the chip's capabilities.  Nothing to do for other chips. */
int fake_nvcaps_write(const char *config_path, GpuChip chip);
