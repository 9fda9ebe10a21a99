/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "fileio.h"
#include "log.h"
#include "pci-sysfs.h"
#include "proc-holders.h"

void hw_holders_done(HwHolders *h) {
        if (!h)
                return;
        free(h->holders);
        *h = (HwHolders) {};
}

void hw_holders_array_free(HwHolders *a, size_t n) {
        for (size_t i = 0; a && i < n; i++)
                hw_holders_done(&a[i]);
        free(a);
}

void hw_dev_nodes_free(HwDevNode *nodes, size_t n) {
        for (size_t i = 0; nodes && i < n; i++)
                free(nodes[i].path);
        free(nodes);
}

int hw_nvidia_minor(HwHost *h, const char *bdf, unsigned *ret) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        static const char key[] = "Device Minor:";
        int r;

        assert(h);
        assert(ret);

        if (!hw_pci_bdf_is_valid(bdf))
                return -EINVAL;
        path = hw_path(h, "proc/driver/nvidia/gpus/%s/information", bdf);
        if (!path)
                return -ENOMEM;
        r = read_text_file(path, &text);
        if (r < 0)
                return r;
        for (char *line = text; line && *line;) {
                char *next = strchr(line, '\n');

                if (next)
                        *next++ = '\0';
                if (strncmp(line, key, strlen(key)) == 0) {
                        const char *v = line + strlen(key);
                        unsigned long minor;
                        char *end;

                        while (isblank((unsigned char) *v))
                                v++;
                        errno = 0;
                        minor = strtoul(v, &end, 10);
                        if (errno != 0 || end == v || *end != '\0' || minor > 255) /* NV_MAX_DEVICES */
                                return -EBADMSG;
                        *ret = (unsigned) minor;
                        return 0;
                }
                line = next;
        }
        return -EBADMSG;
}

static int add_node(HwDevNode **nodes, size_t *n, dev_t rdev, const char *fmt, ...) _printf_(4, 5);
static int add_node(HwDevNode **nodes, size_t *n, dev_t rdev, const char *fmt, ...) {
        HwDevNode *l;
        va_list ap;
        char *path;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&path, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        l = realloc(*nodes, (*n + 1) * sizeof(HwDevNode));
        if (!l) {
                free(path);
                return -ENOMEM;
        }
        l[(*n)++] = (HwDevNode) { .path = path, .rdev = rdev };
        *nodes = l;
        return 0;
}

int hw_pci_holder_nodes(HwHost *h, const char *bdf, const char *driver, HwDevNode **ret, size_t *ret_n) {
        HwDevNode *nodes = NULL;
        size_t n = 0;
        int r = 0;

        assert(h);
        assert(ret);
        assert(ret_n);

        if (streq_ptr(driver, "nvidia")) {
                unsigned minor;

                r = hw_nvidia_minor(h, bdf, &minor);
                if (r == -ENOENT) {
                        /* NVSwitches and devices the driver did not take
                         * have no /dev/nvidia<minor>. */
                        log_debug("%s: not listed in /proc/driver/nvidia/gpus, no device node to check", bdf);
                        r = 0;
                } else if (r >= 0)
                        r = add_node(&nodes, &n, makedev(HW_NVIDIA_MAJOR, minor), "/dev/nvidia%u", minor);
        } else if (hw_driver_is_vfio(driver)) {
                _cleanup_free_ char *group = NULL, *cdev = NULL;

                /* A VM keeps the group open for as long as it runs. */
                r = hw_pci_get_vfio_device(h, bdf, &group);
                if (r >= 0 && *group)
                        r = add_node(&nodes, &n, 0, "%s", group);
                if (r >= 0)
                        r = hw_pci_get_vfio_cdev(h, bdf, &cdev);
                if (r >= 0 && *cdev)
                        r = add_node(&nodes, &n, 0, "%s", cdev);
        }
        if (r < 0) {
                hw_dev_nodes_free(nodes, n);
                return r;
        }
        *ret = nodes;
        *ret_n = n;
        return 0;
}

/* What an fd is compared with, for one node. */
typedef struct NodeKey {
        bool chr;        /* a character device: match st_rdev */
        dev_t rdev;
        bool file;       /* anything else (a fake tree): match the file itself */
        dev_t dev;
        ino_t ino;
        char *full;      /* the node's path under the root */
} NodeKey;

static int make_keys(HwHost *h, const HwDevNode *nodes, size_t n, NodeKey **ret, bool *ret_any_file) {
        NodeKey *keys = calloc(n ? n : 1, sizeof(NodeKey));
        bool any_file = false;

        if (!keys)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                NodeKey *k = &keys[i];
                struct stat st;

                k->full = hw_path(h, "%s", nodes[i].path);
                if (!k->full) {
                        for (size_t j = 0; j < i; j++)
                                free(keys[j].full);
                        free(keys);
                        return -ENOMEM;
                }
                if (stat(k->full, &st) < 0) {
                        if (nodes[i].rdev != 0)
                                *k = (NodeKey) { .chr = true, .rdev = nodes[i].rdev, .full = k->full };
                        continue;
                }
                if (S_ISCHR(st.st_mode))
                        *k = (NodeKey) { .chr = true, .rdev = st.st_rdev, .full = k->full };
                else {
                        *k = (NodeKey) { .file = true, .dev = st.st_dev, .ino = st.st_ino, .full = k->full };
                        any_file = true;
                }
        }
        *ret = keys;
        *ret_any_file = any_file;
        return 0;
}

static void keys_free(NodeKey *keys, size_t n) {
        for (size_t i = 0; keys && i < n; i++)
                free(keys[i].full);
        free(keys);
}

/* The node an fd of a process shows as a symlink target: the kernel writes
 * the path in the process's own mount namespace, which on a fake tree is
 * read as a path under the root. */
static bool link_names_node(HwHost *h, int dir_fd, const char *name, const NodeKey *k) {
        char target[PATH_MAX];
        const char *root = hw_host_root(h);
        size_t root_len = streq(root, "/") ? 0 : strlen(root);
        ssize_t len;

        len = readlinkat(dir_fd, name, target, sizeof(target) - 1);
        if (len <= 0 || target[0] != '/')
                return false;
        target[len] = '\0';
        return strncmp(k->full, root, root_len) == 0 && streq(k->full + root_len, target);
}

static int add_holder(HwHolders *hs, int pid, const char *comm) {
        HwHolder *l;

        if (hs->n > 0 && hs->holders[hs->n - 1].pid == pid)
                return 0;
        l = realloc(hs->holders, (hs->n + 1) * sizeof(HwHolder));
        if (!l)
                return -ENOMEM;
        l[hs->n] = (HwHolder) { .pid = pid };
        snprintf(l[hs->n].comm, sizeof(l[hs->n].comm), "%s", comm);
        hs->holders = l;
        hs->n++;
        return 0;
}

/* TASK_COMM_LEN - 1: the longest comm the kernel keeps. */
#define COMM_MAX 15

/* The command of the process whose /proc directory is pid_fd; false when it
 * is gone. */
static bool read_comm(int pid_fd, char comm[static 64]) {
        _cleanup_close_ int fd = openat(pid_fd, "comm", O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int cmdline_fd = -1;
        char argv0[4096];
        const char *base;
        ssize_t k;

        if (fd < 0)
                return false;
        k = read(fd, comm, COMM_MAX + 1);
        if (k < 0)
                return false;
        comm[k] = '\0';
        comm[strcspn(comm, "\n")] = '\0';
        if (strlen(comm) < COMM_MAX)
                return true;

        /* Cut by the kernel: the program's own name says the rest. */
        cmdline_fd = openat(pid_fd, "cmdline", O_RDONLY | O_CLOEXEC);
        if (cmdline_fd < 0)
                return true;
        k = read(cmdline_fd, argv0, sizeof(argv0) - 1);
        if (k <= 0)
                return true;
        argv0[k] = '\0';
        base = strrchr(argv0, '/');
        base = base ? base + 1 : argv0;
        if (strncmp(base, comm, COMM_MAX) == 0 && strlen(base) < 64)
                strcpy(comm, base);
        return true;
}

/* Compares every fd of one process with the keys. */
static int scan_process(HwHost *h, int pid_fd, int pid, const NodeKey *keys, size_t n, bool any_file,
                        HwHolders *out, unsigned *hidden) {
        _cleanup_free_ bool *matched = calloc(n ? n : 1, sizeof(bool));
        bool any = false;
        char comm[64];
        struct dirent *de;
        DIR *fds;
        int fd_dir, r = 0;

        if (!matched)
                return -ENOMEM;
        fd_dir = openat(pid_fd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd_dir < 0) {
                if (errno == EACCES || errno == EPERM)
                        (*hidden)++;
                return 0; /* gone, or a kernel thread's */
        }
        fds = fdopendir(fd_dir);
        if (!fds) {
                close(fd_dir);
                return -errno;
        }
        while ((de = readdir(fds))) {
                struct stat st;
                bool have_stat;

                if (de->d_name[0] == '.')
                        continue;
                have_stat = fstatat(dirfd(fds), de->d_name, &st, 0) >= 0;
                if (!have_stat && (errno == EACCES || errno == EPERM)) {
                        (*hidden)++;
                        break;
                }
                for (size_t i = 0; i < n; i++) {
                        const NodeKey *k = &keys[i];

                        if (matched[i])
                                continue;
                        if (have_stat && k->chr && S_ISCHR(st.st_mode) && st.st_rdev == k->rdev)
                                matched[i] = any = true;
                        else if (have_stat && k->file && st.st_dev == k->dev && st.st_ino == k->ino)
                                matched[i] = any = true;
                        else if (any_file && k->file && !(have_stat && S_ISCHR(st.st_mode)) &&
                                 link_names_node(h, dirfd(fds), de->d_name, k))
                                matched[i] = any = true;
                }
        }
        closedir(fds);

        if (!any || !read_comm(pid_fd, comm))
                return 0;
        for (size_t i = 0; i < n && r >= 0; i++)
                if (matched[i])
                        r = add_holder(&out[i], pid, comm);
        return r;
}

static int compare_holders(const void *a, const void *b) {
        const HwHolder *x = a, *y = b;
        return (x->pid > y->pid) - (x->pid < y->pid);
}

static bool parse_pid(const char *s, int *ret) {
        char *end;
        long v;

        if (!isdigit((unsigned char) s[0]))
                return false;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || *end != '\0' || v <= 0 || v > INT_MAX)
                return false;
        *ret = (int) v;
        return true;
}

int hw_find_node_holders(HwHost *h, const HwDevNode *nodes, size_t n, HwHolders **ret, unsigned *ret_hidden) {
        _cleanup_free_ char *proc_path = NULL;
        HwHolders *out = NULL;
        NodeKey *keys = NULL;
        unsigned hidden = 0;
        bool any_file = false;
        struct dirent *de;
        DIR *proc = NULL;
        int r;

        assert(h);
        assert(nodes || n == 0);
        assert(ret);

        out = calloc(n ? n : 1, sizeof(HwHolders));
        if (!out)
                return -ENOMEM;
        r = make_keys(h, nodes, n, &keys, &any_file);
        if (r < 0)
                goto finish;

        proc_path = hw_path(h, "proc");
        if (!proc_path) {
                r = -ENOMEM;
                goto finish;
        }
        proc = opendir(proc_path);
        if (!proc) {
                /* A fake tree without processes has no /proc at all. */
                r = errno == ENOENT && !streq(hw_host_root(h), "/") ? 0 : -errno;
                goto finish;
        }
        while (r >= 0 && (de = readdir(proc))) {
                _cleanup_close_ int pid_fd = -1;
                int pid;

                if (!parse_pid(de->d_name, &pid))
                        continue;
                pid_fd = openat(dirfd(proc), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (pid_fd < 0)
                        continue; /* gone */
                r = scan_process(h, pid_fd, pid, keys, n, any_file, out, &hidden);
        }
        for (size_t i = 0; r >= 0 && i < n; i++)
                if (out[i].n > 1)
                        qsort(out[i].holders, out[i].n, sizeof(HwHolder), compare_holders);

finish:
        if (proc)
                closedir(proc);
        keys_free(keys, n);
        if (r < 0) {
                hw_holders_array_free(out, n);
                return r;
        }
        if (hidden > 0)
                log_debug("%u processes could not be inspected for open device nodes", hidden);
        if (ret_hidden)
                *ret_hidden = hidden;
        *ret = out;
        return 0;
}

/* Adds what src has and dst lacks; both sorted by pid. */
static int merge_holders(HwHolders *dst, const HwHolders *src) {
        for (size_t i = 0; i < src->n; i++) {
                bool seen = false;
                HwHolder *l;

                for (size_t j = 0; j < dst->n && !seen; j++)
                        seen = dst->holders[j].pid == src->holders[i].pid;
                if (seen)
                        continue;
                l = realloc(dst->holders, (dst->n + 1) * sizeof(HwHolder));
                if (!l)
                        return -ENOMEM;
                l[dst->n++] = src->holders[i];
                dst->holders = l;
        }
        if (dst->n > 1)
                qsort(dst->holders, dst->n, sizeof(HwHolder), compare_holders);
        return 0;
}

int hw_pci_find_holders(HwHost *h, char *const *bdfs, HwHolders **ret) {
        HwDevNode *nodes = NULL;
        size_t *owner = NULL, n_nodes = 0, n_bdfs = 0;
        HwHolders *per_node = NULL, *out = NULL;
        int r = 0;

        assert(h);
        assert(ret);

        while (bdfs && bdfs[n_bdfs])
                n_bdfs++;
        out = calloc(n_bdfs ? n_bdfs : 1, sizeof(HwHolders));
        if (!out)
                return -ENOMEM;

        for (size_t i = 0; i < n_bdfs && r >= 0; i++) {
                _cleanup_free_ char *driver = NULL;
                HwDevNode *dev_nodes = NULL;
                size_t n = 0;

                r = hw_pci_get_driver(h, bdfs[i], &driver);
                if (r == -ENODEV) { /* gone: nothing holds it */
                        r = 0;
                        continue;
                }
                if (r >= 0)
                        r = hw_pci_holder_nodes(h, bdfs[i], driver, &dev_nodes, &n);
                if (r < 0)
                        break;
                for (size_t k = 0; k < n && r >= 0; k++) {
                        HwDevNode *l = realloc(nodes, (n_nodes + 1) * sizeof(HwDevNode));
                        size_t *o = realloc(owner, (n_nodes + 1) * sizeof(size_t));

                        if (l)
                                nodes = l;
                        if (o)
                                owner = o;
                        if (!l || !o) {
                                r = -ENOMEM;
                                break;
                        }
                        nodes[n_nodes] = dev_nodes[k];
                        dev_nodes[k].path = NULL;
                        owner[n_nodes++] = i;
                }
                hw_dev_nodes_free(dev_nodes, n);
        }
        if (r >= 0)
                r = hw_find_node_holders(h, nodes, n_nodes, &per_node, NULL);
        for (size_t k = 0; r >= 0 && k < n_nodes; k++)
                r = merge_holders(&out[owner[k]], &per_node[k]);

        hw_holders_array_free(per_node, n_nodes);
        hw_dev_nodes_free(nodes, n_nodes);
        free(owner);
        if (r < 0) {
                hw_holders_array_free(out, n_bdfs);
                return r;
        }
        *ret = out;
        return 0;
}
