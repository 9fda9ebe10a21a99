/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <glib.h>
#include <sys/stat.h>

#include "fileio.h"
#include "liveness.h"
#include "log.h"
#include "macro.h"
#include "time-util.h"

struct Liveness {
        sd_event *event;
        char *path;
        uint64_t interval_usec;
        LivenessCheck check;
        void *userdata;
        sd_event_source *timer;
        bool warned;
};

/* A new mtime, nothing written: on tmpfs (an emptyDir, /run) it costs no I/O. */
static int touch(const char *path) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);

        if (fd < 0)
                return -errno;
        if (futimens(fd, NULL) < 0)
                return -errno;
        return 0;
}

static int timer_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        Liveness *l = userdata;
        uint64_t now;
        int r;

        (void) sd_event_now(l->event, CLOCK_MONOTONIC, &now);
        if (l->check(l->userdata, now)) {
                r = touch(l->path);
                if (r < 0 && !l->warned)
                        log_warning("cannot touch the liveness file %s: %s", l->path, strerror(-r));
                l->warned = r < 0;
        } else
                log_warning("the watch of the node made no progress for too long; leaving %s untouched",
                            l->path);
        (void) sd_event_source_set_time(s, now + l->interval_usec);
        return 0;
}

int liveness_new(sd_event *event, const char *path, uint64_t interval_usec, LivenessCheck check, void *userdata,
                 Liveness **ret) {
        g_autofree char *dir = NULL;
        uint64_t now;
        Liveness *l;
        int r;

        assert(event);
        assert(path);
        assert(check);
        assert(ret);

        dir = g_path_get_dirname(path);
        r = mkdir_parents(dir, 0755);
        if (r < 0) {
                log_error("cannot create %s: %s", dir, strerror(-r));
                return r;
        }
        l = g_new0(Liveness, 1);
        l->event = sd_event_ref(event);
        l->path = g_strdup(path);
        l->interval_usec = interval_usec;
        l->check = check;
        l->userdata = userdata;
        /* No file until the first check passed: a bridge that never got
         * going is not alive. */
        if (unlink(path) < 0 && errno != ENOENT)
                log_warning("cannot remove %s: %s", path, strerror(errno));
        (void) sd_event_now(event, CLOCK_MONOTONIC, &now);
        r = sd_event_add_time(event, &l->timer, CLOCK_MONOTONIC, now, 0, timer_cb, l);
        if (r >= 0)
                r = sd_event_source_set_enabled(l->timer, SD_EVENT_ON);
        if (r < 0) {
                liveness_free(l);
                return r;
        }
        (void) sd_event_source_set_description(l->timer, "liveness");
        *ret = l;
        return 0;
}

Liveness *liveness_free(Liveness *l) {
        if (!l)
                return NULL;
        sd_event_source_disable_unref(l->timer);
        sd_event_unref(l->event);
        g_free(l->path);
        g_free(l);
        return NULL;
}

int liveness_probe(const char *path, uint64_t max_age_usec, char **ret_message) {
        struct stat st;
        uint64_t now = now_usec(CLOCK_REALTIME), mtime;

        assert(path);
        assert(ret_message);

        if (stat(path, &st) < 0) {
                int r = -errno;

                *ret_message = g_strdup_printf("%s: %s (the bridge has not shown it works yet)", path,
                                               strerror(-r));
                return r;
        }
        mtime = (uint64_t) st.st_mtim.tv_sec * USEC_PER_SEC + (uint64_t) st.st_mtim.tv_nsec / 1000;
        if (now > mtime && now - mtime > max_age_usec) {
                *ret_message = g_strdup_printf("%s was last touched %.0f s ago (more than %.0f s): the bridge's "
                                               "loop or its watch of the node is stuck",
                                               path, (double) (now - mtime) / USEC_PER_SEC,
                                               (double) max_age_usec / USEC_PER_SEC);
                return -ESTALE;
        }
        *ret_message = NULL;
        return 0;
}
