/* SPDX-License-Identifier: MIT */

/* Starts a service as systemd would for Type=notify, owning NOTIFY_SOCKET:
 *
 *   bench-start [--runs N] [--baseline PROGRAM] [--log FILE] -- COMMAND...
 *       Times N starts of COMMAND from fork to its READY=1 datagram, each
 *       stopped with SIGTERM (which must give exit status 0), and as many
 *       runs of PROGRAM (e.g. /bin/true) from fork to exit through the same
 *       fork/exec path, interleaved, to read the figure against.
 *   bench-start --serve [--log FILE] -- COMMAND...
 *       Starts COMMAND once, prints its PID once READY=1 came, and leaves it
 *       running.
 *   bench-start --stop PID
 *       SIGTERM, then waits for the process to be gone (SIGKILL after 30 s).
 *
 * Readiness is the datagram, never a delay; a child's death is seen on a
 * SIGCHLD signalfd, the end of a process that is not ours on its pidfd. */

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "macro.h"
#include "time-util.h"

#define MAX_RUNS 1000
#define READY_TIMEOUT_MS 60000
#define STOP_TIMEOUT_MS 30000


typedef enum Action {
        ACTION_MEASURE,
        ACTION_SERVE,
        ACTION_STOP,
} Action;

typedef struct Options {
        Action action;
        unsigned runs;
        const char *baseline;
        const char *log;
        pid_t stop_pid;
        char **command;
} Options;

static int pidfd_open(pid_t pid) {
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

/* The environment of the child: ours without systemd's variables, plus
 * NOTIFY_SOCKET when notify is set.  Built before the fork. */
static char **child_env(const char *notify) {
        size_t n = 0, k = 0;
        char **env;

        while (environ[n])
                n++;
        env = calloc(n + 2, sizeof(char *));
        if (!env)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (strncmp(environ[i], "NOTIFY_SOCKET=", 14) != 0 &&
                    strncmp(environ[i], "WATCHDOG_USEC=", 14) != 0 &&
                    strncmp(environ[i], "WATCHDOG_PID=", 13) != 0 &&
                    strncmp(environ[i], "LISTEN_", 7) != 0)
                        env[k++] = environ[i];
        if (notify)
                env[k++] = (char *) notify;
        return env;
}

/* fork + exec with stdin from /dev/null and stdout/stderr to log_fd (or
 * inherited when -1).  Everything the child needs is prepared by the caller,
 * so this is the same path for every program measured. */
static int spawn(char **argv, char **envp, int log_fd, pid_t *ret) {
        pid_t pid = fork();

        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
                sigset_t none;

                /* SIGCHLD is blocked here for the signalfd; not in the service. */
                sigemptyset(&none);
                (void) sigprocmask(SIG_SETMASK, &none, NULL);

                if (null < 0 || dup2(null, STDIN_FILENO) < 0)
                        _exit(127);
                if (log_fd >= 0 && (dup2(log_fd, STDOUT_FILENO) < 0 || dup2(log_fd, STDERR_FILENO) < 0))
                        _exit(127);
                environ = envp;
                execvp(argv[0], argv);
                fprintf(stderr, "Cannot execute %s: %m\n", argv[0]);
                _exit(127);
        }
        *ret = pid;
        return 0;
}

static const char *describe_status(int status, char *buf, size_t size) {
        if (WIFEXITED(status))
                snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
                snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
        else
                snprintf(buf, size, "status 0x%x", (unsigned) status);
        return buf;
}

/* A notify socket in the abstract namespace, unique to this process. */
static int notify_socket(char *ret_env, size_t size) {
        static unsigned counter;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;
        socklen_t len;
        int k;

        k = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "bench-start/%d/%u", (int) getpid(), counter++);
        len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + 1 + (size_t) k);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, len) < 0)
                return -errno;
        snprintf(ret_env, size, "NOTIFY_SOCKET=@%s", sa.sun_path + 1);
        return TAKE_FD(fd);
}

/* Waits for READY=1 on fd while watching for the child's exit on the
 * SIGCHLD signalfd. */
static int wait_ready(int fd, int sigchld_fd, pid_t pid) {
        uint64_t deadline = now_nsec(CLOCK_MONOTONIC) + (uint64_t) READY_TIMEOUT_MS * 1000000u;

        for (;;) {
                struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = sigchld_fd, .events = POLLIN } };
                struct signalfd_siginfo si;
                uint64_t now = now_nsec(CLOCK_MONOTONIC);
                char buf[4096];
                ssize_t n;
                int r;

                if (now >= deadline) {
                        fprintf(stderr, "Process %d sent no READY=1 within %d s\n", (int) pid, READY_TIMEOUT_MS / 1000);
                        return -ETIMEDOUT;
                }
                r = poll(p, 2, (int) ((deadline - now) / 1000000u) + 1);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (p[0].revents & POLLIN) {
                        n = recv(fd, buf, sizeof(buf) - 1, 0);
                        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                                continue;
                        if (n < 0)
                                return -errno;
                        buf[n] = '\0';
                        for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
                             line = strtok_r(NULL, "\n", &save))
                                if (streq(line, "READY=1"))
                                        return 0;
                        continue;
                }
                if (p[1].revents & POLLIN) {
                        int status;

                        while (read(sigchld_fd, &si, sizeof(si)) == sizeof(si))
                                ;
                        if (waitpid(pid, &status, WNOHANG) == pid) {
                                fprintf(stderr, "Process %d exited before READY=1 (%s)\n", (int) pid,
                                        describe_status(status, buf, sizeof(buf)));
                                return -ECHILD;
                        }
                }
        }
}

/* Waits for a process to be gone, SIGKILL after the timeout. */
static int wait_gone(int pidfd, pid_t pid) {
        struct pollfd p = { .fd = pidfd, .events = POLLIN };
        int r;

        do
                r = poll(&p, 1, STOP_TIMEOUT_MS);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return -errno;
        if (r == 0) {
                fprintf(stderr, "Process %d still running %d s after SIGTERM: killing it\n",
                        (int) pid, STOP_TIMEOUT_MS / 1000);
                (void) kill(pid, SIGKILL);
                (void) poll(&p, 1, -1);
                return -ETIMEDOUT;
        }
        return 0;
}

/* Starts argv and waits for READY=1; the start time is taken before the
 * socket is made, so setup on our side counts against us, not for us. */
static int start_ready(char **argv, int log_fd, int sigchld_fd, pid_t *ret_pid, uint64_t *ret_ns) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char **env = NULL;
        char notify[sizeof(struct sockaddr_un) + 32];
        uint64_t start;
        pid_t pid = -1;
        int r;

        fd = notify_socket(notify, sizeof(notify));
        if (fd < 0)
                return fprintf(stderr, "Cannot make a notify socket: %s\n", strerror(-fd)), fd;
        env = child_env(notify);
        if (!env)
                return -ENOMEM;

        start = now_nsec(CLOCK_MONOTONIC);
        r = spawn(argv, env, log_fd, &pid);
        if (r < 0)
                return fprintf(stderr, "fork: %s\n", strerror(-r)), r;
        r = wait_ready(fd, sigchld_fd, pid);
        if (r < 0) {
                if (r != -ECHILD) {
                        (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                }
                return r;
        }
        *ret_ns = now_nsec(CLOCK_MONOTONIC) - start;
        *ret_pid = pid;
        return 0;
}

static int measure_ready(char **argv, int log_fd, int sigchld_fd, uint64_t *ret_ns) {
        char buf[64];
        int status;
        pid_t pid = -1;
        int r;

        r = start_ready(argv, log_fd, sigchld_fd, &pid, ret_ns);
        if (r < 0)
                return r;
        if (kill(pid, SIGTERM) < 0)
                return -errno;
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "%s: %s after SIGTERM\n", argv[0], describe_status(status, buf, sizeof(buf)));
                return -EIO;
        }
        return 0;
}

static int measure_exit(const char *program, int log_fd, uint64_t *ret_ns) {
        _cleanup_free_ char **env = child_env(NULL);
        char *argv[] = { (char *) program, NULL };
        uint64_t start;
        char buf[64];
        int status, r;
        pid_t pid = -1;

        if (!env)
                return -ENOMEM;
        start = now_nsec(CLOCK_MONOTONIC);
        r = spawn(argv, env, log_fd, &pid);
        if (r < 0)
                return r;
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        *ret_ns = now_nsec(CLOCK_MONOTONIC) - start;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "%s: %s\n", program, describe_status(status, buf, sizeof(buf)));
                return -EIO;
        }
        return 0;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

static double median_ms(uint64_t *v, size_t n) {
        qsort(v, n, sizeof(*v), cmp_u64);
        return (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) / 1e6;
}

/* v sorted */
static void print_row(const char *what, double med, const uint64_t *v, size_t n) {
        printf("  %-40s %9.2f  %9.2f  %9.2f\n", what, med, v[0] / 1e6, v[n - 1] / 1e6);
}

static int run_measure(const Options *o, int log_fd, int sigchld_fd) {
        uint64_t ready[MAX_RUNS], base[MAX_RUNS];
        double ready_med, base_med;
        const char *name;
        char what[64];
        int r;

        /* Interleaved, so both see the same state of the machine. */
        for (unsigned i = 0; i < o->runs; i++) {
                if (o->baseline) {
                        r = measure_exit(o->baseline, log_fd, &base[i]);
                        if (r < 0)
                                return r;
                }
                r = measure_ready(o->command, log_fd, sigchld_fd, &ready[i]);
                if (r < 0)
                        return r;
        }

        printf("Start-up: fork/exec to READY=1 on NOTIFY_SOCKET, %u starts, each stopped with SIGTERM\n\n", o->runs);
        printf("  %-40s %9s  %9s  %9s\n", "", "median ms", "min ms", "max ms");
        name = strrchr(o->command[0], '/');
        snprintf(what, sizeof(what), "%s, fork to READY=1", name ? name + 1 : o->command[0]);
        ready_med = median_ms(ready, o->runs);
        print_row(what, ready_med, ready, o->runs);
        if (o->baseline) {
                snprintf(what, sizeof(what), "%s, fork to exit (baseline)", o->baseline);
                base_med = median_ms(base, o->runs);
                print_row(what, base_med, base, o->runs);
                printf("\n  ratio to the baseline: %.1f   (goal: fork to READY=1 <= 50 ms)\n", ready_med / base_med);
        } else
                printf("\n  goal: fork to READY=1 <= 50 ms\n");
        return 0;
}

static int run_serve(const Options *o, int log_fd, int sigchld_fd) {
        uint64_t ns;
        pid_t pid = -1;
        int r;

        r = start_ready(o->command, log_fd, sigchld_fd, &pid, &ns);
        if (r < 0)
                return r;
        printf("%d\n", (int) pid);
        return fflush(stdout) == 0 ? 0 : -errno;
}

/* Not our child: only a pidfd tells when it is gone. */
static int run_stop(pid_t pid) {
        _cleanup_close_ int pidfd = pidfd_open(pid);

        if (pidfd < 0)
                return errno == ESRCH ? 0 : -errno;
        if (kill(pid, SIGTERM) < 0)
                return errno == ESRCH ? 0 : -errno;
        return wait_gone(pidfd, pid);
}

static void help(void) {
        printf("Usage: bench-start [--runs N] [--baseline PROGRAM] [--log FILE] -- COMMAND...\n"
               "       bench-start --serve [--log FILE] -- COMMAND...\n"
               "       bench-start --stop PID\n\n"
               "Times a Type=notify service from fork to READY=1, or starts one and prints\n"
               "its PID once ready, or stops one.\n\n"
               "  --runs N            Starts to time (default 10)\n"
               "  --baseline PROGRAM  Also time PROGRAM from fork to exit, the same way\n"
               "  --log FILE          Append the service's output to FILE\n"
               "  --serve             Start once, print the PID when ready, leave it running\n"
               "  --stop PID          SIGTERM and wait until the process is gone\n"
               "  -h --help           Show this help\n");
}

static int parse_argv(int argc, char *argv[], Options *o) {
        enum { ARG_RUNS = 0x100, ARG_BASELINE, ARG_LOG, ARG_SERVE, ARG_STOP };
        static const struct option options[] = {
                { "runs",     required_argument, NULL, ARG_RUNS },
                { "baseline", required_argument, NULL, ARG_BASELINE },
                { "log",      required_argument, NULL, ARG_LOG },
                { "serve",    no_argument,       NULL, ARG_SERVE },
                { "stop",     required_argument, NULL, ARG_STOP },
                { "help",     no_argument,       NULL, 'h' },
                {}
        };
        char *end;
        long v;
        int c;

        /* "+": options end at the first non-option, the command. */
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case ARG_RUNS:
                        errno = 0;
                        v = strtol(optarg, &end, 10);
                        if (errno != 0 || *end != '\0' || v < 1 || v > MAX_RUNS) {
                                fprintf(stderr, "Invalid value \"%s\" for --runs (1-%d)\n", optarg, MAX_RUNS);
                                return -EINVAL;
                        }
                        o->runs = (unsigned) v;
                        break;
                case ARG_BASELINE:
                        o->baseline = optarg;
                        break;
                case ARG_LOG:
                        o->log = optarg;
                        break;
                case ARG_SERVE:
                        o->action = ACTION_SERVE;
                        break;
                case ARG_STOP:
                        errno = 0;
                        v = strtol(optarg, &end, 10);
                        if (errno != 0 || *end != '\0' || v < 2 || v > INT32_MAX) {
                                fprintf(stderr, "Invalid PID \"%s\"\n", optarg);
                                return -EINVAL;
                        }
                        o->action = ACTION_STOP;
                        o->stop_pid = (pid_t) v;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return -EINVAL;
                }

        if (o->action == ACTION_STOP) {
                if (optind < argc) {
                        fprintf(stderr, "--stop takes no command\n");
                        return -EINVAL;
                }
                return 1;
        }
        if (optind >= argc) {
                fprintf(stderr, "No command given\n");
                return -EINVAL;
        }
        o->command = argv + optind;
        return 1;
}

int main(int argc, char *argv[]) {
        Options o = { .action = ACTION_MEASURE, .runs = 10 };
        _cleanup_close_ int log_fd = -1, sigchld_fd = -1;
        sigset_t mask;
        int r;

        r = parse_argv(argc, argv, &o);
        if (r <= 0)
                return r < 0 ? 2 : 0;

        if (o.log) {
                log_fd = open(o.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                if (log_fd < 0) {
                        fprintf(stderr, "Cannot open %s: %m\n", o.log);
                        return EXIT_FAILURE;
                }
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
            (sigchld_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
                fprintf(stderr, "Cannot watch SIGCHLD: %m\n");
                return EXIT_FAILURE;
        }

        switch (o.action) {
        case ACTION_MEASURE:
                r = run_measure(&o, log_fd, sigchld_fd);
                break;
        case ACTION_SERVE:
                r = run_serve(&o, log_fd, sigchld_fd);
                break;
        case ACTION_STOP:
                r = run_stop(o.stop_pid);
                break;
        }
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
