/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <sys/stat.h>

#include "kmod-vfio.h"
#include "pci-sysfs.h"
#include "strv.h"
#include "vfio-plan.h"

const char *vfio_action_to_string(VfioAction a) {
        return a == VFIO_ACTION_UNBIND ? "unbind" : "bind";
}

bool cc_pci_class_is_bridge(uint32_t class_code) {
        uint32_t c = class_code >> 8;
        /* Host bridge, PCI-to-PCI bridge, semi-transparent bridge.  Not
         * 0x0680: NVSwitches present themselves as "other bridge". */
        return c == 0x0600 || c == 0x0604 || c == 0x0609;
}

static void plan_device_done(VfioPlanDevice *d) {
        free(d->driver);
        free(d->module);
}

VfioPlan *cc_vfio_plan_free(VfioPlan *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_groups; i++) {
                for (size_t j = 0; j < p->groups[i].n_devices; j++)
                        plan_device_done(&p->groups[i].devices[j]);
                free(p->groups[i].devices);
        }
        free(p->groups);
        free(p);
        return NULL;
}

size_t cc_vfio_plan_n_changes(const VfioPlan *p) {
        size_t n = 0;

        for (size_t i = 0; i < p->n_groups; i++)
                for (size_t j = 0; j < p->groups[i].n_devices; j++)
                        n += p->groups[i].devices[j].change;
        return n;
}

const VfioPlanDevice *cc_vfio_plan_group_target(const VfioPlanGroup *g) {
        for (size_t j = 0; j < g->n_devices; j++)
                if (g->devices[j].target)
                        return &g->devices[j];
        return g->n_devices > 0 ? &g->devices[0] : NULL;
}

/* NVIDIA's own functions and the configured extra devices are ours; any
 * other vendor's device is a stranger's. */
static bool device_is_ours(const CcConfig *c, uint16_t vendor_id, uint16_t device_id) {
        if (vendor_id == NVIDIA_VENDOR_ID)
                return true;
        for (size_t i = 0; i < c->n_extra_devices; i++)
                if (c->extra_devices[i].vendor_id == vendor_id && c->extra_devices[i].device_id == device_id)
                        return true;
        return false;
}

/* The targets of a request, checked, as a strv. */
static int choose_targets(HwHost *h, const CcConfig *c, const CcInventory *inv, VfioAction action,
                          char *const *bdfs, char ***ret, CcError *err) {
        _cleanup_(strv_freep) char **l = NULL;
        size_t n = 0, max = strv_length((char **) bdfs);

        if (max == 0)
                max = inv->n_devices;
        l = calloc(max + 1, sizeof(char *));
        if (!l)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");

        if (!bdfs || !*bdfs) {
                for (size_t i = 0; i < inv->n_devices; i++) {
                        const CcDevice *d = inv->devices[i];
                        if (d->kind == DEVICE_KIND_NVSWITCH && !c->bind_nvswitches)
                                continue;
                        if (!(l[n++] = strdup(d->bdf)))
                                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
                }
                if (n == 0)
                        return cc_error_set(err, CC_ERROR_NOT_FOUND, ENODEV, "No NVIDIA GPU to %s%s",
                                            vfio_action_to_string(action),
                                            c->bind_nvswitches ? " and no NVSwitch" : "");
                *ret = TAKE_PTR(l);
                return 0;
        }

        for (char *const *b = bdfs; *b; b++) {
                const CcDevice *d;
                bool seen = false;

                if (!hw_pci_bdf_is_valid(*b))
                        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                            "\"%s\" is not a PCI address (expected DOMAIN:BUS:DEVICE.FUNCTION, e.g. 0000:65:00.0)",
                                            *b);
                if (!hw_pci_device_exists(h, *b))
                        return cc_error_set(err, CC_ERROR_NOT_FOUND, ENODEV, "No PCI device %s on this host", *b);
                d = cc_inventory_find(inv, *b);
                if (!d) {
                        uint16_t vendor = 0, device = 0;
                        uint32_t class_code = 0;
                        (void) hw_pci_get_ids(h, *b, &vendor, &device, &class_code);
                        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                            "%s (%04x:%04x, class %06x) is not an NVIDIA GPU, NVSwitch or configured extra device; "
                                            "name the GPU, its group's other functions go with it",
                                            *b, vendor, device, class_code);
                }
                for (size_t i = 0; i < n; i++)
                        seen = seen || streq(l[i], *b);
                if (!seen && !(l[n++] = strdup(*b)))
                        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int no_iommu_error(HwHost *h, const char *bdf, CcError *err) {
        _cleanup_free_ char *groups = hw_path(h, "sys/kernel/iommu_groups");
        struct stat st;
        bool missing = !groups || stat(groups, &st) < 0;

        return cc_error_set(err, CC_ERROR_HOST_NOT_READY, ENXIO,
                            "%s has no IOMMU group (%s): the IOMMU is off. Enable VT-d (Intel) or AMD-Vi (AMD) "
                            "in the firmware setup and boot with intel_iommu=on or amd_iommu=on on the kernel command line",
                            bdf, missing ? "no /sys/kernel/iommu_groups" : "not in /sys/kernel/iommu_groups");
}

static int compare_groups(const void *a, const void *b) {
        const VfioPlanGroup *x = a, *y = b;
        return (x->group > y->group) - (x->group < y->group);
}

/* Fills one group: its endpoints and what to do with each. */
static int plan_group(HwHost *h, const CcConfig *c, VfioAction action, const VfioRecord *record,
                      char *const *targets, const char *first_target, int group, VfioPlanGroup *ret, CcError *err) {
        _cleanup_(strv_freep) char **members = NULL;
        size_t n_members;
        int r;

        r = hw_pci_get_group_members(h, first_target, &members);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, -r, "%s: cannot list IOMMU group %d: %s", first_target,
                                    group, strerror(-r));
        n_members = strv_length(members);
        ret->group = group;
        ret->devices = calloc(n_members ? n_members : 1, sizeof(VfioPlanDevice));
        if (!ret->devices)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");

        for (char **m = members; *m; m++) {
                VfioPlanDevice *d = &ret->devices[ret->n_devices];
                const VfioRecordEntry *rec = vfio_record_find(record, *m);
                bool ours, vfio;

                *d = (VfioPlanDevice) {};
                r = hw_pci_get_ids(h, *m, &d->vendor_id, &d->device_id, &d->class_code);
                if (r == -ENODEV)
                        continue; /* gone since the group was listed */
                if (r < 0)
                        return cc_error_set(err, CC_ERROR_HOST_NOT_READY, -r, "%s: cannot read its ids: %s", *m, strerror(-r));
                if (cc_pci_class_is_bridge(d->class_code))
                        continue;
                r = hw_pci_get_driver(h, *m, &d->driver);
                if (r < 0)
                        return cc_error_set(err, CC_ERROR_HOST_NOT_READY, -r, "%s: cannot read its driver: %s", *m,
                                            strerror(-r));
                snprintf(d->bdf, sizeof(d->bdf), "%s", *m);
                ret->n_devices++;

                for (char *const *t = targets; *t; t++)
                        d->target = d->target || streq(*t, *m);
                ours = device_is_ours(c, d->vendor_id, d->device_id);
                vfio = hw_driver_is_vfio(d->driver);

                if (action == VFIO_ACTION_UNBIND) {
                        /* A stranger's device is given back only if this
                         * daemon took it (it was unbound then). */
                        d->change = (vfio && (ours || rec)) || (rec && rec->state != VFIO_RECORD_BOUND);
                        continue;
                }

                if (!ours && d->driver && !vfio)
                        return cc_error_set(err, CC_ERROR_NOT_CAPABLE, EBUSY,
                                            "IOMMU group %d of %s also holds %s (%04x:%04x, class %06x), a device of another "
                                            "vendor bound to %s; refusing to take it from its driver. Devices of one group "
                                            "can only be passed through together: move the GPU to a slot with its own group "
                                            "or enable ACS on the PCIe switch",
                                            group, first_target, *m, d->vendor_id, d->device_id, d->class_code, d->driver);
                d->change = !vfio;
                if (d->change) {
                        r = hw_vfio_resolve_module(h, *m, &d->module);
                        if (r < 0)
                                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, -r,
                                                    "%s: cannot find its VFIO driver: %s", *m, strerror(-r));
                }
        }
        return 0;
}

int cc_vfio_plan_new(HwHost *h, const CcConfig *c, const CcInventory *inv, VfioAction action,
                     char *const *bdfs, const VfioRecord *record, VfioPlan **ret, CcError *err) {
        _cleanup_(cc_vfio_plan_freep) VfioPlan *p = NULL;
        _cleanup_(strv_freep) char **targets = NULL;
        size_t n_targets;
        int r;

        assert(h);
        assert(c);
        assert(inv);
        assert(ret);

        r = choose_targets(h, c, inv, action, bdfs, &targets, err);
        if (r < 0)
                return r;
        n_targets = strv_length(targets);

        p = calloc(1, sizeof(VfioPlan));
        if (!p || !(p->groups = calloc(n_targets, sizeof(VfioPlanGroup))))
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
        p->action = action;

        for (size_t i = 0; i < n_targets; i++) {
                bool planned = false;
                int group;

                r = hw_pci_get_iommu_group(h, targets[i], &group);
                if (r < 0)
                        return cc_error_set(err, CC_ERROR_HOST_NOT_READY, -r, "%s: cannot read its IOMMU group: %s",
                                            targets[i], strerror(-r));
                if (group < 0) {
                        /* Nothing bound to vfio without a group: an unbind
                         * has nothing to do. */
                        if (action == VFIO_ACTION_UNBIND)
                                continue;
                        return no_iommu_error(h, targets[i], err);
                }
                for (size_t j = 0; j < p->n_groups; j++)
                        planned = planned || p->groups[j].group == group;
                if (planned)
                        continue;
                r = plan_group(h, c, action, record, targets, targets[i], group, &p->groups[p->n_groups++], err);
                if (r < 0)
                        return r;
        }
        qsort(p->groups, p->n_groups, sizeof(VfioPlanGroup), compare_groups);
        *ret = TAKE_PTR(p);
        return 0;
}
