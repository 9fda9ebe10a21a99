/* SPDX-License-Identifier: MIT */

/* The parent side of a pull: starts nvidia-ccd-fetch as an unprivileged
 * user, reads its report without blocking and with a strict reader of its
 * own (report-reader.h), and believes nothing it has not checked. */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fileio.h"
#include "oci-pull.h"
#include "oci-reference.h"
#include "report-reader.h"

/* The descriptors the helper gets besides stdout (its command line says
 * so): it opens no file by name, as its user could not read the caller's. */
#define SECRET_FD 3
#define OUTPUT_DIR_FD 4
#define CA_FD 5
/* Where they wait in the parent between fork() and dup2(), clear of both. */
#define FD_PARK_MIN 10

struct OciPull {
        pid_t pid;
        int fd;
        int dir_fd;           /* the output directory */
        bool dir_handed;      /* owned by the helper's user until it is given back */
        uid_t helper_uid;     /* who the helper's files belong to */
        char *output_dir;
        char *helper;         /* its path, for messages */
        ReportReader reader;
        bool ended;
        uint64_t done, total;
        OciPullResult *result;
        CcError error;        /* the helper's */
        CcError invalid;      /* what was wrong with its report */
};

OciPullResult *oci_pull_result_free(OciPullResult *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_layers; i++) {
                free(r->layers[i].digest);
                free(r->layers[i].media_type);
                free(r->layers[i].title);
                free(r->layers[i].path);
        }
        free(r->layers);
        free(r->manifest_digest);
        free(r);
        return NULL;
}

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
        /* The parent reads the line whole; a short write or a signal must
         * not cut it.  Nothing more can be done if stdout is gone. */
        for (size_t done = 0; done < n;) {
                ssize_t written = write(STDOUT_FILENO, line + done, n - done);

                if (written < 0 && errno == EINTR)
                        continue;
                if (written <= 0)
                        break;
                done += (size_t) written;
        }
}

typedef struct ChildSetup {
        const char *path;
        char **argv;
        int out_fd;           /* parked: dup2()ed to stdout */
        int secret_fd;        /* parked, or -1 */
        int ca_fd;            /* parked, or -1 */
        int dir_fd;           /* parked */
        bool switch_user;
        uid_t uid;
        gid_t gid;
        pid_t parent;
} ChildSetup;

static void child_exec(const ChildSetup *c) {
        sigset_t all;
        int null_fd;

        /* Async-signal-safe calls only: the parent may have threads. */
        sigemptyset(&all);
        (void) sigprocmask(SIG_SETMASK, &all, NULL);
        (void) signal(SIGPIPE, SIG_DFL);
        /* No supplementary groups, then the group, then the user: each step
         * needs the privilege the next one gives up. */
        if (c->switch_user &&
            (setgroups(0, NULL) < 0 || setresgid(c->gid, c->gid, c->gid) < 0 || setresuid(c->uid, c->uid, c->uid) < 0))
                _exit(126);
        /* After the switch: a change of credentials clears the setting. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != c->parent)
                _exit(127);
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(c->out_fd, STDOUT_FILENO) < 0 ||
            dup2(c->dir_fd, OUTPUT_DIR_FD) < 0 || (c->secret_fd >= 0 && dup2(c->secret_fd, SECRET_FD) < 0) ||
            (c->ca_fd >= 0 && dup2(c->ca_fd, CA_FD) < 0))
                _exit(127);
        (void) close_range(CA_FD + 1, ~0U, 0);
        if (c->secret_fd < 0)
                (void) close(SECRET_FD);
        if (c->ca_fd < 0)
                (void) close(CA_FD);
        execv(c->path, c->argv);
        child_report_exec_failure(errno);
        _exit(127);
}

/* The user the helper runs as: o->user when the caller is root. */
static int resolve_user(const OciPullOptions *o, ChildSetup *c, CcError *err) {
        struct passwd pw, *found = NULL;
        char buf[4096];
        int r;

        if (!o->user || geteuid() != 0)
                return 0;
        r = getpwnam_r(o->user, &pw, buf, sizeof(buf), &found);
        if (r != 0 || !found)
                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, r ?: ENOENT,
                                    "the user %s the registry client runs as does not exist "
                                    "(systemd-sysusers creates it from sysusers.d/nvidia-ccd.conf)", o->user);
        if (pw.pw_uid == 0 || pw.pw_gid == 0)
                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, EPERM,
                                    "the user %s the registry client runs as is root, or in group root", o->user);
        c->switch_user = true;
        c->uid = pw.pw_uid;
        c->gid = pw.pw_gid;
        return 0;
}

/* Moves fd to FD_PARK_MIN or above, so dup2() in the child cannot clobber
 * another descriptor it still needs. */
static int park_fd(int *fd) {
        int k;

        if (*fd < 0)
                return 0;
        k = fcntl(*fd, F_DUPFD_CLOEXEC, FD_PARK_MIN);
        if (k < 0)
                return -errno;
        close(*fd);
        *fd = k;
        return 0;
}

/* A copy of a handed-over descriptor, after the checks the helper makes
 * again. */
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
        copy = fcntl(fd, F_DUPFD_CLOEXEC, FD_PARK_MIN);
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
        _cleanup_close_ int secret_fd = -1, ca_fd = -1, read_fd = -1, write_fd = -1, dir_fd = -1;
        _cleanup_free_ char *max = NULL;
        ChildSetup c = { .secret_fd = -1, .ca_fd = -1 };
        const char *argv[16];
        int pipe_fds[2], n = 0, r;
        struct stat st;

        assert(o);
        assert(ret);

        r = oci_pull_check(o, err);
        if (r < 0)
                return r;
        if (!o->output_dir || o->output_dir[0] != '/')
                return cc_error_set(err, CC_ERROR_INTERNAL, EINVAL, "the output directory %s is not an absolute path",
                                    strempty(o->output_dir));
        /* The helper gets this descriptor, never a path. */
        dir_fd = o->output_dir_fd >= 0 ? fcntl(o->output_dir_fd, F_DUPFD_CLOEXEC, 3) :
                                         open(o->output_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir_fd < 0 || fstat(dir_fd, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
                return cc_error_set(err, CC_ERROR_INTERNAL, dir_fd < 0 ? errno : EPERM,
                                    "the output directory %s is not a directory of ours", o->output_dir);
        r = handover_fd(o->pull_secret_fd, "pull secret", OCI_PULL_SECRET_MAX, &secret_fd, err);
        if (r < 0)
                return r;
        r = handover_fd(o->ca_fd, "CA bundle", OCI_CA_BUNDLE_MAX, &ca_fd, err);
        if (r < 0)
                return r;
        r = resolve_user(o, &c, err);
        if (r < 0)
                return r;

        p = calloc(1, sizeof(*p));
        if (!p)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        p->fd = -1;
        p->dir_fd = -1;
        p->helper_uid = c.switch_user ? c.uid : geteuid();
        p->output_dir = strdup(o->output_dir);
        p->helper = strdup(oci_pull_helper_path(o));
        if (!p->output_dir || !p->helper)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");

        argv[n++] = "nvidia-ccd-fetch";
        argv[n++] = "--reference";
        argv[n++] = o->reference;
        argv[n++] = "--output-dir-fd";
        argv[n++] = "4";
        if (secret_fd >= 0) {
                argv[n++] = "--pull-secret-fd";
                argv[n++] = "3";
        }
        if (ca_fd >= 0) {
                argv[n++] = "--ca-fd";
                argv[n++] = "5";
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
        if (park_fd(&write_fd) < 0 || park_fd(&secret_fd) < 0 || park_fd(&ca_fd) < 0 ||
            park_fd(&dir_fd) < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, errno, "cannot set up descriptors: %s", strerror(errno));

        /* The helper's user owns the directory while it writes; nothing
         * else of ours is open to it. */
        if (c.switch_user) {
                if (fchown(dir_fd, c.uid, c.gid) < 0)
                        return cc_error_set(err, CC_ERROR_INTERNAL, errno, "cannot hand %s to the registry client: %s",
                                            o->output_dir, strerror(errno));
                p->dir_handed = true;
        }
        p->dir_fd = TAKE_FD(dir_fd);

        c.path = p->helper;
        c.argv = (char **) argv;
        c.out_fd = write_fd;
        c.secret_fd = secret_fd;
        c.ca_fd = ca_fd;
        c.dir_fd = p->dir_fd;
        c.parent = getpid();
        p->pid = fork();
        if (p->pid < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, errno, "cannot fork: %s", strerror(errno));
        if (p->pid == 0)
                child_exec(&c);

        if (fcntl(read_fd, F_SETFL, O_NONBLOCK) < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, errno, "cannot set up the pipe: %s", strerror(errno));
        p->fd = TAKE_FD(read_fd);
        *ret = TAKE_PTR(p);
        return 0;
}

/* Takes the directory back from the helper's user (it has exited). */
static int take_back_dir(OciPull *p) {
        if (!p->dir_handed)
                return 0;
        if (fchown(p->dir_fd, geteuid(), getegid()) < 0 || fchmod(p->dir_fd, 0700) < 0)
                return -errno;
        p->dir_handed = false;
        return 0;
}

static void reap(OciPull *p, int *ret_status) {
        int status = 0;

        while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
                ;
        p->pid = 0;
        if (ret_status)
                *ret_status = status;
}

OciPull *oci_pull_free(OciPull *p) {
        if (!p)
                return NULL;
        if (p->pid > 0) {
                (void) kill(p->pid, SIGKILL);
                reap(p, NULL);
        }
        /* What the helper left must stay removable by us. */
        (void) take_back_dir(p);
        if (p->dir_fd >= 0)
                close(p->dir_fd);
        if (p->fd >= 0)
                close(p->fd);
        oci_pull_result_free(p->result);
        report_reader_done(&p->reader);
        free(p->output_dir);
        free(p->helper);
        free(p);
        return NULL;
}

int oci_pull_get_fd(OciPull *p) {
        assert(p);
        return p->fd;
}

/* -------------------------------------------------------------- the report */

static int invalid(OciPull *p, const char *what) {
        if (!cc_error_is_set(&p->invalid))
                cc_error_set(&p->invalid, CC_ERROR_INTERNAL, EBADMSG,
                             "the fetch helper sent an invalid report: %s", what);
        return -EBADMSG;
}

static int take_line(void *userdata, const char *line, size_t size) {
        OciPull *p = userdata;
        ReportLine l = {};
        const char *problem = NULL;
        int r;

        if (p->result || cc_error_is_set(&p->error))
                return invalid(p, "more after the outcome");
        r = report_line_parse(line, size, &l, &problem);
        if (r < 0)
                return invalid(p, problem ?: "unreadable");
        switch (l.kind) {
        case REPORT_PROGRESS:
                p->done = l.done;
                p->total = l.total;
                break;
        case REPORT_RESULT:
                for (size_t i = 0; i < l.result->n_layers; i++)
                        if (asprintf(&l.result->layers[i].path, "%s/%s", p->output_dir,
                                     l.result->layers[i].digest + strlen("sha256:")) < 0) {
                                l.result->layers[i].path = NULL;
                                report_line_done(&l);
                                return invalid(p, "out of memory");
                        }
                p->result = TAKE_PTR(l.result);
                break;
        case REPORT_ERROR:
                cc_error_set(&p->error, l.error_kind, 0, "%s", l.error_message);
                break;
        case REPORT_EXEC_FAILED:
                /* Written by the child in place of the helper. */
                cc_error_set(&p->error, CC_ERROR_HOST_NOT_READY, l.exec_errno, "cannot run the fetch helper %s: %s (%s)",
                             p->helper, strerror(l.exec_errno), strerrorname_np(l.exec_errno) ?: "?");
                break;
        }
        report_line_done(&l);
        return 0;
}

static void stop_helper(OciPull *p) {
        if (p->pid > 0)
                (void) kill(p->pid, SIGKILL);
        p->ended = true;
}

int oci_pull_process(OciPull *p, uint64_t *ret_done, uint64_t *ret_total) {
        assert(p);

        /* One read per wakeup: the work a wakeup does is bounded, and the
         * loop, level-triggered, comes back for the rest. */
        while (!p->ended) {
                char chunk[REPORT_READ_MAX];
                const char *problem = NULL;
                ssize_t k = read(p->fd, chunk, sizeof(chunk));
                int r;

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN) {
                                invalid(p, strerror(errno));
                                stop_helper(p);
                        }
                        break;
                }
                if (k == 0) {
                        if (report_reader_pending(&p->reader))
                                invalid(p, "cut short");
                        p->ended = true;
                        break;
                }
                r = report_reader_feed(&p->reader, chunk, (size_t) k, take_line, p, &problem);
                if (r < 0) {
                        invalid(p, r == -ENOMEM ? "out of memory" : problem ?: "unreadable");
                        stop_helper(p);
                }
                break;
        }
        if (ret_done)
                *ret_done = p->done;
        if (ret_total)
                *ret_total = p->total;
        return p->ended ? 1 : 0;
}

/* Every layer the helper says it wrote is there: a regular file of its
 * size, of the helper's user, with no other name (a hard link would let
 * the change of owner reach a file elsewhere); each becomes ours.  The
 * file is looked at through O_PATH: the service's root has no
 * CAP_DAC_OVERRIDE, so it could not open another user's 0600 file for
 * reading until it owns it.  The directory is ours again by now (the helper
 * has exited), so nobody can swap the name between the look and the
 * change of owner. */
static int check_files(OciPull *p, CcError *err) {
        for (size_t i = 0; i < p->result->n_layers; i++) {
                const OciLayer *l = &p->result->layers[i];
                const char *name = l->digest + strlen("sha256:");
                _cleanup_close_ int fd = -1;
                struct stat st;

                fd = openat(p->dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t) st.st_size != l->size)
                        return cc_error_set(err, CC_ERROR_INTERNAL, EBADMSG,
                                            "the fetch helper reported %s, but there is no file of %" PRIu64 " bytes for it",
                                            l->digest, l->size);
                if (st.st_nlink != 1 || (st.st_uid != p->helper_uid && st.st_uid != geteuid()))
                        return cc_error_set(err, CC_ERROR_INTERNAL, EBADMSG,
                                            "the fetch helper's file for %s has other names or another owner", l->digest);
                if ((st.st_uid != geteuid() && fchownat(fd, "", geteuid(), getegid(), AT_EMPTY_PATH) < 0) ||
                    fchmodat(p->dir_fd, name, 0600, 0) < 0)
                        return cc_error_set(err, CC_ERROR_INTERNAL, errno, "cannot take over the file of %s: %s",
                                            l->digest, strerror(errno));
        }
        return 0;
}

int oci_pull_finish(OciPull *p, OciPullResult **ret, CcError *err) {
        int status = 0, r;

        assert(p);
        assert(ret);

        if (!p->ended || p->pid <= 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, EBUSY, "the pull has not ended, or was finished already");
        /* The pipe is at its end: the helper has exited or was killed, so
         * this does not wait long. */
        reap(p, &status);
        r = take_back_dir(p);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, -r, "cannot take %s back from the fetch helper: %s",
                                    p->output_dir, strerror(-r));

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
                if (WIFEXITED(status) && WEXITSTATUS(status) == 126)
                        return cc_error_set(err, CC_ERROR_INTERNAL, EPERM,
                                            "cannot run the fetch helper as its own user (setresuid)");
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
