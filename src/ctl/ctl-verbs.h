/* SPDX-License-Identifier: MIT */
#pragma once

/* The commands; each returns the exit code. */

#include <stddef.h>
#include <systemd/sd-bus.h>

#include "ctl-args.h"
#include "ctl-errors.h"

typedef struct CtlContext {
        sd_bus *bus;
        const CtlArgs *args;
        size_t columns;  /* terminal width the table must fit, 0: no limit */
        bool interactive; /* polkit may ask for a password (an agent runs) */
} CtlContext;

/* A failed call: the line for people on stderr (and, with --json, the
 * error object on stdout); returns the exit code. */
int ctl_report_failure(const CtlContext *c, const CtlOperation *op, const sd_bus_error *error, int r);

int verb_status(const CtlContext *c);
int verb_list(const CtlContext *c);
int verb_set_mode(const CtlContext *c);
int verb_bind_vfio(const CtlContext *c);
int verb_unbind_vfio(const CtlContext *c);
/* ctl-artifacts.c */
int verb_install_artifacts(const CtlContext *c);
int verb_remove_artifacts(const CtlContext *c);
