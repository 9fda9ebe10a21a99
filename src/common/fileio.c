/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>

#include "fileio.h"
#include "macro.h"
#include "strbuf.h"

int read_text_file(const char *path, char **ret) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_(strbuf_done) StrBuf b = {};
        char chunk[4096];
        struct stat st;
        size_t k;
        int fd;

        /* O_NONBLOCK: a FIFO (or a device) opens at once, to be refused,
         * rather than waiting for a writer. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        if (!S_ISREG(st.st_mode)) {
                close(fd);
                return -EISDIR;
        }
        f = fdopen(fd, "r");
        if (!f) {
                int r = -errno;

                close(fd);
                return r;
        }
        while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
                if (strbuf_put(&b, chunk, k) < 0)
                        return -ENOMEM;
        if (ferror(f))
                return errno > 0 ? -errno : -EIO;
        while (b.len > 0 && b.data[b.len - 1] == '\n')
                b.data[--b.len] = '\0';
        *ret = strbuf_steal(&b);
        return *ret ? 0 : -ENOMEM;
}

int write_attribute(const char *path, const char *value) {
        _cleanup_close_ int fd = -1;
        size_t len = strlen(value);
        ssize_t k;

        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        k = write(fd, value, len);
        if (k < 0)
                return -errno;
        if ((size_t) k != len)
                return -EIO;
        return 0;
}

int fsync_directory_of(const char *path) {
        _cleanup_free_ char *copy = strdup(path);
        _cleanup_close_ int dfd = -1;

        if (!copy)
                return -ENOMEM;
        dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        if (fsync(dfd) < 0)
                return -errno;
        return 0;
}

int loop_write(int fd, const void *data, size_t size) {
        const char *p = data;

        while (size > 0) {
                ssize_t k = write(fd, p, size);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                size -= (size_t) k;
        }
        return 0;
}

/* uid (uid_t) -1: the file stays the caller's. */
static int write_atomic(const char *path, const void *data, size_t size, mode_t mode, uid_t uid, gid_t gid) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        assert(path);
        assert(data || size == 0);

        /* The temp name ends in a random suffix, so a glob on the final
         * name's ending (containerd's conf.d *.toml) never picks it up. */
        if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = loop_write(fd, data, size);
        if (r >= 0 && uid != (uid_t) -1 && fchown(fd, uid, gid) < 0)
                r = -errno;
        if (r >= 0 && fchmod(fd, mode) < 0)
                r = -errno;
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        return fsync_directory_of(path);
}

int write_file_atomic(const char *path, const void *data, size_t size, unsigned mode) {
        return write_atomic(path, data, size, (mode_t) mode, (uid_t) -1, (gid_t) -1);
}

int write_file_atomic_like(const char *path, const void *data, size_t size, const struct stat *like) {
        if (!like)
                return write_file_atomic(path, data, size, 0644);
        return write_atomic(path, data, size, like->st_mode & 07777, like->st_uid, like->st_gid);
}

int mkdir_parents(const char *path, unsigned mode) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* Components of a canonical path, "" and "/" having none. */
static size_t count_components(const char *p) {
        size_t n = 0;

        for (; *p; p++)
                if (*p != '/' && (p[1] == '/' || p[1] == '\0'))
                        n++;
        return n;
}

int symlink_relative(const char *target, const char *linkpath) {
        _cleanup_free_ char *dir = NULL, *from = NULL, *to = NULL, *rel = NULL;
        const char *slash = strrchr(linkpath, '/'), *rest;
        size_t common = 0, ups, used = 0;

        if (!slash || slash[1] == '\0')
                return -EINVAL;
        dir = strndup(linkpath, slash == linkpath ? 1 : (size_t) (slash - linkpath));
        if (!dir)
                return -ENOMEM;
        from = realpath(dir, NULL);
        if (!from)
                return -errno;
        to = realpath(target, NULL);
        if (!to)
                return -errno;

        /* The deepest common ancestor, on a component boundary. */
        for (size_t i = 0;; i++) {
                bool end_from = from[i] == '\0' || from[i] == '/';
                bool end_to = to[i] == '\0' || to[i] == '/';

                if (end_from && end_to)
                        common = i;
                if (from[i] != to[i] || from[i] == '\0')
                        break;
        }
        ups = count_components(from + common);
        rest = to + common;
        while (*rest == '/')
                rest++;

        rel = malloc(ups * 3 + strlen(rest) + 2);
        if (!rel)
                return -ENOMEM;
        for (size_t i = 0; i < ups; i++, used += 3)
                memcpy(rel + used, "../", 3);
        strcpy(rel + used, rest);
        used += strlen(rest);
        if (used == 0)
                strcpy(rel, ".");
        else if (rel[used - 1] == '/')
                rel[used - 1] = '\0';

        return symlink(rel, linkpath) < 0 ? -errno : 0;
}

int fd_check_regular_readable(int fd, uint64_t max, uint64_t *ret_size) {
        struct stat st;
        int flags;

        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return -errno;
        if ((flags & O_PATH) || (flags & O_ACCMODE) == O_WRONLY)
                return -EBADF;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;
        if (ret_size)
                *ret_size = (uint64_t) st.st_size;
        return 0;
}

/* Reads fd whole from offset 0, never more than max bytes (-EFBIG when it
 * holds more); the buffer starts at the size the caller saw and grows with
 * a file that grows meanwhile. */
static int read_bounded(int fd, size_t max, uint64_t size_seen, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, allocated;

        allocated = (size_seen < max ? (size_t) size_seen : max) + 1;
        buf = malloc(allocated + 1);
        if (!buf)
                return -ENOMEM;
        /* One byte more than max tells a file that grew since it was seen. */
        for (;;) {
                ssize_t k;

                if (n == allocated) {
                        size_t grown = allocated < (max + 1) / 2 ? allocated * 2 : max + 1;
                        char *p;

                        if (grown <= n)
                                return -EFBIG;
                        p = realloc(buf, grown + 1);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        allocated = grown;
                }
                k = pread(fd, buf + n, allocated - n, (off_t) n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > max)
                        return -EFBIG;
        }
        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = n;
        return 0;
}

int fd_read_regular(int fd, size_t max, char **ret, size_t *ret_size) {
        uint64_t size;
        int r;

        r = fd_check_regular_readable(fd, max, &size);
        if (r < 0)
                return r;
        return read_bounded(fd, max, size, ret, ret_size);
}

/* fd opened for reading: the file's text and stat, -EISDIR for anything
 * but a regular file. */
static int read_opened(int fd, size_t max, char **ret, size_t *ret_len, struct stat *ret_st) {
        struct stat st;
        int r;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EISDIR;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;
        r = read_bounded(fd, max, (uint64_t) st.st_size, ret, ret_len);
        if (r < 0)
                return r;
        if (ret_st)
                *ret_st = st;
        return 0;
}

int read_regular_file(const char *path, size_t max, char **ret, size_t *ret_len, struct stat *ret_st) {
        _cleanup_close_ int path_fd = -1, fd = -1;
        char proc[64];
        struct stat st;

        /* Looked at before it is opened: a FIFO would wait for a writer,
         * a device could be anything, and a symbolic link is not ours to
         * replace with a file. */
        path_fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (path_fd < 0)
                return -errno;
        if (fstat(path_fd, &st) < 0)
                return -errno;
        if (S_ISLNK(st.st_mode))
                return -ELOOP;
        if (!S_ISREG(st.st_mode))
                return -EISDIR;
        /* The same inode, opened for reading (this may wait only for a
         * lease another process holds on it to be given up). */
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", path_fd);
        fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return read_opened(fd, max, ret, ret_len, ret_st);
}

int read_regular_file_at(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len, struct stat *ret_st) {
        _cleanup_close_ int fd = -1;

        fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return errno == ELOOP ? -EISDIR : -errno;
        return read_opened(fd, max, ret, ret_len, ret_st);
}
