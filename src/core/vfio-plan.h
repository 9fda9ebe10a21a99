/* SPDX-License-Identifier: MIT */
#pragma once

/* VFIO binding, planned before anything is touched.  A request names GPUs
 * (or NVSwitches); the plan takes each one's whole IOMMU group: every
 * endpoint (audio, USB and UCSI functions too), bridges left out, because
 * only a whole group can be handed to a virtual machine.  Everything that
 * can be refused is refused here, with nothing changed:
 *   - a malformed address (InvalidArgument), an absent device (NotFound),
 *     a device that is not a managed GPU or NVSwitch (InvalidArgument);
 *   - a target without an IOMMU group (HostNotReady, with the fix);
 *   - for a bind, a group that holds another vendor's device bound to a
 *     driver (NotCapable, naming it): a stranger's device is never taken
 *     from its driver.
 * Devices already where they should be are in the plan as no-ops, so both
 * directions are idempotent. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cc-error.h"
#include "config.h"
#include "device.h"
#include "hw-host.h"
#include "vfio-record.h"

typedef enum VfioAction {
        VFIO_ACTION_BIND,
        VFIO_ACTION_UNBIND,
} VfioAction;

typedef struct VfioPlanDevice {
        char bdf[16];
        uint16_t vendor_id;
        uint16_t device_id;
        uint32_t class_code;
        bool target;       /* named by the request (or chosen for an empty one) */
        bool change;       /* false: already where the action takes it */
        char *driver;      /* bound now; NULL when none */
        char *module;      /* bind: the VFIO module that serves it */
} VfioPlanDevice;

typedef struct VfioPlanGroup {
        int group;
        VfioPlanDevice *devices; /* endpoints, sorted by address */
        size_t n_devices;
} VfioPlanGroup;

typedef struct VfioPlan {
        VfioAction action;
        VfioPlanGroup *groups;   /* sorted by group number */
        size_t n_groups;
} VfioPlan;

/* bdfs NULL or empty: every GPU of the inventory, and every NVSwitch with
 * [Vfio] BindNvSwitches=true.  record (may be NULL) tells which devices an
 * unbind may give back to their driver. */
int cc_vfio_plan_new(HwHost *h, const CcConfig *c, const CcInventory *inv, VfioAction action,
                     char *const *bdfs, const VfioRecord *record, VfioPlan **ret, CcError *err);
VfioPlan *cc_vfio_plan_free(VfioPlan *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(VfioPlan *, cc_vfio_plan_free);

/* Devices the plan changes. */
size_t cc_vfio_plan_n_changes(const VfioPlan *p);

/* The first target of a group (the GPU a journal event names). */
const VfioPlanDevice *cc_vfio_plan_group_target(const VfioPlanGroup *g);

const char *vfio_action_to_string(VfioAction a); /* "bind" "unbind" */

/* Whether the class code is a bridge's (host, PCI-to-PCI), which stays out
 * of the plan: vfio does not need bridges in the group to be bound. */
bool cc_pci_class_is_bridge(uint32_t class_code);
