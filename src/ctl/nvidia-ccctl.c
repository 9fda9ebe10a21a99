/* SPDX-License-Identifier: MIT */
#include <locale.h>
#include <sys/ioctl.h>

#include "build-config.h"
#include "ctl-args.h"
#include "ctl-bus.h"
#include "ctl-errors.h"
#include "ctl-model.h"
#include "ctl-print.h"
#include "ctl-verbs.h"
#include "macro.h"

static void help(void) {
        printf("%1$s [OPTIONS...] COMMAND ...\n"
               "\n"
               "Query or change the confidential-computing mode of the NVIDIA GPUs, and\n"
               "their VFIO binding, through nvidia-ccd.\n"
               "\n"
               "Commands:\n"
               "  status                 Show the host's mode and its devices (default)\n"
               "  list                   List the devices\n"
               "  set-mode MODE          Switch every CC-capable GPU to MODE: on, off,\n"
               "                         devtools or ppcie; returns when the switch is done\n"
               "  bind-vfio [BDF...]     Bind the IOMMU groups of these GPUs (default: every\n"
               "                         GPU) to VFIO, all or nothing\n"
               "  unbind-vfio [BDF...]   Give those groups back to the drivers they had\n"
               "  install-artifacts NAME REF\n"
               "                         Pull the Kata artifacts REF (HOST[:PORT]/REPO[:TAG]\n"
               "                         [@sha256:DIGEST]) and install them as runtime class\n"
               "                         NAME, registered with containerd\n"
               "  remove-artifacts NAME  Remove runtime class NAME and its registration\n"
               "\n"
               "Options:\n"
               "  -h --help              Show this help\n"
               "     --version           Show the version\n"
               "     --gpu=BDF           With set-mode: switch only this device\n"
               "                         (e.g. 0000:65:00.0; ppcie is for all GPUs only)\n"
               "     --dry-run           With set-mode and bind-vfio: show what each device\n"
               "                         would go through and who holds it open; change\n"
               "                         nothing\n"
               "     --pull-secret=FILE  With install-artifacts: docker config JSON with the\n"
               "                         registry's credentials\n"
               "     --ca-file=FILE      With install-artifacts: PEM bundle to trust\n"
               "     --plain-http        With install-artifacts: allow http:// (loopback only)\n"
               "     --no-register-containerd\n"
               "                         With install-artifacts: leave containerd's config alone\n"
               "     --restart-containerd\n"
               "                         With install-artifacts: restart containerd.service\n"
               "     --json              Print JSON: status an object, list an array,\n"
               "                         set-mode, bind-vfio and unbind-vfio the new\n"
               "                         status or an error object, --dry-run the plan\n"
               "                         as an array\n"
               "     --bus=BUS           system (default), session or a D-Bus address\n"
               "     --no-ask-password   Do not ask for a password when authorization\n"
               "                         is needed\n"
               "\n"
               "Exit status:\n"
               "  0  success\n"
               "  1  the operation failed (or nvidia-ccd is not running)\n"
               "  2  usage error\n"
               "  4  not authorized\n",
               program_invocation_short_name);
}

/* The NAME column gives way so that the table fits a terminal; piped
 * output is never cut. */
static size_t terminal_columns(void) {
        struct winsize ws = {};
        const char *e;

        if (!isatty(STDOUT_FILENO))
                return 0;
        e = getenv("COLUMNS");
        if (e) {
                char *end;
                unsigned long n = strtoul(e, &end, 10);
                if (*e && !*end && n > 0 && n < 10000)
                        return n;
        }
        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0)
                return 0;
        return ws.ws_col;
}

typedef int (*VerbFunction)(const CtlContext *c);

static const VerbFunction verb_functions[_CTL_COMMAND_MAX] = {
        [CTL_COMMAND_STATUS] = verb_status,
        [CTL_COMMAND_LIST] = verb_list,
        [CTL_COMMAND_SET_MODE] = verb_set_mode,
        [CTL_COMMAND_BIND_VFIO] = verb_bind_vfio,
        [CTL_COMMAND_UNBIND_VFIO] = verb_unbind_vfio,
        [CTL_COMMAND_INSTALL_ARTIFACTS] = verb_install_artifacts,
        [CTL_COMMAND_REMOVE_ARTIFACTS] = verb_remove_artifacts,
};

int main(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        CtlArgs args;
        CtlContext context;
        char error[256];
        int r;

        setlocale(LC_ALL, "");

        r = ctl_parse_args(argc, argv, &args, error, sizeof(error));
        if (r < 0) {
                fprintf(stderr, "%s: %s\nTry '%s --help' for more information.\n", program_invocation_short_name, error,
                        program_invocation_short_name);
                return CTL_EXIT_USAGE;
        }
        if (args.command == CTL_COMMAND_HELP) {
                help();
                return CTL_EXIT_SUCCESS;
        }
        if (args.command == CTL_COMMAND_VERSION) {
                printf("nvidia-ccctl %s\n", PACKAGE_VERSION);
                return CTL_EXIT_SUCCESS;
        }

        /* A password prompt needs someone at a terminal to answer it. */
        r = ctl_bus_open(args.bus, args.bus_address, args.ask_password && isatty(STDIN_FILENO), &bus);
        if (r < 0) {
                if (args.json && (args.command == CTL_COMMAND_SET_MODE || args.command == CTL_COMMAND_BIND_VFIO ||
                                  args.command == CTL_COMMAND_UNBIND_VFIO))
                        ctl_print_error_json(stdout, NULL, strerror(-r));
                fprintf(stderr,
                        "nvidia-ccd is not running (" CTL_SERVICE " not on the bus): cannot connect to the %s bus: %s\n",
                        args.bus == CTL_BUS_SYSTEM ? "system" : args.bus == CTL_BUS_SESSION ? "session" : "given",
                        strerror(-r));
                return CTL_EXIT_FAILURE;
        }

        context = (CtlContext) {
                .bus = bus,
                .args = &args,
                .columns = args.json ? 0 : terminal_columns(),
        };

        r = verb_functions[args.command](&context);
        fflush(stdout);
        if (ferror(stdout) && r == CTL_EXIT_SUCCESS) {
                fprintf(stderr, "Failed to write the output.\n");
                return CTL_EXIT_FAILURE;
        }
        return r;
}
