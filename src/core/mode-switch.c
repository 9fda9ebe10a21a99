/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <pthread.h>

#include "cc-ready.h"
#include "in-use.h"
#include "log.h"
#include "mode-switch.h"
#include "pci-sysfs.h"
#include "strv.h"
#include "work-thread.h"

struct CcSwitch {
        HwHost *host;
        char *state_dir;
        TargetMode mode;

        CcSwitchTarget *targets;
        size_t n_targets;
        CcSwitchOutcome *outcomes;
        bool *untouched; /* already in the mode: not unbound, not reset */

        CcTimeouts timeouts;
        bool timeouts_set;
        bool sequential;

        WorkThread *worker;
        CcError error;
        bool refused;            /* a device was in use: nothing touched */
        char refused_device[16];
};

/* One device's work in one phase, run on its own thread. */
typedef struct DeviceTask {
        CcSwitch *sw;
        size_t index;
        TargetMode mode;
        bool ppcie_off_only;
        bool needs_reset;  /* set by the knob step */
        int result;
        CcError error;
} DeviceTask;

int cc_switch_new(HwHost *h, const char *state_dir, TargetMode mode,
                  CcSwitchTarget *targets, size_t n_targets, CcSwitch **ret) {
        CcSwitch *s;

        assert(h);
        assert(state_dir);
        assert(targets || n_targets == 0);
        assert(ret);

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->host = h;
        s->mode = mode;
        s->state_dir = strdup(state_dir);
        s->outcomes = calloc(n_targets ? n_targets : 1, sizeof(CcSwitchOutcome));
        s->untouched = calloc(n_targets ? n_targets : 1, sizeof(bool));
        if (!s->state_dir || !s->outcomes || !s->untouched) {
                free(s->state_dir);
                free(s->outcomes);
                free(s->untouched);
                free(s);
                return -ENOMEM;
        }
        s->targets = targets;
        s->n_targets = n_targets;
        for (size_t i = 0; i < n_targets; i++) {
                memcpy(s->outcomes[i].bdf, targets[i].bdf, sizeof(targets[i].bdf));
                s->outcomes[i].status.cc = DEVICE_CC_UNKNOWN;
        }
        *ret = s;
        return 0;
}

CcSwitch *cc_switch_free(CcSwitch *s) {
        if (!s)
                return NULL;
        /* Joins a switch still running: each of its steps is bounded (the
         * sysfs writes by their deadline, the boot waits by the chip's
         * timeouts), and one cut short by a kill is finished from the
         * intent record at the next start. */
        work_thread_free(s->worker);
        cc_switch_targets_free(s->targets, s->n_targets);
        free(s->outcomes);
        free(s->untouched);
        free(s->state_dir);
        free(s);
        return NULL;
}

void cc_switch_set_timeouts(CcSwitch *s, const CcTimeouts *t) {
        s->timeouts = *t;
        s->timeouts_set = true;
}

void cc_switch_set_sequential(CcSwitch *s, bool sequential) {
        s->sequential = sequential;
}

static CcTimeouts timeouts_for(const CcSwitch *s, GpuArch arch) {
        return s->timeouts_set ? s->timeouts : cc_timeouts_default(arch);
}

/* Maps target i's BAR0 and reads its status, first waiting until it is
 * ready (firewall, boot) when wait is given, else taking one look.  *ret_bar
 * (optional) keeps the mapping for more work. */
static int read_status(CcSwitch *s, size_t i, const CcTimeouts *wait, Bar0 **ret_bar, CcStatus *ret,
                       CcError *err) {
        static const CcTimeouts no_wait = {};
        const CcSwitchTarget *t = &s->targets[i];
        _cleanup_(bar0_closep) Bar0 *bar = NULL;
        _cleanup_(pci_config_closep) PciConfig *cfg = NULL;
        int r;

        r = bar0_open(s->host, t->bdf, &bar, err);
        if (r < 0)
                return r;
        /* Only Blackwell reads it, for its BAR firewall; a chip without the
         * capability has a fallback, so a missing file is no error. */
        r = pci_config_open(s->host, t->bdf, &cfg);
        if (r < 0)
                log_debug_errno(r, "%s: cannot open config space: %m", t->bdf);

        if (wait)
                r = cc_wait_ready(cfg, bar, t->chip, wait, err);
        else {
                /* One look: a GPU behind its firewall is not in any mode yet. */
                r = cc_wait_firewall(cfg, bar, t->chip, &no_wait, err);
                if (r >= 0)
                        r = cc_check_alive(bar, err);
        }
        if (r >= 0)
                r = cc_query(bar, t->chip, ret, err);
        if (r < 0)
                return r;
        if (ret_bar)
                *ret_bar = TAKE_PTR(bar);
        return 0;
}

/* Knob step of one device: wait until it is up, then read-compare-write the
 * plan.  A device already in the mode with nothing to write needs no reset. */
static void *device_write_knobs(void *userdata) {
        DeviceTask *task = userdata;
        const CcSwitchTarget *t = &task->sw->targets[task->index];
        CcTimeouts to = timeouts_for(task->sw, t->arch);
        KnobWrite plan[CC_KNOB_PLAN_MAX];
        _cleanup_(bar0_closep) Bar0 *bar = NULL;
        unsigned writes = 0;
        CcStatus before;
        size_t n;
        int r;

        r = read_status(task->sw, task->index, &to, &bar, &before, &task->error);
        if (r < 0) {
                task->result = r;
                return NULL;
        }

        n = cc_knob_plan(task->mode, t->arch, task->ppcie_off_only, plan);
        r = cc_apply_knobs(bar, t->chip, &to, plan, n, &writes, &task->error);
        if (r < 0) {
                task->result = r;
                return NULL;
        }

        task->needs_reset = writes > 0 ||
                            !cc_status_matches(t->arch, &before, task->ppcie_off_only ? TARGET_MODE_OFF : task->mode);
        if (task->needs_reset)
                cc_mark_before_reset(bar, t->arch);
        return NULL;
}

/* Reset step of one device: reset, wait for boot, verify. */
static void *device_reset_and_verify(void *userdata) {
        DeviceTask *task = userdata;
        const CcSwitchTarget *t = &task->sw->targets[task->index];
        CcSwitchOutcome *o = &task->sw->outcomes[task->index];
        CcTimeouts to = timeouts_for(task->sw, t->arch);
        TargetMode expected = task->ppcie_off_only ? TARGET_MODE_OFF : task->mode;
        int r;

        if (task->needs_reset) {
                r = hw_pci_reset(task->sw->host, t->bdf);
                if (r < 0) {
                        /* The device's address is prefixed by collect_errors(). */
                        if (cc_error_from_stuck_write(task->sw->host, r, t->bdf, "reset", &task->error))
                                task->result = -ETIMEDOUT;
                        else
                                task->result = cc_error_set(&task->error, CC_ERROR_HARDWARE_FAILURE, r,
                                                            "reset failed: %s", strerror(-r));
                        return NULL;
                }
        }

        r = read_status(task->sw, task->index, &to, NULL, &o->status, &task->error);
        if (r < 0) {
                task->result = r;
                return NULL;
        }
        o->verified = cc_status_matches(t->arch, &o->status, expected);
        if (!o->verified)
                task->result = cc_error_set(&task->error, CC_ERROR_HARDWARE_FAILURE, EIO,
                                            "mode is %s%s after reset, expected %s",
                                            device_cc_mode_to_string(o->status.cc),
                                            o->status.ppcie ? " with PPCIe" : "",
                                            target_mode_to_string(expected));
        return NULL;
}

/* Runs fn for every task, all at once or one after another (also when a
 * thread cannot be had: the device's work is the same either way). */
static void run_tasks(CcSwitch *s, DeviceTask *tasks, void *(*fn)(void *)) {
        _cleanup_free_ pthread_t *threads = s->sequential ? NULL : calloc(s->n_targets, sizeof(pthread_t));
        _cleanup_free_ bool *spawned = calloc(s->n_targets, sizeof(bool));

        for (size_t i = 0; i < s->n_targets; i++) {
                if (tasks[i].result < 0 || s->untouched[i])
                        continue;
                if (threads && spawned && pthread_create(&threads[i], NULL, fn, &tasks[i]) == 0)
                        spawned[i] = true;
                else
                        fn(&tasks[i]);
        }
        for (size_t i = 0; spawned && i < s->n_targets; i++)
                if (spawned[i])
                        pthread_join(threads[i], NULL);
}

/* Records the first failure, naming the device; counts the others. */
static int collect_errors(CcSwitch *s, DeviceTask *tasks) {
        size_t failed = 0, first = 0;

        for (size_t i = 0; i < s->n_targets; i++)
                if (tasks[i].result < 0 && failed++ == 0)
                        first = i;
        if (failed == 0)
                return 0;

        s->error = tasks[first].error;
        cc_error_prefix(&s->error, "%s", s->targets[first].bdf);
        if (failed > 1) {
                size_t len = strlen(s->error.message);
                snprintf(s->error.message + len, sizeof(s->error.message) - len,
                         " (and %zu more device%s failed)", failed - 1, failed > 2 ? "s" : "");
        }
        return tasks[first].result;
}

/* Knobs on every device, then every reset at once, then verify. */
static int run_phase(CcSwitch *s, TargetMode mode, bool ppcie_off_only) {
        _cleanup_free_ DeviceTask *tasks = calloc(s->n_targets ? s->n_targets : 1, sizeof(DeviceTask));
        int r;

        if (!tasks)
                return cc_error_set(&s->error, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");

        for (size_t i = 0; i < s->n_targets; i++)
                tasks[i] = (DeviceTask) { .sw = s, .index = i, .mode = mode, .ppcie_off_only = ppcie_off_only };

        run_tasks(s, tasks, device_write_knobs);
        /* PPCIe is all-or-nothing: no device is reset unless all took the knobs. */
        if (mode == TARGET_MODE_PPCIE) {
                r = collect_errors(s, tasks);
                if (r < 0)
                        return r;
        }
        run_tasks(s, tasks, device_reset_and_verify);
        return collect_errors(s, tasks);
}

/* Unbinds every target, first noting the driver it has now: the one to
 * bind back, whatever the inventory last saw.  A device found unbound (a
 * switch cut short) keeps the driver on record. */
static int unbind_targets(CcSwitch *s) {
        for (size_t i = 0; i < s->n_targets; i++) {
                CcSwitchTarget *t = &s->targets[i];
                _cleanup_free_ char *now = NULL;
                int r;

                if (s->untouched[i])
                        continue;
                r = hw_pci_get_driver(s->host, t->bdf, &now);
                if (r >= 0 && now && !streq_ptr(now, t->driver)) {
                        free(t->driver);
                        t->driver = TAKE_PTR(now);
                }
                r = hw_pci_unbind(s->host, t->bdf);
                if (r < 0) {
                        _cleanup_free_ char *step = NULL;

                        if (asprintf(&step, "unbind from %s", t->driver) >= 0 &&
                            cc_error_from_stuck_write(s->host, r, t->bdf, step, &s->error)) {
                                cc_error_prefix(&s->error, "%s", t->bdf);
                                return -ETIMEDOUT;
                        }
                        return cc_error_set(&s->error, CC_ERROR_HARDWARE_FAILURE, r,
                                            "%s: cannot unbind from %s: %s", t->bdf, t->driver, strerror(-r));
                }
        }
        return 0;
}

/* No device is taken from its driver while a process holds it open: the
 * driver's remove would wait for that process.  Checked for every device
 * the switch will unbind, before the first is. */
static int refuse_if_in_use(CcSwitch *s) {
        _cleanup_(strv_freep) char **bdfs = calloc(s->n_targets + 1, sizeof(char *));
        size_t n = 0;
        int r;

        if (!bdfs)
                return cc_error_set(&s->error, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
        for (size_t i = 0; i < s->n_targets; i++) {
                if (s->untouched[i])
                        continue;
                if (!(bdfs[n++] = strdup(s->targets[i].bdf)))
                        return cc_error_set(&s->error, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
        }
        r = cc_check_not_in_use(s->host, bdfs, s->refused_device, &s->error);
        if (r < 0 && s->error.kind == CC_ERROR_BUSY)
                s->refused = true;
        return r;
}

/* Binds every target back to the driver it had; reports the first failure
 * unless an earlier error is already set. */
static int rebind_targets(CcSwitch *s) {
        int ret = 0;

        for (size_t i = 0; i < s->n_targets; i++) {
                const CcSwitchTarget *t = &s->targets[i];
                _cleanup_free_ char *now = NULL;
                int r;

                /* Untouched devices too: after a crash one may be in the
                 * mode already but still without its driver. */
                if (!t->driver || !t->driver[0])
                        continue;
                r = hw_pci_get_driver(s->host, t->bdf, &now);
                if (r >= 0 && streq_ptr(now, t->driver))
                        continue;
                /* Never take an untouched device from a driver it has. */
                if (r >= 0 && now && s->untouched[i])
                        continue;
                if (r >= 0 && now)
                        r = hw_pci_unbind(s->host, t->bdf);
                if (r >= 0)
                        r = hw_pci_bind(s->host, t->bdf, t->driver);
                if (r == -EDEADLK || r == -ETIMEDOUT)
                        snprintf(s->outcomes[i].lost_driver, sizeof(s->outcomes[i].lost_driver), "%s", t->driver);
                if (r < 0 && ret == 0 && !cc_error_is_set(&s->error)) {
                        _cleanup_free_ char *step = NULL;

                        if (asprintf(&step, "bind back to %s", t->driver) >= 0 &&
                            cc_error_from_stuck_write(s->host, r, t->bdf, step, &s->error)) {
                                cc_error_prefix(&s->error, "%s", t->bdf);
                                ret = -ETIMEDOUT;
                        }
                }
                if (r < 0) {
                        log_warning_errno(r, "%s: cannot bind back to %s: %m", t->bdf, t->driver);
                        if (ret == 0 && !cc_error_is_set(&s->error))
                                ret = cc_error_set(&s->error, CC_ERROR_HARDWARE_FAILURE, r,
                                                   "%s: switched, but cannot bind back to %s: %s",
                                                   t->bdf, t->driver, strerror(-r));
                }
        }
        return ret;
}

/* A device that failed before its reset still has a mode: read it once, so
 * nothing is left "unknown" that could be known. */
static void query_unverified(CcSwitch *s) {
        for (size_t i = 0; i < s->n_targets; i++) {
                CcSwitchOutcome *o = &s->outcomes[i];

                if (o->verified || o->status.cc != DEVICE_CC_UNKNOWN)
                        continue;
                if (read_status(s, i, NULL, NULL, &o->status, NULL) < 0)
                        o->status = (CcStatus) { .cc = DEVICE_CC_UNKNOWN };
        }
}

/* A device whose status already reads the mode is left alone: no unbind,
 * no reset.  A GPU may be serving a running VM through vfio-pci, and asking
 * again for the mode it has must not take it away.  PPCIe is all-or-nothing:
 * unless every device is in it, all take part. */
static void find_untouched(CcSwitch *s) {
        size_t n_untouched = 0;

        for (size_t i = 0; i < s->n_targets; i++) {
                CcSwitchOutcome *o = &s->outcomes[i];
                CcStatus status;

                if (read_status(s, i, NULL, NULL, &status, NULL) < 0 ||
                    !cc_status_matches(s->targets[i].arch, &status, s->mode))
                        continue;
                s->untouched[i] = true;
                o->status = status;
                o->verified = true;
                n_untouched++;
        }

        if (s->mode == TARGET_MODE_PPCIE && n_untouched < s->n_targets)
                for (size_t i = 0; i < s->n_targets; i++) {
                        s->untouched[i] = false;
                        s->outcomes[i].verified = false;
                        s->outcomes[i].status = (CcStatus) { .cc = DEVICE_CC_UNKNOWN };
                }
}

static int run_switch(CcSwitch *s) {
        int r;

        find_untouched(s);

        r = refuse_if_in_use(s);
        if (r < 0) {
                query_unverified(s);
                return r;
        }

        r = unbind_targets(s);
        if (r < 0) {
                rebind_targets(s);
                return r;
        }

        r = cc_switch_intent_save(s->state_dir, s->mode, s->targets, s->n_targets);
        if (r < 0) {
                rebind_targets(s);
                return cc_error_set(&s->error, CC_ERROR_INTERNAL, r,
                                    "cannot record the switch in %s: %s", s->state_dir, strerror(-r));
        }

        if (s->mode == TARGET_MODE_PPCIE) {
                r = run_phase(s, TARGET_MODE_PPCIE, true);
                if (r >= 0)
                        r = run_phase(s, TARGET_MODE_PPCIE, false);
                if (r < 0) {
                        /* Leave no device half in PPCIe: take them all back to off. */
                        CcError saved = s->error;
                        log_warning("PPCIe switch failed (%s), returning every device to off", saved.message);
                        run_phase(s, TARGET_MODE_OFF, false);
                        s->error = saved;
                }
        } else
                r = run_phase(s, s->mode, false);

        int k = rebind_targets(s);
        if (r >= 0)
                r = k;
        query_unverified(s);

        /* The outcome is known and reported; a crash from here on loses nothing. */
        (void) cc_switch_intent_remove(s->state_dir);
        return r;
}

static int switch_work(void *userdata, CcError *err) {
        CcSwitch *s = userdata;
        int r;

        r = run_switch(s);
        if (r < 0)
                *err = s->error;
        return r;
}

int cc_switch_start(CcSwitch *s) {
        assert(s);
        assert(!s->worker);

        return work_thread_start(switch_work, s, &s->worker);
}

int cc_switch_get_fd(CcSwitch *s) {
        return s->worker ? work_thread_get_fd(s->worker) : -1;
}

bool cc_switch_done(CcSwitch *s) {
        return s->worker && work_thread_done(s->worker);
}

int cc_switch_finish(CcSwitch *s, CcError *err) {
        assert(s);
        assert(s->worker);

        return work_thread_finish(s->worker, err);
}

TargetMode cc_switch_mode(const CcSwitch *s) {
        return s->mode;
}

size_t cc_switch_n_outcomes(const CcSwitch *s) {
        return s->n_targets;
}

bool cc_switch_refused(const CcSwitch *s) {
        return s->refused;
}

const char *cc_switch_refused_device(const CcSwitch *s) {
        return s->refused ? s->refused_device : NULL;
}

const CcSwitchOutcome *cc_switch_outcome(const CcSwitch *s, size_t i) {
        assert(i < s->n_targets);
        return &s->outcomes[i];
}
