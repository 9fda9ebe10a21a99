/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Reads a whole small file; trailing newlines are stripped. */
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

/* Creates the symbolic link linkpath -> target with the target spelled
 * relative to the link's directory, as sysfs spells its links (a tree that
 * is moved keeps working).  target and the link's directory must exist;
 * symbolic links in either are resolved first. */
int symlink_relative(const char *target, const char *linkpath);
