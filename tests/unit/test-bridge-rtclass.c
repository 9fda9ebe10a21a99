/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>
#include <glib.h>
#include <yaml.h>

#include <fcntl.h>
#include <unistd.h>

#include "macro.h"
#include "pull-secret.h"
#include "rtclass-file.h"

#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static RuntimeClassFile *parse_ok(const char *text) {
        RuntimeClassFile *f = NULL;
        CcError err = CC_ERROR_INIT;

        if (rtclass_file_parse(text, strlen(text), &f, &err) < 0)
                fail_msg("refused: %s", err.message);
        return f;
}

/* Refused, with a message that holds want. */
static void parse_refused(const char *text, const char *want) {
        RuntimeClassFile *f = NULL;
        CcError err = CC_ERROR_INIT;

        assert_int_equal(rtclass_file_parse(text, strlen(text), &f, &err), -EINVAL);
        assert_null(f);
        if (!strstr(err.message, want))
                fail_msg("\"%s\" does not say \"%s\"", err.message, want);
}

static GHashTable *labels_of(const char *const *kv) {
        GHashTable *l = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

        for (; kv && kv[0]; kv += 2)
                g_hash_table_insert(l, g_strdup(kv[0]), g_strdup(kv[1]));
        return l;
}

/* The GPU Operator's own kata-manager configuration. */
static void test_operator_config(void **state) {
        g_autoptr(RuntimeClassFile) f = parse_ok(
                "artifactsDir: \"/opt/nvidia-gpu-operator/artifacts/runtimeclasses\"\n"
                "runtimeClasses:\n"
                "  - name: kata-qemu-nvidia-gpu\n"
                "    nodeSelector: {}\n"
                "    artifacts:\n"
                "      url: nvcr.io/nvidia/cloud-native/kata-gpu-artifacts:ubuntu22.04-535.54.03\n"
                "      pullSecret: \"\"\n"
                "  - name: kata-qemu-nvidia-gpu-snp\n"
                "    nodeSelector:\n"
                "      \"nvidia.com/cc.capable\": \"true\"\n"
                "    artifacts:\n"
                "      url: nvcr.io/nvidia/cloud-native/kata-gpu-artifacts@" DIGEST "\n"
                "      pullSecret: regcred\n");
        const RuntimeClassSpec *gpu, *snp;
        g_autoptr(GHashTable) capable = labels_of((const char *const[]) { "nvidia.com/cc.capable", "true", NULL });
        g_autoptr(GHashTable) other = labels_of((const char *const[]) { "nvidia.com/cc.capable", "false", NULL });

        assert_string_equal(f->artifacts_dir, "/opt/nvidia-gpu-operator/artifacts/runtimeclasses");
        assert_int_equal(f->classes->len, 2);
        gpu = rtclass_file_find(f, "kata-qemu-nvidia-gpu");
        snp = rtclass_file_find(f, "kata-qemu-nvidia-gpu-snp");
        assert_non_null(gpu);
        assert_non_null(snp);
        assert_null(rtclass_file_find(f, "kata"));
        assert_null(gpu->pull_secret); /* "": none */
        assert_string_equal(snp->pull_secret, "regcred");
        assert_true(rtclass_selector_matches(gpu, other));
        assert_true(rtclass_selector_matches(snp, capable));
        assert_false(rtclass_selector_matches(snp, other));
        assert_null(rtclass_reference_digest(gpu->url));
        assert_string_equal(rtclass_reference_digest(snp->url), DIGEST);
}

static void test_json(void **state) {
        g_autoptr(RuntimeClassFile) f = parse_ok(
                "{\"runtimeClasses\": [{\"name\": \"a\", \"artifacts\": {\"url\": \"r.example:5000/k/a:1\"}}]}");

        assert_null(f->artifacts_dir);
        assert_int_equal(f->classes->len, 1);
        assert_int_equal(g_hash_table_size(((RuntimeClassSpec *) f->classes->pdata[0])->node_selector), 0);
}

static void test_empty_list(void **state) {
        g_autoptr(RuntimeClassFile) f = parse_ok("runtimeClasses: []\n");

        assert_int_equal(f->classes->len, 0);
}

static void test_refused(void **state) {
        parse_refused("", "empty");
        parse_refused("runtimeClasses: [\n", "YAML error at line");
        parse_refused("- a\n", "the file: is a list, not a mapping");
        parse_refused("runtimeclasses: []\n", "unknown key \"runtimeclasses\" (known: artifactsDir, runtimeClasses)");
        parse_refused("runtimeClasses: {}\n", "runtimeClasses: is a mapping, not a list");
        parse_refused("runtimeClasses:\n  - name: a\n    nodeselector: {}\n    artifacts: {url: r.io/a:1}\n",
                      "runtimeClasses[0]: unknown key \"nodeselector\"");
        parse_refused("runtimeClasses:\n  - artifacts: {url: r.io/a:1}\n", "runtimeClasses[0]: no name");
        parse_refused("runtimeClasses:\n  - name: Kata_GPU\n    artifacts: {url: r.io/a:1}\n",
                      "name \"Kata_GPU\" is not a DNS-1123 label");
        parse_refused("runtimeClasses:\n  - name: a\n", "runtimeClasses[0] (a): no artifacts.url");
        parse_refused("runtimeClasses:\n  - name: a\n    artifacts: {url: nohost}\n", "is not an OCI reference");
        parse_refused("runtimeClasses:\n  - name: a\n    artifacts: {url: r.io/a:1, pullsecret: x}\n",
                      "runtimeClasses[0].artifacts: unknown key \"pullsecret\"");
        parse_refused("runtimeClasses:\n  - name: a\n    artifacts: {url: r.io/a:1, pullSecret: Bad/Name}\n",
                      "artifacts.pullSecret \"Bad/Name\" is not the name of a Secret");
        parse_refused("runtimeClasses:\n  - name: a\n    artifacts: {url: [x]}\n",
                      "artifacts.url: is a list, not a string");
        parse_refused("runtimeClasses:\n  - name: a\n    nodeSelector: {\"bad key\": x}\n    artifacts: {url: r.io/a:1}\n",
                      "\"bad key\" is not a label name");
        parse_refused("runtimeClasses:\n  - name: a\n    nodeSelector: {k: [x]}\n    artifacts: {url: r.io/a:1}\n",
                      "nodeSelector.k: is not a label value");
        parse_refused("runtimeClasses:\n  - name: a\n    artifacts: {url: r.io/a:1}\n"
                      "  - name: a\n    artifacts: {url: r.io/a:2}\n",
                      "runtimeClasses[1]: runtime class \"a\" is already runtimeClasses[0]");
        parse_refused("runtimeClasses: []\nruntimeClasses: []\n", "\"runtimeClasses\" is given twice");
        parse_refused("artifactsDir: relative\nruntimeClasses: []\n", "artifactsDir: \"relative\" is not an absolute path");
}

static void test_limits(void **state) {
        g_autoptr(GString) many = g_string_new("runtimeClasses:\n");
        RuntimeClassFile *f = NULL;
        CcError err = CC_ERROR_INIT;
        g_autofree char *big = g_malloc0(RTCLASS_FILE_MAX_BYTES + 2);

        for (int i = 0; i <= RTCLASS_FILE_MAX_CLASSES; i++)
                g_string_append_printf(many, "  - {name: c%d, artifacts: {url: r.io/a:1}}\n", i);
        parse_refused(many->str, "more than 64");
        memset(big, ' ', RTCLASS_FILE_MAX_BYTES + 1);
        assert_int_equal(rtclass_file_parse(big, RTCLASS_FILE_MAX_BYTES + 1, &f, &err), -EFBIG);
        assert_int_equal(rtclass_file_parse("runtimeClasses: []\0x", 20, &f, &err), -EINVAL);
        assert_non_null(strstr(err.message, "NUL"));
}

static void test_names(void **state) {
        assert_true(rtclass_name_is_valid("kata-qemu-nvidia-gpu-snp"));
        assert_false(rtclass_name_is_valid("-kata"));
        assert_false(rtclass_name_is_valid("kata."));
        assert_false(rtclass_name_is_valid(""));
        assert_false(rtclass_name_is_valid(NULL));
        assert_false(rtclass_name_is_valid("a234567890123456789012345678901234567890123456789012345678901234"));
        assert_null(rtclass_reference_digest("r.io/a@sha512:00"));
        assert_null(rtclass_reference_digest("r.io/a:1"));
}

static void answer_refused(long status, const char *body, const char *want) {
        g_autofree char *reason = NULL;

        assert_true(pull_secret_from_answer("the pull secret ns/s", status, body, strlen(body), &reason) < 0);
        if (!strstr(reason, want))
                fail_msg("\"%s\" does not say \"%s\"", reason, want);
}

static void test_pull_secret(void **state) {
        static const char config[] = "{\"auths\": {\"r.example\": {\"auth\": \"dTpw\"}}}";
        g_autofree char *b64 = g_base64_encode((const guchar *) config, strlen(config));
        g_autofree char *body = g_strdup_printf("{\"kind\": \"Secret\", \"apiVersion\": \"v1\", "
                                                "\"type\": \"kubernetes.io/dockerconfigjson\", "
                                                "\"data\": {\".dockerconfigjson\": \"%s\"}}", b64);
        g_autofree char *reason = NULL;
        char buf[128] = {};
        int fd, seals;

        fd = pull_secret_from_answer("the pull secret ns/s", 200, body, strlen(body), &reason);
        assert_true(fd >= 0);
        assert_null(reason);
        /* The daemon's check: a regular file, readable, its bytes the config. */
        assert_int_equal(pread(fd, buf, sizeof(buf) - 1, 0), (ssize_t) strlen(config));
        assert_string_equal(buf, config);
        seals = fcntl(fd, F_GET_SEALS);
        assert_true(seals & F_SEAL_WRITE);
        assert_true(seals & F_SEAL_SEAL);
        assert_int_equal(pwrite(fd, "x", 1, 0), -1);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        close(fd);

        answer_refused(404, "{}", "the pull secret ns/s does not exist");
        answer_refused(403, "{}", "(HTTP 403): the bridge's Role must grant get on it");
        answer_refused(500, "{}", "cannot read the pull secret ns/s: HTTP 500");
        answer_refused(200, "[]", "the API server's answer is not a Secret");
        answer_refused(200, "{\"kind\": \"ConfigMap\"}", "is not a Secret");
        answer_refused(200, "{\"kind\": \"Secret\", \"data\": {\"x\": \"eA==\"}}", "it has no .dockerconfigjson");
        answer_refused(200, "{\"kind\": \"Secret\", \"data\": {\".dockerconfigjson\": \"\"}}", "is empty");
}

/* The example the DaemonSet mounts (deploy/kubernetes): its config.yaml
 * is a file the bridge takes, with the seed's two classes. */
static void test_deploy_example(void **state) {
        const char *srcdir = getenv("NVIDIA_CCD_SRCDIR");
        g_autofree char *path = NULL, *text = NULL;
        g_autoptr(RuntimeClassFile) f = NULL;
        g_autoptr(GHashTable) capable = labels_of((const char *const[]) { "nvidia.com/cc.capable", "true", NULL });
        g_autoptr(GHashTable) none = labels_of(NULL);
        yaml_parser_t parser;
        yaml_document_t doc;
        yaml_node_t *root, *data = NULL, *config = NULL;
        gsize size;

        if (!srcdir)
                skip();
        path = g_build_filename(srcdir, "deploy/kubernetes/runtime-classes-configmap.yaml", NULL);
        assert_true(g_file_get_contents(path, &text, &size, NULL));
        assert_true(yaml_parser_initialize(&parser));
        yaml_parser_set_input_string(&parser, (const unsigned char *) text, size);
        assert_true(yaml_parser_load(&parser, &doc));
        root = yaml_document_get_root_node(&doc);
        assert_non_null(root);
        assert_int_equal(root->type, YAML_MAPPING_NODE);
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++)
                if (streq((char *) yaml_document_get_node(&doc, p->key)->data.scalar.value, "data"))
                        data = yaml_document_get_node(&doc, p->value);
        assert_non_null(data);
        for (yaml_node_pair_t *p = data->data.mapping.pairs.start; p < data->data.mapping.pairs.top; p++)
                if (streq((char *) yaml_document_get_node(&doc, p->key)->data.scalar.value, "config.yaml"))
                        config = yaml_document_get_node(&doc, p->value);
        assert_non_null(config);
        f = parse_ok((const char *) config->data.scalar.value);
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);

        assert_int_equal(f->classes->len, 2);
        assert_true(rtclass_selector_matches(rtclass_file_find(f, "kata-qemu-nvidia-gpu"), none));
        assert_false(rtclass_selector_matches(rtclass_file_find(f, "kata-qemu-nvidia-gpu-snp"), none));
        assert_true(rtclass_selector_matches(rtclass_file_find(f, "kata-qemu-nvidia-gpu-snp"), capable));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_operator_config),
                cmocka_unit_test(test_json),
                cmocka_unit_test(test_empty_list),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_deploy_example),
                cmocka_unit_test(test_pull_secret),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
