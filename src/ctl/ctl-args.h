/* SPDX-License-Identifier: MIT */
#pragma once

/* The command line of nvidia-ccctl, parsed without side effects so that it
 * can be tested: no printing, no exiting. */

#include <stdbool.h>
#include <stddef.h>

typedef enum CtlCommand {
        CTL_COMMAND_STATUS,
        CTL_COMMAND_LIST,
        CTL_COMMAND_SET_MODE,
        CTL_COMMAND_BIND_VFIO,
        CTL_COMMAND_UNBIND_VFIO,
        CTL_COMMAND_INSTALL_ARTIFACTS,
        CTL_COMMAND_REMOVE_ARTIFACTS,
        CTL_COMMAND_HELP,
        CTL_COMMAND_VERSION,
        _CTL_COMMAND_MAX,
} CtlCommand;

typedef enum CtlBusKind {
        CTL_BUS_SYSTEM,
        CTL_BUS_SESSION,
        CTL_BUS_ADDRESS,
        CTL_BUS_REMOTE,         /* -H: the system bus of another host, over ssh */
} CtlBusKind;

/* --json=MODE, as systemd's tools take it; plain --json is short. */
typedef enum CtlJsonMode {
        CTL_JSON_OFF,
        CTL_JSON_SHORT,
        CTL_JSON_PRETTY,
} CtlJsonMode;

/* "0000:65:00.0" plus room for longer domains. */
#define CTL_BDF_MAX 32
/* Addresses one bind-vfio or unbind-vfio takes. */
#define CTL_ADDRESSES_MAX 64

typedef struct CtlArgs {
        CtlCommand command;
        CtlJsonMode json;          /* CTL_JSON_OFF is 0: tests as a boolean */
        bool dry_run;              /* set-mode, bind-vfio: print the plan, change nothing */
        bool ask_password;
        bool pager;                /* --no-pager clears it */
        bool legend;               /* --no-legend clears it */
        bool quiet;                /* -q: nothing on success */
        CtlBusKind bus;
        const char *bus_address;   /* CTL_BUS_ADDRESS: points into argv */
        const char *host;          /* CTL_BUS_REMOTE: [USER@]HOST, points into argv */
        const char *mode;          /* set-mode: points into argv */
        char gpu[CTL_BDF_MAX];     /* set-mode --gpu: "" for every GPU */
        /* bind-vfio, unbind-vfio: the devices, completed like --gpu; none
         * for every GPU. */
        char addresses[CTL_ADDRESSES_MAX][CTL_BDF_MAX];
        size_t n_addresses;

        /* install-artifacts, remove-artifacts: point into argv. */
        const char *runtime_class;
        const char *reference;
        const char *pull_secret;
        const char *ca_file;
        bool plain_http;
        bool no_register_containerd;
        bool restart_containerd;
} CtlArgs;

/* Exit codes, documented in --help. */
#define CTL_EXIT_SUCCESS 0
#define CTL_EXIT_FAILURE 1
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_ACCESS_DENIED 4

/* Parses argv.  Returns 0, or -EINVAL with a message for people in error
 * (the caller prints it and exits with CTL_EXIT_USAGE): unknown commands
 * and options, missing arguments, and arguments that cannot be right
 * whatever the host (a mode that does not exist, a malformed PCI address,
 * runtime class name or reference), each with one message wherever it
 * appears.  Resets getopt's state, so it can be called more than once. */
int ctl_parse_args(int argc, char *argv[], CtlArgs *ret, char *error, size_t error_size);

/* A PCI address as lspci prints it, "65:00.0", or whole, "0000:65:00.0",
 * into buf whole and in lowercase.  -EINVAL when it is neither (whether
 * such a device exists is the daemon's to say), -ENAMETOOLONG when it does
 * not fit. */
int ctl_complete_bdf(const char *bdf, char *buf, size_t size);
/* The message for a BDF ctl_complete_bdf() refused, the same for --gpu,
 * bind-vfio and unbind-vfio. */
#define CTL_BDF_INVALID_FMT                                                                              \
        "Invalid PCI address \"%s\": expected BUS:DEVICE.FUNCTION as lspci prints it (3a:00.0) or " \
        "DOMAIN:BUS:DEVICE.FUNCTION (0000:3a:00.0)"

/* Whether the command asks the daemon to change something, and so may
 * need polkit's authorization (and a password agent). */
bool ctl_command_changes_host(CtlCommand c);

const char *ctl_command_to_string(CtlCommand c);
