/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "ctl-args.h"
#include "ctl-errors.h"
#include "ctl-json.h"
#include "ctl-model.h"
#include "ctl-plan.h"
#include "ctl-print.h"
#include "ctl-report.h"
#include "macro.h"

/* ---- arguments ---------------------------------------------------------- */

#define PARSE(ret, error, ...)                                                          \
        ({                                                                              \
                const char *_cargv[] = { "nvidia-ccctl", __VA_ARGS__, NULL };           \
                char *_argv[ELEMENTSOF(_cargv)];                                        \
                /* getopt permutes the array, never the strings. */                     \
                memcpy(_argv, _cargv, sizeof(_cargv));                                  \
                ctl_parse_args((int) ELEMENTSOF(_argv) - 1, _argv, (ret), (error), sizeof(error)); \
        })

static void test_args_commands(void **state) {
        char *argv0[] = { (char *) "nvidia-ccctl", NULL };
        char error[256] = "";
        CtlArgs a;

        /* No command: status, on the system bus, asking for a password. */
        assert_int_equal(ctl_parse_args(1, argv0, &a, error, sizeof(error)), 0);
        assert_int_equal(a.command, CTL_COMMAND_STATUS);
        assert_false(a.json);
        assert_true(a.ask_password);
        assert_int_equal(a.bus, CTL_BUS_SYSTEM);
        assert_null(a.bus_address);
        assert_string_equal(a.gpu, "");

        assert_int_equal(PARSE(&a, error, "status"), 0);
        assert_int_equal(a.command, CTL_COMMAND_STATUS);
        assert_int_equal(PARSE(&a, error, "list", "--json"), 0);
        assert_int_equal(a.command, CTL_COMMAND_LIST);
        assert_int_equal(a.json, CTL_JSON_SHORT);
        assert_true(a.pager && a.legend && !a.quiet);
        assert_int_equal(PARSE(&a, error, "list", "--json=pretty", "--no-pager", "--no-legend", "-q"), 0);
        assert_int_equal(a.json, CTL_JSON_PRETTY);
        assert_false(a.pager || a.legend);
        assert_true(a.quiet);
        assert_int_equal(PARSE(&a, error, "--json=short", "--quiet", "list"), 0);
        assert_int_equal(a.json, CTL_JSON_SHORT);
        assert_true(a.quiet);
        assert_int_equal(PARSE(&a, error, "--json=pretty", "--json=off", "list"), 0);
        assert_int_equal(a.json, CTL_JSON_OFF);

        assert_int_equal(PARSE(&a, error, "set-mode", "devtools"), 0);
        assert_int_equal(a.command, CTL_COMMAND_SET_MODE);
        assert_string_equal(a.mode, "devtools");
        assert_string_equal(a.gpu, "");

        /* Modes are names, matched exactly, with the daemon's message. */
        assert_int_equal(PARSE(&a, error, "set-mode", "ON"), -EINVAL);
        assert_string_equal(error, "Unknown mode \"ON\": expected on, off, devtools or ppcie");
        assert_int_equal(PARSE(&a, error, "set-mode", "bogus"), -EINVAL);
        assert_int_equal(PARSE(&a, error, "set-mode", "ppcie"), 0);
        assert_int_equal(PARSE(&a, error, "set-mode", "ppcie", "--gpu", "65:00.0"), -EINVAL);
        assert_non_null(strstr(error, "--gpu cannot be used with ppcie"));

        /* Options after the command, and "--" before an odd argument. */
        assert_int_equal(PARSE(&a, error, "set-mode", "on", "--gpu", "0000:65:00.0", "--json", "--no-ask-password"), 0);
        assert_string_equal(a.mode, "on");
        assert_string_equal(a.gpu, "0000:65:00.0");
        assert_true(a.json);
        assert_false(a.ask_password);
        assert_int_equal(PARSE(&a, error, "set-mode", "--", "-x"), -EINVAL);
        assert_string_equal(error, "Unknown mode \"-x\": expected on, off, devtools or ppcie");
        assert_int_equal(PARSE(&a, error, "set-mode", "--", "off"), 0);
        assert_string_equal(a.mode, "off");

        /* lspci's short form gets the domain. */
        assert_int_equal(PARSE(&a, error, "--gpu=65:00.0", "set-mode", "off"), 0);
        assert_string_equal(a.gpu, "0000:65:00.0");

        assert_int_equal(ctl_command_to_string(CTL_COMMAND_SET_MODE)[0], 's');
        assert_null(ctl_command_to_string(_CTL_COMMAND_MAX));

        assert_true(ctl_command_changes_host(CTL_COMMAND_SET_MODE));
        assert_true(ctl_command_changes_host(CTL_COMMAND_UNBIND_VFIO));
        assert_true(ctl_command_changes_host(CTL_COMMAND_REMOVE_ARTIFACTS));
        assert_false(ctl_command_changes_host(CTL_COMMAND_STATUS));
        assert_false(ctl_command_changes_host(CTL_COMMAND_LIST));
}

static void test_args_bus(void **state) {
        char error[256] = "";
        CtlArgs a;

        assert_int_equal(PARSE(&a, error, "--bus", "session"), 0);
        assert_int_equal(a.bus, CTL_BUS_SESSION);
        assert_int_equal(PARSE(&a, error, "--bus=system", "list"), 0);
        assert_int_equal(a.bus, CTL_BUS_SYSTEM);
        assert_int_equal(PARSE(&a, error, "--bus=unix:path=/run/test/bus"), 0);
        assert_int_equal(a.bus, CTL_BUS_ADDRESS);
        assert_string_equal(a.bus_address, "unix:path=/run/test/bus");

        assert_int_equal(PARSE(&a, error, "--bus=user"), -EINVAL);
        assert_string_equal(error, "--bus: \"user\" is not system, session or a D-Bus address");
        assert_int_equal(PARSE(&a, error, "--bus="), -EINVAL);
        assert_int_equal(PARSE(&a, error, "--bus"), -EINVAL);
        assert_string_equal(error, "Option --bus needs an argument");

        /* -H: the system bus of another host. */
        assert_int_equal(PARSE(&a, error, "-H", "admin@gpu-node-1", "list"), 0);
        assert_int_equal(a.bus, CTL_BUS_REMOTE);
        assert_string_equal(a.host, "admin@gpu-node-1");
        assert_int_equal(PARSE(&a, error, "--host=gpu-node-1"), 0);
        assert_int_equal(a.bus, CTL_BUS_REMOTE);
        assert_int_equal(PARSE(&a, error, "-H", "gpu-node-1", "--bus=session"), -EINVAL);
        assert_string_equal(error, "--host and --bus exclude each other");
        assert_int_equal(PARSE(&a, error, "--host="), -EINVAL);
        assert_int_equal(PARSE(&a, error, "-H"), -EINVAL);
        assert_string_equal(error, "Option -H needs an argument");
}

static void test_args_usage_errors(void **state) {
        char error[256] = "";
        CtlArgs a;

        assert_int_equal(PARSE(&a, error, "set-mode"), -EINVAL);
        assert_string_equal(error, "Too few arguments: set-mode MODE [--gpu BDF | --dry-run]");
        assert_int_equal(PARSE(&a, error, "set-mode", "on", "off"), -EINVAL);
        assert_string_equal(error, "Too many arguments: set-mode MODE [--gpu BDF | --dry-run]");
        assert_int_equal(PARSE(&a, error, "status", "now"), -EINVAL);
        assert_string_equal(error, "Too many arguments: status");
        assert_int_equal(PARSE(&a, error, "lst"), -EINVAL);
        assert_string_equal(error, "Unknown command \"lst\"");
        assert_int_equal(PARSE(&a, error, "--frobnicate"), -EINVAL);
        assert_string_equal(error, "Unknown option --frobnicate");
        assert_int_equal(PARSE(&a, error, "-x", "status"), -EINVAL);
        assert_string_equal(error, "Unknown option -x");
        assert_int_equal(PARSE(&a, error, "--json=yaml"), -EINVAL);
        assert_string_equal(error, "--json: \"yaml\" is not pretty, short or off");
        assert_int_equal(PARSE(&a, error, "list", "--gpu", "0000:65:00.0"), -EINVAL);
        assert_string_equal(error, "--gpu is only valid with set-mode");
        assert_int_equal(PARSE(&a, error, "set-mode", "on", "--gpu="), -EINVAL);
        assert_int_equal(PARSE(&a, error, "set-mode", "on", "--gpu",
                               "0000:65:00.0-and-a-good-deal-more-than-any-address"), -EINVAL);
        assert_non_null(strstr(error, "Invalid PCI address"));
        /* One message for one bad address, whatever the command. */
        assert_int_equal(PARSE(&a, error, "set-mode", "on", "--gpu", "3a:0.0"), -EINVAL);
        assert_string_equal(error, "Invalid PCI address \"3a:0.0\": expected BUS:DEVICE.FUNCTION as lspci prints it "
                            "(3a:00.0) or DOMAIN:BUS:DEVICE.FUNCTION (0000:3a:00.0)");
}

static void test_args_vfio(void **state) {
        char error[256] = "";
        char *many[CTL_ADDRESSES_MAX + 3];
        char addresses[CTL_ADDRESSES_MAX + 1][16];
        CtlArgs a;

        /* No address: every GPU. */
        assert_int_equal(PARSE(&a, error, "bind-vfio"), 0);
        assert_int_equal(a.command, CTL_COMMAND_BIND_VFIO);
        assert_int_equal(a.n_addresses, 0);
        assert_true(a.ask_password);

        /* Several, lspci's short form completed, options anywhere. */
        assert_int_equal(PARSE(&a, error, "bind-vfio", "0000:65:00.0", "--no-ask-password", "b3:00.0", "--json"), 0);
        assert_int_equal(a.command, CTL_COMMAND_BIND_VFIO);
        assert_int_equal(a.n_addresses, 2);
        assert_string_equal(a.addresses[0], "0000:65:00.0");
        assert_string_equal(a.addresses[1], "0000:b3:00.0");
        assert_false(a.ask_password);
        assert_true(a.json);

        assert_int_equal(PARSE(&a, error, "unbind-vfio", "65:00.0"), 0);
        assert_int_equal(a.command, CTL_COMMAND_UNBIND_VFIO);
        assert_int_equal(a.n_addresses, 1);
        assert_string_equal(a.addresses[0], "0000:65:00.0");
        assert_int_equal(PARSE(&a, error, "unbind-vfio"), 0);
        assert_int_equal(a.n_addresses, 0);

        /* Malformed addresses: the message --gpu gets. */
        assert_int_equal(PARSE(&a, error, "bind-vfio", "not-a-bdf"), -EINVAL);
        assert_string_equal(error, "Invalid PCI address \"not-a-bdf\": expected BUS:DEVICE.FUNCTION as lspci prints it "
                            "(3a:00.0) or DOMAIN:BUS:DEVICE.FUNCTION (0000:3a:00.0)");
        assert_int_equal(PARSE(&a, error, "unbind-vfio", "0000:65:00.0", "3a:0.0"), -EINVAL);
        assert_string_equal(error, "Invalid PCI address \"3a:0.0\": expected BUS:DEVICE.FUNCTION as lspci prints it "
                            "(3a:00.0) or DOMAIN:BUS:DEVICE.FUNCTION (0000:3a:00.0)");

        /* What the parser refuses itself. */
        assert_int_equal(PARSE(&a, error, "bind-vfio", ""), -EINVAL);
        assert_string_equal(error, "bind-vfio: empty PCI address");
        assert_int_equal(PARSE(&a, error, "unbind-vfio", "0000:65:00.0", "0000000000000000000000000000000000:65:00.0"),
                         -EINVAL);
        assert_non_null(strstr(error, "Invalid PCI address \"0000000000000000000000000000000000:65:00.0\""));
        assert_int_equal(PARSE(&a, error, "bind-vfio", "--gpu", "0000:65:00.0"), -EINVAL);
        assert_string_equal(error, "--gpu is only valid with set-mode");
        assert_int_equal(PARSE(&a, error, "bind-vfio", "-x"), -EINVAL);
        assert_string_equal(error, "Unknown option -x");

        many[0] = (char *) "nvidia-ccctl";
        many[1] = (char *) "bind-vfio";
        for (size_t i = 0; i <= CTL_ADDRESSES_MAX; i++) {
                snprintf(addresses[i], sizeof(addresses[i]), "0000:%02zx:00.0", i);
                many[i + 2] = addresses[i];
        }
        assert_int_equal(ctl_parse_args(CTL_ADDRESSES_MAX + 2, many, &a, error, sizeof(error)), 0);
        assert_int_equal(a.n_addresses, CTL_ADDRESSES_MAX);
        assert_string_equal(a.addresses[CTL_ADDRESSES_MAX - 1], addresses[CTL_ADDRESSES_MAX - 1]);
        assert_int_equal(ctl_parse_args(CTL_ADDRESSES_MAX + 3, many, &a, error, sizeof(error)), -EINVAL);
        assert_string_equal(error, "Too many addresses: at most 64 at a time");

        assert_string_equal(ctl_command_to_string(CTL_COMMAND_BIND_VFIO), "bind-vfio");
        assert_string_equal(ctl_command_to_string(CTL_COMMAND_UNBIND_VFIO), "unbind-vfio");
}

static void test_args_dry_run(void **state) {
        char error[256] = "";
        CtlArgs a;

        assert_int_equal(PARSE(&a, error, "set-mode", "on"), 0);
        assert_false(a.dry_run);
        assert_int_equal(PARSE(&a, error, "set-mode", "--dry-run", "on", "--json"), 0);
        assert_int_equal(a.command, CTL_COMMAND_SET_MODE);
        assert_true(a.dry_run);
        assert_true(a.json);
        assert_string_equal(a.mode, "on");
        assert_int_equal(PARSE(&a, error, "bind-vfio", "65:00.0", "--dry-run"), 0);
        assert_true(a.dry_run);
        assert_string_equal(a.addresses[0], "0000:65:00.0");

        assert_int_equal(PARSE(&a, error, "unbind-vfio", "--dry-run"), -EINVAL);
        assert_string_equal(error, "--dry-run is only valid with set-mode and bind-vfio");
        assert_int_equal(PARSE(&a, error, "status", "--dry-run"), -EINVAL);
        assert_int_equal(PARSE(&a, error, "install-artifacts", "a", "b", "--dry-run"), -EINVAL);
        assert_int_equal(PARSE(&a, error, "set-mode", "on", "--gpu", "65:00.0", "--dry-run"), -EINVAL);
        assert_string_equal(error, "--dry-run shows the plan for every GPU and cannot be combined with --gpu");
}

static void test_args_artifacts(void **state) {
        char error[256] = "";
        CtlArgs a;

        assert_int_equal(PARSE(&a, error, "install-artifacts", "kata-gpu", "reg.example:5000/kata:1"), 0);
        assert_int_equal(a.command, CTL_COMMAND_INSTALL_ARTIFACTS);
        assert_string_equal(a.runtime_class, "kata-gpu");
        assert_string_equal(a.reference, "reg.example:5000/kata:1");
        assert_null(a.pull_secret);
        assert_null(a.ca_file);
        assert_false(a.plain_http || a.no_register_containerd || a.restart_containerd);

        assert_int_equal(PARSE(&a, error, "install-artifacts", "--pull-secret", "s.json", "--ca-file=ca.pem",
                               "kata-gpu", "127.0.0.1:5000/kata:1", "--plain-http", "--restart-containerd"), 0);
        assert_string_equal(a.pull_secret, "s.json");
        assert_string_equal(a.ca_file, "ca.pem");
        assert_true(a.plain_http && a.restart_containerd);
        assert_false(a.no_register_containerd);
        assert_int_equal(PARSE(&a, error, "install-artifacts", "k", "r.example/k", "--no-register-containerd"), 0);
        assert_true(a.no_register_containerd);

        /* Names and references as the daemon checks them, with its words. */
        assert_int_equal(PARSE(&a, error, "install-artifacts", "Kata_GPU", "reg.example/kata:1"), -EINVAL);
        assert_non_null(strstr(error, "Runtime class name \"Kata_GPU\" is not a DNS-1123 label"));
        assert_int_equal(PARSE(&a, error, "remove-artifacts", "--", "-kata"), -EINVAL);
        assert_non_null(strstr(error, "is not a DNS-1123 label"));
        assert_int_equal(PARSE(&a, error, "install-artifacts", "kata", "not a reference"), -EINVAL);
        assert_non_null(strstr(error, "not a reference"));
        assert_int_equal(PARSE(&a, error, "install-artifacts", "kata", "reg.example:5000/kata:1", "--plain-http"),
                         -EINVAL);
        assert_string_equal(error, "--plain-http is only allowed for a registry on loopback (localhost, "
                            "127.0.0.0/8, [::1]), not reg.example");

        assert_int_equal(PARSE(&a, error, "remove-artifacts", "kata-gpu"), 0);
        assert_int_equal(a.command, CTL_COMMAND_REMOVE_ARTIFACTS);
        assert_string_equal(a.runtime_class, "kata-gpu");
        assert_string_equal(ctl_command_to_string(CTL_COMMAND_REMOVE_ARTIFACTS), "remove-artifacts");

        assert_int_equal(PARSE(&a, error, "install-artifacts", "kata-gpu"), -EINVAL);
        assert_non_null(strstr(error, "Too few arguments: install-artifacts NAME REFERENCE"));
        assert_int_equal(PARSE(&a, error, "remove-artifacts"), -EINVAL);
        assert_string_equal(error, "Too few arguments: remove-artifacts NAME");
        assert_int_equal(PARSE(&a, error, "remove-artifacts", "k", "--plain-http"), -EINVAL);
        assert_non_null(strstr(error, "only valid with install-artifacts"));
        assert_int_equal(PARSE(&a, error, "status", "--pull-secret", "x"), -EINVAL);
        assert_int_equal(PARSE(&a, error, "install-artifacts", "k", "r.example/k", "--pull-secret="), -EINVAL);
        assert_string_equal(error, "--pull-secret: expected a file");
        assert_int_equal(PARSE(&a, error, "install-artifacts", "k", "r.example/k", "--restart-containerd",
                               "--no-register-containerd"), -EINVAL);
        assert_non_null(strstr(error, "exclude each other"));
}

static void test_args_help_version(void **state) {
        char error[256] = "";
        CtlArgs a;

        assert_int_equal(PARSE(&a, error, "-h"), 0);
        assert_int_equal(a.command, CTL_COMMAND_HELP);
        /* --help wins over a command that lacks its arguments. */
        assert_int_equal(PARSE(&a, error, "set-mode", "--help"), 0);
        assert_int_equal(a.command, CTL_COMMAND_HELP);
        assert_int_equal(PARSE(&a, error, "--version", "list"), 0);
        assert_int_equal(a.command, CTL_COMMAND_VERSION);
        /* getopt starts over on each call. */
        assert_int_equal(PARSE(&a, error, "list"), 0);
        assert_int_equal(a.command, CTL_COMMAND_LIST);
}

static void test_complete_bdf(void **state) {
        char buf[CTL_BDF_MAX];

        assert_int_equal(ctl_complete_bdf("65:00.0", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "0000:65:00.0");
        /* In lowercase, as sysfs names devices. */
        assert_int_equal(ctl_complete_bdf("C5:1f.7", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "0000:c5:1f.7");
        assert_int_equal(ctl_complete_bdf("0001:65:00.0", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "0001:65:00.0");
        /* A VMD domain has more digits. */
        assert_int_equal(ctl_complete_bdf("10000:e1:00.0", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "10000:e1:00.0");
        /* Neither form. */
        assert_int_equal(ctl_complete_bdf("6:00.0", buf, sizeof(buf)), -EINVAL);
        assert_int_equal(ctl_complete_bdf("zz:00.0", buf, sizeof(buf)), -EINVAL);
        assert_int_equal(ctl_complete_bdf("3a:0.0", buf, sizeof(buf)), -EINVAL);
        assert_int_equal(ctl_complete_bdf("3a:20.0", buf, sizeof(buf)), -EINVAL);
        assert_int_equal(ctl_complete_bdf("3a:00.8", buf, sizeof(buf)), -EINVAL);
        assert_int_equal(ctl_complete_bdf("3a:00.0 ", buf, sizeof(buf)), -EINVAL);
        assert_int_equal(ctl_complete_bdf("000:3a:00.0", buf, sizeof(buf)), -EINVAL);
        assert_int_equal(ctl_complete_bdf("../3a:00.0", buf, sizeof(buf)), -EINVAL);
        assert_int_equal(ctl_complete_bdf("", buf, sizeof(buf)), -EINVAL);
        assert_int_equal(ctl_complete_bdf("65:00.0", buf, 12), -ENAMETOOLONG);
        assert_int_equal(ctl_complete_bdf("65:00.0", buf, 13), 0);
}

/* ---- JSON ----------------------------------------------------------------- */

typedef struct Capture {
        char *text;
        size_t size;
        FILE *f;
} Capture;

static FILE *capture_begin(Capture *c) {
        *c = (Capture) {};
        c->f = open_memstream(&c->text, &c->size);
        assert_non_null(c->f);
        return c->f;
}

/* Returns the text written; free() it. */
static char *capture_end(Capture *c) {
        assert_int_equal(fclose(c->f), 0);
        return c->text;
}

static void assert_escaped(const char *in, const char *expected) {
        Capture c;
        char *out;

        json_write_escaped(capture_begin(&c), in);
        out = capture_end(&c);
        assert_string_equal(out, expected);
        free(out);
}

static void test_json_escape(void **state) {
        assert_escaped("", "\"\"");
        assert_escaped("plain", "\"plain\"");
        assert_escaped("a \"quoted\" \\ back", "\"a \\\"quoted\\\" \\\\ back\"");
        assert_escaped("tab\tnl\ncr\rbs\bff\f", "\"tab\\tnl\\ncr\\rbs\\bff\\f\"");
        assert_escaped("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
        assert_escaped("/ stays", "\"/ stays\"");
        assert_escaped("UTF-8 ✓ µs", "\"UTF-8 ✓ µs\"");
}

static void test_json_writer(void **state) {
        Capture c;
        JsonWriter w;
        char *out;

        json_writer_init(&w, capture_begin(&c));
        json_begin_object(&w);
        json_key(&w, "a");
        json_int(&w, -1);
        json_key(&w, "b");
        json_begin_array(&w);
        json_string(&w, "x");
        json_string(&w, NULL);
        json_begin_object(&w);
        json_end_object(&w);
        json_begin_array(&w);
        json_end_array(&w);
        json_bool(&w, false);
        json_end_array(&w);
        json_key(&w, "c");
        json_string_or_null(&w, "");
        json_key(&w, "d");
        json_string_or_null(&w, "v");
        json_key(&w, "e\"");
        json_int(&w, INT64_MAX);
        json_end_object(&w);
        out = capture_end(&c);
        assert_string_equal(out, "{\"a\":-1,\"b\":[\"x\",null,{},[],false],\"c\":null,\"d\":\"v\",\"e\\\"\":9223372036854775807}");
        assert_int_equal(w.depth, 0);
        free(out);
}

static void test_json_pretty(void **state) {
        Capture c;
        JsonWriter w;
        char *out;

        /* As systemd's --json=pretty writes it: tabs, "key" : value, and
         * empty containers on one line. */
        json_set_pretty(true);
        json_writer_init(&w, capture_begin(&c));
        json_set_pretty(false);
        json_begin_object(&w);
        json_key(&w, "a");
        json_string(&w, "");
        json_key(&w, "b");
        json_begin_array(&w);
        json_int(&w, 1);
        json_begin_object(&w);
        json_end_object(&w);
        json_begin_array(&w);
        json_end_array(&w);
        json_end_array(&w);
        json_end_object(&w);
        out = capture_end(&c);
        assert_string_equal(out, "{\n\t\"a\" : \"\",\n\t\"b\" : [\n\t\t1,\n\t\t{},\n\t\t[]\n\t]\n}");
        free(out);

        /* A writer set up after that is short again. */
        json_writer_init(&w, capture_begin(&c));
        json_begin_array(&w);
        json_int(&w, 1);
        json_end_array(&w);
        out = capture_end(&c);
        assert_string_equal(out, "[1]");
        free(out);
}

/* ---- errors --------------------------------------------------------------- */

#define DBUS_ERR "org.freedesktop.DBus.Error."
#define CC_ERR "org.nvidia.ConfidentialCompute.Error."

static const CtlOperation set_mode_op = {
        .failed = "Failed to set mode",
        .denied = "not authorized to set the mode (polkit action org.nvidia.ConfidentialCompute.set-mode)",
        .timeout_sec = 300,
};

static void assert_failure(const CtlOperation *op, const char *name, const char *message, int r, const char *expected,
                           int exit_code) {
        char buf[512];

        ctl_failure_format(buf, sizeof(buf), op, name, message, r);
        assert_string_equal(buf, expected);
        assert_int_equal(ctl_failure_exit_code(ctl_failure_classify(name, r, op->gpu)), exit_code);
}

static void test_error_message_escaped(void **state) {
        assert_failure(&set_mode_op, "org.nvidia.ConfidentialCompute.Error.RegistryError",
                       "registry said \x1b]0;owned\x07\x1b[2J", -EIO,
                       "Failed to set mode: RegistryError: registry said \\x1b]0;owned\\x07\\x1b[2J", 1);
}

static void test_errors(void **state) {
        CtlOperation one_gpu = set_mode_op;
        CtlOperation read_op = { .failed = "Failed to read the status", .denied = "not authorized", .timeout_sec = 25 };
        const char *not_running = "nvidia-ccd is not running: org.nvidia.ConfidentialCompute is not on the bus "
                                  "(see systemctl status nvidia-ccd)";

        one_gpu.gpu = "0000:65:00.0";

        assert_string_equal(ctl_error_short_name(CC_ERR "Timeout"), "Timeout");
        assert_string_equal(ctl_error_short_name("NoDots"), "NoDots");

        /* Denied: the daemon's reason after the action. */
        assert_failure(&set_mode_op, DBUS_ERR "AccessDenied",
                       "polkit is not available: org.freedesktop.PolicyKit1 is not on the bus", -EACCES,
                       "not authorized to set the mode (polkit action org.nvidia.ConfidentialCompute.set-mode): "
                       "polkit is not available: org.freedesktop.PolicyKit1 is not on the bus", 4);
        assert_failure(&set_mode_op, DBUS_ERR "InteractiveAuthorizationRequired", "x", -EACCES,
                       "not authorized to set the mode (polkit action org.nvidia.ConfidentialCompute.set-mode): x", 4);
        assert_failure(&set_mode_op, DBUS_ERR "AccessDenied", NULL, -EACCES, set_mode_op.denied, 4);

        assert_failure(&set_mode_op, DBUS_ERR "ServiceUnknown", "The name is not activatable", -EHOSTUNREACH,
                       not_running, 1);
        assert_failure(&set_mode_op, DBUS_ERR "NameHasNoOwner", "x", -ENXIO, not_running, 1);
        /* The daemon went away during the call: the bus answers NoReply,
         * which sd-bus also returns as ETIMEDOUT. */
        assert_failure(&set_mode_op, DBUS_ERR "NoReply", "Message recipient disconnected", -ETIMEDOUT, not_running, 1);
        assert_failure(&set_mode_op, DBUS_ERR "Spawn.ChildExited", "x", -EIO, not_running, 1);
        /* The bus itself failing is not the service missing. */
        assert_failure(&read_op, NULL, NULL, -ECONNRESET,
                       "Failed to read the status: lost the connection to the bus: Connection reset by peer", 1);
        assert_int_equal(ctl_failure_classify(NULL, -ENOENT, NULL), CTL_FAILURE_NO_BUS);

        /* Our own timeout: no error name. */
        assert_failure(&set_mode_op, NULL, NULL, -ETIMEDOUT,
                       "Failed to set mode: no reply within 5 min; the daemon may still be working (see nvidia-ccctl status)",
                       1);
        assert_failure(&read_op, NULL, NULL, -ETIMEDOUT,
                       "Failed to read the status: no reply within 25 s; the daemon may still be working (see nvidia-ccctl status)",
                       1);

        /* The daemon's own errors keep its message. */
        assert_failure(&set_mode_op, CC_ERR "Timeout", "0000:65:00.0: FSP response timeout after 5 s", -EIO,
                       "Failed to set mode: Timeout: 0000:65:00.0: FSP response timeout after 5 s", 1);
        assert_failure(&set_mode_op, CC_ERR "InvalidArgument", "Unknown mode \"ON\"", -EINVAL,
                       "Failed to set mode: InvalidArgument: Unknown mode \"ON\"", 1);
        assert_failure(&set_mode_op, CC_ERR "Busy", "", -EBUSY, "Failed to set mode: Busy: (no message)", 1);
        /* A remote Timeout that sd-bus maps to ETIMEDOUT is still the
         * daemon's error, not ours. */
        assert_failure(&set_mode_op, DBUS_ERR "Timeout", "took too long", -ETIMEDOUT,
                       "Failed to set mode: Timeout: took too long", 1);

        /* An unknown device object only means "no such device" with --gpu. */
        assert_failure(&one_gpu, DBUS_ERR "UnknownObject", "Unknown object", -ENXIO,
                       "Failed to set mode: no device 0000:65:00.0 (see nvidia-ccctl list)", 1);
        assert_failure(&set_mode_op, DBUS_ERR "UnknownObject", "Unknown object", -ENXIO,
                       "Failed to set mode: UnknownObject: Unknown object", 1);
        assert_int_equal(ctl_failure_classify(DBUS_ERR "UnknownMethod", -EBADR, "0000:65:00.0"), CTL_FAILURE_NO_SUCH_DEVICE);

        /* Local errors without a name. */
        assert_failure(&read_op, NULL, NULL, -EBADMSG, "Failed to read the status: Bad message", 1);
}

/* ---- model and output ----------------------------------------------------- */

static char **strv_new1(const char *s) {
        char **l = calloc(2, sizeof(char *));
        assert_non_null(l);
        l[0] = strdup(s);
        return l;
}

static void add_gpu(CtlHost *h, const char *bdf, const char *name, const char *cc_mode, const char *driver, int group,
                    int numa) {
        CtlDevice *d = ctl_host_add_device(h);

        assert_non_null(d);
        d->object_path = strdup("/org/nvidia/ConfidentialCompute/gpu/x");
        d->address = strdup(bdf);
        d->vendor_id = 0x10de;
        d->device_id = 0x2330;
        d->name = strdup(name);
        d->kind = strdup("gpu");
        d->architecture = strdup("hopper");
        d->cc_capable = true;
        d->ppcie_capable = true;
        d->cc_mode = strdup(cc_mode);
        d->ppcie_mode = strdup("off");
        d->driver = strdup(driver);
        d->iommu_group = group;
        d->group_members = strv_new1(bdf);
        d->vfio_device = strdup("");
        d->vfio_cdev = strdup("");
        d->numa_node = numa;
}

static void add_nvswitch(CtlHost *h, const char *bdf) {
        CtlDevice *d = ctl_host_add_device(h);

        assert_non_null(d);
        d->address = strdup(bdf);
        d->vendor_id = 0x10de;
        d->device_id = 0x22a3;
        d->name = strdup("GH100 [H100 NVSwitch]");
        d->kind = strdup("nvswitch");
        d->architecture = strdup("hopper");
        d->ppcie_capable = true;
        d->cc_mode = strdup("off");
        d->ppcie_mode = strdup("on");
        d->driver = strdup("");
}

static void make_host(CtlHost *h) {
        ctl_host_init(h);
        h->version = strdup("0.1.0");
        h->host_tee = strdup("tdx");
        h->default_mode = strdup("");
        h->mode = strdup("off");
        h->mode_state = strdup("idle");
        h->last_error = strdup("");
        h->cc_capable = true;
        h->have_manager = true;
        add_gpu(h, "0000:c5:00.0", "GH100 [H100 SXM5 80GB]", "on", "vfio-pci", 40, 1);
        add_gpu(h, "0000:65:00.0", "GH100 [H100 SXM5 80GB]", "off", "nvidia", 12, 0);
        add_nvswitch(h, "0000:07:00.0");
        ctl_host_sort_devices(h);
}

static void test_sort(void **state) {
        CtlHost h;

        make_host(&h);
        assert_int_equal(h.n_devices, 3);
        assert_string_equal(h.devices[0].address, "0000:07:00.0");
        assert_string_equal(h.devices[1].address, "0000:65:00.0");
        assert_string_equal(h.devices[2].address, "0000:c5:00.0");
        /* Defaults of a device the daemon said nothing about. */
        assert_int_equal(h.devices[0].iommu_group, -1);
        assert_int_equal(h.devices[0].numa_node, -1);
        assert_null(h.devices[0].group_members);
        ctl_host_done(&h);
        assert_int_equal(h.n_devices, 0);
        assert_null(h.devices);
        ctl_host_done(&h);
}

static void test_cells(void **state) {
        CtlHost h;
        char buf[CTL_CELL_MAX];

        make_host(&h);
        /* The NVSwitch: no CC mode, no driver, no group, no node. */
        assert_string_equal(ctl_device_cell(&h.devices[0], CTL_COLUMN_CC, buf), "-");
        assert_string_equal(ctl_device_cell(&h.devices[0], CTL_COLUMN_PPCIE, buf), "on");
        assert_string_equal(ctl_device_cell(&h.devices[0], CTL_COLUMN_DRIVER, buf), "-");
        assert_string_equal(ctl_device_cell(&h.devices[0], CTL_COLUMN_GROUP, buf), "-");
        assert_string_equal(ctl_device_cell(&h.devices[0], CTL_COLUMN_NUMA, buf), "-");
        assert_string_equal(ctl_device_cell(&h.devices[2], CTL_COLUMN_CC, buf), "on");
        assert_string_equal(ctl_device_cell(&h.devices[2], CTL_COLUMN_GROUP, buf), "40");
        assert_string_equal(ctl_device_cell(&h.devices[2], CTL_COLUMN_NUMA, buf), "1");
        h.devices[2].ppcie_capable = false;
        assert_string_equal(ctl_device_cell(&h.devices[2], CTL_COLUMN_PPCIE, buf), "-");

        /* Control characters never reach the terminal. */
        free(h.devices[1].name);
        h.devices[1].name = strdup("tab\there\nnewline");
        assert_string_equal(ctl_device_cell(&h.devices[1], CTL_COLUMN_NAME, buf), "tab\\x09here\\x0anewline");
        ctl_host_done(&h);

        assert_int_equal(ctl_text_width(""), 0);
        assert_int_equal(ctl_text_width("abc"), 3);
        assert_int_equal(ctl_text_width("µ…✓"), 3);

        /* A copy that must be cut is cut between characters and escapes. */
        assert_string_equal(ctl_printable("a\tµ", buf, 5), "a");
        assert_string_equal(ctl_printable("a\tµ", buf, 7), "a\\x09");
        assert_string_equal(ctl_printable("a\tµ", buf, 8), "a\\x09µ");
        const char *clean = "no control \\ µ";
        assert_ptr_equal(ctl_printable(clean, buf, sizeof(buf)), clean);
        /* What drives a terminal, from a registry: escape sequences (also
         * the one-byte C1 CSI), and bytes that are not UTF-8. */
        assert_string_equal(ctl_printable("x\x1b]0;owned\x07\x1b[2J", buf, sizeof(buf)),
                            "x\\x1b]0;owned\\x07\\x1b[2J");
        assert_string_equal(ctl_printable("\xc2\x9b" "31m\x7f", buf, sizeof(buf)), "\\xc2\\x9b" "31m\\x7f");
        assert_string_equal(ctl_printable("cut \xe2\x82", buf, sizeof(buf)), "cut \\xe2\\x82");
}

static void test_table(void **state) {
        CtlHost h;
        Capture c;
        char *out;

        make_host(&h);
        ctl_print_devices(capture_begin(&c), h.devices, h.n_devices, 0);
        out = capture_end(&c);
        assert_string_equal(out,
                            "ADDRESS       NAME                    KIND      ARCH    CC   PPCIE  DRIVER    GROUP  NUMA\n"
                            "0000:07:00.0  GH100 [H100 NVSwitch]   nvswitch  hopper  -    on     -         -      -\n"
                            "0000:65:00.0  GH100 [H100 SXM5 80GB]  gpu       hopper  off  off    nvidia    12     0\n"
                            "0000:c5:00.0  GH100 [H100 SXM5 80GB]  gpu       hopper  on   off    vfio-pci  40     1\n");
        free(out);

        /* A narrow terminal cuts the names, and only them. */
        assert_int_equal(ctl_name_width_for(h.devices, h.n_devices, 0), 0);
        assert_int_equal(ctl_name_width_for(h.devices, h.n_devices, 74), 12);
        assert_int_equal(ctl_name_width_for(h.devices, h.n_devices, 20), 12);
        /* 67 columns for the others and their gaps. */
        assert_int_equal(ctl_name_width_for(h.devices, h.n_devices, 80), 13);
        assert_int_equal(ctl_name_width_for(h.devices, h.n_devices, 200), 133);
        ctl_print_devices(capture_begin(&c), h.devices, h.n_devices, 12);
        out = capture_end(&c);
        assert_string_equal(out,
                            "ADDRESS       NAME          KIND      ARCH    CC   PPCIE  DRIVER    GROUP  NUMA\n"
                            "0000:07:00.0  GH100 [H100…  nvswitch  hopper  -    on     -         -      -\n"
                            "0000:65:00.0  GH100 [H100…  gpu       hopper  off  off    nvidia    12     0\n"
                            "0000:c5:00.0  GH100 [H100…  gpu       hopper  on   off    vfio-pci  40     1\n");
        free(out);

        /* A limit wider than the names changes nothing. */
        ctl_print_devices(capture_begin(&c), h.devices, 1, 100);
        out = capture_end(&c);
        assert_string_equal(out,
                            "ADDRESS       NAME                   KIND      ARCH    CC  PPCIE  DRIVER  GROUP  NUMA\n"
                            "0000:07:00.0  GH100 [H100 NVSwitch]  nvswitch  hopper  -   on     -       -      -\n");
        free(out);

        ctl_print_devices(capture_begin(&c), NULL, 0, 0);
        out = capture_end(&c);
        assert_string_equal(out, "No devices.\n");
        free(out);
        ctl_host_done(&h);
}

static void test_status_text(void **state) {
        CtlHost h;
        Capture c;
        char *out;

        make_host(&h);
        ctl_print_status(capture_begin(&c), &h, 0);
        out = capture_end(&c);
        assert_string_equal(out,
                            "     Version: 0.1.0\n"
                            "    Host TEE: tdx\n"
                            "Default mode: none\n"
                            "        Mode: off\n"
                            "  Mode state: idle\n"
                            "  CC capable: yes\n"
                            "\n"
                            "ADDRESS       NAME                    KIND      ARCH    CC   PPCIE  DRIVER    GROUP  NUMA\n"
                            "0000:07:00.0  GH100 [H100 NVSwitch]   nvswitch  hopper  -    on     -         -      -\n"
                            "0000:65:00.0  GH100 [H100 SXM5 80GB]  gpu       hopper  off  off    nvidia    12     0\n"
                            "0000:c5:00.0  GH100 [H100 SXM5 80GB]  gpu       hopper  on   off    vfio-pci  40     1\n"
                            "\n"
                            "No runtime classes.\n");
        assert_null(strstr(out, "Last error"));
        free(out);

        /* A failure shows its message, on one line, escaped. */
        free(h.mode_state);
        h.mode_state = strdup("failed");
        free(h.last_error);
        h.last_error = strdup("0000:65:00.0: reset:\nno response");
        free(h.default_mode);
        h.default_mode = strdup("on");
        h.cc_capable = false;
        ctl_print_status(capture_begin(&c), &h, 0);
        out = capture_end(&c);
        assert_non_null(strstr(out, "  Mode state: failed\n  Last error: 0000:65:00.0: reset:\\x0ano response\n  CC capable: no\n"));
        assert_non_null(strstr(out, "Default mode: on\n"));
        free(out);
        ctl_host_done(&h);

        /* What the daemon did not send reads n/a. */
        ctl_host_init(&h);
        ctl_print_status(capture_begin(&c), &h, 0);
        out = capture_end(&c);
        assert_string_equal(out,
                            "     Version: n/a\n"
                            "    Host TEE: n/a\n"
                            "Default mode: n/a\n"
                            "        Mode: n/a\n"
                            "  Mode state: n/a\n"
                            "  CC capable: n/a\n"
                            "\n"
                            "No devices.\n"
                            "\n"
                            "No runtime classes.\n");
        free(out);
        ctl_host_done(&h);
}

static void test_status_json(void **state) {
        CtlHost h;
        Capture c;
        char *out;

        make_host(&h);
        h.n_devices = 2; /* the NVSwitch and one GPU */
        ctl_print_status_json(capture_begin(&c), &h);
        h.n_devices = 3;
        out = capture_end(&c);
        assert_string_equal(out,
                            "{\"Version\":\"0.1.0\",\"HostTee\":\"tdx\",\"DefaultMode\":\"\",\"Mode\":\"off\","
                            "\"ModeState\":\"idle\",\"LastError\":\"\",\"CcCapable\":true,\"Devices\":["
                            "{\"Address\":\"0000:07:00.0\",\"VendorId\":4318,\"DeviceId\":8867,"
                            "\"Name\":\"GH100 [H100 NVSwitch]\",\"Kind\":\"nvswitch\",\"Architecture\":\"hopper\","
                            "\"CcCapable\":false,\"PpcieCapable\":true,\"CcMode\":\"off\",\"PpcieMode\":\"on\","
                            "\"Driver\":\"\",\"IommuGroup\":null,\"GroupMembers\":[],\"VfioDevice\":null,\"VfioCdev\":null,"
                            "\"NumaNode\":null},"
                            "{\"Address\":\"0000:65:00.0\",\"VendorId\":4318,\"DeviceId\":9008,"
                            "\"Name\":\"GH100 [H100 SXM5 80GB]\",\"Kind\":\"gpu\",\"Architecture\":\"hopper\","
                            "\"CcCapable\":true,\"PpcieCapable\":true,\"CcMode\":\"off\",\"PpcieMode\":\"off\","
                            "\"Driver\":\"nvidia\",\"IommuGroup\":12,\"GroupMembers\":[\"0000:65:00.0\"],"
                            "\"VfioDevice\":\"\",\"VfioCdev\":\"\",\"NumaNode\":0}],\"RuntimeClasses\":[]}\n");
        free(out);

        ctl_print_devices_json(capture_begin(&c), h.devices + 2, 1);
        out = capture_end(&c);
        assert_true(out[0] == '[');
        assert_non_null(strstr(out, "\"Address\":\"0000:c5:00.0\""));
        assert_non_null(strstr(out, "\"Driver\":\"vfio-pci\""));
        assert_string_equal(out + strlen(out) - 3, "}]\n");
        free(out);

        ctl_print_devices_json(capture_begin(&c), NULL, 0);
        out = capture_end(&c);
        assert_string_equal(out, "[]\n");
        free(out);

        /* Strings the daemon sends are escaped. */
        free(h.last_error);
        h.last_error = strdup("0000:65:00.0: \"reset\"\tfailed");
        h.have_manager = false;
        h.n_devices = 0;
        ctl_print_status_json(capture_begin(&c), &h);
        h.n_devices = 3;
        out = capture_end(&c);
        assert_non_null(strstr(out, "\"LastError\":\"0000:65:00.0: \\\"reset\\\"\\tfailed\",\"CcCapable\":null,\"Devices\":[],\"RuntimeClasses\":[]}\n"));
        free(out);
        ctl_host_done(&h);

        ctl_print_error_json(capture_begin(&c), CC_ERR "Busy", "a switch \"on\" is running");
        out = capture_end(&c);
        assert_string_equal(out, "{\"error\":{\"name\":\"" CC_ERR "Busy\",\"message\":\"a switch \\\"on\\\" is running\"}}\n");
        free(out);
        ctl_print_error_json(capture_begin(&c), NULL, "Connection refused");
        out = capture_end(&c);
        assert_string_equal(out, "{\"error\":{\"name\":null,\"message\":\"Connection refused\"}}\n");
        free(out);
}


#define DIGEST1 "sha256:3f2a9c0d5e7b11aa22bb33cc44dd55ee66ff77889900aabbccddeeff00112233"
#define DIGEST2 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void add_runtime_class(CtlHost *h, const char *name, const char *reference, const char *digest,
                              uint64_t installed_at) {
        CtlRuntimeClass *rc = ctl_host_add_runtime_class(h);

        assert_non_null(rc);
        assert_true(asprintf(&rc->object_path, "/org/nvidia/ConfidentialCompute/runtime_class/%s", name) > 0);
        rc->name = strdup(name);
        rc->reference = strdup(reference);
        rc->digest = strdup(digest);
        assert_true(asprintf(&rc->directory, "/opt/nvidia-gpu-operator/artifacts/runtimeclasses/%s", name) > 0);
        rc->files = calloc(3, sizeof(char *));
        rc->files[0] = strdup("configuration-qemu-nvidia-gpu-snp.toml");
        rc->files[1] = strdup("vmlinuz-6.12.8-nvidia-gpu-confidential");
        rc->containerd_handler = strdup(name);
        rc->installed_at = installed_at;
}

static void make_host_with_classes(CtlHost *h) {
        make_host(h);
        /* 2025-01-31 12:00:00 UTC and 2025-02-01 08:30:15.5 UTC */
        add_runtime_class(h, "kata-qemu-nvidia-gpu-tdx", "nvcr.io/nvidia/cc-runtime:v2", DIGEST2,
                          UINT64_C(1738398615500000));
        add_runtime_class(h, "kata-qemu-nvidia-gpu-snp", "registry.local:5000/kata/artifacts:v1", DIGEST1,
                          UINT64_C(1738324800000000));
        ctl_host_sort_runtime_classes(h);
}

static void test_runtime_class_cells(void **state) {
        char buf[CTL_CELL_MAX];

        assert_string_equal(ctl_digest_short(DIGEST1, buf), "sha256:3f2a9c0d5e7b");
        assert_string_equal(ctl_digest_short(NULL, buf), "-");
        assert_string_equal(ctl_digest_short("", buf), "-");
        /* Another form is shown whole, made printable. */
        assert_string_equal(ctl_digest_short("sha512:abc", buf), "sha512:abc");
        assert_string_equal(ctl_digest_short("sha256:ABCDEF0123456789abcdef", buf), "sha256:ABCDEF0123456789abcdef");
        assert_string_equal(ctl_digest_short("sha256:0123456789ab", buf), "sha256:0123456789ab");
        assert_string_equal(ctl_digest_short("sha256:0123\n", buf), "sha256:0123\\x0a");

        assert_int_equal(setenv("TZ", "UTC", 1), 0);
        tzset();
        assert_string_equal(ctl_format_timestamp(UINT64_C(1738324800000000), buf), "2025-01-31 12:00:00 UTC");
        assert_string_equal(ctl_format_timestamp(UINT64_C(1738398615999999), buf), "2025-02-01 08:30:15 UTC");
        assert_string_equal(ctl_format_timestamp(0, buf), "-");
        assert_int_equal(setenv("TZ", "CET-1", 1), 0);
        tzset();
        assert_string_equal(ctl_format_timestamp(UINT64_C(1738324800000000), buf), "2025-01-31 13:00:00 CET");
        assert_int_equal(setenv("TZ", "UTC", 1), 0);
        tzset();
}

static void test_runtime_classes_text(void **state) {
        CtlHost h;
        Capture c;
        char *out;

        assert_int_equal(setenv("TZ", "UTC", 1), 0);
        tzset();
        make_host_with_classes(&h);
        assert_string_equal(h.runtime_classes[0].name, "kata-qemu-nvidia-gpu-snp");
        ctl_print_runtime_classes(capture_begin(&c), h.runtime_classes, h.n_runtime_classes);
        out = capture_end(&c);
        assert_string_equal(out,
                            "RUNTIME CLASS             REFERENCE                              DIGEST               INSTALLED\n"
                            "kata-qemu-nvidia-gpu-snp  registry.local:5000/kata/artifacts:v1  sha256:3f2a9c0d5e7b  2025-01-31 12:00:00 UTC\n"
                            "kata-qemu-nvidia-gpu-tdx  nvcr.io/nvidia/cc-runtime:v2           sha256:0123456789ab  2025-02-01 08:30:15 UTC\n");
        free(out);

        /* In status, after the devices. */
        ctl_print_status(capture_begin(&c), &h, 0);
        out = capture_end(&c);
        assert_non_null(strstr(out, "vfio-pci  40     1\n\nRUNTIME CLASS  "));
        assert_string_equal(out + strlen(out) - strlen("2025-02-01 08:30:15 UTC\n"), "2025-02-01 08:30:15 UTC\n");
        free(out);

        /* What the daemon did not send, and control characters. */
        free(h.runtime_classes[1].reference);
        h.runtime_classes[1].reference = strdup("evil\nreference");
        h.runtime_classes[1].installed_at = 0;
        free(h.runtime_classes[0].digest);
        h.runtime_classes[0].digest = NULL;
        ctl_print_runtime_classes(capture_begin(&c), h.runtime_classes, h.n_runtime_classes);
        out = capture_end(&c);
        assert_string_equal(out,
                            "RUNTIME CLASS             REFERENCE                              DIGEST               INSTALLED\n"
                            "kata-qemu-nvidia-gpu-snp  registry.local:5000/kata/artifacts:v1  -                    2025-01-31 12:00:00 UTC\n"
                            "kata-qemu-nvidia-gpu-tdx  evil\\x0areference                      sha256:0123456789ab  -\n");
        free(out);
        ctl_host_done(&h);
        assert_int_equal(h.n_runtime_classes, 0);
        assert_null(h.runtime_classes);
}

static void test_runtime_classes_json(void **state) {
        CtlHost h;
        Capture c;
        char *out;

        make_host_with_classes(&h);
        h.n_devices = 0;
        free(h.runtime_classes[1].containerd_handler);
        h.runtime_classes[1].containerd_handler = strdup("");
        ctl_print_status_json(capture_begin(&c), &h);
        h.n_devices = 3;
        out = capture_end(&c);
        assert_non_null(strstr(out,
                "\"Devices\":[],\"RuntimeClasses\":["
                "{\"Name\":\"kata-qemu-nvidia-gpu-snp\",\"Reference\":\"registry.local:5000/kata/artifacts:v1\","
                "\"Digest\":\"" DIGEST1 "\","
                "\"Directory\":\"/opt/nvidia-gpu-operator/artifacts/runtimeclasses/kata-qemu-nvidia-gpu-snp\","
                "\"Files\":[\"configuration-qemu-nvidia-gpu-snp.toml\",\"vmlinuz-6.12.8-nvidia-gpu-confidential\"],"
                "\"ContainerdHandler\":\"kata-qemu-nvidia-gpu-snp\",\"InstalledAt\":1738324800000000},"
                "{\"Name\":\"kata-qemu-nvidia-gpu-tdx\",\"Reference\":\"nvcr.io/nvidia/cc-runtime:v2\","
                "\"Digest\":\"" DIGEST2 "\","
                "\"Directory\":\"/opt/nvidia-gpu-operator/artifacts/runtimeclasses/kata-qemu-nvidia-gpu-tdx\","
                "\"Files\":[\"configuration-qemu-nvidia-gpu-snp.toml\",\"vmlinuz-6.12.8-nvidia-gpu-confidential\"],"
                "\"ContainerdHandler\":\"\",\"InstalledAt\":1738398615500000}]}\n"));
        free(out);
        ctl_host_done(&h);
}

/* A plan as PlanSetMode (vfio false) or PlanBindVfio sends it. */
static void make_plan(CtlPlan *p, bool vfio) {
        static const struct {
                const char *device, *action, *driver, *reason;
                int group;
                const char *vfio_driver;
        } steps[] = {
                { "0000:18:00.0", "switch", "nvidia", "off now; unbind from nvidia, set on, reset, bind back to nvidia", 3,
                  "nvgrace_gpu_vfio_pci" },
                { "0000:2a:00.0", "refuse", "nvidia", "in use by nvidia-persistenced (pid 1234) and python3 (pid 5678)", 4,
                  "vfio-pci" },
                { "0000:3a:00.0", "skip", "", "already on", 5, "vfio-pci" },
        };

        ctl_plan_init(p);
        for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
                CtlPlanStep *s = ctl_plan_add_step(p);

                assert_non_null(s);
                s->device = strdup(steps[i].device);
                s->action = strdup(vfio && i == 0 ? "bind" : steps[i].action);
                s->driver = strdup(steps[i].driver);
                s->reason = strdup(steps[i].reason);
                if (vfio) {
                        s->vfio = true;
                        s->group = steps[i].group;
                        s->vfio_driver = strdup(steps[i].vfio_driver);
                        s->members = calloc(3, sizeof(char *));
                        s->members[0] = strdup(steps[i].device);
                        s->members[1] = strdup("0000:00:01.0");
                }
        }
        assert_int_equal(ctl_plan_step_add_holder(&p->steps[1], 1234, "nvidia-persistenced"), 0);
        assert_int_equal(ctl_plan_step_add_holder(&p->steps[1], 5678, "python\t3"), 0);
}

static void test_plan_text(void **state) {
        CtlPlan p;
        Capture c;
        char *out;

        /* A holder's name is the process's own choice: a tab in it is
         * shown escaped. */
        make_plan(&p, false);
        ctl_print_plan(capture_begin(&c), &p, "set-mode on");
        out = capture_end(&c);
        assert_string_equal(out,
                            "DEVICE        ACTION  DRIVER  HOLDERS                                         REASON\n"
                            "0000:18:00.0  switch  nvidia  -                                               off now; unbind from nvidia, set on, reset, bind back to nvidia\n"
                            "0000:2a:00.0  refuse  nvidia  nvidia-persistenced (1234), python\\x093 (5678)  in use by nvidia-persistenced (pid 1234) and python3 (pid 5678)\n"
                            "0000:3a:00.0  skip    -       -                                               already on\n"
                            "\n"
                            "set-mode on would be refused: 1 device in use. Nothing was changed.\n");
        free(out);
        ctl_plan_done(&p);

        make_plan(&p, true);
        free(p.steps[1].action);
        p.steps[1].action = strdup("bind");
        ctl_print_plan(capture_begin(&c), &p, "bind-vfio");
        out = capture_end(&c);
        assert_string_equal(out,
                            "DEVICE        GROUP  ACTION  DRIVER  VFIO DRIVER           HOLDERS                                         REASON\n"
                            "0000:18:00.0  3      bind    nvidia  nvgrace_gpu_vfio_pci  -                                               off now; unbind from nvidia, set on, reset, bind back to nvidia\n"
                            "0000:2a:00.0  4      bind    nvidia  vfio-pci              nvidia-persistenced (1234), python\\x093 (5678)  in use by nvidia-persistenced (pid 1234) and python3 (pid 5678)\n"
                            "0000:3a:00.0  5      skip    -       vfio-pci              -                                               already on\n"
                            "\n"
                            "bind-vfio would bind 2 devices and leave 1 as it is. Nothing was changed.\n");
        free(out);
        ctl_plan_done(&p);

        ctl_plan_init(&p);
        ctl_print_plan(capture_begin(&c), &p, "bind-vfio");
        out = capture_end(&c);
        assert_string_equal(out, "bind-vfio would change no device; nothing was changed.\n");
        free(out);
}

static void test_plan_json(void **state) {
        CtlPlan p;
        Capture c;
        char *out;

        make_plan(&p, false);
        ctl_print_plan_json(capture_begin(&c), &p);
        out = capture_end(&c);
        assert_string_equal(out,
                            "[{\"Device\":\"0000:18:00.0\",\"Action\":\"switch\",\"Driver\":\"nvidia\",\"Holders\":[],"
                            "\"Reason\":\"off now; unbind from nvidia, set on, reset, bind back to nvidia\"},"
                            "{\"Device\":\"0000:2a:00.0\",\"Action\":\"refuse\",\"Driver\":\"nvidia\",\"Holders\":"
                            "[{\"Pid\":1234,\"Command\":\"nvidia-persistenced\"},{\"Pid\":5678,\"Command\":\"python\\t3\"}],"
                            "\"Reason\":\"in use by nvidia-persistenced (pid 1234) and python3 (pid 5678)\"},"
                            "{\"Device\":\"0000:3a:00.0\",\"Action\":\"skip\",\"Driver\":\"\",\"Holders\":[],"
                            "\"Reason\":\"already on\"}]\n");
        free(out);
        ctl_plan_done(&p);

        make_plan(&p, true);
        ctl_print_plan_json(capture_begin(&c), &p);
        out = capture_end(&c);
        assert_non_null(strstr(out, "\"Reason\":\"already on\",\"Group\":5,\"Members\":[\"0000:3a:00.0\",\"0000:00:01.0\"],"
                                    "\"VfioDriver\":\"vfio-pci\"}]\n"));
        free(out);
        ctl_plan_done(&p);
}

static void test_no_legend(void **state) {
        CtlHost h;
        Capture c;
        char *devices, *classes, *none;

        make_host_with_classes(&h);
        ctl_print_set_legend(false);
        ctl_print_devices(capture_begin(&c), h.devices, h.n_devices, 0);
        devices = capture_end(&c);
        ctl_print_runtime_classes(capture_begin(&c), h.runtime_classes, h.n_runtime_classes);
        classes = capture_end(&c);
        ctl_print_devices(capture_begin(&c), NULL, 0, 0);
        none = capture_end(&c);
        /* Back before anything can fail: the other tests print legends. */
        ctl_print_set_legend(true);

        /* No header, and the cells alone size the columns. */
        assert_string_equal(devices,
                            "0000:07:00.0  GH100 [H100 NVSwitch]   nvswitch  hopper  -    on   -         -   -\n"
                            "0000:65:00.0  GH100 [H100 SXM5 80GB]  gpu       hopper  off  off  nvidia    12  0\n"
                            "0000:c5:00.0  GH100 [H100 SXM5 80GB]  gpu       hopper  on   off  vfio-pci  40  1\n");
        assert_null(strstr(classes, "RUNTIME CLASS"));
        assert_int_equal(strncmp(classes, "kata-qemu-nvidia-gpu-snp ", 25), 0);
        /* Nothing at all for nothing. */
        assert_string_equal(none, "");
        free(devices);
        free(classes);
        free(none);
        ctl_host_done(&h);
}

static void set_str(char **p, const char *v) {
        free(*p);
        *p = strdup(v);
}

static void test_report_mode(void **state) {
        CtlHost before, after;
        Capture c;
        char *out;

        make_host(&before);
        make_host(&after);
        /* 65 switched off -> on; c5 was on already; the NVSwitch is not
         * CC-capable and is not named. */
        set_str(&after.devices[1].cc_mode, "on");
        ctl_report_mode(capture_begin(&c), &before, &after, "on", NULL);
        out = capture_end(&c);
        assert_string_equal(out, "Switched 1 device to mode on: 0000:65:00.0\n"
                                 "1 device was already in mode on: 0000:c5:00.0\n");
        free(out);

        ctl_report_mode(capture_begin(&c), &before, &after, "on", "0000:c5:00.0");
        out = capture_end(&c);
        assert_string_equal(out, "1 device was already in mode on: 0000:c5:00.0\n");
        free(out);

        /* ppcie names the PPCIe-capable devices, the NVSwitch too. */
        set_str(&after.devices[0].ppcie_mode, "off");
        ctl_report_mode(capture_begin(&c), &before, &after, "ppcie", NULL);
        out = capture_end(&c);
        assert_string_equal(out, "Switched 2 devices to mode ppcie: 0000:07:00.0 0000:65:00.0\n"
                                 "1 device was already in mode ppcie: 0000:c5:00.0\n");
        free(out);
        ctl_host_done(&before);
        ctl_host_done(&after);
}

static void test_report_vfio(void **state) {
        const char named[][CTL_BDF_MAX] = { "0000:65:00.0" };
        CtlHost before, after;
        Capture c;
        char *out;

        make_host(&before);
        make_host(&after);
        /* 65's group has an audio function the daemon shows no object for. */
        for (CtlHost *h = &before; h; h = h == &before ? &after : NULL) {
                ctl_strv_free(h->devices[1].group_members);
                h->devices[1].group_members = calloc(3, sizeof(char *));
                h->devices[1].group_members[0] = strdup("0000:65:00.0");
                h->devices[1].group_members[1] = strdup("0000:65:00.1");
        }
        set_str(&after.devices[1].driver, "vfio-pci");
        set_str(&after.devices[1].vfio_device, "/dev/vfio/12");
        ctl_report_vfio(capture_begin(&c), &before, &after, true, named, 1);
        out = capture_end(&c);
        assert_string_equal(out, "Bound IOMMU group 12 to VFIO (/dev/vfio/12): 0000:65:00.0 (vfio-pci) 0000:65:00.1\n");
        free(out);

        /* Every GPU: c5 was bound already. */
        ctl_report_vfio(capture_begin(&c), &before, &after, true, NULL, 0);
        out = capture_end(&c);
        assert_string_equal(out, "Bound IOMMU group 12 to VFIO (/dev/vfio/12): 0000:65:00.0 (vfio-pci) 0000:65:00.1\n"
                                 "IOMMU group 40 was bound to VFIO already: 0000:c5:00.0 (vfio-pci)\n");
        free(out);

        /* And back. */
        ctl_report_vfio(capture_begin(&c), &after, &before, false, named, 1);
        out = capture_end(&c);
        assert_string_equal(out, "Gave IOMMU group 12 back: 0000:65:00.0 (nvidia) 0000:65:00.1\n");
        free(out);
        ctl_host_done(&before);
        ctl_host_done(&after);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_args_commands),
                cmocka_unit_test(test_args_bus),
                cmocka_unit_test(test_args_usage_errors),
                cmocka_unit_test(test_args_vfio),
                cmocka_unit_test(test_args_artifacts),
                cmocka_unit_test(test_args_dry_run),
                cmocka_unit_test(test_plan_text),
                cmocka_unit_test(test_plan_json),
                cmocka_unit_test(test_args_help_version),
                cmocka_unit_test(test_complete_bdf),
                cmocka_unit_test(test_json_escape),
                cmocka_unit_test(test_json_writer),
                cmocka_unit_test(test_json_pretty),
                cmocka_unit_test(test_no_legend),
                cmocka_unit_test(test_report_mode),
                cmocka_unit_test(test_report_vfio),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_error_message_escaped),
                cmocka_unit_test(test_sort),
                cmocka_unit_test(test_cells),
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_status_text),
                cmocka_unit_test(test_status_json),
                cmocka_unit_test(test_runtime_class_cells),
                cmocka_unit_test(test_runtime_classes_text),
                cmocka_unit_test(test_runtime_classes_json),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
