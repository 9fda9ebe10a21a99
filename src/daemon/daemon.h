/* SPDX-License-Identifier: MIT */
#pragma once

/* The daemon's state: the loop, the bus, the host, the device inventory and
 * the one mutating operation that may run at a time. */

#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "authorizer.h"
#include "config.h"
#include "device.h"
#include "hw-host.h"
#include "mode-switch.h"
#include "operation.h"
#include "vfio-plan.h"

#define CC_BUS_NAME "org.nvidia.ConfidentialCompute"
#define CC_MANAGER_PATH "/org/nvidia/ConfidentialCompute"
#define CC_MANAGER_INTERFACE "org.nvidia.ConfidentialCompute.Manager"
#define CC_GPU_PATH_PREFIX "/org/nvidia/ConfidentialCompute/gpu"
#define CC_GPU_INTERFACE "org.nvidia.ConfidentialCompute.Gpu"
#define CC_RUNTIME_CLASS_PATH_PREFIX "/org/nvidia/ConfidentialCompute/runtime_class"
#define CC_RUNTIME_CLASS_INTERFACE "org.nvidia.ConfidentialCompute.RuntimeClass"

typedef enum ModeState {
        MODE_STATE_IDLE,
        MODE_STATE_SWITCHING,
        MODE_STATE_FAILED,
} ModeState;

struct Daemon {
        sd_event *event;
        sd_bus *bus;
        Authorizer *authorizer;

        HwHost *host;
        CcConfig config;
        /* The directory of the configuration file (/etc/nvidia-ccd): the
         * only place files named by callers are opened (kata-options.h). */
        char *config_dir;
        char *state_dir;
        const char *host_tee;
        TargetMode default_mode;   /* effective: after the no-TEE fallback */

        CcInventory *inventory;
        char *mode;                /* last published aggregate, to emit changes */

        ModeState mode_state;
        ModeState state_before_switch;  /* given back when a switch is refused */
        char *last_error;

        /* The one mutating operation (operation.h), and its job: at most
         * one of these is set while it runs. */
        Operation *operation;
        CcSwitch *active_switch;
        sd_event_source *switch_source;
        struct VfioJob *vfio_job;
        struct KataJob *kata_job;
        struct RescanJob *rescan_job;

        /* Read-only previews (PlanSetMode, PlanBindVfio) being computed;
         * they run beside anything else (plan-control.c). */
        struct PlanJob *plan_jobs;
        unsigned n_plan_jobs;

        /* Installed runtime classes, sorted by name (kata-control.c). */
        struct KataRecord **runtime_classes;
        size_t n_runtime_classes;

        /* READY=1 waits for the switch started at start (a resumed one or
         * the default mode). */
        bool ready_pending;

        bool exit_requested;
        int exit_code;
};

int daemon_new(Daemon **ret);
Daemon *daemon_free(Daemon *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(Daemon *, daemon_free);

/* Registers the objects and takes the bus name. */
int daemon_connect_bus(Daemon *d, const char *bus_spec);
int daemon_run(Daemon *d);
/* READY=1 to the service manager, once the start-up switch has ended. */
void daemon_notify_ready(Daemon *d);

/* Bus objects (bus-manager.c, bus-gpu.c). */
int bus_manager_register(Daemon *d);
int bus_gpu_register(Daemon *d);
char *bus_gpu_path(const char *bdf);
int bus_manager_emit_changed(Daemon *d, const char *property, ...) _sentinel_;

/* Mode switching on the bus (mode-control.c). */
/* SetMode(s) of the Manager (bdf NULL: every capable device) or of one Gpu. */
/* The mode argument of SetMode and PlanSetMode, read once the caller is
 * authorized: InvalidArgument past MODE_NAME_MAX bytes or unless exactly
 * on, off, devtools or ppcie. */
int mode_control_read_mode(sd_bus_message *m, TargetMode *ret, sd_bus_error *error);
int mode_control_method_set_mode(Daemon *d, sd_bus_message *m, const char *bdf, sd_bus_error *error);
int mode_control_start(Daemon *d, TargetMode mode, CcSwitchTarget *targets, size_t n,
                       sd_bus_message *request, sd_bus_error *error);
int mode_control_apply_default(Daemon *d);
int mode_control_resume(Daemon *d);
void mode_control_publish_mode(Daemon *d);

/* VFIO binding on the bus (vfio-control.c). */
/* BindVfio/UnbindVfio of the Manager (bdf NULL: the "as" argument) or of
 * one Gpu. */
int vfio_control_method(Daemon *d, sd_bus_message *m, VfioAction action, const char *bdf, sd_bus_error *error);
/* At start, before discovery: finishes a request a crash cut short. */
int vfio_control_recover(Daemon *d);
/* After discovery: the CDI specification matches what is bound. */
int vfio_control_sync_cdi(Daemon *d);
void vfio_control_done(Daemon *d);

/* Read-only previews on the bus (plan-control.c). */
int plan_control_method_set_mode(Daemon *d, sd_bus_message *m, sd_bus_error *error);
int plan_control_method_bind_vfio(Daemon *d, sd_bus_message *m, sd_bus_error *error);
void plan_control_done(Daemon *d);

/* Inventory changes (rescan.c). */
/* Rescan on a worker thread; answers m when done (rescan.c). */
int daemon_rescan_start(Daemon *d, sd_bus_message *m, sd_bus_error *error);
void daemon_rescan_job_free(struct RescanJob *j);

const char *mode_state_to_string(ModeState s);

/* Kata artifacts (kata-control.c, bus-runtime-class.c). */
int kata_control_load(Daemon *d);
void kata_control_done(Daemon *d);
int kata_control_method_install(Daemon *d, sd_bus_message *m, sd_bus_error *error);
int kata_control_method_remove(Daemon *d, sd_bus_message *m, sd_bus_error *error);
int kata_control_append_progress(Daemon *d, sd_bus_message *reply);
/* SIGTERM: a pull in progress is cancelled (the rest of a job finishes). */
void kata_control_stop(Daemon *d);
int bus_runtime_class_register(Daemon *d);
char *bus_runtime_class_path(const char *name);
