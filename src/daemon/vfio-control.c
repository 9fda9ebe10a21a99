/* SPDX-License-Identifier: MIT */

/* BindVfio and UnbindVfio on the bus: the request is checked and planned on
 * the event loop (nothing touched when it is refused), then carried out on a
 * worker thread; the reply, the journal events and the property changes
 * come when it is done. */

#include <sys/epoll.h>
#include <systemd/sd-daemon.h>

#include "bus-args.h"
#include "bus-errors.h"
#include "daemon.h"
#include "log.h"
#include "message-ids.h"
#include "strv.h"
#include "vfio-bind.h"

struct VfioJob {
        CcVfioJob *job;
        sd_event_source *source;
};

static struct VfioJob *vfio_job_free(struct VfioJob *v) {
        if (!v)
                return NULL;
        sd_event_source_unref(v->source);
        cc_vfio_job_free(v->job);
        free(v);
        return NULL;
}

void vfio_control_done(Daemon *d) {
        /* Joins a worker still running: its sysfs writes are short, and
         * leaving it would lose the record's last update. */
        d->vfio_job = vfio_job_free(d->vfio_job);
}

/* What the CDI specifications are made of: the kind of the GPUs' spec is
 * the device plugin's resource name, [Vfio] CdiKind=. */
static CcCdiDevice *inventory_cdi(const Daemon *d) {
        return cc_cdi_devices_new(d->inventory, d->config.cdi_kind);
}

/* Re-reads every device and tells the bus what changed. */
static void refresh_devices(Daemon *d) {
        for (size_t i = 0; i < d->inventory->n_devices; i++) {
                CcDevice *dev = d->inventory->devices[i];
                _cleanup_free_ char *driver = strdup(strempty(dev->driver)), *vfio = strdup(strempty(dev->vfio_device)),
                                    *cdev = strdup(strempty(dev->vfio_cdev)), *path = NULL;
                _cleanup_(strv_freep) char **members = NULL, **cdevs = NULL;
                char *names[8];
                size_t n = 0;
                int r;

                if (!driver || !vfio || !cdev)
                        continue;
                members = calloc(strv_length(dev->group_members) + 1, sizeof(char *));
                for (size_t k = 0; members && dev->group_members && dev->group_members[k]; k++)
                        members[k] = strdup(dev->group_members[k]);
                cdevs = calloc(strv_length(dev->group_vfio_cdevs) + 1, sizeof(char *));
                for (size_t k = 0; cdevs && dev->group_vfio_cdevs && dev->group_vfio_cdevs[k]; k++)
                        cdevs[k] = strdup(dev->group_vfio_cdevs[k]);

                r = cc_device_refresh(d->host, dev);
                if (r <= 0)
                        continue;
                if (!streq(driver, strempty(dev->driver)))
                        names[n++] = (char *) "Driver";
                if (!streq(vfio, strempty(dev->vfio_device)))
                        names[n++] = (char *) "VfioDevice";
                if (!streq(cdev, strempty(dev->vfio_cdev)))
                        names[n++] = (char *) "VfioCdev";
                if (!members || !strv_equal(members, dev->group_members))
                        names[n++] = (char *) "GroupMembers";
                if (!cdevs || !strv_equal(cdevs, dev->group_vfio_cdevs))
                        names[n++] = (char *) "GroupVfioCdevs";
                names[n] = NULL;
                path = bus_gpu_path(dev->bdf);
                if (n > 0 && path)
                        (void) sd_bus_emit_properties_changed_strv(d->bus, path, CC_GPU_INTERFACE, names);
        }
}

static void log_outcomes(CcVfioJob *job, int r, const CcError *e) {
        VfioAction action = cc_vfio_job_action(job);

        if (r < 0 && cc_vfio_job_refused(job)) {
                log_struct(LOG_WARNING,
                           LOG_MESSAGE_ID(CC_MESSAGE_DEVICE_IN_USE),
                           "CC_GPU=%s", strempty(cc_vfio_job_refused_device(job)),
                           "CC_OPERATION=%s-vfio", vfio_action_to_string(action),
                           LOG_MESSAGE("VFIO %s refused, nothing changed: %s", vfio_action_to_string(action),
                                       e->message),
                           NULL);
                return;
        }
        if (r < 0) {
                int k = e->errno_value ? e->errno_value : EIO;

                if (action == VFIO_ACTION_BIND && cc_vfio_job_failed_device(job))
                        log_struct(LOG_ERR,
                                   LOG_MESSAGE_ID(CC_MESSAGE_VFIO_ROLLED_BACK),
                                   "CC_GPU=%s", cc_vfio_job_failed_device(job),
                                   "CC_IOMMU_GROUP=%d", cc_vfio_job_failed_group(job),
                                   "CC_ERROR=%s (%s)", strerror(k), strerrorname_np(k) ?: "?",
                                   LOG_MESSAGE("VFIO bind failed: %s", e->message),
                                   NULL);
                else
                        log_error("VFIO %s failed: %s", vfio_action_to_string(action), e->message);
                return;
        }

        for (size_t i = 0; i < cc_vfio_job_n_outcomes(job); i++) {
                const VfioGroupOutcome *o = cc_vfio_job_outcome(job, i);

                if (!o->changed)
                        continue;
                if (action == VFIO_ACTION_BIND)
                        log_struct(LOG_INFO,
                                   LOG_MESSAGE_ID(CC_MESSAGE_VFIO_BOUND),
                                   "CC_GPU=%s", o->gpu,
                                   "CC_IOMMU_GROUP=%d", o->group,
                                   "CC_DRIVER=%s", o->driver,
                                   LOG_MESSAGE("IOMMU group %d of %s bound to %s", o->group, o->gpu, o->driver),
                                   NULL);
                else
                        log_struct(LOG_INFO,
                                   LOG_MESSAGE_ID(CC_MESSAGE_VFIO_UNBOUND),
                                   "CC_GPU=%s", o->gpu,
                                   "CC_IOMMU_GROUP=%d", o->group,
                                   "CC_DRIVER=%s", o->driver,
                                   LOG_MESSAGE("IOMMU group %d of %s released from VFIO, %s bound again", o->group,
                                               o->gpu, *o->driver ? o->driver : "no driver"),
                                   NULL);
        }
}

static int on_job_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Daemon *d = userdata;
        struct VfioJob *v = TAKE_PTR(d->vfio_job);
        CcError e = CC_ERROR_INIT;
        int r;

        r = cc_vfio_job_finish(v->job, &e);
        refresh_devices(d);
        log_outcomes(v->job, r, &e);
        (void) sd_notify(false, r < 0 ? "STATUS=VFIO request failed" : "STATUS=VFIO request done");
        vfio_job_free(v);
        operation_end(d, r, &e, NULL);
        return 0;
}

static void log_refused(VfioAction action, const CcError *e) {
        log_struct(LOG_WARNING,
                   LOG_MESSAGE_ID(CC_MESSAGE_VFIO_REFUSED),
                   "CC_ERROR=%s", e->message,
                   LOG_MESSAGE("VFIO %s refused: %s", vfio_action_to_string(action), e->message),
                   NULL);
}

int vfio_control_method(Daemon *d, sd_bus_message *m, VfioAction action, const char *bdf, sd_bus_error *error) {
        _cleanup_(strv_freep) char **bdfs = NULL;
        _cleanup_(cc_cdi_devices_freep) CcCdiDevice *cdi = NULL;
        _cleanup_(vfio_record_freep) VfioRecord *record = NULL;
        VfioPlan *plan = NULL;
        struct VfioJob *v;
        CcError e = CC_ERROR_INIT;
        int r;

        r = authorizer_check(d->authorizer, m, error);
        if (r <= 0)
                return r < 0 ? r : 1; /* 1: called again once polkit answers */

        if (bdf) {
                bdfs = calloc(2, sizeof(char *));
                if (!bdfs || !(bdfs[0] = strdup(bdf)))
                        return -ENOMEM;
        } else {
                r = bus_read_strv(m, BUS_ARRAY_MAX, "device addresses", &bdfs, error);
                if (r < 0)
                        return r;
        }

        r = operation_check_idle(d, error);
        if (r < 0)
                return r;

        r = vfio_record_load(d->state_dir, &record, &e);
        if (r >= 0)
                r = cc_vfio_plan_new(d->host, &d->config, d->inventory, action, bdfs, record, &plan, &e);
        if (r < 0) {
                log_refused(action, &e);
                return bus_error_from_cc(error, &e);
        }

        cdi = inventory_cdi(d);
        v = calloc(1, sizeof(*v));
        if (!cdi || !v) {
                free(v);
                cc_vfio_plan_free(plan);
                return -ENOMEM;
        }
        r = operation_begin(d, m, error, "A VFIO bind or unbind");
        if (r < 0) {
                free(v);
                cc_vfio_plan_free(plan);
                return r;
        }
        d->vfio_job = v;
        r = cc_vfio_job_new(d->host, d->state_dir, plan, cdi, &v->job);
        if (r >= 0)
                r = cc_vfio_job_start(v->job);
        if (r >= 0)
                r = sd_event_add_io(d->event, &v->source, cc_vfio_job_get_fd(v->job), EPOLLIN, on_job_done, d);
        if (r < 0) {
                d->vfio_job = vfio_job_free(v);
                operation_cancel(d);
                return sd_bus_error_set_errnof(error, r, "Cannot start the VFIO %s: %m", vfio_action_to_string(action));
        }
        (void) sd_notifyf(false, "STATUS=VFIO %s of %zu device%s", vfio_action_to_string(action),
                          cc_vfio_plan_n_changes(plan), cc_vfio_plan_n_changes(plan) == 1 ? "" : "s");
        return 1;
}

int vfio_control_recover(Daemon *d) {
        CcError e = CC_ERROR_INIT;
        int r;

        r = cc_vfio_recover(d->host, d->state_dir, &e);
        if (r < 0) {
                log_error("Cannot finish an interrupted VFIO request: %s", e.message);
                return r;
        }
        if (r > 0)
                log_struct(LOG_WARNING,
                           LOG_MESSAGE_ID(CC_MESSAGE_VFIO_ROLLED_BACK),
                           LOG_MESSAGE("A VFIO request was interrupted; %d device%s given back to the driver "
                                       "recorded before it", r, r == 1 ? "" : "s"),
                           NULL);
        return 0;
}

int vfio_control_sync_cdi(Daemon *d) {
        _cleanup_(cc_cdi_devices_freep) CcCdiDevice *cdi = inventory_cdi(d);
        CcError e = CC_ERROR_INIT;
        int r;

        if (!cdi)
                return -ENOMEM;
        r = cc_vfio_cdi_update(d->host, cdi, &e);
        if (r < 0)
                log_warning("Cannot update the CDI specifications: %s", e.message);
        return r;
}
