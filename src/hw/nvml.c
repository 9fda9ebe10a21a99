/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "nvml.h"
#include "pci-sysfs.h"
#include "time-util.h"

#define REPORT_MAX (64u * 1024u)

static bool has_prefix(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

const char *hw_nvml_library(HwHost *h) {
        const char *e;

        assert(h);
        if (streq(hw_host_root(h), "/"))
                return "libnvidia-ml.so.1";
        e = getenv("NVIDIA_CCD_NVML_LIBRARY");
        return e && *e ? e : NULL;
}

static const char *helper_path(void) {
        const char *e = getenv("NVIDIA_CCD_NVML_HELPER");

        if (e && e[0] == '/')
                return e;
        return NVML_HELPER_PATH;
}

static void child_exec(const char *path, char **argv, int out_fd, pid_t parent) {
        sigset_t all;
        int null_fd;

        /* Async-signal-safe calls only: the parent may have threads.  The
         * daemon blocks SIGTERM for its event loop; the helper must not
         * inherit that. */
        sigemptyset(&all);
        (void) sigprocmask(SIG_SETMASK, &all, NULL);
        (void) signal(SIGPIPE, SIG_DFL);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(127);
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
                _exit(127);
        (void) close_range(STDERR_FILENO + 1, ~0U, 0);
        execv(path, argv);
        _exit(127);
}

/* Runs the helper and collects what it printed, within the time limit. */
static int run_helper(const char *library, char *const *bdfs, size_t n, char **ret_report, CcError *err) {
        _cleanup_close_ int read_fd = -1, write_fd = -1;
        _cleanup_free_ char *report = NULL;
        _cleanup_free_ const char **argv = NULL;
        const char *path = helper_path();
        size_t len = 0;
        uint64_t deadline;
        int fds[2], status, r;
        bool timed_out = false, too_long = false;
        pid_t pid, parent;

        argv = calloc(n + 3, sizeof(char *));
        report = malloc(REPORT_MAX + 1);
        if (!argv || !report)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        argv[0] = "nvidia-ccd-nvml";
        argv[1] = library;
        for (size_t i = 0; i < n; i++)
                argv[i + 2] = bdfs[i];

        if (access(path, X_OK) < 0)
                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, ENOENT, "cannot run the NVML helper %s: %s", path,
                                    strerror(errno));
        if (pipe2(fds, O_CLOEXEC) < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, errno, "cannot make a pipe: %s", strerror(errno));
        read_fd = fds[0];
        write_fd = fds[1];
        parent = getpid();
        pid = fork();
        if (pid < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, errno, "cannot fork: %s", strerror(errno));
        if (pid == 0)
                child_exec(path, (char **) argv, write_fd, parent);
        close(TAKE_FD(write_fd));

        deadline = now_usec(CLOCK_MONOTONIC) + HW_NVML_TIMEOUT_MS * USEC_PER_MSEC;
        for (;;) {
                struct pollfd p = { .fd = read_fd, .events = POLLIN };
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                ssize_t k;

                if (now >= deadline) {
                        timed_out = true;
                        break;
                }
                r = poll(&p, 1, (int) ((deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        break;
                if (r == 0)
                        continue;
                k = read(read_fd, report + len, REPORT_MAX - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                len += (size_t) k;
                if (len == REPORT_MAX) {
                        too_long = true;
                        break;
                }
        }
        report[len] = '\0';
        if (timed_out || too_long)
                (void) kill(pid, SIGKILL);
        while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
                ;
        if (r < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, errno, "cannot reap the NVML helper: %s", strerror(errno));
        if (timed_out)
                return cc_error_set(err, CC_ERROR_TIMEOUT, ETIMEDOUT, "the NVML helper did not finish in %u s",
                                    HW_NVML_TIMEOUT_MS / 1000);
        if (too_long)
                return cc_error_set(err, CC_ERROR_INTERNAL, EIO, "the NVML helper wrote more than %u bytes", REPORT_MAX);
        if (WIFSIGNALED(status))
                return cc_error_set(err, CC_ERROR_INTERNAL, EIO, "the NVML helper was killed by signal %d (%s)",
                                    WTERMSIG(status), strsignal(WTERMSIG(status)));
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, ENOENT, "cannot run the NVML helper %s", path);
        *ret_report = TAKE_PTR(report);
        return 0;
}

/* "session error 5 nvmlInit_v2 failed: ..." and "gpu BDF error 19 ...":
 * the errno, then the rest of the line. */
static int parse_error(const char *s, int *ret_errno, const char **ret_message) {
        char *end;
        long e;

        errno = 0;
        e = strtol(s, &end, 10);
        if (errno != 0 || end == s || e <= 0 || e > 4095 || (*end != ' ' && *end != '\0'))
                return -EBADMSG;
        *ret_errno = (int) e;
        *ret_message = *end ? end + 1 : "";
        return 0;
}

static int parse_value(const char *s, uint32_t *ret) {
        unsigned long v;
        char *end;

        if (streq(s, "-")) {
                *ret = HW_NVML_NO_VALUE;
                return 0;
        }
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || *s == '-' || v >= UINT32_MAX)
                return -EBADMSG;
        *ret = (uint32_t) v;
        return 0;
}

static void decode(HwNvmlAnswer *a) {
        HwNvmlCcState *s = &a->state;

        if (s->cc_feature > 1 || s->devtools_mode > 1) {
                a->error = -EBADMSG;
                snprintf(a->message, sizeof(a->message),
                         "NVML reports ccFeature %" PRIu32 ", devToolsMode %" PRIu32 ": values of no known meaning",
                         s->cc_feature, s->devtools_mode);
                return;
        }
        /* Devtools is CC with the debugging interfaces open, as the DEVTOOLS
         * state of the status register says. */
        s->cc = s->devtools_mode ? DEVICE_CC_DEVTOOLS : s->cc_feature ? DEVICE_CC_ON : DEVICE_CC_OFF;
        /* multiGpuMode: 0 none, 1 protected PCIe, 2 NVLink encryption
         * (Blackwell's multi-GPU mode, not PPCIe); else unknown. */
        s->ppcie = s->multi_gpu_mode <= 2 ? (s->multi_gpu_mode == 1 ? DEVICE_CC_ON : DEVICE_CC_OFF) : DEVICE_CC_UNKNOWN;
}

static HwNvmlAnswer *find_answer(HwNvmlAnswer *answers, size_t n, const char *bdf) {
        for (size_t i = 0; i < n; i++)
                if (streq(answers[i].bdf, bdf))
                        return &answers[i];
        return NULL;
}

static int parse_gpu_line(char *line, HwNvmlAnswer *answers, size_t n) {
        char *fields[8], *save = NULL, *tok, *rest;
        HwNvmlAnswer *a;
        size_t k = 0;

        /* "BDF ok ENV CCF DEV MULTI CAPS" or "BDF error ERRNO MESSAGE" */
        fields[0] = line;
        rest = strchr(line, ' ');
        if (!rest)
                return -EBADMSG;
        *rest++ = '\0';
        fields[1] = rest;
        rest = strchr(rest, ' ');
        if (!rest)
                return -EBADMSG;
        *rest++ = '\0';
        k = 2;
        if (!(a = find_answer(answers, n, fields[0])) || a->error != -EAGAIN)
                return -EBADMSG;
        if (streq(fields[1], "error")) {
                const char *message;
                int e;

                if (parse_error(rest, &e, &message) < 0)
                        return -EBADMSG;
                a->error = -e;
                snprintf(a->message, sizeof(a->message), "%s", message);
                return 0;
        }
        if (!streq(fields[1], "ok"))
                return -EBADMSG;
        for (tok = strtok_r(rest, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
                if (k == ELEMENTSOF(fields))
                        return -EBADMSG;
                fields[k++] = tok;
        }
        if (k != 7 || parse_value(fields[2], &a->state.environment) < 0 ||
            parse_value(fields[3], &a->state.cc_feature) < 0 || parse_value(fields[4], &a->state.devtools_mode) < 0 ||
            parse_value(fields[5], &a->state.multi_gpu_mode) < 0 || parse_value(fields[6], &a->state.gpus_caps) < 0 ||
            a->state.cc_feature == HW_NVML_NO_VALUE || a->state.devtools_mode == HW_NVML_NO_VALUE)
                return -EBADMSG;
        a->error = 0;
        decode(a);
        return 0;
}

int hw_nvml_query(HwHost *h, char *const *bdfs, size_t n, HwNvmlAnswer **ret, double *ret_init_ms, CcError *err) {
        _cleanup_free_ HwNvmlAnswer *answers = NULL;
        _cleanup_free_ char *report = NULL;
        const char *library;
        char *line, *save = NULL;
        bool session = false;
        double init_ms = 0;
        int r;

        assert(h);
        assert(bdfs || n == 0);
        assert(ret);

        library = hw_nvml_library(h);
        if (!library)
                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, ENOENT, "no NVML library for host root %s",
                                    hw_host_root(h));
        answers = calloc(n ? n : 1, sizeof(HwNvmlAnswer));
        if (!answers)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                /* Addresses as sysfs names them: nothing else reaches the
                 * helper's command line. */
                if (!hw_pci_bdf_is_valid(bdfs[i]))
                        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL, "not a PCI address: %s", bdfs[i]);
                snprintf(answers[i].bdf, sizeof(answers[i].bdf), "%s", bdfs[i]);
                answers[i].error = -EAGAIN; /* not answered yet */
        }

        r = run_helper(library, bdfs, n, &report, err);
        if (r < 0)
                return r;

        for (line = strtok_r(report, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                if (has_prefix(line, "session ok ")) {
                        char *end;

                        init_ms = strtod(line + strlen("session ok "), &end);
                        if (session || end == line + strlen("session ok ") || *end != ' ')
                                return cc_error_set(err, CC_ERROR_INTERNAL, EBADMSG,
                                                    "the NVML helper sent an invalid line: %s", line);
                        session = true;
                } else if (has_prefix(line, "session error ")) {
                        const char *message;
                        int e;

                        if (parse_error(line + strlen("session error "), &e, &message) < 0)
                                return cc_error_set(err, CC_ERROR_INTERNAL, EBADMSG,
                                                    "the NVML helper sent an invalid line: %s", line);
                        return cc_error_set(err, e == EOPNOTSUPP ? CC_ERROR_NOT_CAPABLE : CC_ERROR_HOST_NOT_READY, e,
                                            "%s", message);
                } else if (has_prefix(line, "gpu ")) {
                        _cleanup_free_ char *copy = strdup(line);

                        if (!copy)
                                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
                        if (!session || parse_gpu_line(copy + strlen("gpu "), answers, n) < 0)
                                return cc_error_set(err, CC_ERROR_INTERNAL, EBADMSG,
                                                    "the NVML helper sent an invalid line: %s", line);
                } else
                        return cc_error_set(err, CC_ERROR_INTERNAL, EBADMSG, "the NVML helper sent an invalid line: %s",
                                            line);
        }
        if (!session)
                return cc_error_set(err, CC_ERROR_INTERNAL, EIO, "the NVML helper ended without a report");
        for (size_t i = 0; i < n; i++)
                if (answers[i].error == -EAGAIN) {
                        answers[i].error = -EIO;
                        snprintf(answers[i].message, sizeof(answers[i].message), "the NVML helper said nothing about %s",
                                 answers[i].bdf);
                }

        if (ret_init_ms)
                *ret_init_ms = init_ms;
        *ret = TAKE_PTR(answers);
        return 0;
}
