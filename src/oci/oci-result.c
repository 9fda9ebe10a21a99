/* SPDX-License-Identifier: MIT */
#include "oci-pull.h"

OciPullResult *oci_pull_result_free(OciPullResult *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_layers; i++) {
                free(r->layers[i].digest);
                free(r->layers[i].media_type);
                free(r->layers[i].title);
                free(r->layers[i].path);
        }
        free(r->layers);
        free(r->manifest_digest);
        free(r);
        return NULL;
}
