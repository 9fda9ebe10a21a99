/* SPDX-License-Identifier: MIT */

/* nvidia-ccd-fetch: the network-facing half of a registry pull.  Started by
 * oci_pull_start() (oci-pull.c); drops every capability before it reads its
 * arguments, then pulls and writes verified blobs into the output directory
 * and reports on stdout, one JSON object per line (see oci-pull.h). */

#include <curl/curl.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "escape.h"
#include "fileio.h"
#include "oci-fetch.h"
#include "oci-result.h"
#include "oci-sandbox.h"

#define PROGRESS_INTERVAL_NS (100 * 1000 * 1000ULL)

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

/* One line on stdout, written whole. */
static void emit(JsonBuilder *b) {
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = json_builder_get_root(b);
        g_autofree char *text = NULL;
        size_t len;

        json_generator_set_root(gen, root);
        text = json_generator_to_data(gen, NULL);
        len = strlen(text);
        text[len] = '\n';   /* replaces the NUL; written with its length */
        if (loop_write(STDOUT_FILENO, text, len + 1) < 0)
                _exit(3);   /* nobody is listening any more */
}

static void report_progress(uint64_t done, uint64_t total, void *userdata) {
        static uint64_t last;
        g_autoptr(JsonBuilder) b = NULL;
        uint64_t now = now_ns();

        if (done != 0 && done != total && now - last < PROGRESS_INTERVAL_NS)
                return;
        last = now;
        b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "progress");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "done");
        json_builder_add_int_value(b, (gint64) done);
        json_builder_set_member_name(b, "total");
        json_builder_add_int_value(b, (gint64) total);
        json_builder_end_object(b);
        json_builder_end_object(b);
        emit(b);
}

static void report_error(CcErrorKind kind, const char *message) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        /* The message may quote the registry, and may have been cut in the
         * middle of a character: escaped, it is UTF-8 with nothing that
         * moves a terminal. */
        _cleanup_free_ char *clean = text_escape(message, strlen(message));

        if (!clean)
                _exit(3);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "error");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "kind");
        json_builder_add_string_value(b, cc_error_kind_to_string(kind));
        json_builder_set_member_name(b, "message");
        json_builder_add_string_value(b, clean);
        json_builder_end_object(b);
        json_builder_end_object(b);
        emit(b);
}

static void report_result(const OciPullResult *res) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        oci_pull_result_add_json(b, res, false);
        emit(b);
}

/* A file handed over as a descriptor: a regular file, read whole from its
 * start, within its limit; the descriptor is closed. */
static int read_handed_over(int fd, size_t max, const char *what, char **ret, size_t *ret_size, CcError *err) {
        int r;

        r = fd_read_regular(fd, max, ret, ret_size);
        close(fd);
        if (r == -EFBIG)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EFBIG, "cannot read the %s: larger than %zu bytes",
                                    what, max);
        if (r == -EBADFD)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EBADFD, "cannot read the %s: not a regular file", what);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, -r, "cannot read the %s: %s", what, strerror(-r));
        return 0;
}

static int parse_fd(const char *s) {
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || *end || end == s || v < 3 || v > 1024)
                return -EINVAL;
        return (int) v;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "reference", required_argument, NULL, 'r' },
                { "output-dir-fd", required_argument, NULL, 'o' },
                { "pull-secret-fd", required_argument, NULL, 's' },
                { "ca-fd", required_argument, NULL, 'c' },
                { "plain-http", no_argument, NULL, 'p' },
                { "max-total-bytes", required_argument, NULL, 'm' },
                {}
        };
        _cleanup_(oci_pull_result_freep) OciPullResult *res = NULL;
        _cleanup_free_ char *secret = NULL, *ca = NULL;
        OciFetchOptions o = { .output_dir_fd = -1 };
        int secret_fd = -1, ca_fd = -1, dir_fd = -1, c, r;
        struct stat st;
        CcError err = CC_ERROR_INIT;

        /* First of all: nothing below runs with privileges. */
        r = oci_sandbox_enter();
        if (r < 0) {
                char m[128];

                snprintf(m, sizeof(m), "cannot drop privileges: %s", strerror(-r));
                report_error(CC_ERROR_INTERNAL, m);
                return 1;
        }
        /* The parent reads the pipe until the end; a dead parent ends us. */
        signal(SIGPIPE, SIG_DFL);

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (c) {
                case 'r':
                        o.reference = optarg;
                        break;
                case 'o':
                        dir_fd = parse_fd(optarg);
                        if (dir_fd < 0) {
                                report_error(CC_ERROR_INTERNAL, "bad --output-dir-fd");
                                return 2;
                        }
                        break;
                case 's':
                        secret_fd = parse_fd(optarg);
                        if (secret_fd < 0) {
                                report_error(CC_ERROR_INTERNAL, "bad --pull-secret-fd");
                                return 2;
                        }
                        break;
                case 'c':
                        ca_fd = parse_fd(optarg);
                        if (ca_fd < 0) {
                                report_error(CC_ERROR_INTERNAL, "bad --ca-fd");
                                return 2;
                        }
                        break;
                case 'p':
                        o.plain_http = true;
                        break;
                case 'm': {
                        char *end;

                        errno = 0;
                        o.max_total_bytes = strtoull(optarg, &end, 10);
                        if (errno || *end || end == optarg || optarg[0] == '-') {
                                report_error(CC_ERROR_INTERNAL, "bad --max-total-bytes");
                                return 2;
                        }
                        break;
                }
                default:
                        report_error(CC_ERROR_INTERNAL, "bad arguments");
                        return 2;
                }
        }
        if (!o.reference || dir_fd < 0 || optind != argc) {
                report_error(CC_ERROR_INTERNAL, "usage: nvidia-ccd-fetch --reference REF --output-dir-fd FD "
                             "[--pull-secret-fd FD] [--ca-fd FD] [--plain-http] [--max-total-bytes N]");
                return 2;
        }

        if (secret_fd >= 0) {
                r = read_handed_over(secret_fd, OCI_PULL_SECRET_MAX, "pull secret", &secret, &o.pull_secret_size, &err);
                if (r < 0) {
                        report_error(err.kind, err.message);
                        return 1;
                }
                o.pull_secret = secret;
        }
        if (ca_fd >= 0) {
                r = read_handed_over(ca_fd, OCI_CA_BUNDLE_MAX, "CA bundle", &ca, &o.ca_bundle_size, &err);
                if (r < 0) {
                        report_error(err.kind, err.message);
                        return 1;
                }
                o.ca_bundle = ca;
        }
        /* The one place it writes: a directory handed over open. */
        if (fstat(dir_fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
                report_error(CC_ERROR_INTERNAL, "--output-dir-fd is not a directory");
                return 1;
        }
        o.output_dir_fd = dir_fd;

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                report_error(CC_ERROR_INTERNAL, "cannot initialize libcurl");
                return 1;
        }
        r = oci_fetch(&o, report_progress, NULL, &res, &err);
        if (r < 0) {
                if (!cc_error_is_set(&err))
                        cc_error_set(&err, CC_ERROR_INTERNAL, r, "pull failed: %s", strerror(-r));
                report_error(err.kind, err.message);
        } else
                report_result(res);
        curl_global_cleanup();
        return r < 0 ? 1 : 0;
}
