/* SPDX-License-Identifier: MIT */
#pragma once

/* The bridge's connection to the bus of nvidia-ccd, opened and confirmed
 * before anything else runs on it.
 *
 * dbus-daemon authenticates a connection and then, whatever its policy
 * allows, drops it when the uid is no user it can resolve
 * (bus_policy_allow_unix_user()); the client only learns of it from its
 * first call, as "Transport endpoint is not connected".  A DaemonSet's uid
 * is a user of the image, not of the host, so a pod meets exactly that on a
 * node without the user: this says so, and what to do about it. */

#include <systemd/sd-bus.h>

/* The uid of the DaemonSet (deploy/kubernetes) and of the user that
 * sysusers.d/nvidia-cc-k8s-bridge.conf creates on the host. */
#define BRIDGE_DAEMONSET_UID 64721

/* address: "system", "session" or a D-Bus address.  Waits for the bus's
 * reply to Hello (dbus-daemon answers at once; the loop does not run yet).
 * On failure *ret_message tells people why. */
int bus_open_checked(const char *address, sd_bus **ret, char **ret_message);
