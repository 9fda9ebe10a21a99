/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "safe-dir.h"

static int check(int fd, const char *shown, bool last, CcError *err) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, errno, "Cannot check %s: %m", shown);
        if (!S_ISDIR(st.st_mode))
                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, ENOTDIR, "%s is not a directory", shown);
        if (st.st_uid != 0 && st.st_uid != geteuid())
                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, EPERM,
                                    "%s belongs to uid %u, not root: anyone it lets in could plant links there",
                                    shown, (unsigned) st.st_uid);
        if ((st.st_mode & (S_IWGRP | S_IWOTH)) && (last || !(st.st_mode & S_ISVTX)))
                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, EPERM,
                                    "%s is writable by group or others (mode %04o): anyone it lets in could plant "
                                    "links there", shown, (unsigned) (st.st_mode & 07777));
        return 0;
}

typedef enum Walk {
        WALK_OPEN,      /* every component must exist */
        WALK_CREATE,    /* missing components are made */
        WALK_CHECK,     /* a missing component ends the walk: it would be made */
} Walk;

static int walk(const char *path, Walk how, int *ret_fd, char **ret_created, CcError *err) {
        _cleanup_free_ char *shown = NULL, *created = NULL;
        _cleanup_close_ int fd = -1;
        size_t at;
        int r;

        assert(path);

        if (path[0] != '/')
                return cc_error_set(err, CC_ERROR_INTERNAL, EINVAL, "%s is not an absolute path", path);
        shown = calloc(1, strlen(path) + 2);
        if (!shown)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
        fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, errno, "Cannot open /: %m");
        strcpy(shown, "/");
        at = 1;
        for (;;) {
                _cleanup_free_ char *name = NULL;
                size_t n;
                int child;

                while (path[at] == '/')
                        at++;
                n = strcspn(path + at, "/");
                /* The directory itself (nothing left) is held to more. */
                r = check(fd, shown, n == 0, err);
                if (r < 0)
                        return r;
                if (n == 0)
                        break;
                name = strndup(path + at, n);
                if (!name)
                        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
                if (streq(name, ".") || streq(name, ".."))
                        return cc_error_set(err, CC_ERROR_INTERNAL, EINVAL, "%s has a \".\" or \"..\" component", path);
                if (shown[strlen(shown) - 1] != '/')
                        strcat(shown, "/");
                strncat(shown, name, n);

                child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (child < 0 && errno == ENOENT && how == WALK_CHECK)
                        break;
                if (child < 0 && errno == ENOENT && how == WALK_CREATE) {
                        /* EROFS: usually the unit's sandbox, a directory
                         * not in its ReadWritePaths=. */
                        if (mkdirat(fd, name, 0755) < 0 && errno != EEXIST)
                                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, errno, "Cannot create %s: %m%s", shown,
                                                    errno == EROFS ? " (the service may write only the directories "
                                                                     "its unit lists in ReadWritePaths=; add this one "
                                                                     "with a drop-in)" : "");
                        if (!created && !(created = strdup(shown)))
                                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
                        child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        /* The umask may have narrowed it; others may read. */
                        if (child >= 0 && fchmod(child, 0755) < 0) {
                                close(child);
                                return cc_error_set(err, CC_ERROR_INTERNAL, errno, "Cannot set up %s: %m", shown);
                        }
                }
                if (child < 0) {
                        if (errno == ELOOP || errno == ENOTDIR) {
                                struct stat st;

                                if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISLNK(st.st_mode))
                                        return cc_error_set(err, CC_ERROR_HOST_NOT_READY, ELOOP,
                                                            "%s is a symbolic link; name the directory it points to",
                                                            shown);
                                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, ENOTDIR, "%s is not a directory",
                                                    shown);
                        }
                        return cc_error_set(err, errno == ENOENT ? CC_ERROR_HOST_NOT_READY : CC_ERROR_INTERNAL, errno,
                                            "Cannot open %s: %m", shown);
                }
                close(fd);
                fd = child;
                at += n;
        }
        if (ret_fd)
                *ret_fd = TAKE_FD(fd);
        if (ret_created)
                *ret_created = TAKE_PTR(created);
        return 0;
}

int safe_dir_open(const char *path, bool create, int *ret_fd, char **ret_created, CcError *err) {
        assert(ret_fd);
        return walk(path, create ? WALK_CREATE : WALK_OPEN, ret_fd, ret_created, err);
}

int safe_dir_check(const char *path, CcError *err) {
        return walk(path, WALK_CHECK, NULL, NULL, err);
}

void safe_dir_remove_created(const char *path, const char *created) {
        _cleanup_free_ char *p = NULL;

        if (!path || !created)
                return;
        p = strdup(path);
        while (p && strlen(p) > 1 && p[strlen(p) - 1] == '/')
                p[strlen(p) - 1] = '\0';
        while (p && strlen(p) >= strlen(created)) {
                _cleanup_close_ int parent = -1;
                char *slash = strrchr(p, '/');

                if (!slash || slash == p)
                        break;
                *slash = '\0';
                /* The parent again through the checks: nothing is removed
                 * through a link. */
                if (safe_dir_open(p[0] ? p : "/", false, &parent, NULL, NULL) < 0 ||
                    unlinkat(parent, slash + 1, AT_REMOVEDIR) < 0)
                        break;
        }
}
