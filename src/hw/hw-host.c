/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "bar0.h"
#include "fileio.h"
#include "hw-host.h"
#include "kmod-vfio.h"
#include "pci-config.h"
#include "sysfs-write.h"

struct HwHost {
        atomic_uint n_ref;
        char *root;     /* canonical, no trailing slash except for "/" */
        const HwHostOps *ops;
        _Atomic uint64_t write_timeout_usec;
        struct HwPendingWrites *pending;
};

static int kernel_write_attribute(HwHost *h, const char *path, const char *value) {
        return write_attribute(path, value);
}

const HwHostOps hw_host_ops_kernel = {
        .write_attribute = kernel_write_attribute,
        .bar0_open = bar0_open_mmio,
        .load_module = hw_kmod_load_module,
        .config_open = pci_config_open_sysfs,
};

int hw_host_new(const char *root, const HwHostOps *ops, HwHost **ret) {
        _cleanup_free_ HwHost *h = NULL;
        char *canonical;

        assert(ret);

        /* Canonical, so that paths built here compare equal to the ones
         * realpath() gives for them. */
        canonical = realpath(root && *root ? root : "/", NULL);
        if (!canonical)
                return -errno;

        h = calloc(1, sizeof(*h));
        if (!h) {
                free(canonical);
                return -ENOMEM;
        }
        h->pending = hw_pending_writes_new();
        if (!h->pending) {
                free(canonical);
                return -ENOMEM;
        }
        atomic_init(&h->n_ref, 1);
        h->root = canonical;
        h->ops = ops ? ops : &hw_host_ops_kernel;
        h->write_timeout_usec = HW_WRITE_TIMEOUT_USEC_DEFAULT;
        *ret = TAKE_PTR(h);
        return 0;
}

HwHost *hw_host_ref(HwHost *h) {
        assert(h);
        atomic_fetch_add(&h->n_ref, 1);
        return h;
}

HwHost *hw_host_free(HwHost *h) {
        if (!h)
                return NULL;
        if (atomic_fetch_sub(&h->n_ref, 1) > 1)
                return NULL;
        hw_pending_writes_free(h->pending);
        free(h->root);
        free(h);
        return NULL;
}

const char *hw_host_root(const HwHost *h) {
        assert(h);
        return h->root;
}

const HwHostOps *hw_host_ops(const HwHost *h) {
        assert(h);
        return h->ops;
}

void hw_host_set_write_timeout(HwHost *h, uint64_t usec) {
        assert(h);
        h->write_timeout_usec = usec > 0 ? usec : HW_WRITE_TIMEOUT_USEC_DEFAULT;
}

uint64_t hw_host_get_write_timeout(const HwHost *h) {
        assert(h);
        return h->write_timeout_usec;
}

struct HwPendingWrites *hw_host_pending_writes(HwHost *h) {
        assert(h);
        return h->pending;
}

char *hw_path(const HwHost *h, const char *fmt, ...) {
        _cleanup_free_ char *rel = NULL;
        const char *p;
        char *path;
        va_list ap;
        int k;

        assert(h);
        assert(fmt);

        va_start(ap, fmt);
        k = vasprintf(&rel, fmt, ap);
        va_end(ap);
        if (k < 0)
                return NULL;

        /* Tolerate an absolute format: every host path lives under the root. */
        for (p = rel; *p == '/'; p++)
                ;

        if (streq(h->root, "/"))
                k = asprintf(&path, "/%s", p);
        else
                k = asprintf(&path, "%s/%s", h->root, p);
        return k < 0 ? NULL : path;
}
