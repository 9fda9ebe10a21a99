/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "cc-sku.h"
#include "macro.h"

/* Sorted by id.  Sources: NVIDIA's confidential-computing release notes
 * (R575-R590) for the Blackwell parts, gpu-admin-tools and the Operator's
 * CC_CAPABLE_DEVICE_IDS for Hopper.  H100 NVL, H800, H20, H100 SXM5, H100
 * PCIe, H200, H200 NVL, GH200; B200, HGX B200, B100, GB200 (GB100), B100
 * (GB102), B300 and GB300 (GB110), RTX PRO 6000 Blackwell Server Edition,
 * Workstation Edition, RTX 5090 (GB202). */
static const CcSku sku_table[] = {
        { 0x2321, GPU_CHIP_GH100, true, NULL },
        { 0x2322, GPU_CHIP_GH100, true, NULL },
        { 0x2324, GPU_CHIP_GH100, true, NULL },
        { 0x2329, GPU_CHIP_GH100, true, NULL },
        { 0x2330, GPU_CHIP_GH100, true, NULL },
        { 0x2331, GPU_CHIP_GH100, true, NULL },
        { 0x2335, GPU_CHIP_GH100, true, NULL },
        { 0x2339, GPU_CHIP_GH100, true, NULL },
        { 0x233b, GPU_CHIP_GH100, true, NULL },
        { 0x233d, GPU_CHIP_GH100, true, NULL },
        { 0x2342, GPU_CHIP_GH100, true, NULL },
        { 0x2348, GPU_CHIP_GH100, true, NULL },
        /* B200: R575 early access, R580 supported. */
        { 0x2901, GPU_CHIP_GB100, true, NULL },
        { 0x2909, GPU_CHIP_GB100, true, NULL },
        { 0x2920, GPU_CHIP_GB100, true, NULL },
        { 0x2941, GPU_CHIP_GB100, true, NULL },
        { 0x29bc, GPU_CHIP_GB102, true, NULL },
        { 0x2b85, GPU_CHIP_GB202, false,
          "a consumer part; NVIDIA's tools refuse it (nvtrust #88)" },
        { 0x2bb1, GPU_CHIP_GB202, false,
          "no release note lists the Workstation Edition as CC-capable" },
        /* R580 supported. */
        { 0x2bb5, GPU_CHIP_GB202, true, NULL },
        { 0x3182, GPU_CHIP_GB110, true, NULL },
        { 0x31c2, GPU_CHIP_GB110, true, NULL },
        { 0x31c3, GPU_CHIP_GB110, true, NULL },
};

const CcSku *cc_sku_lookup(uint16_t device_id) {
        size_t lo = 0, hi = ELEMENTSOF(sku_table);

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (sku_table[mid].device_id == device_id)
                        return &sku_table[mid];
                if (sku_table[mid].device_id < device_id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

bool cc_sku_is_cc_capable(uint16_t vendor_id, uint16_t device_id, uint32_t class_code) {
        GpuChip chip = gpu_chip_from_ids(vendor_id, device_id, class_code);
        const CcSku *sku;

        switch (gpu_chip_arch(chip)) {
        case GPU_ARCH_HOPPER:
                return true;
        case GPU_ARCH_BLACKWELL:
                sku = cc_sku_lookup(device_id);
                return sku && sku->cc_capable;
        default:
                return false;
        }
}

const char *cc_sku_why_not_capable(uint16_t vendor_id, uint16_t device_id, uint32_t class_code, const char *name,
                                   char *buf, size_t size) {
        GpuChip chip = gpu_chip_from_ids(vendor_id, device_id, class_code);
        const CcSku *sku;

        if (gpu_chip_arch(chip) != GPU_ARCH_BLACKWELL || cc_sku_is_cc_capable(vendor_id, device_id, class_code))
                return NULL;
        sku = cc_sku_lookup(device_id);
        if (sku)
                snprintf(buf, size, "%s%s0x%04x%s is not CC-capable: %s", strempty(name), name ? " (" : "",
                         device_id, name ? ")" : "", sku->note);
        else
                snprintf(buf, size,
                         "Blackwell device 0x%04x (%s%s%s) is not in the table of CC-capable parts; "
                         "list it in [Devices] CcCapableDeviceIds= if NVIDIA supports CC on it",
                         device_id, gpu_chip_to_string(chip), name ? ", " : "", strempty(name));
        return buf;
}

const CcSku *cc_sku_table(size_t *ret_n) {
        *ret_n = ELEMENTSOF(sku_table);
        return sku_table;
}
