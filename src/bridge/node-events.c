/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <inttypes.h>
#include <json-glib/json-glib.h>
#include <stdarg.h>

#include "backoff.h"
#include "log.h"
#include "macro.h"
#include "node-events.h"
#include "time-util.h"

#define EVENT_TIMEOUT_USEC (30 * USEC_PER_SEC)
#define EVENT_TRIES 4
/* Records of posted events kept for counting repeats; past this, the oldest
 * are forgotten (a repeat then starts a new object, which is harmless). */
#define RECORDS_MAX 64

typedef struct Pending {
        bool warning;
        char *reason;
        char *message;
        char *key;
        unsigned tries;
} Pending;

typedef struct Record {
        char *name; /* of the Event object */
        unsigned count;
} Record;

struct NodeEvents {
        KubeClient *client;
        sd_event *event;
        char *node_name;
        char *collection; /* /api/v1/namespaces/default/events */

        GQueue queue; /* of Pending */
        Pending *inflight;
        bool inflight_is_patch;
        KubeRequest *request;
        GHashTable *records; /* key -> Record */
        GQueue record_order; /* keys, oldest first */
        sd_event_source *retry;
        Backoff backoff;

        NodeEventsIdle idle;
        void *idle_userdata;
};

static void pending_free(Pending *p) {
        if (!p)
                return;
        g_free(p->reason);
        g_free(p->message);
        g_free(p->key);
        g_free(p);
}

static void record_free(gpointer p) {
        Record *r = p;

        g_free(r->name);
        g_free(r);
}

static char *timestamp_now(void) {
        g_autoptr(GDateTime) now = g_date_time_new_now_utc();

        return g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
}

char *node_event_body(const char *name, const char *node_name, bool warning, const char *reason,
                      const char *message, const char *timestamp) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = NULL;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "apiVersion");
        json_builder_add_string_value(b, "v1");
        json_builder_set_member_name(b, "kind");
        json_builder_add_string_value(b, "Event");
        json_builder_set_member_name(b, "metadata");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, name);
        json_builder_set_member_name(b, "namespace");
        json_builder_add_string_value(b, NODE_EVENT_NAMESPACE);
        json_builder_end_object(b);
        /* A Node has no namespace: the event's involvedObject has none. */
        json_builder_set_member_name(b, "involvedObject");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "apiVersion");
        json_builder_add_string_value(b, "v1");
        json_builder_set_member_name(b, "kind");
        json_builder_add_string_value(b, "Node");
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, node_name);
        json_builder_set_member_name(b, "uid");
        json_builder_add_string_value(b, node_name);
        json_builder_end_object(b);
        json_builder_set_member_name(b, "type");
        json_builder_add_string_value(b, warning ? "Warning" : "Normal");
        json_builder_set_member_name(b, "reason");
        json_builder_add_string_value(b, reason);
        json_builder_set_member_name(b, "message");
        json_builder_add_string_value(b, message);
        json_builder_set_member_name(b, "source");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "component");
        json_builder_add_string_value(b, NODE_EVENT_COMPONENT);
        json_builder_set_member_name(b, "host");
        json_builder_add_string_value(b, node_name);
        json_builder_end_object(b);
        json_builder_set_member_name(b, "reportingComponent");
        json_builder_add_string_value(b, NODE_EVENT_COMPONENT);
        json_builder_set_member_name(b, "reportingInstance");
        json_builder_add_string_value(b, node_name);
        json_builder_set_member_name(b, "firstTimestamp");
        json_builder_add_string_value(b, timestamp);
        json_builder_set_member_name(b, "lastTimestamp");
        json_builder_add_string_value(b, timestamp);
        json_builder_set_member_name(b, "count");
        json_builder_add_int_value(b, 1);
        json_builder_end_object(b);

        root = json_builder_get_root(b);
        json_generator_set_root(gen, root);
        return json_generator_to_data(gen, NULL);
}

static char *count_patch(unsigned count, const char *timestamp) {
        return g_strdup_printf("{\"count\":%u,\"lastTimestamp\":\"%s\"}", count, timestamp);
}

static void remember(NodeEvents *e, const char *key, const char *name) {
        Record *r;

        if (g_hash_table_size(e->records) >= RECORDS_MAX) {
                char *oldest = g_queue_pop_head(&e->record_order);

                g_hash_table_remove(e->records, oldest);
                g_free(oldest);
        }
        r = g_new0(Record, 1);
        r->name = g_strdup(name);
        r->count = 1;
        g_hash_table_replace(e->records, g_strdup(key), r);
        g_queue_push_tail(&e->record_order, g_strdup(key));
}

static void forget(NodeEvents *e, const char *key) {
        GList *l = g_queue_find_custom(&e->record_order, key, (GCompareFunc) strcmp);

        if (l) {
                g_free(l->data);
                g_queue_delete_link(&e->record_order, l);
        }
        g_hash_table_remove(e->records, key);
}

static void flush(NodeEvents *e);

static void check_idle(NodeEvents *e) {
        if (e->idle && node_events_idle(e))
                e->idle(e, e->idle_userdata);
}

static void request_done(KubeRequest *req, int r, long status, const char *body, size_t size, void *userdata) {
        NodeEvents *e = userdata;
        Pending *p = TAKE_PTR(e->inflight);
        Record *rec = g_hash_table_lookup(e->records, p->key);
        uint64_t now;

        e->request = NULL;
        if (r >= 0 && (status == 200 || status == 201)) {
                backoff_reset(&e->backoff);
                if (e->inflight_is_patch && rec)
                        rec->count++;
                pending_free(p);
                flush(e);
                check_idle(e);
                return;
        }
        if (r >= 0 && status == 404 && e->inflight_is_patch) {
                /* The event expired on the server (they live an hour): a new one. */
                forget(e, p->key);
                g_queue_push_head(&e->queue, p);
                flush(e);
                return;
        }
        if (r >= 0 && status < 500 && status != 429) {
                /* Refused: sending it again will not help. */
                log_warning("cannot post the event %s: %s: HTTP %ld: %.*s", p->reason, kube_request_describe(req),
                            status, (int) MIN(size, 300), body);
                if (!e->inflight_is_patch)
                        forget(e, p->key);
                pending_free(p);
                flush(e);
                check_idle(e);
                return;
        }
        if (++p->tries >= EVENT_TRIES) {
                if (r < 0)
                        log_warning("cannot post the event %s: %s", p->reason, strerror(-r));
                else
                        log_warning("cannot post the event %s: HTTP %ld", p->reason, status);
                if (!e->inflight_is_patch)
                        forget(e, p->key);
                pending_free(p);
                flush(e);
                check_idle(e);
                return;
        }
        if (!e->inflight_is_patch)
                forget(e, p->key);
        g_queue_push_head(&e->queue, p);
        (void) sd_event_now(e->event, CLOCK_MONOTONIC, &now);
        if (sd_event_source_set_time(e->retry, now + backoff_next(&e->backoff)) < 0 ||
            sd_event_source_set_enabled(e->retry, SD_EVENT_ONESHOT) < 0) {
                log_error("cannot arm the event retry timer");
                pending_free(g_queue_pop_head(&e->queue));
        }
}

static void flush(NodeEvents *e) {
        g_autofree char *ts = NULL, *body = NULL, *name = NULL, *path = NULL, *escaped = NULL;
        Record *rec;
        Pending *p;
        int r;

        if (e->request || g_queue_is_empty(&e->queue) || sd_event_source_get_enabled(e->retry, NULL) > 0)
                return;
        p = g_queue_pop_head(&e->queue);
        ts = timestamp_now();
        rec = g_hash_table_lookup(e->records, p->key);
        e->inflight = p;
        e->inflight_is_patch = rec != NULL;
        if (rec) {
                escaped = g_uri_escape_string(rec->name, NULL, false);
                path = g_strconcat(e->collection, "/", escaped, NULL);
                body = count_patch(rec->count + 1, ts);
                r = kube_client_request(e->client, "PATCH", path, "application/merge-patch+json", body,
                                        EVENT_TIMEOUT_USEC, NULL, request_done, e, &e->request);
        } else {
                /* client-go's names: the object's name and the time in ns. */
                name = g_strdup_printf("%s.%" PRIx64, e->node_name, now_nsec(CLOCK_REALTIME));
                body = node_event_body(name, e->node_name, p->warning, p->reason, p->message, ts);
                remember(e, p->key, name);
                r = kube_client_request(e->client, "POST", e->collection, "application/json", body,
                                        EVENT_TIMEOUT_USEC, NULL, request_done, e, &e->request);
        }
        if (r < 0)
                request_done(NULL, r, 0, "", 0, e);
}

static int retry_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        NodeEvents *e = userdata;

        (void) sd_event_source_set_enabled(e->retry, SD_EVENT_OFF);
        flush(e);
        return 0;
}

/* Cut at a character boundary, so that the JSON stays valid UTF-8. */
static char *truncate_message(char *m) {
        const char *end;
        char *cut;

        if (!g_utf8_validate(m, -1, &end))
                *(char *) end = '\0';
        if (strlen(m) <= NODE_EVENT_MESSAGE_MAX)
                return m;
        cut = m + NODE_EVENT_MESSAGE_MAX - 3;
        while (cut > m && (*cut & 0xC0) == 0x80)
                cut--;
        strcpy(cut, "...");
        return m;
}

void node_events_post(NodeEvents *e, bool warning, const char *reason, const char *fmt, ...) {
        Pending *p;
        va_list ap;

        assert(e);
        assert(reason);

        p = g_new0(Pending, 1);
        p->warning = warning;
        p->reason = g_strdup(reason);
        va_start(ap, fmt);
        p->message = truncate_message(g_strdup_vprintf(fmt, ap));
        va_end(ap);
        p->key = g_strdup_printf("%c\x1f%s\x1f%s", warning ? 'W' : 'N', p->reason, p->message);
        log_debug("event %s %s: %s", warning ? "Warning" : "Normal", reason, p->message);
        g_queue_push_tail(&e->queue, p);
        flush(e);
}

void node_events_on_idle(NodeEvents *e, NodeEventsIdle idle, void *userdata) {
        e->idle = idle;
        e->idle_userdata = userdata;
        check_idle(e);
}

bool node_events_idle(NodeEvents *e) {
        return !e->request && g_queue_is_empty(&e->queue);
}

int node_events_new(KubeClient *client, sd_event *event, const char *node_name, NodeEvents **ret) {
        NodeEvents *e;
        int r;

        assert(client);
        assert(event);
        assert(node_name);
        assert(ret);

        e = g_new0(NodeEvents, 1);
        e->client = client;
        e->event = sd_event_ref(event);
        e->node_name = g_strdup(node_name);
        e->collection = g_strdup("/api/v1/namespaces/" NODE_EVENT_NAMESPACE "/events");
        e->records = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, record_free);
        g_queue_init(&e->queue);
        g_queue_init(&e->record_order);
        backoff_init(&e->backoff, 1 * USEC_PER_SEC, 10 * USEC_PER_SEC);

        r = sd_event_add_time(event, &e->retry, CLOCK_MONOTONIC, UINT64_MAX, 0, retry_cb, e);
        if (r >= 0)
                r = sd_event_source_set_enabled(e->retry, SD_EVENT_OFF);
        if (r < 0) {
                node_events_free(e);
                return r;
        }
        (void) sd_event_source_set_description(e->retry, "node-events-retry");
        *ret = e;
        return 0;
}

NodeEvents *node_events_free(NodeEvents *e) {
        if (!e)
                return NULL;
        kube_request_cancel(e->request);
        pending_free(e->inflight);
        while (!g_queue_is_empty(&e->queue))
                pending_free(g_queue_pop_head(&e->queue));
        while (!g_queue_is_empty(&e->record_order))
                g_free(g_queue_pop_head(&e->record_order));
        g_hash_table_unref(e->records);
        sd_event_source_disable_unref(e->retry);
        sd_event_unref(e->event);
        g_free(e->node_name);
        g_free(e->collection);
        g_free(e);
        return NULL;
}
