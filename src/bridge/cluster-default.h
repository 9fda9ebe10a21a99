/* SPDX-License-Identifier: MIT */
#pragma once

/* The cluster-wide default mode, followed live, for the nodes without
 * nvidia.com/cc.mode.  Where the GPU Operator's ClusterPolicy CRD is
 * installed (clusterpolicies.nvidia.com answers), the default is
 * spec.ccManager.defaultMode of the ClusterPolicy "cluster-policy", as the
 * Operator's page sets it with kubectl patch; elsewhere, the key
 * "defaultMode" of the bridge's own ConfigMap.  Either is watched; an
 * absent object or value means no cluster default (the bridge's
 * --default-mode then).  Without the CRD, the API is asked again every
 * CLUSTER_DEFAULT_PROBE_INTERVAL, so an Operator installed later is
 * followed without a restart.  A refusal to read (403) is said once and
 * taken as no cluster default. */

#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "kube-client.h"
#include "time-util.h"

#define CLUSTER_POLICY_NAME "cluster-policy"
#define CLUSTER_DEFAULT_CONFIG_MAP_NAMESPACE "nvidia-cc-k8s-bridge"
#define CLUSTER_DEFAULT_CONFIG_MAP_NAME "nvidia-cc-k8s-bridge"
#define CLUSTER_DEFAULT_CONFIG_MAP_KEY "defaultMode"
#define CLUSTER_DEFAULT_PROBE_INTERVAL_USEC (300 * USEC_PER_SEC)

typedef struct ClusterDefault ClusterDefault;

/* mode: the cluster default now, NULL for none; source: where it was read,
 * for messages ("ClusterPolicy cluster-policy", "ConfigMap ns/name"). */
typedef void (*ClusterDefaultChanged)(ClusterDefault *d, const char *mode, const char *source, void *userdata);

typedef struct ClusterDefaultOptions {
        const char *config_map_namespace; /* NULL: no ConfigMap */
        const char *config_map_name;
        unsigned watch_timeout_seconds;
} ClusterDefaultOptions;

/* changed is called once the first answer is in (and then on each change).
 * The kube client stays the caller's. */
int cluster_default_new(KubeClient *kube, sd_event *event, const ClusterDefaultOptions *options,
                        ClusterDefaultChanged changed, void *userdata, ClusterDefault **ret);
int cluster_default_start(ClusterDefault *d);
ClusterDefault *cluster_default_free(ClusterDefault *d);

/* "NAMESPACE/NAME" of a ConfigMap; "" gives none. */
int cluster_default_parse_config_map(const char *s, char **ret_namespace, char **ret_name);

/* spec.ccManager.defaultMode of a ClusterPolicy, data.defaultMode of a
 * ConfigMap: NULL when absent, empty or not a string. */
const char *cluster_policy_default_mode(JsonObject *policy);
const char *config_map_default_mode(JsonObject *config_map);
