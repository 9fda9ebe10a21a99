/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-bus.h>

/* A client connection to the message bus at a D-Bus address (the
 * `--bus ADDRESS` of the programs; system and session have sd-bus's own). */
int bus_open_address(const char *address, sd_bus **ret);
