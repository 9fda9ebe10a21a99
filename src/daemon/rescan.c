/* SPDX-License-Identifier: MIT */

/* Rescan: enumerate again and tell the bus what came, went or changed. */

#include "bus-errors.h"
#include "daemon.h"
#include "log.h"
#include "message-ids.h"
#include "strv.h"

static void emit_device_changes(Daemon *d, const CcDevice *old, const CcDevice *now) {
        _cleanup_free_ char *path = bus_gpu_path(now->bdf);
        char *names[10];
        size_t n = 0;

        if (!path)
                return;
        if (old->cc_mode != now->cc_mode)
                names[n++] = (char *) "CcMode";
        if (old->ppcie_mode != now->ppcie_mode)
                names[n++] = (char *) "PpcieMode";
        if (old->nvlink_encryption != now->nvlink_encryption)
                names[n++] = (char *) "NvlinkEncryption";
        if (old->bar0_firewall != now->bar0_firewall)
                names[n++] = (char *) "Bar0Firewall";
        if (!streq_ptr(old->driver, now->driver))
                names[n++] = (char *) "Driver";
        if (old->iommu_group != now->iommu_group)
                names[n++] = (char *) "IommuGroup";
        if (!strv_equal(old->group_members, now->group_members))
                names[n++] = (char *) "GroupMembers";
        if (!streq_ptr(old->vfio_device, now->vfio_device))
                names[n++] = (char *) "VfioDevice";
        if (!streq_ptr(old->vfio_cdev, now->vfio_cdev))
                names[n++] = (char *) "VfioCdev";
        names[n] = NULL;
        if (n > 0)
                (void) sd_bus_emit_properties_changed_strv(d->bus, path, CC_GPU_INTERFACE, names);
}

int daemon_rescan(Daemon *d, sd_bus_error *error) {
        _cleanup_(cc_inventory_freep) CcInventory *old = NULL;
        CcInventory *now = NULL;
        CcError e = CC_ERROR_INIT;
        bool capable_before;
        size_t added = 0, removed = 0;
        int r;

        r = daemon_check_idle(d, error);
        if (r < 0)
                return r;

        r = cc_inventory_scan(d->host, &d->config, &now, &e);
        if (r < 0)
                return bus_error_from_cc(error, &e);

        capable_before = cc_inventory_cc_capable(d->inventory);
        old = d->inventory;
        d->inventory = now;

        for (size_t i = 0; i < old->n_devices; i++) {
                const CcDevice *o = old->devices[i];
                const CcDevice *n = cc_inventory_find(now, o->bdf);
                _cleanup_free_ char *path = bus_gpu_path(o->bdf);

                if (n)
                        emit_device_changes(d, o, n);
                else if (path) {
                        (void) sd_bus_emit_interfaces_removed(d->bus, path, CC_GPU_INTERFACE, NULL);
                        removed++;
                }
        }
        for (size_t i = 0; i < now->n_devices; i++) {
                _cleanup_free_ char *path = NULL;

                if (cc_inventory_find(old, now->devices[i]->bdf))
                        continue;
                path = bus_gpu_path(now->devices[i]->bdf);
                if (path) {
                        (void) sd_bus_emit_interfaces_added(d->bus, path, CC_GPU_INTERFACE, NULL);
                        added++;
                }
        }

        mode_control_publish_mode(d);
        if (capable_before != cc_inventory_cc_capable(now))
                (void) bus_manager_emit_changed(d, "CcCapable", NULL);
        if (added || removed)
                log_event(LOG_INFO, CC_MESSAGE_DEVICES_CHANGED, NULL,
                          "Rescan: %zu device%s added, %zu removed, %zu managed", added, added == 1 ? "" : "s",
                          removed, now->n_devices);
        return 0;
}
