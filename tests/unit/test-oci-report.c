/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "report-reader.h"

#define DIGEST_A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DIGEST_B "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void assert_line_refused(const char *line, size_t len, const char *problem) {
        ReportLine l = {};
        const char *got = NULL;

        assert_int_equal(report_line_parse(line, len, &l, &got), -EBADMSG);
        assert_non_null(got);
        if (problem)
                assert_string_equal(got, problem);
        assert_null(l.result);
        assert_null(l.error_message);
}

static void refused(const char *line, const char *problem) {
        assert_line_refused(line, strlen(line), problem);
}

static void test_progress(void **state) {
        ReportLine l = {};

        assert_int_equal(report_line_parse("{\"progress\":{\"done\":5,\"total\":9}}", 33, &l, NULL), 0);
        assert_int_equal(l.kind, REPORT_PROGRESS);
        assert_int_equal(l.done, 5);
        assert_int_equal(l.total, 9);
        report_line_done(&l);

        refused("{\"progress\":{\"done\":10,\"total\":9}}", "bad progress");
        refused("{\"progress\":{\"done\":1}}", "bad progress");
        refused("{\"progress\":{\"done\":1,\"total\":2,\"x\":3}}", "bad progress");
        refused("{\"progress\":{\"done\":-1,\"total\":2}}", "negative number");
        refused("{\"progress\":{\"done\":1.5,\"total\":2}}", "number that is not an integer");
        refused("{\"progress\":{\"done\":01,\"total\":2}}", "number with a leading zero");
        refused("{\"progress\":{\"done\":9223372036854775808,\"total\":2}}", "number too large");
        refused("{\"progress\":{\"done\":1,\"done\":1,\"total\":2}}", "member given twice");
        refused("{\"progress\":{\"done\":true,\"total\":2}}", "not JSON");
}

static void test_result(void **state) {
        const char *line = "{\"result\":{\"manifest\":\"" DIGEST_A "\",\"layers\":["
                           "{\"digest\":\"" DIGEST_B "\",\"size\":3,\"media-type\":\"application/x\",\"title\":\"a\\u00e9\\ud83d\\ude00\"},"
                           "{\"digest\":\"" DIGEST_A "\",\"size\":0,\"media-type\":\"m\",\"title\":null}]}}";
        ReportLine l = {};

        assert_int_equal(report_line_parse(line, strlen(line), &l, NULL), 0);
        assert_int_equal(l.kind, REPORT_RESULT);
        assert_string_equal(l.result->manifest_digest, DIGEST_A);
        assert_int_equal(l.result->n_layers, 2);
        assert_string_equal(l.result->layers[0].digest, DIGEST_B);
        assert_int_equal(l.result->layers[0].size, 3);
        assert_string_equal(l.result->layers[0].title, "a\xc3\xa9\xf0\x9f\x98\x80");
        assert_null(l.result->layers[1].title);
        assert_null(l.result->layers[0].path);
        report_line_done(&l);

        refused("{\"result\":{\"manifest\":\"sha256:x\",\"layers\":[]}}", "bad manifest digest");
        refused("{\"result\":{\"manifest\":\"" DIGEST_A "\",\"layers\":[]}}", "no layers");
        refused("{\"result\":{\"manifest\":\"" DIGEST_A "\",\"layers\":[{\"digest\":\"" DIGEST_B
                "\",\"size\":3,\"media-type\":\"\",\"title\":null}]}}", "bad layer");
        refused("{\"result\":{\"manifest\":\"" DIGEST_A "\",\"layers\":[{\"digest\":\"" DIGEST_B
                "\",\"size\":3,\"media-type\":\"m\"}]}}", "bad layer");
}

static void test_error(void **state) {
        ReportLine l = {};
        const char *line = "{\"error\":{\"kind\":\"DigestMismatch\",\"message\":\"layer 1: \\\"x\\\"\"}}";

        assert_int_equal(report_line_parse(line, strlen(line), &l, NULL), 0);
        assert_int_equal(l.kind, REPORT_ERROR);
        assert_int_equal(l.error_kind, CC_ERROR_DIGEST_MISMATCH);
        assert_string_equal(l.error_message, "layer 1: \"x\"");
        report_line_done(&l);

        refused("{\"error\":{\"kind\":\"None\",\"message\":\"x\"}}", "unknown error kind");
        refused("{\"error\":{\"kind\":\"Bogus\",\"message\":\"x\"}}", "unknown error kind");
        refused("{\"error\":{\"kind\":\"RegistryError\"}}", "bad error");
}

/* The child's line when execv() failed. */
static void test_exec_failed(void **state) {
        ReportLine l = {};
        const char *line = "{\"exec-failed\":{\"errno\":13}}";

        assert_int_equal(report_line_parse(line, strlen(line), &l, NULL), 0);
        assert_int_equal(l.kind, REPORT_EXEC_FAILED);
        assert_int_equal(l.exec_errno, EACCES);
        report_line_done(&l);

        refused("{\"exec-failed\":{\"errno\":0}}", "bad exec failure");
        refused("{\"exec-failed\":{\"errno\":4096}}", "bad exec failure");
        refused("{\"exec-failed\":{\"errno\":\"13\"}}", "bad exec failure");
        refused("{\"exec-failed\":{\"errno\":2,\"x\":1}}", "bad exec failure");
}

/* What json-glib would have recursed on until the stack ran out. */
static void test_depth(void **state) {
        size_t n = 1 << 20;
        char *deep = malloc(n);

        assert_non_null(deep);
        memset(deep, '[', n);
        assert_line_refused(deep, n, "nested too deeply");
        memset(deep, '{', n);
        assert_line_refused(deep, n, "object member without a name");
        free(deep);
        refused("{\"progress\":{\"done\":[[[[[[1]]]]]],\"total\":2}}", "nested too deeply");
        refused("{\"progress\":{\"done\":[[[[1]]]],\"total\":2}}", "bad progress");
}

static void test_strings(void **state) {
        refused("{\"error\":{\"kind\":\"RegistryError\",\"message\":\"\xc3\"}}", "string is not UTF-8");
        refused("{\"error\":{\"kind\":\"RegistryError\",\"message\":\"\xed\xa0\x80\"}}", "string is not UTF-8");
        refused("{\"error\":{\"kind\":\"RegistryError\",\"message\":\"\\u0000\"}}", "NUL in a string");
        refused("{\"error\":{\"kind\":\"RegistryError\",\"message\":\"\\ud800\"}}", "lone surrogate in a string");
        refused("{\"error\":{\"kind\":\"RegistryError\",\"message\":\"\\udc00x\"}}", "lone surrogate in a string");
        refused("{\"error\":{\"kind\":\"RegistryError\",\"message\":\"\\x41\"}}", "bad escape in a string");
        refused("{\"error\":{\"kind\":\"RegistryError\",\"message\":\"a\tb\"}}", "control character in a string");
        refused("{\"error\":{\"kind\":\"RegistryError\",\"message\":\"abc", "unterminated string");
        assert_line_refused("{\"error\":{\"kind\":\"RegistryError\",\"message\":\"a\0b\"}}", 50,
                            "control character in a string");
        refused("{\"progress\":{\"done\":1,\"total\":2}} x", "more after the value");
        refused("", "value missing");
        refused("[]", "not an object of one object");
        refused("{\"a\":{},\"b\":{}}", "not an object of one object");
        refused("{\"other\":{}}", "unknown line");
}

typedef struct Lines {
        size_t n;
        size_t lengths[8];
        int fail_at;
} Lines;

static int on_line(void *userdata, const char *line, size_t len) {
        Lines *l = userdata;

        if ((int) l->n == l->fail_at)
                return -ECANCELED;
        if (l->n < 8)
                l->lengths[l->n] = len;
        l->n++;
        return 0;
}

static void test_reader(void **state) {
        ReportReader r = {};
        Lines lines = { .fail_at = -1 };
        const char *problem = NULL;
        char *big;

        /* Lines across feeds. */
        assert_int_equal(report_reader_feed(&r, "ab", 2, on_line, &lines, &problem), 0);
        assert_true(report_reader_pending(&r));
        assert_int_equal(report_reader_feed(&r, "c\n\nde", 5, on_line, &lines, &problem), 0);
        assert_int_equal(lines.n, 2);
        assert_int_equal(lines.lengths[0], 3);
        assert_int_equal(lines.lengths[1], 0);
        assert_int_equal(report_reader_feed(&r, "\n", 1, on_line, &lines, &problem), 0);
        assert_int_equal(lines.lengths[2], 2);
        assert_false(report_reader_pending(&r));

        /* The callback's error stops it. */
        lines = (Lines) { .fail_at = 1 };
        assert_int_equal(report_reader_feed(&r, "a\nb\nc\n", 6, on_line, &lines, &problem), -ECANCELED);
        assert_int_equal(lines.n, 1);
        report_reader_done(&r);

        /* More lines at once than a helper writes: refused. */
        big = malloc(REPORT_READ_MAX);
        assert_non_null(big);
        memset(big, '\n', REPORT_READ_MAX);
        lines = (Lines) { .fail_at = -1 };
        assert_int_equal(report_reader_feed(&r, big, REPORT_READ_MAX, on_line, &lines, &problem), -EBADMSG);
        assert_string_equal(problem, "too many lines at once");
        assert_int_equal(lines.n, REPORT_LINES_PER_WAKEUP);
        report_reader_done(&r);

        /* A line longer than the limit: refused once it passes it. */
        memset(big, 'x', REPORT_READ_MAX);
        problem = NULL;
        for (size_t fed = 0; fed <= REPORT_LINE_MAX; fed += REPORT_READ_MAX) {
                int k = report_reader_feed(&r, big, REPORT_READ_MAX, on_line, &lines, &problem);

                if (fed + REPORT_READ_MAX <= REPORT_LINE_MAX)
                        assert_int_equal(k, 0);
                else
                        assert_int_equal(k, -EBADMSG);
        }
        assert_string_equal(problem, "line too long");
        report_reader_done(&r);
        free(big);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_progress),
                cmocka_unit_test(test_result),
                cmocka_unit_test(test_error),
                cmocka_unit_test(test_exec_failed),
                cmocka_unit_test(test_depth),
                cmocka_unit_test(test_strings),
                cmocka_unit_test(test_reader),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
