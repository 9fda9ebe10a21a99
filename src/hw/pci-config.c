/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <stdbool.h>

#include "nv-regs.h"
#include "pci-config.h"
#include "pci-sysfs.h"

typedef struct ConfigFile {
        int fd;
} ConfigFile;

static int file_read32(void *impl, uint32_t offset, uint32_t *ret) {
        ConfigFile *f = impl;
        uint8_t b[4];
        ssize_t k;

        k = pread(f->fd, b, sizeof(b), offset);
        if (k < 0)
                return -errno;
        /* Short: the kernel gives unprivileged readers the first 64 bytes. */
        if (k != sizeof(b))
                return -ERANGE;
        /* Config space is little-endian. */
        *ret = (uint32_t) b[0] | (uint32_t) b[1] << 8 | (uint32_t) b[2] << 16 | (uint32_t) b[3] << 24;
        return 0;
}

static void file_close(void *impl) {
        ConfigFile *f = impl;

        if (!f)
                return;
        if (f->fd >= 0)
                close(f->fd);
        free(f);
}

static const PciConfigOps file_ops = {
        .read32 = file_read32,
        .close = file_close,
};

int pci_config_open_file(const char *path, PciConfig **ret) {
        ConfigFile *f;
        PciConfig *c;
        int fd;

        assert(path);
        assert(ret);

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        f = malloc(sizeof(*f));
        c = malloc(sizeof(*c));
        if (!f || !c) {
                free(f);
                free(c);
                close(fd);
                return -ENOMEM;
        }
        f->fd = fd;
        c->ops = &file_ops;
        c->impl = f;
        *ret = c;
        return 0;
}

int pci_config_open_sysfs(HwHost *h, const char *bdf, PciConfig **ret) {
        _cleanup_free_ char *path = NULL;

        assert(h);
        assert(bdf);
        assert(ret);

        path = hw_path(h, "sys/bus/pci/devices/%s/config", bdf);
        if (!path)
                return -ENOMEM;
        return pci_config_open_file(path, ret);
}

int pci_config_open(HwHost *h, const char *bdf, PciConfig **ret) {
        const HwHostOps *ops = hw_host_ops(h);

        assert(h);
        if (!hw_pci_bdf_is_valid(bdf))
                return -EINVAL;
        /* A table without the operation: the kernel's. */
        return ops->config_open ? ops->config_open(h, bdf, ret) : pci_config_open_sysfs(h, bdf, ret);
}

PciConfig *pci_config_close(PciConfig *c) {
        if (!c)
                return NULL;
        if (c->ops->close)
                c->ops->close(c->impl);
        free(c);
        return NULL;
}

/* Walks the extended capability list: header = id [15:0], version
 * [19:16], next [31:20].  A device may put anything there; the walk ends
 * on a next pointer below 0x100 or a revisit (bounded by the number of
 * dword slots). */
static int find_ext_cap(PciConfig *c, uint16_t cap_id, bool (*match)(PciConfig *c, uint32_t off, const void *arg),
                        const void *arg, uint32_t *ret) {
        uint32_t off = 0x100;

        for (unsigned hops = 0; hops < (PCI_CONFIG_SIZE - 0x100) / 4; hops++) {
                uint32_t header;
                int r;

                r = pci_config_read32(c, off, &header);
                if (r < 0)
                        return r;
                /* 0: no extended capabilities; all ones: the device is gone. */
                if (header == 0 || header == UINT32_MAX)
                        return -ENOENT;
                if ((header & 0xffff) == cap_id && match(c, off, arg)) {
                        *ret = off;
                        return 0;
                }
                off = (header >> 20) & 0xffc;
                if (off < 0x100)
                        return -ENOENT;
        }
        return -ENOENT;
}

typedef struct DvsecWanted {
        uint16_t vendor, id;
} DvsecWanted;

/* DVSEC header 1 at +4: vendor [15:0]; header 2 at +8: id [15:0]. */
static bool match_dvsec(PciConfig *c, uint32_t off, const void *arg) {
        const DvsecWanted *w = arg;
        uint32_t h1, h2;

        if (off > PCI_CONFIG_SIZE - 12 || pci_config_read32(c, off + 4, &h1) < 0 || pci_config_read32(c, off + 8, &h2) < 0)
                return false;
        return (h1 & 0xffff) == w->vendor && (h2 & 0xffff) == w->id;
}

int pci_config_find_dvsec(PciConfig *c, uint16_t vendor, uint16_t id, uint32_t *ret) {
        DvsecWanted w = { vendor, id };

        assert(c);
        assert(ret);
        return find_ext_cap(c, PCI_EXT_CAP_ID_DVSEC, match_dvsec, &w, ret);
}

typedef struct VsecWanted {
        uint16_t id;
        uint8_t rev;
} VsecWanted;

/* VSEC header at +4: id [15:0], revision [19:16]. */
static bool match_vsec(PciConfig *c, uint32_t off, const void *arg) {
        const VsecWanted *w = arg;
        uint32_t h;

        if (off > PCI_CONFIG_SIZE - 8 || pci_config_read32(c, off + 4, &h) < 0)
                return false;
        return (h & 0xffff) == w->id && ((h >> 16) & 0xf) == w->rev;
}

int pci_config_find_vsec(PciConfig *c, uint16_t id, uint8_t rev, uint32_t *ret) {
        VsecWanted w = { id, rev };

        assert(c);
        assert(ret);
        return find_ext_cap(c, PCI_EXT_CAP_ID_VSEC, match_vsec, &w, ret);
}
