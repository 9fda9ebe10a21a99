/* SPDX-License-Identifier: MIT */

/* Kata artifacts on the bus: InstallKataArtifacts checks what the host
 * must offer (containerd's configuration, ArtifactsDir) on a worker thread
 * before anything is pulled, pulls in the registry helper (its pipe
 * watched by the loop), installs with kata/kata-install on a worker thread (linking and syncing GiBs, then deleting the previous
 * version), registers with containerd and, when asked, restarts containerd
 * through systemd before replying; RemoveKataArtifacts undoes an install,
 * also on a worker.  The job stays in d->kata_job (others get Busy) until
 * it replied; property reads are answered throughout.  One RuntimeClass
 * object per installed runtime class (bus-runtime-class.c). */

#include <assert.h>
#include <inttypes.h>
#include <sys/epoll.h>

#include "build-config.h"
#include "bus-args.h"
#include "bus-errors.h"
#include "daemon.h"
#include "kata-install.h"
#include "kata-names.h"
#include "kata-options.h"
#include "kata-record.h"
#include "log.h"
#include "message-ids.h"
#include "oci-reference.h"
#include "time-util.h"
#include "unit-restart.h"
#include "work-thread.h"

#define CONTAINERD_UNIT "containerd.service"
#define RESTART_TIMEOUT_USEC (5 * 60 * USEC_PER_SEC)
/* Progress is published at most this often, and at the end. */
#define PROGRESS_INTERVAL_USEC (200 * USEC_PER_MSEC)

typedef struct KataJob {
        Daemon *daemon;
        char *runtime_class;
        char *reference;
        int pull_secret_fd;   /* the daemon's copies, -1: none */
        int ca_fd;
        bool plain_http;
        bool register_containerd;
        bool restart_containerd;
        bool checked;         /* the host checks passed: the pull follows */
        CcError cancelled;    /* stopped while the checks ran */

        KataStaging *staging;
        OciPull *pull;
        sd_event_source *pull_source;
        sd_event_source *pull_deadline;   /* [Kata] PullTimeout= */
        sd_bus_track *caller;             /* a pull nobody waits for is stopped */
        uint64_t done_bytes;
        uint64_t total_bytes;
        uint64_t last_emit;

        /* The file work, on the worker thread, which alone touches these
         * fields until the loop collected it. */
        WorkThread *worker;
        sd_event_source *worker_source;
        KataInstallOptions install_options;
        OciPullResult *pulled;          /* NULL: the pull failed, with pull_error */
        CcError pull_error;
        const KataRecord *removing;     /* a removal: the record, in d->runtime_classes */

        UnitRestart *restart;
        KataRecord *record;   /* installed (by the worker), waiting for the restart */
} KataJob;

static KataJob *kata_job_free(KataJob *j) {
        if (!j)
                return NULL;
        /* The worker first: it may still use the rest. */
        sd_event_source_disable_unref(j->worker_source);
        work_thread_free(j->worker);
        oci_pull_result_free(j->pulled);
        sd_event_source_disable_unref(j->pull_source);
        sd_event_source_disable_unref(j->pull_deadline);
        sd_bus_track_unref(j->caller);
        oci_pull_free(j->pull);
        kata_staging_free(j->staging);
        unit_restart_free(j->restart);
        kata_record_free(j->record);
        free(j->runtime_class);
        free(j->reference);
        if (j->pull_secret_fd >= 0)
                close(j->pull_secret_fd);
        if (j->ca_fd >= 0)
                close(j->ca_fd);
        free(j);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(KataJob *, kata_job_free);

/* ------------------------------------------------------------- records */

static ssize_t record_index(const Daemon *d, const char *name) {
        for (size_t i = 0; i < d->n_runtime_classes; i++)
                if (streq(d->runtime_classes[i]->name, name))
                        return (ssize_t) i;
        return -1;
}

static int compare_records(const void *a, const void *b) {
        const KataRecord *const *x = a, *const *y = b;
        return strcmp((*x)->name, (*y)->name);
}

/* Takes the record; adds the object or announces its new properties. */
static void publish_record(Daemon *d, KataRecord *rec) {
        _cleanup_free_ char *path = bus_runtime_class_path(rec->name);
        ssize_t i = record_index(d, rec->name);

        if (i >= 0) {
                kata_record_free(d->runtime_classes[i]);
                d->runtime_classes[i] = rec;
                if (path)
                        (void) sd_bus_emit_properties_changed_strv(d->bus, path, CC_RUNTIME_CLASS_INTERFACE, NULL);
                return;
        }
        KataRecord **l = realloc(d->runtime_classes, (d->n_runtime_classes + 1) * sizeof(*l));
        if (!l) {
                log_error("Out of memory: runtime class %s not exported", rec->name);
                kata_record_free(rec);
                return;
        }
        d->runtime_classes = l;
        d->runtime_classes[d->n_runtime_classes++] = rec;
        qsort(d->runtime_classes, d->n_runtime_classes, sizeof(*l), compare_records);
        if (path)
                (void) sd_bus_emit_interfaces_added(d->bus, path, CC_RUNTIME_CLASS_INTERFACE, NULL);
}

static void unpublish_record(Daemon *d, size_t i) {
        _cleanup_free_ char *path = bus_runtime_class_path(d->runtime_classes[i]->name);

        kata_record_free(d->runtime_classes[i]);
        memmove(d->runtime_classes + i, d->runtime_classes + i + 1,
                (d->n_runtime_classes - i - 1) * sizeof(*d->runtime_classes));
        d->n_runtime_classes--;
        if (path)
                (void) sd_bus_emit_interfaces_removed(d->bus, path, CC_RUNTIME_CLASS_INTERFACE, NULL);
}

int kata_control_load(Daemon *d) {
        CcError e = CC_ERROR_INIT;
        int r;

        /* A crash mid-install leaves its staging directory; the install it
         * belonged to never happened. */
        r = kata_staging_clean_stale(d->config.artifacts_dir, &e);
        if (r < 0)
                log_warning("Cannot clean %s, and no install will be made there: %s", d->config.artifacts_dir,
                            e.message);
        r = kata_record_load_all(d->state_dir, &d->runtime_classes, &d->n_runtime_classes);
        if (r < 0)
                return r;
        if (d->n_runtime_classes > 0)
                log_info("%zu Kata runtime class%s installed", d->n_runtime_classes,
                         d->n_runtime_classes == 1 ? "" : "es");
        return 0;
}

void kata_control_done(Daemon *d) {
        /* An install still running is dropped with its staging directory:
         * the previous version was never touched. */
        d->kata_job = kata_job_free(d->kata_job);
        kata_record_array_free(d->runtime_classes, d->n_runtime_classes);
        d->runtime_classes = NULL;
        d->n_runtime_classes = 0;
}

/* ------------------------------------------------------------ progress */

int kata_control_append_progress(Daemon *d, sd_bus_message *reply) {
        KataJob *j = d->kata_job;

        if (!j || !j->pull)
                return sd_bus_message_append(reply, "(stt)", "", UINT64_C(0), UINT64_C(0));
        return sd_bus_message_append(reply, "(stt)", j->runtime_class, j->done_bytes, j->total_bytes);
}

static void emit_progress(Daemon *d) {
        (void) bus_manager_emit_changed(d, "ArtifactsProgress", NULL);
}

/* ------------------------------------------------------------- journal */

static void log_refused(const char *runtime_class, const char *reference, const CcError *e) {
        log_struct(LOG_ERR,
                   LOG_MESSAGE_ID(CC_MESSAGE_ARTIFACTS_REFUSED),
                   "CC_RUNTIME_CLASS=%s", runtime_class,
                   "CC_REFERENCE=%s", strempty(reference),
                   "CC_ERROR=%s", cc_error_kind_to_string(e->kind),
                   LOG_MESSAGE("Kata artifacts of %s for runtime class %s not installed: %s", strempty(reference),
                               runtime_class, e->message),
                   NULL);
}

static void log_installed(const KataRecord *r) {
        log_struct(LOG_INFO,
                   LOG_MESSAGE_ID(CC_MESSAGE_ARTIFACTS_INSTALLED),
                   "CC_RUNTIME_CLASS=%s", r->name,
                   "CC_REFERENCE=%s", r->reference,
                   "CC_DIGEST=%s", r->digest,
                   "CC_DIRECTORY=%s", r->directory,
                   LOG_MESSAGE("Kata artifacts of %s (%s) installed in %s for runtime class %s%s", r->reference,
                               r->digest, r->directory, r->name,
                               r->containerd_handler[0] ? ", registered with containerd" : ""),
                   NULL);
}

static void log_removed(const KataRecord *r) {
        log_struct(LOG_INFO,
                   LOG_MESSAGE_ID(CC_MESSAGE_ARTIFACTS_REMOVED),
                   "CC_RUNTIME_CLASS=%s", r->name,
                   "CC_DIGEST=%s", r->digest,
                   "CC_DIRECTORY=%s", r->directory,
                   LOG_MESSAGE("Kata artifacts of runtime class %s removed from %s", r->name, r->directory),
                   NULL);
}

/* --------------------------------------------------------------- finish */

/* Replies, publishes and ends the install.  rec: the install's record
 * (taken), NULL when nothing was installed.  The staging directory is gone
 * by now (the worker removed it): a caller that looks after the reply finds
 * nothing of the pull left. */
static void job_end(Daemon *d, KataRecord *rec, int r, const CcError *e) {
        _cleanup_(kata_job_freep) KataJob *j = TAKE_PTR(d->kata_job);
        _cleanup_free_ char *path = NULL;

        if (rec) {
                path = bus_runtime_class_path(rec->name);
                log_installed(rec);
                publish_record(d, rec);
        }
        if (r < 0 && !rec)
                log_refused(j->runtime_class, j->reference, e);
        else if (r < 0)
                log_error("Runtime class %s installed, but: %s", j->runtime_class, e->message);

        if (r >= 0 && !path) {
                CcError oom = CC_ERROR_INIT;

                r = cc_error_set(&oom, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
                operation_end(d, r, &oom, NULL);
        } else
                operation_end(d, r, e, "o", path);
}

/* Replies and ends a removal. */
static void remove_end(Daemon *d, int r, const CcError *e) {
        _cleanup_(kata_job_freep) KataJob *j = TAKE_PTR(d->kata_job);
        ssize_t i;

        if (r < 0)
                log_error("Cannot remove runtime class %s: %s", j->runtime_class, e->message);
        else {
                i = record_index(d, j->runtime_class);
                assert(i >= 0);
                log_removed(d->runtime_classes[i]);
                unpublish_record(d, (size_t) i);
        }
        operation_end(d, r, e, NULL);
}

static void on_restart_done(void *userdata, int r, const CcError *e) {
        Daemon *d = userdata;
        KataJob *j = d->kata_job;

        assert(j);
        job_end(d, TAKE_PTR(j->record), r, e);
}

/* The install is complete and registered: restart containerd. */
static int start_restart(Daemon *d, CcError *err) {
        KataJob *j = d->kata_job;
        int r;

        r = unit_restart_start(d->bus, d->event, CONTAINERD_UNIT, RESTART_TIMEOUT_USEC, on_restart_done, d,
                               &j->restart);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, -r, "Cannot ask systemd to restart %s: %s",
                                    CONTAINERD_UNIT, strerror(-r));
        return 0;
}

/* On the worker thread: the install, then the removal of the staging
 * directory, which holds the previous version by then, or what a refused
 * install or a failed pull left. */
static int install_work(void *userdata, CcError *err) {
        KataJob *j = userdata;
        int r;

        if (j->pulled)
                r = kata_install(j->staging, &j->install_options, j->pulled, &j->record, err);
        else {
                *err = j->pull_error;
                r = -(j->pull_error.errno_value ?: EIO);
        }
        j->staging = kata_staging_free(j->staging);
        return r;
}

/* On the worker thread. */
static int remove_work(void *userdata, CcError *err) {
        KataJob *j = userdata;
        Daemon *d = j->daemon;

        return kata_remove(d->config.artifacts_dir, d->state_dir, j->removing, err);
}

/* On the worker thread, before anything is pulled: what the host must
 * offer, then the staging directory the pull writes to. */
static int check_work(void *userdata, CcError *err) {
        KataJob *j = userdata;
        int r;

        r = kata_install_precheck(&j->install_options, err);
        if (r < 0)
                return r;
        return kata_staging_new(j->install_options.artifacts_dir, j->runtime_class, &j->staging, err);
}

static void pull_ended(Daemon *d, OciPullResult *pulled, const CcError *e);
static int on_pull_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);
static int on_pull_deadline(sd_event_source *s, uint64_t usec, void *userdata);

static int start_pull(Daemon *d, CcError *err) {
        KataJob *j = d->kata_job;
        OciPullOptions po = {
                .reference = j->reference,
                .output_dir = kata_staging_blob_dir(j->staging),
                .output_dir_fd = kata_staging_blob_fd(j->staging),
                .pull_secret_fd = j->pull_secret_fd,
                .ca_fd = j->ca_fd,
                .plain_http = j->plain_http,
                .max_total_bytes = d->config.max_artifact_bytes,
                /* Tests run the helper as a user of theirs. */
                .user = getenv("NVIDIA_CCD_FETCH_USER") ?: CC_FETCH_USER,
        };
        int r;

        r = oci_pull_start(&po, &j->pull, err);
        if (r < 0)
                return r;
        r = sd_event_add_io(d->event, &j->pull_source, oci_pull_get_fd(j->pull), EPOLLIN, on_pull_io, d);
        if (r >= 0 && d->config.pull_timeout_usec > 0)
                r = sd_event_add_time_relative(d->event, &j->pull_deadline, CLOCK_MONOTONIC,
                                               d->config.pull_timeout_usec, 0, on_pull_deadline, d);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, -r, "Cannot watch the registry helper: %s", strerror(-r));
        log_info("Pulling %s for runtime class %s", j->reference, j->runtime_class);
        /* Whoever can push to a tag decides what every node that pulls it
         * installs, and what its Kata shim runs. */
        if (!strstr(j->reference, "@sha256:"))
                log_warning("%s is not pinned by digest: whoever can push to it decides what is installed; "
                            "pin it as REFERENCE@sha256:DIGEST", j->reference);
        emit_progress(d);
        return 0;
}

/* The host checks are done: the pull, or the refusal. */
static void checks_done(Daemon *d, int r, const CcError *e) {
        KataJob *j = d->kata_job;
        CcError start_error = CC_ERROR_INIT;

        j->checked = true;
        /* Stopped while the checks ran: nothing is pulled. */
        if (r >= 0 && cc_error_is_set(&j->cancelled)) {
                r = -ECANCELED;
                e = &j->cancelled;
        }
        if (r >= 0) {
                r = start_pull(d, &start_error);
                if (r >= 0)
                        return;
                e = &start_error;
        }
        j->staging = kata_staging_free(j->staging);
        job_end(d, NULL, r, e);
}

static int on_work_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Daemon *d = userdata;
        KataJob *j = d->kata_job;
        CcError e = CC_ERROR_INIT;
        KataRecord *rec;
        int r;

        assert(j);

        r = work_thread_finish(j->worker, &e);
        j->worker_source = sd_event_source_disable_unref(j->worker_source);
        j->worker = work_thread_free(j->worker);

        if (j->removing) {
                remove_end(d, r, &e);
                return 0;
        }
        if (!j->checked) {
                checks_done(d, r, &e);
                return 0;
        }
        rec = TAKE_PTR(j->record);
        if (r >= 0 && j->restart_containerd) {
                r = start_restart(d, &e);
                if (r >= 0) {
                        j->record = rec;
                        return 0; /* on_restart_done() ends the job */
                }
        }
        job_end(d, rec, r, &e);
        return 0;
}

static int start_work(Daemon *d, WorkFunction fn, CcError *err) {
        KataJob *j = d->kata_job;
        int r;

        r = work_thread_start(fn, j, &j->worker);
        if (r >= 0)
                r = sd_event_add_io(d->event, &j->worker_source, work_thread_get_fd(j->worker), EPOLLIN,
                                    on_work_done, d);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, -r, "Cannot start a worker thread: %s", strerror(-r));
        return 0;
}

/* The pull ended, well (pulled) or not (e): the install, or the removal
 * of what the pull left, goes to the worker. */
static void pull_ended(Daemon *d, OciPullResult *pulled, const CcError *e) {
        KataJob *j = d->kata_job;
        CcError start_error = CC_ERROR_INIT;
        int r;

        j->pull_source = sd_event_source_disable_unref(j->pull_source);
        j->pull_deadline = sd_event_source_disable_unref(j->pull_deadline);
        j->caller = sd_bus_track_unref(j->caller);
        /* Kills the helper if it still runs. */
        j->pull = oci_pull_free(j->pull);
        /* No longer pulling: the progress is back at rest. */
        emit_progress(d);

        j->pulled = pulled;
        if (!pulled)
                j->pull_error = *e;
        r = start_work(d, install_work, &start_error);
        if (r < 0) {
                j->staging = kata_staging_free(j->staging);
                job_end(d, NULL, r, pulled ? &start_error : e);
        }
}

/* Stops a pull in progress: the helper is killed, and the job ends as a
 * failed pull does (the staging directory removed, the caller answered).
 * While the checks before it still run on the worker, the pull is not
 * started when they end. */
static void pull_cancel(Daemon *d, const CcError *e) {
        KataJob *j = d->kata_job;

        if (!j || j->removing)
                return;
        if (!j->checked) {
                if (!cc_error_is_set(&j->cancelled)) {
                        log_warning("Install of %s for runtime class %s stopped before its pull: %s", j->reference,
                                    j->runtime_class, e->message);
                        j->cancelled = *e;
                }
                return;
        }
        if (!j->pull)
                return;
        log_warning("Pull of %s for runtime class %s stopped: %s", j->reference, j->runtime_class, e->message);
        pull_ended(d, NULL, e);
}

void kata_control_stop(Daemon *d) {
        CcError e = CC_ERROR_INIT;

        if (d->kata_job && d->kata_job->restart) {
                /* The install is complete; only the wait is given up. */
                cc_error_set(&e, CC_ERROR_BUSY, ECANCELED,
                             "nvidia-ccd is stopping: the restart of %s was asked of systemd, not waited for",
                             CONTAINERD_UNIT);
                on_restart_done(d, -ECANCELED, &e);
                return;
        }
        cc_error_set(&e, CC_ERROR_BUSY, ECANCELED, "nvidia-ccd is stopping; the pull was cancelled, try again");
        pull_cancel(d, &e);
}

static int on_pull_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;
        CcError e = CC_ERROR_INIT;

        cc_error_set(&e, CC_ERROR_TIMEOUT, ETIMEDOUT,
                     "The pull of %s did not finish within %" PRIu64 " s ([Kata] PullTimeout=)",
                     d->kata_job->reference, (uint64_t) (d->config.pull_timeout_usec / USEC_PER_SEC));
        pull_cancel(d, &e);
        return 0;
}

static int on_caller_gone(sd_bus_track *t, void *userdata) {
        Daemon *d = userdata;
        CcError e = CC_ERROR_INIT;

        cc_error_set(&e, CC_ERROR_BUSY, ECANCELED, "the caller left the bus");
        pull_cancel(d, &e);
        return 0;
}

static int on_pull_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Daemon *d = userdata;
        KataJob *j = d->kata_job;
        _cleanup_(oci_pull_result_freep) OciPullResult *result = NULL;
        CcError e = CC_ERROR_INIT;
        uint64_t done = j->done_bytes, total = j->total_bytes, now;
        int r;

        r = oci_pull_process(j->pull, &done, &total);
        if (r == 0) {
                now = now_usec(CLOCK_MONOTONIC);
                if ((done != j->done_bytes || total != j->total_bytes) &&
                    now >= j->last_emit + PROGRESS_INTERVAL_USEC) {
                        j->done_bytes = done;
                        j->total_bytes = total;
                        j->last_emit = now;
                        emit_progress(d);
                }
                j->done_bytes = done;
                j->total_bytes = total;
                return 0;
        }

        if (r < 0)
                (void) cc_error_set(&e, CC_ERROR_INTERNAL, -r, "Cannot read from the registry helper: %s",
                                    strerror(-r));
        else {
                j->done_bytes = done;
                j->total_bytes = total;
                (void) oci_pull_finish(j->pull, &result, &e);
        }
        pull_ended(d, TAKE_PTR(result), &e);
        return 0;
}

/* -------------------------------------------------------------- methods */

#define invalid(error, ...) sd_bus_error_setf(error, CC_ERROR_PREFIX "InvalidArgument", __VA_ARGS__)

static int new_job(Daemon *d, const char *runtime_class, const char *reference,
                   const KataOptions *o, KataJob **ret, sd_bus_error *error) {
        _cleanup_(kata_job_freep) KataJob *j = calloc(1, sizeof(KataJob));
        int r;

        if (!j)
                return -ENOMEM;
        j->pull_secret_fd = j->ca_fd = -1;
        j->daemon = d;
        j->runtime_class = strdup(runtime_class);
        j->reference = strdup(reference);
        if (!j->runtime_class || !j->reference)
                return -ENOMEM;
        r = kata_options_open(o, &j->pull_secret_fd, &j->ca_fd, error);
        if (r < 0)
                return r;
        j->plain_http = o->plain_http;
        j->register_containerd = o->register_containerd;
        j->restart_containerd = o->restart_containerd;
        j->install_options = (KataInstallOptions) {
                .artifacts_dir = d->config.artifacts_dir,
                .state_dir = d->state_dir,
                .runtime_class = j->runtime_class,
                .reference = j->reference,
                .containerd_config = j->register_containerd ? d->config.containerd_config : NULL,
                .allowed_host_paths = (const char *const *) d->config.allowed_host_paths,
                .allowed_extra_args = (const char *const *) d->config.allowed_extra_args,
        };
        *ret = TAKE_PTR(j);
        return 0;
}

int kata_control_method_install(Daemon *d, sd_bus_message *m, sd_bus_error *error) {
        KataOptions o = KATA_OPTIONS_INIT;
        _cleanup_(kata_job_freep) KataJob *j = NULL;
        const char *runtime_class, *reference;
        CcError e = CC_ERROR_INIT;
        int r;

        /* Nothing is read before polkit answered (the authorizer checked
         * the sizes); every string is read with its limit. */
        r = authorizer_check(d->authorizer, m, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = bus_read_string(m, KATA_RUNTIME_CLASS_MAX, "runtime class name", &runtime_class, error);
        if (r >= 0)
                r = bus_read_string(m, OCI_REFERENCE_MAX, "reference", &reference, error);
        if (r < 0)
                return r;
        r = kata_options_read(m, d->config_dir, &o, error);
        if (r < 0)
                return r;
        if (kata_check_runtime_class(runtime_class, &e) < 0)
                return bus_error_from_cc(error, &e);
        if (o.restart_containerd && !o.register_containerd)
                return invalid(error, "Option restart-containerd needs register-containerd: a containerd that is "
                               "not told about the runtime class has nothing to restart for");
        /* The reference, the plain-HTTP rule and the helper, before
         * anything else happens. */
        r = oci_pull_check((const OciPullOptions[]) { {
                                   .reference = reference,
                                   .plain_http = o.plain_http,
                           } },
                           &e);
        if (r < 0)
                return bus_error_from_cc(error, &e);

        r = operation_begin(d, m, error, "A Kata artifact installation or removal");
        if (r < 0)
                return r;

        r = new_job(d, runtime_class, reference, &o, &j, error);
        if (r >= 0) {
                d->kata_job = TAKE_PTR(j);
                /* A job nobody waits for any more is stopped (on_caller_gone()). */
                r = sd_bus_track_new(d->bus, &d->kata_job->caller, on_caller_gone, d);
                if (r >= 0)
                        r = sd_bus_track_add_sender(d->kata_job->caller, m);
                if (r >= 0) {
                        r = start_work(d, check_work, &e);
                        if (r < 0) {
                                log_refused(runtime_class, reference, &e);
                                r = bus_error_from_cc(error, &e);
                        }
                }
                if (r < 0)
                        d->kata_job = kata_job_free(d->kata_job);
        }
        if (r < 0) {
                operation_cancel(d);
                return r;
        }
        return 1;
}

int kata_control_method_remove(Daemon *d, sd_bus_message *m, sd_bus_error *error) {
        _cleanup_(kata_job_freep) KataJob *j = NULL;
        const char *runtime_class;
        CcError e = CC_ERROR_INIT;
        ssize_t i;
        int r;

        r = authorizer_check(d->authorizer, m, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = bus_read_string(m, KATA_RUNTIME_CLASS_MAX, "runtime class name", &runtime_class, error);
        if (r < 0)
                return r;
        if (kata_check_runtime_class(runtime_class, &e) < 0)
                return bus_error_from_cc(error, &e);

        r = operation_check_idle(d, error);
        if (r < 0)
                return r;

        i = record_index(d, runtime_class);
        if (i < 0)
                return sd_bus_error_setf(error, CC_ERROR_PREFIX "NotFound",
                                         "No Kata artifacts are installed for runtime class %s", runtime_class);

        j = calloc(1, sizeof(KataJob));
        if (!j)
                return -ENOMEM;
        j->daemon = d;
        j->pull_secret_fd = j->ca_fd = -1;
        j->runtime_class = strdup(runtime_class);
        if (!j->runtime_class)
                return -ENOMEM;
        /* Only a job changes d->runtime_classes, and this is the one job. */
        j->removing = d->runtime_classes[i];
        r = operation_begin(d, m, error, "A Kata artifact installation or removal");
        if (r < 0)
                return r;
        d->kata_job = TAKE_PTR(j);
        r = start_work(d, remove_work, &e);
        if (r < 0) {
                d->kata_job = kata_job_free(d->kata_job);
                operation_cancel(d);
                return bus_error_from_cc(error, &e);
        }
        return 1;
}
