/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "cc-sku.h"
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
        return gpu_chip_arch(cc_device_chip(vendor_id, device_id, class_code));
}

GpuChip cc_device_chip(uint16_t vendor_id, uint16_t device_id, uint32_t class_code) {
        return gpu_chip_from_ids(vendor_id, device_id, class_code);
}

bool cc_device_is_cc_capable(const CcConfig *c, uint16_t vendor_id, uint16_t device_id, uint32_t class_code) {
        if (vendor_id != NVIDIA_VENDOR_ID || !class_is_gpu(class_code))
                return false;

        /* A configured list is the whole truth: it can drop an id the table
         * includes (a board whose firmware lacks CC) or add one it misses. */
        if (c && c->cc_capable_ids_set) {
                for (size_t i = 0; i < c->n_cc_capable_ids; i++)
                        if (c->cc_capable_ids[i] == device_id)
                                return true;
                return false;
        }

        /* Per SKU: a consumer Blackwell shares its chip with capable parts. */
        return cc_sku_is_cc_capable(vendor_id, device_id, class_code);
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
