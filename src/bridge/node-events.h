/* SPDX-License-Identifier: MIT */
#pragma once

/* Kubernetes Events about this Node, so that `kubectl describe node` says
 * what the bridge did and why a switch failed, not only the pod's log.
 * core/v1 Events in the namespace "default", as the kubelet posts its own
 * about a Node, and like them with the Node's name for its uid: kubectl
 * describe node looks for that (older kubectl for nothing else).  A repeat of an event (same type, reason and message) raises
 * the count of the first one (count, lastTimestamp), as client-go's
 * correlator does, instead of piling up objects.  Best effort: one request
 * at a time, a failed one tried again a few times, then dropped with a
 * warning in the log; nothing else waits for it. */

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "kube-client.h"
#include "macro.h"

#define NODE_EVENT_COMPONENT "nvidia-cc-k8s-bridge"
#define NODE_EVENT_NAMESPACE "default"
/* The real server takes longer core/v1 messages; events.k8s.io/v1 does not. */
#define NODE_EVENT_MESSAGE_MAX 1024

typedef struct NodeEvents NodeEvents;

int node_events_new(KubeClient *client, sd_event *event, const char *node_name, NodeEvents **ret);
NodeEvents *node_events_free(NodeEvents *e);

/* Queues an event: type Warning or Normal, a CamelCase reason. */
void node_events_post(NodeEvents *e, bool warning, const char *reason, const char *fmt, ...) _printf_(4, 5);

/* Called once nothing is queued or in flight (for a program about to exit). */
typedef void (*NodeEventsIdle)(NodeEvents *e, void *userdata);
void node_events_on_idle(NodeEvents *e, NodeEventsIdle idle, void *userdata);
bool node_events_idle(NodeEvents *e);

/* The body of a new core/v1 Event: exposed for tests. */
char *node_event_body(const char *name, const char *node_name, bool warning, const char *reason,
                      const char *message, const char *timestamp);
