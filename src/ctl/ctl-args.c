/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <ctype.h>
#include <getopt.h>
#include <stdarg.h>

#include "cc-names.h"
#include "ctl-args.h"
#include "macro.h"
#include "oci-reference.h"

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

bool ctl_command_changes_host(CtlCommand c) {
        return c == CTL_COMMAND_SET_MODE || c == CTL_COMMAND_BIND_VFIO || c == CTL_COMMAND_UNBIND_VFIO ||
               c == CTL_COMMAND_INSTALL_ARTIFACTS || c == CTL_COMMAND_REMOVE_ARTIFACTS;
}

/* n hex digits, then the end of the field. */
static bool hex_field(const char *s, size_t n, char end) {
        for (size_t i = 0; i < n; i++)
                if (!isxdigit((unsigned char) s[i]))
                        return false;
        return s[n] == end;
}

int ctl_complete_bdf(const char *bdf, char *buf, size_t size) {
        const char *bus = bdf;
        size_t domain = 0, len;
        int n;

        assert(bdf);
        assert(buf);

        /* [DOMAIN:]BB:DD.F; the domain is 4 hex digits, more behind a VMD
         * bridge. */
        domain = strspn(bdf, "0123456789abcdefABCDEF");
        if (bdf[domain] == ':' && domain >= 4 && domain <= 8)
                bus = bdf + domain + 1;
        else
                domain = 0;
        if (!hex_field(bus, 2, ':') || !hex_field(bus + 3, 2, '.') || !isdigit((unsigned char) bus[6]) ||
            bus[6] > '7' || bus[7] != '\0' || strtoul(bus + 3, NULL, 16) > 0x1f)
                return -EINVAL;

        n = domain ? snprintf(buf, size, "%s", bdf) : snprintf(buf, size, "0000:%s", bdf);
        if (n < 0 || (size_t) n >= size)
                return -ENAMETOOLONG;
        len = (size_t) n;
        for (size_t i = 0; i < len; i++)
                buf[i] = (char) tolower((unsigned char) buf[i]);
        return 0;
}

/* Fills buf with the whole address, or says what is wrong with it. */
static int parse_bdf(const char *bdf, char *buf, size_t size, char *error, size_t error_size) {
        int r = ctl_complete_bdf(bdf, buf, size);

        if (r == -ENAMETOOLONG)
                return usage_error(error, error_size, "\"%s\" is too long for a PCI address", bdf);
        if (r < 0)
                return usage_error(error, error_size, CTL_BDF_INVALID_FMT, bdf);
        return 0;
}

enum {
        ARG_VERSION = 0x100,
        ARG_JSON,
        ARG_BUS,
        ARG_NO_ASK_PASSWORD,
        ARG_NO_PAGER,
        ARG_NO_LEGEND,
        ARG_GPU,
        ARG_PULL_SECRET,
        ARG_CA_FILE,
        ARG_PLAIN_HTTP,
        ARG_NO_REGISTER_CONTAINERD,
        ARG_RESTART_CONTAINERD,
        ARG_DRY_RUN,
};

static int parse_json(const char *s, CtlJsonMode *ret) {
        if (!s || streq(s, "short"))
                *ret = CTL_JSON_SHORT;
        else if (streq(s, "pretty"))
                *ret = CTL_JSON_PRETTY;
        else if (streq(s, "off"))
                *ret = CTL_JSON_OFF;
        else
                return -EINVAL;
        return 0;
}

/* The arguments of the command that can be checked without the daemon. */
static int check_arguments(CtlArgs *a, char *const *args, size_t n_args, const char *gpu, const char *verb,
                           char *error, size_t error_size) {
        _cleanup_(oci_reference_done) OciReference ref = {};
        CcError e = CC_ERROR_INIT;
        int r;

        switch (a->command) {
        case CTL_COMMAND_SET_MODE:
                a->mode = args[0];
                if (!cc_mode_name_valid(a->mode))
                        return usage_error(error, error_size, CC_MODE_INVALID_FMT, a->mode);
                if (gpu && streq(a->mode, "ppcie"))
                        return usage_error(error, error_size,
                                           "--gpu cannot be used with ppcie: protected PCIe is set on every GPU "
                                           "and NVSwitch together");
                if (gpu)
                        return parse_bdf(gpu, a->gpu, sizeof(a->gpu), error, error_size);
                return 0;

        case CTL_COMMAND_BIND_VFIO:
        case CTL_COMMAND_UNBIND_VFIO:
                if (n_args > CTL_ADDRESSES_MAX)
                        return usage_error(error, error_size, "Too many addresses: at most %d at a time",
                                           CTL_ADDRESSES_MAX);
                for (size_t i = 0; i < n_args; i++) {
                        if (!*args[i])
                                return usage_error(error, error_size, "%s: empty PCI address", verb);
                        r = parse_bdf(args[i], a->addresses[i], sizeof(a->addresses[i]), error, error_size);
                        if (r < 0)
                                return r;
                }
                a->n_addresses = n_args;
                return 0;

        case CTL_COMMAND_INSTALL_ARTIFACTS:
                a->runtime_class = args[0];
                a->reference = args[1];
                if (!cc_runtime_class_valid(a->runtime_class))
                        return usage_error(error, error_size, CC_RUNTIME_CLASS_INVALID_FMT, a->runtime_class);
                /* The daemon's parser, so that its rules and words are the ones. */
                if (oci_reference_parse(a->reference, &ref, &e) < 0)
                        return usage_error(error, error_size, "%s", e.message);
                if (a->plain_http && !oci_reference_is_loopback(&ref))
                        return usage_error(error, error_size,
                                           "--plain-http is only allowed for a registry on loopback (localhost, "
                                           "127.0.0.0/8, [::1]), not %s", ref.host);
                return 0;

        case CTL_COMMAND_REMOVE_ARTIFACTS:
                a->runtime_class = args[0];
                if (!cc_runtime_class_valid(a->runtime_class))
                        return usage_error(error, error_size, CC_RUNTIME_CLASS_INVALID_FMT, a->runtime_class);
                return 0;

        default:
                return 0;
        }
}

int ctl_parse_args(int argc, char *argv[], CtlArgs *ret, char *error, size_t error_size) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "json", optional_argument, NULL, ARG_JSON },
                { "bus", required_argument, NULL, ARG_BUS },
                { "host", required_argument, NULL, 'H' },
                { "no-ask-password", no_argument, NULL, ARG_NO_ASK_PASSWORD },
                { "no-pager", no_argument, NULL, ARG_NO_PAGER },
                { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
                { "quiet", no_argument, NULL, 'q' },
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
                .pager = true,
                .legend = true,
                .bus = CTL_BUS_SYSTEM,
        };
        const char *gpu = NULL;
        bool help = false, version = false, install_option = false, bus_given = false;
        const Verb *verb = NULL;
        int c, n_args, r;

        assert(argc >= 0);
        assert(argv);
        assert(ret);
        assert(error);

        /* optind 0 makes glibc start over; opterr 0 keeps getopt quiet so
         * every message comes from here. */
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":hqH:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help = true;
                        break;
                case ARG_VERSION:
                        version = true;
                        break;
                case ARG_JSON:
                        if (parse_json(optarg, &a.json) < 0)
                                return usage_error(error, error_size,
                                                   "--json: \"%s\" is not pretty, short or off", optarg);
                        break;
                case ARG_BUS:
                        bus_given = true;
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
                case 'H':
                        if (!*optarg || strchr(optarg, '\n') || strchr(optarg, ','))
                                return usage_error(error, error_size, "--host: \"%s\" is not [USER@]HOST", optarg);
                        a.host = optarg;
                        break;
                case ARG_NO_ASK_PASSWORD:
                        a.ask_password = false;
                        break;
                case ARG_NO_PAGER:
                        a.pager = false;
                        break;
                case ARG_NO_LEGEND:
                        a.legend = false;
                        break;
                case 'q':
                        a.quiet = true;
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

        if (a.host) {
                if (bus_given)
                        return usage_error(error, error_size, "--host and --bus exclude each other");
                a.bus = CTL_BUS_REMOTE;
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

        r = check_arguments(&a, argv + optind + 1, (size_t) n_args, gpu, verb->name, error, error_size);
        if (r < 0)
                return r;

        *ret = a;
        return 0;
}
