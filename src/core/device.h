/* SPDX-License-Identifier: MIT */
#pragma once

/* The device model: what the daemon knows of each NVIDIA GPU and NVSwitch
 * (and of each ExtraDevices match), and the inventory of them.  Filled by
 * discovery from hw/, read by daemon/ for properties. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cc-hw.h"
#include "config.h"
#include "hw-host.h"

#define NVIDIA_VENDOR_ID 0x10de

typedef enum DeviceKind {
        DEVICE_KIND_GPU,
        DEVICE_KIND_NVSWITCH,
} DeviceKind;

/* Where the CC mode of a device was read. */
typedef enum CcModeSource {
        CC_MODE_SOURCE_NONE,  /* not read: not capable, or nothing answered */
        CC_MODE_SOURCE_NVML,  /* the nvidia driver, through NVML */
        CC_MODE_SOURCE_BAR0,  /* the status register, through BAR0 */
} CcModeSource;

const char *cc_mode_source_to_string(CcModeSource s); /* "none" "nvml" "bar0" */

typedef struct CcDevice {
        char bdf[16];
        uint16_t vendor_id;
        uint16_t device_id;
        uint32_t class_code;
        char *name;
        DeviceKind kind;
        GpuArch arch;
        GpuChip chip;
        bool cc_capable;
        bool ppcie_capable;
        DeviceCcMode cc_mode;
        DeviceCcMode ppcie_mode;   /* DEVICE_CC_ON/OFF/UNKNOWN */
        DeviceCcMode nvlink_encryption; /* Blackwell: 0x590 bit 6; ON/OFF/UNKNOWN */
        DeviceCcMode bar0_firewall;     /* Blackwell: 0x590 bit 2; ON/OFF/UNKNOWN */
        CcModeSource mode_source;  /* where discovery read cc_mode and ppcie_mode */
        char *driver;              /* "" when none */
        /* The driver a switch took it from and could not bind it back to,
         * its unbind still blocked in the kernel (sysfs-write.h); the next
         * switch binds it again.  NULL when none. */
        char *restore_driver;
        int iommu_group;           /* -1 when none */
        char **group_members;      /* strv, never NULL */
        char *vfio_device;         /* "/dev/vfio/<group>", "" when none */
        char *vfio_cdev;           /* iommufd: "/dev/vfio/devices/vfioN", "" when none */
        char **group_vfio_cdevs;   /* iommufd: the vfioN node of each member bound to VFIO; strv, never NULL */
        int numa_node;
} CcDevice;

const char *device_kind_to_string(DeviceKind k); /* "gpu" "nvswitch" */

/* Architecture and chip by id range, capabilities from the ids (the
 * built-in table of CC-capable parts of docs/hardware.md, or
 * CcCapableDeviceIds when set). */
GpuArch cc_device_arch(uint16_t vendor_id, uint16_t device_id, uint32_t class_code);
GpuChip cc_device_chip(uint16_t vendor_id, uint16_t device_id, uint32_t class_code);
bool cc_device_is_cc_capable(const CcConfig *c, uint16_t vendor_id, uint16_t device_id, uint32_t class_code);
bool cc_device_is_ppcie_capable(uint16_t vendor_id, uint16_t device_id, uint32_t class_code);

/* The name the Name property shows: pci_name (pci.ids, through libpci)
 * when it has one, else the built-in name of a part the ranges above know,
 * else "Device 2335" as lspci writes an unknown id.  malloc'ed; NULL on OOM. */
char *cc_device_name(const char *pci_name, uint16_t vendor_id, uint16_t device_id);
/* The built-in name alone (NULL when there is none), and the table entry by
 * entry (false past the end), for tests. */
const char *cc_device_builtin_name(uint16_t vendor_id, uint16_t device_id);
bool cc_device_builtin_name_at(size_t i, uint16_t *ret_device_id, const char **ret_name);

/* nvswitch for NVIDIA class 0x0680, else gpu. */
DeviceKind cc_device_kind(uint16_t vendor_id, uint32_t class_code);

/* Whether discovery keeps this function: NVIDIA class 0x0300/0x0302/0x0680,
 * or an ExtraDevices pair. */
bool cc_device_is_managed(const CcConfig *c, uint16_t vendor_id, uint16_t device_id, uint32_t class_code);

typedef struct CcInventory {
        CcDevice **devices; /* sorted by bdf */
        size_t n_devices;
} CcInventory;

/* Enumerates PCI, keeps managed devices, reads their sysfs facts, and
 * queries the CC mode of capable ones once without waiting for boot (a GPU
 * that has not booted reads "unknown"): through NVML for a GPU bound to
 * nvidia, through BAR0 for the others and when NVML cannot tell.  Each
 * device's answer is logged with its source. */
int cc_inventory_scan(HwHost *h, const CcConfig *c, CcInventory **ret, CcError *err);
CcInventory *cc_inventory_free(CcInventory *inv);
DEFINE_TRIVIAL_CLEANUP_FUNC(CcInventory *, cc_inventory_free);

CcDevice *cc_inventory_find(const CcInventory *inv, const char *bdf);

/* Re-reads the sysfs facts (driver, group, members, vfio nodes, numa) of one
 * device.  Returns > 0 when something changed. */
int cc_device_refresh(HwHost *h, CcDevice *d);

CcDevice *cc_device_free(CcDevice *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(CcDevice *, cc_device_free);

/* Aggregate mode of the CC-capable GPUs: "on" "off" "devtools" "ppcie"
 * "mixed" "unknown", or "none" when there is none. */
const char *cc_inventory_mode(const CcInventory *inv);

/* At least one GPU and every NVIDIA GPU CC-capable. */
bool cc_inventory_cc_capable(const CcInventory *inv);
