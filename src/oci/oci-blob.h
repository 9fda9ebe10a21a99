/* SPDX-License-Identifier: MIT */
#pragma once

/* One blob from the registry to a file, hashed with SHA-256 while it
 * streams: the file appears under its hex digest only once the digest and
 * the size matched, and never otherwise. */

#include <stdint.h>

#include "cc-error.h"
#include "oci-http.h"
#include "oci-manifest.h"

/* Called with the bytes received since the last call (negative when a
 * retry starts the blob over).  A negative return abandons the blob with
 * that errno (another blob of the pull failed). */
typedef int (*OciBlobProgress)(int64_t delta, void *userdata);

/* Fetches url into dir_fd/<hex digest>.  what names the layer in errors
 * ("layer 2 \"initrd.img\""). */
int oci_blob_fetch(OciHttp *h, const char *url, const char *authorization,
                   int dir_fd, const OciDescriptor *d, const char *what,
                   OciBlobProgress progress, void *userdata, CcError *err);
