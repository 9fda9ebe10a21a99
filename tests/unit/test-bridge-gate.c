/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>
#include <glib.h>

#include "ccd-gate.h"
#include "ccd-vfio.h"
#include "macro.h"

/* Who was granted, in order: one letter each. */
typedef struct Recorder {
        GString *granted;
        CcdGateTurn *turns[3];
} Recorder;

typedef struct Role {
        Recorder *rec;
        char name;
} Role;

static void granted(CcdGateTurn *turn, void *userdata) {
        Role *role = userdata;

        g_string_append_c(role->rec->granted, role->name);
}

/* Runs what the loop has ready, without waiting. */
static void run_ready(sd_event *e) {
        while (sd_event_run(e, 0) > 0)
                ;
}

static void test_first_come_first_served(void **state) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        Recorder rec = { g_string_new(NULL), {} };
        Role roles[3] = { { &rec, 'a' }, { &rec, 'b' }, { &rec, 'c' } };
        CcdGate *g = NULL;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(ccd_gate_new(e, &g), 0);
        for (size_t i = 0; i < 3; i++)
                assert_int_equal(ccd_gate_acquire(g, "Call", granted, &roles[i], &rec.turns[i]), 0);
        /* Granted from the loop, never from acquire's caller. */
        assert_string_equal(rec.granted->str, "");
        run_ready(e);
        assert_string_equal(rec.granted->str, "a");
        /* c leaves the queue while it waits; a's turn ends: b's comes. */
        rec.turns[2] = ccd_gate_release(rec.turns[2]);
        rec.turns[0] = ccd_gate_release(rec.turns[0]);
        assert_string_equal(rec.granted->str, "a");
        run_ready(e);
        assert_string_equal(rec.granted->str, "ab");
        rec.turns[1] = ccd_gate_release(rec.turns[1]);
        run_ready(e);
        assert_string_equal(rec.granted->str, "ab");
        /* Free again: the next one is granted at once. */
        assert_int_equal(ccd_gate_acquire(g, "Call", granted, &roles[2], &rec.turns[2]), 0);
        run_ready(e);
        assert_string_equal(rec.granted->str, "abc");
        rec.turns[2] = ccd_gate_release(rec.turns[2]);
        ccd_gate_free(g);
        g_string_free(rec.granted, true);
}

static void test_again_keeps_the_turn(void **state) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        Recorder rec = { g_string_new(NULL), {} };
        Role roles[2] = { { &rec, 'a' }, { &rec, 'b' } };
        CcdGate *g = NULL;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(ccd_gate_new(e, &g), 0);
        assert_int_equal(ccd_gate_acquire(g, "Call", granted, &roles[0], &rec.turns[0]), 0);
        assert_int_equal(ccd_gate_acquire(g, "Call", granted, &roles[1], &rec.turns[1]), 0);
        run_ready(e);
        assert_string_equal(rec.granted->str, "a");
        /* Another client's call runs: a is granted again, b still waits. */
        ccd_gate_again(rec.turns[0]);
        while (rec.granted->len < 2)
                assert_true(sd_event_run(e, UINT64_MAX) >= 0);
        assert_string_equal(rec.granted->str, "aa");
        rec.turns[0] = ccd_gate_release(rec.turns[0]);
        run_ready(e);
        assert_string_equal(rec.granted->str, "aab");
        rec.turns[1] = ccd_gate_release(rec.turns[1]);
        ccd_gate_free(g);
        g_string_free(rec.granted, true);
}

/* nvidia-ccd's two Busy answers: the same name, told apart by the holders. */
static void test_busy_kinds(void **state) {
        const sd_bus_error held = SD_BUS_ERROR_MAKE_CONST(CCD_ERROR_BUSY,
                "0000:3a:00.0 is in use by nvidia-persistenced (pid 1234) and python3 (pid 5678)");
        const sd_bus_error other = SD_BUS_ERROR_MAKE_CONST(CCD_ERROR_BUSY,
                "A Kata artifact installation or removal is in progress; try again when it is done");
        const sd_bus_error denied = SD_BUS_ERROR_MAKE_CONST(SD_BUS_ERROR_ACCESS_DENIED, "is in use by");

        assert_true(ccd_error_is_held(&held));
        assert_false(ccd_error_is_other_operation(&held));
        assert_false(ccd_error_is_held(&other));
        assert_true(ccd_error_is_other_operation(&other));
        assert_false(ccd_error_is_held(&denied));
        assert_false(ccd_error_is_other_operation(&denied));
        assert_false(ccd_error_is_other_operation(NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_first_come_first_served),
                cmocka_unit_test(test_again_keeps_the_turn),
                cmocka_unit_test(test_busy_kinds),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
