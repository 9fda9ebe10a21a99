/* SPDX-License-Identifier: MIT */
#pragma once

/* Recursive removal that never follows a symlink, for the artifact install
 * (whole-file reads and replacements are common/fileio.h's). */

/* rm -rf of name in directory dirfd (a directory or a file), not crossing
 * symlinks; 0 when it did not exist. */
int kata_fs_remove_tree_at(int dirfd, const char *name);
