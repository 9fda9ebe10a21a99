/* SPDX-License-Identifier: MIT */
#pragma once

/* json-glib's parser recurses once per nested array or object, without a
 * limit: a line of a million '[' from a registry or an API server runs it
 * out of stack.  Text from elsewhere is measured first, in one pass and no
 * recursion (strings and their escapes skipped), and handed to the parser
 * only when it nests no deeper than the caller's limit. */

#include <stdbool.h>
#include <stddef.h>

/* Whether no array or object in text (len bytes) lies deeper than max
 * levels (the outermost value is level 1).  Malformed text may pass: the
 * parser refuses it. */
bool json_depth_within(const char *text, size_t len, unsigned max);
