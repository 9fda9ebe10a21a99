/* SPDX-License-Identifier: MIT */
#pragma once

/* What the simulator adds for Blackwell beside the MNOC mailbox: the BAR
 * firewall after a reset (BAR0 reads all ones while it is up, config space
 * shows its bit), GB20x's boot register, the 0x590 status with NVLink
 * encryption and the BAR0 firewall, recovery mode, and the _ALLOW_INB
 * permission knobs.  Private to the simulator. */

#include <stdbool.h>
#include <stdint.h>

#include "gpusim-state.h"

/* Whether the BAR firewall is up at now (CLOCK_REALTIME µs). */
bool sim_firewall_up(const SimState *st, uint64_t now);

/* Serves the Blackwell registers; false for offsets it leaves to the
 * common model. */
bool sim_chip_read(const SimState *st, uint64_t now, uint32_t offset, uint32_t *ret);
