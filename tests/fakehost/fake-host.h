/* SPDX-License-Identifier: MIT */
#pragma once

/* A typed builder of fake host trees (sysfs, /dev/vfio, kvm parameters)
 * laid out as the kernel lays out /sys, which src/sim/kernel-sim.c plays the
 * kernel on:
 *
 *   FakeHost *host = fake_host_new();
 *   fake_host_add_gpu(host, "0000:65:00.0", 0x2330, &(FakeGpuOptions) {
 *           .driver = "nvidia", .iommu_group = 12, .boot_ms = 50 });
 *   sim_host_new(fake_host_root(host), &h);
 *
 * Each device is a directory sys/devices/pci<domain>:<bus>/<bdf> (below its
 * bridges, when fake_host_add_bridge_to put one above its bus) with a
 * `subsystem` link; sys/bus/pci/devices/<bdf> links to it; the `driver` and
 * `iommu_group` links and their counterparts in drivers/<drv>/ and
 * iommu_groups/<N>/devices/ point both ways, relative, as sysfs's do.
 * NVIDIA Hopper, Blackwell and LS10 devices get a simulator state file
 * (gpusim.ini) so their BAR0 answers. */

#include <stdbool.h>
#include <stdint.h>

#include "cc-hw.h"
#include "macro.h"

#define FAKE_NO_IOMMU (-1)

typedef struct FakeGpuOptions {
        const char *driver;         /* bound driver; NULL: unbound */
        const char *default_driver; /* what drivers_probe picks; NULL: driver */
        int iommu_group;            /* 0: a fresh group; FAKE_NO_IOMMU: none */
        int numa_node;
        unsigned boot_ms;           /* simulated boot time after a reset */
        unsigned fsp_latency_ms;
        DeviceCcMode mode;          /* initial mode of the simulator */
        uint32_t class_code;        /* 0: 0x030200 for GPUs, 0x068000 for NVSwitches */
        uint16_t subsystem_device;  /* subsystem vendor is NVIDIA */
        bool no_gpusim;             /* no simulator state, even for a capable id */
} FakeGpuOptions;

typedef struct FakeHost FakeHost;

/* A fresh tree in a new directory under $TMPDIR (or /tmp), removed by
 * fake_host_free. */
FakeHost *fake_host_new(void);
/* A tree at root (created when missing), also removed by fake_host_free
 * unless fake_host_keep says to leave it for another program. */
FakeHost *fake_host_new_at(const char *root);
void fake_host_keep(FakeHost *host);
FakeHost *fake_host_free(FakeHost *host);
DEFINE_TRIVIAL_CLEANUP_FUNC(FakeHost *, fake_host_free);

const char *fake_host_root(const FakeHost *host);
/* "<root>/<relative>" (malloc'ed). */
char *fake_host_path(const FakeHost *host, const char *fmt, ...) _printf_(2, 3);

/* opts may be NULL (unbound, fresh IOMMU group, NUMA 0, instant boot, off). */
int fake_host_add_gpu(FakeHost *host, const char *bdf, uint16_t device_id, const FakeGpuOptions *opts);
int fake_host_add_nvswitch(FakeHost *host, const char *bdf, uint16_t device_id, const FakeGpuOptions *opts);

/* Any other function (NIC, audio, bridge).  iommu_group as for GPUs. */
int fake_host_add_device(FakeHost *host, const char *bdf, uint16_t vendor_id, uint16_t device_id,
                         uint32_t class_code, const char *driver, int iommu_group);

/* An SR-IOV virtual function of pf: same vendor and class, `physfn` link. */
int fake_host_add_virtfn(FakeHost *host, const char *pf_bdf, const char *vf_bdf, uint16_t device_id);

/* A driver directory (bind, unbind, new_id, remove_id), as if its module
 * were loaded.  "nvidia" and "vfio-pci" exist from the start. */
int fake_host_add_driver(FakeHost *host, const char *driver);

/* "tdx", "sev-snp" or "none": the kvm module parameters that say so. */
int fake_host_set_tee(FakeHost *host, const char *tee);

/* Writes a file under the root (parents created), e.g. to set a kvm
 * parameter to "1" or to break an attribute. */
int fake_host_write(FakeHost *host, const char *relative, const char *content);

/* A device from a snapshot in the format of tests/fixtures/h100-sxm5-host.txt;
 * *ret_bdf (optional) gets its address. */
int fake_host_add_from_fixture(FakeHost *host, const char *path, char **ret_bdf);

/* Functions that share a GPU's IOMMU group, and strangers.  iommu_group as
 * for GPUs; driver NULL: unbound. */
int fake_host_add_audio(FakeHost *host, const char *bdf, int iommu_group, const char *driver);  /* NVIDIA HDA, class 0x0403 */
int fake_host_add_usb(FakeHost *host, const char *bdf, int iommu_group, const char *driver);    /* NVIDIA xHCI, class 0x0c03 */
int fake_host_add_ucsi(FakeHost *host, const char *bdf, int iommu_group, const char *driver);   /* NVIDIA USB-C UCSI, class 0x0c80 */
int fake_host_add_bridge(FakeHost *host, const char *bdf, int iommu_group);                     /* PCIe switch port, pcieport */

/* A PCIe switch port whose secondary bus is secondary_bus: devices added
 * afterwards on that bus (in its domain) sit below it in sys/devices, as on
 * a real HGX board where each GPU is behind a switch. */
int fake_host_add_bridge_to(FakeHost *host, const char *bdf, unsigned secondary_bus, int iommu_group);

/* The canonical directory of a device, where sys/bus/pci/devices/<bdf>
 * leads (malloc'ed; NULL when absent). */
char *fake_host_device_dir(const FakeHost *host, const char *bdf);
int fake_host_add_nic(FakeHost *host, const char *bdf, int iommu_group, const char *driver);    /* Mellanox ConnectX-7 */

/* The kernel's module alias tables under lib/modules/<uname -r>/:
 * modules.alias (text) and modules.alias.bin (the index libkmod reads).
 * Every tree has vfio_pci's catch-all "vfio_pci:v*d*sv*sd*bc*sc*i*"; extra
 * is a NULL-terminated list of "PATTERN MODULE" lines added to it. */
int fake_host_set_modules_alias(FakeHost *host, const char *const *extra);

/* /dev/iommu: the kernel gives each device bound to vfio its own
 * /dev/vfio/devices/vfioN. */
int fake_host_enable_iommufd(FakeHost *host);

/* The next bind of bdf to a vfio driver fails with errno_value (0 clears). */
int fake_host_inject_bind_error(FakeHost *host, const char *bdf, int errno_value);

/* Removes sys/kernel/iommu_groups, as on a kernel without an IOMMU driver. */
int fake_host_remove_iommu_groups(FakeHost *host);

/* Processes and the nvidia driver's /proc (fake-procs.c).  Every NVIDIA GPU
 * gets /proc/driver/nvidia/gpus/<bdf>/information with the next free
 * "Device Minor:" and a /dev/nvidia<minor> node (a regular file), in the
 * order the GPUs are added, as the driver numbers them at probe. */
int fake_host_add_nvidia_gpu_entry(FakeHost *host, const char *bdf, uint16_t device_id);

/* "/dev/nvidia<minor>" of the GPU (malloc'ed), NULL when it has none. */
char *fake_host_nvidia_node(FakeHost *host, const char *bdf);

/* A process pid running program comm and holding node (a host path such as
 * "/dev/nvidia0" or "/dev/vfio/3") open: /proc/<pid>/comm (cut to 15 bytes,
 * as the kernel keeps it), /proc/<pid>/cmdline and a /proc/<pid>/fd/<n>
 * link to the node under the root. */
int fake_host_add_holder(FakeHost *host, int pid, const char *comm, const char *node);

/* The next unbind of bdf blocks in the simulated kernel, after the driver
 * links are gone, until fake_host_release_unbind() (kernel-sim.c's
 * sim_unbind_fifo hook). */
int fake_host_block_unbind(FakeHost *host, const char *bdf);
/* -ENXIO when no unbind is blocked. */
int fake_host_release_unbind(FakeHost *host, const char *bdf);
