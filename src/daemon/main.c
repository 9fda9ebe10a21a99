/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <libgen.h>

#include "build-config.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "message-ids.h"
#include "host.h"

#define DEFAULT_STATE_DIRECTORY "/var/lib/nvidia-ccd"

typedef struct Options {
        const char *sysfs_root;
        bool simulate;
        const char *config_path;
        bool config_given;
        const char *bus;
        LogTarget log_target;
        bool debug;
} Options;

static void help(void) {
        printf("Usage: nvidia-ccd [OPTIONS]\n\n"
               "Sets the confidential-computing mode of the host's NVIDIA GPUs on behalf of\n"
               "D-Bus callers (org.nvidia.ConfidentialCompute on the system bus).\n\n"
               "  --sysfs-root DIR     Take every host path (sys/, dev/, proc/, run/) under DIR (default /)\n"
               "  --simulate           Serve GPU registers and sysfs effects from the built-in\n"
               "                       simulator (fake trees only: needs --sysfs-root, not /)\n"
               "  --config FILE        Configuration file (default %s)\n"
               "  --bus BUS            system, session or a D-Bus address (default system)\n"
               "  --log-target TARGET  auto, journal or console (default auto)\n"
               "  --debug              Log debug messages too\n"
               "  --version            Print the version\n"
               "  -h --help            Show this help\n\n"
               "See nvidia-ccd(8).\n",
               CC_CONFIG_DEFAULT_PATH);
}

static int parse_argv(int argc, char *argv[], Options *o) {
        enum { ARG_SYSFS_ROOT = 0x100, ARG_SIMULATE, ARG_CONFIG, ARG_BUS, ARG_LOG_TARGET, ARG_DEBUG, ARG_VERSION };
        static const struct option options[] = {
                { "sysfs-root", required_argument, NULL, ARG_SYSFS_ROOT },
                { "simulate",   no_argument,       NULL, ARG_SIMULATE },
                { "config",     required_argument, NULL, ARG_CONFIG },
                { "bus",        required_argument, NULL, ARG_BUS },
                { "log-target", required_argument, NULL, ARG_LOG_TARGET },
                { "debug",      no_argument,       NULL, ARG_DEBUG },
                { "version",    no_argument,       NULL, ARG_VERSION },
                { "help",       no_argument,       NULL, 'h' },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_SYSFS_ROOT:
                        o->sysfs_root = optarg;
                        break;
                case ARG_SIMULATE:
                        o->simulate = true;
                        break;
                case ARG_CONFIG:
                        o->config_path = optarg;
                        o->config_given = true;
                        break;
                case ARG_BUS:
                        o->bus = optarg;
                        break;
                case ARG_LOG_TARGET:
                        if (log_target_from_string(optarg, &o->log_target) < 0) {
                                fprintf(stderr, "Unknown log target \"%s\": expected auto, journal or console\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_DEBUG:
                        o->debug = true;
                        break;
                case ARG_VERSION:
                        printf("nvidia-ccd %s\n", PACKAGE_VERSION);
                        return 0;
                case 'h':
                        help();
                        return 0;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "Unexpected argument \"%s\"\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

/* The configured default, with the no-TEE fallback of the Operator. */
static TargetMode effective_default(const CcConfig *c, const char *tee) {
        TargetMode m = c->default_mode;

        if ((m == TARGET_MODE_ON || m == TARGET_MODE_DEVTOOLS) && streq(tee, "none")) {
                log_struct(LOG_WARNING,
                           LOG_MESSAGE_ID(CC_MESSAGE_NO_HOST_TEE),
                           LOG_MESSAGE("Default mode %s configured, but the host has neither TDX nor SEV-SNP: "
                                       "using off", target_mode_to_string(m)),
                           NULL);
                return TARGET_MODE_OFF;
        }
        return m;
}

/* The absolute directory of the configuration file, symbolic links
 * resolved; the file itself need not exist. */
static int config_directory(const char *config_path, char **ret) {
        _cleanup_free_ char *copy = strdup(config_path), *dir = NULL;

        if (!copy)
                return -ENOMEM;
        dir = realpath(dirname(copy), NULL);
        if (!dir) {
                /* Not there (yet): the path as given, when absolute. */
                if (config_path[0] != '/')
                        return -errno;
                free(copy);
                copy = strdup(config_path);
                if (!copy)
                        return -ENOMEM;
                dir = strdup(dirname(copy));
                if (!dir)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(dir);
        return 0;
}

static int setup(Daemon *d, const Options *o) {
        CcError e = CC_ERROR_INIT;
        const char *state_dir = getenv("STATE_DIRECTORY");
        int r;

        r = cc_config_load(&d->config, o->config_path, o->config_given, &e);
        if (r < 0) {
                log_error("%s", e.message);
                return r;
        }

        r = config_directory(o->config_path, &d->config_dir);
        if (r < 0) {
                return log_error_errno(r, "Cannot resolve the directory of %s: %m", o->config_path);
        }

        r = cc_host_open(o->sysfs_root ? o->sysfs_root : "/", o->simulate, &d->host);
        if (r == -EPERM && o->simulate) {
                log_error("--simulate plays the kernel's part on a fake tree and needs --sysfs-root DIR "
                          "other than /: refusing to write to the host's own /sys");
                return r;
        }
        if (r < 0) {
                return log_error_errno(r, "Cannot use host root %s: %m", o->sysfs_root ? o->sysfs_root : "/");
        }
        cc_host_set_write_timeout(d->host, d->config.sysfs_write_timeout_sec);

        /* systemd may pass several directories; the first is ours. */
        d->state_dir = strndup(state_dir ? state_dir : DEFAULT_STATE_DIRECTORY,
                               state_dir ? strcspn(state_dir, ":") : strlen(DEFAULT_STATE_DIRECTORY));
        if (!d->state_dir)
                return -ENOMEM;

        d->host_tee = cc_host_tee(d->host);
        d->default_mode = effective_default(&d->config, d->host_tee);

        /* Devices a crash left half bound to vfio are given back before
         * discovery reads them. */
        (void) vfio_control_recover(d);

        r = cc_inventory_scan(d->host, &d->config, &d->inventory, &e);
        if (r < 0) {
                log_error("Device discovery failed: %s", e.message);
                return r;
        }
        (void) vfio_control_sync_cdi(d);
        d->mode = strdup(cc_inventory_mode(d->inventory));
        if (!d->mode)
                return -ENOMEM;

        r = kata_control_load(d);
        if (r < 0)
                log_error_errno(r, "Cannot read the installed runtime classes: %m");
        return r;
}

int main(int argc, char *argv[]) {
        _cleanup_(daemon_freep) Daemon *d = NULL;
        Options o = { .config_path = CC_CONFIG_DEFAULT_PATH, .log_target = LOG_TARGET_AUTO };
        int r;

        r = parse_argv(argc, argv, &o);
        if (r <= 0)
                return r < 0 ? 2 : 0;

        log_setup("nvidia-ccd", o.log_target);
        if (o.debug)
                log_set_max_level(LOG_DEBUG);

        r = daemon_new(&d);
        if (r >= 0)
                r = setup(d, &o);
        if (r >= 0)
                r = daemon_connect_bus(d, o.bus);
        if (r >= 0)
                r = daemon_run(d);
        if (r < 0) {
                log_error_errno(r, "Exiting: %m");
                return EXIT_FAILURE;
        }
        return r;
}
