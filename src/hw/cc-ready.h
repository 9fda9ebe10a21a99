/* SPDX-License-Identifier: MIT */
#pragma once

/* Waiting until a device can be talked to, per chip.  Hopper and LS10: the
 * FSP's boot-complete register.  Blackwell, before any BAR0 access: the
 * security-fault word and the BAR firewall bit in config space (a DVSEC on
 * GB100-class chips, a VSEC on GB20x), then recovery mode, then boot
 * complete (0xad00bc on GB20x).  All of it blocks; it runs on worker
 * threads. */

#include "bar0.h"
#include "cc-hw.h"
#include "pci-config.h"

/* Where the chip keeps its firewall bit and security-fault word. */
typedef struct CcConfigRegs {
        uint32_t firewall;     /* config offset of the dword holding the bit */
        uint32_t firewall_bit;
        uint32_t sec_fault;    /* config offset of the security-fault word */
        const char *cap;       /* "DVSEC" or "VSEC", for messages */
} CcConfigRegs;

/* -ENOENT when the device's config space has no such capability (or cannot
 * be read past 64 bytes), -EOPNOTSUPP for chips without one. */
int cc_config_regs(PciConfig *cfg, GpuChip chip, CcConfigRegs *ret);

/* Blackwell: HardwareFailure when the security-fault word is not 0 (only a
 * cold reset clears it).  Nothing to check elsewhere or without the
 * capability. */
int cc_check_security_fault(PciConfig *cfg, GpuChip chip, CcError *err);

/* Blackwell: polls the firewall bit until it drops (t->firewall_ms).
 * Without the capability: when PMC_BOOT_0 reads all ones, waits
 * t->firewall_fallback_ms once and fails if it still does.  cfg may be
 * NULL (no config space).  Nothing to wait for on other chips. */
int cc_wait_firewall(PciConfig *cfg, Bar0 *b, GpuChip chip, const CcTimeouts *t, CcError *err);

/* Blackwell: HardwareFailure naming recovery mode when 0x8aa128 & 0xff is
 * neither 0 nor 1. */
int cc_check_recovery(Bar0 *b, GpuChip chip, CcError *err);

/* All of the above in order, then cc_wait_boot.  With zero timeouts it is
 * a single look at each. */
int cc_wait_ready(PciConfig *cfg, Bar0 *b, GpuChip chip, const CcTimeouts *t, CcError *err);
