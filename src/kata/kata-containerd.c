/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <libgen.h>

#include "containerd-config.h"
#include "fileio.h"
#include "kata-containerd.h"

static void file_done(ContainerdFile *f) {
        free(f->path);
        free(f->old_text);
        free(f->new_text);
        *f = (ContainerdFile) {};
}

void containerd_plan_done(ContainerdPlan *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n_files; i++)
                file_done(&p->files[i]);
        free(p->dropin_path);
        *p = (ContainerdPlan) {};
}

char *containerd_dropin_path(const char *config_path, const char *runtime_class) {
        _cleanup_free_ char *copy = strdup(config_path);
        char *p = NULL;

        if (!copy)
                return NULL;
        if (asprintf(&p, "%s/conf.d/nvidia-ccd-%s.toml", dirname(copy), runtime_class) < 0)
                return NULL;
        return p;
}

/* A symbolic link would become a regular file when replaced, and what it
 * points to would never change: refused, naming where it points. */
static int symlink_refused(const char *path, CcError *err) {
        char target[256];
        ssize_t n = readlink(path, target, sizeof(target) - 1);

        target[n > 0 ? n : 0] = '\0';
        return cc_error_set(err, CC_ERROR_HOST_NOT_READY, ELOOP,
                            "%s is a symbolic link%s%s; nvidia-ccd edits only regular files: set [Kata] "
                            "ContainerdConfig= to the file itself", path, n > 0 ? " to " : "", target);
}

static int file_read(ContainerdFile *f, const char *path, bool must_exist, CcError *err) {
        int r;

        f->path = strdup(path);
        if (!f->path)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
        r = read_regular_file(path, CONTAINERD_CONFIG_MAX, &f->old_text, &f->old_len, &f->old_st);
        if (r == -ENOENT && !must_exist)
                return 0;
        if (r == -ENOENT)
                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, ENOENT,
                                    "containerd's configuration %s does not exist (write it with `containerd config default`, "
                                    "or install without registering the runtime class with containerd)", path);
        if (r == -EFBIG)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EFBIG, "%s is larger than %u bytes", path,
                                    CONTAINERD_CONFIG_MAX);
        if (r == -EISDIR)
                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, EISDIR, "%s is not a regular file", path);
        if (r == -ELOOP)
                return symlink_refused(path, err);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, -r, "Cannot read %s: %s", path, strerror(-r));
        f->existed = true;
        return 0;
}

static int plan_start(ContainerdPlan *p, const char *config_path, ContainerdFile **main_file, CcError *err) {
        ContainerdFile *f = &p->files[p->n_files++];
        int r;

        r = file_read(f, config_path, true, err);
        if (r < 0)
                return r;
        r = containerd_config_version(f->old_text, f->old_len, &p->version, err);
        if (r < 0) {
                cc_error_prefix(err, "%s", config_path);
                return r;
        }
        *main_file = f;
        return 0;
}

int containerd_plan_register(const char *config_path, const char *runtime_class, const char *kata_config,
                             ContainerdPlan *ret, CcError *err) {
        _cleanup_(containerd_plan_done) ContainerdPlan p = {};
        ContainerdFile *main_file, *dropin;
        int r;

        assert(config_path);
        assert(runtime_class);
        assert(kata_config);
        assert(ret);

        r = plan_start(&p, config_path, &main_file, err);
        if (r < 0)
                return r;

        if (p.version == 2) {
                r = containerd_v2_register(main_file->old_text, main_file->old_len, runtime_class, kata_config,
                                           &main_file->new_text, &main_file->new_len, err);
                if (r < 0) {
                        cc_error_prefix(err, "%s", config_path);
                        return r;
                }
                main_file->write = true;
        } else if (p.version == 3) {
                ContainerdFile m;

                r = containerd_v3_check_runtime(main_file->old_text, main_file->old_len, runtime_class, err);
                if (r < 0) {
                        cc_error_prefix(err, "%s", config_path);
                        return r;
                }
                p.dropin_path = containerd_dropin_path(config_path, runtime_class);
                if (!p.dropin_path)
                        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
                r = containerd_v3_add_import(main_file->old_text, main_file->old_len, p.dropin_path,
                                             &main_file->new_text, &main_file->new_len, err);
                if (r < 0) {
                        cc_error_prefix(err, "%s", config_path);
                        return r;
                }
                main_file->write = true;

                /* The drop-in goes first. */
                m = p.files[0];
                dropin = &p.files[0];
                *dropin = (ContainerdFile) {};
                p.files[1] = m;
                p.n_files = 2;
                r = file_read(dropin, p.dropin_path, false, err);
                if (r < 0)
                        return r;
                r = containerd_v3_dropin(runtime_class, kata_config, &dropin->new_text);
                if (r < 0)
                        return cc_error_set(err, CC_ERROR_INTERNAL, -r, "Cannot make the drop-in: %s", strerror(-r));
                dropin->new_len = strlen(dropin->new_text);
                dropin->write = true;
        } else {
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "%s has configuration version %d; only versions 2 (containerd 1.x) and 3 "
                                    "(containerd 2.x) can be registered with", config_path, p.version);
        }
        /* What is written must be readable again, or the runtime class
         * could never be removed. */
        for (size_t i = 0; i < p.n_files; i++)
                if (p.files[i].write && p.files[i].new_len > CONTAINERD_CONFIG_MAX)
                        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EFBIG,
                                            "%s would grow to %zu bytes, past the %u that nvidia-ccd reads back "
                                            "(the runtime class could not be removed again)",
                                            p.files[i].path, p.files[i].new_len, CONTAINERD_CONFIG_MAX);
        *ret = p;
        p = (ContainerdPlan) {};
        return 0;
}

int containerd_plan_unregister(const char *config_path, int version, const char *dropin_path,
                               const char *runtime_class, ContainerdPlan *ret, CcError *err) {
        _cleanup_(containerd_plan_done) ContainerdPlan p = { .version = version };
        ContainerdFile *f;
        int r;

        assert(config_path);
        assert(runtime_class);
        assert(ret);

        f = &p.files[p.n_files++];
        r = file_read(f, config_path, false, err);
        if (r < 0)
                return r;
        if (!f->existed) {
                /* Nothing registers the runtime any more. */
                *ret = (ContainerdPlan) { .version = version };
                return 0;
        }

        if (version == 2) {
                bool changed = false;

                r = containerd_v2_unregister(f->old_text, f->old_len, runtime_class, &f->new_text, &f->new_len,
                                             &changed, err);
                if (r < 0) {
                        cc_error_prefix(err, "%s", config_path);
                        return r;
                }
                f->write = changed;
        } else if (version == 3 && dropin_path && dropin_path[0]) {
                ContainerdFile *d;

                r = containerd_v3_remove_import(f->old_text, f->old_len, dropin_path, &f->new_text, &f->new_len, err);
                if (r < 0) {
                        cc_error_prefix(err, "%s", config_path);
                        return r;
                }
                f->write = f->new_len != f->old_len || memcmp(f->new_text, f->old_text, f->old_len) != 0;
                /* The main file stops importing the drop-in before it goes. */
                d = &p.files[p.n_files++];
                r = file_read(d, dropin_path, false, err);
                if (r < 0)
                        return r;
                d->remove = d->existed;
                p.dropin_path = strdup(dropin_path);
                if (!p.dropin_path)
                        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
        }
        *ret = p;
        p = (ContainerdPlan) {};
        return 0;
}

static int ensure_parent(const char *path) {
        _cleanup_free_ char *copy = strdup(path);
        const char *dir;

        if (!copy)
                return -ENOMEM;
        dir = dirname(copy);
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int containerd_plan_apply(ContainerdPlan *p, CcError *err) {
        int r;

        assert(p);

        for (size_t i = 0; i < p->n_files; i++) {
                ContainerdFile *f = &p->files[i];

                if (f->write) {
                        r = ensure_parent(f->path);
                        if (r >= 0)
                                r = write_file_atomic_like(f->path, f->new_text, f->new_len,
                                                           f->existed ? &f->old_st : NULL);
                } else if (f->remove) {
                        r = unlink(f->path) < 0 && errno != ENOENT ? -errno : 0;
                        if (r >= 0)
                                r = fsync_directory_of(f->path);
                } else
                        continue;
                if (r < 0) {
                        cc_error_set(err, CC_ERROR_INTERNAL, -r, "Cannot write %s: %s", f->path, strerror(-r));
                        containerd_plan_rollback(p);
                        return r;
                }
                f->applied = true;
        }
        return 0;
}

void containerd_plan_rollback(ContainerdPlan *p) {
        assert(p);

        for (size_t i = p->n_files; i > 0; i--) {
                ContainerdFile *f = &p->files[i - 1];

                if (!f->applied)
                        continue;
                if (f->existed)
                        (void) write_file_atomic_like(f->path, f->old_text, f->old_len, &f->old_st);
                else
                        (void) unlink(f->path);
                f->applied = false;
        }
}
