/* SPDX-License-Identifier: MIT */

/* oci_manifest_parse() and oci_index_select() on what a registry might send.
 * The first byte picks the Content-Type given with it.  Checks: a parsed
 * manifest has valid digests, its total is the sum of its sizes, and a
 * failure comes with a RegistryError message. */

#include "fuzz.h"
#include "oci-manifest.h"
#include "oci-reference.h"

static const char *const content_types[] = {
        NULL,
        OCI_MEDIA_TYPE_MANIFEST,
        OCI_MEDIA_TYPE_INDEX,
        DOCKER_MEDIA_TYPE_MANIFEST,
        DOCKER_MEDIA_TYPE_LIST,
        "application/json",
        OCI_MEDIA_TYPE_MANIFEST "; charset=utf-8",
        "text/html",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        OciManifest *m = NULL;
        CcError err = CC_ERROR_INIT;
        const char *ct;
        uint64_t sum = 0;
        int r;

        if (size < 1)
                return 0;
        fuzz_quiet_logging();
        ct = content_types[data[0] % ELEMENTSOF(content_types)];
        r = oci_manifest_parse((const char *) data + 1, size - 1, ct, &m, &err);
        if (fuzz_verbose())
                fprintf(stderr, "parse: %d %s\n", r, err.message);
        if (r < 0) {
                FUZZ_CHECK(!m);
                FUZZ_CHECK(cc_error_is_set(&err));
                FUZZ_CHECK(err.message[0] != '\0');
                return 0;
        }
        FUZZ_CHECK(m);
        FUZZ_CHECK(m->n_entries <= OCI_MANIFEST_MAX_ENTRIES);
        for (size_t i = 0; i < m->n_entries; i++) {
                FUZZ_CHECK(oci_digest_is_valid(m->entries[i].digest));
                FUZZ_CHECK(m->entries[i].media_type && m->entries[i].media_type[0]);
                sum += m->entries[i].size;
        }
        FUZZ_CHECK(sum == m->total_size);
        if (m->kind == OCI_MANIFEST_INDEX) {
                const OciDescriptor *d = NULL;

                r = oci_index_select(m, "linux", "amd64", &d, &err);
                FUZZ_CHECK(r == 0 ? d && streq(d->os, "linux") && streq(d->architecture, "amd64")
                                  : cc_error_is_set(&err));
        }
        oci_manifest_free(m);
        return 0;
}
