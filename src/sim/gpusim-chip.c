/* SPDX-License-Identifier: MIT */
#include <glib.h>
#include <inttypes.h>

#include "gpusim-chip.h"
#include "gpusim.h"
#include "nv-regs.h"
#include "time-util.h"

/* "read:8", "write:8" or empty (any message). */
static int parse_error_on(const char *s, int *ret_op, int *ret_knob) {
        const char *colon;
        guint64 knob;

        *ret_op = *ret_knob = -1;
        if (!s || !*s)
                return 0;
        colon = strchr(s, ':');
        if (!colon || !g_ascii_string_to_unsigned(colon + 1, 10, 0, SIM_N_KNOBS - 1, &knob, NULL))
                return -EINVAL;
        if (colon - s == 4 && strncmp(s, "read", 4) == 0)
                *ret_op = NV_PRC_OP_READ;
        else if (colon - s == 5 && strncmp(s, "write", 5) == 0)
                *ret_op = NV_PRC_OP_WRITE;
        else
                return -EINVAL;
        *ret_knob = (int) knob;
        return 0;
}

/* An unsigned key: absent or empty gives def, anything but digits fails. */
static int get_unsigned(GKeyFile *kf, const char *group, const char *key, unsigned def, unsigned *ret) {
        g_autofree char *v = g_key_file_get_value(kf, group, key, NULL);
        guint64 u;

        if (!v || !*v) {
                *ret = def;
                return 0;
        }
        g_strstrip(v);
        if (!g_ascii_string_to_unsigned(v, 10, 0, UINT32_MAX, &u, NULL))
                return -EINVAL;
        *ret = (unsigned) u;
        return 0;
}

static int get_bool(GKeyFile *kf, const char *group, const char *key, bool *ret) {
        g_autoptr(GError) error = NULL;
        gboolean b;

        *ret = false;
        if (!g_key_file_has_key(kf, group, key, NULL))
                return 0;
        b = g_key_file_get_boolean(kf, group, key, &error);
        if (error)
                return -EINVAL;
        *ret = b;
        return 0;
}

int sim_state_parse_chip(GKeyFile *kf, SimState *st) {
        g_autofree char *chip = g_key_file_get_value(kf, "Device", "Chip", NULL);
        g_autofree char *mnoc = g_key_file_get_value(kf, "Inject", "MnocError", NULL);
        g_autofree char *on = g_key_file_get_value(kf, "Inject", "MnocErrorOn", NULL);
        int r;

        if (chip && *chip) {
                st->chip = gpu_chip_from_string(chip);
                if ((int) st->chip < 0 || gpu_chip_arch(st->chip) != st->arch)
                        return -EINVAL;
        } else
                st->chip = gpu_chip_default(st->arch);

        /* A quarter of the boot by default: the firewall drops before the
         * FSP says it has booted. */
        r = get_unsigned(kf, "Device", "FirewallMs", st->boot_ms / 4, &st->firewall_ms);
        if (r >= 0)
                r = get_bool(kf, "Device", "NvlinkEncryption", &st->nvle);
        if (r >= 0)
                r = get_unsigned(kf, "Device", "CreditPolls", 1, &st->credit_polls);
        if (r >= 0)
                r = get_bool(kf, "Inject", "FirewallStuck", &st->firewall_stuck);
        if (r >= 0)
                r = get_bool(kf, "Inject", "InbandDenied", &st->inband_denied);
        if (r >= 0)
                r = get_bool(kf, "Inject", "RecoveryMode", &st->recovery_mode);
        if (r >= 0)
                r = get_unsigned(kf, "Inject", "ReplyPadDwords", 0, &st->reply_pad_dwords);
        if (r < 0)
                return r;
        /* An answer must still fit a 4,160-byte packet. */
        if (st->reply_pad_dwords > NV_MNOC_MAX_PACKET_BYTES / 4 - 6 || st->credit_polls > 1000)
                return -EINVAL;

        if (!mnoc || !*mnoc || streq(mnoc, "none"))
                st->mnoc_error = SIM_MNOC_ERROR_NONE;
        else if (streq(mnoc, "receive"))
                st->mnoc_error = SIM_MNOC_ERROR_RECEIVE;
        else if (streq(mnoc, "send"))
                st->mnoc_error = SIM_MNOC_ERROR_SEND;
        else
                return -EINVAL;
        return parse_error_on(on, &st->mnoc_error_op, &st->mnoc_error_knob);
}

static bool is_permission_knob(uint8_t knob) {
        return knob == NV_KNOB_CCD_ALLOW_INB || knob == NV_KNOB_CCM_ALLOW_INB ||
               knob == NV_KNOB_BAR0_DECOUPLER_ALLOW_INB || knob == NV_KNOB_PPCIE_ALLOW_INB;
}

/* Boards ship with in-band writes allowed; a permission knob the state
 * file does not name reads 1. */
uint16_t sim_knob_read(const SimState *st, uint8_t knob) {
        if (is_permission_knob(knob)) {
                if (st->inband_denied)
                        return 0;
                if (!st->pending.set[knob] && !st->active.set[knob])
                        return 1;
        }
        return sim_state_knob_persistent(st, knob);
}

bool sim_knob_write_refused(const SimState *st, uint8_t knob) {
        int permission = cc_knob_permission(knob);

        return permission >= 0 && sim_knob_read(st, (uint8_t) permission) == 0;
}

/* The simulator's own table of id ranges, kept apart from src/hw/cc-chip.c
 * on purpose: a tree built from an independent idea of the hardware checks
 * discovery's. */
GpuChip gpusim_chip_of(uint16_t vendor, uint16_t device, uint32_t class_code) {
        static const struct {
                uint16_t first, last;
                GpuChip chip;
        } ranges[] = {
                { 0x22f0, 0x237f, GPU_CHIP_GH100 },
                { 0x2900, 0x297f, GPU_CHIP_GB100 },
                { 0x2980, 0x29ff, GPU_CHIP_GB102 },
                { 0x2a00, 0x2b7f, GPU_CHIP_BLACKWELL_OTHER },
                { 0x2b80, 0x2bff, GPU_CHIP_GB202 },
                { 0x2c00, 0x2c7f, GPU_CHIP_GB203 },
                { 0x2d00, 0x2d7f, GPU_CHIP_GB206 },
                { 0x2d80, 0x2dff, GPU_CHIP_GB207 },
                { 0x2f00, 0x2f7f, GPU_CHIP_GB205 },
                { 0x3180, 0x31ff, GPU_CHIP_GB110 },
                { 0x3200, 0x327f, GPU_CHIP_GB112 },
        };

        if (vendor != 0x10de)
                return GPU_CHIP_OTHER;
        if ((class_code >> 8) == 0x0680) /* bridge, other: the NVSwitches */
                return device >= 0x22a0 && device <= 0x22a3 ? GPU_CHIP_LS10 : GPU_CHIP_OTHER;
        if ((class_code >> 16) != 0x03)
                return GPU_CHIP_OTHER;
        for (size_t i = 0; i < ELEMENTSOF(ranges); i++)
                if (device >= ranges[i].first && device <= ranges[i].last)
                        return ranges[i].chip;
        return GPU_CHIP_OTHER;
}

bool sim_firewall_up(const SimState *st, uint64_t now) {
        if (st->arch != GPU_ARCH_BLACKWELL)
                return false;
        if (st->firewall_stuck)
                return true;
        /* Never reset since power-on: up long ago and down since. */
        return st->reset_at_us != 0 && now < st->reset_at_us + ((uint64_t) st->firewall_ms + st->slow_boot_ms) * 1000u;
}

bool sim_chip_read(const SimState *st, uint64_t now, uint32_t offset, uint32_t *ret) {
        uint32_t mode;

        if (st->arch != GPU_ARCH_BLACKWELL)
                return false;

        switch (offset) {
        case NV_FSP_BOOT_COMPLETE:
        case NV_GB20X_FSP_BOOT_COMPLETE:
                /* Only the chip's own register says it booted. */
                if (offset != gpu_chip_boot_register(st->chip))
                        *ret = 0;
                else
                        *ret = sim_booted(st, now) ? NV_FSP_BOOT_COMPLETE_DONE : 0;
                return true;
        case NV_BLACKWELL_CC_STATUS:
                /* The BAR0 firewall is up in production CC mode, when its
                 * setting (knob 10) is on. */
                mode = sim_cc_mode(st);
                *ret = mode;
                if (mode == NV_CC_STATUS_ON && st->active.set[NV_KNOB_BAR0_DECOUPLER] &&
                    st->active.value[NV_KNOB_BAR0_DECOUPLER] != 0)
                        *ret |= NV_BLACKWELL_CC_STATUS_FIREWALL;
                if (st->nvle)
                        *ret |= NV_BLACKWELL_CC_STATUS_NVLE;
                return true;
        case NV_BLACKWELL_RECOVERY:
                *ret = st->recovery_mode ? 0x3 : 0x0;
                return true;
        default:
                return false;
        }
}
