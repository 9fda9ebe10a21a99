/* SPDX-License-Identifier: MIT */

#include <assert.h>
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "ccd-gate.h"
#include "ccd-vfio.h"
#include "log.h"
#include "macro.h"
#include "time-util.h"

struct CcdGateTurn {
        CcdGate *gate;
        char *what;
        CcdGateGranted granted;
        void *userdata;
};

struct CcdGate {
        sd_event *event;
        GQueue waiting;           /* CcdGateTurn, first come first */
        CcdGateTurn *holder;
        sd_event_source *grant;   /* defer: grants the head of the queue */
        sd_event_source *again;   /* time: grants the holder again */
};

static void turn_free(CcdGateTurn *t) {
        g_free(t->what);
        g_free(t);
}

/* Runs from the loop, never from the caller's stack: a role that gives a
 * turn back in a reply handler is not reentered by another role's call. */
static int grant_cb(sd_event_source *s, void *userdata) {
        CcdGate *g = userdata;

        if (g->holder || g_queue_is_empty(&g->waiting))
                return 0;
        g->holder = g_queue_pop_head(&g->waiting);
        log_debug("nvidia-ccd: %s has its turn", g->holder->what);
        g->holder->granted(g->holder, g->holder->userdata);
        return 0;
}

static int again_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        CcdGate *g = userdata;

        if (g->holder)
                g->holder->granted(g->holder, g->holder->userdata);
        return 0;
}

static void schedule_grant(CcdGate *g) {
        if (!g->holder && !g_queue_is_empty(&g->waiting) &&
            sd_event_source_set_enabled(g->grant, SD_EVENT_ONESHOT) < 0)
                log_error("cannot schedule the next call to nvidia-ccd");
}

int ccd_gate_new(sd_event *event, CcdGate **ret) {
        CcdGate *g;
        int r;

        assert(event);
        assert(ret);

        g = g_new0(CcdGate, 1);
        g->event = sd_event_ref(event);
        g_queue_init(&g->waiting);
        r = sd_event_add_defer(event, &g->grant, grant_cb, g);
        if (r >= 0)
                r = sd_event_source_set_enabled(g->grant, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_time(event, &g->again, CLOCK_MONOTONIC, UINT64_MAX, 0, again_cb, g);
        if (r >= 0)
                r = sd_event_source_set_enabled(g->again, SD_EVENT_OFF);
        if (r < 0) {
                ccd_gate_free(g);
                return r;
        }
        *ret = g;
        return 0;
}

CcdGate *ccd_gate_free(CcdGate *g) {
        if (!g)
                return NULL;
        /* Every role gives its turn back before the gate goes. */
        assert(!g->holder);
        g_queue_clear_full(&g->waiting, (GDestroyNotify) turn_free);
        sd_event_source_disable_unref(g->grant);
        sd_event_source_disable_unref(g->again);
        sd_event_unref(g->event);
        g_free(g);
        return NULL;
}

int ccd_gate_acquire(CcdGate *g, const char *what, CcdGateGranted granted, void *userdata, CcdGateTurn **ret) {
        CcdGateTurn *t;

        assert(g);
        assert(what);
        assert(granted);
        assert(ret);

        t = g_new(CcdGateTurn, 1);
        *t = (CcdGateTurn) { g, g_strdup(what), granted, userdata };
        g_queue_push_tail(&g->waiting, t);
        if (g->holder)
                log_info("%s waits for the bridge's %s to end", what, g->holder->what);
        schedule_grant(g);
        *ret = t;
        return 0;
}

CcdGateTurn *ccd_gate_release(CcdGateTurn *t) {
        CcdGate *g;

        if (!t)
                return NULL;
        g = t->gate;
        if (g->holder == t) {
                g->holder = NULL;
                (void) sd_event_source_set_enabled(g->again, SD_EVENT_OFF);
        } else
                g_queue_remove(&g->waiting, t);
        turn_free(t);
        schedule_grant(g);
        return NULL;
}

void ccd_gate_again(CcdGateTurn *t) {
        CcdGate *g;
        uint64_t now;

        assert(t);
        g = t->gate;
        assert(g->holder == t);

        log_info("nvidia-ccd is busy with another client's operation; %s is sent again in %.1f s", t->what,
                 (double) CCD_GATE_BUSY_RETRY_USEC / USEC_PER_SEC);
        (void) sd_event_now(g->event, CLOCK_MONOTONIC, &now);
        if (sd_event_source_set_time(g->again, now + CCD_GATE_BUSY_RETRY_USEC) < 0 ||
            sd_event_source_set_enabled(g->again, SD_EVENT_ONESHOT) < 0)
                log_error("cannot arm the timer of %s", t->what);
}

bool ccd_error_is_busy(const sd_bus_error *error) {
        return error && sd_bus_error_has_name(error, CCD_ERROR_BUSY);
}

/* The daemon words a held device "<bdf> is in use by <comm> (pid N)"
 * (in-use.c), and another call "<what> is in progress" (operation.c):
 * the error name is the same, Busy. */
bool ccd_error_is_held(const sd_bus_error *error) {
        return ccd_error_is_busy(error) && error->message && strstr(error->message, " is in use by ");
}

bool ccd_error_is_other_operation(const sd_bus_error *error) {
        return ccd_error_is_busy(error) && !ccd_error_is_held(error);
}
