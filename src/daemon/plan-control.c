/* SPDX-License-Identifier: MIT */

/* PlanSetMode and PlanBindVfio: read-only previews of SetMode and BindVfio.
 * The request is checked and authorized as the operation would be (the
 * plan names other users' processes), the targets are chosen on the event
 * loop as the operation chooses them, and the devices are read (BAR0
 * status, drivers, a walk over /proc for holders) on a worker thread.
 * Nothing is written anywhere, so plans run beside any operation and need
 * not wait for one. */

#include <stdarg.h>
#include <sys/epoll.h>

#include "bus-args.h"
#include "bus-errors.h"
#include "daemon.h"
#include "log.h"
#include "preview.h"
#include "strv.h"
#include "work-thread.h"

/* Enough for any admin; a bound on the threads a caller can start. */
#define PLAN_JOBS_MAX 8

typedef struct PlanJob {
        Daemon *daemon;
        sd_bus_message *request;
        WorkThread *thread;
        sd_event_source *source;

        /* SetMode: the targets; BindVfio: the plan. */
        TargetMode mode;
        CcSwitchTarget *targets;
        size_t n_targets;
        VfioPlan *vfio_plan;

        CcPreview *preview;
        struct PlanJob *next;
} PlanJob;

static PlanJob *plan_job_free(PlanJob *j) {
        if (!j)
                return NULL;
        sd_event_source_unref(j->source);
        work_thread_free(j->thread); /* joins: a preview is a few reads */
        sd_bus_message_unref(j->request);
        cc_switch_targets_free(j->targets, j->n_targets);
        cc_vfio_plan_free(j->vfio_plan);
        cc_preview_free(j->preview);
        free(j);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(PlanJob *, plan_job_free);

void plan_control_done(Daemon *d) {
        while (d->plan_jobs) {
                PlanJob *j = d->plan_jobs;

                d->plan_jobs = j->next;
                plan_job_free(j);
        }
        d->n_plan_jobs = 0;
}

static void plan_job_unlink(Daemon *d, PlanJob *job) {
        for (PlanJob **j = &d->plan_jobs; *j; j = &(*j)->next)
                if (*j == job) {
                        *j = job->next;
                        d->n_plan_jobs--;
                        return;
                }
}

static int plan_work(void *userdata, CcError *err) {
        PlanJob *j = userdata;

        if (j->vfio_plan)
                return cc_preview_bind_vfio(j->daemon->host, j->vfio_plan, &j->preview, err);
        return cc_preview_set_mode(j->daemon->host, j->mode, j->targets, j->n_targets, &j->preview, err);
}

static int append_entry(sd_bus_message *m, const char *key, const char *type, ...) {
        va_list ap;
        int r;

        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", key);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', type);
        if (r >= 0) {
                va_start(ap, type);
                r = sd_bus_message_appendv(m, type, ap);
                va_end(ap);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

static int append_holders(sd_bus_message *m, const HwHolders *h) {
        int r;

        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "Holders");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "a(us)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(us)");
        for (size_t i = 0; r >= 0 && i < h->n; i++)
                r = sd_bus_message_append(m, "(us)", (uint32_t) h->holders[i].pid, h->holders[i].comm);
        for (unsigned k = 0; r >= 0 && k < 3; k++)
                r = sd_bus_message_close_container(m);
        return r;
}

static int append_members(sd_bus_message *m, char **members) {
        int r;

        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "Members");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "as");
        if (r >= 0)
                r = sd_bus_message_append_strv(m, members);
        for (unsigned k = 0; r >= 0 && k < 2; k++)
                r = sd_bus_message_close_container(m);
        return r;
}

static int append_step(sd_bus_message *m, const PreviewStep *s) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0)
                r = append_entry(m, "Device", "s", s->bdf);
        if (r >= 0)
                r = append_entry(m, "Action", "s", preview_action_to_string(s->action));
        if (r >= 0)
                r = append_entry(m, "Driver", "s", strempty(s->driver));
        if (r >= 0)
                r = append_holders(m, &s->holders);
        if (r >= 0)
                r = append_entry(m, "Reason", "s", strempty(s->reason));
        if (r >= 0 && s->vfio) {
                r = append_entry(m, "Group", "i", (int32_t) s->group);
                if (r >= 0)
                        r = append_members(m, s->members);
                if (r >= 0)
                        r = append_entry(m, "VfioDriver", "s", strempty(s->vfio_driver));
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

static int reply_preview(sd_bus_message *request, const CcPreview *p) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(request, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < p->n_steps; i++)
                r = append_step(reply, &p->steps[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int on_plan_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        _cleanup_(plan_job_freep) PlanJob *j = userdata;
        CcError e = CC_ERROR_INIT;
        int r;

        plan_job_unlink(j->daemon, j);
        r = work_thread_finish(j->thread, &e);
        if (r >= 0)
                r = reply_preview(j->request, j->preview);
        else {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

                bus_error_from_cc(&error, &e);
                r = sd_bus_reply_method_error(j->request, &error);
        }
        if (r < 0)
                log_warning_errno(r, "Cannot send the reply to a plan: %m");
        return 0;
}

/* Takes the job; replies later. */
static int plan_start(Daemon *d, PlanJob *job, sd_bus_error *error) {
        _cleanup_(plan_job_freep) PlanJob *j = job;
        int r;

        r = work_thread_start(plan_work, j, &j->thread);
        if (r >= 0)
                r = sd_event_add_io(d->event, &j->source, work_thread_get_fd(j->thread), EPOLLIN, on_plan_done, j);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot start the plan: %m");
        j->next = d->plan_jobs;
        d->plan_jobs = TAKE_PTR(j);
        d->n_plan_jobs++;
        return 1;
}

static int check_room(Daemon *d, sd_bus_error *error) {
        if (d->n_plan_jobs >= PLAN_JOBS_MAX)
                return sd_bus_error_setf(error, CC_ERROR_PREFIX "Busy",
                                         "%u plans are being computed; try again when one is done", d->n_plan_jobs);
        return 0;
}

static PlanJob *plan_job_new(Daemon *d, sd_bus_message *m) {
        PlanJob *j = calloc(1, sizeof(PlanJob));

        if (!j)
                return NULL;
        j->daemon = d;
        j->request = sd_bus_message_ref(m);
        return j;
}

int plan_control_method_set_mode(Daemon *d, sd_bus_message *m, sd_bus_error *error) {
        _cleanup_(plan_job_freep) PlanJob *j = NULL;
        CcError e = CC_ERROR_INIT;
        TargetMode mode;
        int r;

        /* As SetMode: polkit first, then the capped read. */
        r = authorizer_check(d->authorizer, m, error);
        if (r <= 0)
                return r < 0 ? r : 1; /* 1: called again once polkit answers */
        r = mode_control_read_mode(m, &mode, error);
        if (r < 0)
                return r;
        r = check_room(d, error);
        if (r < 0)
                return r;

        j = plan_job_new(d, m);
        if (!j)
                return -ENOMEM;
        j->mode = mode;
        r = cc_switch_select(d->inventory, mode, NULL, &j->targets, &j->n_targets, &e);
        if (r < 0)
                return bus_error_from_cc(error, &e);
        return plan_start(d, TAKE_PTR(j), error);
}

int plan_control_method_bind_vfio(Daemon *d, sd_bus_message *m, sd_bus_error *error) {
        _cleanup_(plan_job_freep) PlanJob *j = NULL;
        _cleanup_(strv_freep) char **bdfs = NULL;
        CcError e = CC_ERROR_INIT;
        int r;

        /* As BindVfio: polkit first, then the capped read. */
        r = authorizer_check(d->authorizer, m, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = bus_read_strv(m, BUS_ARRAY_MAX, "device addresses", &bdfs, error);
        if (r < 0)
                return r;
        r = check_room(d, error);
        if (r < 0)
                return r;

        j = plan_job_new(d, m);
        if (!j)
                return -ENOMEM;
        /* The record matters only to an unbind. */
        r = cc_vfio_plan_new(d->host, &d->config, d->inventory, VFIO_ACTION_BIND, bdfs, NULL, &j->vfio_plan, &e);
        if (r < 0)
                return bus_error_from_cc(error, &e);
        return plan_start(d, TAKE_PTR(j), error);
}
