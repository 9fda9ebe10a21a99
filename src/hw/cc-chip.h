/* SPDX-License-Identifier: MIT */
#pragma once

/* Architecture and chip of an NVIDIA device from its PCI ids.  The
 * architecture decides the knob set and the FSP transport; the chip decides
 * the waits (which boot-complete register, which config-space capability
 * holds the BAR firewall bit).  Ranges of docs/hardware.md. */

#include <stdbool.h>
#include <stdint.h>

typedef enum GpuArch {
        GPU_ARCH_OTHER,
        GPU_ARCH_HOPPER,
        GPU_ARCH_BLACKWELL,
        GPU_ARCH_LS10_NVSWITCH,
} GpuArch;

typedef enum GpuChip {
        GPU_CHIP_OTHER,
        GPU_CHIP_GH100,           /* H100, H200, H20, GH200 */
        GPU_CHIP_LS10,            /* NVSwitch of HGX H100 */
        GPU_CHIP_GB100,           /* B200, HGX B200, B100, GB200 */
        GPU_CHIP_GB102,
        GPU_CHIP_GB110,           /* B300, GB300 */
        GPU_CHIP_GB112,
        GPU_CHIP_GB202,           /* RTX PRO 6000 Blackwell, RTX 5090 */
        GPU_CHIP_GB203,
        GPU_CHIP_GB205,
        GPU_CHIP_GB206,
        GPU_CHIP_GB207,
        GPU_CHIP_BLACKWELL_OTHER, /* in the Blackwell range, chip not known: waits as GB100 */
        _GPU_CHIP_MAX,
} GpuChip;

#define NVIDIA_PCI_VENDOR_ID 0x10de

/* NVIDIA, class 0x0300 (VGA) or 0x0302 (3D). */
bool gpu_class_is_gpu(uint32_t class_code);
/* NVIDIA class 0x0680, as NVSwitches present themselves. */
bool gpu_class_is_nvswitch(uint32_t class_code);

/* GPU_CHIP_OTHER for anything that is not a known NVIDIA range. */
GpuChip gpu_chip_from_ids(uint16_t vendor_id, uint16_t device_id, uint32_t class_code);
GpuArch gpu_chip_arch(GpuChip chip);
/* The chip assumed where only the architecture is known (an old record). */
GpuChip gpu_chip_default(GpuArch arch);

/* "gh100", "gb202", ..., "blackwell" for GPU_CHIP_BLACKWELL_OTHER, "other". */
const char *gpu_chip_to_string(GpuChip chip);
GpuChip gpu_chip_from_string(const char *s); /* exact; -1 when unknown */

/* GB20x: boot complete at 0xad00bc and the BAR firewall bit in a VSEC. */
bool gpu_chip_is_gb20x(GpuChip chip);

/* The FSP boot-complete register: 0x660bc on LS10, 0xad00bc on GB20x,
 * 0x200bc elsewhere. */
uint32_t gpu_chip_boot_register(GpuChip chip);
