/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <sys/inotify.h>

#include "backoff.h"
#include "ccd-client.h"
#include "ccd-gate.h"
#include "ccd-kata.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "message-ids.h"
#include "pull-secret.h"
#include "rtclass-file.h"
#include "runtime-classes.h"
#include "time-util.h"

#define SECRET_TIMEOUT_USEC (30 * USEC_PER_SEC)

typedef struct Failure {
        Backoff backoff;
        uint64_t retry_at;
} Failure;

struct RuntimeClasses {
        sd_event *event;
        sd_bus *bus;
        KubeClient *kube;
        NodeEvents *events;
        RuntimeClassesOptions opt;
        char *path, *dir, *base, *secret_namespace, *record, *ca_file;

        sd_event_source *inotify, *reload, *retry;
        sd_bus_slot *owner_match, *removed_match;

        char *text;                 /* the file as last read well */
        size_t size;
        RuntimeClassFile *file;     /* NULL until it was read well once */
        char *file_error;           /* the last error told, not to repeat it */
        unsigned generation;        /* of the file, read well */

        GHashTable *labels;         /* NULL until the Node was seen */
        GHashTable *owned;          /* names this bridge installed (the record) */
        GHashTable *pulled;         /* name -> generation a tag was last pulled at */
        GHashTable *failures;       /* name -> Failure */
        Backoff read_backoff;       /* for GetManagedObjects */

        bool busy, again;
        CcdGate *gate;              /* borrowed */
        CcdGateTurn *turn;          /* the install's or removal's turn at nvidia-ccd */
        sd_bus_slot *call;
        KubeRequest *secret_request;
        char *op;                   /* the class being installed or removed */
        char *op_url, *op_pull_secret;  /* copies: the file may change meanwhile */
        int op_secret_fd, op_ca_fd;     /* kept until the install is sent for good; -1: none */
        char *matching;             /* the classes the labels select, last seen */
};

static void reconcile(RuntimeClasses *rc);
static char *matching_classes(RuntimeClasses *rc);

/* ------------------------------------------------------------ the record */

static void record_load(RuntimeClasses *rc) {
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;
        int r;

        r = read_text_file(rc->record, &text);
        if (r == -ENOENT)
                return;
        if (r < 0) {
                log_warning("cannot read %s: %s; no runtime class counts as installed by the bridge", rc->record,
                            strerror(-r));
                return;
        }
        lines = g_strsplit(text, "\n", -1);
        for (char **l = lines; *l; l++)
                if (rtclass_name_is_valid(*l))
                        g_hash_table_add(rc->owned, g_strdup(*l));
}

static void record_save(RuntimeClasses *rc) {
        g_autofree const char **names = (const char **) g_hash_table_get_keys_as_array(rc->owned, NULL);
        g_autoptr(GString) text = g_string_new(NULL);
        g_autofree char *dir = g_path_get_dirname(rc->record);
        int r;

        for (const char **n = names; n && *n; n++)
                g_string_append_printf(text, "%s\n", *n);
        r = mkdir_parents(dir, 0755);
        if (r >= 0)
                r = write_file_atomic(rc->record, text->str, text->len, 0644);
        if (r < 0)
                log_error("cannot write %s: %s; a class removed from the file may be left installed", rc->record,
                          strerror(-r));
}

/* ------------------------------------------------------------ failures */

static void arm_retry(RuntimeClasses *rc, uint64_t when) {
        if (when == UINT64_MAX)
                return;
        if (sd_event_source_set_time(rc->retry, when) < 0 ||
            sd_event_source_set_enabled(rc->retry, SD_EVENT_ONESHOT) < 0)
                log_error("cannot arm the runtime-class retry timer");
}

/* Counts a failure of name; returns the delay before it is tried again. */
static uint64_t count_failure(RuntimeClasses *rc, const char *name) {
        Failure *f = g_hash_table_lookup(rc->failures, name);
        uint64_t now, delay;

        if (!f) {
                f = g_new0(Failure, 1);
                backoff_init(&f->backoff, rc->opt.retry_initial_usec, rc->opt.retry_max_usec);
                g_hash_table_insert(rc->failures, g_strdup(name), f);
        }
        delay = backoff_next(&f->backoff);
        (void) sd_event_now(rc->event, CLOCK_MONOTONIC, &now);
        f->retry_at = now + delay;
        return delay;
}

/* Whether name waits for its retry; *next: the earliest retry. */
static bool waiting(RuntimeClasses *rc, const char *name, uint64_t now, uint64_t *next) {
        Failure *f = g_hash_table_lookup(rc->failures, name);

        if (!f || f->retry_at <= now)
                return false;
        *next = MIN(*next, f->retry_at);
        return true;
}

/* ------------------------------------------------------------ an operation ends */

static void op_end(RuntimeClasses *rc) {
        rc->call = sd_bus_slot_unref(rc->call);
        rc->turn = ccd_gate_release(rc->turn);
        closep(&rc->op_secret_fd);
        closep(&rc->op_ca_fd);
        rc->op_secret_fd = rc->op_ca_fd = -1;
        rc->secret_request = NULL;
        g_clear_pointer(&rc->op, g_free);
        g_clear_pointer(&rc->op_url, g_free);
        g_clear_pointer(&rc->op_pull_secret, g_free);
        rc->busy = false;
        reconcile(rc);
}

static void op_failed(RuntimeClasses *rc, bool remove, const char *reason) {
        const char *name = rc->op;
        uint64_t delay = count_failure(rc, name);

        /* The Event's text stays the same from one attempt to the next, so
         * that repeats raise its count rather than pile up. */
        if (remove) {
                log_struct(LOG_ERR,
                           LOG_MESSAGE_ID(CC_MESSAGE_BRIDGE_RUNTIME_CLASS_REMOVE_FAILED),
                           "CC_RUNTIME_CLASS=%s", name, "CC_ERROR=%s", reason,
                           LOG_MESSAGE("Runtime class %s could not be removed: %s; trying again in %.1f s", name,
                                       reason, (double) delay / USEC_PER_SEC),
                           NULL);
                node_events_post(rc->events, true, "RuntimeClassRemoveFailed",
                                 "Runtime class %s not removed: %s (tried again with a growing delay)", name, reason);
        } else {
                log_struct(LOG_ERR,
                           LOG_MESSAGE_ID(CC_MESSAGE_BRIDGE_RUNTIME_CLASS_INSTALL_FAILED),
                           "CC_RUNTIME_CLASS=%s", name, "CC_REFERENCE=%s", rc->op_url, "CC_ERROR=%s", reason,
                           LOG_MESSAGE("Runtime class %s could not be installed from %s: %s; trying again in %.1f s",
                                       name, rc->op_url, reason, (double) delay / USEC_PER_SEC),
                           NULL);
                node_events_post(rc->events, true, "RuntimeClassInstallFailed",
                                 "Runtime class %s not installed from %s: %s (tried again with a growing delay)", name,
                                 rc->op_url, reason);
        }
        op_end(rc);
}

static char *bus_error_text(const sd_bus_error *e) {
        if (sd_bus_error_has_name(e, SD_BUS_ERROR_ACCESS_DENIED))
                return g_strdup_printf("polkit does not let the bridge (uid %u) manage Kata artifacts "
                                       "(org.nvidia.ConfidentialCompute.manage-artifacts): %s",
                                       (unsigned) getuid(), strempty(e->message));
        return g_strdup_printf("%s: %s", e->name, strempty(e->message));
}

/* ------------------------------------------------------------ remove */

/* Another client's call runs: not a failure, the call follows it. */
static bool wait_out_other_operation(RuntimeClasses *rc, const sd_bus_error *e) {
        if (!rc->turn || !ccd_error_is_other_operation(e))
                return false;
        rc->call = sd_bus_slot_unref(rc->call);
        ccd_gate_again(rc->turn);
        return true;
}

static int remove_done(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        RuntimeClasses *rc = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        g_autofree char *reason = NULL;

        if (wait_out_other_operation(rc, e))
                return 0;
        if (e && !ccd_kata_error_is_not_found(e)) {
                reason = bus_error_text(e);
                op_failed(rc, true, reason);
                return 0;
        }
        g_hash_table_remove(rc->owned, rc->op);
        g_hash_table_remove(rc->pulled, rc->op);
        g_hash_table_remove(rc->failures, rc->op);
        record_save(rc);
        log_struct(LOG_INFO,
                   LOG_MESSAGE_ID(CC_MESSAGE_BRIDGE_RUNTIME_CLASS_REMOVED),
                   "CC_RUNTIME_CLASS=%s", rc->op,
                   LOG_MESSAGE("Runtime class %s removed: it is no longer in %s for this node", rc->op, rc->path),
                   NULL);
        node_events_post(rc->events, false, "RuntimeClassRemoved",
                         "Runtime class %s removed (no longer in the runtime-class file for this node)", rc->op);
        op_end(rc);
        return 0;
}

static void send_remove(CcdGateTurn *turn, void *userdata) {
        RuntimeClasses *rc = userdata;
        int r;

        log_info("removing runtime class %s", rc->op);
        r = ccd_kata_remove(rc->bus, &rc->call, rc->op, remove_done, rc);
        if (r < 0) {
                g_autofree char *reason = g_strdup_printf("cannot call RemoveKataArtifacts: %s", strerror(-r));

                op_failed(rc, true, reason);
        }
}

/* The bridge's mode switch or VFIO bind may hold nvidia-ccd: the call
 * waits its turn instead of being refused. */
static void take_turn(RuntimeClasses *rc, bool remove, CcdGateGranted send) {
        int r;

        r = ccd_gate_acquire(rc->gate, remove ? "RemoveKataArtifacts" : "InstallKataArtifacts", send, rc, &rc->turn);
        if (r < 0) {
                g_autofree char *reason = g_strdup_printf("cannot queue the call: %s", strerror(-r));

                op_failed(rc, remove, reason);
        }
}

static void start_remove(RuntimeClasses *rc, const char *name) {
        rc->op = g_strdup(name);
        take_turn(rc, true, send_remove);
}

/* ------------------------------------------------------------ install */

static int install_done(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        RuntimeClasses *rc = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        const char *digest;

        if (wait_out_other_operation(rc, e))
                return 0;
        if (e) {
                g_autofree char *reason = bus_error_text(e);

                op_failed(rc, false, reason);
                return 0;
        }
        g_hash_table_add(rc->owned, g_strdup(rc->op));
        g_hash_table_insert(rc->pulled, g_strdup(rc->op), GUINT_TO_POINTER(rc->generation));
        g_hash_table_remove(rc->failures, rc->op);
        record_save(rc);
        digest = rtclass_reference_digest(rc->op_url);
        log_struct(LOG_INFO,
                   LOG_MESSAGE_ID(CC_MESSAGE_BRIDGE_RUNTIME_CLASS_INSTALLED),
                   "CC_RUNTIME_CLASS=%s", rc->op, "CC_REFERENCE=%s", rc->op_url,
                   LOG_MESSAGE("Runtime class %s installed from %s", rc->op, rc->op_url),
                   NULL);
        node_events_post(rc->events, false, "RuntimeClassInstalled", "Runtime class %s installed from %s%s", rc->op,
                         rc->op_url, digest ? "" : " (a tag: pin it by digest to pull only on a change)");
        op_end(rc);
        return 0;
}

static void send_install(CcdGateTurn *turn, void *userdata) {
        RuntimeClasses *rc = userdata;
        int r;

        log_info("installing runtime class %s from %s", rc->op, rc->op_url);
        r = ccd_kata_install(rc->bus, &rc->call, rc->op, rc->op_url, rc->op_secret_fd, rc->op_ca_fd,
                             rc->opt.restart_containerd, install_done, rc);
        if (r < 0) {
                g_autofree char *reason = g_strdup_printf("cannot call InstallKataArtifacts: %s", strerror(-r));

                op_failed(rc, false, reason);
        }
}

/* Takes secret_fd. */
static void call_install(RuntimeClasses *rc, int secret_fd) {
        rc->op_secret_fd = secret_fd;
        if (rc->ca_file) {
                rc->op_ca_fd = open(rc->ca_file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (rc->op_ca_fd < 0) {
                        g_autofree char *reason = g_strdup_printf("cannot open the registry CA bundle %s: %s",
                                                                  rc->ca_file, strerror(errno));

                        op_failed(rc, false, reason);
                        return;
                }
        }
        take_turn(rc, false, send_install);
}

static void secret_done(KubeRequest *req, int r, long status, const char *body, size_t size, void *userdata) {
        RuntimeClasses *rc = userdata;
        g_autofree char *reason = NULL, *what = NULL;
        _cleanup_close_ int fd = -1;

        rc->secret_request = NULL;
        what = g_strdup_printf("the pull secret %s/%s", rc->secret_namespace, rc->op_pull_secret);
        if (r < 0)
                reason = g_strdup_printf("cannot read %s: %s", what, strerror(-r));
        else
                fd = pull_secret_from_answer(what, status, body, size, &reason);
        if (fd < 0) {
                op_failed(rc, false, reason);
                return;
        }
        call_install(rc, TAKE_FD(fd));
}

static void start_install(RuntimeClasses *rc, const RuntimeClassSpec *c) {
        g_autofree char *ns = NULL, *name = NULL, *path = NULL;
        int r;

        rc->op = g_strdup(c->name);
        rc->op_url = g_strdup(c->url);
        rc->op_pull_secret = g_strdup(c->pull_secret);
        if (!c->pull_secret) {
                call_install(rc, -1);
                return;
        }
        ns = g_uri_escape_string(rc->secret_namespace, NULL, false);
        name = g_uri_escape_string(c->pull_secret, NULL, false);
        path = g_strconcat("/api/v1/namespaces/", ns, "/secrets/", name, NULL);
        r = kube_client_request(rc->kube, "GET", path, NULL, NULL, SECRET_TIMEOUT_USEC, NULL, secret_done, rc,
                                &rc->secret_request);
        if (r < 0) {
                g_autofree char *reason = g_strdup_printf("cannot ask for the pull secret: %s", strerror(-r));

                op_failed(rc, false, reason);
        }
}

/* ------------------------------------------------------------ what to do next */

static bool up_to_date(RuntimeClasses *rc, const RuntimeClassSpec *c, GHashTable *installed) {
        CcdRuntimeClass *i = g_hash_table_lookup(installed, c->name);
        const char *digest = rtclass_reference_digest(c->url);
        gpointer generation;

        if (!i)
                return false;
        /* Pinned: the same digest is the same files, whatever the name. */
        if (digest)
                return streq_ptr(i->digest, digest);
        /* A tag may have moved: pulled again at start and on each change of the file. */
        return streq_ptr(i->reference, c->url) && g_hash_table_lookup_extended(rc->pulled, c->name, NULL, &generation) &&
               GPOINTER_TO_UINT(generation) == rc->generation;
}

static int compare_strings(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void next_step(RuntimeClasses *rc, GHashTable *installed) {
        g_autofree const char **owned = (const char **) g_hash_table_get_keys_as_array(rc->owned, NULL);
        uint64_t now, next = UINT64_MAX;
        bool changed = false;

        (void) sd_event_now(rc->event, CLOCK_MONOTONIC, &now);

        /* First what leaves: the node's disk and containerd's configuration
         * are better without a class no pod here may ask for. */
        qsort(owned, g_hash_table_size(rc->owned), sizeof(char *), compare_strings);
        for (const char **n = owned; n && *n; n++) {
                const RuntimeClassSpec *c = rtclass_file_find(rc->file, *n);

                if (c && rtclass_selector_matches(c, rc->labels))
                        continue;
                if (!g_hash_table_contains(installed, *n)) {
                        log_info("runtime class %s, installed by the bridge, is gone from nvidia-ccd", *n);
                        g_hash_table_remove(rc->owned, *n);
                        changed = true;
                        continue;
                }
                if (waiting(rc, *n, now, &next))
                        continue;
                if (changed)
                        record_save(rc);
                start_remove(rc, *n);
                return;
        }
        if (changed)
                record_save(rc);

        for (guint i = 0; i < rc->file->classes->len; i++) {
                const RuntimeClassSpec *c = rc->file->classes->pdata[i];

                if (!rtclass_selector_matches(c, rc->labels) || up_to_date(rc, c, installed) ||
                    waiting(rc, c->name, now, &next))
                        continue;
                start_install(rc, c);
                return;
        }

        rc->busy = false;
        arm_retry(rc, next);
        if (rc->again)
                reconcile(rc);
}

static int objects_done(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        RuntimeClasses *rc = userdata;
        g_autoptr(GHashTable) installed = NULL;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        int r = 0;

        rc->call = sd_bus_slot_unref(rc->call);
        if (!e)
                r = ccd_kata_parse_list(m, &installed);
        if (e || r < 0) {
                uint64_t now, delay = backoff_next(&rc->read_backoff);

                rc->busy = false;
                if (e && ccd_error_is_absent(e)) {
                        log_warning("nvidia-ccd is not on the bus; the runtime classes wait for it");
                        return 0;
                }
                log_warning("cannot read nvidia-ccd's runtime classes: %s; trying again in %.1f s",
                            e ? strempty(e->message) : strerror(-r), (double) delay / USEC_PER_SEC);
                (void) sd_event_now(rc->event, CLOCK_MONOTONIC, &now);
                arm_retry(rc, now + delay);
                return 0;
        }
        backoff_reset(&rc->read_backoff);
        next_step(rc, installed);
        return 0;
}

static void reconcile(RuntimeClasses *rc) {
        int r;

        if (!rc->file || !rc->labels)
                return;
        if (rc->busy) {
                rc->again = true;
                return;
        }
        rc->again = false;
        rc->busy = true;
        (void) sd_event_source_set_enabled(rc->retry, SD_EVENT_OFF);
        r = ccd_kata_list(rc->bus, &rc->call, objects_done, rc);
        if (r < 0) {
                uint64_t now;

                rc->busy = false;
                log_error("cannot ask nvidia-ccd for its runtime classes: %s", strerror(-r));
                (void) sd_event_now(rc->event, CLOCK_MONOTONIC, &now);
                arm_retry(rc, now + backoff_next(&rc->read_backoff));
        }
}

static int retry_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        reconcile(userdata);
        return 0;
}

/* ------------------------------------------------------------ the file */

static void file_invalid(RuntimeClasses *rc, const char *message) {
        if (streq_ptr(message, rc->file_error))
                return;
        g_free(rc->file_error);
        rc->file_error = g_strdup(message);
        log_struct(LOG_ERR,
                   LOG_MESSAGE_ID(CC_MESSAGE_BRIDGE_RUNTIME_CLASS_FILE_INVALID),
                   "CC_PATH=%s", rc->path, "CC_ERROR=%s", message,
                   LOG_MESSAGE("%s: %s; the runtime classes stay as they are", rc->path, message),
                   NULL);
        node_events_post(rc->events, true, "RuntimeClassFileInvalid",
                         "The runtime-class file %s is not used: %s; the runtime classes stay as they are", rc->path,
                         message);
}

static void load_file(RuntimeClasses *rc) {
        g_autoptr(RuntimeClassFile) file = NULL;
        CcError err = CC_ERROR_INIT;
        _cleanup_close_ int fd = -1;
        g_autofree char *text = NULL;
        size_t size = 0;
        int r;

        /* O_NONBLOCK: a FIFO there must not hold the loop. */
        fd = open(rc->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                g_autofree char *m = g_strdup_printf("cannot open it: %s", strerror(errno));

                file_invalid(rc, m);
                return;
        }
        r = fd_read_regular(fd, RTCLASS_FILE_MAX_BYTES, &text, &size);
        if (r < 0) {
                g_autofree char *m = r == -EBADFD  ? g_strdup("not a regular file")
                                     : r == -EFBIG ? g_strdup_printf("larger than %d bytes", RTCLASS_FILE_MAX_BYTES)
                                                   : g_strdup_printf("cannot read it: %s", strerror(-r));

                file_invalid(rc, m);
                return;
        }
        if (rc->file && size == rc->size && memcmp(text, rc->text, size) == 0) {
                g_clear_pointer(&rc->file_error, g_free);
                return;
        }
        r = rtclass_file_parse(text, size, &file, &err);
        if (r < 0) {
                file_invalid(rc, err.message);
                return;
        }
        if (rc->file_error)
                log_info("%s is valid again", rc->path);
        g_clear_pointer(&rc->file_error, g_free);
        g_free(rc->text);
        rc->text = TAKE_PTR(text);
        rc->size = size;
        rtclass_file_free(rc->file);
        rc->file = TAKE_PTR(file);
        rc->generation++;
        /* A changed entry may well succeed where the old one failed. */
        g_hash_table_remove_all(rc->failures);
        log_info("%s: %u runtime class(es)", rc->path, rc->file->classes->len);
        if (rc->file->artifacts_dir)
                log_notice("%s: artifactsDir %s is not used: the artifacts go where nvidia-ccd's "
                           "[Kata] ArtifactsDir= says",
                           rc->path, rc->file->artifacts_dir);
        if (rc->labels) {
                g_free(rc->matching);
                rc->matching = matching_classes(rc);
        }
        reconcile(rc);
}

static int reload_cb(sd_event_source *s, void *userdata) {
        load_file(userdata);
        return 0;
}

static int inotify_cb(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        RuntimeClasses *rc = userdata;

        /* The file itself, or (a ConfigMap volume) the "..data" link
         * renamed over; read once for a burst of events. */
        if ((ev->mask & IN_Q_OVERFLOW) || (ev->len > 0 && (streq(ev->name, rc->base) || ev->name[0] == '.')))
                (void) sd_event_source_set_enabled(rc->reload, SD_EVENT_ONESHOT);
        return 0;
}

/* ------------------------------------------------------------ the daemon */

static int owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        RuntimeClasses *rc = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 || !streq(name, CCD_BUS_NAME) ||
            !new_owner || !new_owner[0])
                return 0;
        log_info("nvidia-ccd is on the bus; checking the runtime classes");
        backoff_reset(&rc->read_backoff);
        g_hash_table_remove_all(rc->failures);
        reconcile(rc);
        return 0;
}

/* A class removed on the host (nvidia-ccctl remove-artifacts) that the file
 * still gives this node is installed again: the cluster schedules pods here
 * by it. */
static int interfaces_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        reconcile(userdata);
        return 0;
}

/* ------------------------------------------------------------ object */

int runtime_classes_new(sd_event *event, sd_bus *bus, KubeClient *kube, NodeEvents *events,
                        const RuntimeClassesOptions *options, RuntimeClasses **ret) {
        RuntimeClasses *rc;
        int r;

        assert(event && bus && kube && events && ret);
        assert(options && options->path && options->secret_namespace && options->record && options->gate);

        rc = g_new0(RuntimeClasses, 1);
        rc->event = sd_event_ref(event);
        rc->bus = sd_bus_ref(bus);
        rc->kube = kube;
        rc->events = events;
        rc->opt = *options;
        rc->gate = options->gate;
        rc->op_secret_fd = rc->op_ca_fd = -1;
        rc->path = g_strdup(options->path);
        rc->dir = g_path_get_dirname(options->path);
        rc->base = g_path_get_basename(options->path);
        rc->secret_namespace = g_strdup(options->secret_namespace);
        rc->record = g_strdup(options->record);
        rc->ca_file = g_strdup(options->ca_file);
        rc->owned = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        rc->pulled = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        rc->failures = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        backoff_init(&rc->read_backoff, options->retry_initial_usec, options->retry_max_usec);
        record_load(rc);

        r = sd_event_add_time(event, &rc->retry, CLOCK_MONOTONIC, UINT64_MAX, 0, retry_cb, rc);
        if (r >= 0)
                r = sd_event_source_set_enabled(rc->retry, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_defer(event, &rc->reload, reload_cb, rc);
        if (r >= 0)
                r = sd_event_source_set_enabled(rc->reload, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_bus_add_match(bus, &rc->owner_match,
                                     "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                     "interface='org.freedesktop.DBus',member='NameOwnerChanged',"
                                     "arg0='" CCD_BUS_NAME "'",
                                     owner_changed, rc);
        if (r >= 0)
                r = sd_bus_match_signal(bus, &rc->removed_match, CCD_BUS_NAME, CCD_MANAGER_PATH,
                                        "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved",
                                        interfaces_removed, rc);
        if (r < 0) {
                runtime_classes_free(rc);
                return r;
        }
        *ret = rc;
        return 0;
}

RuntimeClasses *runtime_classes_free(RuntimeClasses *rc) {
        if (!rc)
                return NULL;
        kube_request_cancel(rc->secret_request);
        sd_bus_slot_unref(rc->call);
        ccd_gate_release(rc->turn);
        closep(&rc->op_secret_fd);
        closep(&rc->op_ca_fd);
        sd_bus_slot_unref(rc->owner_match);
        sd_bus_slot_unref(rc->removed_match);
        sd_event_source_disable_unref(rc->inotify);
        sd_event_source_disable_unref(rc->reload);
        sd_event_source_disable_unref(rc->retry);
        sd_bus_unref(rc->bus);
        sd_event_unref(rc->event);
        rtclass_file_free(rc->file);
        if (rc->labels)
                g_hash_table_unref(rc->labels);
        g_hash_table_unref(rc->owned);
        g_hash_table_unref(rc->pulled);
        g_hash_table_unref(rc->failures);
        g_free(rc->text);
        g_free(rc->file_error);
        g_free(rc->op);
        g_free(rc->op_url);
        g_free(rc->op_pull_secret);
        g_free(rc->matching);
        g_free(rc->path);
        g_free(rc->dir);
        g_free(rc->base);
        g_free(rc->secret_namespace);
        g_free(rc->record);
        g_free(rc->ca_file);
        g_free(rc);
        return NULL;
}

int runtime_classes_start(RuntimeClasses *rc) {
        int r;

        r = sd_event_add_inotify(rc->event, &rc->inotify, rc->dir,
                                 IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB |
                                         IN_ONLYDIR,
                                 inotify_cb, rc);
        if (r < 0)
                return log_full_errno(LOG_ERR, r, "cannot watch %s for changes of %s: %s", rc->dir, rc->base,
                                      strerror(-r));
        log_info("runtime classes from %s (pull secrets from namespace %s)", rc->path, rc->secret_namespace);
        load_file(rc);
        return 0;
}

/* The names of the classes the labels select, for telling a change. */
static char *matching_classes(RuntimeClasses *rc) {
        GString *out = g_string_new(NULL);

        for (guint i = 0; rc->file && i < rc->file->classes->len; i++) {
                const RuntimeClassSpec *c = rc->file->classes->pdata[i];

                if (rtclass_selector_matches(c, rc->labels))
                        g_string_append_printf(out, "%s\n", c->name);
        }
        return g_string_free(out, false);
}

void runtime_classes_set_labels(RuntimeClasses *rc, GHashTable *labels) {
        g_autofree char *matching = NULL;
        bool first;

        if (!rc)
                return;
        first = !rc->labels;
        if (rc->labels)
                g_hash_table_unref(rc->labels);
        rc->labels = g_hash_table_ref(labels);
        /* Most label changes (the bridge's own state labels) select nothing new. */
        matching = matching_classes(rc);
        if (!first && streq_ptr(matching, rc->matching))
                return;
        g_free(rc->matching);
        rc->matching = TAKE_PTR(matching);
        reconcile(rc);
}
