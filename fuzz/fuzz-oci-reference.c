/* SPDX-License-Identifier: MIT */

/* oci_reference_parse() and oci_auth_challenge_parse() on any string.
 * Checks: a parsed reference puts itself back together as it was given
 * (host, port, repository, tag, digest), its digest is valid, and a
 * refusal is InvalidArgument with a message. */

#include "fuzz.h"
#include "oci-auth.h"
#include "oci-reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = NULL;
        OciReference ref = {};
        OciAuthChallenge c = {};
        CcError err = CC_ERROR_INIT;
        int r;

        fuzz_quiet_logging();
        s = fuzz_strndup(data, size);

        r = oci_reference_parse(s, &ref, &err);
        if (fuzz_verbose())
                fprintf(stderr, "reference: %d %s\n", r, err.message);
        if (r < 0) {
                FUZZ_CHECK(r == -EINVAL);
                FUZZ_CHECK(err.kind == CC_ERROR_INVALID_ARGUMENT && err.message[0]);
                FUZZ_CHECK(!ref.host && !ref.repository);
        } else {
                char *back = NULL;

                FUZZ_CHECK(ref.tag || ref.digest);
                FUZZ_CHECK(!ref.digest || oci_digest_is_valid(ref.digest));
                FUZZ_CHECK(strlen(ref.repository) <= OCI_REPOSITORY_MAX);
                FUZZ_CHECK(asprintf(&back, "%s/%s%s%s%s%s", ref.authority, ref.repository,
                                    ref.tag ? ":" : "", strempty(ref.tag),
                                    ref.digest ? "@" : "", strempty(ref.digest)) >= 0);
                /* An implied "latest" is the only thing added. */
                if (!strstr(s, ":latest") && streq_ptr(ref.tag, "latest") && !ref.digest) {
                        size_t n = strlen(back) - strlen(":latest");
                        back[n] = '\0';
                }
                FUZZ_CHECK(streq(back, s));
                if (ref.port)
                        FUZZ_CHECK(ref.port <= 65535);
                (void) oci_reference_is_loopback(&ref);
                free(back);
                oci_reference_done(&ref);
        }

        r = oci_auth_challenge_parse(s, &c);
        if (r == 0) {
                FUZZ_CHECK(c.scheme == OCI_AUTH_BASIC || c.scheme == OCI_AUTH_BEARER);
                FUZZ_CHECK(c.scheme != OCI_AUTH_BEARER || (c.realm && c.realm[0]));
                oci_auth_challenge_done(&c);
        } else
                FUZZ_CHECK(r == -EINVAL || r == -EOPNOTSUPP);
        return 0;
}
