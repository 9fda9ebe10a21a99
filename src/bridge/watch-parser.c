/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "json-util.h"
#include "macro.h"
#include "watch-parser.h"

static const char *const event_type_names[_WATCH_EVENT_TYPE_MAX] = {
        [WATCH_EVENT_ADDED] = "ADDED",
        [WATCH_EVENT_MODIFIED] = "MODIFIED",
        [WATCH_EVENT_DELETED] = "DELETED",
        [WATCH_EVENT_BOOKMARK] = "BOOKMARK",
        [WATCH_EVENT_ERROR] = "ERROR",
};

const char *watch_event_type_to_string(WatchEventType t) {
        return t >= 0 && t < _WATCH_EVENT_TYPE_MAX ? event_type_names[t] : NULL;
}

static int event_type_from_string(const char *s) {
        for (int t = 0; t < _WATCH_EVENT_TYPE_MAX; t++)
                if (streq(s, event_type_names[t]))
                        return t;
        return -EINVAL;
}

void watch_parser_init(WatchParser *p, WatchEventHandler handler, void *userdata) {
        assert(p);
        assert(handler);

        *p = (WatchParser) {
                .line = g_byte_array_new(),
                .json = json_parser_new_immutable(),
                .handler = handler,
                .userdata = userdata,
        };
}

void watch_parser_done(WatchParser *p) {
        assert(p);

        if (p->line)
                g_byte_array_unref(p->line);
        if (p->json)
                g_object_unref(p->json);
        p->line = NULL;
        p->json = NULL;
}

void watch_parser_reset(WatchParser *p) {
        assert(p);
        g_byte_array_set_size(p->line, 0);
}

int watch_event_parse(JsonParser *json, const char *line, size_t size, WatchEvent *ret, CcError *e) {
        g_autoptr(GError) error = NULL;
        JsonNode *root;
        JsonObject *o, *object;
        const char *type;
        int t;

        assert(json);
        assert(line);
        assert(ret);

        if (!json_depth_within(line, size, KUBE_JSON_DEPTH_MAX))
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EBADMSG,
                                    "watch event nested more than %d deep", KUBE_JSON_DEPTH_MAX);
        if (size > G_MAXSSIZE || !json_parser_load_from_data(json, line, (gssize) size, &error))
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EBADMSG, "watch event is not JSON: %s",
                                    error ? error->message : "too long");
        root = json_parser_get_root(json);
        if (!root || !JSON_NODE_HOLDS_OBJECT(root))
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EBADMSG, "watch event is not a JSON object");
        o = json_node_get_object(root);

        type = json_get_string(o, "type");
        if (!type)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EBADMSG, "watch event has no type");
        t = event_type_from_string(type);
        if (t < 0)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EBADMSG, "watch event of unknown type \"%.64s\"",
                                    type);
        object = json_get_object(o, "object");
        if (!object)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EBADMSG, "%s watch event has no object", type);

        *ret = (WatchEvent) {
                .type = t,
                .object = object,
                .resource_version = json_object_resource_version(object),
                .error_message = "",
        };
        if (t == WATCH_EVENT_ERROR) {
                const char *message = json_get_string(object, "message");

                ret->error_code = json_get_int(object, "code", 0);
                ret->error_message = message ? message : "";
        }
        return 0;
}

static int parse_line(WatchParser *p, const char *line, size_t size, CcError *e) {
        WatchEvent event;
        int r;

        /* Blank lines (and a "\r" of "\r\n") are keep-alives, not events. */
        while (size > 0 && (line[size - 1] == '\r' || line[size - 1] == ' ' || line[size - 1] == '\t'))
                size--;
        if (size == 0)
                return 0;
        if (memchr(line, '\0', size))
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EBADMSG, "watch event contains a NUL byte");

        r = watch_event_parse(p->json, line, size, &event, e);
        if (r < 0)
                return r;
        return p->handler(&event, p->userdata);
}

int watch_parser_feed(WatchParser *p, const void *data, size_t size, CcError *e) {
        const char *s = data, *end = s + size;
        int r;

        assert(p);
        assert(data || size == 0);

        while (s < end) {
                const char *nl = memchr(s, '\n', (size_t) (end - s));
                size_t k = nl ? (size_t) (nl - s) : (size_t) (end - s);

                if (p->line->len + k > WATCH_LINE_MAX) {
                        watch_parser_reset(p);
                        return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, E2BIG,
                                            "watch event longer than %u bytes", WATCH_LINE_MAX);
                }
                if (!nl) {
                        g_byte_array_append(p->line, (const guint8 *) s, (guint) k);
                        break;
                }

                if (p->line->len == 0)
                        /* The whole line is in this chunk: no copy. */
                        r = parse_line(p, s, k, e);
                else {
                        g_byte_array_append(p->line, (const guint8 *) s, (guint) k);
                        r = parse_line(p, (const char *) p->line->data, p->line->len, e);
                        watch_parser_reset(p);
                }
                if (r < 0)
                        return r;
                s = nl + 1;
        }
        return 0;
}

int watch_parser_finish(WatchParser *p, CcError *e) {
        int r;

        assert(p);

        if (p->line->len == 0)
                return 0;
        r = parse_line(p, (const char *) p->line->data, p->line->len, e);
        watch_parser_reset(p);
        return r;
}
