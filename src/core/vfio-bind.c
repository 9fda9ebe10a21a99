/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "in-use.h"
#include "kmod-vfio.h"
#include "log.h"
#include "pci-sysfs.h"
#include "strv.h"
#include "vfio-bind.h"
#include "work-thread.h"

struct CcVfioJob {
        HwHost *host;
        char *state_dir;
        VfioPlan *plan;
        CcCdiDevice *cdi;

        VfioGroupOutcome *outcomes;
        size_t n_outcomes;
        char failed_device[16];
        int failed_group;
        bool rolled_back;
        bool refused;            /* a device was in use: nothing touched */
        char refused_device[16];

        WorkThread *worker;
        CcError error;
};

/* A plan's devices in order, with what the job learns about each. */
typedef struct Step {
        VfioPlanDevice *device;
        int group;
        char *vfio_driver;  /* bind: the driver its module registers */
        bool touched;       /* bind: something was written for it */
} Step;

int cc_vfio_job_new(HwHost *h, const char *state_dir, VfioPlan *plan, const CcCdiDevice *cdi, CcVfioJob **ret) {
        _cleanup_(cc_vfio_job_freep) CcVfioJob *j = NULL;

        assert(h);
        assert(state_dir);
        assert(plan);
        assert(ret);

        j = calloc(1, sizeof(CcVfioJob));
        if (!j) {
                cc_vfio_plan_free(plan);
                return -ENOMEM;
        }
        j->plan = plan;
        j->host = h;
        j->failed_group = -1;
        j->state_dir = strdup(state_dir);
        j->cdi = cc_cdi_devices_copy(cdi);
        j->outcomes = calloc(plan->n_groups ? plan->n_groups : 1, sizeof(VfioGroupOutcome));
        if (!j->state_dir || !j->cdi || !j->outcomes)
                return -ENOMEM;
        *ret = TAKE_PTR(j);
        return 0;
}

CcVfioJob *cc_vfio_job_free(CcVfioJob *j) {
        if (!j)
                return NULL;
        /* Joins a job still running: its sysfs writes are bounded, and
         * leaving it would lose the record's last update. */
        work_thread_free(j->worker);
        cc_vfio_plan_free(j->plan);
        cc_cdi_devices_free(j->cdi);
        free(j->outcomes);
        free(j->state_dir);
        free(j);
        return NULL;
}

/* driver_override, unbind, bind.  The override first, so that nothing
 * else can claim the device between the unbind and the bind. */
static int bind_device(HwHost *h, const char *bdf, const char *driver, const char **ret_step) {
        _cleanup_free_ char *now = NULL;
        int r;

        *ret_step = "set driver_override on";
        r = hw_pci_set_driver_override(h, bdf, driver);
        if (r < 0)
                return r;
        *ret_step = "unbind";
        r = hw_pci_unbind(h, bdf);
        if (r < 0)
                return r;
        *ret_step = "bind to";
        r = hw_pci_bind(h, bdf, driver);
        if (r < 0 && hw_pci_get_driver(h, bdf, &now) >= 0 && streq_ptr(now, driver))
                return 0; /* the kernel probed it already */
        return r;
}

/* Clears driver_override and gives the device back to previous ("": none;
 * NULL: unknown, the kernel chooses through drivers_probe). */
static int restore_device(HwHost *h, const char *bdf, const char *previous) {
        _cleanup_free_ char *now = NULL, *after = NULL;
        int r, k;

        r = hw_pci_set_driver_override(h, bdf, NULL);
        if (r < 0)
                return r;
        r = hw_pci_get_driver(h, bdf, &now);
        if (r < 0)
                return r;
        if (previous && *previous && streq_ptr(now, previous))
                return 0;
        if (now) {
                r = hw_pci_unbind(h, bdf);
                if (r < 0)
                        return r;
        }
        if (previous && !*previous)
                return 0;
        if (!previous)
                return hw_pci_probe(h, bdf);

        r = hw_pci_bind(h, bdf, previous);
        if (r >= 0)
                return 0;
        /* The driver may have been loaded again under a new name, or
         * refuses a direct bind: let the kernel match it. */
        k = hw_pci_probe(h, bdf);
        if (k >= 0 && hw_pci_get_driver(h, bdf, &after) >= 0 && streq_ptr(after, previous))
                return 0;
        return r;
}

static const char *errno_name(int e) {
        const char *n = strerrorname_np(e);
        return n ? n : "?";
}

static int collect_steps(VfioPlan *p, Step **ret, size_t *ret_n) {
        size_t n = 0;
        Step *steps;

        steps = calloc(cc_vfio_plan_n_changes(p) + 1, sizeof(Step));
        if (!steps)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_groups; i++)
                for (size_t k = 0; k < p->groups[i].n_devices; k++)
                        if (p->groups[i].devices[k].change)
                                steps[n++] = (Step) { .device = &p->groups[i].devices[k], .group = p->groups[i].group };
        *ret = steps;
        *ret_n = n;
        return 0;
}

static void steps_free(Step *steps, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(steps[i].vfio_driver);
        free(steps);
}

static void fill_outcomes(CcVfioJob *j, Step *steps, size_t n_steps) {
        for (size_t i = 0; i < j->plan->n_groups; i++) {
                const VfioPlanGroup *g = &j->plan->groups[i];
                const VfioPlanDevice *t = cc_vfio_plan_group_target(g);
                VfioGroupOutcome *o = &j->outcomes[j->n_outcomes++];
                _cleanup_free_ char *driver = NULL;

                o->group = g->group;
                snprintf(o->gpu, sizeof(o->gpu), "%s", t ? t->bdf : "");
                for (size_t k = 0; k < g->n_devices; k++)
                        o->changed = o->changed || g->devices[k].change;
                if (t && hw_pci_get_driver(j->host, t->bdf, &driver) >= 0)
                        snprintf(o->driver, sizeof(o->driver), "%s", strempty(driver));
        }
}

/* Gives every touched device back to its recorded driver, last first. */
static int roll_back(CcVfioJob *j, VfioRecord *record, Step *steps, size_t n_steps, CcError *rollback_err) {
        int ret = 0;

        for (size_t i = n_steps; i-- > 0;) {
                const VfioRecordEntry *e = vfio_record_find(record, steps[i].device->bdf);
                int r;

                if (!steps[i].touched)
                        continue;
                r = restore_device(j->host, steps[i].device->bdf, e ? e->previous_driver : NULL);
                if (r < 0) {
                        log_error("%s: cannot give it back to %s: %s", steps[i].device->bdf,
                                  e && *e->previous_driver ? e->previous_driver : "no driver", strerror(-r));
                        if (ret == 0)
                                ret = cc_error_set(rollback_err, CC_ERROR_HARDWARE_FAILURE, -r,
                                                   "rolling back failed on %s: %s (%s)", steps[i].device->bdf,
                                                   strerror(-r), errno_name(-r));
                        /* Left as it is: keep the record so an unbind or
                         * the next start can finish it. */
                        continue;
                }
                vfio_record_remove(record, steps[i].device->bdf);
        }
        for (size_t i = 0; i < n_steps; i++)
                if (!steps[i].touched)
                        vfio_record_remove(record, steps[i].device->bdf);
        return ret;
}

static int run_bind(CcVfioJob *j, VfioRecord *record, Step *steps, size_t n_steps) {
        CcError rollback_err = CC_ERROR_INIT;
        size_t failed = SIZE_MAX;
        const char *step = NULL;
        int r;

        /* The record first: from here on a crash is rolled back at start. */
        for (size_t i = 0; i < n_steps; i++) {
                r = vfio_record_put(record, steps[i].device->bdf, steps[i].group, steps[i].device->driver,
                                    VFIO_RECORD_BINDING);
                if (r < 0)
                        return cc_error_set(&j->error, CC_ERROR_INTERNAL, -r, "Out of memory");
        }
        r = vfio_record_save(record);
        if (r < 0)
                return cc_error_set(&j->error, CC_ERROR_INTERNAL, -r, "Cannot record the bind in %s: %s",
                                    j->state_dir, strerror(-r));

        for (size_t i = 0; i < n_steps && failed == SIZE_MAX; i++) {
                r = hw_vfio_load_module(j->host, steps[i].device->module, &steps[i].vfio_driver);
                if (r < 0) {
                        failed = i;
                        cc_error_set(&j->error, CC_ERROR_HOST_NOT_READY, -r, "%s: cannot load the module %s: %s (%s)",
                                     steps[i].device->bdf, steps[i].device->module, strerror(-r), errno_name(-r));
                }
        }
        for (size_t i = 0; i < n_steps && failed == SIZE_MAX; i++) {
                steps[i].touched = true;
                r = bind_device(j->host, steps[i].device->bdf, steps[i].vfio_driver, &step);
                if (r < 0) {
                        const char *object = streq(step, "unbind") ? strempty(steps[i].device->driver)
                                                                   : steps[i].vfio_driver;
                        _cleanup_free_ char *what = NULL;

                        failed = i;
                        if (asprintf(&what, "%s%s %s", step, streq(step, "unbind") ? " from" : "", object) >= 0 &&
                            cc_error_from_stuck_write(j->host, r, steps[i].device->bdf, what, &j->error))
                                cc_error_prefix(&j->error, "%s", steps[i].device->bdf);
                        else
                                cc_error_set(&j->error, CC_ERROR_HARDWARE_FAILURE, -r, "%s: cannot %s %s: %s (%s)",
                                             steps[i].device->bdf, step, object, strerror(-r), errno_name(-r));
                }
        }

        if (failed == SIZE_MAX) {
                for (size_t i = 0; i < n_steps; i++)
                        (void) vfio_record_put(record, steps[i].device->bdf, steps[i].group,
                                               steps[i].device->driver, VFIO_RECORD_BOUND);
                r = vfio_record_save(record);
                if (r < 0)
                        log_warning_errno(r, "Bound, but cannot update the record in %s: %m", j->state_dir);
                return 0;
        }

        snprintf(j->failed_device, sizeof(j->failed_device), "%s", steps[failed].device->bdf);
        j->failed_group = steps[failed].group;
        r = roll_back(j, record, steps, n_steps, &rollback_err);
        j->rolled_back = r >= 0;
        {
                size_t len = strlen(j->error.message);
                snprintf(j->error.message + len, sizeof(j->error.message) - len, "; %s",
                         r >= 0 ? "rolled back: every device of the request is on the driver it had before"
                                : rollback_err.message);
        }
        r = vfio_record_save(record);
        if (r < 0)
                log_warning_errno(r, "Cannot update the record in %s: %m", j->state_dir);
        return -(j->error.errno_value ? j->error.errno_value : EIO);
}

static int run_unbind(CcVfioJob *j, VfioRecord *record, Step *steps, size_t n_steps) {
        int ret = 0, r;

        for (size_t i = 0; i < n_steps; i++) {
                VfioRecordEntry *e = vfio_record_find(record, steps[i].device->bdf);
                if (e)
                        e->state = VFIO_RECORD_UNBINDING;
        }
        r = vfio_record_save(record);
        if (r < 0)
                return cc_error_set(&j->error, CC_ERROR_INTERNAL, -r, "Cannot record the unbind in %s: %s",
                                    j->state_dir, strerror(-r));

        for (size_t i = 0; i < n_steps; i++) {
                VfioRecordEntry *e = vfio_record_find(record, steps[i].device->bdf);
                const char *bdf = steps[i].device->bdf;

                r = restore_device(j->host, bdf, e ? e->previous_driver : NULL);
                if (r >= 0) {
                        vfio_record_remove(record, bdf);
                        continue;
                }
                log_error("%s: cannot give it back to %s: %s", bdf,
                          e ? (*e->previous_driver ? e->previous_driver : "no driver") : "its driver", strerror(-r));
                if (e)
                        e->state = VFIO_RECORD_BOUND;
                if (ret == 0) {
                        const char *to = e ? (*e->previous_driver ? e->previous_driver : "no driver") : "its driver";
                        _cleanup_free_ char *what = NULL;

                        if (asprintf(&what, "giving it back to %s", to) >= 0 &&
                            cc_error_from_stuck_write(j->host, r, bdf, what, &j->error)) {
                                cc_error_prefix(&j->error, "%s", bdf);
                                ret = -ETIMEDOUT;
                        } else
                                ret = cc_error_set(&j->error, CC_ERROR_HARDWARE_FAILURE, -r,
                                                   "%s: cannot give it back to %s: %s (%s)", bdf, to, strerror(-r),
                                                   errno_name(-r));
                        snprintf(j->failed_device, sizeof(j->failed_device), "%s", bdf);
                        j->failed_group = steps[i].group;
                }
        }
        r = vfio_record_save(record);
        if (r < 0)
                log_warning_errno(r, "Cannot update the record in %s: %m", j->state_dir);
        return ret;
}

/* No device is taken from its driver while a process holds it open (a VM
 * its VFIO group, a CUDA job the GPU): the driver's remove would wait for
 * that process.  Checked for every device the job unbinds, before the
 * first is touched. */
static int refuse_if_in_use(CcVfioJob *j, Step *steps, size_t n_steps) {
        _cleanup_(strv_freep) char **bdfs = calloc(n_steps + 1, sizeof(char *));
        size_t n = 0;
        int r;

        if (!bdfs)
                return cc_error_set(&j->error, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
        for (size_t i = 0; i < n_steps; i++)
                if (steps[i].device->driver && !(bdfs[n++] = strdup(steps[i].device->bdf)))
                        return cc_error_set(&j->error, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
        r = cc_check_not_in_use(j->host, bdfs, j->refused_device, &j->error);
        if (r < 0 && j->error.kind == CC_ERROR_BUSY)
                j->refused = true;
        return r;
}

int cc_vfio_job_run(CcVfioJob *j, CcError *err) {
        _cleanup_(vfio_record_freep) VfioRecord *record = NULL;
        CcError cdi_err = CC_ERROR_INIT;
        Step *steps = NULL;
        size_t n_steps = 0;
        int r;

        assert(j);

        r = vfio_record_load(j->state_dir, &record, &j->error);
        if (r >= 0) {
                r = collect_steps(j->plan, &steps, &n_steps);
                if (r < 0)
                        r = cc_error_set(&j->error, CC_ERROR_INTERNAL, -r, "Out of memory");
        }
        if (r >= 0 && n_steps > 0)
                r = refuse_if_in_use(j, steps, n_steps);
        if (r >= 0 && n_steps > 0)
                r = j->plan->action == VFIO_ACTION_BIND ? run_bind(j, record, steps, n_steps)
                                                        : run_unbind(j, record, steps, n_steps);
        if (steps)
                fill_outcomes(j, steps, n_steps);
        steps_free(steps, n_steps);

        /* A refused job touched nothing, the CDI specifications included. */
        if (!j->refused && cc_vfio_cdi_update(j->host, j->cdi, &cdi_err) < 0)
                log_warning("Cannot update the CDI specifications: %s", cdi_err.message);

        if (r < 0 && err)
                *err = j->error;
        return r;
}

static int job_work(void *userdata, CcError *err) {
        return cc_vfio_job_run(userdata, err);
}

int cc_vfio_job_start(CcVfioJob *j) {
        assert(j);
        assert(!j->worker);

        return work_thread_start(job_work, j, &j->worker);
}

int cc_vfio_job_get_fd(CcVfioJob *j) {
        return j->worker ? work_thread_get_fd(j->worker) : -1;
}

int cc_vfio_job_finish(CcVfioJob *j, CcError *err) {
        assert(j);
        assert(j->worker);

        return work_thread_finish(j->worker, err);
}

VfioAction cc_vfio_job_action(const CcVfioJob *j) {
        return j->plan->action;
}

const VfioPlan *cc_vfio_job_plan(const CcVfioJob *j) {
        return j->plan;
}

size_t cc_vfio_job_n_outcomes(const CcVfioJob *j) {
        return j->n_outcomes;
}

const VfioGroupOutcome *cc_vfio_job_outcome(const CcVfioJob *j, size_t i) {
        assert(i < j->n_outcomes);
        return &j->outcomes[i];
}

const char *cc_vfio_job_failed_device(const CcVfioJob *j) {
        return j->failed_device[0] ? j->failed_device : NULL;
}

int cc_vfio_job_failed_group(const CcVfioJob *j) {
        return j->failed_group;
}

bool cc_vfio_job_refused(const CcVfioJob *j) {
        return j->refused;
}

const char *cc_vfio_job_refused_device(const CcVfioJob *j) {
        return j->refused ? j->refused_device : NULL;
}

bool cc_vfio_job_rolled_back(const CcVfioJob *j) {
        return j->rolled_back;
}

int cc_vfio_recover(HwHost *h, const char *state_dir, CcError *err) {
        _cleanup_(vfio_record_freep) VfioRecord *record = NULL;
        int restored = 0, ret = 0, r;

        assert(h);
        assert(state_dir);

        r = vfio_record_load(state_dir, &record, err);
        if (r < 0)
                return r;

        for (size_t i = 0; i < record->n_entries;) {
                VfioRecordEntry *e = &record->entries[i];
                _cleanup_free_ char *now = NULL;

                r = hw_pci_get_driver(h, e->bdf, &now);
                if (r == -ENODEV) { /* gone */
                        vfio_record_remove(record, e->bdf);
                        continue;
                }
                if (e->state == VFIO_RECORD_BOUND) {
                        /* Not on vfio any more (a reboot, or another tool
                         * gave it back): nothing left to restore. */
                        if (r >= 0 && !hw_driver_is_vfio(now))
                                vfio_record_remove(record, e->bdf);
                        else
                                i++;
                        continue;
                }
                log_warning("%s: %s was interrupted; giving it back to %s", e->bdf,
                            e->state == VFIO_RECORD_BINDING ? "a VFIO bind" : "a VFIO unbind",
                            *e->previous_driver ? e->previous_driver : "no driver");
                r = restore_device(h, e->bdf, e->previous_driver);
                if (r < 0) {
                        if (ret == 0)
                                ret = cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, -r,
                                                   "%s: cannot give it back to %s: %s", e->bdf,
                                                   *e->previous_driver ? e->previous_driver : "no driver", strerror(-r));
                        i++;
                        continue;
                }
                restored++;
                vfio_record_remove(record, e->bdf);
        }
        r = vfio_record_save(record);
        if (r < 0 && ret == 0)
                ret = cc_error_set(err, CC_ERROR_INTERNAL, -r, "Cannot update the record in %s: %s", state_dir,
                                   strerror(-r));
        return ret < 0 ? ret : restored;
}
