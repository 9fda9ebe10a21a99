/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "ctl-pager.h"
#include "macro.h"

static pid_t pager_pid;
static int saved_stdout = -1;

static const char *pager_command(void) {
        const char *p = getenv("SYSTEMD_PAGER");

        if (!p)
                p = getenv("PAGER");
        return p;
}

static _Noreturn void child(int read_fd, pid_t parent, const char *command) {
        if (dup2(read_fd, STDIN_FILENO) < 0)
                _exit(EXIT_FAILURE);
        (void) close_range(STDERR_FILENO + 1, ~0U, 0);
        /* A pager that outlives us would wait on a pipe nobody writes. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
                _exit(EXIT_FAILURE);
        (void) setenv("LESS", "FRSXMK", 0);
        if (command)
                execl("/bin/sh", "sh", "-c", command, (char *) NULL);
        else {
                execlp("less", "less", (char *) NULL);
                execlp("more", "more", (char *) NULL);
        }
        /* No pager to be had: copy the text through, so nothing is lost. */
        for (;;) {
                char buf[4096];
                ssize_t k = read(STDIN_FILENO, buf, sizeof(buf));

                if (k <= 0 || write(STDOUT_FILENO, buf, (size_t) k) != k)
                        _exit(EXIT_SUCCESS);
        }
}

int ctl_pager_open(void) {
        const char *command = pager_command();
        int pipe_fds[2];
        pid_t parent = getpid();

        if (pager_pid > 0)
                return 1;
        if (!isatty(STDOUT_FILENO))
                return 0;
        if (command && (!*command || streq(command, "cat")))
                return 0;

        if (pipe2(pipe_fds, O_CLOEXEC) < 0)
                return -errno;
        fflush(stdout);
        pager_pid = fork();
        if (pager_pid < 0) {
                int r = -errno;

                close(pipe_fds[0]);
                close(pipe_fds[1]);
                pager_pid = 0;
                return r;
        }
        if (pager_pid == 0)
                child(pipe_fds[0], parent, command);

        close(pipe_fds[0]);
        saved_stdout = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
        if (saved_stdout < 0 || dup2(pipe_fds[1], STDOUT_FILENO) < 0) {
                close(pipe_fds[1]);
                return -errno;
        }
        close(pipe_fds[1]);
        /* A pager quit early (q in less) must not kill us with SIGPIPE. */
        (void) signal(SIGPIPE, SIG_IGN);
        return 1;
}

void ctl_pager_close(void) {
        if (pager_pid <= 0)
                return;
        fflush(stdout);
        /* The pager sees the end of its input; the terminal is ours again. */
        if (saved_stdout >= 0) {
                (void) dup2(saved_stdout, STDOUT_FILENO);
                close(saved_stdout);
                saved_stdout = -1;
        }
        while (waitpid(pager_pid, NULL, 0) < 0 && errno == EINTR)
                ;
        pager_pid = 0;
}
