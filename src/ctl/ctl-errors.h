/* SPDX-License-Identifier: MIT */
#pragma once

/* Turns a failed call (a D-Bus error name and message, or a local errno)
 * into one line for people and an exit code.  No sd-bus here: the names are
 * compared as strings, so the mapping can be tested on its own. */

#include <stddef.h>

#define CTL_SERVICE "org.nvidia.ConfidentialCompute"

typedef enum CtlFailure {
        CTL_FAILURE_ACCESS_DENIED,
        CTL_FAILURE_NOT_RUNNING,     /* the bus is there, the service is not */
        CTL_FAILURE_NO_BUS,          /* the bus itself failed us */
        CTL_FAILURE_NO_SUCH_DEVICE,  /* the --gpu object is not there */
        CTL_FAILURE_NO_REPLY_IN_TIME,/* our own call timeout ran out */
        CTL_FAILURE_OTHER,
} CtlFailure;

/* What was being done, for the messages. */
typedef struct CtlOperation {
        const char *failed;          /* "Failed to set mode" */
        const char *denied;          /* "not authorized to set the mode (polkit action ...)";
                                      * the daemon's reason follows it */
        const char *gpu;             /* the device addressed, or NULL */
        unsigned timeout_sec;        /* the call timeout, for CTL_FAILURE_NO_REPLY_IN_TIME */
} CtlOperation;

/* name may be NULL (a local error); r is the negative errno of the call.
 * A local -ETIMEDOUT (no name) means the call's own timeout ran out. */
CtlFailure ctl_failure_classify(const char *name, int r, const char *gpu);

int ctl_failure_exit_code(CtlFailure f);

/* "Timeout" for "org.nvidia.ConfidentialCompute.Error.Timeout". */
const char *ctl_error_short_name(const char *name);

/* Writes the line (no newline) for people into buf. */
void ctl_failure_format(char *buf, size_t size, const CtlOperation *op, const char *name, const char *message, int r);
