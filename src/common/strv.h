/* SPDX-License-Identifier: MIT */
#pragma once

/* NULL-terminated string vectors. */

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

void strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
size_t strv_length(char *const *l);
bool strv_equal(char *const *a, char *const *b);
