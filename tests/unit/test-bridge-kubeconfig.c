/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "kube-config.h"

/* "hello" and a PEM-looking text, base64. */
#define B64_HELLO "aGVsbG8="
#define B64_PEM "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="

static int parse(const char *text, KubeConfig *c, CcError *e) {
        *c = (KubeConfig) {};
        cc_error_clear(e);
        return kube_config_parse(text, strlen(text), "/etc/kube", c, e);
}

static void assert_refused(const char *text, const char *needle) {
        KubeConfig c;
        CcError e = CC_ERROR_INIT;

        assert_true(parse(text, &c, &e) < 0);
        assert_int_equal(e.kind, CC_ERROR_INVALID_ARGUMENT);
        if (!strstr(e.message, needle))
                fail_msg("\"%s\" does not contain \"%s\"", e.message, needle);
        /* Nothing is handed out on error. */
        assert_null(c.server);
        assert_null(c.token);
}

#define HEAD "apiVersion: v1\nkind: Config\ncurrent-context: ctx\n" \
             "contexts:\n- name: other\n  context: {cluster: nope, user: nope}\n" \
             "- name: ctx\n  context:\n    cluster: c1\n    user: u1\n    namespace: gpu-operator\n"

static void test_token_and_ca_file(void **state) {
        KubeConfig c;
        CcError e = CC_ERROR_INIT;

        assert_int_equal(parse(HEAD
                               "clusters:\n- name: c0\n  cluster: {server: 'https://wrong'}\n"
                               "- name: c1\n  cluster:\n    server: https://10.0.0.1:6443/\n"
                               "    certificate-authority: pki/ca.crt\n"
                               "users:\n- name: u1\n  user:\n    token: abc.def\n", &c, &e), 0);
        assert_string_equal(c.server, "https://10.0.0.1:6443");
        assert_string_equal(c.ca_file, "/etc/kube/pki/ca.crt");
        assert_null(c.ca_data);
        assert_string_equal(c.token, "abc.def");
        assert_null(c.token_file);
        assert_false(c.insecure_skip_tls_verify);
        assert_string_equal(c.namespace, "gpu-operator");
        kube_config_done(&c);
}

static void test_data_forms(void **state) {
        KubeConfig c;
        CcError e = CC_ERROR_INIT;
        gsize n;

        assert_int_equal(parse(HEAD
                               "clusters:\n- name: c1\n  cluster:\n    server: https://api.example:443/k8s/clusters/x\n"
                               "    certificate-authority: /ignored/when/data\n"
                               "    certificate-authority-data: " B64_PEM "\n"
                               "users:\n- name: u1\n  user:\n"
                               "    client-certificate-data: " B64_HELLO "\n"
                               "    client-key-data: " B64_HELLO "\n", &c, &e), 0);
        assert_string_equal(c.server, "https://api.example:443/k8s/clusters/x");
        assert_null(c.ca_file);
        assert_non_null(c.ca_data);
        assert_memory_equal(g_bytes_get_data(c.ca_data, &n), "-----BEGIN CERTIFICATE-----\n", 28);
        assert_int_equal(n, 28);
        assert_memory_equal(g_bytes_get_data(c.client_cert_data, &n), "hello", 5);
        assert_memory_equal(g_bytes_get_data(c.client_key_data, &n), "hello", 5);
        assert_null(c.token);
        kube_config_done(&c);
}

static void test_files_token_file_insecure(void **state) {
        KubeConfig c;
        CcError e = CC_ERROR_INIT;

        assert_int_equal(parse(HEAD
                               "clusters:\n- name: c1\n  cluster:\n    server: http://127.0.0.1:8080\n"
                               "    insecure-skip-tls-verify: true\n"
                               "users:\n- name: u1\n  user:\n    tokenFile: /run/token\n"
                               "    client-certificate: client.crt\n    client-key: /abs/client.key\n", &c, &e), 0);
        assert_true(c.insecure_skip_tls_verify);
        assert_string_equal(c.token_file, "/run/token");
        assert_string_equal(c.client_cert_file, "/etc/kube/client.crt");
        assert_string_equal(c.client_key_file, "/abs/client.key");
        kube_config_done(&c);
}

static void test_json_form(void **state) {
        KubeConfig c;
        CcError e = CC_ERROR_INIT;

        /* kubectl reads JSON kubeconfigs, libyaml too. */
        assert_int_equal(parse("{\"current-context\": \"s\", \"contexts\": [{\"name\": \"s\", \"context\": "
                               "{\"cluster\": \"s\", \"user\": \"b\"}}], \"clusters\": [{\"name\": \"s\", "
                               "\"cluster\": {\"server\": \"https://127.0.0.1:1\", \"insecure-skip-tls-verify\": "
                               "false}}], \"users\": [{\"name\": \"b\", \"user\": {\"token\": \"t\"}}]}", &c, &e), 0);
        assert_string_equal(c.server, "https://127.0.0.1:1");
        assert_string_equal(c.token, "t");
        assert_false(c.insecure_skip_tls_verify);
        assert_null(c.namespace);
        kube_config_done(&c);
}

static void test_anonymous_context(void **state) {
        KubeConfig c;
        CcError e = CC_ERROR_INIT;

        assert_int_equal(parse("current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
                               "clusters:\n- name: c\n  cluster: {server: 'https://h:1'}\n", &c, &e), 0);
        assert_null(c.token);
        assert_null(c.token_file);
        kube_config_done(&c);
}

static void test_errors(void **state) {
        assert_refused("", "not a YAML mapping");
        assert_refused("[1, 2]", "not a YAML mapping");
        assert_refused("a: [", "YAML error at line");
        assert_refused("contexts: []\n", "current-context is not set");
        assert_refused("current-context: x\n", "context \"x\" not found");
        assert_refused("current-context: x\ncontexts:\n- name: x\n  context: {user: u}\n", "names no cluster");
        assert_refused("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n",
                       "cluster \"c\" not found");
        assert_refused("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                       "clusters:\n- name: c\n  cluster: {}\n", "cluster \"c\" has no server");
        assert_refused("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                       "clusters:\n- name: c\n  cluster: {server: 'ftp://h'}\n", "not an http(s) URL");
        assert_refused("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                       "clusters:\n- name: c\n  cluster: {server: 'https://'}\n", "has no host");
        assert_refused("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                       "clusters:\n- name: c\n  cluster: {server: 'https://a b'}\n", "space or control");
        assert_refused("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                       "clusters:\n- name: c\n  cluster: {server: 'https://h', certificate-authority-data: '!!'}\n",
                       "certificate-authority-data of \"c\" is not base64");
        assert_refused("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                       "clusters:\n- name: c\n  cluster: {server: 'https://h', insecure-skip-tls-verify: maybe}\n",
                       "insecure-skip-tls-verify of \"c\" is not true or false");
        assert_refused("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                       "clusters:\n- name: c\n  cluster: {server: 'https://h'}\n", "user \"u\" not found");
        assert_refused("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                       "clusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
                       "users:\n- name: u\n  user: {exec: {command: aws}}\n", "plugin");
        assert_refused("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                       "clusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
                       "users:\n- name: u\n  user: {username: a, password: b}\n", "basic authentication");
        assert_refused("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                       "clusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
                       "users:\n- name: u\n  user: {client-certificate: a.crt}\n", "without its key");
        assert_refused("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                       "clusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
                       "users:\n- name: u\n  user: {client-key-data: 'YQ'}\n", "is not base64");
}

static void test_load_file_and_token_rotation(void **state) {
        g_autofree char *dir = g_dir_make_tmp("test-bridge-XXXXXX", NULL);
        g_autofree char *path = g_build_filename(dir, "kubeconfig", NULL);
        g_autofree char *token = g_build_filename(dir, "token", NULL);
        g_autofree char *text = g_strdup_printf("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                                                "clusters:\n- name: c\n  cluster: {server: 'https://h', "
                                                "certificate-authority: ca.crt}\n"
                                                "users:\n- name: u\n  user: {tokenFile: token}\n");
        KubeConfig c = {};
        CcError e = CC_ERROR_INIT;
        char *t = NULL;

        assert_true(g_file_set_contents(path, text, -1, NULL));
        assert_int_equal(kube_config_load(path, &c, &e), 0);
        g_autofree char *ca = g_build_filename(dir, "ca.crt", NULL);
        assert_string_equal(c.ca_file, ca);
        assert_string_equal(c.token_file, token);

        /* No token file yet: an error naming it. */
        assert_true(kube_config_read_token(&c, &t, &e) < 0);
        assert_non_null(strstr(e.message, token));
        assert_true(g_file_set_contents(token, "first\n", -1, NULL));
        assert_int_equal(kube_config_read_token(&c, &t, &e), 0);
        assert_string_equal(t, "first");
        g_free(t);
        /* Rotated: the next read sees the new one. */
        assert_true(g_file_set_contents(token, "second", -1, NULL));
        assert_int_equal(kube_config_read_token(&c, &t, &e), 0);
        assert_string_equal(t, "second");
        g_free(t);
        assert_true(g_file_set_contents(token, "\n", -1, NULL));
        assert_true(kube_config_read_token(&c, &t, &e) < 0);
        assert_non_null(strstr(e.message, "empty"));
        kube_config_done(&c);

        /* A missing file is named. */
        assert_true(kube_config_load("/nonexistent/kubeconfig", &c, &e) < 0);
        assert_non_null(strstr(e.message, "/nonexistent/kubeconfig"));

        g_unlink(path);
        g_unlink(token);
        g_rmdir(dir);
}

static void test_in_cluster(void **state) {
        g_autofree char *dir = g_dir_make_tmp("test-bridge-XXXXXX", NULL);
        g_autofree char *token = g_build_filename(dir, "token", NULL);
        g_autofree char *ca = g_build_filename(dir, "ca.crt", NULL);
        g_autofree char *ns = g_build_filename(dir, "namespace", NULL);
        KubeConfig c = {};
        CcError e = CC_ERROR_INIT;

        assert_true(kube_config_in_cluster("10.96.0.1", "443", dir, &c, &e) < 0);
        assert_non_null(strstr(e.message, token));
        assert_true(g_file_set_contents(token, "tok", -1, NULL));
        assert_true(kube_config_in_cluster("10.96.0.1", "443", dir, &c, &e) < 0);
        assert_non_null(strstr(e.message, ca));
        assert_true(g_file_set_contents(ca, "pem", -1, NULL));
        assert_true(g_file_set_contents(ns, "gpu-operator\n", -1, NULL));

        assert_int_equal(kube_config_in_cluster("10.96.0.1", "443", dir, &c, &e), 0);
        assert_string_equal(c.server, "https://10.96.0.1:443");
        assert_string_equal(c.token_file, token);
        assert_string_equal(c.ca_file, ca);
        assert_string_equal(c.namespace, "gpu-operator");
        kube_config_done(&c);

        assert_int_equal(kube_config_in_cluster("fd00::1", "6443", dir, &c, &e), 0);
        assert_string_equal(c.server, "https://[fd00::1]:6443");
        kube_config_done(&c);

        assert_true(kube_config_in_cluster(NULL, "443", dir, &c, &e) < 0);
        assert_true(kube_config_in_cluster("h", "x443", dir, &c, &e) < 0);
        assert_non_null(strstr(e.message, "not a port"));
        assert_true(kube_config_in_cluster("h/x", "443", dir, &c, &e) < 0);

        g_unlink(token);
        g_unlink(ca);
        g_unlink(ns);
        g_rmdir(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_token_and_ca_file),
                cmocka_unit_test(test_data_forms),
                cmocka_unit_test(test_files_token_file_insecure),
                cmocka_unit_test(test_json_form),
                cmocka_unit_test(test_anonymous_context),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_load_file_and_token_rotation),
                cmocka_unit_test(test_in_cluster),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
