/* SPDX-License-Identifier: MIT */

/* The processes holding a device: found through /proc/<pid>/fd on fake
 * trees (nodes that are regular files, matched by the file or by the path
 * the link names under the root) and on the real /proc (character devices,
 * matched by device number, whatever node the process opened), and the
 * Busy message of an operation that would take a held device from its
 * driver. */

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cmocka.h>

#include "fake-host.h"
#include "sim-host.h"
#include "fileio.h"
#include "in-use.h"
#include "pci-sysfs.h"
#include "proc-holders.h"
#include "strv.h"

#define GPU0 "0000:18:00.0"
#define GPU1 "0000:2a:00.0"
#define GPU2 "0000:3a:00.0"   /* unbound */
#define VFIO_GPU "0000:5d:00.0"
#define AUDIO "0000:5d:00.1"

typedef struct Test {
        FakeHost *fake;
        HwHost *host;
} Test;

static int setup(void **state) {
        Test *t = calloc(1, sizeof(Test));

        assert_non_null(t);
        t->fake = fake_host_new();
        assert_non_null(t->fake);
        assert_int_equal(fake_host_add_gpu(t->fake, GPU0, 0x2330, &(FakeGpuOptions) { .driver = "nvidia" }), 0);
        assert_int_equal(fake_host_add_gpu(t->fake, GPU1, 0x2330, &(FakeGpuOptions) { .driver = "nvidia" }), 0);
        assert_int_equal(fake_host_add_gpu(t->fake, GPU2, 0x2330, NULL), 0);
        assert_int_equal(fake_host_add_gpu(t->fake, VFIO_GPU, 0x2330, &(FakeGpuOptions) {
                .driver = "vfio-pci", .iommu_group = 40 }), 0);
        assert_int_equal(fake_host_add_audio(t->fake, AUDIO, 40, "vfio-pci"), 0);
        assert_int_equal(sim_host_new(fake_host_root(t->fake), &t->host), 0);
        *state = t;
        return 0;
}

static int teardown(void **state) {
        Test *t = *state;

        hw_host_free(t->host);
        fake_host_free(t->fake);
        free(t);
        return 0;
}

/* Holders of each of the NULL-terminated devices, "pid:comm pid:comm" per device. */
static char *holders_text(Test *t, const char *const *bdfs) {
        HwHolders *h = NULL;
        size_t n = strv_length((char *const *) bdfs);
        char *s = NULL;
        size_t size = 0;
        FILE *f;

        assert_int_equal(hw_pci_find_holders(t->host, (char *const *) bdfs, &h), 0);
        f = open_memstream(&s, &size);
        assert_non_null(f);
        for (size_t i = 0; i < n; i++) {
                fputs(i ? "|" : "", f);
                for (size_t k = 0; k < h[i].n; k++)
                        fprintf(f, "%s%d:%s", k ? " " : "", h[i].holders[k].pid, h[i].holders[k].comm);
        }
        fclose(f);
        hw_holders_array_free(h, n);
        return s;
}

static void test_nvidia_minor(void **state) {
        Test *t = *state;
        unsigned minor = 99;
        _cleanup_free_ char *node = NULL;

        /* In the order the driver probed them. */
        assert_int_equal(hw_nvidia_minor(t->host, GPU0, &minor), 0);
        assert_int_equal(minor, 0);
        assert_int_equal(hw_nvidia_minor(t->host, GPU1, &minor), 0);
        assert_int_equal(minor, 1);
        node = fake_host_nvidia_node(t->fake, GPU1);
        assert_string_equal(node, "/dev/nvidia1");

        assert_int_equal(hw_nvidia_minor(t->host, "0000:99:00.0", &minor), -ENOENT);
        assert_int_equal(hw_nvidia_minor(t->host, "../../x", &minor), -EINVAL);
        assert_int_equal(fake_host_write(t->fake, "proc/driver/nvidia/gpus/" GPU0 "/information",
                                         "Model: \t\t NVIDIA H100\nBus Location: \t 0000:18:00.0\n"), 0);
        assert_int_equal(hw_nvidia_minor(t->host, GPU0, &minor), -EBADMSG);
        assert_int_equal(fake_host_write(t->fake, "proc/driver/nvidia/gpus/" GPU0 "/information",
                                         "Device Minor: \t x7\n"), 0);
        assert_int_equal(hw_nvidia_minor(t->host, GPU0, &minor), -EBADMSG);
        assert_int_equal(fake_host_write(t->fake, "proc/driver/nvidia/gpus/" GPU0 "/information",
                                         "Bus Type: \t PCIe\nDevice Minor: \t 7\nGPU Excluded:\t No\n"), 0);
        assert_int_equal(hw_nvidia_minor(t->host, GPU0, &minor), 0);
        assert_int_equal(minor, 7);
}

static void test_holder_nodes(void **state) {
        Test *t = *state;
        _cleanup_free_ char *vfio_dev = NULL;
        HwDevNode *nodes = NULL;
        size_t n = 0;

        assert_int_equal(hw_pci_holder_nodes(t->host, GPU1, "nvidia", &nodes, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(nodes[0].path, "/dev/nvidia1");
        /* The driver's own number, for a node only a container has. */
        assert_int_equal(major(nodes[0].rdev), HW_NVIDIA_MAJOR);
        assert_int_equal(minor(nodes[0].rdev), 1);
        hw_dev_nodes_free(nodes, n);

        assert_int_equal(hw_pci_holder_nodes(t->host, VFIO_GPU, "vfio-pci", &nodes, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(nodes[0].path, "/dev/vfio/40");
        hw_dev_nodes_free(nodes, n);

        /* iommufd: the device's own node too. */
        assert_int_equal(fake_host_enable_iommufd(t->fake), 0);
        assert_int_equal(fake_host_write(t->fake, "dev/vfio/devices/vfio3", ""), 0);
        vfio_dev = fake_host_path(t->fake, "sys/bus/pci/devices/" VFIO_GPU "/vfio-dev/vfio3");
        assert_int_equal(mkdir_parents(vfio_dev, 0755), 0);
        assert_int_equal(hw_pci_holder_nodes(t->host, VFIO_GPU, "vfio-pci", &nodes, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(nodes[1].path, "/dev/vfio/devices/vfio3");
        hw_dev_nodes_free(nodes, n);

        /* Other drivers and none: nothing known to check. */
        assert_int_equal(hw_pci_holder_nodes(t->host, GPU2, NULL, &nodes, &n), 0);
        assert_int_equal(n, 0);
        hw_dev_nodes_free(nodes, n);
        assert_int_equal(hw_pci_holder_nodes(t->host, AUDIO, "snd_hda_intel", &nodes, &n), 0);
        assert_int_equal(n, 0);
        hw_dev_nodes_free(nodes, n);
}

static void test_fake_holders(void **state) {
        Test *t = *state;
        const char *const bdfs[] = { GPU0, GPU1, GPU2, VFIO_GPU, AUDIO, NULL };
        _cleanup_free_ char *none = NULL, *text = NULL, *kernel_style = NULL, *link = NULL, *fd_dir = NULL;

        none = holders_text(t, bdfs);
        assert_string_equal(none, "||||");

        assert_int_equal(fake_host_add_holder(t->fake, 5678, "python3", "/dev/nvidia1"), 0);
        assert_int_equal(fake_host_add_holder(t->fake, 1234, "nvidia-persistenced", "/dev/nvidia1"), 0);
        assert_int_equal(fake_host_add_holder(t->fake, 1234, "nvidia-persistenced", "/dev/nvidia0"), 0);
        /* More fds of one process count once. */
        assert_int_equal(fake_host_add_holder(t->fake, 5678, "python3", "/dev/nvidia1"), 0);
        assert_int_equal(fake_host_add_holder(t->fake, 5678, "python3", "/dev/nvidiactl"), 0);
        /* A VM holds the whole group. */
        assert_int_equal(fake_host_add_holder(t->fake, 4242, "qemu-system-x86_64", "/dev/vfio/40"), 0);
        /* Noise: an fd on another file, a process without fds (a kernel
         * thread), names that are not processes. */
        assert_int_equal(fake_host_add_holder(t->fake, 77, "bash", "/dev/nvidia-uvm"), 0);
        assert_int_equal(fake_host_write(t->fake, "proc/2/comm", "kthreadd\n"), 0);
        assert_int_equal(fake_host_write(t->fake, "proc/self/comm", "test\n"), 0);
        assert_int_equal(fake_host_write(t->fake, "proc/driver/nvidia/version", "NVRM\n"), 0);

        /* Sorted by pid; comm completed from cmdline ("nvidia-persiste",
         * "qemu-system-x86" as the kernel cuts them). */
        text = holders_text(t, bdfs);
        assert_string_equal(text, "1234:nvidia-persistenced|1234:nvidia-persistenced 5678:python3||"
                                  "4242:qemu-system-x86_64|4242:qemu-system-x86_64");

        /* A link as the kernel writes it, the path in the process's own
         * root: resolved under the host root. */
        link = fake_host_path(t->fake, "proc/900/fd/9");
        assert_int_equal(fake_host_write(t->fake, "proc/900/comm", "dcgm\n"), 0);
        fd_dir = fake_host_path(t->fake, "proc/900/fd");
        assert_int_equal(mkdir_parents(fd_dir, 0755), 0);
        assert_int_equal(symlink("/dev/nvidia0", link), 0);
        kernel_style = holders_text(t, (const char *const[]) { GPU0, NULL });
        assert_string_equal(kernel_style, "900:dcgm 1234:nvidia-persistenced");
}

static void test_no_proc(void **state) {
        Test *t = *state;
        _cleanup_free_ char *text = NULL, *proc = fake_host_path(t->fake, "proc"),
                            *away = fake_host_path(t->fake, "proc.away");

        /* A fake tree without /proc has no processes. */
        assert_int_equal(rename(proc, away), 0);
        text = holders_text(t, (const char *const[]) { GPU1, VFIO_GPU, NULL });
        assert_string_equal(text, "|");
}

/* The pid of this process among holders, -1 when absent. */
static int find_self(const HwHolders *h) {
        for (size_t i = 0; i < h->n; i++)
                if (h->holders[i].pid == getpid())
                        return (int) i;
        return -1;
}

/* A character device this process can open, as a process holds a GPU's
 * node; NULL where none is (some sandboxes make /dev/null a plain file). */
static const char *open_char_device(int *ret_fd, struct stat *ret_st) {
        static const char *const candidates[] = { "/dev/null", "/dev/zero", "/dev/full", "/dev/ptmx" };

        for (size_t i = 0; i < ELEMENTSOF(candidates); i++) {
                int fd;

                if (stat(candidates[i], ret_st) < 0 || !S_ISCHR(ret_st->st_mode))
                        continue;
                fd = open(candidates[i], O_RDWR | O_NOCTTY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                *ret_fd = fd;
                return candidates[i];
        }
        return NULL;
}

static void test_real_proc(void **state) {
        _cleanup_(hw_host_freep) HwHost *real = NULL;
        char self_comm[32] = "";
        FILE *f;
        _cleanup_close_ int fd = -1;
        struct stat st;
        HwHolders *h = NULL;
        HwDevNode nodes[3] = {};
        const char *device;
        int i;

        device = open_char_device(&fd, &st);
        if (!device)
                skip();
        nodes[0].path = (char *) device;
        /* A node missing under the root, known by its number only, as the
         * nvidia driver's 195:<minor> is. */
        nodes[1] = (HwDevNode) { .path = (char *) "/dev/nvidia-test-not-there", .rdev = st.st_rdev };
        /* A device this process does not have open. */
        nodes[2] = (HwDevNode) { .path = (char *) "/dev/nvidia-test-other", .rdev = makedev(195, 254) };

        f = fopen("/proc/self/comm", "re");
        assert_non_null(f);
        assert_non_null(fgets(self_comm, sizeof(self_comm), f));
        fclose(f);
        self_comm[strcspn(self_comm, "\n")] = '\0';

        assert_int_equal(hw_host_new("/", NULL, &real), 0);
        assert_int_equal(hw_find_node_holders(real, nodes, ELEMENTSOF(nodes), &h, NULL), 0);
        i = find_self(&h[0]);
        assert_true(i >= 0);
        /* As /proc says it: under valgrind, the tool's name. */
        assert_string_equal(h[0].holders[i].comm, self_comm);
        assert_true(find_self(&h[1]) >= 0);
        assert_int_equal(find_self(&h[2]), -1);
        hw_holders_array_free(h, ELEMENTSOF(nodes));
}

static void test_real_proc_other_node(void **state) {
        _cleanup_(hw_host_freep) HwHost *real = NULL;
        _cleanup_free_ char *dir = strdup("/tmp/holders-XXXXXX"), *node = NULL;
        _cleanup_close_ int fd = -1, own = -1;
        struct stat st;
        HwHolders *h = NULL;
        HwDevNode host_node = {};
        const char *device;

        /* A process in a container opens its own node of the device: found
         * by the device number, not the path. */
        device = open_char_device(&fd, &st);
        if (!device)
                skip();
        close(TAKE_FD(fd));
        host_node.path = (char *) device;
        assert_non_null(mkdtemp(dir));
        assert_true(asprintf(&node, "%s/node", dir) > 0);
        if (mknod(node, S_IFCHR | 0600, st.st_rdev) >= 0)
                own = open(node, O_RDWR | O_NOCTTY | O_CLOEXEC);
        (void) unlink(node);
        (void) rmdir(dir);
        if (own < 0)
                skip(); /* needs CAP_MKNOD and a file system that allows nodes */

        assert_int_equal(hw_host_new("/", NULL, &real), 0);
        assert_int_equal(hw_find_node_holders(real, &host_node, 1, &h, NULL), 0);
        assert_true(find_self(&h[0]) >= 0);
        hw_holders_array_free(h, 1);
}

static void test_holders_to_string(void **state) {
        HwHolder l[] = { { 1, "a" }, { 22, "bb" }, { 333, "c c" } };
        _cleanup_free_ char *one = NULL, *two = NULL, *three = NULL, *none = NULL;

        one = cc_holders_to_string(&(HwHolders) { l, 1 });
        two = cc_holders_to_string(&(HwHolders) { l, 2 });
        three = cc_holders_to_string(&(HwHolders) { l, 3 });
        none = cc_holders_to_string(&(HwHolders) { l, 0 });
        assert_string_equal(one, "a (pid 1)");
        assert_string_equal(two, "a (pid 1) and bb (pid 22)");
        assert_string_equal(three, "a (pid 1), bb (pid 22) and c c (pid 333)");
        assert_string_equal(none, "");
}

static void test_check_not_in_use(void **state) {
        Test *t = *state;
        CcError e = CC_ERROR_INIT;
        char device[16] = "";
        char *all[] = { (char *) GPU0, (char *) GPU1, (char *) GPU2, NULL };

        assert_int_equal(cc_check_not_in_use(t->host, all, device, &e), 0);
        assert_false(cc_error_is_set(&e));

        assert_int_equal(fake_host_add_holder(t->fake, 1234, "nvidia-persistenced", "/dev/nvidia1"), 0);
        assert_int_equal(fake_host_add_holder(t->fake, 5678, "python3", "/dev/nvidia1"), 0);
        assert_int_equal(cc_check_not_in_use(t->host, all, device, &e), -EBUSY);
        assert_int_equal(e.kind, CC_ERROR_BUSY);
        assert_string_equal(e.message, GPU1 " is in use by nvidia-persistenced (pid 1234) and python3 (pid 5678)");
        assert_string_equal(device, GPU1);

        assert_int_equal(fake_host_add_holder(t->fake, 42, "dcgm", "/dev/nvidia0"), 0);
        assert_int_equal(cc_check_not_in_use(t->host, all, device, &e), -EBUSY);
        assert_string_equal(e.message, GPU0 " is in use by dcgm (pid 42); "
                                       GPU1 " is in use by nvidia-persistenced (pid 1234) and python3 (pid 5678)");
        assert_string_equal(device, GPU0);

        /* A device the operation leaves alone is not asked about. */
        cc_error_clear(&e);
        assert_int_equal(cc_check_not_in_use(t->host, (char *[]) { (char *) GPU2, NULL }, NULL, &e), 0);
}

static void test_check_not_in_use_long(void **state) {
        Test *t = *state;
        CcError e = CC_ERROR_INIT;
        char *l[9] = {};

        /* Eight GPUs, each held by many: whole parts only, then a count. */
        for (unsigned i = 0; i < 8; i++) {
                _cleanup_free_ char *node = NULL;

                assert_true(asprintf(&l[i], "0001:%02x:00.0", i) > 0);
                assert_int_equal(fake_host_add_gpu(t->fake, l[i], 0x2330, &(FakeGpuOptions) { .driver = "nvidia" }), 0);
                node = fake_host_nvidia_node(t->fake, l[i]);
                for (int pid = 100; pid < 103; pid++)
                        assert_int_equal(fake_host_add_holder(t->fake, pid, "a-long-process-name", node), 0);
        }
        assert_int_equal(cc_check_not_in_use(t->host, l, NULL, &e), -EBUSY);
        assert_true(strlen(e.message) < sizeof(e.message) - 1);
        assert_non_null(strstr(e.message, "0001:00:00.0 is in use by a-long-process-name (pid 100), "));
        assert_non_null(strstr(e.message, " more devices in use"));
        for (unsigned i = 0; i < 8; i++)
                free(l[i]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_nvidia_minor, setup, teardown),
                cmocka_unit_test_setup_teardown(test_holder_nodes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fake_holders, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_proc, setup, teardown),
                cmocka_unit_test(test_real_proc),
                cmocka_unit_test(test_real_proc_other_node),
                cmocka_unit_test(test_holders_to_string),
                cmocka_unit_test_setup_teardown(test_check_not_in_use, setup, teardown),
                cmocka_unit_test_setup_teardown(test_check_not_in_use_long, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
