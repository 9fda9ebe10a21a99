/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <time.h>

#include "cc-ready.h"
#include "nv-regs.h"
#include "time-util.h"

int cc_config_regs(PciConfig *cfg, GpuChip chip, CcConfigRegs *ret) {
        uint32_t off;
        int r;

        assert(ret);

        if (gpu_chip_arch(chip) != GPU_ARCH_BLACKWELL)
                return -EOPNOTSUPP;
        if (!cfg)
                return -ENOENT;

        if (gpu_chip_is_gb20x(chip)) {
                r = pci_config_find_vsec(cfg, NV_VSEC_ID, NV_VSEC_REV, &off);
                if (r < 0)
                        return r == -ERANGE ? -ENOENT : r;
                *ret = (CcConfigRegs) {
                        .firewall = off + NV_VSEC_FIREWALL,
                        .firewall_bit = NV_VSEC_FIREWALL_BIT,
                        .sec_fault = off + NV_VSEC_SEC_FAULT,
                        .cap = "VSEC",
                };
        } else {
                r = pci_config_find_dvsec(cfg, NVIDIA_PCI_VENDOR_ID, NV_DVSEC_ID, &off);
                if (r < 0)
                        return r == -ERANGE ? -ENOENT : r;
                *ret = (CcConfigRegs) {
                        .firewall = off + NV_DVSEC_FIREWALL,
                        .firewall_bit = NV_DVSEC_FIREWALL_BIT,
                        .sec_fault = off + NV_DVSEC_SEC_FAULT,
                        .cap = "DVSEC",
                };
        }
        return 0;
}

int cc_check_security_fault(PciConfig *cfg, GpuChip chip, CcError *err) {
        CcConfigRegs regs;
        uint32_t v;

        if (cc_config_regs(cfg, chip, &regs) < 0)
                return 0;
        /* Unreadable or all ones: the firewall wait says what is wrong. */
        if (pci_config_read32(cfg, regs.sec_fault, &v) < 0 || v == 0 || v == UINT32_MAX)
                return 0;
        return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, EIO,
                            "GPU reports a security fault (config 0x%03x = 0x%08x, %s); only a cold reset clears it",
                            regs.sec_fault, v, regs.cap);
}

/* No capability to read: the tool's fallback. */
static int wait_firewall_blind(Bar0 *b, const CcTimeouts *t, CcError *err) {
        char buf[32];

        if (!b || bar0_read32(b, NV_PMC_BOOT_0) != NV_PMC_BOOT_0_OFF_BUS)
                return 0;
        sleep_usec((uint64_t) t->firewall_fallback_ms * 1000u);
        if (bar0_read32(b, NV_PMC_BOOT_0) != NV_PMC_BOOT_0_OFF_BUS)
                return 0;
        return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, ENODEV,
                            "BAR0 still reads 0xffffffff after %s and the BAR firewall cannot be read from "
                            "config space: the GPU is firewalled or has fallen off the bus",
                            format_timeout_ms(buf, t->firewall_fallback_ms));
}

int cc_wait_firewall(PciConfig *cfg, Bar0 *b, GpuChip chip, const CcTimeouts *t, CcError *err) {
        CcTimeouts defaults = cc_timeouts_default(gpu_chip_arch(chip));
        CcConfigRegs regs;
        uint64_t deadline;
        uint32_t v = 0;
        char buf[32];
        int r;

        if (gpu_chip_arch(chip) != GPU_ARCH_BLACKWELL)
                return 0;
        if (!t)
                t = &defaults;

        /* A function that is gone reads all ones in config space as well. */
        if (cfg && pci_config_read32(cfg, 0, &v) >= 0 && v == UINT32_MAX)
                return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, ENODEV,
                                    "GPU has fallen off the bus (config space reads 0xffffffff)");

        r = cc_config_regs(cfg, chip, &regs);
        if (r < 0)
                return wait_firewall_blind(b, t, err);

        deadline = now_usec(CLOCK_MONOTONIC) + (uint64_t) t->firewall_ms * 1000u;
        for (;;) {
                r = pci_config_read32(cfg, regs.firewall, &v);
                if (r < 0)
                        return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, -r,
                                            "cannot read the BAR firewall from config space: %s", strerror(-r));
                if (v == UINT32_MAX)
                        return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, ENODEV,
                                            "GPU has fallen off the bus (config space reads 0xffffffff)");
                if (!(v & regs.firewall_bit))
                        return 0;
                if (now_usec(CLOCK_MONOTONIC) >= deadline)
                        break;
                sleep_usec((uint64_t) t->firewall_poll_ms * 1000u);
        }
        return cc_error_set(err, CC_ERROR_TIMEOUT, ETIMEDOUT,
                            "BAR firewall still up after %s (config 0x%03x = 0x%08x, %s)",
                            format_timeout_ms(buf, t->firewall_ms), regs.firewall, v, regs.cap);
}

int cc_check_recovery(Bar0 *b, GpuChip chip, CcError *err) {
        uint32_t v;

        assert(b);

        if (gpu_chip_arch(chip) != GPU_ARCH_BLACKWELL)
                return 0;
        v = bar0_read32(b, NV_BLACKWELL_RECOVERY);
        if (v == UINT32_MAX || (v & 0xff) <= 1)
                return 0;
        return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, EIO,
                            "GPU is in recovery mode (0x%06x = 0x%08x); its firmware must be recovered first",
                            NV_BLACKWELL_RECOVERY, v);
}

int cc_wait_ready(PciConfig *cfg, Bar0 *b, GpuChip chip, const CcTimeouts *t, CcError *err) {
        int r;

        assert(b);

        r = cc_check_security_fault(cfg, chip, err);
        if (r >= 0)
                r = cc_wait_firewall(cfg, b, chip, t, err);
        if (r >= 0)
                r = cc_check_alive(b, err);
        if (r >= 0)
                r = cc_check_recovery(b, chip, err);
        if (r >= 0)
                r = cc_wait_boot(b, chip, t, err);
        return r;
}
