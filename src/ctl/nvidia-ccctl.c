/* SPDX-License-Identifier: MIT */
#include <locale.h>
#include <sys/ioctl.h>

#include "build-config.h"
#include "ctl-args.h"
#include "ctl-bus.h"
#include "ctl-errors.h"
#include "ctl-json.h"
#include "ctl-model.h"
#include "ctl-pager.h"
#include "ctl-polkit-agent.h"
#include "ctl-print.h"
#include "ctl-verbs.h"
#include "macro.h"

static void help(void) {
        printf("%1$s [OPTIONS...] COMMAND ...\n"
               "\n"
               "Query or change the confidential-computing mode of the NVIDIA GPUs, their\n"
               "VFIO binding and the Kata runtime artifacts, through nvidia-ccd.\n"
               "\n"
               "Commands:\n"
               "  status                 Show the host's mode and its devices (default)\n"
               "  list                   List the devices\n"
               "  set-mode MODE          Switch every CC-capable GPU to MODE: on, off,\n"
               "                         devtools or ppcie; returns when the switch is done\n"
               "  bind-vfio [BDF...]     Bind the IOMMU groups of these GPUs (default: every\n"
               "                         GPU) to VFIO, all or nothing\n"
               "  unbind-vfio [BDF...]   Give those groups back to the drivers they had\n"
               "  install-artifacts NAME REFERENCE\n"
               "                         Pull the Kata artifacts REFERENCE (HOST[:PORT]/REPO\n"
               "                         [:TAG][@sha256:DIGEST]) and install them as runtime\n"
               "                         class NAME, registered with containerd\n"
               "  remove-artifacts NAME  Remove runtime class NAME and its registration\n"
               "\n"
               "Options:\n"
               "  -h --help              Show this help\n"
               "     --version           Show the version\n"
               "     --gpu=BDF           With set-mode: switch only this device\n"
               "                         (e.g. 0000:65:00.0 or 65:00.0; not with ppcie)\n"
               "     --dry-run           With set-mode and bind-vfio: show what each device\n"
               "                         would go through and who holds it open; change\n"
               "                         nothing\n"
               "     --pull-secret=FILE  With install-artifacts: docker config JSON with the\n"
               "                         registry's credentials (read with your rights)\n"
               "     --ca-file=FILE      With install-artifacts: PEM bundle to trust\n"
               "     --plain-http        With install-artifacts: allow http:// (loopback only)\n"
               "     --no-register-containerd\n"
               "                         With install-artifacts: leave containerd's config alone\n"
               "     --restart-containerd\n"
               "                         With install-artifacts: restart containerd.service\n"
               "     --json=MODE         Print JSON (pretty, short or off; --json is short):\n"
               "                         status an object, list an array, a change the new\n"
               "                         status, a failure an error object, --dry-run\n"
               "                         the plan as an array\n"
               "  -q --quiet             Print nothing on success\n"
               "     --no-pager          Do not pipe the output into a pager\n"
               "     --no-legend         Do not print the tables' headers\n"
               "     --no-ask-password   Do not ask for a password when authorization\n"
               "                         is needed\n"
               "  -H --host=[USER@]HOST  Operate on a remote host (ssh)\n"
               "     --bus=BUS           system (default), session or a D-Bus address\n"
               "\n"
               "Exit status:\n"
               "  0  success\n"
               "  1  the operation failed, nvidia-ccd is not running, or no bus\n"
               "  2  usage error: a missing or invalid argument or option\n"
               "  4  not authorized\n"
               "\n"
               "See nvidia-ccctl(1).\n",
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

/* The pager for the commands that print tables. */
static bool command_pages(CtlCommand c) {
        return c == CTL_COMMAND_STATUS || c == CTL_COMMAND_LIST;
}

int main(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        CtlArgs args;
        CtlContext context;
        char error[512], where[512];
        bool interactive, paged = false;
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
        json_set_pretty(args.json == CTL_JSON_PRETTY);
        ctl_print_set_legend(args.legend);

        /* A password prompt needs someone at a terminal to answer it. */
        interactive = args.ask_password && isatty(STDIN_FILENO);
        r = ctl_bus_open(args.bus, args.bus == CTL_BUS_REMOTE ? args.host : args.bus_address, interactive, &bus);
        if (r < 0) {
                /* The bus itself, not the service: told apart from
                 * "nvidia-ccd is not running". */
                snprintf(error, sizeof(error), "Cannot connect to %s: %s%s",
                         ctl_bus_describe(args.bus, args.bus == CTL_BUS_REMOTE ? args.host : args.bus_address, where,
                                          sizeof(where)),
                         strerror(-r),
                         args.bus == CTL_BUS_REMOTE ? "" : " (is the D-Bus daemon running?)");
                if (args.json)
                        ctl_print_error_json(stdout, NULL, error);
                fprintf(stderr, "%s\n", error);
                return CTL_EXIT_FAILURE;
        }

        /* The agent answers polkit for this process, on this terminal:
         * not for a remote host, whose polkit cannot reach it. */
        if (interactive && args.bus != CTL_BUS_REMOTE && ctl_command_changes_host(args.command))
                (void) ctl_polkit_agent_open();

        context = (CtlContext) {
                .bus = bus,
                .args = &args,
                .columns = args.json ? 0 : terminal_columns(),
                .interactive = interactive,
        };
        if (args.pager && command_pages(args.command))
                paged = ctl_pager_open() > 0;

        r = verb_functions[args.command](&context);
        fflush(stdout);
        /* With a pager, a write error is the pager having quit (q in less). */
        if (ferror(stdout) && r == CTL_EXIT_SUCCESS && !paged) {
                fprintf(stderr, "Failed to write the output.\n");
                r = CTL_EXIT_FAILURE;
        }
        ctl_pager_close();
        ctl_polkit_agent_close();
        return r;
}
