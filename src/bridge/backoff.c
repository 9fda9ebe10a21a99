/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <sys/random.h>

#include "backoff.h"
#include "time-util.h"

void backoff_init(Backoff *b, uint64_t initial_usec, uint64_t max_usec) {
        assert(b);
        assert(initial_usec > 0);
        assert(max_usec >= initial_usec);

        *b = (Backoff) {
                .initial_usec = initial_usec,
                .max_usec = max_usec,
                .current_usec = initial_usec,
        };
}

void backoff_reset(Backoff *b) {
        assert(b);
        b->current_usec = b->initial_usec;
}

uint64_t backoff_next_with(Backoff *b, uint64_t random) {
        uint64_t ceiling, half, delay;

        assert(b);

        ceiling = b->current_usec;
        half = ceiling / 2;
        delay = half + random % (ceiling - half + 1);

        if (b->current_usec > b->max_usec / 2)
                b->current_usec = b->max_usec;
        else
                b->current_usec *= 2;
        return delay;
}

uint64_t backoff_next(Backoff *b) {
        uint64_t random;

        /* Jitter needs no cryptographic quality; when getrandom() cannot
         * give it without blocking, the clock does. */
        if (getrandom(&random, sizeof(random), GRND_NONBLOCK) != sizeof(random))
                random = now_nsec(CLOCK_MONOTONIC);
        return backoff_next_with(b, random);
}
