/* SPDX-License-Identifier: MIT */
#pragma once

/* The GPU Operator's workload labels, as its vfio-manager and validator
 * read them (k8s-node-facts.md section 3):
 *
 *   nvidia.com/gpu.workload.config      container, vm-passthrough or vm-vgpu;
 *                                       absent or empty: the default
 *   nvidia.com/gpu.deploy.vfio-manager  "true" or empty (or absent): the VFIO
 *                                       role runs; any other value ("false",
 *                                       "paused-for-cc-mode-change", ...)
 *                                       pauses it
 *   nvidia.com/cc.capable               "true" or "false", for scheduling and
 *                                       the Operator's validator
 *
 * and the validation files the Operator's plugins wait for:
 * workload-type (the workload and a newline) and vfio-pci-ready (empty,
 * present only while every NVIDIA GPU is on a VFIO driver). */

#include <glib.h>
#include <stdbool.h>

#define WORKLOAD_LABEL            "nvidia.com/gpu.workload.config"
#define WORKLOAD_VFIO_MANAGER     "nvidia.com/gpu.deploy.vfio-manager"
#define CC_LABEL_CAPABLE          "nvidia.com/cc.capable"
#define WORKLOAD_CONTAINER        "container"
#define WORKLOAD_VM_PASSTHROUGH   "vm-passthrough"
#define WORKLOAD_VM_VGPU          "vm-vgpu"
#define WORKLOAD_TYPE_FILE        "workload-type"
#define WORKLOAD_VFIO_READY_FILE  "vfio-pci-ready"
#define DEFAULT_VALIDATIONS_DIR   "/run/nvidia/validations"

/* container, vm-passthrough, vm-vgpu. */
bool workload_is_valid(const char *workload);

/* The workload the node asks for: the label, or default_workload when it
 * is absent or empty.  May be invalid; check with workload_is_valid(). */
const char *workload_desired(GHashTable *labels, const char *default_workload);

/* Whether a value of nvidia.com/gpu.deploy.vfio-manager pauses the role. */
bool workload_vfio_manager_paused(const char *value);

/* Whether a driver is one the Operator's validator counts as VFIO. */
bool workload_driver_is_vfio(const char *driver);

/* nvidia.com/cc.capable for the daemon's CcCapable and HostTee. */
const char *workload_cc_capable(bool gpu_capable, const char *host_tee);
