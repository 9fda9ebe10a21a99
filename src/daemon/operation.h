/* SPDX-License-Identifier: MIT */
#pragma once

/* The daemon's one mutating operation at a time (SetMode, BindVfio,
 * UnbindVfio, InstallKataArtifacts, RemoveKataArtifacts, Rescan, and the
 * switches the daemon starts itself), with one life for all of them:
 *
 *   operation_begin()   Busy if another runs, else this one is the one
 *   operation_cancel()  it could not be started: the method returns its
 *                       error itself, nothing is answered here
 *   operation_end()     the reply (its error, or its values), then the
 *                       stop a SIGTERM asked for while it ran
 *
 * The job itself (the switch, the VFIO job, ...) stays with its control
 * file; a SIGTERM while one runs waits for operation_end(), but for a
 * Kata pull, which is cancelled. */

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "cc-error.h"
#include "macro.h"

typedef struct Daemon Daemon;

typedef struct Operation {
        char *what;                /* "A switch to mode on": the subject of Busy */
        sd_bus_message *request;   /* the call to answer; NULL when the daemon started it */
} Operation;

/* 0 when no operation runs, else a Busy error naming the one that does. */
int operation_check_idle(const Daemon *d, sd_bus_error *error);
bool operation_running(const Daemon *d);

/* Busy when another runs; else this one runs from now on.  request may
 * be NULL.  what: "A switch to mode on", "A rescan of the PCI devices". */
int operation_begin(Daemon *d, sd_bus_message *request, sd_bus_error *error, const char *what_fmt, ...)
        _printf_(4, 5);
void operation_cancel(Daemon *d);

/* Answers the request, if any: the error e when r < 0, else a method
 * return with types and the values after it (types NULL: none).  Then the
 * operation is over, and the daemon exits if a stop was asked for. */
void operation_end(Daemon *d, int r, const CcError *e, const char *types, ...);

/* SIGTERM, SIGINT: exits now when idle, else once the operation ends
 * (a Kata pull in progress is cancelled first). */
void operation_request_exit(Daemon *d, int code);

Operation *operation_free(Operation *o);
