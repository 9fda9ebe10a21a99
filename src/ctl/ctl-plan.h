/* SPDX-License-Identifier: MIT */
#pragma once

/* The plans nvidia-ccctl --dry-run prints: what PlanSetMode() and
 * PlanBindVfio() return, one step per device, as a table for people and as
 * JSON.  Pure, like ctl-print.h. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctl-print.h"

typedef struct CtlHolder {
        uint32_t pid;
        char *command;
} CtlHolder;

typedef struct CtlPlanStep {
        char *device;
        char *action;           /* switch, skip, bind, refuse */
        char *driver;           /* "" when none */
        CtlHolder *holders;
        size_t n_holders;
        char *reason;
        bool vfio;              /* Group, Members and VfioDriver were sent */
        int32_t group;          /* -1 when not sent */
        char **members;
        char *vfio_driver;
} CtlPlanStep;

typedef struct CtlPlan {
        CtlPlanStep *steps;
        size_t n_steps;
} CtlPlan;

void ctl_plan_init(CtlPlan *p);
void ctl_plan_done(CtlPlan *p);
/* Appends an empty step; NULL on OOM. */
CtlPlanStep *ctl_plan_add_step(CtlPlan *p);
/* Appends a holder to s; -ENOMEM. */
int ctl_plan_step_add_holder(CtlPlanStep *s, uint32_t pid, const char *command);

/* Columns of the plan table, in order; the VFIO ones only for a plan of
 * BindVfio. */
typedef enum CtlPlanColumn {
        CTL_PLAN_COLUMN_DEVICE,
        CTL_PLAN_COLUMN_GROUP,
        CTL_PLAN_COLUMN_ACTION,
        CTL_PLAN_COLUMN_DRIVER,
        CTL_PLAN_COLUMN_VFIO_DRIVER,
        CTL_PLAN_COLUMN_HOLDERS,
        CTL_PLAN_COLUMN_REASON,
        _CTL_PLAN_COLUMN_MAX,
} CtlPlanColumn;

/* "nvidia-persistenced (1234), python3 (5678)"; "-" for none. */
const char *ctl_plan_cell(const CtlPlanStep *s, CtlPlanColumn c, char buf[static CTL_CELL_MAX]);

/* The table, then one line on what the operation would do ("set-mode on
 * would switch 6 devices, leave 2 as they are; nothing was changed.") or
 * why it would be refused.  operation: "set-mode on", "bind-vfio". */
void ctl_print_plan(FILE *f, const CtlPlan *p, const char *operation);

/* A JSON array, one object per step with the D-Bus keys; Holders as
 * [{"Pid":1234,"Command":"python3"}]. */
void ctl_print_plan_json(FILE *f, const CtlPlan *p);
