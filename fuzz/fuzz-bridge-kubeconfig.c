/* SPDX-License-Identifier: MIT */

/* The bridge's kubeconfig parser (src/bridge/kube-config.c) on any text.
 * The file is the administrator's, but a broken or hostile one must give an
 * error naming the problem, never a crash or a leak.
 *
 * Checks: a refusal is InvalidArgument with a message and leaves the result
 * untouched; an accepted configuration has an http(s) server with a host,
 * no trailing '/' and no space or control character; its file paths are
 * absolute (relative ones are taken from the kubeconfig's directory); the
 * -data forms decode to something; a client certificate comes with its
 * key; and the token read back is the one given. */

#include <glib.h>

#include "fuzz.h"
#include "kube-config.h"
#include "macro.h"

#define BASE_DIR "/etc/nvidia-cc-k8s-bridge"

static void check_path(const char *path) {
        if (path)
                FUZZ_CHECK(path[0] == '/');
}

static void check_data(GBytes *b) {
        if (b) {
                gsize n = 0;
                const uint8_t *p = g_bytes_get_data(b, &n);

                FUZZ_CHECK(n > 0);
                /* Touch the last byte, so ASan sees a size that lies. */
                (void) *(volatile const uint8_t *) &p[n - 1];
        }
}

static void check_config(const KubeConfig *c) {
        const char *host;
        _cleanup_free_ char *token = NULL;
        CcError err = CC_ERROR_INIT;

        FUZZ_CHECK(c->server);
        FUZZ_CHECK(g_str_has_prefix(c->server, "https://") || g_str_has_prefix(c->server, "http://"));
        host = strstr(c->server, "://") + 3;
        FUZZ_CHECK(host[0] != '\0');
        FUZZ_CHECK(!g_str_has_suffix(c->server, "/"));
        for (const char *s = c->server; *s; s++)
                FUZZ_CHECK((unsigned char) *s > ' ' && *s != 0x7f);

        check_path(c->ca_file);
        check_path(c->token_file);
        check_path(c->client_cert_file);
        check_path(c->client_key_file);
        check_data(c->ca_data);
        check_data(c->client_cert_data);
        check_data(c->client_key_data);
        /* The data form wins over the file form. */
        FUZZ_CHECK(!(c->ca_file && c->ca_data));
        FUZZ_CHECK(!(c->client_cert_file && c->client_cert_data));
        FUZZ_CHECK(!(c->client_key_file && c->client_key_data));
        FUZZ_CHECK(!!(c->client_cert_file || c->client_cert_data) ==
                   !!(c->client_key_file || c->client_key_data));
        if (c->namespace)
                FUZZ_CHECK(c->namespace[0] != '\0');

        /* A token file would be read from the disk: only the inline token. */
        if (!c->token_file) {
                FUZZ_CHECK(kube_config_read_token(c, &token, &err) == 0);
                FUZZ_CHECK(streq_ptr(token, c->token));
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        KubeConfig c, untouched;
        CcError err = CC_ERROR_INIT;
        int r;

        fuzz_quiet_logging();
        /* A pattern that no parse result has, to see "untouched". */
        memset(&c, 0xa5, sizeof(c));
        memcpy(&untouched, &c, sizeof(c));

        r = kube_config_parse((const char *) data, size, BASE_DIR, &c, &err);
        if (fuzz_verbose())
                fprintf(stderr, "kube_config_parse: %d %s\n", r, err.message);
        if (r < 0) {
                FUZZ_CHECK(err.kind == CC_ERROR_INVALID_ARGUMENT);
                FUZZ_CHECK(err.message[0] != '\0');
                FUZZ_CHECK(memcmp(&c, &untouched, sizeof(c)) == 0);
                return 0;
        }
        FUZZ_CHECK(r == 0);
        check_config(&c);
        kube_config_done(&c);
        return 0;
}
