/* SPDX-License-Identifier: MIT */
#pragma once

/* Drops every capability (effective, permitted, inheritable, ambient and,
 * when allowed, the bounding set) and sets no_new_privs, so nothing the
 * process runs can regain them.  0, or a negative errno. */
int oci_sandbox_enter(void);
