/* SPDX-License-Identifier: MIT */

/* oci-pull-tool: one pull through the library, as the daemon makes it
 * (oci_pull_start, poll, oci_pull_process, oci_pull_finish), for the
 * fetch-level tests and the benchmark.  Prints "progress DONE TOTAL" lines
 * as they come, then one JSON object: {"result":{...}} or {"error":{...}}.
 * Exits 0 on success, 1 on a pull error, 2 on bad usage. */

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-glib/json-glib.h>
#include <poll.h>

#include "oci-result.h"

static void print_json(JsonBuilder *b) {
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = json_builder_get_root(b);
        g_autofree char *text = NULL;

        json_generator_set_root(gen, root);
        text = json_generator_to_data(gen, NULL);
        printf("%s\n", text);
        fflush(stdout);
}

static void print_result(const OciPullResult *res) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        oci_pull_result_add_json(b, res, true);
        print_json(b);
}

static void print_error(const CcError *e) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "error");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "kind");
        json_builder_add_string_value(b, cc_error_kind_to_string(e->kind));
        json_builder_set_member_name(b, "message");
        json_builder_add_string_value(b, e->message);
        json_builder_end_object(b);
        json_builder_end_object(b);
        print_json(b);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "reference", required_argument, NULL, 'r' },
                { "output-dir", required_argument, NULL, 'o' },
                { "pull-secret", required_argument, NULL, 's' },
                { "ca-file", required_argument, NULL, 'c' },
                { "plain-http", no_argument, NULL, 'p' },
                { "max-total-bytes", required_argument, NULL, 'm' },
                { "helper", required_argument, NULL, 'h' },
                {}
        };
        _cleanup_(oci_pull_result_freep) OciPullResult *res = NULL;
        _cleanup_(oci_pull_freep) OciPull *p = NULL;
        /* As the daemon runs it: the helper as the user the tests name. */
        OciPullOptions o = {
                .user = getenv("NVIDIA_CCD_FETCH_USER"),
                .output_dir_fd = -1,
                .pull_secret_fd = -1,
                .ca_fd = -1,
        };
        _cleanup_close_ int secret_fd = -1, ca_fd = -1;
        const char *secret_path = NULL, *ca_path = NULL;
        CcError err = CC_ERROR_INIT;
        uint64_t last_done = UINT64_MAX;
        int c, r;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (c) {
                case 'r': o.reference = optarg; break;
                case 'o': o.output_dir = optarg; break;
                case 's': secret_path = optarg; break;
                case 'c': ca_path = optarg; break;
                case 'p': o.plain_http = true; break;
                case 'm': o.max_total_bytes = strtoull(optarg, NULL, 10); break;
                case 'h': o.helper_path = optarg; break;
                default: return 2;
                }
        }
        if (!o.reference || !o.output_dir || optind != argc) {
                fprintf(stderr, "usage: %s --reference REF --output-dir DIR [--pull-secret F] [--ca-file F] "
                        "[--plain-http] [--max-total-bytes N] [--helper PATH]\n", argv[0]);
                return 2;
        }

        /* Opened here, with this tool's rights, as nvidia-ccctl does. */
        if (secret_path) {
                secret_fd = open(secret_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (secret_fd < 0) {
                        cc_error_set(&err, CC_ERROR_INVALID_ARGUMENT, errno, "cannot open the pull secret %s: %s",
                                     secret_path, strerror(errno));
                        print_error(&err);
                        return 1;
                }
                o.pull_secret_fd = secret_fd;
        }
        if (ca_path) {
                ca_fd = open(ca_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (ca_fd < 0) {
                        cc_error_set(&err, CC_ERROR_INVALID_ARGUMENT, errno, "cannot open the CA file %s: %s", ca_path,
                                     strerror(errno));
                        print_error(&err);
                        return 1;
                }
                o.ca_fd = ca_fd;
        }

        r = oci_pull_start(&o, &p, &err);
        if (r < 0) {
                print_error(&err);
                return 1;
        }
        for (;;) {
                struct pollfd pfd = { .fd = oci_pull_get_fd(p), .events = POLLIN };
                uint64_t done, total;
                int ended;

                if (poll(&pfd, 1, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("poll");
                        return 1;
                }
                ended = oci_pull_process(p, &done, &total);
                if (done != last_done && total > 0) {
                        printf("progress %" PRIu64 " %" PRIu64 "\n", done, total);
                        fflush(stdout);
                        last_done = done;
                }
                if (ended)
                        break;
        }
        r = oci_pull_finish(p, &res, &err);
        if (r < 0) {
                print_error(&err);
                return 1;
        }
        print_result(res);
        return 0;
}
