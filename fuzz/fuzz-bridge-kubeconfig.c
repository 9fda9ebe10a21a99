/* SPDX-License-Identifier: MIT */

/* The kubeconfig parser of nvidia-cc-k8s-bridge on arbitrary bytes.  A
 * kubeconfig is written by an administrator, but a broken one must give an
 * error that says what is wrong, hand nothing out, and leak nothing; one
 * that parses must give a usable server and consistent credentials. */

#include <glib.h>

#include "fuzz.h"
#include "kube-config.h"

static void check_loaded(const KubeConfig *c) {
        size_t n;

        FUZZ_CHECK(c->server);
        FUZZ_CHECK(g_str_has_prefix(c->server, "https://") || g_str_has_prefix(c->server, "http://"));
        n = strlen(c->server);
        FUZZ_CHECK(n > strlen("http://") && c->server[n - 1] != '/');
        for (const char *s = c->server; *s; s++)
                FUZZ_CHECK((unsigned char) *s > ' ' && *s != 0x7f);
        /* Relative paths were made absolute (base directory "/k"). */
        FUZZ_CHECK(!c->ca_file || c->ca_file[0] == '/');
        FUZZ_CHECK(!c->token_file || c->token_file[0] == '/');
        FUZZ_CHECK(!c->client_cert_file || c->client_cert_file[0] == '/');
        FUZZ_CHECK(!c->client_key_file || c->client_key_file[0] == '/');
        /* A data form wins over its file form. */
        FUZZ_CHECK(!(c->ca_data && c->ca_file));
        FUZZ_CHECK(!(c->client_cert_data && c->client_cert_file));
        FUZZ_CHECK(!(c->client_key_data && c->client_key_file));
        FUZZ_CHECK(!c->ca_data || g_bytes_get_size(c->ca_data) > 0);
        /* A certificate comes with its key. */
        FUZZ_CHECK(!!(c->client_cert_data || c->client_cert_file) == !!(c->client_key_data || c->client_key_file));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        CcError err = CC_ERROR_INIT;
        KubeConfig c = {};
        int r;

        fuzz_quiet_logging();
        r = kube_config_parse((const char *) data, size, "/k", &c, &err);
        if (fuzz_verbose())
                fprintf(stderr, "  kube_config_parse: %d %s server=%s\n", r, err.message, strempty(c.server));
        if (r < 0) {
                FUZZ_CHECK(err.kind == CC_ERROR_INVALID_ARGUMENT || err.kind == CC_ERROR_INTERNAL);
                FUZZ_CHECK(err.message[0] != '\0');
                FUZZ_CHECK(!c.server && !c.token && !c.ca_file && !c.ca_data && !c.namespace);
        } else {
                FUZZ_CHECK(r == 0);
                check_loaded(&c);
        }
        kube_config_done(&c);
        return 0;
}
