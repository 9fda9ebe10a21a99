/* SPDX-License-Identifier: MIT */

/* Which devices a mode request touches: every CC-capable GPU, one device,
 * or for PPCIe the whole baseboard.  Refuses what cannot work before
 * anything is touched. */

#include <assert.h>

#include "mode-switch.h"

void cc_switch_targets_free(CcSwitchTarget *t, size_t n) {
        for (size_t i = 0; t && i < n; i++)
                free(t[i].driver);
        free(t);
}

static int target_init(CcSwitchTarget *t, const CcDevice *d) {
        memcpy(t->bdf, d->bdf, sizeof(t->bdf));
        t->arch = d->arch;
        t->chip = d->chip;
        t->kind = d->kind;
        /* A device left without its driver by a blocked unbind gets it
         * back from this switch. */
        t->driver = strdup(d->driver && *d->driver ? d->driver : strempty(d->restore_driver));
        return t->driver ? 0 : -ENOMEM;
}

/* NVIDIA's multi-GPU CC documentation: Blackwell has no protected PCIe. */
static int refuse_ppcie_on_blackwell(const CcDevice *d, CcError *err) {
        return cc_error_set(err, CC_ERROR_NOT_CAPABLE, EOPNOTSUPP,
                            "%s: ppcie is not a mode of Blackwell GPUs: the Blackwell architecture uses NVLink "
                            "encryption, which places the switches outside of the TCB, so the ppcie mode is not "
                            "required; use on, on every GPU", d->bdf);
}

int cc_switch_select(const CcInventory *inv, TargetMode mode, const char *bdf,
                     CcSwitchTarget **ret, size_t *ret_n, CcError *err) {
        CcSwitchTarget *targets = NULL;
        size_t n = 0;
        int r;

        assert(inv);
        assert(ret);
        assert(ret_n);

        if (mode < 0 || mode >= _TARGET_MODE_MAX)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL, "invalid mode");

        targets = calloc(inv->n_devices ? inv->n_devices : 1, sizeof(CcSwitchTarget));
        if (!targets)
                return -ENOMEM;

        if (bdf) {
                const CcDevice *d = cc_inventory_find(inv, bdf);

                if (!d) {
                        r = cc_error_set(err, CC_ERROR_NOT_FOUND, ENODEV, "%s: no such GPU", bdf);
                        goto fail;
                }
                if (!d->cc_capable && !(mode == TARGET_MODE_PPCIE && d->ppcie_capable)) {
                        r = cc_error_set(err, CC_ERROR_NOT_CAPABLE, EOPNOTSUPP,
                                         "%s: not capable of confidential computing", bdf);
                        goto fail;
                }
                if (mode == TARGET_MODE_PPCIE && d->arch == GPU_ARCH_BLACKWELL && d->cc_capable) {
                        r = refuse_ppcie_on_blackwell(d, err);
                        goto fail;
                }
                if (mode == TARGET_MODE_PPCIE) {
                        r = cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                         "%s: ppcie is set on all GPUs and NVSwitches together; use the Manager's SetMode",
                                         bdf);
                        goto fail;
                }
                r = target_init(&targets[n++], d);
                if (r < 0)
                        goto fail;
        } else {
                for (size_t i = 0; i < inv->n_devices; i++) {
                        const CcDevice *d = inv->devices[i];
                        bool wanted;

                        if (mode == TARGET_MODE_PPCIE)
                                wanted = d->ppcie_capable || d->cc_capable;
                        else if (d->kind == DEVICE_KIND_NVSWITCH)
                                /* Leaving PPCIe takes the NVSwitches out of it too. */
                                wanted = d->ppcie_capable && d->ppcie_mode != DEVICE_CC_OFF;
                        else
                                wanted = d->cc_capable;
                        if (!wanted)
                                continue;
                        if (mode == TARGET_MODE_PPCIE && d->arch == GPU_ARCH_BLACKWELL && d->cc_capable) {
                                r = refuse_ppcie_on_blackwell(d, err);
                                goto fail;
                        }
                        if (mode == TARGET_MODE_PPCIE && !d->ppcie_capable) {
                                r = cc_error_set(err, CC_ERROR_NOT_CAPABLE, EOPNOTSUPP,
                                                 "%s: not capable of protected PCIe; ppcie needs every GPU and NVSwitch to be",
                                                 d->bdf);
                                goto fail;
                        }
                        r = target_init(&targets[n++], d);
                        if (r < 0)
                                goto fail;
                }
                if (n == 0) {
                        r = cc_error_set(err, CC_ERROR_NOT_CAPABLE, EOPNOTSUPP,
                                         "no GPU capable of confidential computing on this host");
                        goto fail;
                }
        }

        *ret = targets;
        *ret_n = n;
        return 0;
fail:
        cc_switch_targets_free(targets, n);
        return r;
}
