/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "backoff.h"
#include "cc-labels.h"
#include "label-writer.h"
#include "log.h"
#include "macro.h"
#include "time-util.h"

#define PATCH_TIMEOUT_USEC (30 * USEC_PER_SEC)

struct LabelWriter {
        KubeClient *client;
        sd_event *event;
        char *path;
        LabelWriterSynced synced;
        void *userdata;

        GHashTable *pending;  /* label -> value (NULL: remove) */
        GHashTable *inflight;
        KubeRequest *request;
        uint64_t generation;          /* of the last set */
        uint64_t inflight_generation; /* the last set in the patch in flight */
        sd_event_source *retry;
        sd_event_source *defer; /* one patch for everything set in one loop iteration */
        Backoff backoff;
};

static GHashTable *labels_new_nullable(void) {
        return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

static void flush(LabelWriter *w);

static void patch_done(KubeRequest *req, int r, long status, const char *body, size_t size, void *userdata) {
        LabelWriter *w = userdata;
        GHashTableIter iter;
        gpointer key, value;
        uint64_t t;

        w->request = NULL;
        if (r >= 0 && status == 200) {
                g_hash_table_remove_all(w->inflight);
                backoff_reset(&w->backoff);
                if (g_hash_table_size(w->pending) == 0 && w->synced)
                        w->synced(w, w->inflight_generation, w->userdata);
                flush(w);
                return;
        }

        if (r < 0)
                log_warning("%s failed: %s", kube_request_describe(req), strerror(-r));
        else
                log_warning("%s: HTTP %ld: %.*s", kube_request_describe(req), status, (int) MIN(size, 300), body);

        /* Back into the next patch, under what was set since. */
        g_hash_table_iter_init(&iter, w->inflight);
        while (g_hash_table_iter_next(&iter, &key, &value))
                if (!g_hash_table_contains(w->pending, key))
                        g_hash_table_insert(w->pending, g_strdup(key), g_strdup(value));
        g_hash_table_remove_all(w->inflight);

        (void) sd_event_now(w->event, CLOCK_MONOTONIC, &t);
        if (sd_event_source_set_time(w->retry, t + backoff_next(&w->backoff)) < 0 ||
            sd_event_source_set_enabled(w->retry, SD_EVENT_ONESHOT) < 0)
                log_error("cannot arm the label retry timer");
}

static void flush(LabelWriter *w) {
        g_autofree char *patch = NULL;
        GHashTable *t;
        int r;

        if (w->request || g_hash_table_size(w->pending) == 0)
                return;
        if (sd_event_source_get_enabled(w->retry, NULL) > 0)
                return; /* waiting to retry */

        t = w->inflight;
        w->inflight = w->pending;
        w->pending = t;
        w->inflight_generation = w->generation;

        patch = cc_labels_merge_patch(w->inflight);
        log_debug("PATCH %s %s", w->path, patch);
        r = kube_client_request(w->client, "PATCH", w->path, "application/merge-patch+json", patch,
                                PATCH_TIMEOUT_USEC, NULL, patch_done, w, &w->request);
        if (r < 0)
                patch_done(NULL, r, 0, "", 0, w);
}

static int retry_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        LabelWriter *w = userdata;

        (void) sd_event_source_set_enabled(w->retry, SD_EVENT_OFF);
        flush(w);
        return 0;
}

static int defer_cb(sd_event_source *s, void *userdata) {
        flush(userdata);
        return 0;
}

uint64_t label_writer_set(LabelWriter *w, const char *key, const char *value) {
        assert(w);
        assert(key);

        g_hash_table_replace(w->pending, g_strdup(key), g_strdup(value));
        w->generation++;
        /* The state labels and the operand labels of one result are set one
         * after the other: they go out together. */
        if (sd_event_source_set_enabled(w->defer, SD_EVENT_ONESHOT) < 0)
                flush(w);
        return w->generation;
}

bool label_writer_idle(LabelWriter *w) {
        return !w->request && g_hash_table_size(w->pending) == 0;
}

int label_writer_new(KubeClient *client, sd_event *event, const char *node_name, LabelWriterSynced synced,
                     void *userdata, LabelWriter **ret) {
        g_autofree char *escaped = NULL;
        LabelWriter *w;
        int r;

        assert(client);
        assert(event);
        assert(node_name);
        assert(ret);

        w = g_new0(LabelWriter, 1);
        w->client = client;
        w->event = sd_event_ref(event);
        escaped = g_uri_escape_string(node_name, NULL, false);
        w->path = g_strconcat("/api/v1/nodes/", escaped, NULL);
        w->synced = synced;
        w->userdata = userdata;
        w->pending = labels_new_nullable();
        w->inflight = labels_new_nullable();
        backoff_init(&w->backoff, 500 * USEC_PER_MSEC, 30 * USEC_PER_SEC);

        r = sd_event_add_time(event, &w->retry, CLOCK_MONOTONIC, UINT64_MAX, 0, retry_cb, w);
        if (r >= 0)
                r = sd_event_source_set_enabled(w->retry, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_defer(event, &w->defer, defer_cb, w);
        if (r >= 0)
                r = sd_event_source_set_enabled(w->defer, SD_EVENT_OFF);
        if (r < 0) {
                label_writer_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

LabelWriter *label_writer_free(LabelWriter *w) {
        if (!w)
                return NULL;
        kube_request_cancel(w->request);
        sd_event_source_disable_unref(w->retry);
        sd_event_source_disable_unref(w->defer);
        sd_event_unref(w->event);
        g_free(w->path);
        g_hash_table_unref(w->pending);
        g_hash_table_unref(w->inflight);
        g_free(w);
        return NULL;
}
