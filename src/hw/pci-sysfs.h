/* SPDX-License-Identifier: MIT */
#pragma once

/* Per-device sysfs reads and the driver/reset writes.  Every write goes
 * through the host's operations (hw-host.h), which give it the kernel's
 * effect. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw-host.h"
#include "strv.h"

bool hw_pci_device_exists(HwHost *h, const char *bdf);

/* Driver bound now ("nvidia", "vfio-pci"), or *ret = NULL when unbound. */
int hw_pci_get_driver(HwHost *h, const char *bdf, char **ret);

/* IOMMU group number, -1 when the device has none (no IOMMU). */
int hw_pci_get_iommu_group(HwHost *h, const char *bdf, int *ret);

/* BDFs in the device's IOMMU group, sorted; NULL-terminated strv. Empty when
 * there is no group. */
int hw_pci_get_group_members(HwHost *h, const char *bdf, char ***ret);

int hw_pci_get_numa_node(HwHost *h, const char *bdf, int *ret);

/* "/dev/vfio/<group>" when the group's node exists, else "". The returned
 * path is the host path (without the root prefix). */
int hw_pci_get_vfio_device(HwHost *h, const char *bdf, char **ret);

/* Unbinds from the current driver; no-op when unbound. */
int hw_pci_unbind(HwHost *h, const char *bdf);

/* Binds to driver by writing the BDF to /sys/bus/pci/drivers/<driver>/bind. */
int hw_pci_bind(HwHost *h, const char *bdf, const char *driver);

/* Writes "1" to the device's reset attribute; blocks until the kernel's reset
 * is done (callers run it off the event loop). */
int hw_pci_reset(HwHost *h, const char *bdf);

/* Whether s is a PCI address as sysfs names devices ("0000:65:00.0").  Every
 * function here refuses other strings, so a caller's string never escapes
 * the device directory. */
bool hw_pci_bdf_is_valid(const char *s);

/* Whether the function is an SR-IOV virtual function (has a `physfn` link). */
bool hw_pci_is_virtfn(HwHost *h, const char *bdf);

/* driver_override: *ret = NULL when none is set.  Setting NULL or "" clears it. */
int hw_pci_get_driver_override(HwHost *h, const char *bdf, char **ret);
int hw_pci_set_driver_override(HwHost *h, const char *bdf, const char *driver);

/* Writes the BDF to /sys/bus/pci/drivers_probe: the kernel binds an unbound
 * device to its driver_override, or to the best matching driver. */
int hw_pci_probe(HwHost *h, const char *bdf);

/* Vendor, device and 24-bit class code from the sysfs attributes. */
int hw_pci_get_ids(HwHost *h, const char *bdf, uint16_t *ret_vendor, uint16_t *ret_device, uint32_t *ret_class);

/* The device's modalias ("pci:v000010DEd00002330sv...").  -ENOENT when the
 * attribute is missing. */
int hw_pci_get_modalias(HwHost *h, const char *bdf, char **ret);

/* Whether the driver is vfio-pci or one of its variant drivers
 * (nvgrace_gpu_vfio_pci, mlx5_vfio_pci, ...). */
bool hw_driver_is_vfio(const char *driver);

/* The iommufd character device of a device bound to a vfio driver,
 * "/dev/vfio/devices/vfioN" from the device's vfio-dev/ directory, or ""
 * when the kernel gives it none (no iommufd, or not bound to vfio). */
int hw_pci_get_vfio_cdev(HwHost *h, const char *bdf, char **ret);

/* Whether the host has iommufd (/dev/iommu). */
bool hw_iommufd_present(HwHost *h);
