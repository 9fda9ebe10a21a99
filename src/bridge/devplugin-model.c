/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <glib.h>
#include <limits.h>

#include "device-names.h"
#include "devplugin-model.h"
#include "macro.h"
#include "strv.h"

DpGpu *dp_gpu_new(const char *path) {
        DpGpu *g = g_new0(DpGpu, 1);

        g->path = g_strdup(path);
        g->address = g_strdup("");
        g->kind = g_strdup("gpu");
        g->name = g_strdup("");
        g->driver = g_strdup("");
        g->vfio_device = g_strdup("");
        g->vfio_cdev = g_strdup("");
        g->group_cdevs = g_new0(char *, 1);
        g->iommu_group = -1;
        g->numa_node = -1;
        g->cdev_id = -1;
        return g;
}

DpGpu *dp_gpu_free(DpGpu *g) {
        if (!g)
                return NULL;
        g_free(g->path);
        g_free(g->address);
        g_free(g->kind);
        g_free(g->name);
        g_free(g->driver);
        g_free(g->vfio_device);
        g_free(g->vfio_cdev);
        g_strfreev(g->group_cdevs);
        g_free(g);
        return NULL;
}

/* "/dev/vfio/devices/vfio12" -> 12; -1 for anything else. */
static int cdev_number(const char *cdev) {
        const char *base = strrchr(strempty(cdev), '/');
        char *end;
        long v;

        if (!base || strncmp(base + 1, "vfio", 4) != 0 || !g_ascii_isdigit(base[5]))
                return -1;
        errno = 0;
        v = strtol(base + 5, &end, 10);
        if (errno != 0 || *end || v > INT_MAX)
                return -1;
        return (int) v;
}

void dp_gpu_note(DpGpu *g) {
        int n;

        if (!driver_is_vfio(g->driver)) {
                g->cdev_id = -1;
                return;
        }
        n = cdev_number(g->vfio_cdev);
        if (n >= 0)
                g->cdev_id = n;
}

/* ------------------------------------------------------------ resources */

void dp_resource_done(DpResource *r) {
        for (size_t i = 0; i < r->n_devices; i++)
                g_strfreev(r->devices[i].nodes);
        g_free(r->devices);
        g_free(r->name);
        *r = (DpResource) {};
}

int dp_resource_copy(const DpResource *from, DpResource *to) {
        *to = (DpResource) {
                .name = g_strdup(from->name),
                .cdi = from->cdi,
                .devices = g_new0(DpDevice, from->n_devices + 1),
                .n_devices = from->n_devices,
        };
        for (size_t i = 0; i < from->n_devices; i++) {
                to->devices[i] = from->devices[i];
                to->devices[i].nodes = g_strdupv(from->devices[i].nodes);
        }
        return 0;
}

bool dp_resource_equal(const DpResource *a, const DpResource *b) {
        if (!streq(a->name, b->name) || a->cdi != b->cdi || a->n_devices != b->n_devices)
                return false;
        for (size_t i = 0; i < a->n_devices; i++) {
                const DpDevice *x = &a->devices[i], *y = &b->devices[i];

                if (!streq(x->id, y->id) || x->healthy != y->healthy || x->numa_node != y->numa_node ||
                    !strv_equal(x->nodes, y->nodes))
                        return false;
        }
        return true;
}

const DpDevice *dp_resource_find(const DpResource *r, const char *id) {
        for (size_t i = 0; i < r->n_devices; i++)
                if (streq(r->devices[i].id, id))
                        return &r->devices[i];
        return NULL;
}

DpInventory *dp_inventory_free(DpInventory *inv) {
        if (!inv)
                return NULL;
        for (size_t i = 0; i < inv->n_resources; i++)
                dp_resource_done(&inv->resources[i]);
        g_free(inv->resources);
        g_free(inv);
        return NULL;
}

const DpResource *dp_inventory_find(const DpInventory *inv, const char *name) {
        for (size_t i = 0; inv && i < inv->n_resources; i++)
                if (streq(inv->resources[i].name, name))
                        return &inv->resources[i];
        return NULL;
}

static int compare_gpus(const void *a, const void *b) {
        const DpGpu *x = *(DpGpu *const *) a, *y = *(DpGpu *const *) b;
        int c = strcmp(x->address, y->address);

        return c != 0 ? c : strcmp(x->path, y->path);
}

/* IDs are numbers: "9" before "10". */
static int compare_ids(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);

        if (la != lb)
                return la < lb ? -1 : 1;
        return strcmp(a, b);
}

static int compare_devices(const void *a, const void *b) {
        return compare_ids(((const DpDevice *) a)->id, ((const DpDevice *) b)->id);
}

static int compare_id_ptrs(const void *a, const void *b) {
        return compare_ids(*(char *const *) a, *(char *const *) b);
}

/* The resource a GPU belongs to; NULL: none. */
static char *resource_of(const DpGpu *g, const DpOptions *o) {
        if (streq(g->kind, "nvswitch"))
                return o->nvswitch_resource_name ? g_strdup(o->nvswitch_resource_name) : NULL;
        if (!streq(g->kind, "gpu"))
                return NULL;
        if (o->resource_name)
                return g_strdup(o->resource_name);
        return model_resource_name(g->name, g->device_id);
}

static DpResource *resource_get(GArray *resources, const char *name) {
        DpResource r = { .name = g_strdup(name), .cdi = cdi_kind_is_valid(name) };

        for (guint i = 0; i < resources->len; i++)
                if (streq(g_array_index(resources, DpResource, i).name, name)) {
                        g_free(r.name);
                        return &g_array_index(resources, DpResource, i);
                }
        g_array_append_val(resources, r);
        return &g_array_index(resources, DpResource, resources->len - 1);
}

static char **device_nodes(const DpGpu *g) {
        GPtrArray *l = g_ptr_array_new();

        if (g->cdev_id >= 0) {
                for (char **c = g->group_cdevs; c && *c; c++)
                        g_ptr_array_add(l, g_strdup(*c));
                /* The daemon lists the group's nodes; the GPU's own is one. */
                if (l->len == 0 && g->vfio_cdev[0])
                        g_ptr_array_add(l, g_strdup(g->vfio_cdev));
                g_ptr_array_add(l, g_strdup("/dev/iommu"));
        } else {
                g_ptr_array_add(l, g_strdup("/dev/vfio/vfio"));
                g_ptr_array_add(l, g_strdup_printf("/dev/vfio/%d", g->iommu_group));
        }
        g_ptr_array_add(l, NULL);
        return (char **) g_ptr_array_free(l, false);
}

int dp_inventory_build(DpGpu *const *gpus, size_t n_gpus, const DpOptions *o, DpInventory **ret) {
        g_autoptr(GArray) resources = g_array_new(false, true, sizeof(DpResource));
        g_autoptr(GHashTable) groups = g_hash_table_new(g_direct_hash, g_direct_equal);
        g_autofree DpGpu **sorted = g_new0(DpGpu *, n_gpus + 1);
        DpInventory *inv;

        assert(o);
        assert(ret);

        if (o->resource_name)
                resource_get(resources, o->resource_name);
        if (n_gpus > 0) {
                memcpy(sorted, gpus, n_gpus * sizeof(DpGpu *));
                qsort(sorted, n_gpus, sizeof(DpGpu *), compare_gpus);
        }

        for (size_t i = 0; i < n_gpus; i++) {
                const DpGpu *g = sorted[i];
                g_autofree char *name = resource_of(g, o);
                DpResource *r;
                DpDevice *d;

                if (!name)
                        continue;
                r = resource_get(resources, name);
                if (!driver_is_vfio(g->driver) || g->iommu_group < 0)
                        continue;
                /* One device per group: the first function stands for it. */
                if (g_hash_table_contains(groups, GINT_TO_POINTER(g->iommu_group)))
                        continue;
                g_hash_table_add(groups, GINT_TO_POINTER(g->iommu_group));

                r->devices = g_renew(DpDevice, r->devices, r->n_devices + 1);
                d = &r->devices[r->n_devices++];
                *d = (DpDevice) {
                        .healthy = o->daemon_present && (g->cdev_id >= 0 ? g->vfio_cdev[0] : g->vfio_device[0]),
                        .numa_node = g->numa_node >= 0 ? g->numa_node : -1,
                        .nodes = device_nodes(g),
                };
                snprintf(d->id, sizeof(d->id), "%d", g->cdev_id >= 0 ? g->cdev_id : g->iommu_group);
        }

        inv = g_new0(DpInventory, 1);
        inv->n_resources = resources->len;
        inv->resources = (DpResource *) g_array_free(g_steal_pointer(&resources), false);
        for (size_t i = 0; i < inv->n_resources; i++)
                if (inv->resources[i].n_devices > 1)
                        qsort(inv->resources[i].devices, inv->resources[i].n_devices, sizeof(DpDevice),
                              compare_devices);
        *ret = inv;
        return 0;
}

/* ------------------------------------------------------------ requests */

static bool strv_contains_n(char *const *l, size_t n, const char *s) {
        for (size_t i = 0; i < n; i++)
                if (streq(l[i], s))
                        return true;
        return false;
}

static int numa_of(const DpResource *r, const char *id) {
        const DpDevice *d = dp_resource_find(r, id);

        return d ? d->numa_node : -1;
}

int dp_preferred_allocation(const DpResource *r, char *const *available, size_t n_available, char *const *must,
                            size_t n_must, int size, char ***ret, char **ret_error) {
        g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) rest = g_ptr_array_new();
        g_autoptr(GHashTable) per_node = g_hash_table_new(g_direct_hash, g_direct_equal);
        GHashTableIter iter;
        gpointer key, value;
        int must_node = -2, node = -2;
        size_t want;

        assert(r);
        assert(ret);
        assert(ret_error);

        for (size_t i = 0; i < n_must; i++) {
                if (strv_contains_n((char **) out->pdata, out->len, must[i]))
                        continue;
                g_ptr_array_add(out, g_strdup(must[i]));
                if (must_node == -2)
                        must_node = numa_of(r, must[i]);
        }
        if (size < 0 || (size_t) size < out->len) {
                *ret_error = g_strdup_printf("allocation_size %d is below the %u must-include device(s)", size,
                                             out->len);
                return -EINVAL;
        }
        for (size_t i = 0; i < n_available; i++)
                if (!strv_contains_n((char **) out->pdata, out->len, available[i]) &&
                    !strv_contains_n((char **) rest->pdata, rest->len, available[i]))
                        g_ptr_array_add(rest, available[i]);
        want = (size_t) size - out->len;
        if (want > rest->len) {
                *ret_error = g_strdup_printf("allocation_size %d is above the %u device(s) available", size,
                                             out->len + rest->len);
                return -EINVAL;
        }
        g_ptr_array_sort(rest, compare_id_ptrs);

        /* Count the candidates of each node. */
        for (guint i = 0; i < rest->len; i++) {
                int n = numa_of(r, rest->pdata[i]);
                gpointer k = GINT_TO_POINTER(n);

                g_hash_table_insert(per_node, k, GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(per_node, k)) + 1));
        }
        if (want > 0 && must_node >= 0 &&
            GPOINTER_TO_UINT(g_hash_table_lookup(per_node, GINT_TO_POINTER(must_node))) >= want)
                node = must_node;
        if (want > 0 && node == -2) {
                guint fit = G_MAXUINT, most = 0;
                int fit_node = -2, most_node = -2;

                g_hash_table_iter_init(&iter, per_node);
                while (g_hash_table_iter_next(&iter, &key, &value)) {
                        int n = GPOINTER_TO_INT(key);
                        guint c = GPOINTER_TO_UINT(value);

                        if (n < 0)
                                continue;
                        if (c >= want && (c < fit || (c == fit && n < fit_node))) {
                                fit = c;
                                fit_node = n;
                        }
                        if (c > most || (c == most && n < most_node)) {
                                most = c;
                                most_node = n;
                        }
                }
                node = fit_node != -2 ? fit_node : most_node;
        }

        /* That node first, then the others, each in ID order. */
        for (int pass = 0; pass < 2 && out->len < (guint) size; pass++)
                for (guint i = 0; i < rest->len && out->len < (guint) size; i++) {
                        const char *id = rest->pdata[i];
                        bool on_node = node != -2 && numa_of(r, id) == node;

                        if ((pass == 0) != on_node)
                                continue;
                        g_ptr_array_add(out, g_strdup(id));
                }
        g_ptr_array_add(out, NULL);
        *ret = (char **) g_ptr_array_free(g_steal_pointer(&out), false);
        return 0;
}

int dp_allocate(const DpResource *r, char *const *ids, size_t n_ids, char ***ret_nodes, char ***ret_cdi,
                char **ret_error) {
        g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) cdi = g_ptr_array_new_with_free_func(g_free);

        assert(r);
        assert(ret_nodes);
        assert(ret_cdi);
        assert(ret_error);

        for (size_t i = 0; i < n_ids; i++) {
                const DpDevice *d = dp_resource_find(r, ids[i]);

                if (!d) {
                        *ret_error = g_strdup_printf("%s has no device \"%s\"", r->name, ids[i]);
                        return -ENOENT;
                }
                if (!d->healthy) {
                        *ret_error = g_strdup_printf("device \"%s\" of %s is unhealthy", ids[i], r->name);
                        return -EAGAIN;
                }
                if (strv_contains_n(ids, i, ids[i])) {
                        *ret_error = g_strdup_printf("device \"%s\" of %s is asked for twice", ids[i], r->name);
                        return -EINVAL;
                }
                for (char **n = d->nodes; n && *n; n++)
                        if (!strv_contains_n((char **) nodes->pdata, nodes->len, *n))
                                g_ptr_array_add(nodes, g_strdup(*n));
                if (r->cdi)
                        g_ptr_array_add(cdi, g_strdup_printf("%s=%s", r->name, d->id));
        }
        g_ptr_array_add(nodes, NULL);
        g_ptr_array_add(cdi, NULL);
        *ret_nodes = (char **) g_ptr_array_free(g_steal_pointer(&nodes), false);
        *ret_cdi = (char **) g_ptr_array_free(g_steal_pointer(&cdi), false);
        return 0;
}
