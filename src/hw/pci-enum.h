/* SPDX-License-Identifier: MIT */
#pragma once

/* Enumerates every PCI function through libpci (sysfs access method, with
 * sysfs.path = <root>/sys/bus/pci), names from pci.ids via pci_lookup_name. */

#include <stddef.h>
#include <stdint.h>

#include "hw-host.h"

typedef struct HwPciDevice {
        char bdf[16];             /* "0000:65:00.0" */
        uint16_t vendor_id;
        uint16_t device_id;
        uint16_t subsystem_vendor_id;
        uint16_t subsystem_device_id;
        uint32_t class_code;      /* 24 bits: 0x030200 */
        char *name;               /* "GH100 [H100 SXM5 80GB]", or "" when pci.ids has none */
} HwPciDevice;

int hw_pci_enumerate(HwHost *h, HwPciDevice **ret, size_t *ret_n);
void hw_pci_devices_free(HwPciDevice *devices, size_t n);
