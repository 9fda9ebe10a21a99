/* SPDX-License-Identifier: MIT */
#pragma once

/* What every fuzz target shares: the libFuzzer entry point (also called by
 * replay-main.c in ordinary builds) and small helpers. */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An assertion that holds with NDEBUG too: a broken promise of the code
 * under test is a finding, as a crash is. */
#define FUZZ_CHECK(expr)                                                        \
        do {                                                                    \
                if (!(expr)) {                                                  \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
                                __LINE__, #expr);                               \
                        abort();                                                \
                }                                                               \
        } while (0)

/* FUZZ_VERBOSE=1 in the environment: the targets say what each input did
 * (for looking at one input with the replay driver, not for fuzzing). */
static inline int fuzz_verbose(void) {
        static int verbose = -1;

        if (verbose < 0)
                verbose = getenv("FUZZ_VERBOSE") != NULL;
        return verbose;
}

/* Warnings about the input are expected by the thousand; printing them would
 * cost more than the parsing and bury the sanitizer reports. */
static inline void fuzz_quiet_logging(void) {
        static int done;

        if (done)
                return;
        log_setup("fuzz", LOG_TARGET_CONSOLE);
        /* -1: below every priority, so nothing is printed. */
        log_set_max_level(fuzz_verbose() ? LOG_DEBUG : -1);
        done = 1;
}

/* The input as a NUL-terminated string (an embedded NUL ends it early, as it
 * would for the C string the parsers take). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);

        if (!s)
                abort();
        memcpy(s, data, size);
        s[size] = '\0';
        return s;
}
