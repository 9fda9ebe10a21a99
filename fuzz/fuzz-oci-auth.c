/* SPDX-License-Identifier: MIT */

/* The registry's WWW-Authenticate challenge (oci_auth_challenge_parse) and
 * a docker config JSON (oci_credentials_from_docker_config), both in
 * src/oci/oci-auth.c.  Input: 1 byte, even for a challenge and odd for a
 * docker config, then the text.
 *
 * Checks: a parsed challenge is Basic or Bearer, a Bearer one has a realm,
 * each value is at most 4096 bytes with no control character but a tab, and
 * the challenge written back out (values quoted, '"' and '\' escaped)
 * parses to the same values; a refusal is -EINVAL or -EOPNOTSUPP.  A docker
 * config gives credentials (user and password), none (0), or an
 * InvalidArgument with a message. */

#include <glib.h>

#include "fuzz.h"
#include "macro.h"
#include "oci-auth.h"

static void quote(GString *s, const char *name, const char *value) {
        if (!value)
                return;
        g_string_append_printf(s, "%s%s=\"", s->str[s->len - 1] == ' ' ? "" : ",", name);
        for (const char *p = value; *p; p++) {
                if (*p == '"' || *p == '\\')
                        g_string_append_c(s, '\\');
                g_string_append_c(s, *p);
        }
        g_string_append_c(s, '"');
}

static void check_value(const char *v) {
        if (!v)
                return;
        FUZZ_CHECK(strlen(v) <= 4096);
        for (const char *p = v; *p; p++)
                FUZZ_CHECK((unsigned char) *p >= 0x20 || *p == '\t');
}

static void fuzz_challenge(const char *s) {
        OciAuthChallenge c = {}, again = {};
        g_autoptr(GString) back = NULL;
        int r;

        r = oci_auth_challenge_parse(s, &c);
        if (fuzz_verbose())
                fprintf(stderr, "challenge: %d\n", r);
        if (r < 0) {
                FUZZ_CHECK(r == -EINVAL || r == -EOPNOTSUPP);
                return;
        }
        FUZZ_CHECK(c.scheme == OCI_AUTH_BASIC || c.scheme == OCI_AUTH_BEARER);
        FUZZ_CHECK(c.scheme != OCI_AUTH_BEARER || (c.realm && c.realm[0]));
        check_value(c.realm);
        check_value(c.service);
        check_value(c.scope);

        back = g_string_new(c.scheme == OCI_AUTH_BASIC ? "Basic " : "Bearer ");
        quote(back, "realm", c.realm);
        quote(back, "service", c.service);
        quote(back, "scope", c.scope);
        FUZZ_CHECK(oci_auth_challenge_parse(back->str, &again) == 0);
        FUZZ_CHECK(again.scheme == c.scheme);
        FUZZ_CHECK(streq_ptr(again.realm, c.realm));
        FUZZ_CHECK(streq_ptr(again.service, c.service));
        FUZZ_CHECK(streq_ptr(again.scope, c.scope));
        oci_auth_challenge_done(&again);
        oci_auth_challenge_done(&c);
}

static void fuzz_docker_config(const char *s, size_t size) {
        OciCredentials creds = {};
        CcError err = CC_ERROR_INIT;
        int r;

        r = oci_credentials_from_docker_config(s, size, "registry.example:5000", &creds, &err);
        if (fuzz_verbose())
                fprintf(stderr, "docker config: %d %s\n", r, err.message);
        if (r < 0) {
                FUZZ_CHECK(err.kind == CC_ERROR_INVALID_ARGUMENT || err.kind == CC_ERROR_INTERNAL);
                FUZZ_CHECK(err.message[0]);
                FUZZ_CHECK(!creds.username && !creds.password);
        } else if (r == 0)
                FUZZ_CHECK(!creds.username && !creds.password);
        else {
                FUZZ_CHECK(r == 1);
                FUZZ_CHECK(creds.username && creds.password);
        }
        oci_credentials_done(&creds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = NULL;

        if (size < 1)
                return 0;
        fuzz_quiet_logging();
        s = fuzz_strndup(data + 1, size - 1);
        if (data[0] % 2 == 0)
                fuzz_challenge(s);
        else
                fuzz_docker_config((const char *) data + 1, size - 1);
        return 0;
}
