/* SPDX-License-Identifier: MIT */

/* The watch-stream parser of nvidia-cc-k8s-bridge on arbitrary bytes: what
 * an API server (or something in its place) sends.  The first byte chooses
 * where the stream is cut into chunks; the events seen must be the same
 * however it is cut, and every event handed out must be whole. */

#include <glib.h>

#include "fuzz.h"
#include "json-util.h"
#include "watch-parser.h"

static int record(const WatchEvent *ev, void *userdata) {
        GString *log = userdata;
        const char *name = json_object_name(ev->object);

        FUZZ_CHECK(ev->type >= 0 && ev->type < _WATCH_EVENT_TYPE_MAX);
        FUZZ_CHECK(ev->object);
        FUZZ_CHECK(ev->error_message);
        FUZZ_CHECK(ev->type == WATCH_EVENT_ERROR || ev->error_code == 0);
        g_string_append_printf(log, "%s|%s|%s|%lld|%s\n", watch_event_type_to_string(ev->type),
                               name ? name : "", ev->resource_version ? ev->resource_version : "",
                               (long long) ev->error_code, ev->error_message);
        /* Read what the bridge reads. */
        g_hash_table_unref(json_object_labels(ev->object));
        return 0;
}

/* Feeds the stream in chunks of `step` bytes (0: whole); returns the event
 * log and the first error. */
static int run(const uint8_t *data, size_t size, size_t step, GString *log, char **ret_message) {
        CcError e = CC_ERROR_INIT;
        WatchParser p;
        int r = 0;

        watch_parser_init(&p, record, log);
        for (size_t at = 0; at < size && r >= 0;) {
                size_t n = step ? MIN(step, size - at) : size;

                r = watch_parser_feed(&p, data + at, n, &e);
                at += n;
        }
        if (r >= 0)
                r = watch_parser_finish(&p, &e);
        if (r < 0) {
                FUZZ_CHECK(r == -EBADMSG || r == -E2BIG);
                FUZZ_CHECK(e.message[0] != '\0');
        }
        watch_parser_done(&p);
        *ret_message = g_strdup(e.message);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autoptr(GString) whole = g_string_new(NULL), cut = g_string_new(NULL);
        g_autofree char *m1 = NULL, *m2 = NULL;
        size_t step;
        int r1, r2;

        fuzz_quiet_logging();
        if (size < 1)
                return 0;
        step = data[0] % 17 + 1;
        data++;
        size--;

        r1 = run(data, size, 0, whole, &m1);
        r2 = run(data, size, step, cut, &m2);
        if (fuzz_verbose())
                fprintf(stderr, "  whole: %d %s\n%s  in %zu-byte chunks: %d\n", r1, m1, whole->str, step, r2);
        /* The chunking changes nothing. */
        FUZZ_CHECK(r1 == r2);
        FUZZ_CHECK(streq(whole->str, cut->str));
        FUZZ_CHECK(streq(m1, m2));
        return 0;
}
