/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>

#include "time-util.h"

uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000u;
}

uint64_t now_nsec(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

void sleep_usec(uint64_t usec) {
        struct timespec ts = {
                .tv_sec = (time_t) (usec / USEC_PER_SEC),
                .tv_nsec = (long) (usec % USEC_PER_SEC) * 1000,
        };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

const char *format_timeout_ms(char buf[static 32], unsigned ms) {
        if (ms % 1000 == 0)
                snprintf(buf, 32, "%u s", ms / 1000);
        else
                snprintf(buf, 32, "%u ms", ms);
        return buf;
}
