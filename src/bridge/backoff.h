/* SPDX-License-Identifier: MIT */
#pragma once

/* Capped exponential backoff with jitter, for reconnecting to the API server
 * and for retrying a failed switch: many nodes losing the API server at once
 * must not come back in lockstep, and nothing retries in a tight loop. */

#include <stdint.h>

typedef struct Backoff {
        uint64_t initial_usec;
        uint64_t max_usec;
        uint64_t current_usec; /* the ceiling of the next delay */
} Backoff;

void backoff_init(Backoff *b, uint64_t initial_usec, uint64_t max_usec);
void backoff_reset(Backoff *b);

/* The next delay: uniform in [ceiling/2, ceiling] ("equal jitter"), drawn
 * from random; then the ceiling doubles, up to the cap. */
uint64_t backoff_next_with(Backoff *b, uint64_t random);
/* The same with a random number of its own. */
uint64_t backoff_next(Backoff *b);
