/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdint.h>

#include "ctl-report.h"
#include "macro.h"

static const CtlDevice *find(const CtlHost *h, const char *address) {
        for (size_t i = 0; i < h->n_devices; i++)
                if (streq_ptr(h->devices[i].address, address))
                        return &h->devices[i];
        return NULL;
}

static bool is_vfio(const char *driver) {
        return driver && strstr(driver, "vfio");
}

static void print_list(FILE *f, const char *what, const char *const *l, size_t n) {
        if (n == 0)
                return;
        fprintf(f, "%s:", what);
        for (size_t i = 0; i < n; i++)
                fprintf(f, " %s", l[i]);
        fputc('\n', f);
}

void ctl_report_mode(FILE *f, const CtlHost *before, const CtlHost *after, const char *mode, const char *gpu) {
        _cleanup_free_ const char **switched = calloc(after->n_devices + 1, sizeof(char *));
        _cleanup_free_ const char **already = calloc(after->n_devices + 1, sizeof(char *));
        size_t n_switched = 0, n_already = 0;
        char what[128];

        assert(f);
        assert(mode);

        if (!switched || !already)
                return;

        for (size_t i = 0; i < after->n_devices; i++) {
                const CtlDevice *d = &after->devices[i], *was;

                if (gpu ? !streq_ptr(d->address, gpu) : !(streq(mode, "ppcie") ? d->ppcie_capable : d->cc_capable))
                        continue;
                /* The daemon leaves a device already in the mode alone:
                 * one whose modes did not change was one. */
                was = find(before, d->address);
                if (was && streq_ptr(was->cc_mode, d->cc_mode) && streq_ptr(was->ppcie_mode, d->ppcie_mode))
                        already[n_already++] = d->address;
                else
                        switched[n_switched++] = d->address;
        }
        snprintf(what, sizeof(what), "Switched %zu device%s to mode %s", n_switched, n_switched == 1 ? "" : "s", mode);
        print_list(f, what, switched, n_switched);
        snprintf(what, sizeof(what), "%zu device%s already in mode %s", n_already, n_already == 1 ? " was" : "s were",
                 mode);
        print_list(f, what, already, n_already);
}

/* One line for the group of d. */
static void report_group(FILE *f, const CtlHost *before, const CtlHost *after, const CtlDevice *d, bool bind) {
        bool changed = false;

        for (char **m = d->group_members; m && *m; m++) {
                const CtlDevice *now = find(after, *m), *was = find(before, *m);

                if (now && was && !streq_ptr(now->driver, was->driver))
                        changed = true;
        }
        if (bind)
                fprintf(f, changed ? "Bound IOMMU group %d to VFIO" : "IOMMU group %d was bound to VFIO already",
                        d->iommu_group);
        else
                fprintf(f, changed ? "Gave IOMMU group %d back" : "IOMMU group %d was not bound to VFIO",
                        d->iommu_group);
        if (bind && d->vfio_device && *d->vfio_device)
                fprintf(f, " (%s)", d->vfio_device);
        fputc(':', f);
        /* Every function of the group, with its driver where the daemon
         * shows the device. */
        for (char **m = d->group_members; m && *m; m++) {
                const CtlDevice *now = find(after, *m);

                fprintf(f, " %s", *m);
                if (now)
                        fprintf(f, " (%s)", now->driver && *now->driver ? now->driver : "no driver");
        }
        fputc('\n', f);
}

void ctl_report_vfio(FILE *f, const CtlHost *before, const CtlHost *after, bool bind,
                     const char (*addresses)[CTL_BDF_MAX], size_t n) {
        _cleanup_free_ int32_t *done = calloc(after->n_devices + 1, sizeof(int32_t));
        size_t n_done = 0;

        assert(f);
        assert(addresses || n == 0);

        if (!done)
                return;

        for (size_t i = 0; i < after->n_devices; i++) {
                const CtlDevice *d = &after->devices[i], *was = find(before, d->address);
                bool named = false, seen = false;

                for (size_t j = 0; j < n; j++)
                        if (streq_ptr(d->address, addresses[j]))
                                named = true;
                /* Every GPU, and whatever else changed, when none was named. */
                if (n == 0)
                        named = streq_ptr(d->kind, "gpu") ||
                                (was && !streq_ptr(was->driver, d->driver) && (is_vfio(d->driver) || is_vfio(was->driver)));
                if (!named)
                        continue;
                if (d->iommu_group < 0) {
                        fprintf(f, "%s: no IOMMU group\n", d->address);
                        continue;
                }
                for (size_t j = 0; j < n_done; j++)
                        if (done[j] == d->iommu_group)
                                seen = true;
                if (seen)
                        continue;
                done[n_done++] = d->iommu_group;
                report_group(f, before, after, d, bind);
        }
}
