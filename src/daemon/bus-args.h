/* SPDX-License-Identifier: MIT */
#pragma once

/* Method arguments read with limits.  An unprivileged caller may send a
 * message as large as the bus allows (32 MiB on the system bus); nothing
 * the daemon does with it before polkit answered may cost more than a few
 * microseconds per limit, and nothing it keeps while waiting may be large.
 * sd_bus_message_read_strv() grows its vector one element at a time, each
 * time counting it again: quadratic in the elements.  Arrays are therefore
 * read element by element here, refused past a cap a real host never
 * reaches (a host has dozens of devices). */

#include <stddef.h>
#include <systemd/sd-bus.h>

/* Elements of any array argument (device addresses, option dictionaries). */
#define BUS_ARRAY_MAX 256
/* Bytes of any string argument: a path (PATH_MAX) is the longest one. */
#define BUS_STRING_MAX 4096
/* Containers inside containers: a{sv} holds variants, which hold values. */
#define BUS_NESTING_MAX 4

/* Walks every argument of m without keeping any and rewinds it: arrays of
 * at most BUS_ARRAY_MAX elements, strings of at most BUS_STRING_MAX bytes,
 * containers at most BUS_NESTING_MAX deep.  Its cost is bounded by the
 * limits, not by the message.  0, or an InvalidArgument error naming the
 * argument (its position, from 1) and the limit. */
int bus_args_check_sizes(sd_bus_message *m, sd_bus_error *error);

/* Reads an "as" argument element by element: at most max elements (else
 * InvalidArgument naming what and the limit), each at most BUS_STRING_MAX
 * bytes. */
int bus_read_strv(sd_bus_message *m, size_t max, const char *what, char ***ret, sd_bus_error *error);

/* Reads an "s" argument of at most max bytes (else InvalidArgument naming
 * what and the limit). */
int bus_read_string(sd_bus_message *m, size_t max, const char *what, const char **ret, sd_bus_error *error);
