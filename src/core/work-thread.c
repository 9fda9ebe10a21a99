/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/eventfd.h>

#include "log.h"
#include "work-thread.h"

struct WorkThread {
        WorkFunction fn;
        void *userdata;
        pthread_t thread;
        bool joined;
        atomic_bool done;
        int done_fd;
        int result;
        CcError error;
};

static void *work_main(void *userdata) {
        WorkThread *w = userdata;
        uint64_t one = 1;

        w->result = w->fn(w->userdata, &w->error);
        atomic_store(&w->done, true);
        /* The eventfd write orders the result before the loop's read. */
        if (write(w->done_fd, &one, sizeof(one)) < 0)
                log_error("Cannot signal the end of a worker thread: %m");
        return NULL;
}

int work_thread_start(WorkFunction fn, void *userdata, WorkThread **ret) {
        _cleanup_free_ WorkThread *w = NULL;
        int r;

        assert(fn);
        assert(ret);

        w = calloc(1, sizeof(WorkThread));
        if (!w)
                return -ENOMEM;
        w->fn = fn;
        w->userdata = userdata;
        w->error = (CcError) CC_ERROR_INIT;
        w->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->done_fd < 0)
                return -errno;
        r = pthread_create(&w->thread, NULL, work_main, w);
        if (r != 0) {
                close(w->done_fd);
                return -r;
        }
        *ret = TAKE_PTR(w);
        return 0;
}

int work_thread_get_fd(const WorkThread *w) {
        assert(w);
        return w->done_fd;
}

bool work_thread_done(const WorkThread *w) {
        assert(w);
        return atomic_load(&w->done);
}

int work_thread_finish(WorkThread *w, CcError *err) {
        assert(w);

        if (!w->joined) {
                pthread_join(w->thread, NULL);
                w->joined = true;
        }
        if (w->result < 0 && err)
                *err = w->error;
        return w->result;
}

WorkThread *work_thread_free(WorkThread *w) {
        if (!w)
                return NULL;
        if (!w->joined)
                pthread_join(w->thread, NULL);
        close(w->done_fd);
        free(w);
        return NULL;
}
