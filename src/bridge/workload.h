/* SPDX-License-Identifier: MIT */
#pragma once

/* The workload role of nvidia-cc-k8s-bridge, in place of the GPU Operator's
 * vfio-manager and the vfio part of its validator (workload-labels.h):
 *
 *   nvidia.com/gpu.workload.config  vm-passthrough: Manager.BindVfio([]);
 *                                   container (or absent, with the default
 *                                   container): UnbindVfio([]); vm-vgpu: not
 *                                   handled, nothing done
 *   nvidia.com/gpu.deploy.vfio-manager paused: nothing done until it is back
 *   nvidia.com/cc.capable           from the daemon's CcCapable and HostTee
 *   DIR/workload-type, DIR/vfio-pci-ready
 *
 * It runs after the mode role (bridge.h hooks): a mode change and a
 * workload change that come together run as the Operator runs them,
 * operands paused, mode switched and verified, GPUs bound, operands
 * restored.  The device plugin offers devices only while the mode is
 * verified.  A GPU in use (the daemon's Busy, naming the holders) is told
 * in the journal and as a Node event, and tried again with a growing delay. */

#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bridge.h"
#include "devplugin.h"

typedef struct WorkloadOptions {
        const char *default_workload;   /* for an absent or empty label */
        const char *validations_dir;
        uint64_t vfio_timeout_usec;
        uint64_t retry_initial_usec;
        uint64_t retry_max_usec;
        struct CcdGate *gate;           /* the turns at nvidia-ccd (ccd-gate.h), shared with the bridge */
} WorkloadOptions;

typedef struct Workload Workload;

/* plugin may be NULL; neither bridge nor plugin is taken.  Sets the bridge's hooks. */
int workload_new(sd_event *event, sd_bus *bus, Bridge *bridge, DevicePlugin *plugin, const WorkloadOptions *o,
                 Workload **ret);
Workload *workload_free(Workload *w);
