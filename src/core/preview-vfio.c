/* SPDX-License-Identifier: MIT */

/* The preview of BindVfio: the plan's groups device by device, with the
 * VFIO driver each would get and the processes that would hold it up. */

#include <assert.h>

#include "kmod-vfio.h"
#include "pci-sysfs.h"
#include "preview.h"
#include "strv.h"

static int fill_step(HwHost *h, const VfioPlanGroup *g, const VfioPlanDevice *d, char **members, PreviewStep *s,
                     CcError *err) {
        int r;

        s->vfio = true;
        s->group = g->group;
        s->members = calloc(strv_length(members) + 1, sizeof(char *));
        s->driver = strdup(strempty(d->driver));
        if (!s->members || !s->driver)
                return -ENOMEM;
        for (size_t k = 0; members[k]; k++)
                if (!(s->members[k] = strdup(members[k])))
                        return -ENOMEM;

        if (!d->change) {
                s->action = PREVIEW_ACTION_SKIP;
                s->vfio_driver = strdup(d->driver);
                if (!s->vfio_driver || asprintf(&s->reason, "already bound to %s", d->driver) < 0)
                        return -ENOMEM;
                return 0;
        }

        s->action = PREVIEW_ACTION_BIND;
        r = hw_vfio_module_driver(h, d->module, &s->vfio_driver);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, r, "%s: cannot name the driver of module %s: %s",
                                    d->bdf, d->module, strerror(-r));
        if (d->driver)
                r = asprintf(&s->reason, "%sunbind from %s, bind to %s (module %s)", d->target ? "" : "in the group: ",
                             d->driver, s->vfio_driver, d->module);
        else
                r = asprintf(&s->reason, "%sbind to %s (module %s)", d->target ? "" : "in the group: ", s->vfio_driver,
                             d->module);
        return r < 0 ? -ENOMEM : 0;
}

int cc_preview_bind_vfio(HwHost *h, const VfioPlan *plan, CcPreview **ret, CcError *err) {
        _cleanup_(cc_preview_freep) CcPreview *p = calloc(1, sizeof(CcPreview));
        _cleanup_free_ bool *want = NULL;
        int r;

        assert(h);
        assert(plan);
        assert(plan->action == VFIO_ACTION_BIND);
        assert(ret);

        if (!p)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");

        for (size_t i = 0; i < plan->n_groups; i++) {
                const VfioPlanGroup *g = &plan->groups[i];
                _cleanup_(strv_freep) char **members = NULL;

                if (g->n_devices == 0)
                        continue;
                r = hw_pci_get_group_members(h, g->devices[0].bdf, &members);
                if (r < 0)
                        return cc_error_set(err, CC_ERROR_HOST_NOT_READY, r, "%s: cannot list IOMMU group %d: %s",
                                            g->devices[0].bdf, g->group, strerror(-r));
                for (size_t k = 0; k < g->n_devices; k++) {
                        PreviewStep *s = cc_preview_add_step(p, g->devices[k].bdf);

                        if (!s)
                                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
                        r = fill_step(h, g, &g->devices[k], members, s, err);
                        if (r == -ENOMEM)
                                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
                        if (r < 0)
                                return r;
                }
        }

        /* Only devices the bind takes from a driver can be held up. */
        want = calloc(p->n_steps ? p->n_steps : 1, sizeof(bool));
        if (!want)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
        for (size_t i = 0; i < p->n_steps; i++)
                want[i] = p->steps[i].action == PREVIEW_ACTION_BIND && *p->steps[i].driver;
        r = cc_preview_find_holders(h, p, want, err);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(p);
        return 0;
}
