/* SPDX-License-Identifier: MIT */

/* The bridge's watch-event stream parser (src/bridge/watch-parser.c) on any
 * body an API server, or anything between it and the bridge, could send.
 * Input: 1 byte seeding the chunk sizes, 1 byte "stop after N events"
 * (0: never), then the body.
 *
 * Checks: the body gives the same events, in the same order, with the same
 * end (success or the same error), whether it comes in one piece, one byte
 * at a time or cut at arbitrary places; every event has an object, a known
 * type and, for ERROR, a message; a refusal is InvalidArgument with a
 * message; a handler that returns an error stops the parser at once and the
 * error comes back from feed. */

#include <glib.h>

#include "fuzz.h"
#include "macro.h"
#include "watch-parser.h"

#define STOP_ERROR (-ECANCELED)

typedef struct Run {
        GString *events;  /* one line per event: what the handler saw */
        unsigned n_events;
        unsigned stop_after;
} Run;

static int on_event(const WatchEvent *event, void *userdata) {
        Run *run = userdata;
        const char *type = watch_event_type_to_string(event->type);

        FUZZ_CHECK(type);
        FUZZ_CHECK(event->object);
        FUZZ_CHECK(event->error_message);
        if (event->type != WATCH_EVENT_ERROR)
                FUZZ_CHECK(event->error_code == 0 && event->error_message[0] == '\0');

        /* The strings live in the parser's tree, which the next line
         * replaces: copy them now. */
        g_string_append_printf(run->events, "%s rv=%s code=%" G_GINT64_FORMAT " msg=%zu:", type,
                               event->resource_version ?: "(null)", event->error_code,
                               strlen(event->error_message));
        g_string_append(run->events, event->error_message);
        g_string_append_c(run->events, '\n');

        run->n_events++;
        if (run->stop_after > 0 && run->n_events >= run->stop_after)
                return STOP_ERROR;
        return 0;
}

/* Chunk sizes from a small xorshift generator: 1 to max. */
static size_t next_chunk(uint32_t *state, size_t max) {
        uint32_t x = *state;

        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *state = x;
        return 1 + x % max;
}

/* Feeds body in chunks (chunk_max 0: all at once), then finishes.  Returns
 * the first error; events gets what the handler saw, and the end. */
static int run_parser(const uint8_t *body, size_t size, uint8_t seed, size_t chunk_max, unsigned stop_after,
                      GString *events) {
        WatchParser p;
        CcError err = CC_ERROR_INIT;
        Run run = { .events = events, .stop_after = stop_after };
        uint32_t state = 0x9e3779b9u ^ seed;
        size_t off = 0;
        int r = 0;

        watch_parser_init(&p, on_event, &run);
        while (off < size) {
                size_t k = chunk_max == 0 ? size - off : next_chunk(&state, chunk_max);

                k = MIN(k, size - off);

                r = watch_parser_feed(&p, body + off, k, &err);
                /* A stopping handler stops the parser at once. */
                FUZZ_CHECK(stop_after == 0 || run.n_events <= stop_after);
                if (r < 0)
                        break;
                off += k;
        }
        if (r >= 0)
                r = watch_parser_finish(&p, &err);

        if (r == STOP_ERROR)
                FUZZ_CHECK(stop_after > 0 && run.n_events == stop_after);
        else if (r < 0) {
                FUZZ_CHECK(r == -EBADMSG || r == -E2BIG);
                FUZZ_CHECK(err.kind == CC_ERROR_INVALID_ARGUMENT);
                FUZZ_CHECK(err.message[0] != '\0');
        } else
                FUZZ_CHECK(r == 0);
        if (stop_after > 0)
                FUZZ_CHECK(run.n_events <= stop_after);
        g_string_append_printf(events, "end %d %s\n", r, r < 0 && r != STOP_ERROR ? err.message : "");
        watch_parser_done(&p);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autoptr(GString) whole = g_string_new(NULL), bytes = g_string_new(NULL), cut = g_string_new(NULL),
                           stopped = g_string_new(NULL);
        g_autofree char *stop_end = g_strdup_printf("end %d \n", STOP_ERROR);
        const uint8_t *body;
        uint8_t seed, stop_after;
        int r;

        if (size < 2)
                return 0;
        fuzz_quiet_logging();
        seed = data[0];
        stop_after = data[1];
        body = data + 2;
        size -= 2;

        r = run_parser(body, size, seed, 0, 0, whole);
        (void) run_parser(body, size, seed, 1, 0, bytes);
        (void) run_parser(body, size, seed, 1 + seed % 64, 0, cut);
        if (fuzz_verbose())
                fprintf(stderr, "%d\n%s--- cut:\n%s", r, whole->str, cut->str);

        /* However the body is cut, the same events and the same end. */
        FUZZ_CHECK(g_string_equal(whole, bytes));
        FUZZ_CHECK(g_string_equal(whole, cut));

        /* Stopped after N events: the same first N, then the handler's
         * error, or the whole run when there were fewer. */
        if (stop_after > 0) {
                (void) run_parser(body, size, seed, 1 + seed % 64, stop_after, stopped);
                if (!g_str_has_suffix(stopped->str, stop_end))
                        FUZZ_CHECK(g_string_equal(whole, stopped));
                else {
                        size_t n = stopped->len - strlen(stop_end);

                        FUZZ_CHECK(n <= whole->len && memcmp(whole->str, stopped->str, n) == 0);
                }
        }
        return 0;
}
