/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdbool.h>

#include "log.h"
#include "macro.h"
#include "unit-restart.h"

#define SYSTEMD_NAME "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"
/* Jobs that end before the reply naming ours arrives. */
#define EARLY_MAX 8

struct UnitRestart {
        sd_event *event;
        sd_bus *bus;
        char *unit;
        char *systemd;      /* the unique name that owns org.freedesktop.systemd1 */
        sd_bus_slot *match;
        sd_bus_slot *call;
        sd_event_source *timer;
        char *job;
        struct {
                char *job;
                char *result;
        } early[EARLY_MAX];
        size_t n_early;
        UnitRestartDone done;
        void *userdata;
        bool finished;
};

UnitRestart *unit_restart_free(UnitRestart *u) {
        if (!u)
                return NULL;
        sd_bus_slot_unref(u->match);
        sd_bus_slot_unref(u->call);
        sd_event_source_disable_unref(u->timer);
        for (size_t i = 0; i < u->n_early; i++) {
                free(u->early[i].job);
                free(u->early[i].result);
        }
        sd_event_unref(u->event);
        sd_bus_unref(u->bus);
        free(u->systemd);
        free(u->unit);
        free(u->job);
        free(u);
        return NULL;
}

static void finish(UnitRestart *u, const char *result, const CcError *error) {
        CcError e = CC_ERROR_INIT;
        int r = 0;

        if (u->finished)
                return;
        u->finished = true;
        u->match = sd_bus_slot_unref(u->match);
        u->call = sd_bus_slot_unref(u->call);
        u->timer = sd_event_source_disable_unref(u->timer);

        if (error) {
                e = *error;
                r = -(e.errno_value ? e.errno_value : EIO);
        } else if (!streq(result, "done"))
                r = cc_error_set(&e, CC_ERROR_HOST_NOT_READY, EIO, "The restart of %s ended with result \"%s\"",
                                 u->unit, result);
        else
                log_info("Restarted %s", u->unit);
        u->done(u->userdata, r, &e);
}

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        UnitRestart *u = userdata;
        const char *job, *unit, *result;
        uint32_t id;

        /* Anyone may send us a signal; sd-bus cannot tell a well-known
         * sender, so the match names the unique one, and so does this. */
        if (!streq_ptr(sd_bus_message_get_sender(m), u->systemd))
                return 0;
        if (sd_bus_message_read(m, "uoss", &id, &job, &unit, &result) < 0)
                return 0;
        if (u->job) {
                if (streq(job, u->job))
                        finish(u, result, NULL);
                return 0;
        }
        if (u->n_early < EARLY_MAX && streq(unit, u->unit)) {
                u->early[u->n_early].job = strdup(job);
                u->early[u->n_early].result = strdup(result);
                if (u->early[u->n_early].job && u->early[u->n_early].result)
                        u->n_early++;
        }
        return 0;
}

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        UnitRestart *u = userdata;
        const sd_bus_error *be = sd_bus_message_get_error(reply);
        CcError e = CC_ERROR_INIT;
        const char *job;

        u->call = sd_bus_slot_unref(u->call);
        if (be) {
                if (sd_bus_error_has_name(be, "org.freedesktop.systemd1.NoSuchUnit") ||
                    sd_bus_error_has_name(be, "org.freedesktop.systemd1.LoadFailed"))
                        cc_error_set(&e, CC_ERROR_HOST_NOT_READY, ENOENT, "%s is not installed: %s", u->unit,
                                     strempty(be->message));
                else
                        cc_error_set(&e, CC_ERROR_HOST_NOT_READY, EIO, "Cannot restart %s: %s", u->unit,
                                     be->message ? be->message : be->name);
                finish(u, NULL, &e);
                return 0;
        }
        if (sd_bus_message_read(reply, "o", &job) < 0) {
                cc_error_set(&e, CC_ERROR_HOST_NOT_READY, EIO, "systemd's answer to the restart of %s is unreadable",
                             u->unit);
                finish(u, NULL, &e);
                return 0;
        }
        u->job = strdup(job);
        if (!u->job) {
                cc_error_set(&e, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
                finish(u, NULL, &e);
                return 0;
        }
        for (size_t i = 0; i < u->n_early; i++)
                if (streq(u->early[i].job, job)) {
                        finish(u, u->early[i].result, NULL);
                        break;
                }
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        UnitRestart *u = userdata;
        CcError e = CC_ERROR_INIT;

        cc_error_set(&e, CC_ERROR_TIMEOUT, ETIMEDOUT, "The restart of %s did not finish in time", u->unit);
        finish(u, NULL, &e);
        return 0;
}

/* systemd's unique name is known: listen to it alone, then ask it. */
static int on_owner(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        UnitRestart *u = userdata;
        const char *owner;
        CcError e = CC_ERROR_INIT;
        int r;

        u->call = sd_bus_slot_unref(u->call);
        if (sd_bus_message_is_method_error(reply, NULL) || sd_bus_message_read(reply, "s", &owner) < 0) {
                cc_error_set(&e, CC_ERROR_HOST_NOT_READY, ENOENT, "systemd is not on the bus: cannot restart %s",
                             u->unit);
                finish(u, NULL, &e);
                return 0;
        }
        u->systemd = strdup(owner);
        if (!u->systemd) {
                cc_error_set(&e, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
                finish(u, NULL, &e);
                return 0;
        }
        /* The match goes out before the call, so the bus applies it first. */
        r = sd_bus_match_signal_async(u->bus, &u->match, u->systemd, SYSTEMD_PATH, SYSTEMD_MANAGER, "JobRemoved",
                                      on_job_removed, NULL, u);
        if (r >= 0)
                r = sd_bus_call_method_async(u->bus, &u->call, u->systemd, SYSTEMD_PATH, SYSTEMD_MANAGER,
                                             "TryRestartUnit", on_reply, u, "ss", u->unit, "replace");
        if (r < 0) {
                cc_error_set(&e, CC_ERROR_HOST_NOT_READY, -r, "Cannot ask systemd to restart %s: %s", u->unit,
                             strerror(-r));
                finish(u, NULL, &e);
        }
        return 0;
}

int unit_restart_start(sd_bus *bus, sd_event *event, const char *unit, uint64_t timeout_usec,
                       UnitRestartDone done, void *userdata, UnitRestart **ret) {
        UnitRestart *u;
        int r;

        assert(bus);
        assert(event);
        assert(unit);
        assert(done);
        assert(ret);

        u = calloc(1, sizeof(*u));
        if (!u)
                return -ENOMEM;
        u->event = sd_event_ref(event);
        u->bus = sd_bus_ref(bus);
        u->done = done;
        u->userdata = userdata;
        u->unit = strdup(unit);
        if (!u->unit) {
                unit_restart_free(u);
                return -ENOMEM;
        }

        r = sd_bus_call_method_async(bus, &u->call, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                     "org.freedesktop.DBus", "GetNameOwner", on_owner, u, "s", SYSTEMD_NAME);
        if (r >= 0)
                r = sd_event_add_time_relative(event, &u->timer, CLOCK_MONOTONIC, timeout_usec, 0, on_timeout, u);
        if (r < 0) {
                unit_restart_free(u);
                return r;
        }
        *ret = u;
        return 0;
}
