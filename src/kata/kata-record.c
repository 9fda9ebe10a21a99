/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <glib.h>

#include "fileio.h"
#include "kata-names.h"
#include "kata-record.h"
#include "log.h"
#include "strv.h"

#define RECORD_DIR "runtime-classes"
#define RECORD_SUFFIX ".conf"
#define GROUP "RuntimeClass"

KataRecord *kata_record_free(KataRecord *r) {
        if (!r)
                return NULL;
        free(r->name);
        free(r->reference);
        free(r->digest);
        free(r->directory);
        strv_free(r->files);
        free(r->configuration);
        free(r->containerd_handler);
        free(r->containerd_config);
        free(r->containerd_dropin);
        free(r);
        return NULL;
}

void kata_record_array_free(KataRecord **l, size_t n) {
        for (size_t i = 0; i < n; i++)
                kata_record_free(l[i]);
        free(l);
}

char *kata_record_path(const char *state_dir, const char *name) {
        char *p = NULL;

        if (asprintf(&p, "%s/" RECORD_DIR "/%s" RECORD_SUFFIX, state_dir, name) < 0)
                return NULL;
        return p;
}

int kata_record_save(const char *state_dir, const KataRecord *r, CcError *err) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autofree char *data = NULL, *dir = NULL;
        _cleanup_free_ char *path = NULL;
        gsize size = 0;
        int k;

        assert(state_dir);
        assert(r);

        g_key_file_set_string(kf, GROUP, "Name", r->name);
        g_key_file_set_string(kf, GROUP, "Reference", r->reference);
        g_key_file_set_string(kf, GROUP, "Digest", r->digest);
        g_key_file_set_string(kf, GROUP, "Directory", r->directory);
        g_key_file_set_string_list(kf, GROUP, "Files", (const char *const *) r->files, strv_length(r->files));
        g_key_file_set_string(kf, GROUP, "Configuration", r->configuration);
        g_key_file_set_string(kf, GROUP, "ContainerdHandler", strempty(r->containerd_handler));
        g_key_file_set_string(kf, GROUP, "ContainerdConfig", strempty(r->containerd_config));
        g_key_file_set_integer(kf, GROUP, "ContainerdVersion", r->containerd_version);
        g_key_file_set_string(kf, GROUP, "ContainerdDropin", strempty(r->containerd_dropin));
        g_key_file_set_uint64(kf, GROUP, "InstalledAt", r->installed_at);
        data = g_key_file_to_data(kf, &size, NULL);

        dir = g_build_filename(state_dir, RECORD_DIR, NULL);
        path = kata_record_path(state_dir, r->name);
        if (!path)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
        k = mkdir_parents(dir, 0700);
        if (k >= 0)
                k = write_file_atomic(path, data, size, 0600);
        if (k < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, -k, "Cannot write the record %s: %s", path, strerror(-k));
        return 0;
}

static char *get_string(GKeyFile *kf, const char *key, GError **gerr) {
        g_autofree char *v = NULL;

        if (*gerr)
                return NULL;
        v = g_key_file_get_string(kf, GROUP, key, gerr);
        if (!v)
                return NULL;
        /* Owned by the record, freed with free(). */
        return strdup(v);
}

int kata_record_load(const char *path, KataRecord **ret, CcError *err) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) gerr = NULL;
        _cleanup_(kata_record_freep) KataRecord *r = NULL;
        g_auto(GStrv) files = NULL;
        gsize n_files = 0;

        assert(path);
        assert(ret);

        if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &gerr))
                return cc_error_set(err, gerr->domain == G_FILE_ERROR && gerr->code == G_FILE_ERROR_NOENT ?
                                    CC_ERROR_NOT_FOUND : CC_ERROR_INTERNAL, ENOENT, "%s: %s", path, gerr->message);

        r = calloc(1, sizeof(*r));
        if (!r)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
        r->name = get_string(kf, "Name", &gerr);
        r->reference = get_string(kf, "Reference", &gerr);
        r->digest = get_string(kf, "Digest", &gerr);
        r->directory = get_string(kf, "Directory", &gerr);
        r->configuration = get_string(kf, "Configuration", &gerr);
        r->containerd_handler = get_string(kf, "ContainerdHandler", &gerr);
        r->containerd_config = get_string(kf, "ContainerdConfig", &gerr);
        r->containerd_dropin = get_string(kf, "ContainerdDropin", &gerr);
        if (!gerr)
                r->containerd_version = g_key_file_get_integer(kf, GROUP, "ContainerdVersion", &gerr);
        if (!gerr)
                r->installed_at = g_key_file_get_uint64(kf, GROUP, "InstalledAt", &gerr);
        if (!gerr)
                files = g_key_file_get_string_list(kf, GROUP, "Files", &n_files, &gerr);
        if (gerr)
                return cc_error_set(err, CC_ERROR_INTERNAL, EINVAL, "%s: %s", path, gerr->message);
        if (!kata_runtime_class_valid(r->name))
                return cc_error_set(err, CC_ERROR_INTERNAL, EINVAL, "%s: bad runtime class name \"%s\"", path, r->name);

        r->files = calloc(n_files + 1, sizeof(char *));
        if (!r->files)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
        for (gsize i = 0; i < n_files; i++)
                if (!(r->files[i] = strdup(files[i])))
                        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");

        *ret = TAKE_PTR(r);
        return 0;
}

static int compare_records(const void *a, const void *b) {
        const KataRecord *const *x = a, *const *y = b;
        return strcmp((*x)->name, (*y)->name);
}

int kata_record_load_all(const char *state_dir, KataRecord ***ret, size_t *ret_n) {
        g_autofree char *dir = g_build_filename(state_dir, RECORD_DIR, NULL);
        g_autoptr(GDir) d = NULL;
        KataRecord **l = NULL;
        size_t n = 0;
        const char *name;

        *ret = NULL;
        *ret_n = 0;
        d = g_dir_open(dir, 0, NULL);
        if (!d)
                return 0;
        while ((name = g_dir_read_name(d))) {
                g_autofree char *path = NULL;
                CcError e = CC_ERROR_INIT;
                KataRecord *r, **nl;

                if (!g_str_has_suffix(name, RECORD_SUFFIX))
                        continue;
                path = g_build_filename(dir, name, NULL);
                if (kata_record_load(path, &r, &e) < 0) {
                        log_warning("Skipping the runtime class record %s", e.message);
                        continue;
                }
                nl = realloc(l, (n + 1) * sizeof(*l));
                if (!nl) {
                        kata_record_free(r);
                        kata_record_array_free(l, n);
                        return -ENOMEM;
                }
                l = nl;
                l[n++] = r;
        }
        if (n > 0)
                qsort(l, n, sizeof(*l), compare_records);
        *ret = l;
        *ret_n = n;
        return 0;
}

int kata_record_remove(const char *state_dir, const char *name) {
        _cleanup_free_ char *path = kata_record_path(state_dir, name);

        if (!path)
                return -ENOMEM;
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}
