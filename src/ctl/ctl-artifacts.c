/* SPDX-License-Identifier: MIT */

/* install-artifacts and remove-artifacts.  An install waits for the
 * daemon's reply; on a terminal it shows the pull's progress from the
 * Manager's ArtifactsProgress property as PropertiesChanged reports it. */

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>

#include "ctl-bus.h"
#include "ctl-errors.h"
#include "ctl-verbs.h"
#include "macro.h"

/* A pull of a few GiB over a slow link, then the install. */
#define CTL_INSTALL_TIMEOUT_SEC (60 * 60)

static const CtlOperation install_operation = {
        .failed = "Failed to install the Kata artifacts",
        .denied = "not authorized to install Kata artifacts (polkit action org.nvidia.ConfidentialCompute.manage-artifacts)",
        .timeout_sec = CTL_INSTALL_TIMEOUT_SEC,
};

static const CtlOperation remove_operation = {
        .failed = "Failed to remove the Kata artifacts",
        .denied = "not authorized to remove Kata artifacts (polkit action org.nvidia.ConfidentialCompute.manage-artifacts)",
        .timeout_sec = CTL_READ_TIMEOUT_SEC,
};

static int report(const CtlOperation *op, const sd_bus_error *error, int r) {
        const char *name = sd_bus_error_is_set(error) ? error->name : NULL;
        char line[1024];

        ctl_failure_format(line, sizeof(line), op, name, name ? error->message : NULL, r);
        fprintf(stderr, "%s\n", line);
        return ctl_failure_exit_code(ctl_failure_classify(name, r, NULL));
}

typedef struct Install {
        const char *runtime_class;
        bool tty;
        bool shown;            /* a progress line is on the terminal */
        bool done;
        sd_bus_message *reply;
} Install;

static void show_progress(Install *in, const char *name, uint64_t done, uint64_t total) {
        if (!in->tty || !streq(name, in->runtime_class))
                return;
        if (total > 0)
                fprintf(stderr, "\rPulling %s: %.1f of %.1f MiB (%u%%)   ", name, done / 1048576.0, total / 1048576.0,
                        (unsigned) (done * 100 / total));
        else
                fprintf(stderr, "\rPulling %s: %.1f MiB   ", name, done / 1048576.0);
        in->shown = true;
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Install *in = userdata;
        const char *iface, *prop;
        int r;

        r = sd_bus_message_read(m, "s", &iface);
        if (r < 0 || !streq(iface, CTL_MANAGER_INTERFACE))
                return 0;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return 0;
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                if (sd_bus_message_read(m, "s", &prop) < 0)
                        return 0;
                if (streq(prop, "ArtifactsProgress")) {
                        const char *name;
                        uint64_t done, total;

                        if (sd_bus_message_read(m, "v", "(stt)", &name, &done, &total) >= 0)
                                show_progress(in, name, done, total);
                } else if (sd_bus_message_skip(m, "v") < 0)
                        return 0;
                if (sd_bus_message_exit_container(m) < 0)
                        return 0;
        }
        return 0;
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Install *in = userdata;

        in->reply = sd_bus_message_ref(m);
        in->done = true;
        return 0;
}

static int append_options(sd_bus_message *m, const CtlArgs *a) {
        _cleanup_free_ char *secret = NULL, *ca = NULL;
        int r;

        /* The daemon does not share our working directory. */
        if (a->pull_secret && !(secret = realpath(a->pull_secret, NULL)))
                return -errno;
        if (a->ca_file && !(ca = realpath(a->ca_file, NULL)))
                return -errno;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && secret)
                r = sd_bus_message_append(m, "{sv}", "pull-secret", "s", secret);
        if (r >= 0 && ca)
                r = sd_bus_message_append(m, "{sv}", "ca-file", "s", ca);
        if (r >= 0 && a->plain_http)
                r = sd_bus_message_append(m, "{sv}", "plain-http", "b", 1);
        if (r >= 0 && a->no_register_containerd)
                r = sd_bus_message_append(m, "{sv}", "register-containerd", "b", 0);
        if (r >= 0 && a->restart_containerd)
                r = sd_bus_message_append(m, "{sv}", "restart-containerd", "b", 1);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

int verb_install_artifacts(const CtlContext *c) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *match = NULL, *slot = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const CtlArgs *a = c->args;
        Install in = { .runtime_class = a->runtime_class, .tty = isatty(STDERR_FILENO) && !a->json };
        const char *path;
        int r;

        assert(c);

        r = sd_bus_match_signal(c->bus, &match, CTL_SERVICE, CTL_MANAGER_PATH, "org.freedesktop.DBus.Properties",
                                "PropertiesChanged", on_properties_changed, &in);
        if (r >= 0)
                r = sd_bus_message_new_method_call(c->bus, &call, CTL_SERVICE, CTL_MANAGER_PATH,
                                                   CTL_MANAGER_INTERFACE, "InstallKataArtifacts");
        if (r >= 0)
                r = sd_bus_message_append(call, "ss", a->runtime_class, a->reference);
        if (r >= 0) {
                r = append_options(call, a);
                if (r < 0) {
                        fprintf(stderr, "%s: %s: %s\n", install_operation.failed,
                                a->pull_secret && access(a->pull_secret, R_OK) < 0 ? a->pull_secret : strempty(a->ca_file),
                                strerror(-r));
                        return CTL_EXIT_USAGE;
                }
        }
        if (r >= 0)
                r = sd_bus_call_async(c->bus, &slot, call, on_reply, &in, CTL_INSTALL_TIMEOUT_SEC * 1000000ULL);
        while (r >= 0 && !in.done) {
                r = sd_bus_process(c->bus, NULL);
                if (r == 0)
                        r = sd_bus_wait(c->bus, UINT64_MAX);
        }
        if (in.shown)
                fputc('\n', stderr);
        if (r < 0)
                return report(&install_operation, &error, r);

        r = sd_bus_message_get_errno(in.reply);
        if (sd_bus_message_is_method_error(in.reply, NULL)) {
                sd_bus_error_copy(&error, sd_bus_message_get_error(in.reply));
                sd_bus_message_unref(in.reply);
                return report(&install_operation, &error, -(r ? r : EIO));
        }
        r = sd_bus_message_read(in.reply, "o", &path);
        if (r >= 0) {
                if (a->json)
                        printf("{\"runtime_class\":\"%s\",\"object\":\"%s\"}\n", a->runtime_class, path);
                else
                        printf("Installed runtime class %s (%s)\n", a->runtime_class, path);
        }
        sd_bus_message_unref(in.reply);
        return r < 0 ? report(&install_operation, &error, r) : CTL_EXIT_SUCCESS;
}

int verb_remove_artifacts(const CtlContext *c) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        assert(c);

        r = sd_bus_call_method(c->bus, CTL_SERVICE, CTL_MANAGER_PATH, CTL_MANAGER_INTERFACE, "RemoveKataArtifacts",
                               &error, &reply, "s", c->args->runtime_class);
        if (r < 0)
                return report(&remove_operation, &error, r);
        if (!c->args->json)
                printf("Removed runtime class %s\n", c->args->runtime_class);
        return CTL_EXIT_SUCCESS;
}
