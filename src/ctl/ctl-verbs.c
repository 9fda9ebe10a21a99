/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "ctl-bus.h"
#include "ctl-errors.h"
#include "ctl-print.h"
#include "ctl-report.h"
#include "ctl-verbs.h"
#include "macro.h"

static const CtlOperation read_operation = {
        .failed = "Failed to read the status",
        /* Reads need no polkit; only a bus policy can refuse them. */
        .denied = "not authorized to read the status (D-Bus policy of " CTL_SERVICE ")",
        .timeout_sec = CTL_READ_TIMEOUT_SEC,
};

int ctl_report_failure(const CtlContext *c, const CtlOperation *op, const sd_bus_error *error, int r) {
        const char *name = sd_bus_error_is_set(error) ? error->name : NULL;
        const char *message = name ? error->message : NULL;
        char line[1024];

        /* sd-bus's name for a local errno is no D-Bus error of anyone's. */
        if (name && strncmp(name, "System.Error.", strlen("System.Error.")) == 0)
                name = message = NULL;
        ctl_failure_format(line, sizeof(line), op, name, message, r);
        if (c->args->json) {
                ctl_print_error_json(stdout, name, message ? message : strerror(-r));
                fflush(stdout);
        }
        fprintf(stderr, "%s\n", line);
        if (ctl_failure_classify(name, r, op->gpu) == CTL_FAILURE_NO_BUS) {
                char where[512];

                fprintf(stderr, "The connection was to %s.\n",
                        ctl_bus_describe(c->args->bus,
                                         c->args->bus == CTL_BUS_REMOTE ? c->args->host : c->args->bus_address, where,
                                         sizeof(where)));
        }
        /* Denied without having asked, by a polkit that would have: say
         * how to be asked. */
        if (ctl_failure_classify(name, r, op->gpu) == CTL_FAILURE_ACCESS_DENIED && !c->interactive &&
            c->args->bus != CTL_BUS_REMOTE && !(message && strstr(message, "polkit is not available")))
                fprintf(stderr, "Run it on a terminal without --no-ask-password to be asked for a password, or "
                        "grant the action (see nvidia-ccd(8), AUTHORIZATION).\n");
        return ctl_failure_exit_code(ctl_failure_classify(name, r, op->gpu));
}

static int read_host(const CtlContext *c, CtlHost *host, const CtlOperation *op) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = ctl_bus_read_host(c->bus, host, &error);
        if (r < 0)
                return ctl_report_failure(c, op, &error, r);
        return CTL_EXIT_SUCCESS;
}

int verb_status(const CtlContext *c) {
        _cleanup_(ctl_host_done) CtlHost host = {};
        int r;

        assert(c);

        ctl_host_init(&host);
        r = read_host(c, &host, &read_operation);
        if (r != CTL_EXIT_SUCCESS)
                return r;

        if (c->args->json)
                ctl_print_status_json(stdout, &host);
        else
                ctl_print_status(stdout, &host, ctl_name_width_for(host.devices, host.n_devices, c->columns));
        return CTL_EXIT_SUCCESS;
}

int verb_list(const CtlContext *c) {
        _cleanup_(ctl_host_done) CtlHost host = {};
        int r;

        assert(c);

        ctl_host_init(&host);
        r = read_host(c, &host, &read_operation);
        if (r != CTL_EXIT_SUCCESS)
                return r;

        if (c->args->json)
                ctl_print_devices_json(stdout, host.devices, host.n_devices);
        else
                ctl_print_devices(stdout, host.devices, host.n_devices,
                                  ctl_name_width_for(host.devices, host.n_devices, c->columns));
        return CTL_EXIT_SUCCESS;
}

/* --dry-run: the Manager's plan of the operation, printed; nothing changes. */
static int print_plan(const CtlContext *c, const CtlOperation *op, bool vfio, const char *operation) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(ctl_plan_done) CtlPlan plan = {};
        const CtlArgs *a = c->args;
        int r;

        ctl_plan_init(&plan);
        r = ctl_bus_plan(c->bus, vfio, a->mode, (const char (*)[CTL_BDF_MAX]) a->addresses, a->n_addresses, &plan,
                         &error);
        if (r < 0)
                return ctl_report_failure(c, op, &error, r);
        if (a->json)
                ctl_print_plan_json(stdout, &plan);
        else
                ctl_print_plan(stdout, &plan, operation);
        return CTL_EXIT_SUCCESS;
}

/* After a change: the new status as JSON, or what changed for people (or
 * nothing with -q). */
typedef void (*ReportFunction)(const CtlContext *c, const CtlHost *before, const CtlHost *after);

static int finish_change(const CtlContext *c, const CtlHost *before, ReportFunction report) {
        _cleanup_(ctl_host_done) CtlHost after = {};
        int r;

        if (!c->args->json && (c->args->quiet || !before))
                return CTL_EXIT_SUCCESS;
        ctl_host_init(&after);
        r = read_host(c, &after, &read_operation);
        if (r != CTL_EXIT_SUCCESS)
                return r;
        if (c->args->json)
                ctl_print_status_json(stdout, &after);
        else
                report(c, before, &after);
        return CTL_EXIT_SUCCESS;
}

/* The host before a change, to tell afterwards what changed; NULL (and no
 * report) when it cannot be read, which the change itself will show. */
static CtlHost *read_before(const CtlContext *c, CtlHost *host) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        ctl_host_init(host);
        if (c->args->json || c->args->quiet)
                return NULL;
        if (ctl_bus_read_host(c->bus, host, &error) < 0)
                return NULL;
        return host;
}

static void report_mode(const CtlContext *c, const CtlHost *before, const CtlHost *after) {
        ctl_report_mode(stdout, before, after, c->args->mode, *c->args->gpu ? c->args->gpu : NULL);
}

int verb_set_mode(const CtlContext *c) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(ctl_host_done) CtlHost host = {};
        const CtlHost *before;
        const CtlArgs *a;
        CtlOperation op;
        int r;

        assert(c);
        a = c->args;
        assert(a->mode);

        op = (CtlOperation) {
                .failed = "Failed to set mode",
                .denied = "not authorized to set the mode (polkit action org.nvidia.ConfidentialCompute.set-mode)",
                .gpu = *a->gpu ? a->gpu : NULL,
                .timeout_sec = CTL_SET_MODE_TIMEOUT_SEC,
        };

        if (a->dry_run) {
                _cleanup_free_ char *operation = NULL;

                op.failed = "Failed to plan the mode switch";
                if (asprintf(&operation, "set-mode %s", a->mode) < 0)
                        return CTL_EXIT_FAILURE;
                return print_plan(c, &op, false, operation);
        }

        before = read_before(c, &host);
        r = ctl_bus_set_mode(c->bus, op.gpu, a->mode, &error);
        if (r < 0)
                return ctl_report_failure(c, &op, &error, r);
        return finish_change(c, before, report_mode);
}

static void report_bind(const CtlContext *c, const CtlHost *before, const CtlHost *after) {
        ctl_report_vfio(stdout, before, after, true, (const char (*)[CTL_BDF_MAX]) c->args->addresses,
                        c->args->n_addresses);
}

static void report_unbind(const CtlContext *c, const CtlHost *before, const CtlHost *after) {
        ctl_report_vfio(stdout, before, after, false, (const char (*)[CTL_BDF_MAX]) c->args->addresses,
                        c->args->n_addresses);
}

static int vfio_verb(const CtlContext *c, bool bind) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(ctl_host_done) CtlHost host = {};
        const CtlHost *before;
        const CtlArgs *a;
        CtlOperation op;
        int r;

        assert(c);
        a = c->args;

        op = (CtlOperation) {
                .failed = bind ? "Failed to bind to VFIO" : "Failed to unbind from VFIO",
                .denied = "not authorized to manage VFIO bindings (polkit action org.nvidia.ConfidentialCompute.manage-vfio)",
                .timeout_sec = CTL_VFIO_TIMEOUT_SEC,
        };

        if (a->dry_run) {
                op.failed = "Failed to plan the VFIO bind";
                return print_plan(c, &op, true, "bind-vfio");
        }

        before = read_before(c, &host);
        r = ctl_bus_vfio(c->bus, bind, (const char (*)[CTL_BDF_MAX]) a->addresses, a->n_addresses, &error);
        if (r < 0)
                return ctl_report_failure(c, &op, &error, r);
        return finish_change(c, before, bind ? report_bind : report_unbind);
}

int verb_bind_vfio(const CtlContext *c) {
        return vfio_verb(c, true);
}

int verb_unbind_vfio(const CtlContext *c) {
        return vfio_verb(c, false);
}
