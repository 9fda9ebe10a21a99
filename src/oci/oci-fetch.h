/* SPDX-License-Identifier: MIT */
#pragma once

/* The whole pull as the helper runs it: ping and authenticate, fetch and
 * check the manifest (through an index to linux/amd64), then every layer,
 * verified, into the output directory, up to three at once (each on its
 * own connection and thread).  The first failure stops the others; the
 * files written so far are removed again.  The progress callback is called
 * from those threads, one call at a time. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cc-error.h"
#include "oci-pull.h"

typedef struct OciFetchOptions {
        const char *reference;
        int output_dir_fd;
        const char *pull_secret;      /* docker config JSON text, or NULL */
        size_t pull_secret_size;
        const char *ca_bundle;        /* PEM text to trust, or NULL: the system store */
        size_t ca_bundle_size;
        bool plain_http;
        uint64_t max_total_bytes;     /* 0: OCI_PULL_DEFAULT_MAX_TOTAL_BYTES */
} OciFetchOptions;

typedef void (*OciFetchProgress)(uint64_t done, uint64_t total, void *userdata);

/* The layers' paths in the result are their file names (hex digests). */
int oci_fetch(const OciFetchOptions *o, OciFetchProgress progress, void *userdata,
              OciPullResult **ret, CcError *err);
