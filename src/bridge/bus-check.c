/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <glib.h>

#include "bus-check.h"
#include "bus-open.h"
#include "macro.h"

static char *refused_message(const char *where) {
        unsigned uid = (unsigned) getuid();

        return g_strdup_printf(
                "the bus %s closed the connection of uid %u as soon as it had authenticated it: dbus-daemon does "
                "that to a uid that is no user on the host (in a pod, the uid is one of the image, not of the "
                "node). Create a user with uid %u on the node%s, or run the bridge as a uid the node knows",
                where, uid, uid,
                uid == BRIDGE_DAEMONSET_UID ? " (nvidia-ccd installs sysusers.d/nvidia-cc-k8s-bridge.conf for it: "
                                              "run systemd-sysusers, or useradd --system --uid 64721 "
                                              "nvidia-cc-k8s-bridge)"
                                            : "");
}

int bus_open_checked(const char *address, sd_bus **ret, char **ret_message) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        g_autofree char *where = NULL;
        const char *unique = NULL, *a = NULL;
        int r;

        assert(address);
        assert(ret);
        assert(ret_message);

        r = bus_open_spec(address, &bus);
        if (r < 0) {
                *ret_message = g_strdup_printf("cannot connect to the bus %s: %s%s", address, strerror(-r),
                                               r == -ENOENT && streq(address, "system")
                                                       ? " (in a pod: is the host's /run/dbus/system_bus_socket "
                                                         "mounted there?)"
                                                       : "");
                return r;
        }
        (void) sd_bus_get_address(bus, &a);
        where = a && !streq(a, address) ? g_strdup_printf("%s (%s)", address, a) : g_strdup(address);

        r = sd_bus_get_unique_name(bus, &unique);
        if (r == -ENOTCONN || r == -ECONNRESET || r == -EPIPE) {
                *ret_message = refused_message(where);
                return r;
        }
        if (r < 0) {
                *ret_message = g_strdup_printf("the bus %s did not accept the connection: %s", where, strerror(-r));
                return r;
        }
        *ret = TAKE_PTR(bus);
        *ret_message = NULL;
        return 0;
}
