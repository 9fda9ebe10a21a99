/* SPDX-License-Identifier: MIT */
#pragma once

/* The daemon's reader of the fetch helper's report (oci-pull.h): the helper
 * parses what registries send, so what it writes back is treated as hostile
 * too.  The reader takes a strict subset of JSON, without recursion beyond
 * a fixed depth and without a general-purpose library:
 *
 *   - a line is at most REPORT_LINE_MAX bytes;
 *   - values nest at most REPORT_DEPTH_MAX deep; an array or object has at
 *     most REPORT_ITEMS_MAX items; member names are unique;
 *   - strings are UTF-8 without NUL (escapes decoded, \u0000 refused);
 *     numbers are integers from 0 to 2^63-1; null is the only literal;
 *   - one wakeup reads at most REPORT_READ_MAX bytes and takes at most
 *     REPORT_LINES_PER_WAKEUP lines (a helper reporting progress ten times
 *     a second writes a few).
 *
 * Then the shape: one of
 *   {"progress":{"done":N,"total":N}}
 *   {"result":{"manifest":"sha256:...","layers":[{"digest":...,"size":N,"media-type":"...","title":"..."|null},...]}}
 *   {"error":{"kind":"RegistryError","message":"..."}}
 *   {"exec-failed":{"errno":N}}     (N from 1 to 4095)
 * with exactly these members. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cc-error.h"
#include "oci-pull.h"

#define REPORT_LINE_MAX (1024 * 1024)
#define REPORT_DEPTH_MAX 6
#define REPORT_ITEMS_MAX 1024
#define REPORT_READ_MAX 16384
#define REPORT_LINES_PER_WAKEUP 1024

typedef enum ReportLineKind {
        REPORT_PROGRESS,
        REPORT_RESULT,
        REPORT_ERROR,
        REPORT_EXEC_FAILED,
} ReportLineKind;

typedef struct ReportLine {
        ReportLineKind kind;
        uint64_t done, total;         /* progress: done <= total */
        OciPullResult *result;        /* result: valid digests, 1..1024 layers, paths NULL */
        CcErrorKind error_kind;       /* error: a kind other than None */
        char *error_message;
        int exec_errno;               /* exec-failed: 1..4095 */
} ReportLine;

void report_line_done(ReportLine *l);

/* Parses one line (without its newline).  0, or -EBADMSG with *ret_problem
 * a static description ("nested too deeply", "bad layer"...), or -ENOMEM. */
int report_line_parse(const char *line, size_t len, ReportLine *ret, const char **ret_problem);

/* Splits what the helper writes into lines. */
typedef struct ReportReader {
        char *buf;
        size_t size;
        size_t scanned;               /* bytes of buf known to hold no newline */
} ReportReader;

void report_reader_done(ReportReader *r);

/* Appends data (at most REPORT_READ_MAX bytes) and calls line() for each
 * complete line, in order, stopping at the first negative return.  Returns
 * 0, line()'s negative return, or -EBADMSG with *ret_problem set (a line
 * longer than REPORT_LINE_MAX, more than REPORT_LINES_PER_WAKEUP lines). */
int report_reader_feed(ReportReader *r, const char *data, size_t n,
                       int (*line)(void *userdata, const char *line, size_t len), void *userdata,
                       const char **ret_problem);

/* Whether part of a line is left over (the report was cut short). */
bool report_reader_pending(const ReportReader *r);
