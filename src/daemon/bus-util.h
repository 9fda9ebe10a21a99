/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-bus.h>

/* A property getter, one per property, whose string value is expr computed
 * from `object`, the vtable's userdata of the given type. */
#define BUS_DEFINE_PROPERTY_GET_STRING(name, type, expr)                                        \
        static int name(sd_bus *bus, const char *path, const char *interface,                   \
                        const char *property, sd_bus_message *reply, void *userdata,           \
                        sd_bus_error *error) {                                                  \
                type *object = userdata;                                                        \
                (void) object;                                                                  \
                return sd_bus_message_append(reply, "s", (expr));                               \
        }
