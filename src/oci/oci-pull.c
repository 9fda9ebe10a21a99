/* SPDX-License-Identifier: MIT */

/* The parent side of a pull: starts nvidia-ccd-fetch, reads its report
 * without blocking, and believes nothing it has not checked. */

#include <assert.h>
#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <json-glib/json-glib.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fileio.h"
#include "oci-pull.h"
#include "oci-reference.h"

#define REPORT_LINE_MAX (1024 * 1024)
/* Where the helper finds what it was handed (its command line says so). */
#define SECRET_FD 3
#define CA_FD 4
/* The parent's copies sit above these, so that moving them into place in
 * the child never overwrites one with the other. */
#define HANDOVER_FD_MIN 10

struct OciPull {
        pid_t pid;
        int fd;
        char *output_dir;
        char *helper;
        char *buf;
        size_t size;
        bool ended;
        uint64_t done, total;
        OciPullResult *result;
        CcError error;        /* the helper's */
        CcError invalid;      /* what was wrong with its report */
};

const char *oci_pull_helper_path(const OciPullOptions *o) {
        const char *e;

        assert(o);

        if (o->helper_path)
                return o->helper_path;
        e = getenv("NVIDIA_CCD_FETCH");
        if (e && e[0] == '/')
                return e;
        return OCI_FETCH_HELPER_PATH;
}

/* The report line of a failed execv(), written without stdio or malloc:
 * {"exec-failed":{"errno":N}}. */
static void child_report_exec_failure(int error) {
        static const char head[] = "{\"exec-failed\":{\"errno\":", tail[] = "}}\n";
        char line[sizeof(head) + sizeof(tail) + 16], digits[16];
        size_t n = 0, k = 0;

        memcpy(line, head, sizeof(head) - 1);
        n = sizeof(head) - 1;
        do
                digits[k++] = (char) ('0' + error % 10);
        while ((error /= 10) > 0 && k < sizeof(digits));
        while (k > 0)
                line[n++] = digits[--k];
        memcpy(line + n, tail, sizeof(tail) - 1);
        n += sizeof(tail) - 1;
        (void) write(STDOUT_FILENO, line, n);
}

/* fd (at HANDOVER_FD_MIN or above) becomes target, kept across exec; -1:
 * target is closed. */
static int child_place_fd(int fd, int target) {
        if (fd < 0)
                return close(target) < 0 && errno != EBADF ? -1 : 0;
        /* dup2() clears O_CLOEXEC on the copy. */
        return dup2(fd, target) < 0 ? -1 : 0;
}

static void child_exec(const char *path, char **argv, int out_fd, int secret_fd, int ca_fd, pid_t parent) {
        sigset_t all;
        int null_fd;

        /* Async-signal-safe calls only: the parent may have threads. */
        sigemptyset(&all);
        (void) sigprocmask(SIG_SETMASK, &all, NULL);
        (void) signal(SIGPIPE, SIG_DFL);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(127);
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
                _exit(127);
        if (child_place_fd(secret_fd, SECRET_FD) < 0 || child_place_fd(ca_fd, CA_FD) < 0)
                _exit(127);
        (void) close_range(CA_FD + 1, ~0U, 0);
        execv(path, argv);
        child_report_exec_failure(errno);
        _exit(127);
}

/* A copy of a handed-over descriptor above HANDOVER_FD_MIN, after the
 * checks the helper makes again. */
static int handover_fd(int fd, const char *what, uint64_t max, int *ret, CcError *err) {
        int r, copy;

        *ret = -1;
        if (fd < 0)
                return 0;
        r = fd_check_regular_readable(fd, max, NULL);
        if (r == -EBADF)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EBADF, "the %s is not open for reading", what);
        if (r == -EBADFD)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EBADFD, "the %s is not a regular file", what);
        if (r == -EFBIG)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EFBIG, "the %s is larger than %" PRIu64 " bytes",
                                    what, max);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, -r, "cannot use the %s: %s", what, strerror(-r));
        copy = fcntl(fd, F_DUPFD_CLOEXEC, HANDOVER_FD_MIN);
        if (copy < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, errno, "cannot duplicate the %s: %s", what, strerror(errno));
        *ret = copy;
        return 0;
}

int oci_pull_check(const OciPullOptions *o, CcError *err) {
        _cleanup_(oci_reference_done) OciReference ref = {};
        const char *path;
        int r;

        assert(o);

        if (!o->reference)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL, "no reference given");
        r = oci_reference_parse(o->reference, &ref, err);
        if (r < 0)
                return r;
        if (o->plain_http && !oci_reference_is_loopback(&ref))
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EPERM,
                                    "plain HTTP is only allowed for a registry on loopback "
                                    "(localhost, 127.0.0.0/8, [::1]), not %s", ref.host);
        /* A helper that is not there is a host problem, told before a fork. */
        path = oci_pull_helper_path(o);
        if (access(path, X_OK) < 0)
                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, errno, "cannot run the fetch helper %s: %s (%s)",
                                    path, strerror(errno), strerrorname_np(errno) ?: "?");
        return 0;
}

int oci_pull_start(const OciPullOptions *o, OciPull **ret, CcError *err) {
        _cleanup_(oci_pull_freep) OciPull *p = NULL;
        _cleanup_close_ int secret_fd = -1, ca_fd = -1, read_fd = -1, write_fd = -1;
        _cleanup_free_ char *max = NULL;
        const char *path, *argv[16];
        int pipe_fds[2], n = 0, r;
        struct stat st;
        pid_t parent;

        assert(o);
        assert(ret);

        r = oci_pull_check(o, err);
        if (r < 0)
                return r;
        if (!o->output_dir || o->output_dir[0] != '/' || stat(o->output_dir, &st) < 0 || !S_ISDIR(st.st_mode))
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOTDIR, "the output directory %s is not an absolute path to a directory",
                                    strempty(o->output_dir));
        r = handover_fd(o->pull_secret_fd, "pull secret", OCI_PULL_SECRET_MAX, &secret_fd, err);
        if (r < 0)
                return r;
        r = handover_fd(o->ca_fd, "CA bundle", OCI_CA_BUNDLE_MAX, &ca_fd, err);
        if (r < 0)
                return r;

        path = oci_pull_helper_path(o);
        p = calloc(1, sizeof(*p));
        if (!p)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        p->fd = -1;
        p->output_dir = strdup(o->output_dir);
        p->helper = strdup(path);
        if (!p->output_dir || !p->helper)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");

        argv[n++] = "nvidia-ccd-fetch";
        argv[n++] = "--reference";
        argv[n++] = o->reference;
        argv[n++] = "--output-dir";
        argv[n++] = o->output_dir;
        if (secret_fd >= 0) {
                argv[n++] = "--pull-secret-fd";
                argv[n++] = "3";
        }
        if (ca_fd >= 0) {
                argv[n++] = "--ca-fd";
                argv[n++] = "4";
        }
        if (o->plain_http)
                argv[n++] = "--plain-http";
        if (o->max_total_bytes > 0) {
                if (asprintf(&max, "%" PRIu64, o->max_total_bytes) < 0)
                        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
                argv[n++] = "--max-total-bytes";
                argv[n++] = max;
        }
        argv[n] = NULL;

        if (pipe2(pipe_fds, O_CLOEXEC) < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, errno, "cannot make a pipe: %s", strerror(errno));
        read_fd = pipe_fds[0];
        write_fd = pipe_fds[1];
        parent = getpid();
        p->pid = fork();
        if (p->pid < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, errno, "cannot fork: %s", strerror(errno));
        if (p->pid == 0)
                child_exec(path, (char **) argv, write_fd, secret_fd, ca_fd, parent);

        if (fcntl(read_fd, F_SETFL, O_NONBLOCK) < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, errno, "cannot set up the pipe: %s", strerror(errno));
        p->fd = TAKE_FD(read_fd);
        *ret = TAKE_PTR(p);
        return 0;
}

OciPull *oci_pull_free(OciPull *p) {
        if (!p)
                return NULL;
        if (p->pid > 0) {
                (void) kill(p->pid, SIGKILL);
                while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        if (p->fd >= 0)
                close(p->fd);
        oci_pull_result_free(p->result);
        free(p->output_dir);
        free(p->helper);
        free(p->buf);
        free(p);
        return NULL;
}

int oci_pull_get_fd(OciPull *p) {
        assert(p);
        return p->fd;
}

/* -------------------------------------------------------------- the report */

static bool only_members(JsonObject *o, const char *const *names) {
        g_autoptr(GList) members = json_object_get_members(o);

        for (GList *l = members; l; l = l->next) {
                bool known = false;

                for (size_t i = 0; names[i]; i++)
                        if (streq(l->data, names[i]))
                                known = true;
                if (!known)
                        return false;
        }
        for (size_t i = 0; names[i]; i++)
                if (!json_object_has_member(o, names[i]))
                        return false;
        return true;
}

static bool get_uint(JsonObject *o, const char *name, uint64_t *ret) {
        JsonNode *n = json_object_get_member(o, name);

        if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
            json_node_get_int(n) < 0)
                return false;
        *ret = (uint64_t) json_node_get_int(n);
        return true;
}

static const char *get_string(JsonObject *o, const char *name) {
        JsonNode *n = json_object_get_member(o, name);

        if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
                return NULL;
        return json_node_get_string(n);
}

static int invalid(OciPull *p, const char *what) {
        if (!cc_error_is_set(&p->invalid))
                cc_error_set(&p->invalid, CC_ERROR_INTERNAL, EBADMSG,
                             "the fetch helper sent an invalid report: %s", what);
        return -EBADMSG;
}

static int take_progress(OciPull *p, JsonObject *o) {
        static const char *const names[] = { "done", "total", NULL };
        uint64_t done, total;

        if (!only_members(o, names) || !get_uint(o, "done", &done) || !get_uint(o, "total", &total) ||
            done > total)
                return invalid(p, "bad progress");
        p->done = done;
        p->total = total;
        return 0;
}

static int take_result(OciPull *p, JsonObject *o) {
        static const char *const names[] = { "manifest", "layers", NULL };
        static const char *const layer_names[] = { "digest", "size", "media-type", "title", NULL };
        _cleanup_(oci_pull_result_freep) OciPullResult *res = NULL;
        const char *manifest;
        JsonNode *layers;
        JsonArray *a;
        guint n;

        if (!only_members(o, names))
                return invalid(p, "bad result");
        manifest = get_string(o, "manifest");
        if (!manifest || !oci_digest_is_valid(manifest))
                return invalid(p, "bad manifest digest");
        layers = json_object_get_member(o, "layers");
        if (!JSON_NODE_HOLDS_ARRAY(layers))
                return invalid(p, "no layers");
        a = json_node_get_array(layers);
        n = json_array_get_length(a);
        if (n == 0 || n > 1024)
                return invalid(p, "no layers, or too many");

        res = calloc(1, sizeof(*res));
        if (!res || !(res->manifest_digest = strdup(manifest)) || !(res->layers = calloc(n, sizeof(OciLayer))))
                return -ENOMEM;
        for (guint i = 0; i < n; i++) {
                JsonNode *e = json_array_get_element(a, i), *title;
                OciLayer *l = &res->layers[i];
                const char *digest, *media_type;
                JsonObject *lo;

                res->n_layers++;
                if (!JSON_NODE_HOLDS_OBJECT(e) || !only_members((lo = json_node_get_object(e)), layer_names))
                        return invalid(p, "bad layer");
                digest = get_string(lo, "digest");
                media_type = get_string(lo, "media-type");
                title = json_object_get_member(lo, "title");
                if (!digest || !oci_digest_is_valid(digest) || !media_type || !media_type[0] ||
                    !get_uint(lo, "size", &l->size) ||
                    !(JSON_NODE_HOLDS_NULL(title) ||
                      (JSON_NODE_HOLDS_VALUE(title) && json_node_get_value_type(title) == G_TYPE_STRING)))
                        return invalid(p, "bad layer");
                if (!(l->digest = strdup(digest)) || !(l->media_type = strdup(media_type)) ||
                    (!JSON_NODE_HOLDS_NULL(title) && !(l->title = strdup(json_node_get_string(title)))) ||
                    asprintf(&l->path, "%s/%s", p->output_dir, digest + strlen("sha256:")) < 0) {
                        l->path = NULL;
                        return -ENOMEM;
                }
        }
        p->result = TAKE_PTR(res);
        return 0;
}

static int take_error(OciPull *p, JsonObject *o) {
        static const char *const names[] = { "kind", "message", NULL };
        const char *kind, *message;

        if (!only_members(o, names) || !(kind = get_string(o, "kind")) || !(message = get_string(o, "message")))
                return invalid(p, "bad error");
        for (CcErrorKind k = CC_ERROR_NONE + 1; k < _CC_ERROR_KIND_MAX; k++)
                if (streq(kind, cc_error_kind_to_string(k))) {
                        cc_error_set(&p->error, k, 0, "%s", message);
                        return 0;
                }
        return invalid(p, "unknown error kind");
}

/* Written by the child in place of the helper when execv() failed. */
static int take_exec_failure(OciPull *p, JsonObject *o) {
        static const char *const names[] = { "errno", NULL };
        uint64_t e;

        if (!only_members(o, names) || !get_uint(o, "errno", &e) || e == 0 || e > 4095)
                return invalid(p, "bad exec failure");
        cc_error_set(&p->error, CC_ERROR_HOST_NOT_READY, (int) e, "cannot run the fetch helper %s: %s (%s)", p->helper,
                     strerror((int) e), strerrorname_np((int) e) ?: "?");
        return 0;
}

static int take_line(OciPull *p, const char *line, size_t size) {
        g_autoptr(JsonParser) parser = json_parser_new_immutable();
        g_autoptr(GList) members = NULL;
        JsonNode *root, *value;
        JsonObject *o;
        const char *name;

        if (p->result || cc_error_is_set(&p->error))
                return invalid(p, "more after the outcome");
        if (memchr(line, '\0', size) || !json_parser_load_from_data(parser, line, (gssize) size, NULL))
                return invalid(p, "not JSON");
        root = json_parser_get_root(parser);
        if (!root || !JSON_NODE_HOLDS_OBJECT(root))
                return invalid(p, "not an object");
        o = json_node_get_object(root);
        members = json_object_get_members(o);
        if (!members || members->next)
                return invalid(p, "not one member");
        name = members->data;
        value = json_object_get_member(o, name);
        if (!JSON_NODE_HOLDS_OBJECT(value))
                return invalid(p, "not an object");
        if (streq(name, "progress"))
                return take_progress(p, json_node_get_object(value));
        if (streq(name, "result"))
                return take_result(p, json_node_get_object(value));
        if (streq(name, "error"))
                return take_error(p, json_node_get_object(value));
        if (streq(name, "exec-failed"))
                return take_exec_failure(p, json_node_get_object(value));
        return invalid(p, "unknown line");
}

static void stop_helper(OciPull *p) {
        if (p->pid > 0)
                (void) kill(p->pid, SIGKILL);
        p->ended = true;
}

int oci_pull_process(OciPull *p, uint64_t *ret_done, uint64_t *ret_total) {
        int r = 0;

        assert(p);

        while (!p->ended) {
                char chunk[16384];
                ssize_t k = read(p->fd, chunk, sizeof(chunk));
                char *nl;
                size_t start = 0;

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        invalid(p, strerror(errno));
                        stop_helper(p);
                        break;
                }
                if (k == 0) {
                        if (p->size > 0)
                                invalid(p, "cut short");
                        p->ended = true;
                        break;
                }
                if (p->size + (size_t) k > REPORT_LINE_MAX) {
                        invalid(p, "line too long");
                        stop_helper(p);
                        break;
                }
                {
                        char *b = realloc(p->buf, p->size + (size_t) k);

                        if (!b) {
                                invalid(p, "out of memory");
                                stop_helper(p);
                                break;
                        }
                        p->buf = b;
                }
                memcpy(p->buf + p->size, chunk, (size_t) k);
                p->size += (size_t) k;

                while ((nl = memchr(p->buf + start, '\n', p->size - start))) {
                        r = take_line(p, p->buf + start, (size_t) (nl - (p->buf + start)));
                        start = (size_t) (nl - p->buf) + 1;
                        if (r < 0) {
                                if (r == -ENOMEM)
                                        invalid(p, "out of memory");
                                stop_helper(p);
                                break;
                        }
                }
                if (p->ended)
                        break;
                memmove(p->buf, p->buf + start, p->size - start);
                p->size -= start;
        }
        if (ret_done)
                *ret_done = p->done;
        if (ret_total)
                *ret_total = p->total;
        return p->ended ? 1 : 0;
}

/* Every layer the helper says it wrote is there, a regular file of its size. */
static int check_files(OciPull *p, CcError *err) {
        _cleanup_close_ int dir_fd = open(p->output_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (dir_fd < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, errno, "cannot open %s: %s", p->output_dir, strerror(errno));
        for (size_t i = 0; i < p->result->n_layers; i++) {
                const OciLayer *l = &p->result->layers[i];
                struct stat st;

                if (fstatat(dir_fd, l->digest + strlen("sha256:"), &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISREG(st.st_mode) || (uint64_t) st.st_size != l->size)
                        return cc_error_set(err, CC_ERROR_INTERNAL, EBADMSG,
                                            "the fetch helper reported %s, but there is no file of %" PRIu64 " bytes for it",
                                            l->digest, l->size);
        }
        return 0;
}

int oci_pull_finish(OciPull *p, OciPullResult **ret, CcError *err) {
        int status = 0, r;
        pid_t pid;

        assert(p);
        assert(ret);

        if (!p->ended || p->pid <= 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, EBUSY, "the pull has not ended, or was finished already");
        /* The pipe is at its end: the helper has exited or was killed, so
         * this does not wait long. */
        pid = p->pid;
        p->pid = 0;
        while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
                ;
        if (r < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, errno, "cannot reap the fetch helper: %s", strerror(errno));

        if (cc_error_is_set(&p->invalid)) {
                if (err)
                        *err = p->invalid;
                return -EBADMSG;
        }
        if (cc_error_is_set(&p->error)) {
                if (err)
                        *err = p->error;
                return -(p->error.kind == CC_ERROR_INVALID_ARGUMENT ? EINVAL : EIO);
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !p->result) {
                if (WIFSIGNALED(status))
                        return cc_error_set(err, CC_ERROR_INTERNAL, EIO, "the fetch helper was killed by signal %d (%s)",
                                            WTERMSIG(status), strsignal(WTERMSIG(status)));
                if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                        return cc_error_set(err, CC_ERROR_HOST_NOT_READY, ECHILD,
                                            "cannot run the fetch helper %s: it could not be started (exit status 127)",
                                            p->helper);
                return cc_error_set(err, CC_ERROR_INTERNAL, EIO, "the fetch helper exited with status %d without a result",
                                    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        }
        r = check_files(p, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p->result);
        return 0;
}

int oci_pull_run(const OciPullOptions *o, OciPullResult **ret, CcError *err) {
        _cleanup_(oci_pull_freep) OciPull *p = NULL;
        int r;

        r = oci_pull_start(o, &p, err);
        if (r < 0)
                return r;
        for (;;) {
                struct pollfd pfd = { .fd = oci_pull_get_fd(p), .events = POLLIN };

                if (poll(&pfd, 1, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return cc_error_set(err, CC_ERROR_INTERNAL, errno, "poll: %s", strerror(errno));
                }
                if (oci_pull_process(p, NULL, NULL) > 0)
                        break;
        }
        return oci_pull_finish(p, ret, err);
}
