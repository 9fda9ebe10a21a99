/* SPDX-License-Identifier: MIT */

/* The process side of a fake host: the nvidia driver's per-GPU entries
 * under /proc/driver/nvidia, /dev/nvidia<minor> nodes, and processes whose
 * fds hold device nodes, in the layout src/hw/proc-holders.c reads. */

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "fake-host.h"
#include "fileio.h"

/* The GPUs the fake nvidia driver lists so far. */
static int count_gpu_entries(FakeHost *host, unsigned *ret) {
        _cleanup_free_ char *dir = fake_host_path(host, "proc/driver/nvidia/gpus");
        struct dirent *de;
        unsigned n = 0;
        DIR *d;

        if (!dir)
                return -ENOMEM;
        d = opendir(dir);
        if (!d) {
                if (errno != ENOENT)
                        return -errno;
                *ret = 0;
                return 0;
        }
        while ((de = readdir(d)))
                n += de->d_name[0] != '.';
        closedir(d);
        *ret = n;
        return 0;
}

int fake_host_add_nvidia_gpu_entry(FakeHost *host, const char *bdf, uint16_t device_id) {
        _cleanup_free_ char *text = NULL, *info = NULL, *node = NULL;
        unsigned minor = 0;
        int r;

        r = count_gpu_entries(host, &minor);
        if (r < 0)
                return r;
        /* The fields and the " \t " layout of the driver's own file. */
        if (asprintf(&text,
                     "Model: \t\t NVIDIA Device %04x\n"
                     "IRQ:   \t\t %u\n"
                     "GPU UUID: \t GPU-%08x-0000-0000-0000-%012x\n"
                     "Video BIOS: \t 96.00.99.00.01\n"
                     "Bus Type: \t PCIe\n"
                     "DMA Size: \t 52 bits\n"
                     "DMA Mask: \t 0xfffffffffffff\n"
                     "Bus Location: \t %s\n"
                     "Device Minor: \t %u\n"
                     "GPU Excluded:\t No\n",
                     device_id, 200 + minor, minor, minor, bdf, minor) < 0 ||
            asprintf(&info, "proc/driver/nvidia/gpus/%s/information", bdf) < 0 ||
            asprintf(&node, "dev/nvidia%u", minor) < 0)
                return -ENOMEM;
        r = fake_host_write(host, info, text);
        if (r >= 0)
                r = fake_host_write(host, node, "");
        return r;
}

char *fake_host_nvidia_node(FakeHost *host, const char *bdf) {
        _cleanup_free_ char *path = fake_host_path(host, "proc/driver/nvidia/gpus/%s/information", bdf), *text = NULL;
        const char *line;
        unsigned minor;
        char *node;

        if (!path || read_text_file(path, &text) < 0)
                return NULL;
        line = strstr(text, "Device Minor:");
        if (!line || sscanf(line, "Device Minor: %u", &minor) != 1)
                return NULL;
        return asprintf(&node, "/dev/nvidia%u", minor) < 0 ? NULL : node;
}

int fake_host_add_holder(FakeHost *host, int pid, const char *comm, const char *node) {
        _cleanup_free_ char *comm_file = NULL, *line = NULL, *cmdline_file = NULL, *cmdline = NULL, *fd_dir = NULL,
                            *target = NULL;
        int r;

        if (pid <= 0 || !comm || !node || node[0] != '/')
                return -EINVAL;
        /* As the kernel keeps them: comm cut to 15 bytes, the whole
         * program name in cmdline. */
        if (asprintf(&comm_file, "proc/%d/comm", pid) < 0 || asprintf(&line, "%.15s\n", comm) < 0 ||
            asprintf(&cmdline_file, "proc/%d/cmdline", pid) < 0 || asprintf(&cmdline, "/usr/bin/%s", comm) < 0)
                return -ENOMEM;
        r = fake_host_write(host, comm_file, line);
        if (r >= 0)
                r = fake_host_write(host, cmdline_file, cmdline);
        if (r < 0)
                return r;
        fd_dir = fake_host_path(host, "proc/%d/fd", pid);
        target = fake_host_path(host, "%s", node + 1);
        if (!fd_dir || !target)
                return -ENOMEM;
        r = mkdir_parents(fd_dir, 0755);
        if (r < 0)
                return r;
        /* The next free descriptor after stdin, stdout and stderr. */
        for (int fd = 3; fd < 1024; fd++) {
                _cleanup_free_ char *link = NULL;

                if (asprintf(&link, "%s/%d", fd_dir, fd) < 0)
                        return -ENOMEM;
                if (symlink(target, link) >= 0)
                        return 0;
                if (errno != EEXIST)
                        return -errno;
        }
        return -EMFILE;
}

int fake_host_block_unbind(FakeHost *host, const char *bdf) {
        _cleanup_free_ char *path = fake_host_path(host, "sys/bus/pci/devices/%s/sim_unbind_fifo", bdf);

        if (!path)
                return -ENOMEM;
        return mkfifo(path, 0600) < 0 ? -errno : 0;
}

int fake_host_release_unbind(FakeHost *host, const char *bdf) {
        _cleanup_free_ char *path = fake_host_path(host, "sys/bus/pci/devices/%s/sim_unbind_fifo", bdf);
        _cleanup_close_ int fd = -1;

        if (!path)
                return -ENOMEM;
        /* Non-blocking: ENXIO unless the simulated unbind waits on it. */
        fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return write(fd, "x", 1) == 1 ? 0 : -EIO;
}
