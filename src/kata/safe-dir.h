/* SPDX-License-Identifier: MIT */
#pragma once

/* Opening a directory the daemon writes into as root, such that nobody else
 * can have planted anything on the way: every component of the path is
 * walked from "/" with openat(O_NOFOLLOW), and each must be a directory
 * (not a symbolic link) owned by root (or the daemon's own user) and not
 * writable by group or others, as sshd's StrictModes asks of a user's
 * ~/.ssh.  An ancestor that others may write is accepted only with the
 * sticky bit (as /tmp): then nobody else can rename, replace or remove the
 * entry below it that is ours.  The directory itself must not be writable
 * by others at all.  The descriptor returned is the one to work from, with
 * *at() calls. */

#include <stdbool.h>

#include "cc-error.h"

/* Returns an O_DIRECTORY descriptor of path (absolute).  create: missing
 * components are made (mode 0755) and *ret_created (when non-NULL) gets the
 * topmost one made (NULL: none), for safe_dir_remove_created().  Failures
 * are HostNotReady errors naming the component and the problem. */
int safe_dir_open(const char *path, bool create, int *ret_fd, char **ret_created, CcError *err);

/* The checks of safe_dir_open() without changing anything: each component
 * that exists must pass them; the first missing one ends the walk (it
 * would be made).  For a check before work that would create path. */
int safe_dir_check(const char *path, CcError *err);

/* Removes the empty directories safe_dir_open() made for path, deepest
 * first, up to and including created; best effort. */
void safe_dir_remove_created(const char *path, const char *created);
