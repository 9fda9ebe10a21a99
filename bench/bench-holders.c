/* SPDX-License-Identifier: MIT */

/* The walk over the real /proc that precedes every unbind: the time to
 * find the holders of /dev/nvidia0..7 among every process of this machine,
 * median of --runs, next to the time to only list the fds (open each
 * /proc/<pid>/fd and read its entries, the floor of any fuser-style walk).
 *
 *   bench-holders [--runs 20]
 *
 * Figures, not a verdict. */

#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <sys/sysmacros.h>

#include "hw-host.h"
#include "proc-holders.h"
#include "time-util.h"

static int compare_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return (x > y) - (x < y);
}

/* Lists every fd of every process; returns the number of fds seen. */
static unsigned list_fds(unsigned *ret_processes) {
        DIR *proc = opendir("/proc");
        unsigned fds = 0, processes = 0;
        struct dirent *de;

        if (!proc)
                return 0;
        while ((de = readdir(proc))) {
                int dfd;
                DIR *d;

                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                processes++;
                dfd = openat(dirfd(proc), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0)
                        continue;
                d = fdopendir(openat(dfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
                close(dfd);
                if (!d)
                        continue;
                for (struct dirent *f; (f = readdir(d));)
                        fds += f->d_name[0] != '.';
                closedir(d);
        }
        closedir(proc);
        *ret_processes = processes;
        return fds;
}

int main(int argc, char **argv) {
        static const struct option options[] = { { "runs", required_argument, NULL, 'r' }, {} };
        _cleanup_(hw_host_freep) HwHost *h = NULL;
        HwDevNode nodes[8];
        unsigned runs = 20, processes = 0, fds = 0, hidden = 0, held = 0;
        int c;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                if (c == 'r')
                        runs = (unsigned) strtoul(optarg, NULL, 10);
                else
                        return 2;
        if (runs == 0 || runs > 10000)
                return 2;

        if (hw_host_new("/", false, &h) < 0)
                return 1;
        for (unsigned i = 0; i < 8; i++) {
                if (asprintf(&nodes[i].path, "/dev/nvidia%u", i) < 0)
                        return 1;
                nodes[i].rdev = makedev(HW_NVIDIA_MAJOR, i);
        }

        _cleanup_free_ uint64_t *walk = calloc(runs, sizeof(uint64_t)), *list = calloc(runs, sizeof(uint64_t));
        if (!walk || !list)
                return 1;
        for (unsigned r = 0; r < runs; r++) {
                HwHolders *out = NULL;
                uint64_t t0 = now_usec(CLOCK_MONOTONIC);

                if (hw_find_node_holders(h, nodes, 8, &out, &hidden) < 0)
                        return 1;
                walk[r] = now_usec(CLOCK_MONOTONIC) - t0;
                held = 0;
                for (unsigned i = 0; i < 8; i++)
                        held += out[i].n;
                hw_holders_array_free(out, 8);

                t0 = now_usec(CLOCK_MONOTONIC);
                fds = list_fds(&processes);
                list[r] = now_usec(CLOCK_MONOTONIC) - t0;
        }
        qsort(walk, runs, sizeof(uint64_t), compare_u64);
        qsort(list, runs, sizeof(uint64_t), compare_u64);

        printf("real /proc: %u processes, %u fds (%u processes not readable)\n", processes, fds, hidden);
        printf("holders of /dev/nvidia0..7:   median %7.2f ms  (min %.2f, max %.2f; %u found)\n",
               walk[runs / 2] / 1000.0, walk[0] / 1000.0, walk[runs - 1] / 1000.0, held);
        printf("baseline, listing the fds:    median %7.2f ms  (min %.2f, max %.2f)\n", list[runs / 2] / 1000.0,
               list[0] / 1000.0, list[runs - 1] / 1000.0);
        printf("per fd: %.2f us\n", fds ? (double) walk[runs / 2] / fds : 0.0);
        for (unsigned i = 0; i < 8; i++)
                free(nodes[i].path);
        return 0;
}
