/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <ctype.h>
#include <getopt.h>
#include <stdarg.h>

#include "ctl-args.h"
#include "macro.h"

typedef struct Verb {
        const char *name;
        CtlCommand command;
        unsigned n_args; /* positional arguments after the verb */
        bool more_args;  /* any number beyond n_args */
        const char *usage;
} Verb;

static const Verb verbs[] = {
        { "status", CTL_COMMAND_STATUS, 0, false, "status" },
        { "list", CTL_COMMAND_LIST, 0, false, "list" },
        { "set-mode", CTL_COMMAND_SET_MODE, 1, false, "set-mode MODE [--gpu BDF | --dry-run]" },
        { "bind-vfio", CTL_COMMAND_BIND_VFIO, 0, true, "bind-vfio [BDF...] [--dry-run]" },
        { "unbind-vfio", CTL_COMMAND_UNBIND_VFIO, 0, true, "unbind-vfio [BDF...]" },
        { "install-artifacts", CTL_COMMAND_INSTALL_ARTIFACTS, 2, false,
          "install-artifacts NAME REFERENCE [--pull-secret FILE] [--ca-file FILE] [--plain-http] "
          "[--no-register-containerd] [--restart-containerd]" },
        { "remove-artifacts", CTL_COMMAND_REMOVE_ARTIFACTS, 1, false, "remove-artifacts NAME" },
};

const char *ctl_command_to_string(CtlCommand c) {
        static const char *const names[_CTL_COMMAND_MAX] = {
                [CTL_COMMAND_STATUS] = "status",
                [CTL_COMMAND_LIST] = "list",
                [CTL_COMMAND_SET_MODE] = "set-mode",
                [CTL_COMMAND_BIND_VFIO] = "bind-vfio",
                [CTL_COMMAND_UNBIND_VFIO] = "unbind-vfio",
                [CTL_COMMAND_INSTALL_ARTIFACTS] = "install-artifacts",
                [CTL_COMMAND_REMOVE_ARTIFACTS] = "remove-artifacts",
                [CTL_COMMAND_HELP] = "help",
                [CTL_COMMAND_VERSION] = "version",
        };
        if ((unsigned) c >= _CTL_COMMAND_MAX)
                return NULL;
        return names[c];
}

static int usage_error(char *error, size_t size, const char *fmt, ...) _printf_(3, 4);
static int usage_error(char *error, size_t size, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(error, size, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static bool is_hex(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!isxdigit((unsigned char) s[i]))
                        return false;
        return true;
}

int ctl_complete_bdf(const char *bdf, char *buf, size_t size) {
        int n;

        assert(bdf);
        assert(buf);

        /* bus:device.function without a domain: lspci's short form. */
        if (strlen(bdf) == 7 && is_hex(bdf, 2) && bdf[2] == ':' && is_hex(bdf + 3, 2) && bdf[5] == '.' &&
            is_hex(bdf + 6, 1))
                n = snprintf(buf, size, "0000:%s", bdf);
        else
                n = snprintf(buf, size, "%s", bdf);
        if (n < 0 || (size_t) n >= size)
                return -ENAMETOOLONG;
        return 0;
}

enum {
        ARG_VERSION = 0x100,
        ARG_JSON,
        ARG_BUS,
        ARG_NO_ASK_PASSWORD,
        ARG_GPU,
        ARG_PULL_SECRET,
        ARG_CA_FILE,
        ARG_PLAIN_HTTP,
        ARG_NO_REGISTER_CONTAINERD,
        ARG_RESTART_CONTAINERD,
        ARG_DRY_RUN,
};

int ctl_parse_args(int argc, char *argv[], CtlArgs *ret, char *error, size_t error_size) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "json", no_argument, NULL, ARG_JSON },
                { "bus", required_argument, NULL, ARG_BUS },
                { "no-ask-password", no_argument, NULL, ARG_NO_ASK_PASSWORD },
                { "gpu", required_argument, NULL, ARG_GPU },
                { "pull-secret", required_argument, NULL, ARG_PULL_SECRET },
                { "ca-file", required_argument, NULL, ARG_CA_FILE },
                { "plain-http", no_argument, NULL, ARG_PLAIN_HTTP },
                { "no-register-containerd", no_argument, NULL, ARG_NO_REGISTER_CONTAINERD },
                { "restart-containerd", no_argument, NULL, ARG_RESTART_CONTAINERD },
                { "dry-run", no_argument, NULL, ARG_DRY_RUN },
                {}
        };
        CtlArgs a = {
                .command = CTL_COMMAND_STATUS,
                .ask_password = true,
                .bus = CTL_BUS_SYSTEM,
        };
        const char *gpu = NULL;
        bool help = false, version = false, install_option = false;
        const Verb *verb = NULL;
        int c, n_args;

        assert(argc >= 0);
        assert(argv);
        assert(ret);
        assert(error);

        /* optind 0 makes glibc start over; opterr 0 keeps getopt quiet so
         * every message comes from here. */
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help = true;
                        break;
                case ARG_VERSION:
                        version = true;
                        break;
                case ARG_JSON:
                        a.json = true;
                        break;
                case ARG_BUS:
                        if (streq(optarg, "system"))
                                a.bus = CTL_BUS_SYSTEM;
                        else if (streq(optarg, "session"))
                                a.bus = CTL_BUS_SESSION;
                        else if (strchr(optarg, ':') && !strchr(optarg, '\n')) {
                                a.bus = CTL_BUS_ADDRESS;
                                a.bus_address = optarg;
                        } else
                                return usage_error(error, error_size,
                                                   "--bus: \"%s\" is not system, session or a D-Bus address", optarg);
                        break;
                case ARG_NO_ASK_PASSWORD:
                        a.ask_password = false;
                        break;
                case ARG_GPU:
                        if (!*optarg)
                                return usage_error(error, error_size,
                                                   "--gpu: expected a PCI address such as 0000:65:00.0");
                        gpu = optarg;
                        break;
                case ARG_PULL_SECRET:
                case ARG_CA_FILE:
                        if (!*optarg)
                                return usage_error(error, error_size, "%s: expected a file",
                                                   c == ARG_PULL_SECRET ? "--pull-secret" : "--ca-file");
                        *(c == ARG_PULL_SECRET ? &a.pull_secret : &a.ca_file) = optarg;
                        install_option = true;
                        break;
                case ARG_PLAIN_HTTP:
                        a.plain_http = install_option = true;
                        break;
                case ARG_NO_REGISTER_CONTAINERD:
                        a.no_register_containerd = install_option = true;
                        break;
                case ARG_RESTART_CONTAINERD:
                        a.restart_containerd = install_option = true;
                        break;
                case ARG_DRY_RUN:
                        a.dry_run = true;
                        break;
                case ':':
                        return usage_error(error, error_size, "Option %s needs an argument", argv[optind - 1]);
                case '?':
                        if (optopt > 0 && optopt < 0x100)
                                return usage_error(error, error_size, "Unknown option -%c", optopt);
                        return usage_error(error, error_size, "Unknown option %s", argv[optind - 1]);
                default:
                        return usage_error(error, error_size, "Unhandled option");
                }

        /* --help and --version win over everything else, as in systemd's
         * tools: "nvidia-ccctl set-mode --help" shows the help. */
        if (help || version) {
                *ret = (CtlArgs) { .command = help ? CTL_COMMAND_HELP : CTL_COMMAND_VERSION };
                return 0;
        }

        n_args = argc - optind;
        if (n_args == 0)
                verb = &verbs[0]; /* no command: status, like hostnamectl */
        else {
                for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                        if (streq(argv[optind], verbs[i].name))
                                verb = &verbs[i];
                if (!verb)
                        return usage_error(error, error_size, "Unknown command \"%s\"", argv[optind]);
                n_args--;
        }

        if ((unsigned) n_args < verb->n_args)
                return usage_error(error, error_size, "Too few arguments: %s", verb->usage);
        if ((unsigned) n_args > verb->n_args && !verb->more_args)
                return usage_error(error, error_size, "Too many arguments: %s", verb->usage);
        a.command = verb->command;

        if (gpu && a.command != CTL_COMMAND_SET_MODE)
                return usage_error(error, error_size, "--gpu is only valid with set-mode");
        if (a.dry_run && a.command != CTL_COMMAND_SET_MODE && a.command != CTL_COMMAND_BIND_VFIO)
                return usage_error(error, error_size, "--dry-run is only valid with set-mode and bind-vfio");
        /* The plan is the Manager's, of every device the mode concerns. */
        if (a.dry_run && gpu)
                return usage_error(error, error_size,
                                   "--dry-run shows the plan for every GPU and cannot be combined with --gpu");
        if (install_option && a.command != CTL_COMMAND_INSTALL_ARTIFACTS)
                return usage_error(error, error_size,
                                   "--pull-secret, --ca-file, --plain-http, --no-register-containerd and "
                                   "--restart-containerd are only valid with install-artifacts");
        if (a.restart_containerd && a.no_register_containerd)
                return usage_error(error, error_size, "--restart-containerd and --no-register-containerd exclude each other");
        if (a.command == CTL_COMMAND_INSTALL_ARTIFACTS) {
                a.runtime_class = argv[optind + 1];
                a.reference = argv[optind + 2];
        }
        if (a.command == CTL_COMMAND_REMOVE_ARTIFACTS)
                a.runtime_class = argv[optind + 1];
        if (a.command == CTL_COMMAND_SET_MODE) {
                a.mode = argv[optind + 1];
                if (gpu && ctl_complete_bdf(gpu, a.gpu, sizeof(a.gpu)) < 0)
                        return usage_error(error, error_size, "--gpu: \"%s\" is too long for a PCI address", gpu);
        }
        if (a.command == CTL_COMMAND_BIND_VFIO || a.command == CTL_COMMAND_UNBIND_VFIO) {
                if ((size_t) n_args > CTL_ADDRESSES_MAX)
                        return usage_error(error, error_size, "Too many addresses: at most %d at a time",
                                           CTL_ADDRESSES_MAX);
                /* The addresses are the daemon's to check, so that its
                 * message is the one people see. */
                for (int i = 0; i < n_args; i++) {
                        const char *bdf = argv[optind + 1 + i];
                        if (!*bdf)
                                return usage_error(error, error_size, "%s: empty PCI address", verb->name);
                        if (ctl_complete_bdf(bdf, a.addresses[i], sizeof(a.addresses[i])) < 0)
                                return usage_error(error, error_size, "\"%s\" is too long for a PCI address", bdf);
                }
                a.n_addresses = (size_t) n_args;
        }

        *ret = a;
        return 0;
}
