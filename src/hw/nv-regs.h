/* SPDX-License-Identifier: MIT */
#pragma once

/* BAR0 register facts for Hopper, Blackwell and LS10 NVSwitch (docs/hardware.md). */

#define NV_PMC_BOOT_0                 0x000000u
#define NV_PMC_BOOT_0_OFF_BUS         0xffffffffu
#define NV_PMC_BOOT_0_SEC_FAULT_A     0xbadf0200u
#define NV_PMC_BOOT_0_SEC_FAULT_B     0xbad00200u

#define NV_FSP_BOOT_COMPLETE          0x0200bcu  /* GPUs */
#define NV_LS10_FSP_BOOT_COMPLETE     0x0660bcu  /* LS10 NVSwitch */
#define NV_FSP_BOOT_COMPLETE_DONE     0xffu

#define NV_HOPPER_CC_STATUS           0x1182ccu  /* [1:0] mode, bit 5 PPCIe */
#define NV_HOPPER_CC_STATUS_PPCIE     0x20u
#define NV_BLACKWELL_CC_STATUS        0x000590u  /* [1:0] mode, bit 2 BAR0 firewall */
#define NV_BLACKWELL_CC_STATUS_FIREWALL 0x4u
#define NV_LS10_PPCIE_STATUS          0x028c50u  /* bit 0 */

#define NV_CC_STATUS_MODE_MASK        0x3u
#define NV_CC_STATUS_OFF              0u
#define NV_CC_STATUS_ON               1u
#define NV_CC_STATUS_INVALID          2u
#define NV_CC_STATUS_DEVTOOLS         3u

/* Scratch markers written before a reset to tell FLR from SBR. */
#define NV_SCRATCH_RESET_MARKER       0x001458u  /* cleared by any reset */
#define NV_HOPPER_SCRATCH_SBR_MARKER  0x091288u  /* survives FLR, not SBR */

/* FSP RPC over EMEM, channel 2 (Hopper). */
#define NV_FSP_CMD_QUEUE_HEAD         0x8f2c10u
#define NV_FSP_CMD_QUEUE_TAIL         0x8f2c14u
#define NV_FSP_MSG_QUEUE_HEAD         0x8f2c90u
#define NV_FSP_MSG_QUEUE_TAIL         0x8f2c94u
#define NV_FSP_EMEM_CTRL              0x8f2ad0u
#define NV_FSP_EMEM_DATA              0x8f2ad4u
#define NV_FSP_EMEM_CTRL_AINCW        (1u << 24)
#define NV_FSP_EMEM_CTRL_AINCR        (1u << 25)
#define NV_FSP_EMEM_CHANNEL_BASE      0x800u

#define NV_MCTP_HEADER_SOM_EOM        0xc0000000u
#define NV_NVDM_TYPE_PRC              0x13u
#define NV_NVDM_TYPE_RESPONSE         0x15u
/* MCTP type 0x7e (vendor defined), vendor 0x10de, NVDM type in bits 31:24. */
#define NV_MCTP_VENDOR_HEADER(nvdm)   (((uint32_t) (nvdm) << 24) | 0x0010de7eu)
#define NV_PRC_OP_READ                0x0cu
#define NV_PRC_OP_WRITE               0x0du
#define NV_PRC_WORD(op, knob)         ((uint32_t) (op) | (2u << 8) | ((uint32_t) (knob) << 16))
#define NV_PRC_STATUS_OK              0x0u
#define NV_PRC_STATUS_UNKNOWN_KNOB    0x1e3u

/* PRC knobs. */
#define NV_KNOB_CLEAR_2               2
#define NV_KNOB_CLEAR_4               4
#define NV_KNOB_CCD                   6
#define NV_KNOB_CCM                   8
#define NV_KNOB_BAR0_DECOUPLER        10
#define NV_KNOB_CLEAR_34              34
#define NV_KNOB_PPCIE                 45
