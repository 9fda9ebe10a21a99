/* SPDX-License-Identifier: MIT */

/* Rescan: enumerate again and tell the bus what came, went or changed. */

#include <assert.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "bus-errors.h"
#include "daemon.h"
#include "log.h"
#include "message-ids.h"
#include "strv.h"
#include "work-thread.h"

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
        if (!strv_equal(old->group_vfio_cdevs, now->group_vfio_cdevs))
                names[n++] = (char *) "GroupVfioCdevs";
        names[n] = NULL;
        if (n > 0)
                (void) sd_bus_emit_properties_changed_strv(d->bus, path, CC_GPU_INTERFACE, names);
}

/* Swaps in a fresh inventory and tells the bus what came, went or changed. */
static void apply_inventory(Daemon *d, CcInventory *now) {
        _cleanup_(cc_inventory_freep) CcInventory *old = NULL;
        bool capable_before;
        size_t added = 0, removed = 0;

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
                log_struct(LOG_INFO,
                           LOG_MESSAGE_ID(CC_MESSAGE_DEVICES_CHANGED),
                           LOG_MESSAGE("Rescan: %zu device%s added, %zu removed, %zu managed", added,
                                       added == 1 ? "" : "s", removed, now->n_devices),
                           NULL);
}

/* The scan runs on a worker thread: with GPUs on the nvidia driver it waits
 * for the NVML helper, which can take seconds on a host without a
 * persistence daemon.  Mutating calls get Busy meanwhile, so the host and
 * the configuration the worker reads stay as they are. */
typedef struct RescanJob {
        Daemon *daemon;
        WorkThread *worker;
        sd_event_source *source;
        CcInventory *result;
} RescanJob;

static RescanJob *rescan_job_free(RescanJob *j) {
        if (!j)
                return NULL;
        work_thread_free(j->worker);
        sd_event_source_disable_unref(j->source);
        cc_inventory_free(j->result);
        free(j);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(RescanJob *, rescan_job_free);

static int rescan_work(void *userdata, CcError *err) {
        RescanJob *j = userdata;

        return cc_inventory_scan(j->daemon->host, &j->daemon->config, &j->result, err);
}

static int on_rescan_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Daemon *d = userdata;
        _cleanup_(rescan_job_freep) RescanJob *j = TAKE_PTR(d->rescan_job);
        CcError e = CC_ERROR_INIT;
        int r;

        r = work_thread_finish(j->worker, &e);
        if (r >= 0)
                apply_inventory(d, TAKE_PTR(j->result));
        operation_end(d, r, &e, NULL);
        return 0;
}

int daemon_rescan_start(Daemon *d, sd_bus_message *m, sd_bus_error *error) {
        _cleanup_(rescan_job_freep) RescanJob *j = NULL;
        int r;

        assert(d);
        assert(m);

        r = operation_begin(d, m, error, "A rescan of the PCI devices");
        if (r < 0)
                return r;

        j = calloc(1, sizeof(RescanJob));
        if (!j)
                r = -ENOMEM;
        else {
                j->daemon = d;
                r = work_thread_start(rescan_work, j, &j->worker);
        }
        if (r >= 0)
                r = sd_event_add_io(d->event, &j->source, work_thread_get_fd(j->worker), EPOLLIN, on_rescan_done, d);
        if (r < 0) {
                operation_cancel(d);
                return sd_bus_error_set_errnof(error, r, "Cannot start the rescan: %m");
        }
        d->rescan_job = TAKE_PTR(j);
        return 1;
}

void daemon_rescan_job_free(struct RescanJob *j) {
        rescan_job_free(j);
}
