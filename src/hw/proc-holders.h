/* SPDX-License-Identifier: MIT */
#pragma once

/* The processes holding a PCI device open.  A driver cannot let go of a
 * device while a process uses it: the nvidia driver's remove waits for the
 * last close of /dev/nvidia<minor>, vfio-pci's for the VM that has the
 * group.  They are found as fuser(1) finds them, from every
 * /proc/<pid>/fd/<n>: an fd whose file is a character device matches a node
 * by device number (st_rdev), so a process in a container, whose /dev has a
 * node of its own for the same device, counts too; on a fake tree, where
 * the nodes are regular files, an fd matches the node it resolves to under
 * the root.  /proc is taken under the host root like /sys and /dev. */

#include <stddef.h>
#include <sys/types.h>

#include "hw-host.h"

/* The character device number of /dev/nvidia<minor> (NV_MAJOR_DEVICE_NUMBER). */
#define HW_NVIDIA_MAJOR 195

typedef struct HwHolder {
        int pid;
        /* /proc/<pid>/comm; the kernel cuts it to 15 bytes, so a comm that
         * long is completed from the name of the program in
         * /proc/<pid>/cmdline when that starts with it ("nvidia-persiste"
         * is nvidia-persistenced). */
        char comm[64];
} HwHolder;

typedef struct HwHolders {
        HwHolder *holders;   /* sorted by pid, each once */
        size_t n;
} HwHolders;

void hw_holders_done(HwHolders *h);
void hw_holders_array_free(HwHolders *a, size_t n);

/* A device node as processes hold it. */
typedef struct HwDevNode {
        char *path;      /* host path ("/dev/nvidia0") */
        dev_t rdev;      /* its device number when the node is missing
                          * under the root (it may exist only in a
                          * container's /dev); 0: none known */
} HwDevNode;

void hw_dev_nodes_free(HwDevNode *nodes, size_t n);

/* The minor of /dev/nvidia<minor>, the "Device Minor:" line of
 * /proc/driver/nvidia/gpus/<bdf>/information; -ENOENT when the nvidia
 * driver does not list the device. */
int hw_nvidia_minor(HwHost *h, const char *bdf, unsigned *ret);

/* The nodes through which a process holds bdf, given the driver it is
 * bound to: /dev/nvidia<minor> for nvidia; for a vfio driver the group's
 * /dev/vfio/<group> and, with iommufd, the device's /dev/vfio/devices/vfioN.
 * None for other drivers or none. */
int hw_pci_holder_nodes(HwHost *h, const char *bdf, const char *driver, HwDevNode **ret, size_t *ret_n);

/* ret[i]: the processes holding nodes[i] open, from one walk over /proc.
 * Processes that vanish during the walk, and those whose fds cannot be read
 * (another user's, without CAP_SYS_PTRACE), are not listed; *ret_hidden
 * (optional) counts the latter. */
int hw_find_node_holders(HwHost *h, const HwDevNode *nodes, size_t n, HwHolders **ret, unsigned *ret_hidden);

/* ret[i]: the processes holding bdfs[i] (NULL-terminated) through the nodes
 * of the driver it is bound to now. */
int hw_pci_find_holders(HwHost *h, char *const *bdfs, HwHolders **ret);
