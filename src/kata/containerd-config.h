/* SPDX-License-Identifier: MIT */
#pragma once

/* Registering a Kata runtime class in containerd's configuration, as text
 * edits that keep the rest of the file byte for byte.
 *
 * Version 2 (containerd 1.x): one managed block, between the marker comments
 *   # BEGIN nvidia-ccd runtime <name>
 *   # END nvidia-ccd runtime <name>
 * holding the tables
 *   [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.<name>] and its .options.
 * Version 3 (containerd 2.x): a drop-in file with the runtime under
 *   plugins."io.containerd.cri.v1.runtime".containerd.runtimes.<name>,
 * and the main file's top-level `imports` made to include it.
 *
 * Every function is pure (text in, text out); the caller writes files
 * atomically.  A runtime table for <name> already defined outside the
 * managed block is refused (InvalidArgument naming the line), as is a file
 * the lexer cannot read safely.  The CRI section is never removed. */

#include <stdbool.h>
#include <stddef.h>

#include "cc-error.h"

/* The top-level `version`; a file without one is version 1 (refused by the
 * register functions as too old). */
int containerd_config_version(const char *text, size_t len, int *ret_version, CcError *err);

/* Adds or replaces the managed block of runtime_class (version 2). */
int containerd_v2_register(const char *text, size_t len, const char *runtime_class,
                           const char *kata_config_path, char **ret, size_t *ret_len, CcError *err);
/* Removes it; *ret_changed = false (and *ret a copy) when there was none. */
int containerd_v2_unregister(const char *text, size_t len, const char *runtime_class,
                             char **ret, size_t *ret_len, bool *ret_changed, CcError *err);

/* Version 3: whether runtime_class may be added by a drop-in: not "runc",
 * and not a runtime the main file defines (containerd would merge the
 * drop-in into it); InvalidArgument naming the line otherwise, as
 * containerd_v2_register() refuses the same names. */
int containerd_v3_check_runtime(const char *text, size_t len, const char *runtime_class, CcError *err);

/* Version 3: the drop-in's whole text, and the main file with `imports`
 * including (or no longer including) dropin_path. */
int containerd_v3_dropin(const char *runtime_class, const char *kata_config_path, char **ret);
int containerd_v3_add_import(const char *text, size_t len, const char *dropin_path,
                             char **ret, size_t *ret_len, CcError *err);
int containerd_v3_remove_import(const char *text, size_t len, const char *dropin_path,
                                char **ret, size_t *ret_len, CcError *err);
