/* SPDX-License-Identifier: MIT */
#pragma once

/* Read-only previews of SetMode and BindVfio: per device, what the
 * operation would do now, the driver it has, the processes holding it and
 * why.  They read sysfs, BAR0 status registers and /proc, and write
 * nothing anywhere.  They block (BAR0, a walk over /proc): worker thread. */

#include <stdbool.h>
#include <stddef.h>

#include "cc-error.h"
#include "hw-host.h"
#include "mode-switch.h"
#include "proc-holders.h"
#include "vfio-plan.h"

typedef enum PreviewAction {
        PREVIEW_ACTION_SWITCH,  /* SetMode would switch it */
        PREVIEW_ACTION_SKIP,    /* already where the operation takes it */
        PREVIEW_ACTION_BIND,    /* BindVfio would bind it to its VFIO driver */
        PREVIEW_ACTION_REFUSE,  /* a process holds it: the operation would be refused (Busy) */
        _PREVIEW_ACTION_MAX,
} PreviewAction;

typedef struct PreviewStep {
        char bdf[16];
        PreviewAction action;
        char *driver;           /* bound now; "" for none */
        HwHolders holders;      /* of the devices that would be unbound */
        char *reason;
        /* BindVfio only (vfio true): */
        bool vfio;
        int group;
        char **members;         /* the whole IOMMU group, sorted */
        char *vfio_driver;      /* the driver libkmod picks (or has) */
} PreviewStep;

typedef struct CcPreview {
        PreviewStep *steps;
        size_t n_steps;
} CcPreview;

CcPreview *cc_preview_free(CcPreview *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(CcPreview *, cc_preview_free);

/* "switch" "skip" "bind" "refuse" */
const char *preview_action_to_string(PreviewAction a);

/* SetMode(mode) on targets (from cc_switch_select()): a device whose
 * status already reads the mode is skipped, as the engine does (for ppcie
 * only when all do); the others are switched, or refused when held. */
int cc_preview_set_mode(HwHost *h, TargetMode mode, const CcSwitchTarget *targets, size_t n, CcPreview **ret,
                        CcError *err);

/* BindVfio with plan (from cc_vfio_plan_new(), VFIO_ACTION_BIND): one step
 * per device of each group. */
int cc_preview_bind_vfio(HwHost *h, const VfioPlan *plan, CcPreview **ret, CcError *err);

/* For the previews: a new step in p (zeroed, group -1); NULL on OOM. */
PreviewStep *cc_preview_add_step(CcPreview *p, const char *bdf);
/* Fills steps' holders for those whose `want` is set; refuses those held. */
int cc_preview_find_holders(HwHost *h, CcPreview *p, const bool *want, CcError *err);
