/* SPDX-License-Identifier: MIT */
#pragma once

/* The body of a Kubernetes watch: one JSON event per line,
 * {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}, arriving
 * in chunks cut anywhere.  The parser keeps the unfinished line and hands
 * each complete event to a handler. */

#include <json-glib/json-glib.h>
#include <stddef.h>
#include <stdint.h>

#include "cc-error.h"

/* The longest event line taken; a Node is tens of KiB. */
#define WATCH_LINE_MAX (4U * 1024U * 1024U)

typedef enum WatchEventType {
        WATCH_EVENT_ADDED,
        WATCH_EVENT_MODIFIED,
        WATCH_EVENT_DELETED,
        WATCH_EVENT_BOOKMARK,
        WATCH_EVENT_ERROR,
        _WATCH_EVENT_TYPE_MAX,
} WatchEventType;

typedef struct WatchEvent {
        WatchEventType type;
        JsonObject *object;           /* the object; a Status for ERROR */
        const char *resource_version; /* the object's, NULL when it has none */
        int64_t error_code;           /* ERROR: the Status code (410: Gone) */
        const char *error_message;    /* ERROR: the Status message, or "" */
} WatchEvent;

/* Returns < 0 to stop the parser (feed returns that value). */
typedef int (*WatchEventHandler)(const WatchEvent *event, void *userdata);

typedef struct WatchParser {
        GByteArray *line;
        JsonParser *json;
        WatchEventHandler handler;
        void *userdata;
} WatchParser;

void watch_parser_init(WatchParser *p, WatchEventHandler handler, void *userdata);
void watch_parser_done(WatchParser *p);
/* Forgets an unfinished line (a new stream begins). */
void watch_parser_reset(WatchParser *p);

/* Takes the next chunk.  Returns 0, a handler's negative return, or
 * -EBADMSG (not an event) / -E2BIG (a line too long) with e filled. */
int watch_parser_feed(WatchParser *p, const void *data, size_t size, CcError *e);
/* The stream ended: parses a last line without its newline. */
int watch_parser_finish(WatchParser *p, CcError *e);

/* Parses one event line (no newline needed). */
int watch_event_parse(JsonParser *json, const char *line, size_t size, WatchEvent *ret, CcError *e);

const char *watch_event_type_to_string(WatchEventType t);
