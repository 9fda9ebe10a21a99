/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* Reads a whole small file; trailing newlines are stripped.  -EISDIR when
 * it is not a regular file (a FIFO is not waited on). */
int read_text_file(const char *path, char **ret);

/* Writes a string to an existing file (sysfs attribute style: no create, no
 * truncate semantics beyond what the kernel gives). */
int write_attribute(const char *path, const char *value);

/* Writes all size bytes to fd, through short writes and EINTR. */
int loop_write(int fd, const void *data, size_t size);

/* Replaces path atomically: temp file in the same directory, fsync, rename,
 * fsync of the directory.  Readers see the old or the new content, never a
 * mix; a crash leaves one of the two. */
int write_file_atomic(const char *path, const void *data, size_t size, unsigned mode);
/* The same, with the mode and owner of like (those of the file it
 * replaces); NULL: 0644, owned by the caller. */
int write_file_atomic_like(const char *path, const void *data, size_t size, const struct stat *like);

/* fsync of the directory that holds path: a rename in it is durable. */
int fsync_directory_of(const char *path);

/* mkdir -p */
int mkdir_parents(const char *path, unsigned mode);

/* Creates the symbolic link linkpath -> target with the target spelled
 * relative to the link's directory, as sysfs spells its links (a tree that
 * is moved keeps working).  target and the link's directory must exist;
 * symbolic links in either are resolved first. */
int symlink_relative(const char *target, const char *linkpath);

/* A file handed over as a descriptor (a secret passed on D-Bus, a bundle
 * given to a helper): fd must be open for reading on a regular file of at
 * most max bytes.  Returns 0, or -EBADF (opened with O_PATH or for writing
 * only), -EBADFD (not a regular file: a directory, FIFO, socket or device,
 * which could block a reader or never end) or -EFBIG (larger than max);
 * *ret_size gets the file's size when it is set. */
int fd_check_regular_readable(int fd, uint64_t max, uint64_t *ret_size);

/* Reads such a file whole, from offset 0 whatever the descriptor's
 * offset, never more than max bytes (-EFBIG when it holds more by the time
 * it is read); the text is NUL-terminated. */
int fd_read_regular(int fd, size_t max, char **ret, size_t *ret_size);

/* Reads a whole file (any size up to max bytes, NUL-terminated) and its
 * stat.  -EFBIG past max, -ELOOP for a symbolic link, -EISDIR for anything
 * else that is not a regular file (checked before it is opened: a FIFO
 * is never waited on). */
int read_regular_file(const char *path, size_t max, char **ret, size_t *ret_len, struct stat *ret_st);

/* The same, of the file name in directory dirfd: opened with O_NOFOLLOW
 * and O_NONBLOCK, so neither a symbolic link nor a FIFO is waited on or
 * followed (either is -EISDIR). */
int read_regular_file_at(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len, struct stat *ret_st);
