/* SPDX-License-Identifier: MIT */
#pragma once

/* The device plugin's view of the host, without sd-bus or the loop: the
 * daemon's Gpu objects (DpGpu, kept by ccd-gpus.c) become resources, each a
 * list of devices as kubelet sees them (k8s-node-facts.md, section 2):
 *
 * - every GPU (NVSwitch) whose Driver is a VFIO driver, one device per
 *   IOMMU group, the first function of the group in address order standing
 *   for it;
 * - ID: the group number; with iommufd (the GPU has a VfioCdev) the N of
 *   its vfioN, kept while the GPU stays on VFIO so that a vanished node
 *   makes the device unhealthy rather than renamed;
 * - health: its device node exists (VfioDevice, or VfioCdev with iommufd),
 *   and nvidia-ccd is on the bus;
 * - topology: its NUMA node (none when the daemon reports -1);
 * - device nodes, given to the container with "mrw": /dev/vfio/vfio and
 *   /dev/vfio/<group>, or with iommufd the vfioN node of every function of
 *   the group (GroupVfioCdevs) and /dev/iommu, never both kinds (QEMU
 *   refuses a device attached twice).  nvidia-ccd's CDI spec of the
 *   resource names the same nodes under the same IDs. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DP_HEALTHY "Healthy"
#define DP_UNHEALTHY "Unhealthy"
#define DP_PERMISSIONS "mrw"

typedef struct DpGpu {
        char *path;          /* the Gpu object's path: the key */
        char *address;
        char *kind;          /* "gpu" or "nvswitch" */
        char *name;          /* from pci.ids; "" when it has none */
        uint16_t device_id;
        char *driver;
        int iommu_group;     /* -1: none */
        char *vfio_device;   /* "" when the node does not exist */
        char *vfio_cdev;     /* "" when none */
        char **group_cdevs;  /* strv, never NULL */
        int numa_node;
        int cdev_id;         /* the N of the last vfioN seen while on VFIO; -1: none */
} DpGpu;

DpGpu *dp_gpu_new(const char *path);
DpGpu *dp_gpu_free(DpGpu *g);
/* Updates cdev_id after a change of driver or vfio_cdev. */
void dp_gpu_note(DpGpu *g);

typedef struct DpDevice {
        char id[16];
        bool healthy;
        int numa_node;       /* -1: no topology */
        char **nodes;        /* host paths, the same in the container */
} DpDevice;

typedef struct DpResource {
        char *name;          /* nvidia.com/pgpu */
        bool cdi;            /* the name is a valid CDI kind: Allocate names CDI devices */
        DpDevice *devices;   /* sorted by ID as a number */
        size_t n_devices;
} DpResource;

typedef struct DpOptions {
        const char *resource_name;           /* NULL: one resource per GPU model */
        const char *nvswitch_resource_name;  /* NULL: NVSwitches are not offered */
        bool daemon_present;
} DpOptions;

typedef struct DpInventory {
        DpResource *resources;
        size_t n_resources;
} DpInventory;

/* gpus in any order.  Resources: options->resource_name always, else one
 * per GPU model among the objects (whatever their driver); the NVSwitch
 * resource when there is an NVSwitch. */
int dp_inventory_build(DpGpu *const *gpus, size_t n_gpus, const DpOptions *options, DpInventory **ret);
DpInventory *dp_inventory_free(DpInventory *inv);
const DpResource *dp_inventory_find(const DpInventory *inv, const char *name);

/* For a resource built elsewhere (tests, fuzzing) and for copies. */
int dp_resource_copy(const DpResource *from, DpResource *to);
void dp_resource_done(DpResource *r);
bool dp_resource_equal(const DpResource *a, const DpResource *b);
const DpDevice *dp_resource_find(const DpResource *r, const char *id);

/* GetPreferredAllocation for one container: the must-include IDs first
 * (in their order), then from the available ones those of one NUMA node:
 * the must-include devices' node when it has enough, else the node with
 * the fewest that still has enough (keeping larger nodes whole), else the
 * node with the most; then any.  IDs are taken in numeric order.  Returns
 * -EINVAL with *ret_error set for a size below the must-include count or
 * above what is available. */
int dp_preferred_allocation(const DpResource *r, char *const *available, size_t n_available, char *const *must,
                            size_t n_must, int size, char ***ret, char **ret_error);

/* Allocate for one container: the device nodes of the IDs (each once, in
 * request order) and their CDI names ("<resource>=<ID>", none when the
 * resource is no CDI kind).  An ID that is not a device of the resource
 * gives -ENOENT, an unhealthy one -EAGAIN, a repeated one -EINVAL; *ret_error
 * names it. */
int dp_allocate(const DpResource *r, char *const *ids, size_t n_ids, char ***ret_nodes, char ***ret_cdi,
                char **ret_error);
