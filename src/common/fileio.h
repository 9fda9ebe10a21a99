/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Reads a whole small file; trailing newlines are stripped.  -EISDIR when
 * it is not a regular file (a FIFO is not waited on). */
int read_text_file(const char *path, char **ret);

/* Writes a string to an existing file (sysfs attribute style: no create, no
 * truncate semantics beyond what the kernel gives). */
int write_attribute(const char *path, const char *value);

/* Replaces path atomically: temp file in the same directory, fsync, rename,
 * fsync of the directory.  Readers see the old or the new content, never a
 * mix; a crash leaves one of the two. */
int write_file_atomic(const char *path, const void *data, size_t size, unsigned mode);

/* mkdir -p */
int mkdir_parents(const char *path, unsigned mode);
