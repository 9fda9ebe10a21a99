/* SPDX-License-Identifier: MIT */

/* Stands in for the registry client while src/oci/oci-pull.c is absent from
 * the tree (see meson.build): results can be freed, pulls are refused. */

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

int oci_pull_start(const OciPullOptions *o, OciPull **ret, CcError *err) {
        return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EPROTONOSUPPORT, "This build has no registry client");
}

OciPull *oci_pull_free(OciPull *p) {
        return NULL;
}

int oci_pull_get_fd(OciPull *p) {
        return -EBADF;
}

int oci_pull_process(OciPull *p, uint64_t *ret_done, uint64_t *ret_total) {
        return -EBADF;
}

int oci_pull_finish(OciPull *p, OciPullResult **ret, CcError *err) {
        return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EPROTONOSUPPORT, "This build has no registry client");
}
