/* SPDX-License-Identifier: MIT */
#pragma once

/* The kubelet device plugin of nvidia-cc-k8s-bridge (k8s-node-facts.md,
 * sections 1 and 2): for each resource, a v1beta1.DevicePlugin server on a
 * unix socket of its own in the kubelet's directory, registered with
 * v1beta1.Registration/Register on kubelet.sock there.  The devices are
 * nvidia-ccd's VFIO-bound GPUs (ccd-gpus.c, devplugin-model.h); every
 * ListAndWatch stream gets the whole list at once and again, from the
 * loop, after any change.  It needs no API server.
 *
 * A starting kubelet deletes every socket in the directory and makes a new
 * kubelet.sock: an inotify watch on the directory sees either, and the
 * plugin serves again where its socket is gone and registers again.
 * device_plugin_free() removes the sockets. */

#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#define DEFAULT_DEVICE_PLUGIN_DIR "/var/lib/kubelet/device-plugins"
#define KUBELET_SOCKET "kubelet.sock"

typedef struct DevicePluginOptions {
        const char *dir;                      /* the kubelet's directory */
        const char *resource_name;            /* NULL: one resource per GPU model */
        const char *nvswitch_resource_name;   /* NULL: NVSwitches are not offered */
} DevicePluginOptions;

typedef struct DevicePlugin DevicePlugin;

int device_plugin_new(sd_event *event, sd_bus *bus, const DevicePluginOptions *options, DevicePlugin **ret);
int device_plugin_start(DevicePlugin *p);
DevicePlugin *device_plugin_free(DevicePlugin *p);
/* Closed: every resource lists no device (the GPUs' mode is not verified
 * yet, or they are being switched).  Open by default. */
void device_plugin_set_gate(DevicePlugin *p, bool open);
