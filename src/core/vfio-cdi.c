/* SPDX-License-Identifier: MIT */

/* The CDI specification of the GPUs bound to vfio, for container runtimes
 * (Kata through containerd's CDI support): kind nvidia.com/pgpu, a device
 * per GPU named by its index among the managed GPUs, another named by its
 * IOMMU group, and with iommufd one named by its vfioN.  Each carries the
 * device nodes of the GPU's whole group. */

#include <assert.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "fileio.h"
#include "log.h"
#include "pci-sysfs.h"
#include "strv.h"
#include "vfio-bind.h"

#define CDI_FILE "var/run/cdi/nvidia-ccd.yaml"

char *cc_vfio_cdi_path(HwHost *h) {
        return hw_path(h, CDI_FILE);
}

typedef struct Buffer {
        char *data;
        size_t size, cap;
        bool oom;
} Buffer;

static void buf_printf(Buffer *b, const char *fmt, ...) _printf_(2, 3);
static void buf_printf(Buffer *b, const char *fmt, ...) {
        va_list ap;
        int k;

        if (b->oom)
                return;
        for (;;) {
                va_start(ap, fmt);
                k = vsnprintf(b->data ? b->data + b->size : NULL, b->data ? b->cap - b->size : 0, fmt, ap);
                va_end(ap);
                if (k < 0) {
                        b->oom = true;
                        return;
                }
                if (b->data && b->size + (size_t) k < b->cap) {
                        b->size += (size_t) k;
                        return;
                }
                size_t ncap = (b->cap + (size_t) k + 1) * 2;
                char *n = realloc(b->data, ncap);
                if (!n) {
                        b->oom = true;
                        return;
                }
                b->data = n;
                b->cap = ncap;
        }
}

/* The nodes of the group: /dev/vfio/<group>, and the vfioN of every
 * member bound to vfio when the kernel gives them. */
static void put_device(Buffer *b, const char *name, int group, char *const *cdevs) {
        buf_printf(b, "  - name: \"%s\"\n    containerEdits:\n      deviceNodes:\n", name);
        buf_printf(b, "        - path: /dev/vfio/%d\n", group);
        for (char *const *c = cdevs; c && *c; c++)
                buf_printf(b, "        - path: %s\n", *c);
}

static bool name_used(char **names, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(names[i], name))
                        return true;
        return false;
}

int cc_vfio_cdi_update(HwHost *h, char *const *gpus, CcError *err) {
        _cleanup_free_ char *path = NULL, *dir = NULL;
        size_t n_gpus = strv_length((char **) gpus), n_names = 0, n_bound = 0;
        Buffer b = {};
        char **names;
        bool iommufd;
        int r = 0;

        assert(h);

        path = cc_vfio_cdi_path(h);
        names = calloc(3 * n_gpus + 1, sizeof(char *));
        if (!path || !names) {
                free(names);
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
        }
        iommufd = hw_iommufd_present(h);

        buf_printf(&b, "# Written by nvidia-ccd: the GPUs bound to VFIO.  Do not edit.\n"
                       "cdiVersion: \"0.5.0\"\nkind: nvidia.com/pgpu\ndevices:\n");
        for (size_t i = 0; i < n_gpus && r >= 0; i++) {
                _cleanup_free_ char *driver = NULL, *own_cdev = NULL;
                _cleanup_(strv_freep) char **members = NULL, **cdevs = NULL;
                char index_name[24], group_name[16];
                size_t n_cdevs = 0;
                int group;

                if (hw_pci_get_driver(h, gpus[i], &driver) < 0 || !hw_driver_is_vfio(driver))
                        continue;
                if (hw_pci_get_iommu_group(h, gpus[i], &group) < 0 || group < 0)
                        continue;
                if (hw_pci_get_group_members(h, gpus[i], &members) < 0)
                        continue;
                cdevs = calloc(strv_length(members) + 1, sizeof(char *));
                if (!cdevs) {
                        r = -ENOMEM;
                        break;
                }
                for (char **m = members; *m; m++) {
                        _cleanup_free_ char *cdev = NULL;
                        if (hw_pci_get_vfio_cdev(h, *m, &cdev) >= 0 && *cdev) {
                                if (streq(*m, gpus[i]) && !(own_cdev = strdup(cdev))) {
                                        r = -ENOMEM;
                                        break;
                                }
                                cdevs[n_cdevs++] = TAKE_PTR(cdev);
                        }
                }

                n_bound++;
                snprintf(index_name, sizeof(index_name), "%zu", i);
                snprintf(group_name, sizeof(group_name), "%d", group);
                /* Index names first; a group number that equals another
                 * GPU's index is left out rather than made ambiguous. */
                const char *candidates[] = { index_name, group_name,
                                             own_cdev ? strrchr(own_cdev, '/') + 1 : NULL };
                for (size_t k = 0; k < ELEMENTSOF(candidates); k++) {
                        if (!candidates[k])
                                continue;
                        if (k > 0 && name_used(names, n_names, candidates[k]))
                                continue;
                        if (k == 1 && (size_t) group < n_gpus && (size_t) group != i)
                                continue;
                        if (!(names[n_names] = strdup(candidates[k]))) {
                                r = -ENOMEM;
                                break;
                        }
                        n_names++;
                        put_device(&b, candidates[k], group, cdevs);
                }
        }
        buf_printf(&b, "containerEdits:\n  deviceNodes:\n    - path: /dev/vfio/vfio\n");
        if (iommufd)
                buf_printf(&b, "    - path: /dev/iommu\n");
        strv_free(names);

        if (r >= 0 && b.oom)
                r = -ENOMEM;
        if (r < 0) {
                free(b.data);
                return cc_error_set(err, CC_ERROR_INTERNAL, -r, "Out of memory");
        }

        if (n_bound == 0) {
                free(b.data);
                if (unlink(path) < 0 && errno != ENOENT)
                        return cc_error_set(err, CC_ERROR_INTERNAL, errno, "Cannot remove %s: %m", path);
                return 0;
        }

        dir = strdup(path);
        if (!dir) {
                free(b.data);
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
        }
        *strrchr(dir, '/') = '\0';
        r = mkdir_parents(dir, 0755);
        if (r >= 0)
                r = write_file_atomic(path, b.data, b.size, 0644);
        free(b.data);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, -r, "Cannot write %s: %s", path, strerror(-r));
        return 0;
}
