/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "bar0.h"
#include "cc-ready.h"
#include "cc-sku.h"
#include "device.h"
#include "log.h"
#include "nv-regs.h"
#include "pci-enum.h"
#include "pci-sysfs.h"

/* One look at the mode, without waiting: discovery must not stall on a GPU
 * that is still booting or that does not answer.  Anything short of a
 * booted, alive device reading its status leaves the modes unknown. */
static void query_mode(HwHost *h, CcDevice *d) {
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        _cleanup_(pci_config_closep) PciConfig *cfg = NULL;
        static const CcTimeouts no_wait = {};
        CcError err = CC_ERROR_INIT;
        CcStatus status;
        int r;

        d->cc_mode = d->ppcie_mode = DEVICE_CC_UNKNOWN;
        d->nvlink_encryption = d->bar0_firewall = DEVICE_CC_UNKNOWN;
        if (d->arch == GPU_ARCH_OTHER || !(d->cc_capable || d->kind == DEVICE_KIND_NVSWITCH))
                return;

        r = bar0_open(h, d->bdf, &b);
        if (r < 0) {
                log_debug("%s: cannot open BAR0: %s", d->bdf, strerror(-r));
                return;
        }
        /* Blackwell's firewall bit is in config space; without it the
         * chip's fallback applies. */
        r = pci_config_open(h, d->bdf, &cfg);
        if (r < 0)
                log_debug("%s: cannot open config space: %s", d->bdf, strerror(-r));
        if (cc_wait_ready(cfg, b, d->chip, &no_wait, &err) < 0) {
                log_debug("%s: not ready: %s", d->bdf, err.message);
                return;
        }
        if (cc_query(b, d->chip, &status, &err) < 0) {
                log_debug("%s: %s", d->bdf, err.message);
                return;
        }

        if (d->cc_capable)
                d->cc_mode = status.cc;
        if (d->ppcie_capable)
                d->ppcie_mode = status.ppcie ? DEVICE_CC_ON : DEVICE_CC_OFF;
        if (d->arch == GPU_ARCH_BLACKWELL && status.cc != DEVICE_CC_UNKNOWN) {
                d->nvlink_encryption = status.nvle ? DEVICE_CC_ON : DEVICE_CC_OFF;
                d->bar0_firewall = status.bar0_firewall ? DEVICE_CC_ON : DEVICE_CC_OFF;
        }
}

/* A Blackwell GPU that is not CC-capable is most likely one the table
 * does not know yet: say why, so that it can be configured. */
static void log_not_capable(const CcConfig *c, const CcDevice *d) {
        char buf[256];
        const char *why;

        if (d->cc_capable || d->arch != GPU_ARCH_BLACKWELL)
                return;
        if (c && c->cc_capable_ids_set) {
                log_debug("%s: not CC-capable: 0x%04x is not in [Devices] CcCapableDeviceIds=", d->bdf, d->device_id);
                return;
        }
        why = cc_sku_why_not_capable(d->vendor_id, d->device_id, d->class_code, buf, sizeof(buf));
        if (!why)
                return;
        if (cc_sku_lookup(d->device_id))
                log_debug("%s: %s", d->bdf, why);
        else
                log_notice("%s: %s", d->bdf, why);
}

static int device_new(HwHost *h, const CcConfig *c, const HwPciDevice *p, CcDevice **ret) {
        _cleanup_(cc_device_freep) CcDevice *d = NULL;
        int r;

        d = calloc(1, sizeof(CcDevice));
        if (!d)
                return -ENOMEM;
        memcpy(d->bdf, p->bdf, sizeof(d->bdf));
        d->vendor_id = p->vendor_id;
        d->device_id = p->device_id;
        d->class_code = p->class_code;
        d->name = strdup(strempty(p->name));
        if (!d->name)
                return -ENOMEM;
        d->kind = cc_device_kind(p->vendor_id, p->class_code);
        d->arch = cc_device_arch(p->vendor_id, p->device_id, p->class_code);
        d->chip = cc_device_chip(p->vendor_id, p->device_id, p->class_code);
        d->cc_capable = cc_device_is_cc_capable(c, p->vendor_id, p->device_id, p->class_code);
        d->ppcie_capable = cc_device_is_ppcie_capable(p->vendor_id, p->device_id, p->class_code);
        d->iommu_group = -1;
        d->numa_node = -1;

        r = cc_device_refresh(h, d);
        if (r < 0)
                return r;

        log_not_capable(c, d);
        query_mode(h, d);
        *ret = TAKE_PTR(d);
        return 0;
}

static int compare_devices(const void *a, const void *b) {
        return strcmp((*(CcDevice *const *) a)->bdf, (*(CcDevice *const *) b)->bdf);
}

int cc_inventory_scan(HwHost *h, const CcConfig *c, CcInventory **ret, CcError *err) {
        _cleanup_(cc_inventory_freep) CcInventory *inv = NULL;
        HwPciDevice *pci = NULL;
        size_t n_pci = 0;
        int r;

        assert(h);
        assert(ret);

        r = hw_pci_enumerate(h, &pci, &n_pci);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, r, "Cannot enumerate PCI devices under %s: %s",
                                    hw_host_root(h), strerror(-r));

        inv = calloc(1, sizeof(CcInventory));
        if (!inv || (n_pci > 0 && !(inv->devices = calloc(n_pci, sizeof(CcDevice *))))) {
                r = -ENOMEM;
                goto finish;
        }

        for (size_t i = 0; i < n_pci; i++) {
                const HwPciDevice *p = &pci[i];
                CcDevice *d = NULL;

                if (!cc_device_is_managed(c, p->vendor_id, p->device_id, p->class_code))
                        continue;
                /* VFs are assigned by whoever manages their PF. */
                if (hw_pci_is_virtfn(h, p->bdf))
                        continue;

                r = device_new(h, c, p, &d);
                if (r == -ENODEV) { /* gone since the enumeration */
                        log_debug("%s: disappeared during discovery", p->bdf);
                        continue;
                }
                if (r < 0) {
                        cc_error_set(err, CC_ERROR_HOST_NOT_READY, r, "%s: cannot read its sysfs attributes: %s",
                                     p->bdf, strerror(-r));
                        goto finish;
                }
                inv->devices[inv->n_devices++] = d;
        }
        if (inv->n_devices > 1)
                qsort(inv->devices, inv->n_devices, sizeof(CcDevice *), compare_devices);
        *ret = TAKE_PTR(inv);
        r = 0;
finish:
        hw_pci_devices_free(pci, n_pci);
        if (r == -ENOMEM)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
        return r;
}

CcInventory *cc_inventory_free(CcInventory *inv) {
        if (!inv)
                return NULL;
        for (size_t i = 0; i < inv->n_devices; i++)
                cc_device_free(inv->devices[i]);
        free(inv->devices);
        free(inv);
        return NULL;
}

CcDevice *cc_inventory_find(const CcInventory *inv, const char *bdf) {
        if (!inv || !bdf)
                return NULL;
        for (size_t i = 0; i < inv->n_devices; i++)
                if (streq(inv->devices[i]->bdf, bdf))
                        return inv->devices[i];
        return NULL;
}

/* The mode one CC-capable GPU is in, as the aggregate names it; NULL when
 * it cannot be told. */
static const char *device_mode(const CcDevice *d) {
        switch (d->cc_mode) {
        case DEVICE_CC_ON:
                return "on";
        case DEVICE_CC_DEVTOOLS:
                return "devtools";
        case DEVICE_CC_OFF:
                return d->ppcie_mode == DEVICE_CC_ON ? "ppcie" : "off";
        default:
                return NULL;
        }
}

const char *cc_inventory_mode(const CcInventory *inv) {
        const char *mode = NULL;
        bool mixed = false;

        if (!inv)
                return "none";
        for (size_t i = 0; i < inv->n_devices; i++) {
                const CcDevice *d = inv->devices[i];
                const char *m;

                if (d->kind != DEVICE_KIND_GPU || !d->cc_capable)
                        continue;
                m = device_mode(d);
                if (!m) /* unknown or invalid outweighs mixed */
                        return "unknown";
                if (mode && !streq(mode, m))
                        mixed = true;
                mode = m;
        }
        if (!mode)
                return "none";
        return mixed ? "mixed" : mode;
}

bool cc_inventory_cc_capable(const CcInventory *inv) {
        bool any = false;

        if (!inv)
                return false;
        for (size_t i = 0; i < inv->n_devices; i++) {
                const CcDevice *d = inv->devices[i];

                if (d->kind != DEVICE_KIND_GPU || d->vendor_id != NVIDIA_VENDOR_ID)
                        continue;
                if (!d->cc_capable)
                        return false;
                any = true;
        }
        return any;
}
