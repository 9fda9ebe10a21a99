/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>

#include "backoff.h"
#include "cluster-default.h"
#include "json-util.h"
#include "kube-watch.h"
#include "log.h"
#include "macro.h"
#include "time-util.h"

#define CLUSTER_POLICIES_PATH "/apis/nvidia.com/v1/clusterpolicies?fieldSelector=metadata.name%3D" CLUSTER_POLICY_NAME
#define PROBE_TIMEOUT_USEC (30 * USEC_PER_SEC)

typedef enum Source {
        SOURCE_NONE,          /* not known yet */
        SOURCE_CLUSTER_POLICY,
        SOURCE_CONFIG_MAP,
        SOURCE_UNREADABLE,    /* neither may be read */
} Source;

struct ClusterDefault {
        KubeClient *kube;
        sd_event *event;
        char *cm_namespace, *cm_name, *cm_source;
        unsigned watch_timeout_seconds;
        ClusterDefaultChanged changed;
        void *userdata;

        Source source;
        KubeRequest *probe;
        KubeRequest *cm_probe;    /* may the ConfigMap be read? */
        KubeWatch *watch;
        sd_event_source *timer;   /* the next probe */
        Backoff backoff;
        bool reported;
        char *mode;
};

const char *cluster_policy_default_mode(JsonObject *policy) {
        JsonObject *spec = policy ? json_get_object(policy, "spec") : NULL;
        JsonObject *ccm = spec ? json_get_object(spec, "ccManager") : NULL;
        const char *mode = ccm ? json_get_string(ccm, "defaultMode") : NULL;

        return mode && mode[0] ? mode : NULL;
}

const char *config_map_default_mode(JsonObject *config_map) {
        JsonObject *data = config_map ? json_get_object(config_map, "data") : NULL;
        const char *mode = data ? json_get_string(data, CLUSTER_DEFAULT_CONFIG_MAP_KEY) : NULL;

        return mode && mode[0] ? mode : NULL;
}

int cluster_default_parse_config_map(const char *s, char **ret_namespace, char **ret_name) {
        const char *slash;

        assert(s);
        if (!s[0]) {
                *ret_namespace = *ret_name = NULL;
                return 0;
        }
        slash = strchr(s, '/');
        if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/'))
                return -EINVAL;
        *ret_namespace = g_strndup(s, slash - s);
        *ret_name = g_strdup(slash + 1);
        return 0;
}

static const char *source_name(ClusterDefault *d) {
        return d->source == SOURCE_CLUSTER_POLICY ? "ClusterPolicy " CLUSTER_POLICY_NAME : d->cm_source;
}

static void report(ClusterDefault *d, const char *mode) {
        if (d->reported && streq_ptr(mode, d->mode))
                return;
        d->reported = true;
        g_free(d->mode);
        d->mode = g_strdup(mode);
        if (mode)
                log_info("cluster default mode: %s (%s)", mode, source_name(d));
        else
                log_info("no cluster default mode in %s", source_name(d));
        d->changed(d, mode, source_name(d), d->userdata);
}

static const char *object_mode(ClusterDefault *d, JsonObject *o) {
        return d->source == SOURCE_CLUSTER_POLICY ? cluster_policy_default_mode(o) : config_map_default_mode(o);
}

static void watch_synced(KubeWatch *w, JsonArray *objects, void *userdata) {
        ClusterDefault *d = userdata;
        JsonNode *n = json_array_get_length(objects) > 0 ? json_array_get_element(objects, 0) : NULL;

        report(d, n && JSON_NODE_HOLDS_OBJECT(n) ? object_mode(d, json_node_get_object(n)) : NULL);
}

static void watch_event(KubeWatch *w, const WatchEvent *ev, void *userdata) {
        ClusterDefault *d = userdata;

        report(d, ev->type == WATCH_EVENT_DELETED ? NULL : object_mode(d, ev->object));
}

static char *config_map_path(ClusterDefault *d) {
        g_autofree char *ns = g_uri_escape_string(d->cm_namespace, NULL, false);
        g_autofree char *field = g_strconcat("metadata.name=", d->cm_name, NULL);
        g_autofree char *field_q = g_uri_escape_string(field, NULL, false);

        return g_strdup_printf("/api/v1/namespaces/%s/configmaps?fieldSelector=%s", ns, field_q);
}

static int watch_source(ClusterDefault *d, Source source) {
        static const KubeWatchHandlers handlers = { .synced = watch_synced, .event = watch_event };
        g_autofree char *path = NULL;
        int r;

        d->watch = kube_watch_free(d->watch);
        d->source = source;
        path = source == SOURCE_CLUSTER_POLICY ? g_strdup(CLUSTER_POLICIES_PATH) : config_map_path(d);
        r = kube_watch_new(d->kube, d->event, source == SOURCE_CLUSTER_POLICY ? "cluster-policy" : "configmap",
                           path, path, d->watch_timeout_seconds, &handlers, d, &d->watch);
        if (r >= 0)
                r = kube_watch_start(d->watch);
        return r;
}

static void arm_probe(ClusterDefault *d, uint64_t delay) {
        uint64_t now;

        (void) sd_event_now(d->event, CLOCK_MONOTONIC, &now);
        if (sd_event_source_set_time(d->timer, now + delay) < 0 ||
            sd_event_source_set_enabled(d->timer, SD_EVENT_ONESHOT) < 0)
                log_error("cannot arm the timer of the cluster default");
}

static void unreadable(ClusterDefault *d) {
        d->watch = kube_watch_free(d->watch);
        d->source = SOURCE_UNREADABLE;
        report(d, NULL);
}

/* A watch would retry a refused list for ever, and the bridge wait for its
 * first answer with it: one list first says whether it may be read. */
static void cm_probe_done(KubeRequest *req, int r, long status, const char *body, size_t size, void *userdata) {
        ClusterDefault *d = userdata;

        d->cm_probe = NULL;
        if (r >= 0 && status == 403) {
                log_warning("may not list %s (HTTP 403: %.*s); no cluster default is followed: give the "
                            "bridge's ClusterRole list and watch on it", d->cm_source, (int) MIN(size, 300), body);
                unreadable(d);
                return;
        }
        if (r < 0 || status != 200) {
                if (r < 0)
                        log_warning("cannot read %s: %s", d->cm_source, strerror(-r));
                else
                        log_warning("cannot read %s: HTTP %ld: %.*s", d->cm_source, status, (int) MIN(size, 300),
                                    body);
                d->source = SOURCE_NONE;
                arm_probe(d, backoff_next(&d->backoff));
                return;
        }
        r = watch_source(d, SOURCE_CONFIG_MAP);
        if (r < 0) {
                log_error("cannot watch %s: %s", d->cm_source, strerror(-r));
                unreadable(d);
        }
}

/* No ClusterPolicy to read: the ConfigMap, or the bridge's own default. */
static void without_cluster_policy(ClusterDefault *d, bool refused) {
        g_autofree char *path = NULL;
        int r;

        if (d->source == SOURCE_CLUSTER_POLICY)
                log_notice("the ClusterPolicy CRD is gone; the cluster default comes from %s",
                           d->cm_source ?: "nowhere");
        if (d->cm_name && d->source != SOURCE_CONFIG_MAP) {
                d->watch = kube_watch_free(d->watch);
                kube_request_cancel(TAKE_PTR(d->cm_probe));
                path = config_map_path(d);
                r = kube_client_request(d->kube, "GET", path, NULL, NULL, PROBE_TIMEOUT_USEC, NULL, cm_probe_done,
                                        d, &d->cm_probe);
                if (r < 0) {
                        log_error("cannot read %s: %s", d->cm_source, strerror(-r));
                        unreadable(d);
                }
        } else if (!d->cm_name) {
                d->watch = kube_watch_free(d->watch);
                d->source = SOURCE_UNREADABLE;
                report(d, NULL);
        }
        /* An Operator installed later is found at the next probe. */
        if (!refused)
                arm_probe(d, CLUSTER_DEFAULT_PROBE_INTERVAL_USEC);
}

static void probe_done(KubeRequest *req, int r, long status, const char *body, size_t size, void *userdata) {
        ClusterDefault *d = userdata;

        d->probe = NULL;
        if (r >= 0 && status == 200) {
                backoff_reset(&d->backoff);
                if (d->source != SOURCE_CLUSTER_POLICY) {
                        log_info("the GPU Operator's ClusterPolicy CRD is installed: the cluster default is "
                                 "spec.ccManager.defaultMode of %s", CLUSTER_POLICY_NAME);
                        r = watch_source(d, SOURCE_CLUSTER_POLICY);
                        if (r < 0) {
                                log_error("cannot watch the ClusterPolicy: %s", strerror(-r));
                                arm_probe(d, backoff_next(&d->backoff));
                                return;
                        }
                }
                /* The watch follows it from here; a deleted CRD makes
                 * its lists fail, which the next probe notices. */
                arm_probe(d, CLUSTER_DEFAULT_PROBE_INTERVAL_USEC);
                return;
        }
        if (r >= 0 && status == 404) {
                backoff_reset(&d->backoff);
                if (d->source != SOURCE_CONFIG_MAP && d->source != SOURCE_UNREADABLE)
                        log_info("no ClusterPolicy CRD (clusterpolicies.nvidia.com); the cluster default comes "
                                 "from %s", d->cm_source ?: "nowhere (no ConfigMap is set)");
                without_cluster_policy(d, false);
                return;
        }
        if (r >= 0 && status == 403) {
                log_warning("may not list clusterpolicies.nvidia.com (HTTP 403: %.*s); the ClusterPolicy's "
                            "default mode is not followed: give the bridge's ClusterRole list and watch on it",
                            (int) MIN(size, 300), body);
                without_cluster_policy(d, true);
                return;
        }
        if (r < 0)
                log_warning("cannot ask for the ClusterPolicy: %s", strerror(-r));
        else
                log_warning("cannot ask for the ClusterPolicy: HTTP %ld: %.*s", status, (int) MIN(size, 300), body);
        arm_probe(d, backoff_next(&d->backoff));
}

static int probe(ClusterDefault *d) {
        kube_request_cancel(TAKE_PTR(d->probe));
        return kube_client_request(d->kube, "GET", CLUSTER_POLICIES_PATH "&limit=1", NULL, NULL,
                                   PROBE_TIMEOUT_USEC, NULL, probe_done, d, &d->probe);
}

static int timer_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        ClusterDefault *d = userdata;
        int r;

        r = probe(d);
        if (r < 0) {
                log_warning("cannot ask for the ClusterPolicy: %s", strerror(-r));
                arm_probe(d, backoff_next(&d->backoff));
        }
        return 0;
}

int cluster_default_new(KubeClient *kube, sd_event *event, const ClusterDefaultOptions *options,
                        ClusterDefaultChanged changed, void *userdata, ClusterDefault **ret) {
        ClusterDefault *d;
        int r;

        assert(kube);
        assert(event);
        assert(options);
        assert(changed);
        assert(ret);

        d = g_new0(ClusterDefault, 1);
        d->kube = kube;
        d->event = sd_event_ref(event);
        d->watch_timeout_seconds = options->watch_timeout_seconds;
        d->changed = changed;
        d->userdata = userdata;
        if (options->config_map_namespace && options->config_map_name) {
                d->cm_namespace = g_strdup(options->config_map_namespace);
                d->cm_name = g_strdup(options->config_map_name);
                d->cm_source = g_strdup_printf("ConfigMap %s/%s", d->cm_namespace, d->cm_name);
        }
        backoff_init(&d->backoff, USEC_PER_SEC, 60 * USEC_PER_SEC);
        r = sd_event_add_time(event, &d->timer, CLOCK_MONOTONIC, UINT64_MAX, 0, timer_cb, d);
        if (r >= 0)
                r = sd_event_source_set_enabled(d->timer, SD_EVENT_OFF);
        if (r < 0) {
                cluster_default_free(d);
                return r;
        }
        *ret = d;
        return 0;
}

int cluster_default_start(ClusterDefault *d) {
        assert(d);
        return probe(d);
}

ClusterDefault *cluster_default_free(ClusterDefault *d) {
        if (!d)
                return NULL;
        kube_request_cancel(d->probe);
        kube_request_cancel(d->cm_probe);
        kube_watch_free(d->watch);
        sd_event_source_disable_unref(d->timer);
        sd_event_unref(d->event);
        g_free(d->cm_namespace);
        g_free(d->cm_name);
        g_free(d->cm_source);
        g_free(d->mode);
        g_free(d);
        return NULL;
}
