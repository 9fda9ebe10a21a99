/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>
#include <time.h>

#define USEC_PER_MSEC 1000ULL
#define USEC_PER_SEC 1000000ULL

/* Microseconds, or nanoseconds, on the given clock. */
uint64_t now_usec(clockid_t clock);
uint64_t now_nsec(clockid_t clock);

/* Sleeps, resuming after signals.  Only for worker threads that poll
 * hardware at a fixed interval; never on the event loop. */
void sleep_usec(uint64_t usec);

/* "5 s" or "50 ms", as people read a timeout. */
const char *format_timeout_ms(char buf[static 32], unsigned ms);
