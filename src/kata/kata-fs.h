/* SPDX-License-Identifier: MIT */
#pragma once

/* File operations of the artifact install: whole-file replacement that keeps
 * a file's mode and owner, durable renames, and recursive removal that never
 * follows a symlink. */

#include <stddef.h>
#include <sys/stat.h>

/* Replaces path atomically (temp in the same directory, fsync, rename, fsync
 * of the directory).  like: the mode and owner to give the new file (those of
 * the file it replaces); NULL: 0644, owned by the caller. */
int kata_fs_replace_file(const char *path, const void *data, size_t size, const struct stat *like);

/* Reads a whole file (any size up to max bytes, NUL-terminated) and its
 * stat.  -EFBIG past max, -ELOOP for a symbolic link, -EISDIR for anything
 * else that is not a regular file (checked before it is opened: a FIFO
 * is never waited on). */
int kata_fs_read_file(const char *path, size_t max, char **ret, size_t *ret_len, struct stat *ret_st);

/* The same, of the file name in directory dirfd: opened with O_NOFOLLOW
 * and O_NONBLOCK, so neither a symbolic link nor a FIFO is waited on or
 * followed. */
int kata_fs_read_file_at(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len, struct stat *ret_st);

int kata_fs_fsync_path(const char *path);
int kata_fs_fsync_parent(const char *path);

/* rm -rf of path (a directory or a file), not crossing symlinks; 0 when it
 * did not exist. */
int kata_fs_remove_tree(const char *path);
/* The same, of name in directory dirfd. */
int kata_fs_remove_tree_at(int dirfd, const char *name);
