/* SPDX-License-Identifier: MIT */
#pragma once

/* The options of InstallKataArtifacts(): read from the a{sv} and checked
 * before authorization (names, types, paths, descriptors), and turned into
 * descriptors of the daemon's own after it.
 *
 * The pull secret and the CA bundle come as descriptors the caller opened
 * with its own rights ("pull-secret-fd", "ca-file-fd", type h), so any file
 * the caller can read works, in /root or anywhere the unit's sandbox hides,
 * and nothing is opened by path as root on a caller's behalf.  The path
 * options ("pull-secret", "ca-file", type s) are taken only for files in
 * the configuration's directory (/etc/nvidia-ccd), which only root can
 * write and the unit can read; any other path is InvalidArgument. */

#include <stdbool.h>
#include <systemd/sd-bus.h>

typedef struct KataOptions {
        /* Borrowed from the message, which outlives the use. */
        const char *pull_secret_path;
        const char *ca_path;
        int pull_secret_fd;        /* -1: none */
        int ca_fd;                 /* -1: none */
        bool plain_http;
        bool register_containerd;
        bool restart_containerd;
} KataOptions;

#define KATA_OPTIONS_INIT                                                    \
        (KataOptions) {                                                      \
                .pull_secret_fd = -1, .ca_fd = -1, .register_containerd = true \
        }

/* Reads the a{sv}; InvalidArgument naming the option for an unknown one,
 * a wrong type, a path outside secrets_dir, a descriptor that is not a
 * readable regular file within its limit, or two ways of giving one file. */
int kata_options_read(sd_bus_message *m, const char *secrets_dir, KataOptions *o, sd_bus_error *error);

/* After authorization: descriptors of the daemon's own (copies of the
 * caller's, or the path opened), -1 where the option is absent.  Opening a
 * path that is not there or not a regular file is InvalidArgument. */
int kata_options_open(const KataOptions *o, int *ret_pull_secret_fd, int *ret_ca_fd, sd_bus_error *error);
