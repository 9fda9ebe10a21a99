/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdbool.h>

#include "backoff.h"
#include "json-util.h"
#include "kube-watch.h"
#include "log.h"
#include "macro.h"
#include "time-util.h"

#define LIST_TIMEOUT_USEC (30 * USEC_PER_SEC)
/* The server ends a watch after timeoutSeconds; if it does not, the client
 * does, this long after. */
#define WATCH_GRACE_SEC 30
/* A watch that ended sooner than this without an event is treated as a
 * failure, so a server that closes at once is not hammered. */
#define WATCH_MIN_USEC (1 * USEC_PER_SEC)
#define BACKOFF_MAX_USEC (30 * USEC_PER_SEC)

struct KubeWatch {
        KubeClient *client;
        sd_event *event;
        char *what;
        char *list_path;
        char *watch_path;
        unsigned timeout_seconds;
        KubeWatchHandlers handlers;
        void *userdata;

        KubeRequest *request;
        sd_event_source *retry;
        Backoff backoff;
        WatchParser parser;
        char *resource_version;
        bool relist;        /* a 410 was seen: list again */
        bool got_event;
        uint64_t watch_started;
        uint64_t last_progress; /* a request started, or bytes came */
        unsigned n_lists;
};

static int watch_begin(KubeWatch *w);
static int list_begin(KubeWatch *w);

static void progress(KubeWatch *w) {
        (void) sd_event_now(w->event, CLOCK_MONOTONIC, &w->last_progress);
}

static int retry_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        KubeWatch *w = userdata;

        if (!w->resource_version || w->relist)
                (void) list_begin(w);
        else
                (void) watch_begin(w);
        return 0;
}

static void schedule_retry(KubeWatch *w, bool now) {
        uint64_t delay = now ? 0 : backoff_next(&w->backoff), t;

        (void) sd_event_now(w->event, CLOCK_MONOTONIC, &t);
        if (delay > 0)
                log_debug("%s: trying again in %" PRIu64 " ms", w->what, (uint64_t) (delay / USEC_PER_MSEC));
        if (sd_event_source_set_time(w->retry, t + delay) < 0 ||
            sd_event_source_set_enabled(w->retry, SD_EVENT_ONESHOT) < 0)
                log_error("%s: cannot arm the retry timer", w->what);
}

static void set_resource_version(KubeWatch *w, const char *rv) {
        if (!rv || !rv[0])
                return;
        g_free(w->resource_version);
        w->resource_version = g_strdup(rv);
}

/* ------------------------------------------------------------ list */

static void list_done(KubeRequest *req, int r, long status, const char *body, size_t size, void *userdata) {
        KubeWatch *w = userdata;
        g_autoptr(JsonParser) parser = NULL;
        g_autoptr(JsonArray) objects = NULL;
        g_autoptr(GError) error = NULL;
        JsonObject *o;
        JsonArray *items;
        const char *kind;

        w->request = NULL;
        if (r < 0 || status != 200) {
                if (r < 0)
                        log_warning("%s: %s failed: %s", w->what, kube_request_describe(req), strerror(-r));
                else
                        log_warning("%s: %s: HTTP %ld: %.*s", w->what, kube_request_describe(req), status,
                                    (int) MIN(size, 300), body);
                schedule_retry(w, false);
                return;
        }

        parser = json_parser_new_immutable();
        if (!json_depth_within(body, size, KUBE_JSON_DEPTH_MAX) ||
            !json_parser_load_from_data(parser, body, (gssize) size, &error) ||
            !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
                log_warning("%s: %s: the answer is not a JSON object%s%s", w->what, kube_request_describe(req),
                            error ? ": " : "", error ? error->message : "");
                schedule_retry(w, false);
                return;
        }
        o = json_node_get_object(json_parser_get_root(parser));
        kind = json_get_string(o, "kind");
        items = json_get_array(o, "items");
        if (items && kind && g_str_has_suffix(kind, "List"))
                objects = json_array_ref(items);
        else {
                objects = json_array_new();
                json_array_add_object_element(objects, json_object_ref(o));
        }
        set_resource_version(w, json_object_resource_version(o));
        if (!w->resource_version) {
                log_warning("%s: %s: the answer has no resourceVersion", w->what, kube_request_describe(req));
                schedule_retry(w, false);
                return;
        }

        w->relist = false;
        backoff_reset(&w->backoff);
        w->handlers.synced(w, objects, w->userdata);
        (void) watch_begin(w);
}

static int list_begin(KubeWatch *w) {
        int r;

        kube_request_cancel(TAKE_PTR(w->request));
        progress(w);
        w->n_lists++;
        r = kube_client_request(w->client, "GET", w->list_path, NULL, NULL, LIST_TIMEOUT_USEC, NULL,
                                list_done, w, &w->request);
        if (r < 0) {
                log_warning("%s: cannot list: %s", w->what, strerror(-r));
                schedule_retry(w, false);
        }
        return r;
}

/* ------------------------------------------------------------ watch */

static int on_event(const WatchEvent *ev, void *userdata) {
        KubeWatch *w = userdata;

        w->got_event = true;
        switch (ev->type) {
        case WATCH_EVENT_ERROR:
                if (ev->error_code == 410) {
                        log_info("%s: resourceVersion %s is gone (%s); listing again", w->what,
                                 strempty(w->resource_version), ev->error_message);
                        w->relist = true;
                } else
                        log_warning("%s: watch error %" PRIi64 ": %s", w->what, ev->error_code,
                                    ev->error_message);
                /* The server ends the stream after an ERROR event. */
                return -ECANCELED;
        case WATCH_EVENT_BOOKMARK:
                set_resource_version(w, ev->resource_version);
                return 0;
        default:
                set_resource_version(w, ev->resource_version);
                w->handlers.event(w, ev, w->userdata);
                return 0;
        }
}

static int watch_data(KubeRequest *req, const void *data, size_t size, void *userdata) {
        KubeWatch *w = userdata;
        CcError err = CC_ERROR_INIT;
        int r;

        progress(w);
        r = watch_parser_feed(&w->parser, data, size, &err);
        if (r < 0 && r != -ECANCELED)
                log_warning("%s: %s", w->what, err.message);
        return r;
}

static void watch_done(KubeRequest *req, int r, long status, const char *body, size_t size, void *userdata) {
        KubeWatch *w = userdata;
        CcError err = CC_ERROR_INIT;
        uint64_t now;

        w->request = NULL;
        if (r >= 0 && status == 200) {
                r = watch_parser_finish(&w->parser, &err);
                if (r < 0 && r != -ECANCELED)
                        log_warning("%s: %s", w->what, err.message);
        }
        watch_parser_reset(&w->parser);

        if (w->relist || status == 410) {
                w->relist = true;
                /* Listing again at once is what the server asks for. */
                schedule_retry(w, true);
                return;
        }
        if (r == -ECANCELED) {
                schedule_retry(w, false);
                return;
        }
        if (r < 0 || status != 200) {
                if (r < 0)
                        log_warning("%s: watch failed: %s", w->what, strerror(-r));
                else
                        log_warning("%s: watch: HTTP %ld: %.*s", w->what, status, (int) MIN(size, 300), body);
                schedule_retry(w, false);
                return;
        }

        /* The server's timeout ended it: resume at once, unless it ended
         * suspiciously soon. */
        (void) sd_event_now(w->event, CLOCK_MONOTONIC, &now);
        if (!w->got_event && now - w->watch_started < WATCH_MIN_USEC)
                schedule_retry(w, false);
        else {
                backoff_reset(&w->backoff);
                schedule_retry(w, true);
        }
}

static int watch_begin(KubeWatch *w) {
        g_autofree char *path = NULL, *rv = NULL;
        int r;

        assert(w->resource_version);

        kube_request_cancel(TAKE_PTR(w->request));
        progress(w);
        watch_parser_reset(&w->parser);
        w->got_event = false;
        (void) sd_event_now(w->event, CLOCK_MONOTONIC, &w->watch_started);

        rv = g_uri_escape_string(w->resource_version, NULL, false);
        path = g_strdup_printf("%s%cwatch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%u",
                               w->watch_path, strchr(w->watch_path, '?') ? '&' : '?', rv, w->timeout_seconds);
        r = kube_client_request(w->client, "GET", path, NULL, NULL,
                                (uint64_t) (w->timeout_seconds + WATCH_GRACE_SEC) * USEC_PER_SEC, watch_data,
                                watch_done, w, &w->request);
        if (r < 0) {
                log_warning("%s: cannot watch: %s", w->what, strerror(-r));
                schedule_retry(w, false);
        }
        return r;
}

/* ------------------------------------------------------------ object */

int kube_watch_new(KubeClient *client, sd_event *event, const char *what, const char *list_path,
                   const char *watch_path, unsigned timeout_seconds, const KubeWatchHandlers *handlers,
                   void *userdata, KubeWatch **ret) {
        KubeWatch *w;
        int r;

        assert(client);
        assert(event);
        assert(list_path);
        assert(watch_path);
        assert(handlers && handlers->synced && handlers->event);
        assert(ret);

        w = g_new0(KubeWatch, 1);
        w->client = client;
        w->event = sd_event_ref(event);
        w->what = g_strdup(what);
        w->list_path = g_strdup(list_path);
        w->watch_path = g_strdup(watch_path);
        w->timeout_seconds = timeout_seconds > 0 ? timeout_seconds : 300;
        w->handlers = *handlers;
        w->userdata = userdata;
        backoff_init(&w->backoff, 500 * USEC_PER_MSEC, BACKOFF_MAX_USEC);
        watch_parser_init(&w->parser, on_event, w);

        r = sd_event_add_time(event, &w->retry, CLOCK_MONOTONIC, UINT64_MAX, 0, retry_cb, w);
        if (r >= 0)
                r = sd_event_source_set_enabled(w->retry, SD_EVENT_OFF);
        if (r < 0) {
                kube_watch_free(w);
                return r;
        }
        (void) sd_event_source_set_description(w->retry, "kube-watch-retry");
        *ret = w;
        return 0;
}

KubeWatch *kube_watch_free(KubeWatch *w) {
        if (!w)
                return NULL;
        kube_request_cancel(w->request);
        sd_event_source_disable_unref(w->retry);
        sd_event_unref(w->event);
        watch_parser_done(&w->parser);
        g_free(w->what);
        g_free(w->list_path);
        g_free(w->watch_path);
        g_free(w->resource_version);
        g_free(w);
        return NULL;
}

int kube_watch_start(KubeWatch *w) {
        assert(w);
        return list_begin(w);
}

unsigned kube_watch_n_lists(KubeWatch *w) {
        return w ? w->n_lists : 0;
}

bool kube_watch_healthy(KubeWatch *w, uint64_t now) {
        /* Every request ends by the client's timeout at the latest, and the
         * next one starts within the longest backoff: quiet for longer than
         * both, with a margin, the loop is stuck. */
        uint64_t limit = (uint64_t) (w->timeout_seconds + WATCH_GRACE_SEC) * USEC_PER_SEC + LIST_TIMEOUT_USEC +
                         BACKOFF_MAX_USEC;

        return w->last_progress > 0 && now - w->last_progress <= limit;
}
