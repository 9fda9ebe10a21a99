/* SPDX-License-Identifier: MIT */
#pragma once

/* nvidia-ccctl's side of the bus: connecting, reading every object with one
 * GetManagedObjects() call, and the SetMode() calls. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "ctl-args.h"
#include "ctl-model.h"
#include "ctl-plan.h"

#define CTL_MANAGER_PATH "/org/nvidia/ConfidentialCompute"
#define CTL_GPU_PATH_PREFIX "/org/nvidia/ConfidentialCompute/gpu"
#define CTL_MANAGER_INTERFACE "org.nvidia.ConfidentialCompute.Manager"
#define CTL_GPU_INTERFACE "org.nvidia.ConfidentialCompute.Gpu"
#define CTL_RUNTIME_CLASS_INTERFACE "org.nvidia.ConfidentialCompute.RuntimeClass"

/* Reads take no long; a mode switch resets GPUs and waits for them to boot
 * again, which takes seconds per GPU. */
#define CTL_READ_TIMEOUT_SEC 25
#define CTL_SET_MODE_TIMEOUT_SEC (5 * 60)
/* Taking a GPU from nvidia waits for the driver to let it go. */
#define CTL_VFIO_TIMEOUT_SEC (5 * 60)

/* interactive: let polkit ask for a password through an agent.  address:
 * the D-Bus address of CTL_BUS_ADDRESS, the [USER@]HOST of CTL_BUS_REMOTE. */
int ctl_bus_open(CtlBusKind kind, const char *address, bool interactive, sd_bus **ret);
/* "the system bus (unix:path=/run/dbus/system_bus_socket)", for messages. */
const char *ctl_bus_describe(CtlBusKind kind, const char *address, char *buf, size_t size);

/* Fills *host (set up with ctl_host_init()) with the Manager's properties,
 * one device per Gpu object, sorted by address, and one runtime class per
 * RuntimeClass object, sorted by name. */
int ctl_bus_read_host(sd_bus *bus, CtlHost *host, sd_bus_error *error);

/* gpu NULL or "": Manager.SetMode, else that device's Gpu.SetMode. */
int ctl_bus_set_mode(sd_bus *bus, const char *gpu, const char *mode, sd_bus_error *error);

/* Manager.BindVfio(addresses) or UnbindVfio(addresses); n 0: every GPU. */
int ctl_bus_vfio(sd_bus *bus, bool bind, const char (*addresses)[CTL_BDF_MAX], size_t n, sd_bus_error *error);

/* Manager.PlanSetMode(mode) or, with vfio, Manager.PlanBindVfio(addresses)
 * into *plan (set up with ctl_plan_init()).  Keys this release does not
 * know are skipped; a known key of another type is an error. */
int ctl_bus_plan(sd_bus *bus, bool vfio, const char *mode, const char (*addresses)[CTL_BDF_MAX], size_t n,
                 CtlPlan *plan, sd_bus_error *error);
