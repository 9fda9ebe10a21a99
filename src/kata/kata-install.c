/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "fileio.h"
#include "kata-containerd.h"
#include "kata-fs.h"
#include "kata-host-paths.h"
#include "kata-install.h"
#include "kata-names.h"
#include "kata-toml.h"
#include "log.h"
#include "safe-dir.h"
#include "strv.h"
#include "time-util.h"

#define STAGING_PREFIX ".staging-"

struct KataStaging {
        char *artifacts_dir;
        char *created;      /* the topmost directory made for ArtifactsDir, NULL: none */
        int artifacts_fd;   /* ArtifactsDir, opened through safe_dir_open() */
        char *name;         /* .staging-<name>-XXXXXX */
        char *path;         /* ArtifactsDir/<name> */
        int fd;
        char *blobs;        /* <path>/blobs */
        int blobs_fd;
};

static bool isempty_str(const char *s) {
        return !s || !*s;
}

static int oom(CcError *err) {
        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
}

/* ArtifactsDir cannot be written: a host problem, usually the unit's
 * sandbox (a directory not in its ReadWritePaths=). */
static int cant_write(CcError *err, const char *dir, int error) {
        return cc_error_set(err, CC_ERROR_HOST_NOT_READY, error, "Cannot create a directory in %s: %s%s", dir,
                            strerror(error),
                            error == EROFS ? " (the service may write only the directories its unit lists in "
                                             "ReadWritePaths=; add this one with a drop-in)" : "");
}

/* mkdtemp() in a directory given by descriptor. */
static int make_staging(KataStaging *s, const char *runtime_class, CcError *err) {
        static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

        for (unsigned attempt = 0; attempt < 100; attempt++) {
                uint8_t random[6];
                char suffix[7];

                if (getrandom(random, sizeof(random), 0) != (ssize_t) sizeof(random))
                        return cc_error_set(err, CC_ERROR_INTERNAL, errno, "Cannot get random bytes: %m");
                for (size_t i = 0; i < 6; i++)
                        suffix[i] = letters[random[i] % (sizeof(letters) - 1)];
                suffix[6] = '\0';
                free(s->name);
                if (asprintf(&s->name, STAGING_PREFIX "%s-%s", runtime_class, suffix) < 0) {
                        s->name = NULL;
                        return oom(err);
                }
                if (mkdirat(s->artifacts_fd, s->name, 0700) >= 0)
                        return 0;
                if (errno != EEXIST)
                        return cant_write(err, s->artifacts_dir, errno);
        }
        return cc_error_set(err, CC_ERROR_INTERNAL, EEXIST, "Cannot find a free staging directory name in %s",
                            s->artifacts_dir);
}

int kata_install_precheck(const KataInstallOptions *o, CcError *err) {
        _cleanup_(containerd_plan_done) ContainerdPlan plan = {};
        _cleanup_free_ char *kata_config = NULL;
        int r;

        assert(o);
        assert(o->artifacts_dir);
        assert(o->runtime_class);

        /* What of ArtifactsDir exists passes the checks the staging
         * directory's creation makes; what is missing would be made. */
        r = safe_dir_check(o->artifacts_dir, err);
        if (r < 0) {
                cc_error_prefix(err, "ArtifactsDir");
                return r;
        }
        if (!o->containerd_config)
                return 0;
        /* The plan the install makes, for a Kata configuration of any name
         * in the runtime class's directory: the name does not change
         * whether containerd's configuration takes the registration. */
        if (asprintf(&kata_config, "%s/%s/configuration.toml", o->artifacts_dir, o->runtime_class) < 0) {
                kata_config = NULL;
                return oom(err);
        }
        r = containerd_plan_register(o->containerd_config, o->runtime_class, kata_config, &plan, err);
        if (r < 0)
                return r;
        return 0;
}

int kata_staging_new(const char *artifacts_dir, const char *runtime_class, KataStaging **ret, CcError *err) {
        _cleanup_(kata_staging_freep) KataStaging *s = NULL;
        int r;

        assert(artifacts_dir);
        assert(runtime_class);
        assert(ret);

        s = calloc(1, sizeof(*s));
        if (!s)
                return oom(err);
        s->artifacts_fd = s->fd = s->blobs_fd = -1;
        s->artifacts_dir = strdup(artifacts_dir);
        if (!s->artifacts_dir)
                return oom(err);
        /* Checked before each job: a directory someone else can write is
         * one where links may be waiting. */
        r = safe_dir_open(artifacts_dir, true, &s->artifacts_fd, &s->created, err);
        if (r < 0) {
                cc_error_prefix(err, "ArtifactsDir");
                return r;
        }
        r = make_staging(s, runtime_class, err);
        if (r < 0)
                return r;
        if (asprintf(&s->path, "%s/%s", artifacts_dir, s->name) < 0 || asprintf(&s->blobs, "%s/blobs", s->path) < 0)
                return oom(err);
        s->fd = openat(s->artifacts_fd, s->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (s->fd < 0 || mkdirat(s->fd, "blobs", 0700) < 0 ||
            (s->blobs_fd = openat(s->fd, "blobs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, errno, "Cannot create %s: %m", s->blobs);
        *ret = TAKE_PTR(s);
        return 0;
}

const char *kata_staging_path(const KataStaging *s) {
        return s->path;
}

const char *kata_staging_blob_dir(const KataStaging *s) {
        return s->blobs;
}

int kata_staging_blob_fd(const KataStaging *s) {
        return s->blobs_fd;
}

int kata_staging_fd(const KataStaging *s) {
        return s->fd;
}

int kata_staging_artifacts_fd(const KataStaging *s) {
        return s->artifacts_fd;
}

KataStaging *kata_staging_free(KataStaging *s) {
        int r;

        if (!s)
                return NULL;
        if (s->blobs_fd >= 0)
                close(s->blobs_fd);
        if (s->fd >= 0)
                close(s->fd);
        if (s->name && s->artifacts_fd >= 0) {
                r = kata_fs_remove_tree_at(s->artifacts_fd, s->name);
                if (r < 0)
                        log_warning("Cannot remove %s: %s", s->path, strerror(-r));
        }
        if (s->artifacts_fd >= 0)
                close(s->artifacts_fd);
        /* A refused install leaves no trace, not even the directories it
         * made (they are empty unless something else was put there). */
        safe_dir_remove_created(s->artifacts_dir, s->created);
        free(s->name);
        free(s->path);
        free(s->artifacts_dir);
        free(s->created);
        free(s->blobs);
        free(s);
        return NULL;
}

int kata_staging_clean_stale(const char *artifacts_dir, CcError *err) {
        _cleanup_close_ int fd = -1;
        DIR *d;
        struct dirent *de;
        int n = 0, r;

        assert(artifacts_dir);

        r = safe_dir_open(artifacts_dir, false, &fd, NULL, err);
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                cc_error_prefix(err, "ArtifactsDir");
                return r;
        }
        r = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (r < 0 || !(d = fdopendir(r))) {
                if (r >= 0)
                        close(r);
                return cc_error_set(err, CC_ERROR_INTERNAL, errno, "Cannot read %s: %m", artifacts_dir);
        }
        while ((de = readdir(d))) {
                if (strncmp(de->d_name, STAGING_PREFIX, strlen(STAGING_PREFIX)) != 0)
                        continue;
                r = kata_fs_remove_tree_at(fd, de->d_name);
                if (r < 0)
                        log_warning("Cannot remove the stale staging directory %s/%s: %s", artifacts_dir,
                                    de->d_name, strerror(-r));
                else {
                        log_info("Removed the stale staging directory %s/%s", artifacts_dir, de->d_name);
                        n++;
                }
        }
        closedir(d);
        return n;
}

/* -------------------------------------------------------------- install */

typedef struct Install {
        const KataInstallOptions *o;
        KataStaging *staging;
        const OciPullResult *pull;
        KataArtifactFiles files;
        char *final_dir;       /* ArtifactsDir/<name> */
        char *tree;            /* <staging>/<name>: the new version, then the old one */
        int tree_fd;
        char *kata_config;     /* <final_dir>/<configuration title> */
        char *config_text;     /* rewritten */
        size_t config_len;
        ContainerdPlan plan;
        bool have_plan;
        bool swapped;
        bool exchanged;        /* an old version sits at tree */
} Install;

static void install_done(Install *i) {
        if (i->tree_fd >= 0)
                close(i->tree_fd);
        free(i->final_dir);
        free(i->tree);
        free(i->kata_config);
        free(i->config_text);
        if (i->have_plan)
                containerd_plan_done(&i->plan);
}

static char *path_join(const char *dir, const char *name) {
        char *p = NULL;

        if (!name)
                return NULL;
        if (asprintf(&p, "%s/%s", dir, name) < 0)
                return NULL;
        return p;
}

static const OciLayer *layer_by_title(const OciPullResult *pull, const char *title) {
        for (size_t i = 0; i < pull->n_layers; i++)
                if (streq_ptr(pull->layers[i].title, title))
                        return &pull->layers[i];
        return NULL;
}

/* The file name of a blob in the blob directory. */
static const char *blob_name(const OciLayer *l) {
        return l->digest + strlen("sha256:");
}

/* The blob must be one the pull wrote into our blob directory. */
static int check_blob(const Install *in, const OciLayer *l, CcError *err) {
        const char *blobs = kata_staging_blob_dir(in->staging);
        size_t n = strlen(blobs);

        if (!l->path || strncmp(l->path, blobs, n) != 0 || l->path[n] != '/' || !streq(l->path + n + 1, blob_name(l)))
                return cc_error_set(err, CC_ERROR_INTERNAL, EINVAL, "Layer \"%s\" is not in the staging directory",
                                    strempty(l->title));
        return 0;
}

/* Everything that can be refused is checked and computed here, before the
 * first write outside the blob directory. */
static int install_prepare(Install *in, CcError *err) {
        const KataInstallOptions *o = in->o;
        _cleanup_free_ char *kernel = NULL, *initrd = NULL, *image = NULL, *text = NULL;
        const OciLayer *config_layer;
        KataTomlPaths paths;
        size_t len = 0;
        int r;

        r = kata_check_runtime_class(o->runtime_class, err);
        if (r < 0)
                return r;
        r = kata_check_layer_titles(in->pull->layers, in->pull->n_layers, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < in->pull->n_layers; i++) {
                r = check_blob(in, &in->pull->layers[i], err);
                if (r < 0)
                        return r;
        }
        r = kata_find_artifact_files(in->pull->layers, in->pull->n_layers, &in->files, err);
        if (r < 0)
                return r;

        in->final_dir = path_join(o->artifacts_dir, o->runtime_class);
        in->tree = path_join(kata_staging_path(in->staging), o->runtime_class);
        in->kata_config = path_join(in->final_dir, in->files.configuration);
        if (!in->final_dir || !in->tree || !in->kata_config)
                return oom(err);

        config_layer = layer_by_title(in->pull, in->files.configuration);
        r = read_regular_file_at(kata_staging_blob_fd(in->staging), blob_name(config_layer), KATA_CONFIG_MAX, &text,
                                 &len, NULL);
        if (r == -EFBIG)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EFBIG, "%s is larger than %u bytes",
                                    in->files.configuration, KATA_CONFIG_MAX);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, -r, "Cannot read %s: %s", config_layer->path, strerror(-r));

        kernel = path_join(in->final_dir, in->files.kernel);
        initrd = path_join(in->final_dir, in->files.initrd);
        image = path_join(in->final_dir, in->files.image);
        if ((in->files.kernel && !kernel) || (in->files.initrd && !initrd) || (in->files.image && !image))
                return oom(err);
        paths = (KataTomlPaths) { .kernel = kernel, .initrd = initrd, .image = image };
        r = kata_toml_set_paths(text, len, &paths, &in->config_text, &in->config_len, err);
        if (r >= 0)
                r = kata_check_host_paths(in->config_text, in->config_len,
                                          &(KataHostPolicy) { .install_dir = in->final_dir,
                                                              .allowed_paths = o->allowed_host_paths,
                                                              .allowed_args = o->allowed_extra_args },
                                          err);
        if (r < 0) {
                cc_error_prefix(err, "%s", in->files.configuration);
                return r;
        }

        if (o->containerd_config) {
                r = containerd_plan_register(o->containerd_config, o->runtime_class, in->kata_config, &in->plan, err);
                if (r < 0)
                        return r;
                in->have_plan = true;
        }
        return 0;
}

static int write_new_file_at(int dirfd, const char *name, const char *data, size_t len) {
        _cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        int r;

        if (fd < 0)
                return -errno;
        r = loop_write(fd, data, len);
        if (r < 0)
                return r;
        if (fchmod(fd, 0644) < 0 || fsync(fd) < 0)
                return -errno;
        return 0;
}

/* A blob linked in under its title, readable by all, on disk. */
static int link_blob_at(int blobs_fd, const char *blob, int dirfd, const char *name) {
        _cleanup_close_ int fd = -1;

        if (linkat(blobs_fd, blob, dirfd, name, 0) < 0)
                return -errno;
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0 || fchmod(fd, 0644) < 0 || fsync(fd) < 0)
                return -errno;
        return 0;
}

/* The new tree, complete and durable, inside the staging directory. */
static int install_build_tree(Install *in, CcError *err) {
        int staging_fd = kata_staging_fd(in->staging), r;

        if (mkdirat(staging_fd, in->o->runtime_class, 0755) < 0 ||
            (in->tree_fd = openat(staging_fd, in->o->runtime_class, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
            fchmod(in->tree_fd, 0755) < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, errno, "Cannot create %s: %m", in->tree);

        for (size_t i = 0; i < in->pull->n_layers; i++) {
                const OciLayer *l = &in->pull->layers[i];

                if (streq(l->title, in->files.configuration))
                        r = write_new_file_at(in->tree_fd, l->title, in->config_text, in->config_len);
                else    /* Two titles may name one blob: link, never move. */
                        r = link_blob_at(kata_staging_blob_fd(in->staging), blob_name(l), in->tree_fd, l->title);
                if (r < 0)
                        return cc_error_set(err, CC_ERROR_INTERNAL, -r, "Cannot install %s/%s: %s", in->tree, l->title,
                                            strerror(-r));
        }
        if (fsync(in->tree_fd) < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, errno, "Cannot sync %s: %m", in->tree);
        return 0;
}

static int install_swap(Install *in, CcError *err) {
        int staging_fd = kata_staging_fd(in->staging), artifacts_fd = kata_staging_artifacts_fd(in->staging);
        const char *name = in->o->runtime_class;

        if (renameat2(staging_fd, name, artifacts_fd, name, RENAME_EXCHANGE) >= 0)
                in->exchanged = true;
        else if (errno == ENOENT) {
                if (renameat2(staging_fd, name, artifacts_fd, name, RENAME_NOREPLACE) < 0)
                        return cc_error_set(err, CC_ERROR_INTERNAL, errno, "Cannot move %s to %s: %m", in->tree,
                                            in->final_dir);
        } else
                return cc_error_set(err, CC_ERROR_INTERNAL, errno, "Cannot swap %s and %s: %m", in->tree,
                                    in->final_dir);
        in->swapped = true;
        if (fsync(artifacts_fd) < 0)
                log_warning("Cannot sync %s: %m", in->o->artifacts_dir);
        return 0;
}

static void install_unswap(Install *in) {
        int staging_fd = kata_staging_fd(in->staging), artifacts_fd = kata_staging_artifacts_fd(in->staging);
        const char *name = in->o->runtime_class;
        int r;

        if (!in->swapped)
                return;
        if (in->exchanged)
                r = renameat2(staging_fd, name, artifacts_fd, name, RENAME_EXCHANGE);
        else
                r = renameat(artifacts_fd, name, staging_fd, name);
        if (r < 0)
                log_error("Cannot put back the previous version of %s: %m", in->final_dir);
        else
                (void) fsync(artifacts_fd);
        in->swapped = false;
}

static int list_files(const OciPullResult *pull, char ***ret) {
        char **l = calloc(pull->n_layers + 1, sizeof(char *));

        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < pull->n_layers; i++)
                if (!(l[i] = strdup(pull->layers[i].title))) {
                        strv_free(l);
                        return -ENOMEM;
                }
        *ret = l;
        return 0;
}

static char *strdup_or_empty(const char *s) {
        return strdup(strempty(s));
}

static int install_make_record(Install *in, const KataRecord *old, KataRecord **ret, CcError *err) {
        const KataInstallOptions *o = in->o;
        _cleanup_(kata_record_freep) KataRecord *r = calloc(1, sizeof(KataRecord));

        if (!r)
                return oom(err);
        r->name = strdup(o->runtime_class);
        r->reference = strdup(strempty(o->reference));
        r->digest = strdup(strempty(in->pull->manifest_digest));
        r->directory = strdup(in->final_dir);
        r->configuration = strdup(in->kata_config);
        if (in->have_plan) {
                r->containerd_handler = strdup(o->runtime_class);
                r->containerd_config = strdup(o->containerd_config);
                r->containerd_version = in->plan.version;
                r->containerd_dropin = strdup_or_empty(in->plan.dropin_path);
        } else if (old && !isempty_str(old->containerd_config)) {
                /* Not registered this time; the earlier registration stays
                 * in containerd, and so in the record, for removal. */
                r->containerd_handler = strdup_or_empty(old->containerd_handler);
                r->containerd_config = strdup_or_empty(old->containerd_config);
                r->containerd_version = old->containerd_version;
                r->containerd_dropin = strdup_or_empty(old->containerd_dropin);
        } else {
                r->containerd_handler = strdup("");
                r->containerd_config = strdup("");
                r->containerd_dropin = strdup("");
        }
        r->installed_at = now_usec(CLOCK_REALTIME);
        if (!r->name || !r->reference || !r->digest || !r->directory || !r->configuration ||
            !r->containerd_handler || !r->containerd_config || !r->containerd_dropin ||
            list_files(in->pull, &r->files) < 0)
                return oom(err);
        *ret = TAKE_PTR(r);
        return 0;
}

int kata_install(KataStaging *s, const KataInstallOptions *o, const OciPullResult *pull,
                 KataRecord **ret, CcError *err) {
        _cleanup_(kata_record_freep) KataRecord *record = NULL, *old = NULL;
        _cleanup_free_ char *old_path = NULL;
        _cleanup_(install_done) Install in = { .o = o, .staging = s, .pull = pull, .tree_fd = -1 };
        int r;

        assert(s);
        assert(o);
        assert(o->artifacts_dir);
        assert(o->state_dir);
        assert(o->runtime_class);
        assert(pull);
        assert(ret);

        *ret = NULL;

        r = install_prepare(&in, err);
        if (r < 0)
                return r;
        r = install_build_tree(&in, err);
        if (r < 0)
                return r;

        old_path = kata_record_path(o->state_dir, o->runtime_class);
        if (!old_path)
                return oom(err);
        (void) kata_record_load(old_path, &old, NULL);
        r = install_make_record(&in, old, &record, err);
        if (r < 0)
                return r;

        r = install_swap(&in, err);
        if (r < 0)
                return r;
        if (in.have_plan) {
                r = containerd_plan_apply(&in.plan, err);
                if (r < 0) {
                        install_unswap(&in);
                        return r;
                }
        }
        r = kata_record_save(o->state_dir, record, err);
        if (r < 0) {
                if (in.have_plan)
                        containerd_plan_rollback(&in.plan);
                install_unswap(&in);
                return r;
        }

        /* Complete: the staging directory, with the old version in it, is
         * the caller's to remove. */
        if (o->restart && in.have_plan)
                r = o->restart(o->restart_userdata, err);
        *ret = TAKE_PTR(record);
        return r;
}

/* --------------------------------------------------------------- remove */

/* Removes the directory of an install made when ArtifactsDir was another:
 * through a checked descriptor of its parent, as every other removal. */
static int remove_elsewhere(const char *directory, CcError *err) {
        _cleanup_free_ char *parent = strdup(directory);
        _cleanup_close_ int fd = -1;
        char *slash;
        int r;

        if (!parent)
                return oom(err);
        slash = strrchr(parent, '/');
        if (!slash || !slash[1])
                return cc_error_set(err, CC_ERROR_INTERNAL, EINVAL, "%s is not a runtime class directory", directory);
        *slash = '\0';
        r = safe_dir_open(parent[0] ? parent : "/", false, &fd, NULL, err);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = kata_fs_remove_tree_at(fd, slash + 1);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, -r, "Cannot remove %s: %s", directory, strerror(-r));
        (void) fsync(fd);
        return 0;
}

int kata_remove(const char *artifacts_dir, const char *state_dir, const KataRecord *record, CcError *err) {
        _cleanup_(kata_staging_freep) KataStaging *s = NULL;
        _cleanup_free_ char *here = NULL;
        _cleanup_(containerd_plan_done) ContainerdPlan plan = {};
        bool have_plan = false;
        int r;

        assert(artifacts_dir);
        assert(state_dir);
        assert(record);

        /* ArtifactsDir is checked first: a refusal changes nothing. */
        r = kata_staging_new(artifacts_dir, record->name, &s, err);
        if (r < 0)
                return r;
        here = path_join(artifacts_dir, record->name);
        if (!here)
                return oom(err);

        if (!isempty_str(record->containerd_config)) {
                r = containerd_plan_unregister(record->containerd_config, record->containerd_version,
                                               record->containerd_dropin, record->name, &plan, err);
                if (r < 0)
                        return r;
                have_plan = true;
                r = containerd_plan_apply(&plan, err);
                if (r < 0)
                        return r;
        }

        if (streq(record->directory, here)) {
                /* Out of sight in one rename, then deleted at leisure. */
                if (renameat(kata_staging_artifacts_fd(s), record->name, kata_staging_fd(s), record->name) < 0 &&
                    errno != ENOENT) {
                        r = cc_error_set(err, CC_ERROR_INTERNAL, errno, "Cannot remove %s: %m", record->directory);
                        if (have_plan)
                                containerd_plan_rollback(&plan);
                        return r;
                }
                (void) fsync(kata_staging_artifacts_fd(s));
        } else {
                /* ArtifactsDir changed since the install; delete in place. */
                r = remove_elsewhere(record->directory, err);
                if (r < 0) {
                        if (have_plan)
                                containerd_plan_rollback(&plan);
                        return r;
                }
        }

        r = kata_record_remove(state_dir, record->name);
        if (r < 0)
                log_warning("Cannot remove the record of %s: %s", record->name, strerror(-r));
        return 0;
}
