/* SPDX-License-Identifier: MIT */
#pragma once

/* A runtime class's pull secret: the .dockerconfigjson of a Secret, from
 * the API server's answer to GET .../secrets/NAME, handed to nvidia-ccd as
 * a sealed memfd (pull-secret-fd): a regular file the daemon can read,
 * that nobody can change, and never on a disk. */

#include <stddef.h>

/* What nvidia-ccd takes as a pull secret. */
#define PULL_SECRET_MAX (1024 * 1024)
#define PULL_SECRET_KEY ".dockerconfigjson"

/* what names the Secret in messages ("the pull secret NS/NAME").  Returns
 * the descriptor (the caller's to close), or < 0 with *ret_reason saying
 * why, with the remedy where there is one. */
int pull_secret_from_answer(const char *what, long status, const char *body, size_t size, char **ret_reason);

/* data in a sealed memfd; a negative errno on failure. */
int pull_secret_memfd(const void *data, size_t size);
