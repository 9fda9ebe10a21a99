/* SPDX-License-Identifier: MIT */
#pragma once

/* The second step of the eviction protocol: with the operand labels paused,
 * wait until the operand pods (cc_operand_apps) are gone from this node,
 * by watching pods with a field selector on the node, not by polling, and
 * for no longer than a timeout. */

#include <stdint.h>
#include <systemd/sd-event.h>

#include "kube-client.h"

typedef struct OperandWait OperandWait;

/* r: 0 when the pods are gone, -ETIMEDOUT.  Called from the event loop: the
 * handler may free the wait. */
typedef void (*OperandWaitDone)(OperandWait *w, int r, void *userdata);

/* namespace: the operator's, or NULL for every namespace. */
int operand_wait_new(KubeClient *client, sd_event *event, const char *node_name, const char *namespace,
                     uint64_t timeout_usec, OperandWaitDone done, void *userdata, OperandWait **ret);
OperandWait *operand_wait_free(OperandWait *w);

/* The pods still there, for messages. */
unsigned operand_wait_remaining(OperandWait *w);

/* The pod collection path with the selectors: exposed for tests. */
char *operand_pods_path(const char *node_name, const char *namespace);
