/* SPDX-License-Identifier: MIT */
#pragma once

/* List-then-watch of one kind of object, as client-go's reflector does it:
 * GET (a list, or one object), then WATCH from its resourceVersion with
 * bookmarks and a server-side timeout; a watch that ends is resumed from the
 * last resourceVersion seen; 410 Gone (as a status or as an ERROR event)
 * lists again; failures wait a jittered, growing delay.  Never a tight loop. */

#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "kube-client.h"
#include "watch-parser.h"

typedef struct KubeWatch KubeWatch;

/* The handlers run inside the watch: they must not free it (defer that to
 * the event loop). */
typedef struct KubeWatchHandlers {
        /* After each (re)list: every object there is now (a list's items, or
         * the one object). */
        void (*synced)(KubeWatch *w, JsonArray *objects, void *userdata);
        /* ADDED, MODIFIED, DELETED (bookmarks and errors are handled here). */
        void (*event)(KubeWatch *w, const WatchEvent *event, void *userdata);
} KubeWatchHandlers;

/* list_path: GET path (a collection with its selectors, or one object).
 * watch_path: the collection with its selectors, as "/api/v1/nodes?fieldSelector=..."
 * (watch=1, resourceVersion, allowWatchBookmarks and timeoutSeconds are added). */
int kube_watch_new(KubeClient *client, sd_event *event, const char *what, const char *list_path,
                   const char *watch_path, unsigned timeout_seconds, const KubeWatchHandlers *handlers,
                   void *userdata, KubeWatch **ret);
KubeWatch *kube_watch_free(KubeWatch *w);
int kube_watch_start(KubeWatch *w);

/* Whether the watch made progress (a request begun, bytes received)
 * recently enough for a loop that works; false before the start. */
bool kube_watch_healthy(KubeWatch *w, uint64_t now);

/* How many times it listed (the first time included), for tests' logs. */
unsigned kube_watch_n_lists(KubeWatch *w);
