/* SPDX-License-Identifier: MIT */
#include "cc-chip.h"
#include "macro.h"
#include "nv-regs.h"

#define CLASS_DISPLAY_VGA  0x0300
#define CLASS_DISPLAY_3D   0x0302
#define CLASS_BRIDGE_OTHER 0x0680

bool gpu_class_is_gpu(uint32_t class_code) {
        uint32_t c = class_code >> 8;
        return c == CLASS_DISPLAY_VGA || c == CLASS_DISPLAY_3D;
}

bool gpu_class_is_nvswitch(uint32_t class_code) {
        return (class_code >> 8) == CLASS_BRIDGE_OTHER;
}

/* Device-id ranges of each chip, as NVIDIA's tools and driver assign them. */
static const struct {
        uint16_t first, last;
        GpuChip chip;
} gpu_ranges[] = {
        /* GH100 and GH200: H100 PCIe/SXM5/NVL, H800, H200, H20, GH200, the
         * range gpu-admin-tools uses for Hopper. */
        { 0x22f0, 0x237f, GPU_CHIP_GH100 },
        { 0x2900, 0x297f, GPU_CHIP_GB100 },
        { 0x2980, 0x29ff, GPU_CHIP_GB102 },
        /* Between GB102 and GB202: Blackwell, chip not named by any source. */
        { 0x2a00, 0x2b7f, GPU_CHIP_BLACKWELL_OTHER },
        { 0x2b80, 0x2bff, GPU_CHIP_GB202 },
        { 0x2c00, 0x2c7f, GPU_CHIP_GB203 },
        { 0x2d00, 0x2d7f, GPU_CHIP_GB206 },
        { 0x2d80, 0x2dff, GPU_CHIP_GB207 },
        { 0x2f00, 0x2f7f, GPU_CHIP_GB205 },
        { 0x3180, 0x31ff, GPU_CHIP_GB110 },
        { 0x3200, 0x327f, GPU_CHIP_GB112 },
};

GpuChip gpu_chip_from_ids(uint16_t vendor_id, uint16_t device_id, uint32_t class_code) {
        if (vendor_id != NVIDIA_PCI_VENDOR_ID)
                return GPU_CHIP_OTHER;

        /* LS10, the NVSwitch of HGX H100 boards (0x22a3 on shipping boards;
         * the neighbouring ids belong to the same chip). */
        if (gpu_class_is_nvswitch(class_code))
                return device_id >= 0x22a0 && device_id <= 0x22a3 ? GPU_CHIP_LS10 : GPU_CHIP_OTHER;
        if (!gpu_class_is_gpu(class_code))
                return GPU_CHIP_OTHER;

        for (size_t i = 0; i < ELEMENTSOF(gpu_ranges); i++)
                if (device_id >= gpu_ranges[i].first && device_id <= gpu_ranges[i].last)
                        return gpu_ranges[i].chip;
        return GPU_CHIP_OTHER;
}

GpuArch gpu_chip_arch(GpuChip chip) {
        switch (chip) {
        case GPU_CHIP_GH100:
                return GPU_ARCH_HOPPER;
        case GPU_CHIP_LS10:
                return GPU_ARCH_LS10_NVSWITCH;
        case GPU_CHIP_GB100:
        case GPU_CHIP_GB102:
        case GPU_CHIP_GB110:
        case GPU_CHIP_GB112:
        case GPU_CHIP_GB202:
        case GPU_CHIP_GB203:
        case GPU_CHIP_GB205:
        case GPU_CHIP_GB206:
        case GPU_CHIP_GB207:
        case GPU_CHIP_BLACKWELL_OTHER:
                return GPU_ARCH_BLACKWELL;
        default:
                return GPU_ARCH_OTHER;
        }
}

GpuChip gpu_chip_default(GpuArch arch) {
        switch (arch) {
        case GPU_ARCH_HOPPER:
                return GPU_CHIP_GH100;
        case GPU_ARCH_LS10_NVSWITCH:
                return GPU_CHIP_LS10;
        case GPU_ARCH_BLACKWELL:
                return GPU_CHIP_GB100;
        default:
                return GPU_CHIP_OTHER;
        }
}

static const char *const chip_table[_GPU_CHIP_MAX] = {
        [GPU_CHIP_OTHER] = "other",
        [GPU_CHIP_GH100] = "gh100",
        [GPU_CHIP_LS10] = "ls10",
        [GPU_CHIP_GB100] = "gb100",
        [GPU_CHIP_GB102] = "gb102",
        [GPU_CHIP_GB110] = "gb110",
        [GPU_CHIP_GB112] = "gb112",
        [GPU_CHIP_GB202] = "gb202",
        [GPU_CHIP_GB203] = "gb203",
        [GPU_CHIP_GB205] = "gb205",
        [GPU_CHIP_GB206] = "gb206",
        [GPU_CHIP_GB207] = "gb207",
        [GPU_CHIP_BLACKWELL_OTHER] = "blackwell",
};

const char *gpu_chip_to_string(GpuChip chip) {
        if ((unsigned) chip >= _GPU_CHIP_MAX)
                return NULL;
        return chip_table[chip];
}

GpuChip gpu_chip_from_string(const char *s) {
        if (!s)
                return (GpuChip) -1;
        for (unsigned i = 0; i < _GPU_CHIP_MAX; i++)
                if (streq(s, chip_table[i]))
                        return (GpuChip) i;
        return (GpuChip) -1;
}

bool gpu_chip_is_gb20x(GpuChip chip) {
        return chip == GPU_CHIP_GB202 || chip == GPU_CHIP_GB203 || chip == GPU_CHIP_GB205 ||
               chip == GPU_CHIP_GB206 || chip == GPU_CHIP_GB207;
}

uint32_t gpu_chip_boot_register(GpuChip chip) {
        if (chip == GPU_CHIP_LS10)
                return NV_LS10_FSP_BOOT_COMPLETE;
        if (gpu_chip_is_gb20x(chip))
                return NV_GB20X_FSP_BOOT_COMPLETE;
        return NV_FSP_BOOT_COMPLETE;
}
