/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <systemd/sd-daemon.h>

#include "bridge.h"
#include "ccd-gate.h"
#include "build-config.h"
#include "bus-check.h"
#include "cc-labels.h"
#include "cluster-default.h"
#include "device-names.h"
#include "devplugin.h"
#include "kube-config.h"
#include "liveness.h"
#include "log.h"
#include "macro.h"
#include "node-events.h"
#include "runtime-classes.h"
#include "time-util.h"
#include "workload-labels.h"
#include "workload.h"

#define READINESS_FILE_NAME ".cc-manager-ctr-ready"
#define DEFAULT_READINESS_FILE "/run/nvidia/validations/.cc-manager-ctr-ready"
#define DEFAULT_STATE_DIR "/var/lib/nvidia-cc-k8s-bridge"
#define DEFAULT_LIVENESS_FILE "/run/nvidia-cc-k8s-bridge/alive"
#define DEFAULT_LIVENESS_INTERVAL_SEC 10
#define DEFAULT_LIVENESS_MAX_AGE_SEC 60
/* How long a bridge that cannot start waits for its Event to reach the API server. */
#define EXIT_EVENT_TIMEOUT_USEC (15 * USEC_PER_SEC)

typedef struct Args {
        const char *kubeconfig;
        const char *node_name;
        const char *default_mode;
        const char *mode_state_format;
        const char *config_map;
        char *config_map_namespace, *config_map_name;
        CcModeStateFormat state_format;
        const char *bus;
        const char *readiness_file;
        const char *state_dir;
        const char *service_account_dir;
        const char *operator_namespace;
        const char *liveness_file;
        bool check_liveness;
        unsigned liveness_interval_sec;
        unsigned liveness_max_age_sec;
        int evict; /* -1: from the environment */
        unsigned eviction_timeout_sec;
        unsigned set_mode_timeout_sec;
        unsigned watch_timeout_sec;
        unsigned retry_max_sec;
        LogTarget log_target;
        bool debug;
        const char *device_plugin_dir;
        const char *resource_name;    /* "": one resource per GPU model */
        bool no_device_plugin;
        const char *validations_dir;
        const char *default_workload;
        bool no_workload;
        const char *runtime_classes;  /* the file; NULL: none */
        const char *registry_ca_file;
        int restart_containerd;       /* -1: from the environment */
} Args;

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "Applies the node label nvidia.com/cc.mode through nvidia-ccd and writes the result back\n"
               "as nvidia.com/cc.mode.state and nvidia.com/cc.ready.state; binds the GPUs to VFIO as\n"
               "nvidia.com/gpu.workload.config asks and labels nvidia.com/cc.capable; serves the kubelet\n"
               "device plugin API for the GPUs nvidia-ccd has bound to VFIO.\n\n"
               "  -h --help                      Show this help\n"
               "     --version                  Show the version\n"
               "     --kubeconfig FILE          Kubeconfig to use (else $KUBECONFIG, else in-cluster)\n"
               "     --node-name NAME           This node (else $NODE_NAME, else the host name)\n"
               "     --default-mode MODE        Mode when the label is absent or empty\n"
               "                                (else $DEFAULT_CC_MODE, else none: only report)\n"
               "     --cluster-default-config-map NAMESPACE/NAME\n"
               "                                The ConfigMap whose key defaultMode is the cluster default\n"
               "                                where the GPU Operator's ClusterPolicy CRD is not installed\n"
               "                                (else $CLUSTER_DEFAULT_CONFIG_MAP, else\n"
               "                                " CLUSTER_DEFAULT_CONFIG_MAP_NAMESPACE "/" CLUSTER_DEFAULT_CONFIG_MAP_NAME "; empty: none)\n"
               "     --mode-state-format FORMAT nvidia.com/cc.mode.state as success/failed (success,\n"
               "                                the default) or as the mode applied/failed (mode)\n"
               "                                (else $CC_MODE_STATE_FORMAT)\n"
               "     --bus ADDRESS              system (default), session or a D-Bus address\n"
               "     --readiness-file PATH      Present while the node is verified in the mode asked for\n"
               "                                (default: " READINESS_FILE_NAME " in the validations directory)\n"
               "     --validations-dir DIR      Where workload-type and vfio-pci-ready are written (else\n"
               "                                the readiness file's directory, else " DEFAULT_VALIDATIONS_DIR ")\n"
               "     --default-workload WORKLOAD\n"
               "                                Workload when " WORKLOAD_LABEL " is absent or empty\n"
               "                                (else $DEFAULT_GPU_WORKLOAD_CONFIG, else " WORKLOAD_CONTAINER ")\n"
               "     --no-workload              Leave VFIO, the validation files and " CC_LABEL_CAPABLE " alone\n"
               "     --state-dir DIR            Where the record of paused labels is kept\n"
               "                                (else $STATE_DIRECTORY, else " DEFAULT_STATE_DIR ")\n"
               "     --service-account-dir DIR  In-cluster credentials (default\n"
               "                                " KUBE_SERVICE_ACCOUNT_DIR ")\n"
               "     --operator-namespace NS    Namespace of the operand pods (else $OPERATOR_NAMESPACE,\n"
               "                                else the service account's, else all)\n"
               "     --evict-operator-components=BOOL\n"
               "                                Pause the operands around a switch (else\n"
               "                                $EVICT_OPERATOR_COMPONENTS, else true)\n"
               "     --eviction-timeout SEC     Longest wait for the operand pods (default 300)\n"
               "     --set-mode-timeout SEC     Longest wait for a switch (default 1800)\n"
               "     --watch-timeout SEC        Server-side timeout of each watch (default 300)\n"
               "     --retry-max SEC            Longest delay between retries of a failed switch\n"
               "                                (default 300)\n"
               "     --device-plugin-dir DIR    The kubelet's device plugin directory\n"
               "                                (default " DEFAULT_DEVICE_PLUGIN_DIR ")\n"
               "     --resource-name NAME       The GPUs' extended resource (" RESOURCE_PGPU " for the\n"
               "                                single Kata-mode one); empty: one per GPU model, as\n"
               "                                nvidia.com/GH100_H100_PCIE (else nvidia.com/$P_GPU_ALIAS,\n"
               "                                else one per GPU model)\n"
               "     --no-device-plugin         Do not serve the device plugin\n"
               "     --runtime-classes FILE     Install the Kata runtime classes of this kata-manager\n"
               "                                file that select this node (else $RUNTIME_CLASSES_FILE)\n"
               "     --registry-ca-file FILE    PEM bundle to trust for their registries\n"
               "                                (else $REGISTRY_CA_FILE, else nvidia-ccd's trust)\n"
               "     --restart-containerd=BOOL  Restart containerd after each install (else\n"
               "                                $RESTART_CONTAINERD, else false)\n"
               "     --liveness-file PATH       Touched while the bridge works\n"
               "                                (default " DEFAULT_LIVENESS_FILE ")\n"
               "     --liveness-interval SEC    How often (default 10)\n"
               "     --check-liveness           Exit 0 if the liveness file is fresh, else 1 (a probe)\n"
               "     --liveness-max-age SEC     Fresh: touched within this (default 60)\n"
               "     --log-target TARGET        auto, journal or console\n"
               "     --debug                    Log debug messages\n",
               program_invocation_short_name);
}

static int parse_bool(const char *s, bool *ret) {
        if (!s)
                return -EINVAL;
        if (strcasecmp(s, "true") == 0 || streq(s, "1") || strcasecmp(s, "yes") == 0)
                *ret = true;
        else if (strcasecmp(s, "false") == 0 || streq(s, "0") || strcasecmp(s, "no") == 0)
                *ret = false;
        else
                return -EINVAL;
        return 0;
}

static int parse_seconds(const char *name, const char *s, unsigned *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end || v == 0 || v > 86400 * 7 || s[0] == '-') {
                fprintf(stderr, "%s: \"%s\" is not a number of seconds between 1 and 604800\n", name, s);
                return -EINVAL;
        }
        *ret = (unsigned) v;
        return 0;
}

static int parse_argv(int argc, char *argv[], Args *a) {
        enum {
                ARG_VERSION = 0x100,
                ARG_KUBECONFIG,
                ARG_NODE_NAME,
                ARG_DEFAULT_MODE,
                ARG_MODE_STATE_FORMAT,
                ARG_CONFIG_MAP,
                ARG_BUS,
                ARG_READINESS_FILE,
                ARG_STATE_DIR,
                ARG_SERVICE_ACCOUNT_DIR,
                ARG_OPERATOR_NAMESPACE,
                ARG_EVICT,
                ARG_EVICTION_TIMEOUT,
                ARG_SET_MODE_TIMEOUT,
                ARG_WATCH_TIMEOUT,
                ARG_RETRY_MAX,
                ARG_LIVENESS_FILE,
                ARG_LIVENESS_INTERVAL,
                ARG_CHECK_LIVENESS,
                ARG_LIVENESS_MAX_AGE,
                ARG_LOG_TARGET,
                ARG_DEBUG,
                ARG_DEVICE_PLUGIN_DIR,
                ARG_RESOURCE_NAME,
                ARG_NO_DEVICE_PLUGIN,
                ARG_VALIDATIONS_DIR,
                ARG_DEFAULT_WORKLOAD,
                ARG_NO_WORKLOAD,
                ARG_RUNTIME_CLASSES,
                ARG_REGISTRY_CA_FILE,
                ARG_RESTART_CONTAINERD,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "kubeconfig", required_argument, NULL, ARG_KUBECONFIG },
                { "node-name", required_argument, NULL, ARG_NODE_NAME },
                { "default-mode", required_argument, NULL, ARG_DEFAULT_MODE },
                { "mode-state-format", required_argument, NULL, ARG_MODE_STATE_FORMAT },
                { "cluster-default-config-map", required_argument, NULL, ARG_CONFIG_MAP },
                { "bus", required_argument, NULL, ARG_BUS },
                { "readiness-file", required_argument, NULL, ARG_READINESS_FILE },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "service-account-dir", required_argument, NULL, ARG_SERVICE_ACCOUNT_DIR },
                { "operator-namespace", required_argument, NULL, ARG_OPERATOR_NAMESPACE },
                { "evict-operator-components", required_argument, NULL, ARG_EVICT },
                { "eviction-timeout", required_argument, NULL, ARG_EVICTION_TIMEOUT },
                { "set-mode-timeout", required_argument, NULL, ARG_SET_MODE_TIMEOUT },
                { "watch-timeout", required_argument, NULL, ARG_WATCH_TIMEOUT },
                { "retry-max", required_argument, NULL, ARG_RETRY_MAX },
                { "liveness-file", required_argument, NULL, ARG_LIVENESS_FILE },
                { "liveness-interval", required_argument, NULL, ARG_LIVENESS_INTERVAL },
                { "check-liveness", no_argument, NULL, ARG_CHECK_LIVENESS },
                { "liveness-max-age", required_argument, NULL, ARG_LIVENESS_MAX_AGE },
                { "log-target", required_argument, NULL, ARG_LOG_TARGET },
                { "debug", no_argument, NULL, ARG_DEBUG },
                { "device-plugin-dir", required_argument, NULL, ARG_DEVICE_PLUGIN_DIR },
                { "resource-name", required_argument, NULL, ARG_RESOURCE_NAME },
                { "no-device-plugin", no_argument, NULL, ARG_NO_DEVICE_PLUGIN },
                { "validations-dir", required_argument, NULL, ARG_VALIDATIONS_DIR },
                { "default-workload", required_argument, NULL, ARG_DEFAULT_WORKLOAD },
                { "no-workload", no_argument, NULL, ARG_NO_WORKLOAD },
                { "runtime-classes", required_argument, NULL, ARG_RUNTIME_CLASSES },
                { "registry-ca-file", required_argument, NULL, ARG_REGISTRY_CA_FILE },
                { "restart-containerd", required_argument, NULL, ARG_RESTART_CONTAINERD },
                {}
        };
        bool v;
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("nvidia-cc-k8s-bridge %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_KUBECONFIG:
                        a->kubeconfig = optarg;
                        break;
                case ARG_NODE_NAME:
                        a->node_name = optarg;
                        break;
                case ARG_DEFAULT_MODE:
                        a->default_mode = optarg;
                        break;
                case ARG_CONFIG_MAP:
                        a->config_map = optarg;
                        break;
                case ARG_MODE_STATE_FORMAT:
                        a->mode_state_format = optarg;
                        break;
                case ARG_BUS:
                        a->bus = optarg;
                        break;
                case ARG_READINESS_FILE:
                        a->readiness_file = optarg;
                        break;
                case ARG_STATE_DIR:
                        a->state_dir = optarg;
                        break;
                case ARG_SERVICE_ACCOUNT_DIR:
                        a->service_account_dir = optarg;
                        break;
                case ARG_OPERATOR_NAMESPACE:
                        a->operator_namespace = optarg;
                        break;
                case ARG_EVICT:
                        if (parse_bool(optarg, &v) < 0) {
                                fprintf(stderr, "--evict-operator-components: \"%s\" is not true or false\n",
                                        optarg);
                                return -EINVAL;
                        }
                        a->evict = v;
                        break;
                case ARG_EVICTION_TIMEOUT:
                        if (parse_seconds("--eviction-timeout", optarg, &a->eviction_timeout_sec) < 0)
                                return -EINVAL;
                        break;
                case ARG_SET_MODE_TIMEOUT:
                        if (parse_seconds("--set-mode-timeout", optarg, &a->set_mode_timeout_sec) < 0)
                                return -EINVAL;
                        break;
                case ARG_WATCH_TIMEOUT:
                        if (parse_seconds("--watch-timeout", optarg, &a->watch_timeout_sec) < 0)
                                return -EINVAL;
                        break;
                case ARG_RETRY_MAX:
                        if (parse_seconds("--retry-max", optarg, &a->retry_max_sec) < 0)
                                return -EINVAL;
                        break;
                case ARG_LIVENESS_FILE:
                        a->liveness_file = optarg;
                        break;
                case ARG_LIVENESS_INTERVAL:
                        if (parse_seconds("--liveness-interval", optarg, &a->liveness_interval_sec) < 0)
                                return -EINVAL;
                        break;
                case ARG_CHECK_LIVENESS:
                        a->check_liveness = true;
                        break;
                case ARG_LIVENESS_MAX_AGE:
                        if (parse_seconds("--liveness-max-age", optarg, &a->liveness_max_age_sec) < 0)
                                return -EINVAL;
                        break;
                case ARG_LOG_TARGET:
                        if (log_target_from_string(optarg, &a->log_target) < 0) {
                                fprintf(stderr, "--log-target: \"%s\" is not auto, journal or console\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_DEBUG:
                        a->debug = true;
                        break;
                case ARG_DEVICE_PLUGIN_DIR:
                        a->device_plugin_dir = optarg;
                        break;
                case ARG_RESOURCE_NAME:
                        a->resource_name = optarg;
                        break;
                case ARG_NO_DEVICE_PLUGIN:
                        a->no_device_plugin = true;
                        break;
                case ARG_VALIDATIONS_DIR:
                        a->validations_dir = optarg;
                        break;
                case ARG_DEFAULT_WORKLOAD:
                        a->default_workload = optarg;
                        break;
                case ARG_NO_WORKLOAD:
                        a->no_workload = true;
                        break;
                case ARG_RUNTIME_CLASSES:
                        a->runtime_classes = optarg;
                        break;
                case ARG_REGISTRY_CA_FILE:
                        a->registry_ca_file = optarg;
                        break;
                case ARG_RESTART_CONTAINERD:
                        if (parse_bool(optarg, &v) < 0) {
                                fprintf(stderr, "--restart-containerd: \"%s\" is not true or false\n", optarg);
                                return -EINVAL;
                        }
                        a->restart_containerd = v;
                        break;
                default:
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "unexpected argument \"%s\"\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

static const char *env_nonempty(const char *name) {
        const char *v = getenv(name);

        return v && v[0] ? v : NULL;
}

/* The resource: --resource-name, else the sandbox device plugin's
 * P_GPU_ALIAS (a name under nvidia.com/; set and empty: one resource per
 * model), else one resource per model, as the Operator's page shows
 * (nvidia.com/GH100_H100_PCIE). */
static int complete_device_plugin_args(Args *a) {
        static char *from_alias;
        const char *alias = getenv("P_GPU_ALIAS");

        if (!a->device_plugin_dir)
                a->device_plugin_dir = DEFAULT_DEVICE_PLUGIN_DIR;
        if (!a->resource_name && alias) {
                g_free(from_alias);
                from_alias = alias[0] ? g_strconcat(RESOURCE_DOMAIN "/", alias, NULL) : g_strdup("");
                a->resource_name = from_alias;
        }
        if (!a->resource_name)
                a->resource_name = "";
        if (a->resource_name[0] && !resource_name_is_valid(a->resource_name)) {
                log_error("resource name \"%s\" is not an extended resource name (DOMAIN/NAME)", a->resource_name);
                return -EINVAL;
        }
        return 0;
}

/* Options first, then the environment, then the defaults. */
static int complete_args(Args *a) {
        const char *s;
        bool v;

        if (!a->node_name)
                a->node_name = env_nonempty("NODE_NAME");
        /* No default unless one is given: a DaemonSet applied to many nodes
         * must not reset every GPU of the cluster at once. */
        if (!a->default_mode)
                a->default_mode = env_nonempty("DEFAULT_CC_MODE");
        else if (!a->default_mode[0])
                a->default_mode = NULL;
        if (a->default_mode && !cc_mode_is_valid(a->default_mode)) {
                log_error("default mode \"%s\" is not one of on, off, devtools, ppcie", a->default_mode);
                return -EINVAL;
        }
        if (!a->mode_state_format)
                a->mode_state_format = env_nonempty("CC_MODE_STATE_FORMAT") ?: "success";
        if (cc_mode_state_format_from_string(a->mode_state_format, &a->state_format) < 0) {
                log_error("mode state format \"%s\" is not success or mode", a->mode_state_format);
                return -EINVAL;
        }
        if (!a->config_map)
                a->config_map = getenv("CLUSTER_DEFAULT_CONFIG_MAP") ?:
                                CLUSTER_DEFAULT_CONFIG_MAP_NAMESPACE "/" CLUSTER_DEFAULT_CONFIG_MAP_NAME;
        if (cluster_default_parse_config_map(a->config_map, &a->config_map_namespace, &a->config_map_name) < 0) {
                log_error("ConfigMap \"%s\" is not NAMESPACE/NAME", a->config_map);
                return -EINVAL;
        }
        if (a->evict < 0) {
                s = env_nonempty("EVICT_OPERATOR_COMPONENTS");
                if (s && parse_bool(s, &v) < 0) {
                        log_error("EVICT_OPERATOR_COMPONENTS=\"%s\" is not true or false", s);
                        return -EINVAL;
                }
                a->evict = s ? v : true;
        }
        if (!a->operator_namespace)
                a->operator_namespace = env_nonempty("OPERATOR_NAMESPACE");
        if (!a->kubeconfig)
                a->kubeconfig = env_nonempty("KUBECONFIG");
        if (!a->state_dir)
                a->state_dir = env_nonempty("STATE_DIRECTORY") ?: DEFAULT_STATE_DIR;
        if (!a->default_workload)
                a->default_workload = env_nonempty("DEFAULT_GPU_WORKLOAD_CONFIG") ?: WORKLOAD_CONTAINER;
        if (!workload_is_valid(a->default_workload)) {
                log_error("default workload \"%s\" is not one of container, vm-passthrough, vm-vgpu",
                          a->default_workload);
                return -EINVAL;
        }
        /* The validation files go together, as the Operator keeps them. */
        if (!a->validations_dir && a->readiness_file) {
                static char *dir;

                g_free(dir);
                dir = g_path_get_dirname(a->readiness_file);
                a->validations_dir = dir;
        }
        if (!a->validations_dir)
                a->validations_dir = DEFAULT_VALIDATIONS_DIR;
        if (!a->readiness_file && streq(a->validations_dir, DEFAULT_VALIDATIONS_DIR))
                a->readiness_file = DEFAULT_READINESS_FILE;
        else if (!a->readiness_file) {
                static char *file;

                g_free(file);
                file = g_build_filename(a->validations_dir, READINESS_FILE_NAME, NULL);
                a->readiness_file = file;
        }
        if (!a->liveness_file)
                a->liveness_file = DEFAULT_LIVENESS_FILE;
        if (!a->bus)
                a->bus = "system";
        if (!a->runtime_classes)
                a->runtime_classes = env_nonempty("RUNTIME_CLASSES_FILE");
        else if (!a->runtime_classes[0])
                a->runtime_classes = NULL;
        if (!a->registry_ca_file)
                a->registry_ca_file = env_nonempty("REGISTRY_CA_FILE");
        if (a->restart_containerd < 0) {
                s = env_nonempty("RESTART_CONTAINERD");
                if (s && parse_bool(s, &v) < 0) {
                        log_error("RESTART_CONTAINERD=\"%s\" is not true or false", s);
                        return -EINVAL;
                }
                a->restart_containerd = s ? v : false;
        }
        return complete_device_plugin_args(a);
}

static int load_kube_config(const Args *a, KubeConfig *ret) {
        CcError err = CC_ERROR_INIT;
        g_autofree char *first = NULL;
        int r;

        if (a->kubeconfig) {
                /* $KUBECONFIG may be a list; the first file is taken. */
                first = g_strndup(a->kubeconfig, strcspn(a->kubeconfig, ":"));
                r = kube_config_load(first, ret, &err);
        } else if (getenv("KUBERNETES_SERVICE_HOST"))
                r = kube_config_in_cluster(getenv("KUBERNETES_SERVICE_HOST"), getenv("KUBERNETES_SERVICE_PORT"),
                                           a->service_account_dir, ret, &err);
        else {
                log_error("no API server: give --kubeconfig, set KUBECONFIG, or run in a pod");
                return -EINVAL;
        }
        if (r < 0)
                log_error("%s", err.message);
        return r;
}

static int on_bus_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        /* dbus-daemon restarted or went away: this connection is over, and
         * a new process (systemd's restart, the kubelet's) starts clean. */
        log_error("lost the connection to the bus; exiting");
        (void) sd_event_exit(userdata, -ECONNRESET);
        return 0;
}

static void labels_to_runtime_classes(GHashTable *labels, void *userdata) {
        runtime_classes_set_labels(userdata, labels);
}

static bool bridge_alive(void *userdata, uint64_t now) {
        return bridge_healthy(userdata, now);
}

static void exit_when_idle(NodeEvents *e, void *userdata) {
        (void) sd_event_exit(userdata, 0);
}

static int exit_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        log_warning("the event did not reach the API server in time");
        (void) sd_event_exit(sd_event_source_get_event(s), 0);
        return 0;
}

/* Tells the Node why the bridge cannot run, then returns: the caller exits. */
static void post_and_drain(sd_event *event, NodeEvents *events, const char *reason, const char *message) {
        uint64_t now;

        node_events_post(events, true, reason, "%s", message);
        (void) sd_event_now(event, CLOCK_MONOTONIC, &now);
        if (sd_event_add_time(event, NULL, CLOCK_MONOTONIC, now + EXIT_EVENT_TIMEOUT_USEC, 0, exit_timeout,
                              NULL) < 0)
                return;
        node_events_on_idle(events, exit_when_idle, event);
        (void) sd_event_loop(event);
}

static int block_signals(sd_event *event) {
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        return r;
}

static int check_liveness(const Args *a) {
        g_autofree char *message = NULL;
        int r;

        r = liveness_probe(a->liveness_file, (uint64_t) a->liveness_max_age_sec * USEC_PER_SEC, &message);
        if (r < 0) {
                fprintf(stderr, "%s\n", message);
                return r;
        }
        return 0;
}

/* A readiness file left by an earlier run says nothing about this one: the
 * node is ready once this bridge has seen it in the mode asked for. */
static void remove_stale_readiness(const char *path) {
        if (unlink(path) >= 0)
                log_info("removed the readiness file %s of an earlier run until the mode is verified", path);
        else if (errno != ENOENT)
                log_warning("cannot remove %s: %s", path, strerror(errno));
}

static int run(int argc, char *argv[]) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        g_autofree char *hostname = NULL, *pause_record = NULL, *bus_message = NULL, *namespace = NULL;
        g_autofree char *config_map_namespace = NULL, *config_map_name = NULL;
        KubeConfig config = {};
        KubeClient *kube = NULL;
        NodeEvents *events = NULL;
        Bridge *bridge = NULL;
        DevicePlugin *plugin = NULL;
        Liveness *liveness = NULL;
        Workload *workload = NULL;
        RuntimeClasses *runtime_classes = NULL;
        CcdGate *gate = NULL;
        bool labels;
        Args a = { .evict = -1, .restart_containerd = -1, .eviction_timeout_sec = 300, .set_mode_timeout_sec = 1800,
                   .watch_timeout_sec = 300, .retry_max_sec = 300,
                   .liveness_interval_sec = DEFAULT_LIVENESS_INTERVAL_SEC,
                   .liveness_max_age_sec = DEFAULT_LIVENESS_MAX_AGE_SEC, .log_target = LOG_TARGET_AUTO };
        int r;

        r = parse_argv(argc, argv, &a);
        if (r <= 0)
                return r;
        if (a.check_liveness) {
                if (!a.liveness_file)
                        a.liveness_file = DEFAULT_LIVENESS_FILE;
                return check_liveness(&a);
        }

        /* In a pod, stderr is the log; on a host, the journal. */
        if (a.log_target == LOG_TARGET_AUTO && getenv("KUBERNETES_SERVICE_HOST"))
                a.log_target = LOG_TARGET_CONSOLE;
        log_setup("nvidia-cc-k8s-bridge", a.log_target);
        if (a.debug)
                log_set_max_level(LOG_DEBUG);

        r = complete_args(&a);
        /* Freed on every way out, whatever complete_args() got to. */
        config_map_namespace = a.config_map_namespace;
        config_map_name = a.config_map_name;
        if (r < 0)
                return r;
        if (!a.node_name) {
                hostname = g_strdup(g_get_host_name());
                a.node_name = hostname;
                log_notice("neither --node-name nor NODE_NAME given; using the host name %s", a.node_name);
        }
        /* The device plugin needs no API server; without one, it runs alone. */
        labels = a.kubeconfig || getenv("KUBERNETES_SERVICE_HOST") || a.no_device_plugin;
        if (labels) {
                remove_stale_readiness(a.readiness_file);
                r = load_kube_config(&a, &config);
                if (r < 0)
                        return r;
                if (!a.operator_namespace && !a.kubeconfig && config.namespace)
                        a.operator_namespace = config.namespace;
                /* The pod's own namespace, as kubectl takes the context's
                 * (the client takes the configuration). */
                namespace = g_strdup(config.namespace ?: "default");
        } else if (a.runtime_classes) {
                log_error("--runtime-classes needs the API server (the node's labels, the pull secrets): give "
                          "--kubeconfig, set KUBECONFIG, or run in a pod");
                return -EINVAL;
        } else
                log_notice("no API server (no --kubeconfig, KUBECONFIG or pod): only the device plugin runs");

        r = sd_event_default(&event);
        if (r >= 0)
                r = block_signals(event);
        if (r >= 0 && labels)
                r = kube_client_new(event, &config, &kube);
        if (r >= 0 && labels)
                r = node_events_new(kube, event, a.node_name, &events);
        if (r < 0)
                goto fail;

        r = bus_open_checked(a.bus, &bus, &bus_message);
        if (r < 0) {
                log_error("%s", bus_message);
                if (events)
                        post_and_drain(event, events, "SystemBusRefused", bus_message);
                goto fail_quiet;
        }
        r = sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                                "org.freedesktop.DBus.Local", "Disconnected", on_bus_disconnected, event);
        if (r >= 0)
                r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                goto fail;

        if (!a.no_device_plugin) {
                const DevicePluginOptions options = {
                        .dir = a.device_plugin_dir,
                        .resource_name = a.resource_name[0] ? a.resource_name : NULL,
                        .nvswitch_resource_name = RESOURCE_NVSWITCH,
                };

                r = device_plugin_new(event, bus, &options, &plugin);
                if (r >= 0)
                        r = device_plugin_start(plugin);
                /* No kubelet directory on this host: the labels go on alone. */
                if (r == -ENOENT && labels) {
                        log_warning("%s does not exist: the device plugin is off", a.device_plugin_dir);
                        plugin = device_plugin_free(plugin);
                        r = 0;
                }
                if (r < 0)
                        goto fail;
        }

        pause_record = g_build_filename(a.state_dir, "paused-labels", NULL);
        /* One state-changing call to nvidia-ccd at a time: the roles take
         * turns rather than be refused with Busy. */
        r = ccd_gate_new(event, &gate);
        if (r < 0)
                goto fail;
        if (labels) {
                BridgeOptions options = {
                        .node_name = a.node_name,
                        .default_mode = a.default_mode,
                        .mode_state_format = a.state_format,
                        .cluster_default = true,
                        .config_map_namespace = a.config_map_namespace,
                        .config_map_name = a.config_map_name,
                        .evict_operands = a.evict,
                        .operator_namespace = a.operator_namespace,
                        .readiness_file = a.readiness_file,
                        .pause_record = pause_record,
                        .eviction_timeout_usec = a.eviction_timeout_sec * USEC_PER_SEC,
                        .set_mode_timeout_usec = a.set_mode_timeout_sec * USEC_PER_SEC,
                        .retry_initial_usec = MIN(5 * USEC_PER_SEC, a.retry_max_sec * USEC_PER_SEC),
                        .retry_max_usec = a.retry_max_sec * USEC_PER_SEC,
                        .watch_timeout_seconds = a.watch_timeout_sec,
                        .gate = gate,
                };
                g_autofree char *record = g_build_filename(a.state_dir, "runtime-classes", NULL);
                const RuntimeClassesOptions rc_options = {
                        .path = a.runtime_classes,
                        .secret_namespace = namespace,
                        .record = record,
                        .ca_file = a.registry_ca_file,
                        .restart_containerd = a.restart_containerd,
                        .retry_initial_usec = options.retry_initial_usec,
                        .retry_max_usec = options.retry_max_usec,
                        .gate = gate,
                };

                if (a.runtime_classes) {
                        r = runtime_classes_new(event, bus, kube, events, &rc_options, &runtime_classes);
                        if (r < 0)
                                goto fail;
                        options.labels_changed = labels_to_runtime_classes;
                        options.labels_userdata = runtime_classes;
                }

                log_info("node %s, default mode %s, operand eviction %s%s%s", a.node_name,
                         a.default_mode ?: "none (only reporting when nvidia.com/cc.mode is not set)",
                         a.evict ? "on" : "off", a.evict ? ", pods in " : "",
                         a.evict ? (a.operator_namespace ?: "every namespace") : "");
                r = bridge_new(event, bus, kube, events, &options, &bridge);
                if (r < 0)
                        goto fail;
                kube = NULL;
                events = NULL;
        }
        if (bridge && !a.no_workload) {
                const WorkloadOptions options = {
                        .default_workload = a.default_workload,
                        .validations_dir = a.validations_dir,
                        .vfio_timeout_usec = a.set_mode_timeout_sec * USEC_PER_SEC,
                        .retry_initial_usec = MIN(5 * USEC_PER_SEC, a.retry_max_sec * USEC_PER_SEC),
                        .retry_max_usec = a.retry_max_sec * USEC_PER_SEC,
                        .gate = gate,
                };

                log_info("workload: default %s, validation files in %s", a.default_workload, a.validations_dir);
                r = workload_new(event, bus, bridge, plugin, &options, &workload);
                if (r < 0)
                        goto fail;
        }
        if (bridge) {
                r = bridge_start(bridge);
                if (r >= 0 && runtime_classes)
                        r = runtime_classes_start(runtime_classes);
                if (r >= 0)
                        r = liveness_new(event, a.liveness_file, (uint64_t) a.liveness_interval_sec * USEC_PER_SEC,
                                         bridge_alive, bridge, &liveness);
                if (r < 0)
                        goto fail;
        }

        (void) sd_notify(false, labels && plugin ? "READY=1\nSTATUS=Watching the node labels, serving the device plugin"
                                : labels      ? "READY=1\nSTATUS=Watching the node labels"
                                              : "READY=1\nSTATUS=Serving the device plugin");
        r = sd_event_loop(event);
        (void) sd_notify(false, "STOPPING=1");
        if (r < 0)
                log_error("stopped: %s", strerror(-r));
        else
                log_info("exiting");
        workload_free(workload);
        runtime_classes_free(runtime_classes);
        device_plugin_free(plugin);
        liveness_free(liveness);
        bridge_free(bridge);
        ccd_gate_free(gate);
        kube_config_done(&config);
        return r < 0 ? r : 0;

fail:
        if (r < 0)
                log_error("cannot start: %s", strerror(-r));
fail_quiet:
        workload_free(workload);
        runtime_classes_free(runtime_classes);
        device_plugin_free(plugin);
        liveness_free(liveness);
        bridge_free(bridge);
        ccd_gate_free(gate);
        node_events_free(events);
        kube_client_free(kube);
        kube_config_done(&config);
        return r;
}

int main(int argc, char *argv[]) {
        return run(argc, argv) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
