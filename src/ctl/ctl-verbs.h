/* SPDX-License-Identifier: MIT */
#pragma once

/* The commands; each returns the exit code. */

#include <stddef.h>
#include <systemd/sd-bus.h>

#include "ctl-args.h"

typedef struct CtlContext {
        sd_bus *bus;
        const CtlArgs *args;
        size_t columns;  /* terminal width the table must fit, 0: no limit */
} CtlContext;

int verb_status(const CtlContext *c);
int verb_list(const CtlContext *c);
int verb_set_mode(const CtlContext *c);
int verb_bind_vfio(const CtlContext *c);
int verb_unbind_vfio(const CtlContext *c);
/* ctl-artifacts.c */
int verb_install_artifacts(const CtlContext *c);
int verb_remove_artifacts(const CtlContext *c);
