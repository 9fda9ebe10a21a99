/* SPDX-License-Identifier: MIT */

/* The record of a switch in progress.  Written atomically before the first
 * knob write and removed once the outcome is known, so its presence at start
 * means a switch was cut short and must be finished. */

#include <assert.h>
#include <glib.h>
#include <stdint.h>

#include "fileio.h"
#include "mode-switch.h"
#include "pci-sysfs.h"

#define INTENT_FILE "mode-switch.intent"

static char *intent_path(const char *state_dir) {
        return g_build_filename(state_dir, INTENT_FILE, NULL);
}

int cc_switch_intent_save(const char *state_dir, TargetMode mode,
                          const CcSwitchTarget *targets, size_t n) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autofree char *path = intent_path(state_dir);
        g_autofree char *data = NULL;
        gsize size = 0;
        int r;

        assert(targets || n == 0);

        g_key_file_set_string(kf, "Switch", "Mode", target_mode_to_string(mode));
        g_key_file_set_integer(kf, "Switch", "Targets", (int) n);
        for (size_t i = 0; i < n; i++) {
                g_autofree char *group = g_strdup_printf("Target %zu", i);

                g_key_file_set_string(kf, group, "Address", targets[i].bdf);
                g_key_file_set_integer(kf, group, "Arch", targets[i].arch);
                g_key_file_set_string(kf, group, "Chip", gpu_chip_to_string(targets[i].chip));
                g_key_file_set_integer(kf, group, "Kind", targets[i].kind);
                g_key_file_set_string(kf, group, "Driver", targets[i].driver ? targets[i].driver : "");
        }

        data = g_key_file_to_data(kf, &size, NULL);
        r = mkdir_parents(state_dir, 0755);
        if (r < 0)
                return r;
        return write_file_atomic(path, data, size, 0644);
}

int cc_switch_intent_load(const char *state_dir, TargetMode *ret_mode,
                          CcSwitchTarget **ret_targets, size_t *ret_n, CcError *err) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autofree char *path = intent_path(state_dir);
        g_autofree char *mode_string = NULL;
        g_autoptr(GError) gerr = NULL;
        CcSwitchTarget *targets = NULL;
        TargetMode mode;
        int n;

        *ret_targets = NULL;
        *ret_n = 0;

        if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &gerr)) {
                if (g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        return 0;
                return cc_error_set(err, CC_ERROR_INTERNAL, EBADMSG, "%s: %s", path, gerr->message);
        }

        mode_string = g_key_file_get_string(kf, "Switch", "Mode", NULL);
        mode = mode_string ? target_mode_from_string(mode_string) : TARGET_MODE_INVALID;
        n = g_key_file_get_integer(kf, "Switch", "Targets", NULL);
        if (mode == TARGET_MODE_INVALID || n <= 0 || n > 1024)
                return cc_error_set(err, CC_ERROR_INTERNAL, EBADMSG, "%s: unreadable switch record", path);

        targets = calloc((size_t) n, sizeof(*targets));
        if (!targets)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                g_autofree char *group = g_strdup_printf("Target %d", i);
                g_autofree char *address = g_key_file_get_string(kf, group, "Address", NULL);
                g_autofree char *driver = g_key_file_get_string(kf, group, "Driver", NULL);
                g_autofree char *chip_string = g_key_file_get_string(kf, group, "Chip", NULL);

                int arch = g_key_file_get_integer(kf, group, "Arch", NULL);
                int kind = g_key_file_get_integer(kf, group, "Kind", NULL);
                /* A record written before chips were recorded has none. */
                GpuChip chip = chip_string ? gpu_chip_from_string(chip_string) : gpu_chip_default((GpuArch) arch);

                /* The record builds sysfs paths when a switch is finished:
                 * take nothing from it that is not an address and a name. */
                if (!address || !hw_pci_bdf_is_valid(address) || !driver || strchr(driver, '/') ||
                    arch < GPU_ARCH_OTHER || arch > GPU_ARCH_LS10_NVSWITCH ||
                    kind < DEVICE_KIND_GPU || kind > DEVICE_KIND_NVSWITCH ||
                    (int) chip < 0 || gpu_chip_arch(chip) != (GpuArch) arch) {
                        cc_switch_targets_free(targets, (size_t) n);
                        return cc_error_set(err, CC_ERROR_INTERNAL, EBADMSG, "%s: unreadable target %d", path, i);
                }
                strcpy(targets[i].bdf, address);
                targets[i].arch = (GpuArch) arch;
                targets[i].chip = chip;
                targets[i].kind = (DeviceKind) kind;
                targets[i].driver = strdup(driver);
                if (!targets[i].driver) {
                        cc_switch_targets_free(targets, (size_t) n);
                        return -ENOMEM;
                }
        }

        *ret_mode = mode;
        *ret_targets = targets;
        *ret_n = (size_t) n;
        return 1;
}

int cc_switch_intent_remove(const char *state_dir) {
        g_autofree char *path = intent_path(state_dir);

        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}
