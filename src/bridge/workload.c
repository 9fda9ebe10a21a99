/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <glib.h>
#include <unistd.h>

#include "backoff.h"
#include "ccd-client.h"
#include "ccd-gate.h"
#include "ccd-gpus.h"
#include "ccd-vfio.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "message-ids.h"
#include "time-util.h"
#include "workload-labels.h"
#include "workload.h"

#define POLKIT_RULE_HINT                                                                                    \
        "install /usr/share/doc/nvidia-ccd/50-nvidia-cc-k8s-bridge.rules.example as "                       \
        "/etc/polkit-1/rules.d/50-nvidia-cc-k8s-bridge.rules on the node, with polkitd running"

struct Workload {
        sd_event *event;
        sd_bus *bus;
        Bridge *bridge;
        DevicePlugin *plugin;
        char *default_workload;
        char *validations_dir;
        uint64_t vfio_timeout_usec;

        GHashTable *labels;        /* the Node's, as last seen; NULL: not yet */
        char *desired;             /* the workload asked for (may be invalid) */
        char *told;                /* the last "why nothing is done" told, once */
        char *settled;             /* the workload found or made so */
        char *type_written;        /* the content of workload-type */
        int vfio_ready;            /* vfio-pci-ready: -1 unknown, 0 absent, 1 present */

        CcdGpus *gpus;
        bool gpus_present;
        sd_event_source *update;   /* coalesces GPU changes */

        CcdGate *gate;             /* borrowed */
        CcdGateTurn *turn;         /* the call's turn at nvidia-ccd, waited for or held */
        sd_bus_slot *call;         /* BindVfio/UnbindVfio in flight */
        char *call_workload;
        bool holding;              /* the bridge's operands wait for the call */
        Backoff backoff;
        sd_event_source *retry;
        bool retry_armed;

        CcdHostFacts *facts;
        char *capable;             /* the value nvidia.com/cc.capable should have */
};

static void reconcile(Workload *w, bool bridge_turn);

/* A call waits for its turn or runs. */
static bool in_flight(Workload *w) {
        return w->call || w->turn;
}

/* ------------------------------------------------------------ files */

static char *validation_path(Workload *w, const char *name) {
        return g_build_filename(w->validations_dir, name, NULL);
}

static void write_validation(Workload *w, const char *name, const char *content) {
        g_autofree char *path = validation_path(w, name);
        int r;

        r = mkdir_parents(w->validations_dir, 0755);
        if (r >= 0)
                r = write_file_atomic(path, content, strlen(content), 0644);
        if (r < 0)
                log_error("cannot write %s: %s", path, strerror(-r));
        else
                log_debug("wrote %s", path);
}

static void remove_validation(Workload *w, const char *name) {
        g_autofree char *path = validation_path(w, name);

        if (unlink(path) >= 0)
                log_info("removed %s", path);
        else if (errno != ENOENT)
                log_warning("cannot remove %s: %s", path, strerror(errno));
}

static void write_workload_type(Workload *w, const char *workload) {
        g_autofree char *text = NULL;

        if (streq_ptr(w->type_written, workload))
                return;
        /* As the Operator's validator writes it. */
        text = g_strconcat(workload, "\n", NULL);
        write_validation(w, WORKLOAD_TYPE_FILE, text);
        g_free(w->type_written);
        w->type_written = g_strdup(workload);
}

/* Every NVIDIA GPU on a VFIO driver; NVSwitches do not count. */
static bool gpus_all_vfio(Workload *w, size_t *ret_n) {
        size_t n, n_gpus = 0;
        DpGpu **list = ccd_gpus_list(w->gpus, &n);
        bool all = true;

        for (size_t i = 0; i < n; i++) {
                if (!streq_ptr(list[i]->kind, "gpu"))
                        continue;
                n_gpus++;
                if (!workload_driver_is_vfio(list[i]->driver))
                        all = false;
        }
        if (ret_n)
                *ret_n = n_gpus;
        return all;
}

static bool gpus_none_vfio(Workload *w) {
        size_t n;
        DpGpu **list = ccd_gpus_list(w->gpus, &n);

        for (size_t i = 0; i < n; i++)
                if (streq_ptr(list[i]->kind, "gpu") && workload_driver_is_vfio(list[i]->driver))
                        return false;
        return true;
}

static void update_vfio_ready(Workload *w) {
        size_t n;
        bool ready;

        if (!w->gpus_present)
                return;
        ready = gpus_all_vfio(w, &n) && n > 0;
        if (w->vfio_ready == ready)
                return;
        if (ready) {
                write_validation(w, WORKLOAD_VFIO_READY_FILE, "");
                log_info("every NVIDIA GPU (%zu) is on a VFIO driver: wrote %s", n, WORKLOAD_VFIO_READY_FILE);
        } else
                remove_validation(w, WORKLOAD_VFIO_READY_FILE);
        w->vfio_ready = ready;
}

/* ------------------------------------------------------------ telling */

/* Says once why nothing is done, until the reason changes. */
static void tell_once(Workload *w, bool warning, const char *reason, const char *fmt, ...) _printf_(4, 5);
static void tell_once(Workload *w, bool warning, const char *reason, const char *fmt, ...) {
        g_autofree char *message = NULL;
        va_list ap;

        va_start(ap, fmt);
        message = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        if (streq_ptr(message, w->told))
                return;
        log_full(warning ? LOG_WARNING : LOG_NOTICE, "%s", message);
        if (reason)
                node_events_post(bridge_node_events(w->bridge), warning, reason, "%s", message);
        g_free(w->told);
        w->told = TAKE_PTR(message);
}

static void log_result(bool ok, const char *workload, const char *error) {
        if (ok)
                log_struct(LOG_INFO,
                           LOG_MESSAGE_ID(CC_MESSAGE_BRIDGE_WORKLOAD_APPLIED),
                           "CC_WORKLOAD=%s", workload,
                           LOG_MESSAGE("Workload %s applied as the node label asks", workload),
                           NULL);
        else
                log_struct(LOG_ERR,
                           LOG_MESSAGE_ID(CC_MESSAGE_BRIDGE_WORKLOAD_FAILED),
                           "CC_WORKLOAD=%s", workload,
                           "CC_ERROR=%s", strempty(error),
                           LOG_MESSAGE("Workload %s could not be applied: %s", workload, strempty(error)),
                           NULL);
}

/* ------------------------------------------------------------ the call */

static void schedule_retry(Workload *w, const char *workload) {
        uint64_t now, delay = backoff_next(&w->backoff);

        (void) sd_event_now(w->event, CLOCK_MONOTONIC, &now);
        log_info("trying workload %s again in %.1f s", workload, (double) delay / USEC_PER_SEC);
        if (sd_event_source_set_time(w->retry, now + delay) < 0 ||
            sd_event_source_set_enabled(w->retry, SD_EVENT_ONESHOT) < 0) {
                log_error("cannot arm the workload retry timer");
                return;
        }
        w->retry_armed = true;
}

static void call_done(const sd_bus_error *error, void *userdata) {
        Workload *w = userdata;
        g_autofree char *workload = NULL;
        bool bind, held = w->holding;
        NodeEvents *events = bridge_node_events(w->bridge);

        w->call = sd_bus_slot_unref(w->call);
        if (ccd_error_is_other_operation(error) && w->turn) {
                /* Another client's call runs: not a failure, ours follows. */
                ccd_gate_again(w->turn);
                return;
        }
        w->turn = ccd_gate_release(w->turn);
        workload = TAKE_PTR(w->call_workload);
        bind = streq(workload, WORKLOAD_VM_PASSTHROUGH);
        w->holding = false;
        if (!error) {
                log_result(true, workload, NULL);
                node_events_post(events, false, bind ? "VfioBound" : "VfioUnbound",
                                 bind ? "Every NVIDIA GPU bound to VFIO for workload %s"
                                      : "Every NVIDIA GPU given back to its driver for workload %s",
                                 workload);
                g_free(w->settled);
                w->settled = g_strdup(workload);
                backoff_reset(&w->backoff);
        } else {
                g_autofree char *what = NULL;

                what = g_strdup_printf("%s: %s", bind ? "BindVfio" : "UnbindVfio", strempty(error->message));
                log_result(false, workload, what);
                if (ccd_error_is_held(error))
                        /* The daemon names each holder: kubectl describe node tells who. */
                        node_events_post(events, true, "GPUInUse",
                                         "Workload %s waits: a GPU is in use, nothing was changed (%s); trying "
                                         "again with a growing delay",
                                         workload, strempty(error->message));
                else if (sd_bus_error_has_name(error, SD_BUS_ERROR_ACCESS_DENIED))
                        node_events_post(events, true, "VfioNotAuthorized",
                                         "polkit does not let the bridge (uid %u) manage VFIO (%s); "
                                         POLKIT_RULE_HINT,
                                         (unsigned) getuid(), what);
                else
                        node_events_post(events, true, "VfioFailed", "Workload %s not applied: %s%s%s", workload,
                                         error->name, error->message ? ": " : "", strempty(error->message));
                schedule_retry(w, workload);
        }
        update_vfio_ready(w);
        if (held)
                bridge_release_operands(w->bridge);
        /* The mode goes first, should one have come meanwhile. */
        bridge_resume(w->bridge);
        reconcile(w, false);
}

static void send_call(CcdGateTurn *turn, void *userdata) {
        Workload *w = userdata;
        bool bind = streq(w->call_workload, WORKLOAD_VM_PASSTHROUGH);
        int r;

        log_info("asking nvidia-ccd to %s every NVIDIA GPU for workload %s", bind ? "bind" : "unbind",
                 w->call_workload);
        r = ccd_vfio_call(w->bus, bind, w->vfio_timeout_usec, call_done, w, &w->call);
        if (r < 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

                (void) sd_bus_error_setf(&error, SD_BUS_ERROR_FAILED, "cannot call %s: %s",
                                         bind ? "BindVfio" : "UnbindVfio", strerror(-r));
                call_done(&error, w);
        }
}

static bool start_call(Workload *w, const char *workload) {
        bool bind = streq(workload, WORKLOAD_VM_PASSTHROUGH);
        int r;

        g_free(w->call_workload);
        w->call_workload = g_strdup(workload);
        /* A runtime-class pull or removal of this bridge may hold
         * nvidia-ccd: the call waits its turn instead of being refused. */
        r = ccd_gate_acquire(w->gate, bind ? "BindVfio" : "UnbindVfio", send_call, w, &w->turn);
        if (r < 0) {
                log_error("cannot queue %s: %s", bind ? "BindVfio" : "UnbindVfio", strerror(-r));
                g_clear_pointer(&w->call_workload, g_free);
                return false;
        }
        return true;
}

/* ------------------------------------------------------------ deciding */

/* The vfio-manager label as the cluster set it: a pause of the bridge's own
 * (around a mode switch) is not the cluster's. */
static const char *vfio_manager_value(Workload *w) {
        const char *mine = bridge_paused_original(w->bridge, WORKLOAD_VFIO_MANAGER);

        return mine ?: g_hash_table_lookup(w->labels, WORKLOAD_VFIO_MANAGER);
}

/* bridge_turn: called by the mode role as its attempt ends. */
static void reconcile(Workload *w, bool bridge_turn) {
        const char *want = w->desired, *manager;
        bool bind;

        if (!w->labels || in_flight(w) || w->retry_armed)
                return;
        if (!bridge_turn && !bridge_mode_idle(w->bridge))
                return; /* the mode first: its end calls again */
        if (!workload_is_valid(want)) {
                tell_once(w, true, "InvalidWorkload",
                          "%s=\"%s\" is not one of container, vm-passthrough, vm-vgpu; nothing was changed",
                          WORKLOAD_LABEL, strempty(want));
                return;
        }
        write_workload_type(w, want);
        manager = vfio_manager_value(w);
        if (workload_vfio_manager_paused(manager)) {
                tell_once(w, false, "VfioPaused", "%s=%s: the VFIO role is paused; nothing is done until it is back",
                          WORKLOAD_VFIO_MANAGER, manager);
                return;
        }
        if (streq(want, WORKLOAD_VM_VGPU)) {
                tell_once(w, true, "WorkloadNotHandled",
                          "workload %s is not handled by nvidia-cc-k8s-bridge; the GPUs are left as they are", want);
                return;
        }
        /* Nothing in the way: the next obstacle is told afresh. */
        g_clear_pointer(&w->told, g_free);
        if (streq_ptr(w->settled, want))
                return;
        if (!w->gpus_present)
                return; /* the daemon's objects come, and call again */
        bind = streq(want, WORKLOAD_VM_PASSTHROUGH);
        if (bind ? gpus_all_vfio(w, NULL) : gpus_none_vfio(w)) {
                log_info("workload %s: every NVIDIA GPU is %s already", want,
                         bind ? "on a VFIO driver" : "off VFIO");
                log_result(true, want, NULL);
                g_free(w->settled);
                w->settled = g_strdup(want);
                return;
        }
        (void) start_call(w, want);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Workload *w = userdata;

        w->retry_armed = false;
        reconcile(w, false);
        return 0;
}

static int on_update(sd_event_source *s, void *userdata) {
        Workload *w = userdata;

        update_vfio_ready(w);
        reconcile(w, false);
        return 0;
}

static void gpus_changed(CcdGpus *g, void *userdata) {
        Workload *w = userdata;
        bool present = ccd_gpus_present(g);

        /* A daemon that came back is asked afresh. */
        if (present && !w->gpus_present)
                g_clear_pointer(&w->settled, g_free);
        w->gpus_present = present;
        (void) sd_event_source_set_enabled(w->update, SD_EVENT_ONESHOT);
}

/* ------------------------------------------------------------ cc.capable */

static void write_capable(Workload *w) {
        const char *now;

        if (!w->capable || !w->labels)
                return;
        now = g_hash_table_lookup(w->labels, CC_LABEL_CAPABLE);
        if (streq_ptr(now, w->capable))
                return;
        log_info("%s=%s", CC_LABEL_CAPABLE, w->capable);
        (void) label_writer_set(bridge_label_writer(w->bridge), CC_LABEL_CAPABLE, w->capable);
}

static void facts_changed(bool known, bool cc_capable, const char *host_tee, void *userdata) {
        Workload *w = userdata;
        const char *value;

        if (!known)
                return; /* the last answer stands while the daemon is away */
        value = workload_cc_capable(cc_capable, host_tee);
        if (!streq_ptr(value, w->capable))
                log_info("nvidia-ccd reports CcCapable=%s, HostTee=%s", cc_capable ? "true" : "false", strempty(host_tee));
        g_free(w->capable);
        w->capable = g_strdup(value);
        write_capable(w);
}

/* ------------------------------------------------------------ the hooks */

static void hook_node_labels(GHashTable *labels, void *userdata) {
        Workload *w = userdata;
        const char *desired = workload_desired(labels, w->default_workload);

        if (w->labels)
                g_hash_table_unref(w->labels);
        w->labels = g_hash_table_ref(labels);
        if (!streq_ptr(desired, w->desired)) {
                log_info("the node asks for workload %s%s", strempty(desired),
                         desired == w->default_workload ? " (the default: " WORKLOAD_LABEL " is not set)" : "");
                g_free(w->desired);
                w->desired = g_strdup(desired);
                backoff_reset(&w->backoff);
                if (w->retry_armed) {
                        (void) sd_event_source_set_enabled(w->retry, SD_EVENT_OFF);
                        w->retry_armed = false;
                }
        }
        write_capable(w);
        reconcile(w, false);
}

static void hook_mode_verified(bool verified, void *userdata) {
        Workload *w = userdata;

        if (w->plugin)
                device_plugin_set_gate(w->plugin, verified);
}

static bool hook_attempt_ended(void *userdata) {
        Workload *w = userdata;

        /* A switch may have moved the GPUs: look again. */
        g_clear_pointer(&w->settled, g_free);
        if (in_flight(w))
                return false;
        reconcile(w, true);
        w->holding = in_flight(w);
        return w->holding;
}

static bool hook_busy(void *userdata) {
        Workload *w = userdata;

        return in_flight(w);
}

/* ------------------------------------------------------------ object */

int workload_new(sd_event *event, sd_bus *bus, Bridge *bridge, DevicePlugin *plugin, const WorkloadOptions *o,
                 Workload **ret) {
        static const BridgeHooks hooks = {
                .node_labels = hook_node_labels,
                .mode_verified = hook_mode_verified,
                .attempt_ended = hook_attempt_ended,
                .busy = hook_busy,
        };
        Workload *w;
        int r;

        assert(event);
        assert(bus);
        assert(bridge);
        assert(o && o->default_workload && o->validations_dir && o->gate);
        assert(ret);

        w = g_new0(Workload, 1);
        w->event = sd_event_ref(event);
        w->bus = sd_bus_ref(bus);
        w->bridge = bridge;
        w->plugin = plugin;
        w->default_workload = g_strdup(o->default_workload);
        w->validations_dir = g_strdup(o->validations_dir);
        w->vfio_timeout_usec = o->vfio_timeout_usec;
        w->gate = o->gate;
        w->vfio_ready = -1;
        backoff_init(&w->backoff, o->retry_initial_usec, o->retry_max_usec);

        r = sd_event_add_time(event, &w->retry, CLOCK_MONOTONIC, UINT64_MAX, 0, on_retry, w);
        if (r >= 0)
                r = sd_event_source_set_enabled(w->retry, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_defer(event, &w->update, on_update, w);
        if (r >= 0)
                r = sd_event_source_set_enabled(w->update, SD_EVENT_OFF);
        if (r >= 0)
                r = ccd_gpus_new(bus, gpus_changed, w, &w->gpus);
        if (r >= 0)
                r = ccd_gpus_start(w->gpus);
        if (r >= 0)
                r = ccd_host_facts_new(bus, facts_changed, w, &w->facts);
        if (r < 0) {
                workload_free(w);
                return r;
        }
        /* Devices wait for the mode to be verified. */
        if (plugin)
                device_plugin_set_gate(plugin, false);
        bridge_set_hooks(bridge, &hooks, w);
        *ret = w;
        return 0;
}

Workload *workload_free(Workload *w) {
        if (!w)
                return NULL;
        if (w->bridge)
                bridge_set_hooks(w->bridge, NULL, NULL);
        sd_bus_slot_unref(w->call);
        ccd_gate_release(w->turn);
        sd_event_source_disable_unref(w->retry);
        sd_event_source_disable_unref(w->update);
        ccd_gpus_free(w->gpus);
        ccd_host_facts_free(w->facts);
        if (w->labels)
                g_hash_table_unref(w->labels);
        sd_bus_unref(w->bus);
        sd_event_unref(w->event);
        g_free(w->default_workload);
        g_free(w->validations_dir);
        g_free(w->desired);
        g_free(w->told);
        g_free(w->settled);
        g_free(w->type_written);
        g_free(w->call_workload);
        g_free(w->capable);
        g_free(w);
        return NULL;
}
