/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdbool.h>

#include "cc-labels.h"
#include "json-util.h"
#include "kube-watch.h"
#include "log.h"
#include "macro.h"
#include "operand-wait.h"

struct OperandWait {
        sd_event *event;
        KubeWatch *watch;
        GHashTable *pods; /* "namespace/name" */
        bool synced;
        bool finished;
        int result;
        sd_event_source *timeout;
        sd_event_source *notify; /* calls done from the loop */
        OperandWaitDone done;
        void *userdata;
};

char *operand_pods_path(const char *node_name, const char *namespace) {
        g_autofree char *field = NULL, *label = NULL, *apps = NULL, *field_q = NULL, *label_q = NULL;
        g_autofree char *ns = NULL;

        assert(node_name);

        apps = g_strjoinv(",", (char **) cc_operand_apps);
        field = g_strconcat("spec.nodeName=", node_name, NULL);
        label = g_strdup_printf("app in (%s)", apps);
        field_q = g_uri_escape_string(field, NULL, false);
        label_q = g_uri_escape_string(label, NULL, false);
        if (!namespace)
                return g_strdup_printf("/api/v1/pods?fieldSelector=%s&labelSelector=%s", field_q, label_q);
        ns = g_uri_escape_string(namespace, NULL, false);
        return g_strdup_printf("/api/v1/namespaces/%s/pods?fieldSelector=%s&labelSelector=%s", ns, field_q,
                               label_q);
}

static void finish(OperandWait *w, int r) {
        if (w->finished)
                return;
        w->finished = true;
        w->result = r;
        (void) sd_event_source_set_enabled(w->timeout, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(w->notify, SD_EVENT_ONESHOT);
}

static void check(OperandWait *w) {
        if (w->synced && g_hash_table_size(w->pods) == 0)
                finish(w, 0);
}

static char *pod_key(JsonObject *pod) {
        const char *name = json_object_name(pod), *ns = json_object_namespace(pod);

        return name ? g_strconcat(strempty(ns), "/", name, NULL) : NULL;
}

static void synced(KubeWatch *kw, JsonArray *objects, void *userdata) {
        OperandWait *w = userdata;
        guint n = json_array_get_length(objects);

        g_hash_table_remove_all(w->pods);
        for (guint i = 0; i < n; i++) {
                JsonNode *node = json_array_get_element(objects, i);
                char *key;

                if (!JSON_NODE_HOLDS_OBJECT(node))
                        continue;
                key = pod_key(json_node_get_object(node));
                if (key)
                        g_hash_table_add(w->pods, key);
        }
        w->synced = true;
        log_debug("operand pods on the node: %u of %u listed", g_hash_table_size(w->pods), n);
        if (g_hash_table_size(w->pods) > 0)
                log_info("waiting for %u operand pod(s) to leave the node", g_hash_table_size(w->pods));
        check(w);
}

static void event(KubeWatch *kw, const WatchEvent *ev, void *userdata) {
        OperandWait *w = userdata;
        char *key = pod_key(ev->object);

        if (!key)
                return;
        if (ev->type == WATCH_EVENT_DELETED) {
                log_debug("operand pod %s is gone", key);
                g_hash_table_remove(w->pods, key);
                g_free(key);
        } else
                g_hash_table_add(w->pods, key);
        check(w);
}

static int timeout_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        OperandWait *w = userdata;

        finish(w, -ETIMEDOUT);
        return 0;
}

static int notify_cb(sd_event_source *s, void *userdata) {
        OperandWait *w = userdata;

        w->done(w, w->result, w->userdata);
        return 0;
}

int operand_wait_new(KubeClient *client, sd_event *event_loop, const char *node_name, const char *namespace,
                     uint64_t timeout_usec, OperandWaitDone done, void *userdata, OperandWait **ret) {
        static const KubeWatchHandlers handlers = { .synced = synced, .event = event };
        g_autofree char *path = NULL;
        OperandWait *w;
        uint64_t now;
        int r;

        assert(client);
        assert(event_loop);
        assert(node_name);
        assert(done);
        assert(ret);

        w = g_new0(OperandWait, 1);
        w->event = sd_event_ref(event_loop);
        w->pods = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        w->done = done;
        w->userdata = userdata;

        path = operand_pods_path(node_name, namespace);
        (void) sd_event_now(event_loop, CLOCK_MONOTONIC, &now);
        r = kube_watch_new(client, event_loop, "operand pods", path, path, 60, &handlers, w, &w->watch);
        if (r >= 0)
                r = sd_event_add_time(event_loop, &w->timeout, CLOCK_MONOTONIC, now + timeout_usec, 0,
                                      timeout_cb, w);
        if (r >= 0)
                r = sd_event_add_defer(event_loop, &w->notify, notify_cb, w);
        if (r >= 0)
                r = sd_event_source_set_enabled(w->notify, SD_EVENT_OFF);
        if (r >= 0)
                r = kube_watch_start(w->watch);
        if (r < 0) {
                operand_wait_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

OperandWait *operand_wait_free(OperandWait *w) {
        if (!w)
                return NULL;
        kube_watch_free(w->watch);
        sd_event_source_disable_unref(w->timeout);
        sd_event_source_disable_unref(w->notify);
        sd_event_unref(w->event);
        g_hash_table_unref(w->pods);
        g_free(w);
        return NULL;
}

unsigned operand_wait_remaining(OperandWait *w) {
        return w ? g_hash_table_size(w->pods) : 0;
}
