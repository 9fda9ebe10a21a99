/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "bar0.h"
#include "fileio.h"
#include "gpusim-config.h"
#include "gpusim.h"
#include "kernel-sim.h"
#include "pci-sysfs.h"
#include "sim-host.h"

static int sim_write_attribute(HwHost *h, const char *path, const char *value) {
        int r;

        r = write_attribute(path, value);
        if (r < 0)
                return r;
        return kernel_sim_after_write(h, path, value);
}

/* The model of a device that has no state file yet, from its ids, as the
 * hardware would know what it is. */
static int arch_of_device(HwHost *h, const char *bdf, const char *state, GpuArch *ret, CcError *err) {
        uint16_t vendor, device;
        uint32_t class_code;
        int r;

        r = hw_pci_get_ids(h, bdf, &vendor, &device, &class_code);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, -r,
                                    "cannot map BAR0: no simulator state %s, "
                                    "and the device's ids cannot be read: %s", state, strerror(-r));
        *ret = gpusim_arch_of(vendor, device, class_code);
        if (*ret == GPU_ARCH_OTHER)
                return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, ENODEV,
                                    "cannot map BAR0: no simulator state %s, "
                                    "and %04x:%04x (class 0x%06x) is no device the simulator models",
                                    state, vendor, device, class_code);
        return 0;
}

static int sim_bar0_open(HwHost *h, const char *bdf, Bar0 **ret, CcError *err) {
        _cleanup_free_ char *state = NULL;
        GpuArch arch;
        int r;

        state = hw_path(h, "sys/bus/pci/devices/%s/gpusim.ini", bdf);
        if (!state)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");

        r = gpusim_get_arch(state, &arch);
        if (r == -ENOENT) {
                /* A tree made by hand has no state yet: gpusim_open makes it. */
                r = arch_of_device(h, bdf, state, &arch, err);
                if (r < 0)
                        return r;
        } else if (r < 0)
                return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, -r,
                                    "cannot map BAR0: simulator state %s: [Device] Model: %s", state, strerror(-r));

        r = gpusim_open(state, arch, ret);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, -r,
                                    "cannot map BAR0: simulator state %s: %s", state, strerror(-r));
        return 0;
}

/* Config space: the fake tree's file, with the simulator's live bits. */
static int sim_config_open(HwHost *h, const char *bdf, PciConfig **ret) {
        _cleanup_free_ char *state = NULL, *path = NULL;

        state = hw_path(h, "sys/bus/pci/devices/%s/gpusim.ini", bdf);
        path = hw_path(h, "sys/bus/pci/devices/%s/config", bdf);
        if (!state || !path)
                return -ENOMEM;
        return gpusim_config_open(state, path, ret);
}

const HwHostOps sim_host_ops = {
        .write_attribute = sim_write_attribute,
        .bar0_open = sim_bar0_open,
        .load_module = kernel_sim_load_module,
        .config_open = sim_config_open,
};

int sim_host_new(const char *root, HwHost **ret) {
        _cleanup_(hw_host_freep) HwHost *h = NULL;
        int r;

        assert(ret);

        r = hw_host_new(root, &sim_host_ops, &h);
        if (r < 0)
                return r;
        if (streq(hw_host_root(h), "/"))
                return -EPERM;
        *ret = TAKE_PTR(h);
        return 0;
}
