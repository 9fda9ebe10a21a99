/* SPDX-License-Identifier: MIT */
#pragma once

/* nvidia-cc-k8s-bridge: watches its own Node, turns the label
 * nvidia.com/cc.mode into Manager.SetMode of nvidia-ccd and writes the result
 * back as nvidia.com/cc.mode.state and nvidia.com/cc.ready.state, keeping the
 * label protocol of the GPU Operator's cc-manager (cc-labels.h).
 *
 * One attempt at a time: read Mode (nothing to do when the host is in the
 * mode already), PlanSetMode (a switch nvidia-ccd would refuse, or that
 * polkit would not allow, fails here and disturbs nothing), [pause the
 * operand labels, wait for the operand pods to leave,] SetMode, read Mode
 * back, write the state labels [and restore the operand labels].  A failed
 * attempt is retried with a growing delay while the label still asks for
 * that mode, except after BRIDGE_MAX_PAUSED_FAILURES identical failures that
 * each paused the operands: those stop until something changes (the label,
 * nvidia-ccd, the bridge).  What happens is told as Events on the Node
 * (node-events.h) and in the journal.  With no mode asked for (no label, no
 * default) the bridge only reports the host's mode. */

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <glib.h>

#include "cc-labels.h"
#include "kube-client.h"
#include "label-writer.h"
#include "node-events.h"

#define BRIDGE_MAX_PAUSED_FAILURES 3

typedef struct BridgeOptions {
        const char *node_name;
        const char *default_mode;         /* NULL: none */
        /* Follow the cluster default (cluster-default.h), which wins over
         * default_mode where it is set; the ConfigMap's place, NULL: none. */
        bool cluster_default;
        const char *config_map_namespace;
        const char *config_map_name;
        CcModeStateFormat mode_state_format;
        bool evict_operands;
        const char *operator_namespace;   /* pods are looked for there; NULL: every namespace */
        const char *readiness_file;
        const char *pause_record;
        uint64_t eviction_timeout_usec;
        uint64_t set_mode_timeout_usec;
        uint64_t retry_initial_usec;
        uint64_t retry_max_usec;
        unsigned watch_timeout_seconds;
        /* The turns at nvidia-ccd the roles share (ccd-gate.h). */
        struct CcdGate *gate;
        /* Told the Node's labels each time they are read (other roles). */
        void (*labels_changed)(GHashTable *labels, void *userdata);
        void *labels_userdata;
} BridgeOptions;

typedef struct Bridge Bridge;

/* What the workload role (workload.h) hears of the mode role, so that a mode
 * change and a workload change run in the Operator's order: operands
 * paused, mode switched, GPUs bound to VFIO, operands restored. */
typedef struct BridgeHooks {
        /* After every update of the Node, once the mode role has seen it. */
        void (*node_labels)(GHashTable *labels, void *userdata);
        /* Whether the node is verified in the mode it asks for (or asks
         * none, and the mode was read): devices may be offered. */
        void (*mode_verified)(bool verified, void *userdata);
        /* A mode attempt (or report) ended and the role is idle.  true: the
         * hook has work to do before the operands come back, and calls
         * bridge_release_operands() when it is done. */
        bool (*attempt_ended)(void *userdata);
        /* Another operation is in flight: a mode attempt waits for
         * bridge_resume(). */
        bool (*busy)(void *userdata);
} BridgeHooks;

/* Takes the kube client and the events. */
int bridge_new(sd_event *event, sd_bus *bus, KubeClient *kube, NodeEvents *events, const BridgeOptions *options,
               Bridge **ret);
Bridge *bridge_free(Bridge *b);
int bridge_start(Bridge *b);

void bridge_set_hooks(Bridge *b, const BridgeHooks *hooks, void *userdata);
/* No mode attempt running or waiting to run. */
bool bridge_mode_idle(Bridge *b);
/* The value an operand label had before the bridge paused it; NULL when
 * the bridge has not paused it. */
const char *bridge_paused_original(Bridge *b, const char *label);
/* Restores the operand labels an ended attempt left paused for the hook. */
void bridge_release_operands(Bridge *b);
/* Starts a mode attempt that waited for the hook's operation. */
void bridge_resume(Bridge *b);
LabelWriter *bridge_label_writer(Bridge *b);
NodeEvents *bridge_node_events(Bridge *b);

/* Whether the watch of the Node makes progress (for the liveness file). */
bool bridge_healthy(Bridge *b, uint64_t now);
