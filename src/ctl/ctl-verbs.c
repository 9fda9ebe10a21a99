/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "ctl-bus.h"
#include "ctl-errors.h"
#include "ctl-print.h"
#include "ctl-verbs.h"
#include "macro.h"

static const CtlOperation read_operation = {
        .failed = "Failed to read the status",
        /* Reads need no polkit; only a bus policy can refuse them. */
        .denied = "not authorized to read the status (D-Bus policy of " CTL_SERVICE ")",
        .timeout_sec = CTL_READ_TIMEOUT_SEC,
};

/* Prints the line for people on stderr (and, with json_object, the error
 * object on stdout) and returns the exit code. */
static int report_failure(const CtlOperation *op, const sd_bus_error *error, int r, bool json_object) {
        const char *name = sd_bus_error_is_set(error) ? error->name : NULL;
        const char *message = name ? error->message : NULL;
        char line[1024];

        ctl_failure_format(line, sizeof(line), op, name, message, r);
        if (json_object) {
                ctl_print_error_json(stdout, name, message ? message : strerror(-r));
                fflush(stdout);
        }
        fprintf(stderr, "%s\n", line);
        return ctl_failure_exit_code(ctl_failure_classify(name, r, op->gpu));
}

static int read_host(const CtlContext *c, CtlHost *host, const CtlOperation *op, bool json_object) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = ctl_bus_read_host(c->bus, host, &error);
        if (r < 0)
                return report_failure(op, &error, r, json_object);
        return CTL_EXIT_SUCCESS;
}

int verb_status(const CtlContext *c) {
        _cleanup_(ctl_host_done) CtlHost host = {};
        int r;

        assert(c);

        ctl_host_init(&host);
        r = read_host(c, &host, &read_operation, false);
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
        r = read_host(c, &host, &read_operation, false);
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
                return report_failure(op, &error, r, a->json);
        if (a->json)
                ctl_print_plan_json(stdout, &plan);
        else
                ctl_print_plan(stdout, &plan, operation);
        return CTL_EXIT_SUCCESS;
}

int verb_set_mode(const CtlContext *c) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(ctl_host_done) CtlHost host = {};
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

        /* The mode is the daemon's to check, so that its InvalidArgument
         * message is the one people see. */
        r = ctl_bus_set_mode(c->bus, op.gpu, a->mode, &error);
        if (r < 0)
                return report_failure(&op, &error, r, a->json);

        if (!a->json)
                return CTL_EXIT_SUCCESS;

        ctl_host_init(&host);
        r = read_host(c, &host, &read_operation, true);
        if (r != CTL_EXIT_SUCCESS)
                return r;
        ctl_print_status_json(stdout, &host);
        return CTL_EXIT_SUCCESS;
}

static int vfio_verb(const CtlContext *c, bool bind) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(ctl_host_done) CtlHost host = {};
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

        r = ctl_bus_vfio(c->bus, bind, (const char (*)[CTL_BDF_MAX]) a->addresses, a->n_addresses, &error);
        if (r < 0)
                return report_failure(&op, &error, r, a->json);

        if (!a->json)
                return CTL_EXIT_SUCCESS;

        ctl_host_init(&host);
        r = read_host(c, &host, &read_operation, true);
        if (r != CTL_EXIT_SUCCESS)
                return r;
        ctl_print_status_json(stdout, &host);
        return CTL_EXIT_SUCCESS;
}

int verb_bind_vfio(const CtlContext *c) {
        return vfio_verb(c, true);
}

int verb_unbind_vfio(const CtlContext *c) {
        return vfio_verb(c, false);
}
