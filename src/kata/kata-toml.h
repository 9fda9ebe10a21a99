/* SPDX-License-Identifier: MIT */
#pragma once

/* A small, strict line editor for Kata's configuration TOML.  It rewrites the
 * string values of the keys kernel, initrd and image in every
 * [hypervisor.*] table and keeps every other byte as it was: comments,
 * inline comments, key order, other tables, commented-out keys.  A real lexer
 * reads table headers, bare/quoted keys and basic/literal strings; input it
 * cannot edit safely (multi-line strings or arrays around an edited key,
 * dotted keys that reach into a hypervisor table, a key given twice, a table
 * given twice, control characters...) is refused with an InvalidArgument
 * error naming the line. */

#include <stddef.h>

#include "cc-error.h"

typedef struct KataTomlPaths {
        const char *kernel;   /* NULL: leave the key as it is */
        const char *initrd;
        const char *image;
} KataTomlPaths;

/* text need not be NUL-terminated.  A key that is absent (or only commented
 * out) is not added.  *ret is NUL-terminated; *ret_len excludes the NUL. */
int kata_toml_set_paths(const char *text, size_t len, const KataTomlPaths *paths,
                        char **ret, size_t *ret_len, CcError *err);
