/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-bus.h>

/* A client connection to the message bus at a D-Bus address. */
int bus_open_address(const char *address, sd_bus **ret);

/* The `--bus` of the programs: "system" (or NULL) and "session" are
 * sd-bus's own (DBUS_SYSTEM_BUS_ADDRESS, DBUS_SESSION_BUS_ADDRESS
 * honoured), anything else a D-Bus address. */
int bus_open_spec(const char *spec, sd_bus **ret);
