/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>

#include "backoff.h"
#include "bridge.h"
#include "cc-labels.h"
#include "ccd-client.h"
#include "ccd-gate.h"
#include "cluster-default.h"
#include "fileio.h"
#include "gpu-present.h"
#include "json-util.h"
#include "kube-watch.h"
#include "label-writer.h"
#include "log.h"
#include "macro.h"
#include "message-ids.h"
#include "operand-wait.h"
#include "pause-record.h"
#include "time-util.h"

#define POLKIT_RULE_HINT                                                                                    \
        "install /usr/share/doc/nvidia-ccd/50-nvidia-cc-k8s-bridge.rules.example as "                       \
        "/etc/polkit-1/rules.d/50-nvidia-cc-k8s-bridge.rules on the node, with polkitd running"

typedef enum Phase {
        PHASE_IDLE,
        PHASE_REPORTING, /* no mode asked for: reading Mode to report it */
        PHASE_CHECKING,  /* reading Mode: is there anything to switch? */
        PHASE_PLANNING,  /* PlanSetMode: would nvidia-ccd do it, may we? */
        PHASE_EVICTING,  /* operand labels paused, waiting for the pods to go */
        PHASE_SWITCHING, /* SetMode sent */
        PHASE_VERIFYING, /* reading Mode back */
} Phase;

struct Bridge {
        sd_event *event;
        sd_bus *bus;
        KubeClient *kube;
        NodeEvents *events;
        BridgeOptions opt;
        char *node_name, *default_mode, *operator_namespace, *readiness_file, *pause_record;

        KubeWatch *node_watch;
        ClusterDefault *cluster_default;
        GpuPresent *gpu_present;
        char *cluster_mode;       /* the cluster default; NULL: none */
        bool default_known;       /* the cluster default's first answer is in */
        bool desired_known;       /* desired was decided once */
        LabelWriter *labels;
        CcdClient *ccd;
        CcdGate *gate;            /* borrowed; shared with the other roles */
        CcdGateTurn *turn;        /* SetMode's turn at nvidia-ccd */

        bool node_seen;
        GHashTable *node_labels;  /* the Node's labels as last seen */
        char *desired;            /* the mode the node asks for; NULL: none */
        char *state_written;      /* the last nvidia.com/cc.mode.state written */

        Phase phase;
        char *attempt;            /* the mode the running attempt applies */
        bool again;               /* reconcile once the running attempt ends */
        bool attempt_paused;      /* this attempt paused operand labels */
        uint64_t attempt_started;
        GHashTable *paused;       /* operand label -> value before the pause; NULL: none */
        uint64_t restore_generation;
        OperandWait *wait;

        /* Identical failures in a row of attempts that paused the operands. */
        char *last_paused_failure;
        unsigned paused_failures;

        Backoff retry_backoff;
        sd_event_source *retry;
        bool daemon_present;

        BridgeHooks hooks;
        void *hooks_userdata;
};

static void start_attempt(Bridge *b);

/* ------------------------------------------------------------ results */

static void write_readiness(Bridge *b, bool ready, const char *mode) {
        g_autofree char *dir = NULL, *text = NULL;
        int r;

        if (!b->readiness_file)
                return;
        if (!ready) {
                if (unlink(b->readiness_file) >= 0)
                        log_debug("removed %s", b->readiness_file);
                else if (errno != ENOENT)
                        log_warning("cannot remove %s: %s", b->readiness_file, strerror(errno));
                return;
        }
        dir = g_path_get_dirname(b->readiness_file);
        text = g_strconcat(mode, "\n", NULL);
        r = mkdir_parents(dir, 0755);
        if (r >= 0)
                r = write_file_atomic(b->readiness_file, text, strlen(text), 0644);
        if (r < 0)
                log_error("cannot write %s: %s", b->readiness_file, strerror(-r));
}

static void write_state(Bridge *b, const char *state) {
        (void) label_writer_set(b->labels, CC_LABEL_MODE_STATE,
                                cc_mode_state_label(b->opt.mode_state_format, state, b->desired));
        (void) label_writer_set(b->labels, CC_LABEL_READY_STATE, cc_ready_state(state));
        g_free(b->state_written);
        b->state_written = g_strdup(state);
}

static int compare_strings(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* "a=x, b=y" of a label table, sorted, for messages. */
static char *describe_labels(GHashTable *labels) {
        g_autofree const char **keys = (const char **) g_hash_table_get_keys_as_array(labels, NULL);
        GString *out = g_string_new(NULL);

        qsort(keys, g_hash_table_size(labels), sizeof(char *), compare_strings);
        for (const char **k = keys; k && *k; k++)
                g_string_append_printf(out, "%s%s=%s", out->len ? ", " : "", *k,
                                       (const char *) g_hash_table_lookup(labels, *k));
        return g_string_free(out, false);
}

static void restore_operands(Bridge *b) {
        g_autofree char *list = NULL;
        GHashTableIter iter;
        gpointer key, value;

        if (!b->paused)
                return;
        g_hash_table_iter_init(&iter, b->paused);
        while (g_hash_table_iter_next(&iter, &key, &value))
                b->restore_generation = label_writer_set(b->labels, key, value);
        list = describe_labels(b->paused);
        log_info("restoring %u operand label(s)", g_hash_table_size(b->paused));
        node_events_post(b->events, false, "OperandsRestored", "Operand labels restored: %s", list);
        g_clear_pointer(&b->paused, g_hash_table_unref);
}

static void schedule_retry(Bridge *b, const char *mode) {
        uint64_t now, delay = backoff_next(&b->retry_backoff);

        (void) sd_event_now(b->event, CLOCK_MONOTONIC, &now);
        log_info("trying mode %s again in %.1f s", mode, (double) delay / USEC_PER_SEC);
        if (sd_event_source_set_time(b->retry, now + delay) < 0 ||
            sd_event_source_set_enabled(b->retry, SD_EVENT_ONESHOT) < 0)
                log_error("cannot arm the retry timer");
}

static void reset_failures(Bridge *b) {
        g_clear_pointer(&b->last_paused_failure, g_free);
        b->paused_failures = 0;
}

static void mode_verified(Bridge *b, bool verified) {
        if (b->hooks.mode_verified)
                b->hooks.mode_verified(verified, b->hooks_userdata);
}

/* The attempt is over: the operands come back, unless the workload role
 * has its part to do first (the Operator binds VFIO before it restores). */
static void attempt_over(Bridge *b) {
        if (b->hooks.attempt_ended && b->hooks.attempt_ended(b->hooks_userdata))
                return;
        restore_operands(b);
}

static void reconcile(Bridge *b) {
        /* Not before the cluster default is known: a node without the label
         * would switch to the bridge's own default first, then to it. */
        if (!b->node_seen || !b->default_known)
                return;
        if (b->phase != PHASE_IDLE || (b->hooks.busy && b->hooks.busy(b->hooks_userdata))) {
                b->again = true;
                return;
        }
        start_attempt(b);
}

/* Counts a failure of an attempt that paused the operands; true when the
 * same failure came often enough that pausing them again would only
 * disturb the node once more. */
static bool count_paused_failure(Bridge *b, const char *reason) {
        if (streq_ptr(reason, b->last_paused_failure))
                b->paused_failures++;
        else {
                g_free(b->last_paused_failure);
                b->last_paused_failure = g_strdup(reason);
                b->paused_failures = 1;
        }
        return b->paused_failures >= BRIDGE_MAX_PAUSED_FAILURES;
}

/* The end of every attempt, good or bad: state labels, operand labels,
 * readiness, the journal, the Node's events, and what comes next.
 * event_reason: the Event's reason for a failure. */
static void end_attempt(Bridge *b, bool ok, bool switched, const char *event_reason, const char *reason) {
        g_autofree char *mode = TAKE_PTR(b->attempt);
        bool paused = b->attempt_paused, stop = false;
        uint64_t now;

        b->wait = operand_wait_free(b->wait);
        b->turn = ccd_gate_release(b->turn);
        b->phase = PHASE_IDLE;
        b->attempt_paused = false;

        write_state(b, ok ? mode : CC_MODE_STATE_FAILED);
        mode_verified(b, ok);
        attempt_over(b);
        write_readiness(b, ok, mode);

        if (ok) {
                log_struct(LOG_INFO,
                           LOG_MESSAGE_ID(CC_MESSAGE_BRIDGE_APPLIED),
                           "CC_MODE=%s", mode,
                           "CC_NODE=%s", b->node_name,
                           LOG_MESSAGE("Mode %s applied as the node label asks", mode),
                           NULL);
                backoff_reset(&b->retry_backoff);
                reset_failures(b);
                if (switched) {
                        (void) sd_event_now(b->event, CLOCK_MONOTONIC, &now);
                        node_events_post(b->events, false, "CCModeApplied",
                                         "Mode %s applied and verified by nvidia-ccd in %.1f s", mode,
                                         (double) (now - b->attempt_started) / USEC_PER_SEC);
                }
        } else {
                log_struct(LOG_ERR,
                           LOG_MESSAGE_ID(CC_MESSAGE_BRIDGE_FAILED),
                           "CC_MODE=%s", mode,
                           "CC_NODE=%s", b->node_name,
                           "CC_ERROR=%s", strempty(reason),
                           LOG_MESSAGE("Mode %s could not be applied: %s", mode, strempty(reason)),
                           NULL);
                node_events_post(b->events, true, event_reason, "Mode %s not applied: %s%s", mode,
                                 strempty(reason), paused ? " (the operands were paused and are restored)" : "");
                stop = paused && count_paused_failure(b, reason);
                if (stop) {
                        log_error("mode %s failed %u times in a row with the same error after pausing the "
                                  "operands; not trying again until the label, nvidia-ccd or the bridge changes",
                                  mode, b->paused_failures);
                        node_events_post(b->events, true, "CCModeRetriesStopped",
                                         "Mode %s failed %u times in a row with the same error, each time after "
                                         "pausing the operands; the bridge stops trying (and pausing them) until "
                                         "nvidia.com/cc.mode changes, nvidia-ccd restarts or the bridge's pod is "
                                         "restarted. The error: %s",
                                         mode, b->paused_failures, strempty(reason));
                }
        }

        if (b->again || !streq_ptr(b->desired, mode)) {
                b->again = false;
                reconcile(b);
        } else if (!ok && cc_mode_is_valid(mode) && !stop)
                schedule_retry(b, mode);
}

static void attempt_failed(Bridge *b, const char *event_reason, const char *fmt, ...) _printf_(3, 4);
static void attempt_failed(Bridge *b, const char *event_reason, const char *fmt, ...) {
        g_autofree char *reason = NULL;
        va_list ap;

        va_start(ap, fmt);
        reason = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        end_attempt(b, false, false, event_reason, reason);
}

static void attempt_succeeded(Bridge *b, bool switched) {
        end_attempt(b, true, switched, NULL, NULL);
}

/* An error from nvidia-ccd, with what to do about the ones that have a
 * remedy on the node. */
static void attempt_failed_bus(Bridge *b, const char *what, const sd_bus_error *error) {
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_ACCESS_DENIED))
                attempt_failed(b, "CCModeNotAuthorized",
                               "polkit does not let the bridge (uid %u) set the mode (%s: %s); " POLKIT_RULE_HINT,
                               (unsigned) getuid(), what, strempty(error->message));
        else if (ccd_error_is_absent(error)) {
                b->daemon_present = false;
                attempt_failed(b, "CCModeFailed", "nvidia-ccd is not on the system bus (%s: %s)", what,
                               strempty(error->message));
        } else
                attempt_failed(b, "CCModeFailed", "%s: %s%s%s", what, error->name, error->message ? ": " : "",
                               strempty(error->message));
}

/* ------------------------------------------------------------ the switch */

static void get_mode_done(CcdClient *c, const char *mode, const sd_bus_error *error, void *userdata) {
        Bridge *b = userdata;

        if (b->phase != PHASE_VERIFYING)
                return;
        if (error)
                attempt_failed_bus(b, "reading Mode back", error);
        else if (!streq(mode, b->attempt))
                attempt_failed(b, "CCModeFailed", "nvidia-ccd reports mode %s after the switch", mode);
        else
                attempt_succeeded(b, true);
}

static void set_mode_done(CcdClient *c, const sd_bus_error *error, void *userdata) {
        Bridge *b = userdata;
        int r;

        if (ccd_error_is_other_operation(error) && b->turn) {
                /* Not a failure: another client's call runs; ours follows. */
                ccd_gate_again(b->turn);
                return;
        }
        b->turn = ccd_gate_release(b->turn);
        if (error) {
                attempt_failed_bus(b, "SetMode", error);
                return;
        }
        /* Verified by the daemon; read back, so the label says what is. */
        b->phase = PHASE_VERIFYING;
        r = ccd_client_get_mode(b->ccd, get_mode_done, b);
        if (r < 0)
                attempt_failed(b, "CCModeFailed", "cannot read Mode back from nvidia-ccd: %s", strerror(-r));
}

static void send_set_mode(CcdGateTurn *turn, void *userdata) {
        Bridge *b = userdata;
        int r;

        log_info("asking nvidia-ccd for mode %s", b->attempt);
        r = ccd_client_set_mode(b->ccd, b->attempt, b->opt.set_mode_timeout_usec, set_mode_done, b);
        if (r < 0)
                attempt_failed(b, "CCModeFailed", "cannot call SetMode: %s", strerror(-r));
}

static void switch_begin(Bridge *b) {
        int r;

        b->phase = PHASE_SWITCHING;
        /* A runtime-class pull of this bridge may hold nvidia-ccd: SetMode
         * waits its turn instead of being refused. */
        r = ccd_gate_acquire(b->gate, "SetMode", send_set_mode, b, &b->turn);
        if (r < 0)
                attempt_failed(b, "CCModeFailed", "cannot queue SetMode: %s", strerror(-r));
}

static void operands_gone(OperandWait *w, int r, void *userdata) {
        Bridge *b = userdata;

        if (r < 0) {
                unsigned n = operand_wait_remaining(w);

                attempt_failed(b, "CCModeFailed", "%u operand pod(s) still on the node after %" PRIu64 " s", n,
                               (uint64_t) (b->opt.eviction_timeout_usec / USEC_PER_SEC));
                return;
        }
        log_info("operand pods are gone from the node");
        b->wait = operand_wait_free(b->wait);
        switch_begin(b);
}

/* Pauses the operand labels that are set, records what they were, and
 * waits for their pods.  Returns false when there is nothing to wait for. */
static bool pause_operands(Bridge *b) {
        g_autoptr(GHashTable) pause = NULL, original = NULL;
        g_autofree char *list = NULL;
        CcError err = CC_ERROR_INIT;
        GHashTableIter iter;
        gpointer key, value;
        int r;

        cc_operands_to_pause(b->node_labels, &pause, &original);
        if (!b->paused)
                b->paused = cc_labels_new();
        /* A label recorded by an earlier pause keeps its first value. */
        g_hash_table_iter_init(&iter, original);
        while (g_hash_table_iter_next(&iter, &key, &value))
                if (!g_hash_table_contains(b->paused, key))
                        g_hash_table_insert(b->paused, g_strdup(key), g_strdup(value));
        if (g_hash_table_size(b->paused) == 0) {
                g_clear_pointer(&b->paused, g_hash_table_unref);
                return false;
        }

        /* The record first: a crash after the patch must find it. */
        r = pause_record_save(b->pause_record, b->paused, &err);
        if (r < 0)
                log_error("%s; a restart before the labels are restored will not restore them", err.message);

        g_hash_table_iter_init(&iter, pause);
        while (g_hash_table_iter_next(&iter, &key, &value)) {
                log_info("pausing %s", (const char *) key);
                (void) label_writer_set(b->labels, key, value);
        }
        b->attempt_paused = true;
        list = describe_labels(b->paused);
        node_events_post(b->events, false, "OperandsPaused",
                         "Operand labels paused for the switch to mode %s (their pods must leave the node "
                         "first): %s",
                         b->attempt, list);

        b->phase = PHASE_EVICTING;
        r = operand_wait_new(b->kube, b->event, b->node_name, b->operator_namespace, b->opt.eviction_timeout_usec,
                             operands_gone, b, &b->wait);
        if (r < 0)
                attempt_failed(b, "CCModeFailed", "cannot watch the operand pods: %s", strerror(-r));
        return true;
}

static void evict_and_switch(Bridge *b) {
        /* From here the node is switching: the mode it was in is no longer
         * one to count on. */
        write_state(b, CC_MODE_STATE_SWITCHING);
        mode_verified(b, false);
        if (b->opt.evict_operands && pause_operands(b))
                return;
        switch_begin(b);
}

static void plan_done(CcdClient *c, CcdPlan *plan, const sd_bus_error *error, void *userdata) {
        Bridge *b = userdata;
        g_autofree char *refusals = NULL;

        if (b->phase != PHASE_PLANNING) {
                ccd_plan_free(plan);
                return;
        }
        if (error) {
                if (ccd_error_is_unknown_method(error)) {
                        /* An nvidia-ccd older than the plans: SetMode will tell. */
                        log_info("nvidia-ccd has no PlanSetMode; switching without a plan");
                        evict_and_switch(b);
                } else
                        attempt_failed_bus(b, "PlanSetMode", error);
                return;
        }
        if (ccd_plan_n_refused(plan) > 0) {
                refusals = ccd_plan_describe_refusals(plan);
                ccd_plan_free(plan);
                attempt_failed(b, "CCModeRefused", "nvidia-ccd would refuse the switch, so nothing was paused: %s",
                               refusals);
                return;
        }
        ccd_plan_free(plan);
        evict_and_switch(b);
}

static void check_mode_done(CcdClient *c, const char *mode, const sd_bus_error *error, void *userdata) {
        Bridge *b = userdata;
        int r;

        if (b->phase != PHASE_CHECKING)
                return;
        if (error) {
                attempt_failed_bus(b, "reading Mode", error);
                return;
        }
        if (streq(mode, b->attempt)) {
                log_info("nvidia-ccd reports mode %s already", mode);
                attempt_succeeded(b, false);
                return;
        }
        /* Before anything is paused: would the switch be allowed and done? */
        b->phase = PHASE_PLANNING;
        r = ccd_client_plan_set_mode(b->ccd, b->attempt, plan_done, b);
        if (r < 0)
                attempt_failed(b, "CCModeFailed", "cannot call PlanSetMode: %s", strerror(-r));
}

/* ------------------------------------------------------------ no mode asked for */

static void report_done(CcdClient *c, const char *mode, const sd_bus_error *error, void *userdata) {
        Bridge *b = userdata;

        if (b->phase != PHASE_REPORTING)
                return;
        b->phase = PHASE_IDLE;
        if (error)
                log_warning("cannot read Mode from nvidia-ccd: %s", strempty(error->message));
        else {
                log_info("no mode asked for; nvidia-ccd reports mode %s", mode);
                if (cc_mode_is_valid(mode))
                        write_state(b, mode);
                /* The node is as the cluster asks: it asks nothing. */
                write_readiness(b, true, mode);
                mode_verified(b, true);
        }
        attempt_over(b);
        if (b->again || b->desired) {
                b->again = false;
                reconcile(b);
        }
}

static void start_attempt(Bridge *b) {
        int r;

        assert(b->phase == PHASE_IDLE);

        b->again = false;
        (void) sd_event_source_set_enabled(b->retry, SD_EVENT_OFF);
        (void) sd_event_now(b->event, CLOCK_MONOTONIC, &b->attempt_started);
        /* Whatever the file said was about an earlier attempt. */
        write_readiness(b, false, NULL);

        if (!b->desired) {
                b->phase = PHASE_REPORTING;
                r = ccd_client_get_mode(b->ccd, report_done, b);
                if (r < 0) {
                        b->phase = PHASE_IDLE;
                        log_warning("cannot read Mode from nvidia-ccd: %s", strerror(-r));
                }
                return;
        }

        g_free(b->attempt);
        b->attempt = g_strdup(b->desired);
        if (!cc_mode_is_valid(b->attempt)) {
                attempt_failed(b, "InvalidCCMode",
                               "\"%s\" is not one of on, off, devtools, ppcie; nvidia-ccd was not asked",
                               b->attempt);
                return;
        }
        /* Ask first: a host already in the mode needs no switch, and its
         * operands no pause. */
        b->phase = PHASE_CHECKING;
        r = ccd_client_get_mode(b->ccd, check_mode_done, b);
        if (r < 0)
                attempt_failed(b, "CCModeFailed", "cannot ask nvidia-ccd for its mode: %s", strerror(-r));
}

static int retry_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        Bridge *b = userdata;

        reconcile(b);
        return 0;
}

/* ------------------------------------------------------------ the node */

static void update_desired(Bridge *b) {
        const char *default_mode = b->cluster_mode ?: b->default_mode, *desired;
        bool first = !b->desired_known;

        /* Nothing is decided before both the node and the cluster default
         * are known. */
        if (!b->node_seen || !b->default_known)
                return;
        b->desired_known = true;
        desired = cc_desired_mode(b->node_labels, default_mode);
        if (!first && streq_ptr(desired, b->desired))
                return;
        if (!desired)
                log_info("the node asks for no mode (%s is not set, and there is no default)", CC_LABEL_MODE);
        else
                log_info("the node asks for mode %s%s", desired,
                         desired != default_mode ? ""
                         : b->cluster_mode ? " (the cluster default: " CC_LABEL_MODE " is not set)"
                                           : " (the default: " CC_LABEL_MODE " is not set)");
        g_free(b->desired);
        b->desired = g_strdup(desired);
        backoff_reset(&b->retry_backoff);
        reset_failures(b);
        (void) sd_event_source_set_enabled(b->retry, SD_EVENT_OFF);
        reconcile(b);
}

static void node_updated(Bridge *b, JsonObject *node) {
        g_hash_table_unref(b->node_labels);
        b->node_labels = json_object_labels(node);
        b->node_seen = true;
        if (b->opt.labels_changed)
                b->opt.labels_changed(b->node_labels, b->opt.labels_userdata);
        update_desired(b);
        if (b->hooks.node_labels)
                b->hooks.node_labels(b->node_labels, b->hooks_userdata);
}

static void cluster_default_changed(ClusterDefault *d, const char *mode, const char *source, void *userdata) {
        Bridge *b = userdata;

        g_free(b->cluster_mode);
        b->cluster_mode = g_strdup(mode);
        b->default_known = true;
        update_desired(b);
}

static void node_synced(KubeWatch *w, JsonArray *objects, void *userdata) {
        Bridge *b = userdata;
        JsonNode *n = json_array_get_length(objects) > 0 ? json_array_get_element(objects, 0) : NULL;

        if (n && JSON_NODE_HOLDS_OBJECT(n))
                node_updated(b, json_node_get_object(n));
}

static void node_event(KubeWatch *w, const WatchEvent *ev, void *userdata) {
        Bridge *b = userdata;

        if (!streq_ptr(json_object_name(ev->object), b->node_name))
                return;
        if (ev->type == WATCH_EVENT_DELETED) {
                log_warning("node %s was deleted", b->node_name);
                return;
        }
        node_updated(b, ev->object);
}

static void labels_synced(LabelWriter *w, uint64_t generation, void *userdata) {
        Bridge *b = userdata;
        int r;

        if (b->paused || b->restore_generation == 0 || generation < b->restore_generation)
                return;
        b->restore_generation = 0;
        r = pause_record_remove(b->pause_record);
        if (r < 0)
                log_warning("cannot remove %s: %s", b->pause_record, strerror(-r));
}

/* ------------------------------------------------------------ the daemon */

static void daemon_mode_changed(CcdClient *c, const char *mode, void *userdata) {
        Bridge *b = userdata;
        const char *state;

        /* An attempt writes its own result. */
        if (b->phase != PHASE_IDLE || !b->desired_known)
                return;
        if (streq(mode, "none"))
                return;
        state = cc_mode_is_valid(mode) ? mode : CC_MODE_STATE_FAILED;
        if (streq_ptr(state, b->state_written))
                return;
        log_notice("the mode changed on the host to %s; updating %s", mode, CC_LABEL_MODE_STATE);
        write_state(b, state);
        write_readiness(b, !b->desired || streq(mode, b->desired), mode);
        mode_verified(b, cc_mode_is_valid(mode) && (!b->desired || streq(mode, b->desired)));
}

/* A restarted daemon already in the mode asked for, and so labelled, needs
 * no switch, and the operands need no pause. */
static void daemon_back_mode(CcdClient *c, const char *mode, const sd_bus_error *error, void *userdata) {
        Bridge *b = userdata;

        if (!error && b->phase == PHASE_IDLE && b->desired && streq(mode, b->desired) &&
            streq_ptr(b->state_written, mode)) {
                log_info("nvidia-ccd reports mode %s, as the node asks", mode);
                return;
        }
        reconcile(b);
}

static void daemon_presence_changed(CcdClient *c, bool present, void *userdata) {
        Bridge *b = userdata;
        int r;

        b->daemon_present = present;
        if (!present) {
                log_warning("nvidia-ccd left the bus; waiting for it to come back");
                return;
        }
        log_info("nvidia-ccd is on the bus; reconciling");
        backoff_reset(&b->retry_backoff);
        /* A new daemon may well succeed where the old one failed. */
        reset_failures(b);
        r = ccd_client_get_mode(b->ccd, daemon_back_mode, b);
        if (r < 0)
                reconcile(b);
}

/* ------------------------------------------------------------ object */

int bridge_new(sd_event *event, sd_bus *bus, KubeClient *kube, NodeEvents *events, const BridgeOptions *options,
               Bridge **ret) {
        static const KubeWatchHandlers node_handlers = { .synced = node_synced, .event = node_event };
        static const CcdClientHandlers ccd_handlers = {
                .mode_changed = daemon_mode_changed,
                .presence_changed = daemon_presence_changed,
        };
        g_autofree char *escaped = NULL, *list_path = NULL, *watch_path = NULL, *selector = NULL;
        CcError err = CC_ERROR_INIT;
        Bridge *b;
        int r;

        assert(event);
        assert(bus);
        assert(kube);
        assert(events);
        assert(options && options->node_name && options->pause_record && options->gate);
        assert(ret);

        b = g_new0(Bridge, 1);
        b->event = sd_event_ref(event);
        b->bus = sd_bus_ref(bus);
        b->kube = kube;
        b->events = events;
        b->opt = *options;
        b->gate = options->gate;
        b->node_name = g_strdup(options->node_name);
        b->default_mode = g_strdup(options->default_mode);
        b->operator_namespace = g_strdup(options->operator_namespace);
        b->readiness_file = g_strdup(options->readiness_file);
        b->pause_record = g_strdup(options->pause_record);
        b->node_labels = cc_labels_new();
        b->daemon_present = true;
        b->default_known = !options->cluster_default;
        backoff_init(&b->retry_backoff, options->retry_initial_usec, options->retry_max_usec);

        /* What an earlier run paused and did not restore. */
        r = pause_record_load(b->pause_record, &b->paused, &err);
        if (r < 0)
                log_error("%s; ignoring it", err.message);
        else if (b->paused)
                log_notice("%u operand label(s) paused by an earlier run will be restored after the first "
                           "attempt",
                           g_hash_table_size(b->paused));

        escaped = g_uri_escape_string(b->node_name, NULL, false);
        list_path = g_strconcat("/api/v1/nodes/", escaped, NULL);
        selector = g_strconcat("metadata.name=", b->node_name, NULL);
        g_free(escaped);
        escaped = g_uri_escape_string(selector, NULL, false);
        watch_path = g_strconcat("/api/v1/nodes?fieldSelector=", escaped, NULL);

        r = sd_event_add_time(event, &b->retry, CLOCK_MONOTONIC, UINT64_MAX, 0, retry_cb, b);
        if (r >= 0)
                r = sd_event_source_set_enabled(b->retry, SD_EVENT_OFF);
        if (r >= 0)
                r = ccd_client_new(bus, &ccd_handlers, b, &b->ccd);
        if (r >= 0)
                r = label_writer_new(kube, event, b->node_name, labels_synced, b, &b->labels);
        if (r >= 0)
                r = kube_watch_new(kube, event, "node", list_path, watch_path, options->watch_timeout_seconds,
                                   &node_handlers, b, &b->node_watch);
        if (r >= 0)
                r = gpu_present_new(bus, b->labels, &b->gpu_present);
        if (r >= 0 && options->cluster_default) {
                const ClusterDefaultOptions cd = {
                        .config_map_namespace = options->config_map_namespace,
                        .config_map_name = options->config_map_name,
                        .watch_timeout_seconds = options->watch_timeout_seconds,
                };

                r = cluster_default_new(kube, event, &cd, cluster_default_changed, b, &b->cluster_default);
        }
        if (r < 0) {
                bridge_free(b);
                return r;
        }
        *ret = b;
        return 0;
}

Bridge *bridge_free(Bridge *b) {
        if (!b)
                return NULL;
        operand_wait_free(b->wait);
        ccd_gate_release(b->turn);
        kube_watch_free(b->node_watch);
        cluster_default_free(b->cluster_default);
        gpu_present_free(b->gpu_present);
        label_writer_free(b->labels);
        ccd_client_free(b->ccd);
        node_events_free(b->events);
        kube_client_free(b->kube);
        sd_event_source_disable_unref(b->retry);
        sd_bus_unref(b->bus);
        sd_event_unref(b->event);
        g_hash_table_unref(b->node_labels);
        g_free(b->cluster_mode);
        if (b->paused)
                g_hash_table_unref(b->paused);
        g_free(b->desired);
        g_free(b->state_written);
        g_free(b->attempt);
        g_free(b->last_paused_failure);
        g_free(b->node_name);
        g_free(b->default_mode);
        g_free(b->operator_namespace);
        g_free(b->readiness_file);
        g_free(b->pause_record);
        g_free(b);
        return NULL;
}

int bridge_start(Bridge *b) {
        assert(b);
        int r;

        log_info("watching node %s", b->node_name);
        if (b->cluster_default) {
                r = cluster_default_start(b->cluster_default);
                if (r < 0)
                        return r;
        }
        r = gpu_present_start(b->gpu_present);
        if (r < 0)
                return r;
        return kube_watch_start(b->node_watch);
}

bool bridge_healthy(Bridge *b, uint64_t now) {
        return kube_watch_healthy(b->node_watch, now);
}

void bridge_set_hooks(Bridge *b, const BridgeHooks *hooks, void *userdata) {
        assert(b);
        b->hooks = hooks ? *hooks : (BridgeHooks) {};
        b->hooks_userdata = userdata;
}

bool bridge_mode_idle(Bridge *b) {
        return b->phase == PHASE_IDLE && !b->again;
}

const char *bridge_paused_original(Bridge *b, const char *label) {
        return b->paused ? g_hash_table_lookup(b->paused, label) : NULL;
}

void bridge_release_operands(Bridge *b) {
        if (b->phase == PHASE_IDLE)
                restore_operands(b);
}

void bridge_resume(Bridge *b) {
        if (b->again && b->phase == PHASE_IDLE)
                reconcile(b);
}

LabelWriter *bridge_label_writer(Bridge *b) {
        return b->labels;
}

NodeEvents *bridge_node_events(Bridge *b) {
        return b->events;
}
