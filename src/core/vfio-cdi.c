/* SPDX-License-Identifier: MIT */

/* The CDI specifications of the devices bound to VFIO: see vfio-cdi.h.
 * The names follow the kubelet device plugin of nvidia-cc-k8s-bridge
 * (src/bridge/devplugin-model.h), which gives the same IDs and nodes. */

#include <assert.h>
#include <dirent.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "device-names.h"
#include "fileio.h"
#include "log.h"
#include "pci-sysfs.h"
#include "strbuf.h"
#include "strv.h"
#include "vfio-cdi.h"

#define CDI_DIR "var/run/cdi"
#define CDI_HEADER "# Written by nvidia-ccd"

/* ------------------------------------------------------------ the devices */

void cc_cdi_devices_free(CcCdiDevice *l) {
        for (CcCdiDevice *d = l; d && d->bdf; d++) {
                free(d->bdf);
                free(d->kind);
        }
        free(l);
}

static size_t cdi_devices_length(const CcCdiDevice *l) {
        size_t n = 0;

        while (l && l[n].bdf)
                n++;
        return n;
}

CcCdiDevice *cc_cdi_devices_copy(const CcCdiDevice *l) {
        size_t n = cdi_devices_length(l);
        CcCdiDevice *c = calloc(n + 1, sizeof(CcCdiDevice));

        if (!c)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                c[i].bdf = strdup(l[i].bdf);
                c[i].kind = strdup(l[i].kind);
                c[i].index = l[i].index;
                if (!c[i].bdf || !c[i].kind) {
                        free(c[i].bdf);
                        free(c[i].kind);
                        c[i].bdf = NULL;
                        cc_cdi_devices_free(c);
                        return NULL;
                }
        }
        return c;
}

CcCdiDevice *cc_cdi_devices_new(const CcInventory *inv, const char *gpu_kind) {
        CcCdiDevice *l = calloc(inv->n_devices + 1, sizeof(CcCdiDevice));
        size_t n = 0;
        int n_gpus = 0;

        if (!l)
                return NULL;
        /* The inventory is in PCI address order: so are the indices. */
        for (size_t i = 0; i < inv->n_devices; i++) {
                const CcDevice *d = inv->devices[i];
                char *kind;

                if (d->kind == DEVICE_KIND_NVSWITCH)
                        kind = strdup(RESOURCE_NVSWITCH);
                else if (gpu_kind)
                        kind = strdup(gpu_kind);
                else
                        kind = model_resource_name(d->name, d->device_id);
                if (!kind || !(l[n].bdf = strdup(d->bdf))) {
                        free(kind);
                        cc_cdi_devices_free(l);
                        return NULL;
                }
                l[n].index = !gpu_kind && d->kind != DEVICE_KIND_NVSWITCH ? n_gpus++ : -1;
                l[n++].kind = kind;
        }
        return l;
}

/* ------------------------------------------------------------ text */

/* One device of a spec, as read from sysfs. */
typedef struct SpecDevice {
        int id;
        char **nodes;
        bool iommufd;
} SpecDevice;

typedef struct Spec {
        char *kind;
        SpecDevice *devices;
        size_t n_devices;
} Spec;

static void specs_free(Spec *specs, size_t n) {
        for (size_t i = 0; i < n; i++) {
                for (size_t k = 0; k < specs[i].n_devices; k++)
                        strv_free(specs[i].devices[k].nodes);
                free(specs[i].devices);
                free(specs[i].kind);
        }
        free(specs);
}

static int compare_spec_devices(const void *a, const void *b) {
        int x = ((const SpecDevice *) a)->id, y = ((const SpecDevice *) b)->id;
        return x < y ? -1 : x > y;
}

/* "/dev/vfio/devices/vfio12" -> 12 */
static int cdev_number(const char *cdev) {
        const char *base = strrchr(cdev, '/');
        char *end;
        long v;

        if (!base || strncmp(base + 1, "vfio", 4) != 0)
                return -1;
        errno = 0;
        v = strtol(base + 5, &end, 10);
        if (errno != 0 || end == base + 5 || *end || v < 0 || v > INT32_MAX)
                return -1;
        return (int) v;
}

/* The device that stands for bdf's group, or 0 when bdf is not bound to
 * VFIO (or has no group). */
static int read_device(HwHost *h, const char *bdf, SpecDevice *ret, int *ret_group) {
        _cleanup_free_ char *driver = NULL, *own_cdev = NULL;
        _cleanup_(strv_freep) char **members = NULL, **nodes = NULL;
        size_t n = 0;
        int group;

        if (hw_pci_get_driver(h, bdf, &driver) < 0 || !hw_driver_is_vfio(driver))
                return 0;
        if (hw_pci_get_iommu_group(h, bdf, &group) < 0 || group < 0)
                return 0;
        if (hw_pci_get_group_members(h, bdf, &members) < 0 || hw_pci_get_vfio_cdev(h, bdf, &own_cdev) < 0)
                return 0;
        nodes = calloc(strv_length(members) + 2, sizeof(char *));
        if (!nodes)
                return -ENOMEM;
        if (own_cdev[0]) {
                for (char **m = members; *m; m++) {
                        char *cdev = NULL;

                        if (hw_pci_get_vfio_cdev(h, *m, &cdev) < 0)
                                continue;
                        if (cdev[0])
                                nodes[n++] = cdev;
                        else
                                free(cdev);
                }
        } else if (asprintf(&nodes[n++], "/dev/vfio/%d", group) < 0)
                return -ENOMEM;

        *ret = (SpecDevice) {
                .id = own_cdev[0] ? cdev_number(own_cdev) : group,
                .nodes = TAKE_PTR(nodes),
                .iommufd = own_cdev[0] != '\0',
        };
        *ret_group = group;
        return ret->id >= 0 ? 1 : 0;
}

static Spec *spec_get(Spec **specs, size_t *n, const char *kind) {
        Spec *s;

        for (size_t i = 0; i < *n; i++)
                if (streq((*specs)[i].kind, kind))
                        return &(*specs)[i];
        s = realloc(*specs, (*n + 1) * sizeof(Spec));
        if (!s)
                return NULL;
        *specs = s;
        s = &s[(*n)];
        *s = (Spec) { .kind = strdup(kind) };
        if (!s->kind)
                return NULL;
        (*n)++;
        return s;
}

static char **nodes_copy(char *const *l) {
        size_t n = strv_length(l);
        char **c = calloc(n + 1, sizeof(char *));

        for (size_t i = 0; c && i < n; i++)
                if (!(c[i] = strdup(l[i]))) {
                        strv_free(c);
                        return NULL;
                }
        return c;
}

/* Takes d's nodes on success. */
static int spec_add(Spec **specs, size_t *n_specs, const char *kind, SpecDevice *d) {
        Spec *s = spec_get(specs, n_specs, kind);
        SpecDevice *nd = s ? realloc(s->devices, (s->n_devices + 1) * sizeof(SpecDevice)) : NULL;

        if (!nd)
                return -ENOMEM;
        s->devices = nd;
        s->devices[s->n_devices++] = *d;
        return 0;
}

static int collect(HwHost *h, const CcCdiDevice *devices, Spec **ret, size_t *ret_n) {
        Spec *specs = NULL;
        size_t n_specs = 0, n = cdi_devices_length(devices);
        int *groups = calloc(n + 1, sizeof(int));
        size_t n_groups = 0;
        int r = 0;

        if (!groups)
                return -ENOMEM;
        for (size_t i = 0; i < n && r >= 0; i++) {
                SpecDevice d = {};
                bool seen = false;
                int group = -1;

                r = read_device(h, devices[i].bdf, &d, &group);
                if (r <= 0)
                        continue;
                /* One device per group: the first stands for it. */
                for (size_t k = 0; k < n_groups; k++)
                        seen = seen || groups[k] == group;
                if (seen) {
                        strv_free(d.nodes);
                        continue;
                }
                groups[n_groups++] = group;
                if (!cdi_kind_is_valid(devices[i].kind)) {
                        log_warning("%s: no CDI name: %s is not a valid CDI kind", devices[i].bdf, devices[i].kind);
                        strv_free(d.nodes);
                        continue;
                }
                if (devices[i].index >= 0) {
                        /* The same device under its index, in the index spec. */
                        SpecDevice x = { .id = devices[i].index, .nodes = nodes_copy(d.nodes), .iommufd = d.iommufd };

                        r = x.nodes ? spec_add(&specs, &n_specs, CDI_INDEX_KIND, &x) : -ENOMEM;
                        if (r < 0) {
                                strv_free(x.nodes);
                                strv_free(d.nodes);
                                break;
                        }
                }
                r = spec_add(&specs, &n_specs, devices[i].kind, &d);
                if (r < 0) {
                        strv_free(d.nodes);
                        break;
                }
        }
        free(groups);
        if (r < 0) {
                specs_free(specs, n_specs);
                return r;
        }
        for (size_t i = 0; i < n_specs; i++)
                qsort(specs[i].devices, specs[i].n_devices, sizeof(SpecDevice), compare_spec_devices);
        *ret = specs;
        *ret_n = n_specs;
        return 0;
}

static int spec_text(const Spec *s, StrBuf *b) {
        bool legacy = false, iommufd = false;

        strbuf_printf(b, CDI_HEADER ": the devices of %s bound to VFIO.  Do not edit.\n"
                      "cdiVersion: \"0.5.0\"\nkind: %s\ndevices:\n", s->kind, s->kind);
        for (size_t i = 0; i < s->n_devices; i++) {
                const SpecDevice *d = &s->devices[i];

                strbuf_printf(b, "  - name: \"%d\"\n    containerEdits:\n      deviceNodes:\n", d->id);
                for (char **node = d->nodes; node && *node; node++)
                        strbuf_printf(b, "        - path: %s\n", *node);
                legacy = legacy || !d->iommufd;
                iommufd = iommufd || d->iommufd;
        }
        strbuf_printf(b, "containerEdits:\n  deviceNodes:\n");
        if (legacy)
                strbuf_printf(b, "    - path: /dev/vfio/vfio\n");
        if (iommufd)
                strbuf_printf(b, "    - path: /dev/iommu\n");
        return b->oom ? -ENOMEM : 0;
}

/* ------------------------------------------------------------ files */

char *cc_vfio_cdi_path(HwHost *h, const char *kind) {
        _cleanup_free_ char *name = strdup(kind);
        char *slash;

        if (!name)
                return NULL;
        /* nvidia.com/pgpu -> nvidia.com-pgpu.yaml */
        slash = strchr(name, '/');
        if (slash)
                *slash = '-';
        return hw_path(h, CDI_DIR "/%s.yaml", name);
}

static bool written_by_us(const char *path) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        char line[64];

        return f && fgets(line, sizeof(line), f) && strncmp(line, CDI_HEADER, strlen(CDI_HEADER)) == 0;
}

/* Every spec of ours in the directory that is not in keep. */
static int remove_others(HwHost *h, char **keep, CcError *err) {
        _cleanup_free_ char *dir = hw_path(h, CDI_DIR);
        struct dirent *de;
        DIR *d;
        int r = 0;

        if (!dir)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : cc_error_set(err, CC_ERROR_INTERNAL, errno, "Cannot read %s: %m", dir);
        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL;
                size_t len = strlen(de->d_name);
                bool kept = false;

                if (len < 6 || !streq(de->d_name + len - 5, ".yaml"))
                        continue;
                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0) {
                        r = cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
                        break;
                }
                for (char **k = keep; k && *k; k++)
                        kept = kept || streq(*k, path);
                if (kept || !written_by_us(path))
                        continue;
                if (unlink(path) < 0 && errno != ENOENT) {
                        r = cc_error_set(err, CC_ERROR_INTERNAL, errno, "Cannot remove %s: %m", path);
                        break;
                }
        }
        closedir(d);
        return r;
}

int cc_vfio_cdi_update(HwHost *h, const CcCdiDevice *devices, CcError *err) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_(strv_freep) char **written = NULL;
        Spec *specs = NULL;
        size_t n_specs = 0;
        int r;

        assert(h);

        r = collect(h, devices, &specs, &n_specs);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, -r, "Out of memory");
        written = calloc(n_specs + 1, sizeof(char *));
        dir = hw_path(h, CDI_DIR);
        if (!written || !dir) {
                specs_free(specs, n_specs);
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
        }
        if (n_specs > 0) {
                r = mkdir_parents(dir, 0755);
                if (r < 0) {
                        specs_free(specs, n_specs);
                        return cc_error_set(err, CC_ERROR_INTERNAL, -r, "Cannot create %s: %s", dir, strerror(-r));
                }
        }
        for (size_t i = 0; i < n_specs; i++) {
                StrBuf b = {};
                char *path = cc_vfio_cdi_path(h, specs[i].kind);

                r = path ? spec_text(&specs[i], &b) : -ENOMEM;
                if (r >= 0)
                        r = write_file_atomic(path, b.data, b.len, 0644);
                strbuf_done(&b);
                if (r < 0) {
                        r = cc_error_set(err, CC_ERROR_INTERNAL, -r, "Cannot write %s: %s", strempty(path),
                                         strerror(-r));
                        free(path);
                        specs_free(specs, n_specs);
                        return r;
                }
                written[i] = path;
        }
        specs_free(specs, n_specs);
        return remove_others(h, written, err);
}
