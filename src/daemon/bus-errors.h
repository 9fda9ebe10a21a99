/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-bus.h>

#include "cc-error.h"

#define CC_ERROR_PREFIX "org.nvidia.ConfidentialCompute.Error."

/* Registers the error names with sd_bus_error_add_map. */
int bus_errors_register(void);

/* Turns a domain error into the contract's D-Bus error; returns a negative
 * errno suitable as a method handler's return value. */
int bus_error_from_cc(sd_bus_error *error, const CcError *e);
