/* SPDX-License-Identifier: MIT */

/* install-artifacts and remove-artifacts.  An install waits for the
 * daemon's reply; on a terminal it shows the pull's progress from the
 * Manager's ArtifactsProgress property as PropertiesChanged reports it. */

#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "ctl-bus.h"
#include "ctl-errors.h"
#include "ctl-json.h"
#include "ctl-print.h"
#include "ctl-verbs.h"
#include "macro.h"
#include "oci-pull.h"

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

/* The pull secret and the CA bundle are opened here, with the caller's
 * rights, and handed over as descriptors: the daemon opens no path on the
 * caller's behalf (and its sandbox hides /root and /home). */
static int open_file_option(const CtlContext *c, const char *option, const char *path, uint64_t max, int *ret) {
        char message[512];
        struct stat st;
        int fd;

        /* O_NONBLOCK: a FIFO given by mistake must not hang us in open(). */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                snprintf(message, sizeof(message), "%s %s: %s", option, path, strerror(errno));
        else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                snprintf(message, sizeof(message), "%s %s: not a regular file", option, path);
                close(fd);
                fd = -1;
        } else if ((uint64_t) st.st_size > max) {
                snprintf(message, sizeof(message), "%s %s: larger than %" PRIu64 " bytes, the most nvidia-ccd takes",
                         option, path, max);
                close(fd);
                fd = -1;
        }
        if (fd < 0) {
                if (c->args->json)
                        ctl_print_error_json(stdout, NULL, message);
                fprintf(stderr, "%s\n", message);
                return -EINVAL;
        }
        *ret = fd;
        return 0;
}

static int append_options(sd_bus_message *m, const CtlArgs *a, int secret_fd, int ca_fd) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && secret_fd >= 0)
                r = sd_bus_message_append(m, "{sv}", "pull-secret-fd", "h", secret_fd);
        if (r >= 0 && ca_fd >= 0)
                r = sd_bus_message_append(m, "{sv}", "ca-file-fd", "h", ca_fd);
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
        Install in = { .runtime_class = a->runtime_class, .tty = isatty(STDERR_FILENO) && !a->json && !a->quiet };
        _cleanup_close_ int secret_fd = -1, ca_fd = -1;
        const char *path;
        int r;

        assert(c);

        if (a->pull_secret && open_file_option(c, "--pull-secret", a->pull_secret, OCI_PULL_SECRET_MAX, &secret_fd) < 0)
                return CTL_EXIT_USAGE;
        if (a->ca_file && open_file_option(c, "--ca-file", a->ca_file, OCI_CA_BUNDLE_MAX, &ca_fd) < 0)
                return CTL_EXIT_USAGE;

        r = sd_bus_match_signal(c->bus, &match, CTL_SERVICE, CTL_MANAGER_PATH, "org.freedesktop.DBus.Properties",
                                "PropertiesChanged", on_properties_changed, &in);
        if (r >= 0)
                r = sd_bus_message_new_method_call(c->bus, &call, CTL_SERVICE, CTL_MANAGER_PATH,
                                                   CTL_MANAGER_INTERFACE, "InstallKataArtifacts");
        if (r >= 0)
                r = sd_bus_message_append(call, "ss", a->runtime_class, a->reference);
        if (r >= 0)
                r = append_options(call, a, secret_fd, ca_fd);
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
                return ctl_report_failure(c, &install_operation, &error, r);

        r = sd_bus_message_get_errno(in.reply);
        if (sd_bus_message_is_method_error(in.reply, NULL)) {
                sd_bus_error_copy(&error, sd_bus_message_get_error(in.reply));
                sd_bus_message_unref(in.reply);
                return ctl_report_failure(c, &install_operation, &error, -(r ? r : EIO));
        }
        r = sd_bus_message_read(in.reply, "o", &path);
        if (r >= 0) {
                if (a->json) {
                        JsonWriter w;

                        json_writer_init(&w, stdout);
                        json_begin_object(&w);
                        json_key(&w, "runtime_class");
                        json_string(&w, a->runtime_class);
                        json_key(&w, "object");
                        json_string(&w, path);
                        json_end_object(&w);
                        fputc('\n', stdout);
                } else if (!a->quiet)
                        printf("Installed runtime class %s (%s)\n", a->runtime_class, path);
        }
        sd_bus_message_unref(in.reply);
        return r < 0 ? ctl_report_failure(c, &install_operation, &error, r) : CTL_EXIT_SUCCESS;
}

int verb_remove_artifacts(const CtlContext *c) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        assert(c);

        r = sd_bus_call_method(c->bus, CTL_SERVICE, CTL_MANAGER_PATH, CTL_MANAGER_INTERFACE, "RemoveKataArtifacts",
                               &error, &reply, "s", c->args->runtime_class);
        if (r < 0)
                return ctl_report_failure(c, &remove_operation, &error, r);
        if (c->args->json) {
                JsonWriter w;

                json_writer_init(&w, stdout);
                json_begin_object(&w);
                json_key(&w, "removed");
                json_string(&w, c->args->runtime_class);
                json_end_object(&w);
                fputc('\n', stdout);
        } else if (!c->args->quiet)
                printf("Removed runtime class %s\n", c->args->runtime_class);
        return CTL_EXIT_SUCCESS;
}
