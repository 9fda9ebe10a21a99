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

/* Blackwell (docs/hardware.md, "Blackwell"). */
#define NV_GB20X_FSP_BOOT_COMPLETE    0xad00bcu  /* GB20x; other Blackwell chips use 0x200bc */
#define NV_BLACKWELL_CC_STATUS_NVLE   0x40u      /* 0x590 bit 6: NVLink encryption */
#define NV_BLACKWELL_RECOVERY         0x8aa128u  /* & 0xff: 0 or 1 normal, else recovery mode */

/* Config space: the BAR firewall and the security-fault word.  GB100-class
 * chips have them in a DVSEC (vendor 0x10de, id 0), GB20x in a VSEC (id 1,
 * revision 1). */
#define PCI_EXT_CAP_ID_VSEC           0x000bu
#define PCI_EXT_CAP_ID_DVSEC          0x0023u
#define NV_DVSEC_ID                   0x0u
#define NV_DVSEC_FIREWALL             0x08u      /* bit 20 */
#define NV_DVSEC_FIREWALL_BIT         (1u << 20)
#define NV_DVSEC_SEC_FAULT            0x14u
#define NV_VSEC_ID                    0x1u
#define NV_VSEC_REV                   0x1u
#define NV_VSEC_SEC_FAULT             0x10u
#define NV_VSEC_FIREWALL              0x14u      /* bit 24 */
#define NV_VSEC_FIREWALL_BIT          (1u << 24)

/* FSP RPC over the MNOC mailbox, port 0 (Blackwell).  "Receive" and "send"
 * are the FSP's view: the host writes to the receive mailbox and reads the
 * send mailbox. */
#define NV_FSP_MNOC_BASE              0x8f1e00u
#define NV_FSP_MNOC_PORT              0u
#define NV_FSP_MNOC_SEND_INFO         (NV_FSP_MNOC_BASE + 0x104u + NV_FSP_MNOC_PORT * 12u) /* 0x8f1f04 */
#define NV_FSP_MNOC_SEND_DATA         (NV_FSP_MNOC_SEND_INFO + 4u)                         /* 0x8f1f08 */
#define NV_FSP_MNOC_RECV_INFO         (NV_FSP_MNOC_BASE + 0x184u + NV_FSP_MNOC_PORT * 12u) /* 0x8f1f84 */
#define NV_FSP_MNOC_RECV_DATA         (NV_FSP_MNOC_RECV_INFO + 4u)                         /* 0x8f1f88 */
#define NV_MNOC_INFO_SIZE_MASK        0xfffffu
#define NV_MNOC_INFO_TRIGGER          (1u << 20)
#define NV_MNOC_INFO_READY            (1u << 24) /* RECEIVE_READY / MESSAGE_READY */
#define NV_MNOC_INFO_ERR              (1u << 25)
#define NV_MNOC_INFO_CREDIT           (1u << 26) /* receive mailbox only */
#define NV_MNOC_MAX_PACKET_BYTES      4160u      /* port 0 */
#define NV_MNOC_CREDIT_DWORDS         16u        /* one credit per 64 bytes */

/* Permission knobs: a knob that has one can be written in band only while
 * its permission reads non-zero. */
#define NV_KNOB_CCD_ALLOW_INB         5
#define NV_KNOB_CCM_ALLOW_INB         7
#define NV_KNOB_BAR0_DECOUPLER_ALLOW_INB 9
#define NV_KNOB_PPCIE_ALLOW_INB       44
