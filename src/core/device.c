/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "device.h"
#include "pci-sysfs.h"

/* PCI class codes (base class + subclass) discovery cares about. */
#define CLASS_DISPLAY_VGA  0x0300
#define CLASS_DISPLAY_3D   0x0302
#define CLASS_BRIDGE_OTHER 0x0680 /* how NVSwitches present themselves */

static bool class_is_gpu(uint32_t class_code) {
        uint32_t c = class_code >> 8;
        return c == CLASS_DISPLAY_VGA || c == CLASS_DISPLAY_3D;
}

static bool class_is_nvswitch(uint32_t class_code) {
        return (class_code >> 8) == CLASS_BRIDGE_OTHER;
}

const char *cc_mode_source_to_string(CcModeSource s) {
        switch (s) {
        case CC_MODE_SOURCE_NVML:
                return "nvml";
        case CC_MODE_SOURCE_BAR0:
                return "bar0";
        default:
                return "none";
        }
}

const char *device_kind_to_string(DeviceKind k) {
        return k == DEVICE_KIND_NVSWITCH ? "nvswitch" : "gpu";
}

GpuArch cc_device_arch(uint16_t vendor_id, uint16_t device_id, uint32_t class_code) {
        if (vendor_id != NVIDIA_VENDOR_ID)
                return GPU_ARCH_OTHER;

        /* LS10, the NVSwitch of HGX H100 boards (0x22a3 on shipping boards;
         * the neighbouring ids belong to the same chip). */
        if (class_is_nvswitch(class_code))
                return device_id >= 0x22a0 && device_id <= 0x22a3 ? GPU_ARCH_LS10_NVSWITCH : GPU_ARCH_OTHER;
        if (!class_is_gpu(class_code))
                return GPU_ARCH_OTHER;

        /* GH100 and GH200: H100 PCIe/SXM5/NVL, H800, H200, H20, GH200
         * (0x2321..0x2348), the range gpu-admin-tools uses for Hopper. */
        if (device_id >= 0x22f0 && device_id < 0x2380)
                return GPU_ARCH_HOPPER;
        /* GB100/GB102 data-centre parts (B200 0x2901, GB200 0x2941) and
         * GB202 server boards (RTX PRO 6000 Blackwell, 0x2bb*).  Later
         * Blackwell ids are added with [Devices] CcCapableDeviceIds. */
        if (device_id >= 0x2900 && device_id <= 0x2bff)
                return GPU_ARCH_BLACKWELL;
        return GPU_ARCH_OTHER;
}

bool cc_device_is_cc_capable(const CcConfig *c, uint16_t vendor_id, uint16_t device_id, uint32_t class_code) {
        GpuArch arch;

        if (vendor_id != NVIDIA_VENDOR_ID || !class_is_gpu(class_code))
                return false;

        /* A configured list is the whole truth: it can drop an id the ranges
         * include (a board whose firmware lacks CC) or add one they miss. */
        if (c && c->cc_capable_ids_set) {
                for (size_t i = 0; i < c->n_cc_capable_ids; i++)
                        if (c->cc_capable_ids[i] == device_id)
                                return true;
                return false;
        }

        arch = cc_device_arch(vendor_id, device_id, class_code);
        return arch == GPU_ARCH_HOPPER || arch == GPU_ARCH_BLACKWELL;
}

bool cc_device_is_ppcie_capable(uint16_t vendor_id, uint16_t device_id, uint32_t class_code) {
        GpuArch arch = cc_device_arch(vendor_id, device_id, class_code);
        return arch == GPU_ARCH_HOPPER || arch == GPU_ARCH_LS10_NVSWITCH;
}

static bool is_extra_device(const CcConfig *c, uint16_t vendor_id, uint16_t device_id) {
        if (!c)
                return false;
        for (size_t i = 0; i < c->n_extra_devices; i++)
                if (c->extra_devices[i].vendor_id == vendor_id && c->extra_devices[i].device_id == device_id)
                        return true;
        return false;
}

bool cc_device_is_managed(const CcConfig *c, uint16_t vendor_id, uint16_t device_id, uint32_t class_code) {
        /* Only the GPU and NVSwitch functions: a board's audio, USB and
         * serial functions go with their GPU's IOMMU group, they are not
         * devices of their own. */
        if (vendor_id == NVIDIA_VENDOR_ID && (class_is_gpu(class_code) || class_is_nvswitch(class_code)))
                return true;
        return is_extra_device(c, vendor_id, device_id);
}

DeviceKind cc_device_kind(uint16_t vendor_id, uint32_t class_code) {
        return vendor_id == NVIDIA_VENDOR_ID && class_is_nvswitch(class_code) ? DEVICE_KIND_NVSWITCH : DEVICE_KIND_GPU;
}

CcDevice *cc_device_free(CcDevice *d) {
        if (!d)
                return NULL;
        free(d->name);
        free(d->driver);
        free(d->restore_driver);
        strv_free(d->group_members);
        free(d->vfio_device);
        free(d->vfio_cdev);
        strv_free(d->group_vfio_cdevs);
        free(d);
        return NULL;
}

int cc_device_refresh(HwHost *h, CcDevice *d) {
        _cleanup_free_ char *driver = NULL, *vfio = NULL, *cdev = NULL;
        _cleanup_(strv_freep) char **members = NULL, **cdevs = NULL;
        size_t n_cdevs = 0;
        int group, numa, r;
        bool changed;

        assert(h);
        assert(d);

        r = hw_pci_get_driver(h, d->bdf, &driver);
        if (r < 0)
                return r;
        if (!driver && !(driver = strdup("")))
                return -ENOMEM;
        r = hw_pci_get_iommu_group(h, d->bdf, &group);
        if (r < 0)
                return r;
        r = hw_pci_get_group_members(h, d->bdf, &members);
        if (r < 0)
                return r;
        r = hw_pci_get_vfio_device(h, d->bdf, &vfio);
        if (r < 0)
                return r;
        r = hw_pci_get_vfio_cdev(h, d->bdf, &cdev);
        if (r < 0)
                return r;
        r = hw_pci_get_numa_node(h, d->bdf, &numa);
        if (r < 0)
                return r;
        /* The group's nodes, for whoever passes the whole group through. */
        cdevs = calloc(strv_length(members) + 1, sizeof(char *));
        if (!cdevs)
                return -ENOMEM;
        for (char **m = members; *m; m++) {
                char *member_cdev = NULL;

                r = hw_pci_get_vfio_cdev(h, *m, &member_cdev);
                if (r < 0)
                        return r;
                if (*member_cdev)
                        cdevs[n_cdevs++] = member_cdev;
                else
                        free(member_cdev);
        }

        changed = !streq_ptr(driver, d->driver) || group != d->iommu_group ||
                  !d->group_members || !strv_equal(members, d->group_members) ||
                  !streq_ptr(vfio, d->vfio_device) || !streq_ptr(cdev, d->vfio_cdev) || numa != d->numa_node ||
                  !d->group_vfio_cdevs || !strv_equal(cdevs, d->group_vfio_cdevs);
        if (!changed)
                return 0;

        free(d->driver);
        d->driver = TAKE_PTR(driver);
        d->iommu_group = group;
        strv_free(d->group_members);
        d->group_members = TAKE_PTR(members);
        free(d->vfio_device);
        d->vfio_device = TAKE_PTR(vfio);
        free(d->vfio_cdev);
        d->vfio_cdev = TAKE_PTR(cdev);
        d->numa_node = numa;
        strv_free(d->group_vfio_cdevs);
        d->group_vfio_cdevs = TAKE_PTR(cdevs);
        return 1;
}
