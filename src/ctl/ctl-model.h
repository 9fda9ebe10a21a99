/* SPDX-License-Identifier: MIT */
#pragma once

/* What nvidia-ccctl reads from the bus: the Manager's properties and one
 * entry per Gpu object.  Strings the daemon did not send stay NULL. */

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
        int32_t numa_node;      /* -1 when none */
} CtlDevice;

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
} CtlHost;

void ctl_device_init(CtlDevice *d);
void ctl_device_done(CtlDevice *d);

void ctl_host_init(CtlHost *h);
void ctl_host_done(CtlHost *h);

/* Appends a device set up with ctl_device_init(); NULL on OOM. */
CtlDevice *ctl_host_add_device(CtlHost *h);

/* By address, so the output does not follow the bus's hash order. */
void ctl_host_sort_devices(CtlHost *h);

void ctl_strv_free(char **l);
