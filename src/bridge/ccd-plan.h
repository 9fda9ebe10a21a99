/* SPDX-License-Identifier: MIT */
#pragma once

/* The answer of Manager.PlanSetMode (docs/dbus-api.md): what SetMode would
 * do to each device, read without changing anything.  The bridge asks for it
 * before it pauses the operands, so that a switch nvidia-ccd would refuse
 * (a GPU held open, a device that cannot take the mode) costs the cluster
 * nothing. */

#include <glib.h>
#include <systemd/sd-bus.h>

typedef struct CcdPlanStep {
        char *device;  /* PCI address */
        char *action;  /* switch, skip, refuse */
        char *reason;  /* may be empty */
        char *holders; /* "1234 (python3), 99 (Xorg)", or NULL when none */
        GArray *holder_pids; /* of uint32_t */
} CcdPlanStep;

typedef struct CcdPlan {
        GPtrArray *steps; /* of CcdPlanStep */
} CcdPlan;

/* Reads the aa{sv} reply.  Keys it does not know, and the VFIO keys, are
 * skipped; a known key with another type is an error (-EBADMSG). */
int ccd_plan_read(sd_bus_message *m, CcdPlan **ret);
CcdPlan *ccd_plan_free(CcdPlan *p);

/* The steps whose Action is "refuse". */
unsigned ccd_plan_n_refused(const CcdPlan *p);
/* For people: "0000:65:00.0: REASON (held open by 1234 (python3)); ...",
 * one entry per refused device; the holders only where the reason does
 * not name their pids already. */
char *ccd_plan_describe_refusals(const CcdPlan *p);
