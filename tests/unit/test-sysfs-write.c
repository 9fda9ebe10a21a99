/* SPDX-License-Identifier: MIT */

/* Bounded sysfs writes: a write the kernel does not finish in time returns
 * -ETIMEDOUT to its caller while its thread stays blocked, later writes for
 * the same device fail at once, other devices are not held up, and the
 * thread finishes the write when the kernel lets it.  The blocking write is
 * a FIFO without a reader (open() blocks) and the simulated kernel's unbind
 * that waits for the device's last user. */

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fake-host.h"
#include "sim-host.h"
#include "fileio.h"
#include "pci-sysfs.h"
#include "sysfs-write.h"

#define GPU0 "0000:18:00.0"
#define GPU1 "0000:2a:00.0"
#define TIMEOUT_USEC (200 * 1000)

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
        assert_int_equal(sim_host_new(fake_host_root(t->fake), &t->host), 0);
        hw_host_set_write_timeout(t->host, TIMEOUT_USEC);
        *state = t;
        return 0;
}

static int teardown(void **state) {
        Test *t = *state;

        /* No thread may outlive the tree it writes to. */
        assert_int_equal(hw_sysfs_wait_idle(t->host, 10 * USEC_PER_SEC), 0);
        hw_host_free(t->host);
        fake_host_free(t->fake);
        free(t);
        return 0;
}

static void test_timeout_default(void **state) {
        _cleanup_(hw_host_freep) HwHost *h = NULL;

        assert_int_equal(hw_host_new("/", false, &h), 0);
        assert_int_equal(hw_host_get_write_timeout(h), HW_WRITE_TIMEOUT_USEC_DEFAULT);
        hw_host_set_write_timeout(h, 0);
        assert_int_equal(hw_host_get_write_timeout(h), HW_WRITE_TIMEOUT_USEC_DEFAULT);
}

static void test_write(void **state) {
        Test *t = *state;
        _cleanup_free_ char *path = fake_host_path(t->fake, "sys/bus/pci/devices/%s/power_state", GPU0), *text = NULL;

        assert_int_equal(hw_sysfs_write(t->host, GPU0, path, "D3hot"), 0);
        assert_int_equal(read_text_file(path, &text), 0);
        assert_string_equal(text, "D3hot");
        /* The kernel's errors come back as they are. */
        assert_int_equal(hw_sysfs_write(t->host, GPU0, "/nonexistent/attribute", "1"), -ENOENT);
        assert_false(hw_sysfs_write_pending(t->host, GPU0, NULL));
}

static void test_blocked_write(void **state) {
        Test *t = *state;
        _cleanup_free_ char *fifo = fake_host_path(t->fake, "sys/bus/pci/devices/%s/stuck", GPU0),
                            *other = fake_host_path(t->fake, "sys/bus/pci/devices/%s/power_state", GPU1);
        _cleanup_close_ int reader = -1;
        uint64_t t0, elapsed, since = 0;
        char buf[64] = "";
        ssize_t k;

        assert_int_equal(mkfifo(fifo, 0600), 0);
        t0 = now_usec(CLOCK_MONOTONIC);
        assert_int_equal(hw_sysfs_write(t->host, GPU0, fifo, "1"), -ETIMEDOUT);
        elapsed = now_usec(CLOCK_MONOTONIC) - t0;
        assert_true(elapsed >= TIMEOUT_USEC);
        assert_true(elapsed < TIMEOUT_USEC + 2 * USEC_PER_SEC);
        assert_true(hw_sysfs_write_pending(t->host, GPU0, &since));
        assert_true(since >= t0 && since <= t0 + elapsed);

        /* The device stays locked in the kernel: no second thread blocks
         * behind the first. */
        t0 = now_usec(CLOCK_MONOTONIC);
        assert_int_equal(hw_sysfs_write(t->host, GPU0, fifo, "2"), -EDEADLK);
        assert_true(now_usec(CLOCK_MONOTONIC) - t0 < TIMEOUT_USEC);
        /* Another device is not held up. */
        assert_int_equal(hw_sysfs_write(t->host, GPU1, other, "D0"), 0);
        assert_int_equal(hw_sysfs_wait_idle(t->host, 1000), -ETIMEDOUT);

        /* The kernel lets go: the thread's write lands, the device is free. */
        reader = open(fifo, O_RDONLY | O_CLOEXEC);
        assert_true(reader >= 0);
        k = read(reader, buf, sizeof(buf) - 1);
        assert_int_equal(k, 1);
        assert_string_equal(buf, "1");
        assert_int_equal(hw_sysfs_wait_idle(t->host, 10 * USEC_PER_SEC), 0);
        assert_false(hw_sysfs_write_pending(t->host, GPU0, NULL));
        assert_int_equal(hw_sysfs_write(t->host, GPU0, other, "D0"), 0);
}

static void test_host_outlives_blocked_write(void **state) {
        Test *t = *state;
        _cleanup_free_ char *fifo = fake_host_path(t->fake, "sys/bus/pci/devices/%s/stuck", GPU1);
        HwHost *h;
        char c;

        /* A second owner of the host lets the test wait for the thread after
         * its own reference is gone; the thread keeps one of its own. */
        assert_int_equal(mkfifo(fifo, 0600), 0);
        assert_int_equal(hw_host_new(fake_host_root(t->fake), false, &h), 0);
        hw_host_set_write_timeout(h, TIMEOUT_USEC);
        assert_int_equal(hw_sysfs_write(h, GPU1, fifo, "x"), -ETIMEDOUT);
        hw_host_ref(h);
        hw_host_free(h);
        assert_true(hw_sysfs_write_pending(h, GPU1, NULL));
        {
                _cleanup_close_ int reader = open(fifo, O_RDONLY | O_CLOEXEC);
                assert_true(reader >= 0);
                assert_int_equal(read(reader, &c, 1), 1);
        }
        assert_int_equal(hw_sysfs_wait_idle(h, 10 * USEC_PER_SEC), 0);
        hw_host_free(h);
}

static void test_blocked_unbind(void **state) {
        Test *t = *state;
        _cleanup_free_ char *driver = NULL, *back = fake_host_path(t->fake, "sys/bus/pci/drivers/nvidia/%s", GPU0);
        struct stat st;

        /* The simulated kernel's remove that waits for the last user: the
         * driver links are gone, the remove has not returned. */
        assert_int_equal(fake_host_release_unbind(t->fake, GPU0), -ENOENT);
        assert_int_equal(fake_host_block_unbind(t->fake, GPU0), 0);
        assert_int_equal(fake_host_release_unbind(t->fake, GPU0), -ENXIO); /* nothing waits yet */
        assert_int_equal(hw_pci_unbind(t->host, GPU0), -ETIMEDOUT);
        assert_int_equal(hw_pci_get_driver(t->host, GPU0, &driver), 0);
        assert_null(driver);
        assert_true(hw_sysfs_write_pending(t->host, GPU0, NULL));
        assert_int_equal(hw_pci_bind(t->host, GPU0, "nvidia"), -EDEADLK);
        assert_int_equal(hw_pci_reset(t->host, GPU0), -EDEADLK);
        /* The other GPU unbinds and binds as ever. */
        assert_int_equal(hw_pci_unbind(t->host, GPU1), 0);
        assert_int_equal(hw_pci_bind(t->host, GPU1, "nvidia"), 0);

        assert_int_equal(fake_host_release_unbind(t->fake, GPU0), 0);
        assert_int_equal(hw_sysfs_wait_idle(t->host, 10 * USEC_PER_SEC), 0);
        assert_int_equal(lstat(back, &st), -1);
        assert_int_equal(hw_pci_bind(t->host, GPU0, "nvidia"), 0);
        free(driver);
        assert_int_equal(hw_pci_get_driver(t->host, GPU0, &driver), 0);
        assert_string_equal(driver, "nvidia");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_timeout_default),
                cmocka_unit_test_setup_teardown(test_write, setup, teardown),
                cmocka_unit_test_setup_teardown(test_blocked_write, setup, teardown),
                cmocka_unit_test_setup_teardown(test_host_outlives_blocked_write, setup, teardown),
                cmocka_unit_test_setup_teardown(test_blocked_unbind, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
