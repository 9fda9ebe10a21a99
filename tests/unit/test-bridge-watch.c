/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>
#include <glib.h>

#include "json-util.h"
#include "watch-parser.h"

/* What the handler saw, as one line per event. */
typedef struct Seen {
        GString *log;
        int stop_after; /* return -ECANCELED after this many events; 0: never */
        int n;
} Seen;

static int handler(const WatchEvent *ev, void *userdata) {
        Seen *s = userdata;
        const char *name = json_object_name(ev->object);

        g_string_append_printf(s->log, "%s %s rv=%s", watch_event_type_to_string(ev->type),
                               name ? name : "-", ev->resource_version ? ev->resource_version : "-");
        if (ev->type == WATCH_EVENT_ERROR)
                g_string_append_printf(s->log, " code=%" PRIi64 " msg=%s", ev->error_code, ev->error_message);
        g_string_append_c(s->log, '\n');
        s->n++;
        return s->stop_after && s->n >= s->stop_after ? -ECANCELED : 0;
}

static const char STREAM[] =
        "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\",\"resourceVersion\":\"5\","
        "\"labels\":{\"nvidia.com/cc.mode\":\"on\"}}}}\n"
        "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"n1\",\"resourceVersion\":\"6\"}}}\r\n"
        "\n"
        "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Node\",\"metadata\":{\"resourceVersion\":\"9\"}}}\n"
        "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"n1\",\"resourceVersion\":\"10\"}}}\n"
        "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"too old resource "
        "version: 5 (12)\",\"reason\":\"Expired\",\"code\":410}}\n";

static const char EXPECTED[] =
        "ADDED n1 rv=5\n"
        "MODIFIED n1 rv=6\n"
        "BOOKMARK - rv=9\n"
        "DELETED n1 rv=10\n"
        "ERROR - rv=- code=410 msg=too old resource version: 5 (12)\n";

static void feed_in_pieces(const size_t *cuts, size_t n_cuts) {
        Seen s = { .log = g_string_new(NULL) };
        CcError e = CC_ERROR_INIT;
        WatchParser p;
        size_t at = 0;

        watch_parser_init(&p, handler, &s);
        for (size_t i = 0; i <= n_cuts; i++) {
                size_t end = i < n_cuts ? cuts[i] : sizeof(STREAM) - 1;

                assert_int_equal(watch_parser_feed(&p, STREAM + at, end - at, &e), 0);
                at = end;
        }
        assert_int_equal(watch_parser_finish(&p, &e), 0);
        assert_string_equal(s.log->str, EXPECTED);
        watch_parser_done(&p);
        g_string_free(s.log, true);
}

static void test_whole(void **state) {
        feed_in_pieces(NULL, 0);
}

static void test_every_single_cut(void **state) {
        /* A chunk boundary at every byte position. */
        for (size_t cut = 0; cut < sizeof(STREAM) - 1; cut++)
                feed_in_pieces(&cut, 1);
}

static void test_byte_by_byte(void **state) {
        size_t cuts[sizeof(STREAM) - 2];

        for (size_t i = 0; i < G_N_ELEMENTS(cuts); i++)
                cuts[i] = i + 1;
        feed_in_pieces(cuts, G_N_ELEMENTS(cuts));
}

static void test_last_line_without_newline(void **state) {
        Seen s = { .log = g_string_new(NULL) };
        CcError e = CC_ERROR_INIT;
        WatchParser p;
        const char *text = "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"x\",\"resourceVersion\":\"1\"}}}";

        watch_parser_init(&p, handler, &s);
        assert_int_equal(watch_parser_feed(&p, text, strlen(text), &e), 0);
        assert_string_equal(s.log->str, "");
        assert_int_equal(watch_parser_finish(&p, &e), 0);
        assert_string_equal(s.log->str, "MODIFIED x rv=1\n");
        /* A reset forgets a half line. */
        assert_int_equal(watch_parser_feed(&p, text, 10, &e), 0);
        watch_parser_reset(&p);
        assert_int_equal(watch_parser_finish(&p, &e), 0);
        assert_string_equal(s.log->str, "MODIFIED x rv=1\n");
        watch_parser_done(&p);
        g_string_free(s.log, true);
}

static void assert_bad(const char *line, const char *needle) {
        Seen s = { .log = g_string_new(NULL) };
        CcError e = CC_ERROR_INIT;
        WatchParser p;

        watch_parser_init(&p, handler, &s);
        assert_int_equal(watch_parser_feed(&p, line, strlen(line), &e), -EBADMSG);
        if (!strstr(e.message, needle))
                fail_msg("\"%s\" does not contain \"%s\"", e.message, needle);
        assert_int_equal(s.n, 0);
        watch_parser_done(&p);
        g_string_free(s.log, true);
}

static void test_bad_events(void **state) {
        assert_bad("{\n", "not JSON");
        assert_bad("[1]\n", "not a JSON object");
        assert_bad("{\"object\":{}}\n", "has no type");
        assert_bad("{\"type\":5,\"object\":{}}\n", "has no type");
        assert_bad("{\"type\":\"RENAMED\",\"object\":{}}\n", "unknown type \"RENAMED\"");
        assert_bad("{\"type\":\"ADDED\"}\n", "ADDED watch event has no object");
        assert_bad("{\"type\":\"ADDED\",\"object\":[]}\n", "has no object");
}

static void test_odd_shapes_are_not_trusted(void **state) {
        Seen s = { .log = g_string_new(NULL) };
        CcError e = CC_ERROR_INIT;
        WatchParser p;
        /* Wrong types where strings and numbers belong: read as absent. */
        const char *text = "{\"type\":\"ERROR\",\"object\":{\"code\":\"410\",\"message\":7,\"metadata\":[]}}\n"
                           "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":1,\"resourceVersion\":{}}}}\n";

        watch_parser_init(&p, handler, &s);
        assert_int_equal(watch_parser_feed(&p, text, strlen(text), &e), 0);
        assert_string_equal(s.log->str, "ERROR - rv=- code=0 msg=\nADDED - rv=-\n");
        watch_parser_done(&p);
        g_string_free(s.log, true);
}

static void test_handler_stops(void **state) {
        Seen s = { .log = g_string_new(NULL), .stop_after = 1 };
        CcError e = CC_ERROR_INIT;
        WatchParser p;

        watch_parser_init(&p, handler, &s);
        assert_int_equal(watch_parser_feed(&p, STREAM, sizeof(STREAM) - 1, &e), -ECANCELED);
        assert_int_equal(s.n, 1);
        watch_parser_done(&p);
        g_string_free(s.log, true);
}

static void test_line_too_long(void **state) {
        Seen s = { .log = g_string_new(NULL) };
        CcError e = CC_ERROR_INIT;
        WatchParser p;
        size_t chunk = 1024 * 1024;
        char *junk = g_malloc(chunk);
        int r = 0;

        memset(junk, ' ', chunk);
        watch_parser_init(&p, handler, &s);
        for (size_t sent = 0; sent <= WATCH_LINE_MAX && r == 0; sent += chunk)
                r = watch_parser_feed(&p, junk, chunk, &e);
        assert_int_equal(r, -E2BIG);
        assert_non_null(strstr(e.message, "longer than"));
        /* The parser starts afresh after it. */
        assert_int_equal(watch_parser_feed(&p, "\n", 1, &e), 0);
        assert_int_equal(watch_parser_feed(&p, STREAM, sizeof(STREAM) - 1, &e), 0);
        assert_string_equal(s.log->str, EXPECTED);
        watch_parser_done(&p);
        g_string_free(s.log, true);
        g_free(junk);
}

static void test_labels(void **state) {
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(GHashTable) labels = NULL;
        const char *text = "{\"metadata\":{\"labels\":{\"a\":\"1\",\"b\":2,\"c\":null,\"nvidia.com/cc.mode\":\"\"}}}";

        assert_true(json_parser_load_from_data(parser, text, -1, NULL));
        labels = json_object_labels(json_node_get_object(json_parser_get_root(parser)));
        assert_int_equal(g_hash_table_size(labels), 2);
        assert_string_equal(g_hash_table_lookup(labels, "a"), "1");
        assert_string_equal(g_hash_table_lookup(labels, "nvidia.com/cc.mode"), "");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_whole),
                cmocka_unit_test(test_every_single_cut),
                cmocka_unit_test(test_byte_by_byte),
                cmocka_unit_test(test_last_line_without_newline),
                cmocka_unit_test(test_bad_events),
                cmocka_unit_test(test_odd_shapes_are_not_trusted),
                cmocka_unit_test(test_handler_stops),
                cmocka_unit_test(test_line_too_long),
                cmocka_unit_test(test_labels),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
