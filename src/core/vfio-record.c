/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <glib.h>

#include "fileio.h"
#include "pci-sysfs.h"
#include "vfio-record.h"

#define RECORD_FILE "vfio-bindings"

static const char *const state_names[] = {
        [VFIO_RECORD_BINDING] = "binding",
        [VFIO_RECORD_BOUND] = "bound",
        [VFIO_RECORD_UNBINDING] = "unbinding",
};

VfioRecord *vfio_record_free(VfioRecord *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_entries; i++)
                free(r->entries[i].previous_driver);
        free(r->entries);
        free(r->path);
        free(r);
        return NULL;
}

VfioRecordEntry *vfio_record_find(const VfioRecord *r, const char *bdf) {
        if (!r || !bdf)
                return NULL;
        for (size_t i = 0; i < r->n_entries; i++)
                if (streq(r->entries[i].bdf, bdf))
                        return &r->entries[i];
        return NULL;
}

int vfio_record_put(VfioRecord *r, const char *bdf, int iommu_group, const char *previous_driver,
                    VfioRecordState state) {
        VfioRecordEntry *e;
        char *previous;

        assert(r);
        assert(hw_pci_bdf_is_valid(bdf));

        previous = strdup(strempty(previous_driver));
        if (!previous)
                return -ENOMEM;
        e = vfio_record_find(r, bdf);
        if (!e) {
                VfioRecordEntry *n = realloc(r->entries, (r->n_entries + 1) * sizeof(VfioRecordEntry));
                if (!n) {
                        free(previous);
                        return -ENOMEM;
                }
                r->entries = n;
                e = &r->entries[r->n_entries++];
                *e = (VfioRecordEntry) {};
                snprintf(e->bdf, sizeof(e->bdf), "%s", bdf);
        }
        free(e->previous_driver);
        e->previous_driver = previous;
        e->iommu_group = iommu_group;
        e->state = state;
        return 0;
}

void vfio_record_remove(VfioRecord *r, const char *bdf) {
        VfioRecordEntry *e = vfio_record_find(r, bdf);
        size_t i;

        if (!e)
                return;
        i = (size_t) (e - r->entries);
        free(e->previous_driver);
        memmove(e, e + 1, (r->n_entries - i - 1) * sizeof(VfioRecordEntry));
        r->n_entries--;
}

static bool driver_name_ok(const char *s) {
        return s && !strchr(s, '/') && !streq(s, ".") && !streq(s, "..") && strlen(s) < 64;
}

int vfio_record_load(const char *state_dir, VfioRecord **ret, CcError *err) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) gerr = NULL;
        g_auto(GStrv) groups = NULL;
        _cleanup_(vfio_record_freep) VfioRecord *r = NULL;
        int k;

        assert(state_dir);
        assert(ret);

        r = calloc(1, sizeof(VfioRecord));
        if (!r || !(r->path = g_build_filename(state_dir, RECORD_FILE, NULL)))
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");

        if (!g_key_file_load_from_file(kf, r->path, G_KEY_FILE_NONE, &gerr)) {
                if (g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
                        *ret = TAKE_PTR(r);
                        return 0;
                }
                return cc_error_set(err, CC_ERROR_INTERNAL, EBADMSG, "%s: %s", r->path, gerr->message);
        }

        groups = g_key_file_get_groups(kf, NULL);
        for (char **g = groups; g && *g; g++) {
                g_autofree char *previous = NULL, *state = NULL;
                const char *bdf;
                int group, s = -1;

                if (strncmp(*g, "Device ", 7) != 0)
                        continue;
                bdf = *g + 7;
                previous = g_key_file_get_string(kf, *g, "PreviousDriver", NULL);
                state = g_key_file_get_string(kf, *g, "State", NULL);
                group = g_key_file_get_integer(kf, *g, "IommuGroup", NULL);
                for (size_t i = 0; state && i < ELEMENTSOF(state_names); i++)
                        if (streq(state, state_names[i]))
                                s = (int) i;
                /* The record names sysfs paths when it is acted on: take
                 * nothing from it that is not an address and a name. */
                if (!hw_pci_bdf_is_valid(bdf) || !driver_name_ok(previous) || s < 0 || group < 0)
                        return cc_error_set(err, CC_ERROR_INTERNAL, EBADMSG, "%s: unreadable entry [%s]", r->path, *g);
                k = vfio_record_put(r, bdf, group, previous, (VfioRecordState) s);
                if (k < 0)
                        return cc_error_set(err, CC_ERROR_INTERNAL, -k, "Out of memory");
        }
        *ret = TAKE_PTR(r);
        return 0;
}

int vfio_record_save(const VfioRecord *r) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autofree char *data = NULL, *dir = NULL;
        gsize size = 0;
        int k;

        assert(r);

        dir = g_path_get_dirname(r->path);
        if (r->n_entries == 0) {
                if (unlink(r->path) < 0 && errno != ENOENT)
                        return -errno;
                return 0;
        }
        for (size_t i = 0; i < r->n_entries; i++) {
                const VfioRecordEntry *e = &r->entries[i];
                g_autofree char *group = g_strdup_printf("Device %s", e->bdf);

                g_key_file_set_string(kf, group, "PreviousDriver", e->previous_driver);
                g_key_file_set_integer(kf, group, "IommuGroup", e->iommu_group);
                g_key_file_set_string(kf, group, "State", state_names[e->state]);
        }
        data = g_key_file_to_data(kf, &size, NULL);
        k = mkdir_parents(dir, 0755);
        if (k < 0)
                return k;
        return write_file_atomic(r->path, data, size, 0644);
}
