/* SPDX-License-Identifier: MIT */

/* The worker thread: its fd turns readable only when the function has
 * returned (the function here waits on a pipe the test controls), and
 * work_thread_finish() hands back the result and the error. */

#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "work-thread.h"

typedef struct Gate {
        int fds[2];
        int seen;       /* the byte read, -1 before */
} Gate;

/* Waits for one byte; fails with the byte as errno when it is not 'y'. */
static int wait_gate(void *userdata, CcError *err) {
        Gate *g = userdata;
        char c;

        if (read(g->fds[0], &c, 1) != 1)
                return cc_error_set(err, CC_ERROR_INTERNAL, errno ?: EIO, "Cannot read the gate: %m");
        g->seen = c;
        if (c != 'y')
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, c, "Gate opened with '%c'", c);
        return 7;
}

static bool readable(int fd, int timeout_ms) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

static void gate_init(Gate *g) {
        assert_int_equal(pipe(g->fds), 0);
        g->seen = -1;
}

static void gate_done(Gate *g) {
        close(g->fds[0]);
        close(g->fds[1]);
}

static void test_result_after_the_function(void **state) {
        Gate g;
        WorkThread *w = NULL;
        CcError e = CC_ERROR_INIT;

        gate_init(&g);
        assert_int_equal(work_thread_start(wait_gate, &g, &w), 0);
        /* The function is blocked on the gate: nothing to collect yet. */
        assert_false(readable(work_thread_get_fd(w), 0));
        assert_int_equal(g.seen, -1);

        assert_int_equal(write(g.fds[1], "y", 1), 1);
        assert_true(readable(work_thread_get_fd(w), 60 * 1000));
        assert_int_equal(work_thread_finish(w, &e), 7);
        assert_int_equal(g.seen, 'y');
        assert_int_equal(e.kind, CC_ERROR_NONE);
        /* Finishing twice gives the same result. */
        assert_int_equal(work_thread_finish(w, NULL), 7);
        work_thread_free(w);
        gate_done(&g);
}

static void test_error_handed_back(void **state) {
        Gate g;
        WorkThread *w = NULL;
        CcError e = CC_ERROR_INIT;

        gate_init(&g);
        assert_int_equal(work_thread_start(wait_gate, &g, &w), 0);
        assert_int_equal(write(g.fds[1], "n", 1), 1);
        assert_true(readable(work_thread_get_fd(w), 60 * 1000));
        assert_int_equal(work_thread_finish(w, &e), -'n');
        assert_int_equal(e.kind, CC_ERROR_INVALID_ARGUMENT);
        assert_string_equal(e.message, "Gate opened with 'n'");
        work_thread_free(w);
        gate_done(&g);
}

static void test_free_joins(void **state) {
        Gate g;
        WorkThread *w = NULL;

        gate_init(&g);
        assert_int_equal(work_thread_start(wait_gate, &g, &w), 0);
        assert_int_equal(write(g.fds[1], "y", 1), 1);
        /* Without finish: free waits for the function, which has run. */
        work_thread_free(w);
        assert_int_equal(g.seen, 'y');
        gate_done(&g);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_result_after_the_function),
                cmocka_unit_test(test_error_handed_back),
                cmocka_unit_test(test_free_joins),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
