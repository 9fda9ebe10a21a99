/* SPDX-License-Identifier: MIT */
#pragma once

/* What nvidia-ccctl reads from the bus: the Manager's properties, one
 * entry per Gpu object and one per RuntimeClass object.  Strings the daemon
 * did not send stay NULL. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct CtlDevice {
        char *object_path;
        char *address;
        uint16_t vendor_id;
        uint16_t device_id;
        char *name;
        char *kind;
        char *architecture;
        bool cc_capable;
        bool ppcie_capable;
        char *cc_mode;
        char *ppcie_mode;
        char *driver;           /* "" when none */
        int32_t iommu_group;    /* -1 when none */
        char **group_members;
        char *vfio_device;      /* "" when none */
        char *vfio_cdev;        /* "" when none (no iommufd, or not on VFIO) */
        int32_t numa_node;      /* -1 when none */
} CtlDevice;

typedef struct CtlRuntimeClass {
        char *object_path;
        char *name;
        char *reference;
        char *digest;           /* sha256:<64 hex> */
        char *directory;
        char **files;
        char *containerd_handler;  /* "" when not registered */
        uint64_t installed_at;  /* µs since the epoch, 0 when unknown */
} CtlRuntimeClass;

typedef struct CtlHost {
        char *version;
        char *host_tee;
        char *default_mode;     /* "" when none is configured */
        char *mode;
        char *mode_state;
        char *last_error;       /* "" after success */
        bool cc_capable;
        bool have_manager;      /* the Manager's properties were read */

        CtlDevice *devices;
        size_t n_devices;

        CtlRuntimeClass *runtime_classes;
        size_t n_runtime_classes;
} CtlHost;

void ctl_device_init(CtlDevice *d);
void ctl_device_done(CtlDevice *d);

void ctl_runtime_class_init(CtlRuntimeClass *rc);
void ctl_runtime_class_done(CtlRuntimeClass *rc);

void ctl_host_init(CtlHost *h);
void ctl_host_done(CtlHost *h);

/* Appends a device set up with ctl_device_init(); NULL on OOM. */
CtlDevice *ctl_host_add_device(CtlHost *h);

/* Appends a runtime class set up with ctl_runtime_class_init(); NULL on OOM. */
CtlRuntimeClass *ctl_host_add_runtime_class(CtlHost *h);

/* By address, so the output does not follow the bus's hash order. */
void ctl_host_sort_devices(CtlHost *h);
/* By name. */
void ctl_host_sort_runtime_classes(CtlHost *h);

void ctl_strv_free(char **l);
