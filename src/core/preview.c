/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdarg.h>

#include "bar0.h"
#include "cc-ready.h"
#include "pci-config.h"
#include "in-use.h"
#include "pci-sysfs.h"
#include "preview.h"
#include "strv.h"

const char *preview_action_to_string(PreviewAction a) {
        static const char *const names[_PREVIEW_ACTION_MAX] = {
                [PREVIEW_ACTION_SWITCH] = "switch",
                [PREVIEW_ACTION_SKIP] = "skip",
                [PREVIEW_ACTION_BIND] = "bind",
                [PREVIEW_ACTION_REFUSE] = "refuse",
        };
        return (unsigned) a < _PREVIEW_ACTION_MAX ? names[a] : NULL;
}

CcPreview *cc_preview_free(CcPreview *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_steps; i++) {
                PreviewStep *s = &p->steps[i];

                free(s->driver);
                hw_holders_done(&s->holders);
                free(s->reason);
                strv_free(s->members);
                free(s->vfio_driver);
        }
        free(p->steps);
        free(p);
        return NULL;
}

PreviewStep *cc_preview_add_step(CcPreview *p, const char *bdf) {
        PreviewStep *l = realloc(p->steps, (p->n_steps + 1) * sizeof(PreviewStep));

        if (!l)
                return NULL;
        p->steps = l;
        l[p->n_steps] = (PreviewStep) { .group = -1 };
        snprintf(l[p->n_steps].bdf, sizeof(l[p->n_steps].bdf), "%s", bdf);
        return &l[p->n_steps++];
}

static int set_reason(PreviewStep *s, const char *fmt, ...) _printf_(2, 3);
static int set_reason(PreviewStep *s, const char *fmt, ...) {
        va_list ap;
        char *r;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&r, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        free(s->reason);
        s->reason = r;
        return 0;
}

int cc_preview_find_holders(HwHost *h, CcPreview *p, const bool *want, CcError *err) {
        _cleanup_(strv_freep) char **bdfs = calloc(p->n_steps + 1, sizeof(char *));
        HwHolders *holders = NULL;
        size_t n = 0;
        int r;

        if (!bdfs)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
        for (size_t i = 0; i < p->n_steps; i++)
                if (want[i] && !(bdfs[n++] = strdup(p->steps[i].bdf)))
                        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
        r = hw_pci_find_holders(h, bdfs, &holders);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, r, "cannot look for processes using the devices: %s",
                                    strerror(-r));

        for (size_t i = 0, k = 0; i < p->n_steps; i++) {
                PreviewStep *s = &p->steps[i];
                _cleanup_free_ char *who = NULL;

                if (!want[i])
                        continue;
                s->holders = holders[k];
                holders[k++] = (HwHolders) {};
                if (s->holders.n == 0)
                        continue;
                who = cc_holders_to_string(&s->holders);
                s->action = PREVIEW_ACTION_REFUSE;
                if (!who || set_reason(s, "in use by %s: %s cannot let go of it while they hold it open", who,
                                       s->driver) < 0) {
                        hw_holders_array_free(holders, n);
                        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
                }
        }
        hw_holders_array_free(holders, n);
        return 0;
}

/* The status as the engine reads it before a switch: one look, no waiting
 * for the firewall or the boot. */
static int read_status(HwHost *h, const CcSwitchTarget *t, CcStatus *ret, CcError *err) {
        static const CcTimeouts no_wait = {};
        _cleanup_(bar0_closep) Bar0 *bar = NULL;
        _cleanup_(pci_config_closep) PciConfig *cfg = NULL;
        int r;

        r = bar0_open(h, t->bdf, &bar, err);
        if (r < 0)
                return r;
        if (pci_config_open(h, t->bdf, &cfg) < 0)
                cfg = NULL; /* the chips that need it have a fallback */
        r = cc_wait_firewall(cfg, bar, t->chip, &no_wait, err);
        if (r >= 0)
                r = cc_check_alive(bar, err);
        if (r >= 0)
                r = cc_query(bar, t->chip, ret, err);
        return r;
}

static const char *status_to_string(const CcSwitchTarget *t, const CcStatus *s, char buf[static 64]) {
        if (t->kind == DEVICE_KIND_NVSWITCH)
                snprintf(buf, 64, "protected PCIe %s", s->ppcie ? "on" : "off");
        else
                snprintf(buf, 64, "%s%s", device_cc_mode_to_string(s->cc), s->ppcie ? " with protected PCIe" : "");
        return buf;
}

int cc_preview_set_mode(HwHost *h, TargetMode mode, const CcSwitchTarget *targets, size_t n, CcPreview **ret,
                        CcError *err) {
        _cleanup_(cc_preview_freep) CcPreview *p = calloc(1, sizeof(CcPreview));
        _cleanup_free_ bool *want = calloc(n ? n : 1, sizeof(bool));
        _cleanup_free_ CcStatus *status = calloc(n ? n : 1, sizeof(CcStatus));
        _cleanup_free_ bool *readable = calloc(n ? n : 1, sizeof(bool));
        const char *m = target_mode_to_string(mode);
        size_t n_in_mode = 0;
        int r;

        assert(h);
        assert(targets || n == 0);
        assert(ret);

        if (!p || !want || !status || !readable)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");

        for (size_t i = 0; i < n; i++) {
                const CcSwitchTarget *t = &targets[i];
                PreviewStep *s = cc_preview_add_step(p, t->bdf);
                CcError read_err = CC_ERROR_INIT;
                char now[64];

                if (!s)
                        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
                r = hw_pci_get_driver(h, t->bdf, &s->driver);
                if (r < 0)
                        return cc_error_set(err, CC_ERROR_HOST_NOT_READY, r, "%s: cannot read its driver: %s", t->bdf,
                                            strerror(-r));
                if (!s->driver && !(s->driver = strdup("")))
                        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");

                readable[i] = read_status(h, t, &status[i], &read_err) >= 0;
                if (readable[i] && cc_status_matches(t->arch, &status[i], mode)) {
                        n_in_mode++;
                        s->action = PREVIEW_ACTION_SKIP;
                        r = set_reason(s, "already %s", status_to_string(t, &status[i], now));
                } else {
                        s->action = PREVIEW_ACTION_SWITCH;
                        if (!readable[i])
                                r = set_reason(s, "its mode cannot be read (%s); the switch would try", read_err.message);
                        else if (*s->driver)
                                r = set_reason(s, "%s now; unbind from %s, set %s, reset, bind back to %s",
                                               status_to_string(t, &status[i], now), s->driver, m, s->driver);
                        else
                                r = set_reason(s, "%s now; set %s, reset", status_to_string(t, &status[i], now), m);
                }
                if (r < 0)
                        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
        }

        /* PPCIe is all-or-nothing, as in the engine: unless every device is
         * in it, all take part. */
        if (mode == TARGET_MODE_PPCIE && n_in_mode < n)
                for (size_t i = 0; i < n; i++) {
                        PreviewStep *s = &p->steps[i];
                        char now[64];

                        if (s->action != PREVIEW_ACTION_SKIP)
                                continue;
                        s->action = PREVIEW_ACTION_SWITCH;
                        if (set_reason(s, "already %s, but ppcie is set on every device together",
                                       status_to_string(&targets[i], &status[i], now)) < 0)
                                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
                }

        /* Only devices the switch takes from a driver can be held up. */
        for (size_t i = 0; i < n; i++)
                want[i] = p->steps[i].action == PREVIEW_ACTION_SWITCH && *p->steps[i].driver;
        r = cc_preview_find_holders(h, p, want, err);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(p);
        return 0;
}
