/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdlib.h>

#include "ctl-model.h"
#include "macro.h"

void ctl_strv_free(char **l) {
        for (char **i = l; i && *i; i++)
                free(*i);
        free(l);
}

void ctl_device_init(CtlDevice *d) {
        assert(d);

        *d = (CtlDevice) {
                .iommu_group = -1,
                .numa_node = -1,
        };
}

void ctl_device_done(CtlDevice *d) {
        if (!d)
                return;
        free(d->object_path);
        free(d->address);
        free(d->name);
        free(d->kind);
        free(d->architecture);
        free(d->cc_mode);
        free(d->ppcie_mode);
        free(d->driver);
        ctl_strv_free(d->group_members);
        free(d->vfio_device);
        free(d->vfio_cdev);
        ctl_device_init(d);
}

void ctl_runtime_class_init(CtlRuntimeClass *rc) {
        assert(rc);

        *rc = (CtlRuntimeClass) {};
}

void ctl_runtime_class_done(CtlRuntimeClass *rc) {
        if (!rc)
                return;
        free(rc->object_path);
        free(rc->name);
        free(rc->reference);
        free(rc->digest);
        free(rc->directory);
        ctl_strv_free(rc->files);
        free(rc->containerd_handler);
        ctl_runtime_class_init(rc);
}

void ctl_host_init(CtlHost *h) {
        assert(h);

        *h = (CtlHost) {};
}

void ctl_host_done(CtlHost *h) {
        if (!h)
                return;
        free(h->version);
        free(h->host_tee);
        free(h->default_mode);
        free(h->mode);
        free(h->mode_state);
        free(h->last_error);
        for (size_t i = 0; i < h->n_devices; i++)
                ctl_device_done(&h->devices[i]);
        free(h->devices);
        for (size_t i = 0; i < h->n_runtime_classes; i++)
                ctl_runtime_class_done(&h->runtime_classes[i]);
        free(h->runtime_classes);
        ctl_host_init(h);
}

CtlDevice *ctl_host_add_device(CtlHost *h) {
        CtlDevice *n;

        assert(h);

        n = reallocarray(h->devices, h->n_devices + 1, sizeof(CtlDevice));
        if (!n)
                return NULL;
        h->devices = n;
        ctl_device_init(&h->devices[h->n_devices]);
        return &h->devices[h->n_devices++];
}

CtlRuntimeClass *ctl_host_add_runtime_class(CtlHost *h) {
        CtlRuntimeClass *n;

        assert(h);

        n = reallocarray(h->runtime_classes, h->n_runtime_classes + 1, sizeof(CtlRuntimeClass));
        if (!n)
                return NULL;
        h->runtime_classes = n;
        ctl_runtime_class_init(&h->runtime_classes[h->n_runtime_classes]);
        return &h->runtime_classes[h->n_runtime_classes++];
}

static int device_compare(const void *a, const void *b) {
        const CtlDevice *x = a, *y = b;
        int r;

        /* Addresses have one fixed format, so strcmp() sorts them by
         * domain, bus, device and function; the object path breaks ties
         * and puts devices without an address in a stable place. */
        r = strcmp(strempty(x->address), strempty(y->address));
        if (r != 0)
                return r;
        return strcmp(strempty(x->object_path), strempty(y->object_path));
}

void ctl_host_sort_devices(CtlHost *h) {
        assert(h);

        if (h->n_devices > 1)
                qsort(h->devices, h->n_devices, sizeof(CtlDevice), device_compare);
}

static int runtime_class_compare(const void *a, const void *b) {
        const CtlRuntimeClass *x = a, *y = b;
        int r;

        r = strcmp(strempty(x->name), strempty(y->name));
        if (r != 0)
                return r;
        return strcmp(strempty(x->object_path), strempty(y->object_path));
}

void ctl_host_sort_runtime_classes(CtlHost *h) {
        assert(h);

        if (h->n_runtime_classes > 1)
                qsort(h->runtime_classes, h->n_runtime_classes, sizeof(CtlRuntimeClass), runtime_class_compare);
}
