/* SPDX-License-Identifier: MIT */

/* The growable text buffer: appends of every kind across the growth steps,
 * the NUL after each, and what strbuf_steal() hands over. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "strbuf.h"

static void test_appends_grow(void **state) {
        _cleanup_(strbuf_done) StrBuf b = {};
        char expected[5000];
        size_t n = 0;

        /* Past the first allocation and several doublings, one kind of
         * append after another. */
        for (unsigned i = 0; n < 4000; i++) {
                switch (i % 3) {
                case 0:
                        assert_int_equal(strbuf_putc(&b, 'x'), 0);
                        expected[n++] = 'x';
                        break;
                case 1:
                        assert_int_equal(strbuf_puts(&b, "abc"), 0);
                        memcpy(expected + n, "abc", 3);
                        n += 3;
                        break;
                default:
                        assert_int_equal(strbuf_printf(&b, "[%u]", i), 0);
                        n += (size_t) sprintf(expected + n, "[%u]", i);
                }
                assert_int_equal(b.len, n);
                assert_true(b.allocated > b.len);
                assert_int_equal(b.data[b.len], '\0');
        }
        expected[n] = '\0';
        assert_string_equal(b.data, expected);
        assert_false(b.oom);
}

static void test_printf_longer_than_room(void **state) {
        _cleanup_(strbuf_done) StrBuf b = {};
        char big[300];

        memset(big, 'q', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(strbuf_puts(&b, "head:"), 0);
        assert_int_equal(strbuf_printf(&b, "%s|%d", big, -7), 0);
        assert_int_equal(b.len, 5 + 299 + 3);
        assert_memory_equal(b.data + 5, big, 299);
        assert_string_equal(b.data + 5 + 299, "|-7");
}

static void test_steal(void **state) {
        StrBuf b = {};
        char *s;

        /* Nothing appended: "", not NULL. */
        s = strbuf_steal(&b);
        assert_non_null(s);
        assert_string_equal(s, "");
        free(s);

        assert_int_equal(strbuf_put(&b, "a\0b", 3), 0);
        s = strbuf_steal(&b);
        assert_memory_equal(s, "a\0b", 4);
        assert_null(b.data);
        assert_int_equal(b.len, 0);
        free(s);
}

static void test_oom_sticks(void **state) {
        _cleanup_(strbuf_done) StrBuf b = {};

        assert_int_equal(strbuf_puts(&b, "x"), 0);
        /* More than can ever be had: refused, and every append after it. */
        assert_int_equal(strbuf_reserve(&b, SIZE_MAX - 8), -ENOMEM);
        assert_true(b.oom);
        assert_int_equal(strbuf_putc(&b, 'y'), -ENOMEM);
        assert_null(strbuf_steal(&b));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_appends_grow),
                cmocka_unit_test(test_printf_longer_than_room),
                cmocka_unit_test(test_steal),
                cmocka_unit_test(test_oom_sticks),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
