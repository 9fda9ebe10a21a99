/* SPDX-License-Identifier: MIT */
#pragma once

/* The simulator's side of config space: a fake tree's `config` file (4 KiB,
 * its capabilities written by the fake-host builder), with the bits a
 * Blackwell GPU changes at run time laid over it from gpusim.ini: the BAR
 * firewall bit while the firewall is up, the security-fault word, and all
 * ones for a GPU off the bus. */

#include "pci-config.h"

int gpusim_config_open(const char *state_path, const char *config_path, PciConfig **ret);
