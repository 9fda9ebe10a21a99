/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <systemd/sd-login.h>

#include "build-config.h"
#include "ctl-polkit-agent.h"
#include "macro.h"

/* The agent registers in well under a second; a polkitd that does not
 * answer must not hang the command before it has even started. */
#define AGENT_REGISTER_TIMEOUT_MS (25 * 1000)
/* Where the agent finds the pipe it closes once registered. */
#define NOTIFY_FD 3

static pid_t agent_pid;

/* Whether the agent registers as a fallback, as systemctl's does: in a
 * logind session (an SSH login) it yields to the session's own agent, a
 * desktop's.  polkitd asks a fallback agent only for a caller in a
 * session, so outside one (runuser, sudo -u) it registers as this
 * process's plain agent, or it would never be asked. */
static bool agent_fallback(void) {
        _cleanup_free_ char *session = NULL;

        return sd_pid_get_session(0, &session) >= 0;
}

static _Noreturn void child(int notify_fd, pid_t parent, bool fallback) {
        int fd;

        /* The agent goes when we go, however we go. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
                _exit(EXIT_FAILURE);
        /* It talks to the terminal: give it one on stdout and stderr too
         * when ours are redirected. */
        for (int i = STDOUT_FILENO; i <= STDERR_FILENO; i++)
                if (!isatty(i)) {
                        fd = open("/dev/tty", O_WRONLY | O_CLOEXEC | O_NOCTTY);
                        if (fd < 0 || dup2(fd, i) < 0)
                                _exit(EXIT_FAILURE);
                }
        /* dup2() onto itself would keep O_CLOEXEC: clear it then. */
        if (notify_fd == NOTIFY_FD ? fcntl(NOTIFY_FD, F_SETFD, 0) < 0 : dup2(notify_fd, NOTIFY_FD) < 0)
                _exit(EXIT_FAILURE);
        (void) close_range(NOTIFY_FD + 1, ~0U, 0);
        execl(CTL_POLKIT_AGENT_PATH, CTL_POLKIT_AGENT_PATH, "--notify-fd", "3", fallback ? "--fallback" : NULL,
              (char *) NULL);
        _exit(EXIT_FAILURE);
}

int ctl_polkit_agent_open(void) {
        int pipe_fds[2];
        struct pollfd p;
        pid_t parent = getpid();
        bool fallback;

        if (agent_pid > 0)
                return 1;
        if (geteuid() == 0 || !isatty(STDIN_FILENO))
                return 0;
        if (access(CTL_POLKIT_AGENT_PATH, X_OK) < 0)
                return 0;

        fallback = agent_fallback();
        if (pipe2(pipe_fds, O_CLOEXEC) < 0)
                return -errno;
        fflush(NULL);
        agent_pid = fork();
        if (agent_pid < 0) {
                int r = -errno;

                close(pipe_fds[0]);
                close(pipe_fds[1]);
                agent_pid = 0;
                return r;
        }
        if (agent_pid == 0)
                child(pipe_fds[1], parent, fallback);
        close(pipe_fds[1]);

        /* Registered (it closed the pipe) or gone (so did its exit). */
        p = (struct pollfd) { .fd = pipe_fds[0], .events = POLLIN };
        while (poll(&p, 1, AGENT_REGISTER_TIMEOUT_MS) < 0 && errno == EINTR)
                ;
        close(pipe_fds[0]);
        return 1;
}

void ctl_polkit_agent_close(void) {
        if (agent_pid <= 0)
                return;
        (void) kill(agent_pid, SIGTERM);
        (void) kill(agent_pid, SIGCONT);
        while (waitpid(agent_pid, NULL, 0) < 0 && errno == EINTR)
                ;
        agent_pid = 0;
}
