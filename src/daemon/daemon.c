/* SPDX-License-Identifier: MIT */
#include <signal.h>
#include <systemd/sd-daemon.h>

#include "bus-errors.h"
#include "bus-open.h"
#include "daemon.h"
#include "log.h"

int daemon_new(Daemon **ret) {
        Daemon *d;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        cc_config_init(&d->config);
        d->default_mode = TARGET_MODE_INVALID;
        d->host_tee = "none";
        r = sd_event_default(&d->event);
        if (r < 0) {
                daemon_free(d);
                return r;
        }
        *ret = d;
        return 0;
}

Daemon *daemon_free(Daemon *d) {
        if (!d)
                return NULL;
        /* Reached with an operation still running only when the loop failed
         * (a SIGTERM waits for it).  Its worker is joined: each of its steps
         * is bounded, and what a kill cuts short is finished from the state
         * directory's records at the next start. */
        d->switch_source = sd_event_source_unref(d->switch_source);
        cc_switch_free(d->active_switch);
        vfio_control_done(d);
        kata_control_done(d);
        daemon_rescan_job_free(d->rescan_job);
        plan_control_done(d);
        operation_free(d->operation);
        authorizer_free(d->authorizer);
        sd_bus_flush_close_unref(d->bus);
        sd_event_unref(d->event);
        cc_inventory_free(d->inventory);
        hw_host_free(d->host);
        cc_config_done(&d->config);
        free(d->state_dir);
        free(d->config_dir);
        free(d->mode);
        free(d->last_error);
        free(d);
        return NULL;
}

static int on_name_acquired(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Daemon *d = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        uint32_t answer = 0;
        int r;

        if (e) {
                log_error("Cannot own %s: %s", CC_BUS_NAME, e->message);
                sd_event_exit(d->event, EXIT_FAILURE);
                return 0;
        }
        /* 1: primary owner, 4: already the owner; anything else means
         * another instance serves the name. */
        r = sd_bus_message_read(reply, "u", &answer);
        if (r < 0 || (answer != 1 && answer != 4)) {
                log_error("Cannot own %s: another instance owns it", CC_BUS_NAME);
                sd_event_exit(d->event, EXIT_FAILURE);
                return 0;
        }

        log_info("Serving %s with %zu device%s, host TEE %s", CC_BUS_NAME, d->inventory->n_devices,
                 d->inventory->n_devices == 1 ? "" : "s", d->host_tee);

        /* A switch cut short by a crash comes first; the default waits for
         * the next start if one had to be finished. */
        r = mode_control_resume(d);
        if (r == 0)
                r = mode_control_apply_default(d);
        if (r > 0) {
                /* The GPUs reset now: READY=1 waits for the switch, so that
                 * units ordered after this one (containerd, kubelet) start
                 * on GPUs in their mode.  The bus is served meanwhile. */
                d->ready_pending = true;
                return 0;
        }
        (void) sd_notifyf(false, "READY=1\nSTATUS=Managing %zu device%s", d->inventory->n_devices,
                          d->inventory->n_devices == 1 ? "" : "s");
        return 0;
}

void daemon_notify_ready(Daemon *d) {
        if (!d->ready_pending)
                return;
        d->ready_pending = false;
        /* STATUS= stays what the switch's end said. */
        (void) sd_notify(false, "READY=1");
        log_info("Start-up switch done: ready");
}

int daemon_connect_bus(Daemon *d, const char *bus_spec) {
        int r;

        r = bus_errors_register();
        if (r < 0)
                return r;
        r = bus_open_spec(bus_spec, &d->bus);
        if (r < 0)
                return log_error_errno(r, "Cannot connect to the %s bus: %m", bus_spec ? bus_spec : "system");
        r = authorizer_new(d->bus, &d->authorizer);
        if (r < 0)
                return r;
        r = bus_manager_register(d);
        if (r < 0)
                return r;
        r = bus_gpu_register(d);
        if (r < 0)
                return r;
        r = bus_runtime_class_register(d);
        if (r < 0)
                return r;
        r = sd_bus_attach_event(d->bus, d->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;
        return sd_bus_request_name_async(d->bus, NULL, CC_BUS_NAME, 0, on_name_acquired, d);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        operation_request_exit(userdata, 0);
        return 0;
}

int daemon_run(Daemon *d) {
        sigset_t mask;
        int r, code;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        r = sd_event_add_signal(d->event, NULL, SIGTERM, on_signal, d);
        if (r >= 0)
                r = sd_event_add_signal(d->event, NULL, SIGINT, on_signal, d);
        if (r < 0)
                return r;
        r = sd_event_set_watchdog(d->event, true);
        if (r < 0)
                return r;

        r = sd_event_loop(d->event);
        if (r < 0)
                return r;
        (void) sd_notify(false, "STOPPING=1");
        r = sd_event_get_exit_code(d->event, &code);
        return r < 0 ? r : code;
}
