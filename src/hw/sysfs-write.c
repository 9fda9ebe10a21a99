/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <pthread.h>
#include <sys/syscall.h>

#include "fileio.h"
#include "log.h"
#include "message-ids.h"
#include "sysfs-write.h"

/* One write.  Shared by the caller and the writing thread under the table's
 * lock; whichever is last to look at it frees it: the caller when the write
 * finished in time, the thread when the caller gave up on it. */
typedef struct WriteJob {
        HwHost *host;          /* a reference of the thread's own */
        char bdf[16];
        char *path;
        char *value;
        pid_t tid;
        uint64_t started;      /* CLOCK_MONOTONIC µs */
        bool done;
        bool abandoned;        /* the caller timed out: listed as pending */
        int result;
        struct WriteJob *next; /* in the pending list */
} WriteJob;

struct HwPendingWrites {
        pthread_mutex_t lock;
        pthread_cond_t changed; /* a write finished */
        WriteJob *pending;
};

struct HwPendingWrites *hw_pending_writes_new(void) {
        struct HwPendingWrites *p = calloc(1, sizeof(*p));
        pthread_condattr_t attr;

        if (!p)
                return NULL;
        pthread_mutex_init(&p->lock, NULL);
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&p->changed, &attr);
        pthread_condattr_destroy(&attr);
        return p;
}

void hw_pending_writes_free(struct HwPendingWrites *p) {
        if (!p)
                return;
        /* A blocked thread holds a host reference: none is left here. */
        assert(!p->pending);
        pthread_cond_destroy(&p->changed);
        pthread_mutex_destroy(&p->lock);
        free(p);
}

static void job_free(WriteJob *j) {
        free(j->path);
        free(j->value);
        free(j);
}

static WriteJob *find_pending(struct HwPendingWrites *p, const char *bdf) {
        for (WriteJob *j = p->pending; j; j = j->next)
                if (streq(j->bdf, bdf))
                        return j;
        return NULL;
}

static void remove_pending(struct HwPendingWrites *p, WriteJob *job) {
        for (WriteJob **j = &p->pending; *j; j = &(*j)->next)
                if (*j == job) {
                        *j = job->next;
                        return;
                }
}

static void *write_thread(void *userdata) {
        WriteJob *j = userdata;
        HwHost *h = j->host;
        struct HwPendingWrites *p = hw_host_pending_writes(h);
        int r;

        /* Named from inside: the thread is detached, so its handle may be
         * gone by the time the creator would name it. */
        (void) pthread_setname_np(pthread_self(), "sysfs-write");
        pthread_mutex_lock(&p->lock);
        j->tid = (pid_t) syscall(SYS_gettid);
        pthread_mutex_unlock(&p->lock);

        r = hw_host_ops(h)->write_attribute(h, j->path, j->value);

        pthread_mutex_lock(&p->lock);
        j->result = r;
        j->done = true;
        if (j->abandoned) {
                remove_pending(p, j);
                log_notice("Thread %d: writing \"%s\" to %s returned after %.1f s (%s); %s is free again", (int) j->tid,
                           j->value, j->path, (double) (now_usec(CLOCK_MONOTONIC) - j->started) / USEC_PER_SEC,
                           r < 0 ? strerror(-r) : "success", j->bdf);
                job_free(j);
        }
        pthread_cond_broadcast(&p->changed);
        pthread_mutex_unlock(&p->lock);

        hw_host_free(h);
        return NULL;
}

static void log_stuck(const WriteJob *j, uint64_t timeout) {
        log_struct(LOG_ERR,
                   LOG_MESSAGE_ID(CC_MESSAGE_WRITE_STUCK),
                   "CC_GPU=%s", j->bdf,
                   "CC_THREAD=%d", (int) j->tid,
                   "CC_PATH=%s", j->path,
                   LOG_MESSAGE("Thread %d (sysfs-write) is stuck writing \"%s\" to %s: no answer from the kernel "
                               "within %.1f s. %s stays locked until the write returns (a process may hold the "
                               "device open)",
                               (int) j->tid, j->value, j->path, (double) timeout / USEC_PER_SEC, j->bdf),
                   NULL);
}

int hw_sysfs_write(HwHost *h, const char *bdf, const char *path, const char *value) {
        struct HwPendingWrites *p;
        uint64_t timeout, deadline;
        struct timespec ts;
        pthread_attr_t attr;
        pthread_t thread;
        WriteJob *j;
        int r;

        assert(h);
        assert(bdf);
        assert(path);
        assert(value);

        p = hw_host_pending_writes(h);
        pthread_mutex_lock(&p->lock);
        r = find_pending(p, bdf) ? -EDEADLK : 0;
        pthread_mutex_unlock(&p->lock);
        if (r < 0)
                return r;

        j = calloc(1, sizeof(WriteJob));
        if (!j)
                return -ENOMEM;
        snprintf(j->bdf, sizeof(j->bdf), "%s", bdf);
        j->path = strdup(path);
        j->value = strdup(value);
        if (!j->path || !j->value) {
                job_free(j);
                return -ENOMEM;
        }
        j->host = hw_host_ref(h);
        timeout = hw_host_get_write_timeout(h);
        j->started = now_usec(CLOCK_MONOTONIC);
        deadline = j->started + timeout;

        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = -pthread_create(&thread, &attr, write_thread, j);
        pthread_attr_destroy(&attr);
        if (r < 0) {
                hw_host_free(j->host);
                job_free(j);
                return r;
        }

        ts = (struct timespec) { .tv_sec = deadline / USEC_PER_SEC, .tv_nsec = (deadline % USEC_PER_SEC) * 1000 };
        pthread_mutex_lock(&p->lock);
        while (!j->done)
                if (pthread_cond_timedwait(&p->changed, &p->lock, &ts) == ETIMEDOUT)
                        break;
        if (j->done) {
                pthread_mutex_unlock(&p->lock);
                r = j->result;
                job_free(j);
                return r;
        }
        /* Left to the thread, which frees it when the kernel lets go. */
        j->abandoned = true;
        j->next = p->pending;
        p->pending = j;
        log_stuck(j, timeout);
        pthread_mutex_unlock(&p->lock);
        return -ETIMEDOUT;
}

bool hw_sysfs_write_pending(HwHost *h, const char *bdf, uint64_t *ret_since) {
        struct HwPendingWrites *p = hw_host_pending_writes(h);
        WriteJob *j;

        pthread_mutex_lock(&p->lock);
        j = find_pending(p, bdf);
        if (j && ret_since)
                *ret_since = j->started;
        pthread_mutex_unlock(&p->lock);
        return j;
}

int hw_sysfs_wait_idle(HwHost *h, uint64_t usec) {
        struct HwPendingWrites *p = hw_host_pending_writes(h);
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + usec;
        struct timespec ts = { .tv_sec = deadline / USEC_PER_SEC, .tv_nsec = (deadline % USEC_PER_SEC) * 1000 };
        int r = 0;

        pthread_mutex_lock(&p->lock);
        while (p->pending && r == 0)
                r = pthread_cond_timedwait(&p->changed, &p->lock, &ts);
        r = p->pending ? -ETIMEDOUT : 0;
        pthread_mutex_unlock(&p->lock);
        return r;
}
