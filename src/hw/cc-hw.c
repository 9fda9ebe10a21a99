/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <time.h>

#include "cc-hw.h"
#include "nv-regs.h"
#include "time-util.h"

static const char *const device_cc_mode_table[] = {
        [DEVICE_CC_OFF] = "off",
        [DEVICE_CC_ON] = "on",
        [DEVICE_CC_DEVTOOLS] = "devtools",
        [DEVICE_CC_INVALID] = "invalid",
        [DEVICE_CC_UNKNOWN] = "unknown",
};

static const char *const target_mode_table[_TARGET_MODE_MAX] = {
        [TARGET_MODE_OFF] = "off",
        [TARGET_MODE_ON] = "on",
        [TARGET_MODE_DEVTOOLS] = "devtools",
        [TARGET_MODE_PPCIE] = "ppcie",
};

const char *device_cc_mode_to_string(DeviceCcMode m) {
        if ((unsigned) m >= ELEMENTSOF(device_cc_mode_table))
                return NULL;
        return device_cc_mode_table[m];
}

const char *target_mode_to_string(TargetMode m) {
        if (m < 0 || m >= _TARGET_MODE_MAX)
                return NULL;
        return target_mode_table[m];
}

TargetMode target_mode_from_string(const char *s) {
        if (!s)
                return TARGET_MODE_INVALID;
        for (TargetMode m = 0; m < _TARGET_MODE_MAX; m++)
                if (streq(s, target_mode_table[m]))
                        return m;
        return TARGET_MODE_INVALID;
}

const char *gpu_arch_to_string(GpuArch a) {
        switch (a) {
        case GPU_ARCH_HOPPER:
        case GPU_ARCH_LS10_NVSWITCH: /* LS10 belongs to the Hopper generation */
                return "hopper";
        case GPU_ARCH_BLACKWELL:
                return "blackwell";
        default:
                return "other";
        }
}

CcTimeouts cc_timeouts_default(GpuArch arch) {
        return (CcTimeouts) {
                .boot_ms = arch == GPU_ARCH_BLACKWELL ? 10000 : 5000,
                .boot_poll_ms = 10,
                .queue_empty_ms = 1000,
                .queue_poll_us = 1000,
                .response_ms = 5000,
                .response_poll_ms = 10,
                .mnoc_ready_ms = 5000,
                .mnoc_credit_ms = 1000,
                .mnoc_poll_us = 1000,
                .firewall_ms = 15000,
                .firewall_poll_ms = 10,
                .firewall_fallback_ms = 3000,
        };
}

int cc_check_alive(Bar0 *b, CcError *err) {
        uint32_t boot0;

        assert(b);

        boot0 = bar0_read32(b, NV_PMC_BOOT_0);
        if (boot0 == NV_PMC_BOOT_0_OFF_BUS)
                return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, ENODEV,
                                    "GPU has fallen off the bus (PMC_BOOT_0 = 0x%08x)", boot0);
        if (boot0 == NV_PMC_BOOT_0_SEC_FAULT_A || boot0 == NV_PMC_BOOT_0_SEC_FAULT_B)
                return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, EIO,
                                    "GPU reports a security fault (PMC_BOOT_0 = 0x%08x)", boot0);
        return 0;
}

static bool arch_supported(GpuArch arch) {
        return arch == GPU_ARCH_HOPPER || arch == GPU_ARCH_BLACKWELL || arch == GPU_ARCH_LS10_NVSWITCH;
}

static int not_capable(GpuArch arch, CcError *err) {
        return cc_error_set(err, CC_ERROR_NOT_CAPABLE, EOPNOTSUPP,
                            "device architecture \"%s\" has no confidential-computing mode", gpu_arch_to_string(arch));
}

int cc_wait_boot(Bar0 *b, GpuChip chip, const CcTimeouts *t, CcError *err) {
        GpuArch arch = gpu_chip_arch(chip);
        CcTimeouts defaults = cc_timeouts_default(arch);
        uint32_t reg = gpu_chip_boot_register(chip);
        uint64_t deadline;
        char buf[32];
        int r;

        assert(b);

        if (!arch_supported(arch))
                return not_capable(arch, err);
        if (!t)
                t = &defaults;

        r = cc_check_alive(b, err);
        if (r < 0)
                return r;

        deadline = now_usec(CLOCK_MONOTONIC) + (uint64_t) t->boot_ms * 1000u;
        for (;;) {
                uint32_t v = bar0_read32(b, reg);

                if (v == NV_FSP_BOOT_COMPLETE_DONE)
                        return 0;
                if (v == NV_PMC_BOOT_0_OFF_BUS) {
                        r = cc_check_alive(b, err);
                        if (r < 0)
                                return r;
                }
                if (now_usec(CLOCK_MONOTONIC) >= deadline)
                        break;
                sleep_usec((uint64_t) t->boot_poll_ms * 1000u);
        }

        /* A device that went away while booting says so, not "timeout". */
        r = cc_check_alive(b, err);
        if (r < 0)
                return r;
        return cc_error_set(err, CC_ERROR_TIMEOUT, ETIMEDOUT, "boot not complete after %s (0x%06x = 0x%x)",
                            format_timeout_ms(buf, t->boot_ms), reg, bar0_read32(b, reg));
}

static DeviceCcMode decode_cc_mode(uint32_t v) {
        switch (v & NV_CC_STATUS_MODE_MASK) {
        case NV_CC_STATUS_OFF:
                return DEVICE_CC_OFF;
        case NV_CC_STATUS_ON:
                return DEVICE_CC_ON;
        case NV_CC_STATUS_DEVTOOLS:
                return DEVICE_CC_DEVTOOLS;
        default:
                return DEVICE_CC_INVALID;
        }
}

int cc_query(Bar0 *b, GpuChip chip, CcStatus *ret, CcError *err) {
        GpuArch arch = gpu_chip_arch(chip);
        uint32_t v;
        int r;

        assert(b);
        assert(ret);

        if (!arch_supported(arch))
                return not_capable(arch, err);

        /* All ones would decode as devtools with PPCIe. */
        r = cc_check_alive(b, err);
        if (r < 0)
                return r;

        /* The status registers mean nothing until the FSP has booted. */
        if (bar0_read32(b, gpu_chip_boot_register(chip)) != NV_FSP_BOOT_COMPLETE_DONE) {
                *ret = (CcStatus) { .cc = DEVICE_CC_UNKNOWN, .ppcie = false };
                return 0;
        }

        switch (arch) {
        case GPU_ARCH_HOPPER:
                v = bar0_read32(b, NV_HOPPER_CC_STATUS);
                *ret = (CcStatus) {
                        .cc = decode_cc_mode(v),
                        .ppcie = v & NV_HOPPER_CC_STATUS_PPCIE,
                };
                break;
        case GPU_ARCH_BLACKWELL:
                v = bar0_read32(b, NV_BLACKWELL_CC_STATUS);
                *ret = (CcStatus) {
                        .cc = decode_cc_mode(v),
                        .ppcie = false,
                        .nvle = v & NV_BLACKWELL_CC_STATUS_NVLE,
                        .bar0_firewall = v & NV_BLACKWELL_CC_STATUS_FIREWALL,
                };
                break;
        default:
                v = bar0_read32(b, NV_LS10_PPCIE_STATUS);
                *ret = (CcStatus) { .cc = DEVICE_CC_OFF, .ppcie = v & 0x1 };
                break;
        }
        return 0;
}

#define PLAN_ADD(k, v) out[n++] = (KnobWrite) { .knob = (k), .value = (v) }

/* Disabling writes CCD before CCM, so the GPU never lands in state 2. */
static size_t plan_cc_off(GpuArch arch, KnobWrite *out, size_t n) {
        if (arch == GPU_ARCH_HOPPER)
                PLAN_ADD(NV_KNOB_BAR0_DECOUPLER, 0);
        PLAN_ADD(NV_KNOB_CCD, 0);
        PLAN_ADD(NV_KNOB_CCM, 0);
        return n;
}

/* Knobs cleared before enabling.  Knob 34 is cleared on Hopper only
 * (gpu-admin-tools v2026.02.24), and Blackwell has no PPCIe to leave. */
static size_t plan_clear(GpuArch arch, KnobWrite *out, size_t n) {
        PLAN_ADD(NV_KNOB_CLEAR_2, 0);
        PLAN_ADD(NV_KNOB_CLEAR_4, 0);
        if (arch == GPU_ARCH_HOPPER) {
                PLAN_ADD(NV_KNOB_CLEAR_34, 0);
                PLAN_ADD(NV_KNOB_PPCIE, 0);
        }
        return n;
}

size_t cc_knob_plan(TargetMode mode, GpuArch arch, bool ppcie_off_only, KnobWrite out[CC_KNOB_PLAN_MAX]) {
        size_t n = 0;

        assert(out);

        if (mode < 0 || mode >= _TARGET_MODE_MAX)
                return 0;

        /* An NVSwitch only has the PPCIe knob. */
        if (arch == GPU_ARCH_LS10_NVSWITCH) {
                PLAN_ADD(NV_KNOB_PPCIE, mode == TARGET_MODE_PPCIE && !ppcie_off_only ? 1 : 0);
                return n;
        }
        if (arch != GPU_ARCH_HOPPER && arch != GPU_ARCH_BLACKWELL)
                return 0;

        /* Blackwell leaves PPCIe to NVLink encryption: no ppcie mode. */
        if (arch == GPU_ARCH_BLACKWELL && mode == TARGET_MODE_PPCIE)
                return 0;

        /* The first phase of a PPCIe switch, whatever comes after it. */
        if (ppcie_off_only) {
                PLAN_ADD(NV_KNOB_PPCIE, 0);
                return plan_cc_off(arch, out, n);
        }

        switch (mode) {
        case TARGET_MODE_ON:
                n = plan_clear(arch, out, n);
                if (arch == GPU_ARCH_HOPPER)
                        PLAN_ADD(NV_KNOB_BAR0_DECOUPLER, 2);
                /* CCM before CCD when enabling. */
                PLAN_ADD(NV_KNOB_CCM, 1);
                PLAN_ADD(NV_KNOB_CCD, 0);
                break;
        case TARGET_MODE_DEVTOOLS:
                n = plan_clear(arch, out, n);
                if (arch == GPU_ARCH_HOPPER)
                        PLAN_ADD(NV_KNOB_BAR0_DECOUPLER, 0);
                PLAN_ADD(NV_KNOB_CCM, 1);
                PLAN_ADD(NV_KNOB_CCD, 1);
                break;
        case TARGET_MODE_OFF:
                /* Off means neither CC nor PPCIe: a GPU leaving PPCIe drops it too. */
                if (arch == GPU_ARCH_HOPPER)
                        PLAN_ADD(NV_KNOB_PPCIE, 0);
                n = plan_cc_off(arch, out, n);
                break;
        case TARGET_MODE_PPCIE:
                /* PPCIe and CC exclude each other: CC off, then PPCIe on. */
                n = plan_cc_off(arch, out, n);
                PLAN_ADD(NV_KNOB_PPCIE, 1);
                break;
        default:
                return 0;
        }

        assert(n <= CC_KNOB_PLAN_MAX);
        return n;
}

#undef PLAN_ADD

int cc_knob_permission(uint8_t knob) {
        switch (knob) {
        case NV_KNOB_CCD:
                return NV_KNOB_CCD_ALLOW_INB;
        case NV_KNOB_CCM:
                return NV_KNOB_CCM_ALLOW_INB;
        case NV_KNOB_BAR0_DECOUPLER:
                return NV_KNOB_BAR0_DECOUPLER_ALLOW_INB;
        case NV_KNOB_PPCIE:
                return NV_KNOB_PPCIE_ALLOW_INB;
        default:
                return -1;
        }
}

const char *cc_knob_name(uint8_t knob) {
        switch (knob) {
        case NV_KNOB_CCD_ALLOW_INB:
                return "CCD_ALLOW_INB";
        case NV_KNOB_CCD:
                return "CCD";
        case NV_KNOB_CCM_ALLOW_INB:
                return "CCM_ALLOW_INB";
        case NV_KNOB_CCM:
                return "CCM";
        case NV_KNOB_BAR0_DECOUPLER_ALLOW_INB:
                return "BAR0_DECOUPLER_ALLOW_INB";
        case NV_KNOB_BAR0_DECOUPLER:
                return "BAR0_DECOUPLER";
        case NV_KNOB_PPCIE_ALLOW_INB:
                return "PPCIE_ALLOW_INB";
        case NV_KNOB_PPCIE:
                return "PPCIE";
        default:
                return NULL;
        }
}

/* Whether the firmware lets the host write knob in band.  A board may be
 * set up so that only its BMC changes the mode; its FSP would refuse the
 * write with a bare status, so the permission is read first and named. */
static int check_inband_allowed(Bar0 *b, GpuChip chip, const CcTimeouts *t, uint8_t knob, CcError *err) {
        int permission = cc_knob_permission(knob);
        CcError perr = CC_ERROR_INIT;
        uint16_t allowed = 0;
        int r;

        if (permission < 0)
                return 0;
        r = fsp_read_knob(b, chip, t, (uint8_t) permission, &allowed, &perr);
        if (r < 0 && perr.kind == CC_ERROR_NOT_CAPABLE)
                return 0; /* firmware without permission knobs */
        if (r < 0) {
                if (err)
                        *err = perr;
                return r;
        }
        if (allowed == 0)
                return cc_error_set(err, CC_ERROR_NOT_CAPABLE, EPERM,
                                    "the mode can only be set out of band on this GPU (through its BMC): "
                                    "%s (knob %d) is 0, so the firmware refuses in-band writes of %s (knob %u)",
                                    cc_knob_name((uint8_t) permission), permission, cc_knob_name(knob), knob);
        return 0;
}

int cc_apply_knobs(Bar0 *b, GpuChip chip, const CcTimeouts *t, const KnobWrite *plan, size_t n,
                   unsigned *ret_writes, CcError *err) {
        unsigned writes = 0;
        int r;

        assert(b);
        assert(plan || n == 0);

        for (size_t i = 0; i < n; i++) {
                uint16_t current;

                r = fsp_read_knob(b, chip, t, plan[i].knob, &current, err);
                if (r >= 0 && current != plan[i].value) {
                        r = check_inband_allowed(b, chip, t, plan[i].knob, err);
                        if (r >= 0)
                                r = fsp_write_knob(b, chip, t, plan[i].knob, plan[i].value, err);
                        if (r >= 0)
                                writes++;
                }
                if (r < 0) {
                        if (ret_writes)
                                *ret_writes = writes;
                        return r;
                }
        }
        if (ret_writes)
                *ret_writes = writes;
        return 0;
}

bool cc_status_matches(GpuArch arch, const CcStatus *s, TargetMode mode) {
        assert(s);

        switch (arch) {
        case GPU_ARCH_LS10_NVSWITCH:
                return s->cc != DEVICE_CC_UNKNOWN && s->ppcie == (mode == TARGET_MODE_PPCIE);
        case GPU_ARCH_HOPPER:
        case GPU_ARCH_BLACKWELL:
                switch (mode) {
                case TARGET_MODE_OFF:
                        return s->cc == DEVICE_CC_OFF && !s->ppcie;
                case TARGET_MODE_ON:
                        return s->cc == DEVICE_CC_ON && !s->ppcie;
                case TARGET_MODE_DEVTOOLS:
                        return s->cc == DEVICE_CC_DEVTOOLS && !s->ppcie;
                case TARGET_MODE_PPCIE:
                        return s->cc == DEVICE_CC_OFF && s->ppcie;
                default:
                        return false;
                }
        default:
                return false;
        }
}

void cc_mark_before_reset(Bar0 *b, GpuArch arch) {
        assert(b);

        bar0_write32(b, NV_SCRATCH_RESET_MARKER, 1);
        if (arch == GPU_ARCH_HOPPER)
                bar0_write32(b, NV_HOPPER_SCRATCH_SBR_MARKER, 1);
}
