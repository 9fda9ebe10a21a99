/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <inttypes.h>

#include "bar0.h"
#include "cc-ready.h"
#include "cc-sku.h"
#include "device.h"
#include "log.h"
#include "message-ids.h"
#include "nv-regs.h"
#include "nvml.h"
#include "pci-enum.h"
#include "pci-sysfs.h"
#include "time-util.h"

/* The GPUs NVML is asked about: CC-capable, bound to nvidia. */
static bool wants_nvml(const CcDevice *d) {
        return d->kind == DEVICE_KIND_GPU && d->cc_capable && d->arch != GPU_ARCH_OTHER && streq_ptr(d->driver, "nvidia");
}

/* NVML's answers for one scan, from one run of the helper. */
typedef struct NvmlAnswers {
        HwNvmlAnswer *answers;
        size_t n;
        CcError error; /* why there are none */
        const char *library;
} NvmlAnswers;

static void nvml_answers_done(NvmlAnswers *a) {
        free(a->answers);
}

static void ask_nvml(HwHost *h, CcDevice *const *devices, size_t n, NvmlAnswers *ret) {
        _cleanup_free_ char **bdfs = NULL;
        double init_ms = 0;
        size_t k = 0;
        uint64_t start;

        *ret = (NvmlAnswers) { .error = CC_ERROR_INIT, .library = hw_nvml_library(h) };
        bdfs = calloc(n ? n : 1, sizeof(char *));
        if (!bdfs) {
                cc_error_set(&ret->error, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
                return;
        }
        for (size_t i = 0; i < n; i++)
                if (wants_nvml(devices[i]))
                        bdfs[k++] = devices[i]->bdf;
        if (k == 0)
                return; /* nothing to ask: the library is not even loaded */

        start = now_usec(CLOCK_MONOTONIC);
        if (hw_nvml_query(h, bdfs, k, &ret->answers, &init_ms, &ret->error) < 0) {
                log_debug("NVML not used: %s", ret->error.message);
                return;
        }
        ret->n = k;
        /* nvmlInit_v2 wakes GPUs that have no persistence daemon: the times
         * tell how long discovery stalls for NVML. */
        log_debug("NVML (%s) answered for %zu GPU%s in %.1f ms, nvmlInit_v2 %.1f ms", ret->library, k,
                  k == 1 ? "" : "s", (double) (now_usec(CLOCK_MONOTONIC) - start) / USEC_PER_MSEC, init_ms);
}

static const char *format_nvml_value(char buf[static 16], uint32_t v) {
        if (v == HW_NVML_NO_VALUE)
                return "n/a";
        snprintf(buf, 16, "%" PRIu32, v);
        return buf;
}

static int query_nvml(const NvmlAnswers *answers, CcDevice *d, CcError *err) {
        const HwNvmlAnswer *a = NULL;
        char multi[16], caps[16];

        for (size_t i = 0; i < answers->n; i++)
                if (streq(answers->answers[i].bdf, d->bdf))
                        a = &answers->answers[i];
        if (!a) {
                if (cc_error_is_set(&answers->error)) {
                        *err = answers->error;
                        return -answers->error.errno_value;
                }
                return cc_error_set(err, CC_ERROR_INTERNAL, ENODEV, "NVML was not asked about %s", d->bdf);
        }
        if (a->error < 0)
                return cc_error_set(err, a->error == -ENODEV ? CC_ERROR_NOT_FOUND : CC_ERROR_HARDWARE_FAILURE,
                                    -a->error, "%s", a->message);

        log_debug("%s: NVML (%s): environment %" PRIu32 ", ccFeature %" PRIu32 ", devToolsMode %" PRIu32
                  ", multiGpuMode %s, gpusCaps %s",
                  d->bdf, answers->library, a->state.environment, a->state.cc_feature, a->state.devtools_mode,
                  format_nvml_value(multi, a->state.multi_gpu_mode), format_nvml_value(caps, a->state.gpus_caps));
        d->cc_mode = a->state.cc;
        if (d->ppcie_capable)
                d->ppcie_mode = a->state.ppcie;
        d->mode_source = CC_MODE_SOURCE_NVML;
        return 0;
}

/* One look at the status register, without waiting: discovery must not
 * stall on a GPU that is still booting, behind its BAR firewall, or that
 * does not answer. */
static int query_bar0(HwHost *h, CcDevice *d, CcError *err) {
        static const CcTimeouts no_wait = {};
        _cleanup_(bar0_closep) Bar0 *b = NULL;
        _cleanup_(pci_config_closep) PciConfig *cfg = NULL;
        CcStatus status;
        int r;

        r = bar0_open(h, d->bdf, &b, err);
        if (r < 0)
                return r;
        /* Blackwell's firewall bit is in config space; without it the
         * chip's fallback applies. */
        r = pci_config_open(h, d->bdf, &cfg);
        if (r < 0)
                log_debug_errno(r, "%s: cannot open config space: %m", d->bdf);
        r = cc_wait_ready(cfg, b, d->chip, &no_wait, err);
        if (r < 0)
                return r;
        r = cc_query(b, d->chip, &status, err);
        if (r < 0)
                return r;

        if (d->cc_capable)
                d->cc_mode = status.cc;
        if (d->ppcie_capable)
                d->ppcie_mode = status.ppcie ? DEVICE_CC_ON : DEVICE_CC_OFF;
        if (d->arch == GPU_ARCH_BLACKWELL && status.cc != DEVICE_CC_UNKNOWN) {
                d->nvlink_encryption = status.nvle ? DEVICE_CC_ON : DEVICE_CC_OFF;
                d->bar0_firewall = status.bar0_firewall ? DEVICE_CC_ON : DEVICE_CC_OFF;
        }
        d->mode_source = CC_MODE_SOURCE_BAR0;
        return 0;
}

static void log_mode(const CcDevice *d, const char *why_unknown) {
        const char *mode = device_cc_mode_to_string(d->cc_mode);
        const char *ppcie = device_cc_mode_to_string(d->ppcie_mode);
        const char *through = d->mode_source == CC_MODE_SOURCE_NVML ? "NVML" : "BAR0";
        _cleanup_free_ char *message = NULL;
        int r;

        if (why_unknown)
                r = asprintf(&message, "%s: CC mode unknown: %s", d->bdf, why_unknown);
        else if (d->kind == DEVICE_KIND_NVSWITCH)
                r = asprintf(&message, "%s: PPCIe mode %s, read through %s", d->bdf, ppcie, through);
        else
                r = asprintf(&message, "%s: CC mode %s%s%s, read through %s", d->bdf, mode,
                             d->ppcie_capable ? ", PPCIe " : "", d->ppcie_capable ? ppcie : "", through);
        if (r < 0)
                return;
        log_struct(LOG_INFO,
                   LOG_MESSAGE_ID(CC_MESSAGE_MODE_READ),
                   "CC_GPU=%s", d->bdf,
                   "CC_MODE=%s", mode,
                   "CC_PPCIE_MODE=%s", ppcie,
                   "CC_MODE_SOURCE=%s", cc_mode_source_to_string(d->mode_source),
                   LOG_MESSAGE("%s", message),
                   NULL);
}

/* NVML answers for a GPU bound to nvidia; BAR0 for the rest, and for a GPU
 * NVML cannot tell about (with CC on the host driver cannot open it). */
static void query_mode(HwHost *h, const NvmlAnswers *answers, CcDevice *d) {
        CcError nvml_err = CC_ERROR_INIT, bar0_err = CC_ERROR_INIT;
        _cleanup_free_ char *why = NULL;
        bool tried_nvml = false;
        int r;

        d->cc_mode = d->ppcie_mode = DEVICE_CC_UNKNOWN;
        d->nvlink_encryption = d->bar0_firewall = DEVICE_CC_UNKNOWN;
        d->mode_source = CC_MODE_SOURCE_NONE;
        if (d->arch == GPU_ARCH_OTHER || !(d->cc_capable || d->kind == DEVICE_KIND_NVSWITCH))
                return;

        if (wants_nvml(d)) {
                tried_nvml = true;
                if (query_nvml(answers, d, &nvml_err) >= 0) {
                        log_mode(d, NULL);
                        return;
                }
                log_debug("%s: NVML cannot tell the CC mode (%s), reading BAR0", d->bdf, nvml_err.message);
        }
        if (query_bar0(h, d, &bar0_err) >= 0) {
                log_mode(d, NULL);
                return;
        }
        d->cc_mode = d->ppcie_mode = DEVICE_CC_UNKNOWN;
        /* On failure asprintf() leaves the pointer undefined: out of
         * memory, the BAR0 reason alone is still worth logging. */
        if (tried_nvml)
                r = asprintf(&why, "NVML: %s; BAR0: %s", nvml_err.message, bar0_err.message);
        else
                r = asprintf(&why, "BAR0: %s", bar0_err.message);
        if (r < 0)
                why = NULL;
        log_mode(d, why ?: bar0_err.message);
}

/* A Blackwell GPU that is not CC-capable is most likely one the table
 * does not know yet: say why, so that it can be configured. */
static void log_not_capable(const CcConfig *c, const CcDevice *d) {
        char buf[384];
        const char *why;

        if (d->cc_capable || d->arch != GPU_ARCH_BLACKWELL)
                return;
        if (c && c->cc_capable_ids_set) {
                log_debug("%s: not CC-capable: 0x%04x is not in [Devices] CcCapableDeviceIds=", d->bdf, d->device_id);
                return;
        }
        why = cc_sku_why_not_capable(d->vendor_id, d->device_id, d->class_code, d->name, buf, sizeof(buf));
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
        d->name = cc_device_name(p->name, p->vendor_id, p->device_id);
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
        *ret = TAKE_PTR(d);
        return 0;
}

static int compare_devices(const void *a, const void *b) {
        return strcmp((*(CcDevice *const *) a)->bdf, (*(CcDevice *const *) b)->bdf);
}

int cc_inventory_scan(HwHost *h, const CcConfig *c, CcInventory **ret, CcError *err) {
        _cleanup_(cc_inventory_freep) CcInventory *inv = NULL;
        _cleanup_(nvml_answers_done) NvmlAnswers nvml = {};
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

        /* The modes, once every device is known: NVML is asked about all
         * of its GPUs in one go. */
        ask_nvml(h, inv->devices, inv->n_devices, &nvml);
        for (size_t i = 0; i < inv->n_devices; i++)
                query_mode(h, &nvml, inv->devices[i]);
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
