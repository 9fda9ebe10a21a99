/* SPDX-License-Identifier: MIT */

/* Runs the mode engine for the bus: one switch at a time, the event loop
 * free while it runs, and the outcome published as properties, journal
 * events and the method reply. */

#include <sys/epoll.h>
#include <systemd/sd-daemon.h>

#include "bus-args.h"
#include "bus-errors.h"
#include "cc-names.h"
#include "daemon.h"
#include "log.h"
#include "message-ids.h"

/* The longest mode name with room to spare: a longer one is not echoed. */
#define MODE_NAME_MAX 32

const char *mode_state_to_string(ModeState s) {
        switch (s) {
        case MODE_STATE_SWITCHING:
                return "switching";
        case MODE_STATE_FAILED:
                return "failed";
        default:
                return "idle";
        }
}

void mode_control_publish_mode(Daemon *d) {
        const char *mode = cc_inventory_mode(d->inventory);

        if (streq_ptr(mode, d->mode))
                return;
        free(d->mode);
        d->mode = strdup(mode);
        (void) bus_manager_emit_changed(d, "Mode", NULL);
}

static void set_state(Daemon *d, ModeState state, const char *last_error) {
        bool error_changed = !streq_ptr(strempty(d->last_error), strempty(last_error));

        if (error_changed) {
                free(d->last_error);
                d->last_error = strdup(strempty(last_error));
        }
        d->mode_state = state;
        if (error_changed)
                (void) bus_manager_emit_changed(d, "ModeState", "LastError", NULL);
        else
                (void) bus_manager_emit_changed(d, "ModeState", NULL);
}

/* Takes each device's mode from the outcome and its driver from sysfs. */
static void apply_outcomes(Daemon *d, CcSwitch *sw) {
        for (size_t i = 0; i < cc_switch_n_outcomes(sw); i++) {
                const CcSwitchOutcome *o = cc_switch_outcome(sw, i);
                CcDevice *dev = cc_inventory_find(d->inventory, o->bdf);
                _cleanup_free_ char *path = NULL;

                if (!dev)
                        continue;
                dev->cc_mode = dev->kind == DEVICE_KIND_NVSWITCH ? DEVICE_CC_OFF : o->status.cc;
                /* As discovery has it: a device without PPCIe has no mode of it. */
                if (o->status.cc == DEVICE_CC_UNKNOWN || !dev->ppcie_capable)
                        dev->ppcie_mode = DEVICE_CC_UNKNOWN;
                else
                        dev->ppcie_mode = o->status.ppcie ? DEVICE_CC_ON : DEVICE_CC_OFF;
                if (dev->arch != GPU_ARCH_BLACKWELL || o->status.cc == DEVICE_CC_UNKNOWN)
                        dev->nvlink_encryption = dev->bar0_firewall = DEVICE_CC_UNKNOWN;
                else {
                        dev->nvlink_encryption = o->status.nvle ? DEVICE_CC_ON : DEVICE_CC_OFF;
                        dev->bar0_firewall = o->status.bar0_firewall ? DEVICE_CC_ON : DEVICE_CC_OFF;
                }
                (void) cc_device_refresh(d->host, dev);
                if (o->lost_driver[0]) {
                        free(dev->restore_driver);
                        dev->restore_driver = strdup(o->lost_driver);
                        log_warning("%s: left without its driver %s while the kernel finishes the unbind; the next "
                                    "switch binds it again", dev->bdf, o->lost_driver);
                } else if (*dev->driver) {
                        free(dev->restore_driver);
                        dev->restore_driver = NULL;
                }

                path = bus_gpu_path(dev->bdf);
                if (path)
                        (void) sd_bus_emit_properties_changed(d->bus, path, CC_GPU_INTERFACE, "CcMode", "PpcieMode",
                                                              "NvlinkEncryption", "Bar0Firewall",
                                                              "Driver", "VfioDevice", NULL);
        }
}

/* The journal event of the outcome, naming the first device that did not
 * reach the mode (CC_GPU) and the kind of error (CC_ERROR). */
static void log_outcome(CcSwitch *sw, int r, const CcError *e) {
        const char *mode = target_mode_to_string(cc_switch_mode(sw));
        size_t n = cc_switch_n_outcomes(sw);
        const char *gpu = NULL;

        if (r >= 0) {
                (void) sd_notifyf(false, "STATUS=Mode %s set on %zu device%s", mode, n, n == 1 ? "" : "s");
                log_struct(LOG_INFO,
                           LOG_MESSAGE_ID(CC_MESSAGE_SWITCH_FINISHED),
                           "CC_MODE=%s", mode,
                           "CC_GPU_COUNT=%zu", n,
                           LOG_MESSAGE("Confidential-computing mode %s set and verified", mode),
                           NULL);
                return;
        }

        for (size_t i = 0; i < n && !gpu; i++)
                if (!cc_switch_outcome(sw, i)->verified)
                        gpu = cc_switch_outcome(sw, i)->bdf;
        (void) sd_notifyf(false, "STATUS=Switch to mode %s failed: %s", mode, e->message);
        /* CC_GPU last: there is none when every device reached the mode
         * (a failure to bind one back). */
        log_struct(LOG_ERR,
                   LOG_MESSAGE_ID(CC_MESSAGE_SWITCH_FAILED),
                   "CC_MODE=%s", mode,
                   "CC_GPU_COUNT=%zu", n,
                   "CC_ERROR=%s", cc_error_kind_to_string(e->kind),
                   LOG_MESSAGE("Switch to confidential-computing mode %s failed: %s", mode, e->message),
                   gpu ? "CC_GPU=%s" : NULL, gpu,
                   NULL);
}

/* A process held a device the switch would have unbound. */
static void log_refused(CcSwitch *sw, const CcError *e) {
        const char *mode = target_mode_to_string(cc_switch_mode(sw));

        (void) sd_notifyf(false, "STATUS=Switch to mode %s refused: a device is in use", mode);
        log_struct(LOG_WARNING,
                   LOG_MESSAGE_ID(CC_MESSAGE_DEVICE_IN_USE),
                   "CC_MODE=%s", mode,
                   "CC_GPU=%s", strempty(cc_switch_refused_device(sw)),
                   "CC_OPERATION=set-mode",
                   LOG_MESSAGE("Switch to mode %s refused, nothing changed: %s", mode, e->message),
                   NULL);
}

static int on_switch_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Daemon *d = userdata;
        _cleanup_(cc_switch_freep) CcSwitch *sw = TAKE_PTR(d->active_switch);
        CcError e = CC_ERROR_INIT;
        int r;

        d->switch_source = sd_event_source_unref(d->switch_source);

        r = cc_switch_finish(sw, &e);
        if (cc_switch_refused(sw)) {
                /* Nothing was touched: the devices, and the state they are
                 * in, are as they were before the call. */
                set_state(d, d->state_before_switch, e.message);
                log_refused(sw, &e);
        } else {
                apply_outcomes(d, sw);
                mode_control_publish_mode(d);
                set_state(d, r < 0 ? MODE_STATE_FAILED : MODE_STATE_IDLE, r < 0 ? e.message : "");
                log_outcome(sw, r, &e);
        }
        /* Ready also after a failure: the failure is in ModeState, LastError
         * and STATUS=, and failing the start would only have systemd reset
         * the GPUs again and again. */
        daemon_notify_ready(d);
        operation_end(d, r, &e, NULL);
        return 0;
}

int mode_control_start(Daemon *d, TargetMode mode, CcSwitchTarget *targets, size_t n,
                       sd_bus_message *request, sd_bus_error *error) {
        _cleanup_(cc_switch_freep) CcSwitch *sw = NULL;
        int r;

        r = operation_begin(d, request, error, "A switch to mode %s", target_mode_to_string(mode));
        if (r < 0) {
                cc_switch_targets_free(targets, n);
                return r;
        }

        if ((mode == TARGET_MODE_ON || mode == TARGET_MODE_DEVTOOLS) && streq(d->host_tee, "none"))
                log_struct(LOG_WARNING,
                           LOG_MESSAGE_ID(CC_MESSAGE_NO_HOST_TEE),
                           LOG_MESSAGE("Setting mode %s on a host without TDX or SEV-SNP: the GPUs will refuse to "
                                       "work outside a confidential VM", target_mode_to_string(mode)),
                           NULL);

        r = cc_switch_new(d->host, d->state_dir, mode, targets, n, &sw);
        if (r < 0)
                cc_switch_targets_free(targets, n);
        if (r >= 0)
                r = cc_switch_start(sw);
        if (r >= 0)
                r = sd_event_add_io(d->event, &d->switch_source, cc_switch_get_fd(sw), EPOLLIN, on_switch_done, d);
        if (r < 0) {
                operation_cancel(d);
                return sd_bus_error_set_errnof(error, r, "Cannot start the switch: %m");
        }

        d->active_switch = TAKE_PTR(sw);
        d->state_before_switch = d->mode_state;
        set_state(d, MODE_STATE_SWITCHING, d->last_error);

        log_struct(LOG_INFO,
                   LOG_MESSAGE_ID(CC_MESSAGE_SWITCH_STARTED),
                   "CC_MODE=%s", target_mode_to_string(mode),
                   "CC_GPU_COUNT=%zu", n,
                   LOG_MESSAGE("Switching %zu device%s to mode %s", n, n == 1 ? "" : "s", target_mode_to_string(mode)),
                   NULL);
        (void) sd_notifyf(false, "STATUS=Switching %zu device%s to mode %s", n, n == 1 ? "" : "s",
                          target_mode_to_string(mode));
        return 1;
}

int mode_control_read_mode(sd_bus_message *m, TargetMode *ret, sd_bus_error *error) {
        const char *mode_string;
        int r;

        r = bus_read_string(m, MODE_NAME_MAX, "mode", &mode_string, error);
        if (r < 0)
                return r;
        *ret = target_mode_from_string(mode_string);
        if (*ret == TARGET_MODE_INVALID)
                return sd_bus_error_setf(error, CC_ERROR_PREFIX "InvalidArgument", CC_MODE_INVALID_FMT, mode_string);
        return 0;
}

int mode_control_method_set_mode(Daemon *d, sd_bus_message *m, const char *bdf, sd_bus_error *error) {
        CcSwitchTarget *targets = NULL;
        CcError e = CC_ERROR_INIT;
        TargetMode mode;
        size_t n = 0;
        int r;

        /* Nothing is read before polkit answered (the authorizer checked
         * the sizes). */
        r = authorizer_check(d->authorizer, m, error);
        if (r <= 0)
                return r < 0 ? r : 1; /* 1: called again once polkit answers */

        r = mode_control_read_mode(m, &mode, error);
        if (r < 0)
                return r;

        r = cc_switch_select(d->inventory, mode, bdf, &targets, &n, &e);
        if (r < 0)
                return bus_error_from_cc(error, &e);
        return mode_control_start(d, mode, targets, n, m, error);
}

int mode_control_resume(Daemon *d) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        CcSwitchTarget *targets = NULL;
        CcError e = CC_ERROR_INIT;
        TargetMode mode;
        size_t n = 0;
        int r;

        r = cc_switch_intent_load(d->state_dir, &mode, &targets, &n, &e);
        if (r < 0) {
                log_error("Cannot read the record of an interrupted switch: %s", e.message);
                (void) cc_switch_intent_remove(d->state_dir);
                return r;
        }
        if (r == 0)
                return 0;

        log_struct(LOG_WARNING,
                   LOG_MESSAGE_ID(CC_MESSAGE_SWITCH_RESUMED),
                   "CC_MODE=%s", target_mode_to_string(mode),
                   LOG_MESSAGE("A switch to mode %s was interrupted; finishing it on %zu device%s",
                               target_mode_to_string(mode), n, n == 1 ? "" : "s"),
                   NULL);
        r = mode_control_start(d, mode, targets, n, NULL, &error);
        if (r < 0) {
                log_error("Cannot finish the interrupted switch: %s", error.message ? error.message : strerror(-r));
                return r;
        }
        return 1;
}

/* The configured default, applied once at start, unless the GPUs are
 * already there: a restart of the service must not reset working GPUs.
 * Returns 1 when a switch was started (READY=1 waits for it), 0 when none
 * was needed or possible. */
int mode_control_apply_default(Daemon *d) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        CcSwitchTarget *targets = NULL;
        CcError e = CC_ERROR_INIT;
        const char *mode = target_mode_to_string(d->default_mode);
        size_t n = 0;
        int r;

        if (d->default_mode == TARGET_MODE_INVALID)
                return 0;

        if (streq(cc_inventory_mode(d->inventory), mode)) {
                log_struct(LOG_INFO,
                           LOG_MESSAGE_ID(CC_MESSAGE_DEFAULT_MODE),
                           "CC_MODE=%s", mode,
                           LOG_MESSAGE("GPUs already in the default mode %s", mode),
                           NULL);
                return 0;
        }

        r = cc_switch_select(d->inventory, d->default_mode, NULL, &targets, &n, &e);
        if (r < 0) {
                log_warning("Default mode %s not applied: %s", target_mode_to_string(d->default_mode), e.message);
                return 0;
        }
        log_struct(LOG_INFO,
                   LOG_MESSAGE_ID(CC_MESSAGE_DEFAULT_MODE),
                   "CC_MODE=%s", mode,
                   LOG_MESSAGE("Applying the default mode %s", mode),
                   NULL);
        r = mode_control_start(d, d->default_mode, targets, n, NULL, &error);
        if (r < 0) {
                log_error("Cannot apply the default mode: %s", error.message ? error.message : strerror(-r));
                return r;
        }
        (void) sd_notifyf(false, "STATUS=Applying the default mode %s: switching %zu device%s",
                          target_mode_to_string(d->default_mode), n, n == 1 ? "" : "s");
        return r;
}
