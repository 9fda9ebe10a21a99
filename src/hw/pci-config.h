/* SPDX-License-Identifier: MIT */
#pragma once

/* A device's PCI configuration space (4 KiB with the extended capabilities)
 * behind read32.  On a real host it is the sysfs `config` attribute, which
 * gives the extended space to root only (64 bytes to others); a host's
 * table of operations may put something else behind it (the simulator of
 * src/sim/ serves the fake tree's `config` file with the bits it keeps
 * live). */

#include <stdint.h>

#include "hw-host.h"

#define PCI_CONFIG_SIZE 4096u

typedef struct PciConfigOps {
        /* -ERANGE past what can be read, -errno on an I/O error. */
        int (*read32)(void *impl, uint32_t offset, uint32_t *ret);
        void (*close)(void *impl);
} PciConfigOps;

struct PciConfig {
        const PciConfigOps *ops;
        void *impl;
};

/* Through the host's table of operations. */
int pci_config_open(HwHost *h, const char *bdf, PciConfig **ret);
/* The kernel's: pread of <bdf>/config. */
int pci_config_open_sysfs(HwHost *h, const char *bdf, PciConfig **ret);
PciConfig *pci_config_close(PciConfig *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(PciConfig *, pci_config_close);

/* Opens a config-space file directly (the simulator layers on this). */
int pci_config_open_file(const char *path, PciConfig **ret);

static inline int pci_config_read32(PciConfig *c, uint32_t offset, uint32_t *ret) {
        if (offset % 4 != 0 || offset > PCI_CONFIG_SIZE - 4)
                return -ERANGE;
        return c->ops->read32(c->impl, offset, ret);
}

/* Offset of the extended capability DVSEC (0x23) of vendor and id, or of
 * the VSEC (0x0b) of id and revision; -ENOENT when the chain (from 0x100)
 * has none, -ERANGE when the extended space cannot be read. */
int pci_config_find_dvsec(PciConfig *c, uint16_t vendor, uint16_t id, uint32_t *ret);
int pci_config_find_vsec(PciConfig *c, uint16_t id, uint8_t rev, uint32_t *ret);
