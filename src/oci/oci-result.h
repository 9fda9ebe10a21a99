/* SPDX-License-Identifier: MIT */
#pragma once

/* The "result" line of nvidia-ccd-fetch (oci-pull.h), in one place for the
 * helper that writes it and the tools that print it. */

#include <json-glib/json-glib.h>
#include <stdbool.h>

#include "oci-pull.h"

/* Adds {"result":{"manifest":...,"layers":[...]}} at the builder's current
 * value position; with_paths also names each layer's file. */
void oci_pull_result_add_json(JsonBuilder *b, const OciPullResult *r, bool with_paths);
