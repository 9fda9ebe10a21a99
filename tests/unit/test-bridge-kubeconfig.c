/* SPDX-License-Identifier: MIT */

/* The bridge's kubeconfig parser and in-cluster configuration: every form
 * it supports (server, certificate-authority and -data, token, tokenFile,
 * client-certificate/key and -data, insecure-skip-tls-verify, the current
 * context), the errors, and the token read again after it rotates. */

#include <fcntl.h>
#include <sys/stat.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <glib/gstdio.h>

#include "kube-config.h"
#include "macro.h"

#define BASE "/etc/kube"
/* "-----BEGIN CERTIFICATE-----\n" */
#define PEM_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="
#define PEM "-----BEGIN CERTIFICATE-----\n"

#define HEAD(cluster, user) \
        "apiVersion: v1\nkind: Config\ncurrent-context: ctx\n" \
        "contexts:\n- name: ctx\n  context: {cluster: c, user: u, namespace: ns}\n" \
        "clusters:\n- name: c\n  cluster:\n" cluster "users:\n- name: u\n  user:\n" user

static KubeConfig parse_ok(const char *text) {
        CcError e = CC_ERROR_INIT;
        KubeConfig c = {};
        int r = kube_config_parse(text, strlen(text), BASE, &c, &e);

        if (r < 0)
                fail_msg("refused: %s", e.message);
        return c;
}

static void check_refused(const char *text, int error, const char *message_part) {
        CcError e = CC_ERROR_INIT;
        KubeConfig c = { .server = (char *) "untouched" };

        assert_int_equal(kube_config_parse(text, strlen(text), BASE, &c, &e), -error);
        assert_int_equal(e.kind, CC_ERROR_INVALID_ARGUMENT);
        assert_string_equal(c.server, "untouched");
        if (!strstr(e.message, message_part))
                fail_msg("\"%s\" does not say \"%s\"", e.message, message_part);
}

static void assert_bytes(GBytes *b, const char *expected) {
        gsize n = 0;
        const char *p;

        assert_non_null(b);
        p = g_bytes_get_data(b, &n);
        assert_int_equal(n, strlen(expected));
        assert_memory_equal(p, expected, n);
}

static void test_token_and_ca_data(void **state) {
        KubeConfig c = parse_ok(HEAD("    server: https://api.example:6443//\n"
                                     "    certificate-authority-data: " PEM_B64 "\n",
                                     "    token: abc.def\n"));

        assert_string_equal(c.server, "https://api.example:6443");
        assert_bytes(c.ca_data, PEM);
        assert_null(c.ca_file);
        assert_string_equal(c.token, "abc.def");
        assert_null(c.token_file);
        assert_false(c.insecure_skip_tls_verify);
        assert_string_equal(c.namespace, "ns");
        kube_config_done(&c);
}

static void test_files_relative_and_absolute(void **state) {
        KubeConfig c = parse_ok(HEAD("    server: \"https://[::1]:8443/prefix\"\n"
                                     "    certificate-authority: pki/ca.crt\n",
                                     "    client-certificate: pki/client.crt\n"
                                     "    client-key: /abs/client.key\n"
                                     "    tokenFile: token\n"));

        assert_string_equal(c.server, "https://[::1]:8443/prefix");
        assert_string_equal(c.ca_file, BASE "/pki/ca.crt");
        assert_string_equal(c.client_cert_file, BASE "/pki/client.crt");
        assert_string_equal(c.client_key_file, "/abs/client.key");
        assert_string_equal(c.token_file, BASE "/token");
        kube_config_done(&c);
}

static void test_client_data_wins_and_insecure(void **state) {
        KubeConfig c = parse_ok(HEAD("    server: http://localhost:8080\n"
                                     "    insecure-skip-tls-verify: true\n"
                                     "    certificate-authority: ignored.crt\n"
                                     "    certificate-authority-data: " PEM_B64 "\n",
                                     "    client-certificate: ignored.crt\n"
                                     "    client-certificate-data: " PEM_B64 "\n"
                                     "    client-key-data: \"" PEM_B64 "\"\n"));

        assert_true(c.insecure_skip_tls_verify);
        assert_null(c.ca_file);
        assert_bytes(c.ca_data, PEM);
        assert_null(c.client_cert_file);
        assert_bytes(c.client_cert_data, PEM);
        assert_bytes(c.client_key_data, PEM);
        assert_null(c.token);
        kube_config_done(&c);
}

static void test_current_context(void **state) {
        static const char text[] =
                "current-context: second\n"
                "contexts:\n"
                "- {name: first, context: {cluster: a, user: ua}}\n"
                "- {name: second, context: {cluster: b}}\n"
                "clusters:\n"
                "- {name: a, cluster: {server: 'https://a:1'}}\n"
                "- {name: b, cluster: {server: 'https://b:2'}}\n"
                "users:\n"
                "- {name: ua, user: {token: a}}\n";
        KubeConfig c = parse_ok(text);

        assert_string_equal(c.server, "https://b:2");
        /* A context without a user: anonymous. */
        assert_null(c.token);
        assert_null(c.namespace);
        kube_config_done(&c);
}

static void test_errors(void **state) {
        check_refused("", EINVAL, "not a YAML mapping");
        check_refused("- a\n- b\n", EINVAL, "not a YAML mapping");
        check_refused("a: [\n", EINVAL, "YAML error at line");
        check_refused("contexts: []\n", EINVAL, "current-context is not set");
        check_refused("current-context: x\ncontexts: []\n", ENOENT, "context \"x\" not found");
        check_refused("current-context: x\ncontexts: [{name: x, context: {user: u}}]\n", EINVAL,
                      "context \"x\" names no cluster");
        check_refused("current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n", ENOENT,
                      "cluster \"c\" not found");
        check_refused(HEAD("    certificate-authority: ca\n", "    token: t\n"), EINVAL,
                      "cluster \"c\" has no server");
        check_refused(HEAD("    server: ftp://x\n", "    token: t\n"), EINVAL, "not an http(s) URL");
        check_refused(HEAD("    server: https://\n", "    token: t\n"), EINVAL, "has no host");
        check_refused(HEAD("    server: \"https://a b\"\n", "    token: t\n"), EINVAL, "space or control");
        check_refused(HEAD("    server: https://a\n    certificate-authority-data: \"not base64!\"\n",
                           "    token: t\n"), EINVAL, "certificate-authority-data of \"c\" is not base64");
        check_refused(HEAD("    server: https://a\n    insecure-skip-tls-verify: maybe\n", "    token: t\n"),
                      EINVAL, "insecure-skip-tls-verify of \"c\" is not true or false");
        check_refused("current-context: x\ncontexts: [{name: x, context: {cluster: c, user: nobody}}]\n"
                      "clusters: [{name: c, cluster: {server: 'https://a'}}]\n", ENOENT,
                      "user \"nobody\" not found");
        check_refused(HEAD("    server: https://a\n", "    client-certificate: c.crt\n"), EINVAL,
                      "certificate without its key");
        check_refused(HEAD("    server: https://a\n", "    client-key-data: " PEM_B64 "\n"), EINVAL,
                      "certificate without its key");
        check_refused(HEAD("    server: https://a\n", "    exec: {command: aws}\n"), EOPNOTSUPP, "plugin");
        check_refused(HEAD("    server: https://a\n", "    auth-provider: {name: oidc}\n"), EOPNOTSUPP,
                      "plugin");
        check_refused(HEAD("    server: https://a\n", "    username: a\n    password: b\n"), EOPNOTSUPP,
                      "basic authentication");
}

static void test_too_big(void **state) {
        g_autofree char *text = g_malloc0(KUBE_CONFIG_MAX_BYTES + 2);
        CcError e = CC_ERROR_INIT;
        KubeConfig c = {};

        memset(text, ' ', KUBE_CONFIG_MAX_BYTES + 1);
        assert_int_equal(kube_config_parse(text, KUBE_CONFIG_MAX_BYTES + 1, BASE, &c, &e), -EFBIG);
        assert_null(c.server);
}

static void write_text(const char *path, const char *text) {
        assert_true(g_file_set_contents(path, text, -1, NULL));
}

static void test_load_and_token_rotation(void **state) {
        g_autofree char *dir = g_dir_make_tmp("test-bridge-kubeconfig-XXXXXX", NULL);
        g_autofree char *path = g_build_filename(dir, "kubeconfig", NULL);
        g_autofree char *token_path = g_build_filename(dir, "token", NULL);
        g_autofree char *missing = g_build_filename(dir, "missing", NULL);
        CcError e = CC_ERROR_INIT;
        KubeConfig c = {};
        char *token = NULL;

        assert_non_null(dir);
        write_text(path, HEAD("    server: https://a\n", "    tokenFile: token\n    token: ignored\n"));
        assert_int_equal(kube_config_load(path, &c, &e), 0);
        assert_string_equal(c.token_file, token_path);

        write_text(token_path, "first\n");
        assert_int_equal(kube_config_read_token(&c, &token, &e), 0);
        assert_string_equal(token, "first");
        g_free(token);
        /* Rotated in place: the next request takes the new one. */
        write_text(token_path, "  second \n");
        assert_int_equal(kube_config_read_token(&c, &token, &e), 0);
        assert_string_equal(token, "second");
        g_free(token);
        write_text(token_path, "\n");
        assert_int_equal(kube_config_read_token(&c, &token, &e), -EINVAL);
        assert_non_null(strstr(e.message, "empty"));
        cc_error_clear(&e);
        write_text(token_path, "a\nb\n");
        assert_int_equal(kube_config_read_token(&c, &token, &e), -EINVAL);
        assert_non_null(strstr(e.message, "more than one line"));
        cc_error_clear(&e);
        assert_int_equal(g_unlink(token_path), 0);
        assert_true(kube_config_read_token(&c, &token, &e) < 0);
        assert_non_null(strstr(e.message, token_path));
        cc_error_clear(&e);
        kube_config_done(&c);

        /* A load error names the file. */
        write_text(path, "current-context: [\n");
        assert_int_equal(kube_config_load(path, &c, &e), -EINVAL);
        assert_non_null(strstr(e.message, path));
        cc_error_clear(&e);
        assert_true(kube_config_load(missing, &c, &e) < 0);
        assert_non_null(strstr(e.message, "missing"));
        cc_error_clear(&e);

        assert_int_equal(g_unlink(path), 0);
        assert_int_equal(g_rmdir(dir), 0);
}

/* What the bridge opens from its configuration is a regular file: a FIFO
 * would hold it, waiting for a writer. */
static void test_fifo_refused(void **state) {
        g_autofree char *dir = g_dir_make_tmp("test-bridge-kubeconfig-XXXXXX", NULL);
        g_autofree char *path = g_build_filename(dir, "kubeconfig", NULL);
        g_autofree char *fifo = g_build_filename(dir, "fifo", NULL);
        CcError e = CC_ERROR_INIT;
        KubeConfig c = {};

        assert_non_null(dir);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        assert_int_equal(kube_config_load(fifo, &c, &e), -EISDIR);
        assert_non_null(strstr(e.message, "not a regular file"));
        cc_error_clear(&e);

        write_text(path, HEAD("    server: https://a\n    certificate-authority: fifo\n", "    token: t\n"));
        assert_int_equal(kube_config_load(path, &c, &e), -EISDIR);
        assert_non_null(strstr(e.message, "fifo is not a regular file"));
        assert_null(c.server);

        assert_int_equal(g_unlink(path), 0);
        assert_int_equal(g_unlink(fifo), 0);
        assert_int_equal(g_rmdir(dir), 0);
}

/* An inline token becomes a header as it is: no line break may end it. */
static void test_inline_token_line_break(void **state) {
        check_refused(HEAD("    server: https://a\n", "    token: \"t0k\\r\\nX-Evil: 1\"\n"), EINVAL,
                      "has a control character");
        check_refused(HEAD("    server: https://a\n", "    token: \"t0k\\n\"\n"), EINVAL, "has a control character");
        check_refused(HEAD("    server: https://a\n", "    token: \"t\\x7fk\"\n"), EINVAL, "has a control character");
}

static void test_inline_token(void **state) {
        KubeConfig c = parse_ok(HEAD("    server: https://a\n", "    token: t0k\n"));
        CcError e = CC_ERROR_INIT;
        char *token = NULL;

        assert_int_equal(kube_config_read_token(&c, &token, &e), 0);
        assert_string_equal(token, "t0k");
        g_free(token);
        kube_config_done(&c);

        c = parse_ok(HEAD("    server: https://a\n", "    {}\n"));
        assert_int_equal(kube_config_read_token(&c, &token, &e), 0);
        assert_null(token);
        kube_config_done(&c);
}

static void test_in_cluster(void **state) {
        g_autofree char *dir = g_dir_make_tmp("test-bridge-sa-XXXXXX", NULL);
        g_autofree char *token = g_build_filename(dir, "token", NULL);
        g_autofree char *ca = g_build_filename(dir, "ca.crt", NULL);
        g_autofree char *ns = g_build_filename(dir, "namespace", NULL);
        CcError e = CC_ERROR_INIT;
        KubeConfig c = {};

        assert_non_null(dir);
        /* No token yet. */
        assert_true(kube_config_in_cluster("10.0.0.1", "443", dir, &c, &e) < 0);
        assert_non_null(strstr(e.message, token));
        cc_error_clear(&e);

        write_text(token, "t\n");
        write_text(ca, PEM);
        write_text(ns, "gpu-operator");
        assert_int_equal(kube_config_in_cluster("10.0.0.1", "443", dir, &c, &e), 0);
        assert_string_equal(c.server, "https://10.0.0.1:443");
        assert_string_equal(c.token_file, token);
        assert_string_equal(c.ca_file, ca);
        assert_string_equal(c.namespace, "gpu-operator");
        kube_config_done(&c);

        assert_int_equal(kube_config_in_cluster("fd00::1", "6443", dir, &c, &e), 0);
        assert_string_equal(c.server, "https://[fd00::1]:6443");
        kube_config_done(&c);

        assert_int_equal(kube_config_in_cluster("10.0.0.1", "44x", dir, &c, &e), -EINVAL);
        assert_non_null(strstr(e.message, "KUBERNETES_SERVICE_PORT"));
        cc_error_clear(&e);
        assert_int_equal(kube_config_in_cluster("a/b", "443", dir, &c, &e), -EINVAL);
        assert_non_null(strstr(e.message, "KUBERNETES_SERVICE_HOST"));
        cc_error_clear(&e);
        assert_int_equal(kube_config_in_cluster(NULL, "443", dir, &c, &e), -EINVAL);
        cc_error_clear(&e);
        assert_null(c.server);

        g_unlink(token);
        g_unlink(ca);
        g_unlink(ns);
        assert_int_equal(g_rmdir(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_token_and_ca_data),
                cmocka_unit_test(test_files_relative_and_absolute),
                cmocka_unit_test(test_client_data_wins_and_insecure),
                cmocka_unit_test(test_current_context),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_too_big),
                cmocka_unit_test(test_load_and_token_rotation),
                cmocka_unit_test(test_fifo_refused),
                cmocka_unit_test(test_inline_token),
                cmocka_unit_test(test_inline_token_line_break),
                cmocka_unit_test(test_in_cluster),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
