/* SPDX-License-Identifier: MIT */

/* The bridge's watch-event stream parser: events cut at every byte, keep-
 * alives and CRLF, bookmarks, ERROR 410, a last line without its newline,
 * refusals, a handler that stops the stream, and reset. */

#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "macro.h"
#include "watch-parser.h"

#define NODE_ADDED "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Node\",\"metadata\":{\"name\":\"n\"," \
                   "\"resourceVersion\":\"100\",\"labels\":{\"nvidia.com/cc.mode\":\"on\"}}}}"
#define NODE_MODIFIED "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Node\",\"metadata\":{\"name\":\"n\"," \
                      "\"resourceVersion\":\"101\"}}}"
#define BOOKMARK "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Node\",\"metadata\":{\"resourceVersion\":\"150\"}}}"
#define GONE "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{}," \
             "\"status\":\"Failure\",\"message\":\"too old resource version: 5 (7)\",\"reason\":\"Expired\"," \
             "\"code\":410}}"

typedef struct Seen {
        GString *log;
        unsigned n;
        unsigned stop_after;
} Seen;

static int record(const WatchEvent *e, void *userdata) {
        Seen *s = userdata;

        g_string_append_printf(s->log, "%s %s %" G_GINT64_FORMAT " %s|", watch_event_type_to_string(e->type),
                               e->resource_version ?: "-", e->error_code, e->error_message);
        s->n++;
        return s->stop_after && s->n >= s->stop_after ? -ECANCELED : 0;
}

/* Feeds text in the given pieces (offsets), then finishes. */
static int feed_split(const char *text, size_t size, const size_t *cuts, size_t n_cuts, GString *log,
                      CcError *e) {
        Seen seen = { .log = log };
        WatchParser p;
        size_t off = 0;
        int r = 0;

        watch_parser_init(&p, record, &seen);
        for (size_t i = 0; i <= n_cuts && r >= 0; i++) {
                size_t end = i < n_cuts ? cuts[i] : size;

                r = watch_parser_feed(&p, text + off, end - off, e);
                off = end;
        }
        if (r >= 0)
                r = watch_parser_finish(&p, e);
        watch_parser_done(&p);
        return r;
}

static void test_split_at_every_byte(void **state) {
        static const char text[] = NODE_ADDED "\n" BOOKMARK "\r\n\n" NODE_MODIFIED "\n" GONE "\n";
        const size_t n = sizeof(text) - 1;
        g_autoptr(GString) whole = g_string_new(NULL);
        CcError e = CC_ERROR_INIT;

        assert_int_equal(feed_split(text, n, NULL, 0, whole, &e), 0);
        assert_string_equal(whole->str, "ADDED 100 0 |BOOKMARK 150 0 |MODIFIED 101 0 |"
                                        "ERROR - 410 too old resource version: 5 (7)|");
        for (size_t i = 0; i <= n; i++)
                for (size_t j = i; j <= n; j += 7) {
                        g_autoptr(GString) log = g_string_new(NULL);
                        const size_t cuts[] = { i, j };

                        assert_int_equal(feed_split(text, n, cuts, 2, log, &e), 0);
                        assert_string_equal(log->str, whole->str);
                }
}

static void test_one_byte_at_a_time(void **state) {
        static const char text[] = NODE_ADDED "\n" GONE;  /* no final newline */
        const size_t n = sizeof(text) - 1;
        size_t cuts[sizeof(text)];
        g_autoptr(GString) log = g_string_new(NULL);
        CcError e = CC_ERROR_INIT;

        for (size_t i = 0; i < n; i++)
                cuts[i] = i;
        assert_int_equal(feed_split(text, n, cuts, n, log, &e), 0);
        assert_string_equal(log->str, "ADDED 100 0 |ERROR - 410 too old resource version: 5 (7)|");
}

static void test_keepalives(void **state) {
        static const char text[] = "\n\r\n \t\n" NODE_MODIFIED " \r\n\n";
        g_autoptr(GString) log = g_string_new(NULL);
        CcError e = CC_ERROR_INIT;

        assert_int_equal(feed_split(text, sizeof(text) - 1, NULL, 0, log, &e), 0);
        assert_string_equal(log->str, "MODIFIED 101 0 |");
}

static void test_last_line_only_on_finish(void **state) {
        Seen seen = { .log = g_string_new(NULL) };
        CcError e = CC_ERROR_INIT;
        WatchParser p;

        watch_parser_init(&p, record, &seen);
        assert_int_equal(watch_parser_feed(&p, NODE_ADDED, strlen(NODE_ADDED), &e), 0);
        assert_int_equal(seen.n, 0);
        assert_int_equal(watch_parser_finish(&p, &e), 0);
        assert_int_equal(seen.n, 1);
        /* Nothing is left for a second finish. */
        assert_int_equal(watch_parser_finish(&p, &e), 0);
        assert_int_equal(seen.n, 1);
        watch_parser_done(&p);
        g_string_free(seen.log, true);
}

static void test_reset_forgets_partial_line(void **state) {
        Seen seen = { .log = g_string_new(NULL) };
        CcError e = CC_ERROR_INIT;
        WatchParser p;

        watch_parser_init(&p, record, &seen);
        assert_int_equal(watch_parser_feed(&p, "{\"type\":\"ADD", 12, &e), 0);
        watch_parser_reset(&p);
        assert_int_equal(watch_parser_feed(&p, BOOKMARK "\n", strlen(BOOKMARK) + 1, &e), 0);
        assert_string_equal(seen.log->str, "BOOKMARK 150 0 |");
        watch_parser_done(&p);
        g_string_free(seen.log, true);
}

static void test_handler_stops(void **state) {
        static const char text[] = NODE_ADDED "\n" NODE_MODIFIED "\n" BOOKMARK "\n";
        Seen seen = { .log = g_string_new(NULL), .stop_after = 2 };
        CcError e = CC_ERROR_INIT;
        WatchParser p;

        watch_parser_init(&p, record, &seen);
        assert_int_equal(watch_parser_feed(&p, text, strlen(text), &e), -ECANCELED);
        assert_int_equal(seen.n, 2);
        watch_parser_done(&p);
        g_string_free(seen.log, true);
}

static void check_refused(const char *line, const char *message_part) {
        g_autoptr(GString) log = g_string_new(NULL);
        g_autofree char *text = g_strconcat(NODE_ADDED "\n", line, "\n" BOOKMARK "\n", NULL);
        CcError e = CC_ERROR_INIT;

        assert_int_equal(feed_split(text, strlen(text), NULL, 0, log, &e), -EBADMSG);
        /* The events before the bad line were handed on; none after. */
        assert_string_equal(log->str, "ADDED 100 0 |");
        assert_int_equal(e.kind, CC_ERROR_INVALID_ARGUMENT);
        if (!strstr(e.message, message_part))
                fail_msg("\"%s\": \"%s\" does not say \"%s\"", line, e.message, message_part);
}

static void test_refusals(void **state) {
        check_refused("{\"type\":\"ADDED\",\"object\":{", "not JSON");
        check_refused("[1,2]", "not a JSON object");
        check_refused("{\"object\":{}}", "has no type");
        check_refused("{\"type\":7,\"object\":{}}", "has no type");
        check_refused("{\"type\":\"SYNC\",\"object\":{}}", "unknown type \"SYNC\"");
        check_refused("{\"type\":\"ADDED\"}", "ADDED watch event has no object");
        check_refused("{\"type\":\"ADDED\",\"object\":[]}", "has no object");
}

/* A line json-glib would recurse on until the stack ran out. */
static void test_nested_too_deeply(void **state) {
        size_t n = 1 << 20;
        char *deep = malloc(n + 1);

        assert_non_null(deep);
        memset(deep, '[', n);
        deep[n] = '\0';
        check_refused(deep, "nested more than 64 deep");
        memset(deep, '{', n);
        memcpy(deep, "{\"type\":\"ADDED\",\"object\":", 25);
        check_refused(deep, "nested more than 64 deep");
        free(deep);
}

static void test_nul_byte(void **state) {
        static const char text[] = NODE_ADDED "\n{\"type\":\"ADDED\",\0\"object\":{}}\n";
        g_autoptr(GString) log = g_string_new(NULL);
        CcError e = CC_ERROR_INIT;

        assert_int_equal(feed_split(text, sizeof(text) - 1, NULL, 0, log, &e), -EBADMSG);
        assert_non_null(strstr(e.message, "NUL"));
}

static void test_error_without_code(void **state) {
        static const char text[] = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\"}}\n";
        g_autoptr(GString) log = g_string_new(NULL);
        CcError e = CC_ERROR_INIT;

        assert_int_equal(feed_split(text, sizeof(text) - 1, NULL, 0, log, &e), 0);
        assert_string_equal(log->str, "ERROR - 0 |");
}

static void test_type_names(void **state) {
        assert_string_equal(watch_event_type_to_string(WATCH_EVENT_BOOKMARK), "BOOKMARK");
        assert_null(watch_event_type_to_string(_WATCH_EVENT_TYPE_MAX));
        assert_null(watch_event_type_to_string(-1));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_split_at_every_byte),
                cmocka_unit_test(test_one_byte_at_a_time),
                cmocka_unit_test(test_keepalives),
                cmocka_unit_test(test_last_line_only_on_finish),
                cmocka_unit_test(test_reset_forgets_partial_line),
                cmocka_unit_test(test_handler_stops),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_nested_too_deeply),
                cmocka_unit_test(test_nul_byte),
                cmocka_unit_test(test_error_without_code),
                cmocka_unit_test(test_type_names),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
