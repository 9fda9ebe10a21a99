/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "bar0.h"

typedef struct Bar0Mmio {
        volatile uint8_t *base;
        size_t size;
} Bar0Mmio;

static uint32_t mmio_read32(void *impl, uint32_t offset) {
        Bar0Mmio *m = impl;

        /* Outside the window reads like a device that does not answer. */
        if (offset % 4 != 0 || (size_t) offset + 4 > m->size)
                return UINT32_MAX;
        return *(volatile uint32_t *) (m->base + offset);
}

static void mmio_write32(void *impl, uint32_t offset, uint32_t value) {
        Bar0Mmio *m = impl;

        if (offset % 4 != 0 || (size_t) offset + 4 > m->size)
                return;
        *(volatile uint32_t *) (m->base + offset) = value;
}

static void mmio_close(void *impl) {
        Bar0Mmio *m = impl;

        if (!m)
                return;
        if (m->base)
                munmap((void *) m->base, m->size);
        free(m);
}

static const Bar0Ops mmio_ops = {
        .read32 = mmio_read32,
        .write32 = mmio_write32,
        .close = mmio_close,
};

static int map_resource(const char *path, Bar0 **ret) {
        _cleanup_close_ int fd = -1;
        Bar0Mmio *m;
        Bar0 *b;
        struct stat st;
        size_t size = BAR0_SIZE;
        void *p;

        fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        /* sysfs gives resource0 the size of the BAR; never map past it. */
        if (S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t) st.st_size < size)
                size = (size_t) st.st_size;

        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return -errno;

        m = malloc(sizeof(*m));
        b = malloc(sizeof(*b));
        if (!m || !b) {
                free(m);
                free(b);
                munmap(p, size);
                return -ENOMEM;
        }
        m->base = p;
        m->size = size;
        b->ops = &mmio_ops;
        b->impl = m;
        *ret = b;
        return 0;
}

int bar0_open_mmio(HwHost *h, const char *bdf, Bar0 **ret, CcError *err) {
        _cleanup_free_ char *path = NULL;
        int r;

        assert(h);
        assert(bdf);
        assert(ret);

        path = hw_path(h, "sys/bus/pci/devices/%s/resource0", bdf);
        if (!path)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        r = map_resource(path, ret);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, -r, "cannot map BAR0 %s: %s", path, strerror(-r));
        return 0;
}

int bar0_open(HwHost *h, const char *bdf, Bar0 **ret, CcError *err) {
        assert(h);
        assert(bdf);
        assert(ret);

        return hw_host_ops(h)->bar0_open(h, bdf, ret, err);
}

Bar0 *bar0_close(Bar0 *b) {
        if (!b)
                return NULL;
        if (b->ops->close)
                b->ops->close(b->impl);
        free(b);
        return NULL;
}
