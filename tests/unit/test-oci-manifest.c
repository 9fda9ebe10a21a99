/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "oci-manifest.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static const char oras_manifest[] =
        "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MEDIA_TYPE_MANIFEST "\","
        "\"artifactType\":\"application/vnd.nvidia.kata.artifacts.v1\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":" "\"" D3 "\",\"size\":2},"
        "\"layers\":["
        "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" D1 "\",\"size\":100,"
        "\"annotations\":{\"org.opencontainers.image.title\":\"vmlinuz\"}},"
        "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" D2 "\",\"size\":23}"
        "]}";

static int parse(const char *s, const char *ct, OciManifest **m, CcError *err) {
        return oci_manifest_parse(s, strlen(s), ct, m, err);
}

static void test_manifest(void **state) {
        OciManifest *m = NULL;
        CcError err = CC_ERROR_INIT;

        assert_int_equal(parse(oras_manifest, OCI_MEDIA_TYPE_MANIFEST "; charset=utf-8", &m, &err), 0);
        assert_int_equal(m->kind, OCI_MANIFEST_IMAGE);
        assert_int_equal(m->n_entries, 2);
        assert_string_equal(m->entries[0].digest, D1);
        assert_int_equal(m->entries[0].size, 100);
        assert_string_equal(m->entries[0].title, "vmlinuz");
        assert_null(m->entries[1].title);
        assert_int_equal(m->total_size, 123);
        oci_manifest_free(m);

        /* No Content-Type, or a generic one: the body says. */
        assert_int_equal(parse(oras_manifest, NULL, &m, &err), 0);
        assert_int_equal(m->kind, OCI_MANIFEST_IMAGE);
        oci_manifest_free(m);
        assert_int_equal(parse(oras_manifest, "application/json", &m, &err), 0);
        oci_manifest_free(m);

        /* No mediaType anywhere: the shape. */
        assert_int_equal(parse("{\"schemaVersion\":2,\"layers\":[]}", NULL, &m, &err), 0);
        assert_int_equal(m->kind, OCI_MANIFEST_IMAGE);
        assert_int_equal(m->n_entries, 0);
        oci_manifest_free(m);
}

static const char index_json[] =
        "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MEDIA_TYPE_INDEX "\",\"manifests\":["
        "{\"mediaType\":\"" OCI_MEDIA_TYPE_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":500,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
        "{\"mediaType\":\"" OCI_MEDIA_TYPE_INDEX "\",\"digest\":\"" D3 "\",\"size\":500,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
        "{\"mediaType\":\"" DOCKER_MEDIA_TYPE_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":600,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}"
        "]}";

static void test_index(void **state) {
        OciManifest *m = NULL;
        const OciDescriptor *d = NULL;
        CcError err = CC_ERROR_INIT;

        assert_int_equal(parse(index_json, OCI_MEDIA_TYPE_INDEX, &m, &err), 0);
        assert_int_equal(m->kind, OCI_MANIFEST_INDEX);
        assert_int_equal(m->n_entries, 3);
        assert_string_equal(m->entries[0].variant, "v8");
        /* An index entry that is itself an index is skipped. */
        assert_int_equal(oci_index_select(m, "linux", "amd64", &d, &err), 0);
        assert_string_equal(d->digest, D2);
        assert_int_equal(oci_index_select(m, "linux", "s390x", &d, &err), -ENOENT);
        assert_int_equal(err.kind, CC_ERROR_REGISTRY_ERROR);
        assert_non_null(strstr(err.message, "linux/s390x"));
        assert_non_null(strstr(err.message, "linux/arm64"));
        oci_manifest_free(m);

        /* A docker manifest list. */
        assert_int_equal(parse("{\"schemaVersion\":2,\"mediaType\":\"" DOCKER_MEDIA_TYPE_LIST "\",\"manifests\":[]}",
                               NULL, &m, &err), 0);
        assert_int_equal(m->kind, OCI_MANIFEST_INDEX);
        assert_int_equal(oci_index_select(m, "linux", "amd64", &d, &err), -ENOENT);
        assert_non_null(strstr(err.message, "nothing"));
        oci_manifest_free(m);
}

static void check_bad(const char *s, const char *ct, const char *words) {
        OciManifest *m = NULL;
        CcError err = CC_ERROR_INIT;

        assert_true(parse(s, ct, &m, &err) < 0);
        assert_null(m);
        assert_int_equal(err.kind, CC_ERROR_REGISTRY_ERROR);
        if (!strstr(err.message, words))
                fail_msg("%s: \"%s\" does not say \"%s\"", s, err.message, words);
}

#define LAYER(body) "{\"schemaVersion\":2,\"layers\":[" body "]}"
#define GOOD "\"mediaType\":\"t\",\"digest\":\"" D1 "\""

static void test_bad(void **state) {
        check_bad("", NULL, "empty");
        check_bad("nope", NULL, "not JSON");
        check_bad("[]", NULL, "not a JSON object");
        check_bad("{\"layers\":[]}", NULL, "schemaVersion");
        check_bad("{\"schemaVersion\":1,\"layers\":[]}", NULL, "schemaVersion 1");
        check_bad("{\"schemaVersion\":\"2\",\"layers\":[]}", NULL, "schemaVersion");
        check_bad("{\"schemaVersion\":2}", NULL, "not clearly");
        check_bad("{\"schemaVersion\":2,\"layers\":[],\"manifests\":[]}", NULL, "not clearly");
        check_bad("{\"schemaVersion\":2,\"mediaType\":\"text/html\",\"layers\":[]}", NULL, "unsupported type");
        check_bad("{\"schemaVersion\":2,\"layers\":[]}", "text/html", "unsupported type");
        check_bad("{\"schemaVersion\":2,\"mediaType\":\"" OCI_MEDIA_TYPE_INDEX "\",\"manifests\":[]}",
                  OCI_MEDIA_TYPE_MANIFEST, "but mediaType");
        check_bad("{\"schemaVersion\":2,\"layers\":{}}", NULL, "no \"layers\" array");
        check_bad(LAYER("1"), NULL, "layers[0] is not an object");
        check_bad(LAYER("{" GOOD "}"), NULL, "layers[0] has no integer size");
        check_bad(LAYER("{" GOOD ",\"size\":1.5}"), NULL, "integer size");
        check_bad(LAYER("{" GOOD ",\"size\":-1}"), NULL, "negative size");
        check_bad(LAYER("{\"mediaType\":\"t\",\"size\":1}"), NULL, "no digest");
        check_bad(LAYER("{\"mediaType\":\"t\",\"size\":1,\"digest\":\"sha256:abc\"}"), NULL, "digest that is not");
        check_bad(LAYER("{\"digest\":\"" D1 "\",\"size\":1}"), NULL, "mediaType");
        check_bad(LAYER("{\"mediaType\":\"a b\",\"digest\":\"" D1 "\",\"size\":1}"), NULL, "mediaType");
        check_bad(LAYER("{" GOOD ",\"size\":1,\"annotations\":[]}"), NULL, "annotations");
        check_bad(LAYER("{" GOOD ",\"size\":1,\"annotations\":{\"org.opencontainers.image.title\":1}}"), NULL, "title");
        check_bad(LAYER("{" GOOD ",\"size\":9223372036854775807},{" GOOD ",\"size\":9223372036854775807},"
                        "{" GOOD ",\"size\":9223372036854775807}"), NULL, "overflow");
        check_bad("{\"schemaVersion\":2,\"manifests\":[{" GOOD ",\"size\":1,\"platform\":{\"os\":1}}]}",
                  NULL, "platform");
}

static void test_limits(void **state) {
        OciManifest *m = NULL;
        CcError err = CC_ERROR_INIT;
        char *big;
        size_t n = OCI_MANIFEST_MAX_BYTES + 1;

        big = malloc(n);
        assert_non_null(big);
        memset(big, ' ', n);
        assert_int_equal(oci_manifest_parse(big, n, NULL, &m, &err), -EFBIG);
        free(big);
        assert_int_equal(oci_manifest_parse("{\0}", 3, NULL, &m, &err), -EBADMSG);

        /* What json-glib would recurse on until the stack ran out: refused
         * before it is parsed. */
        n = 1 << 20;
        big = malloc(n);
        assert_non_null(big);
        memset(big, '[', n);
        cc_error_clear(&err);
        assert_int_equal(oci_manifest_parse(big, n, OCI_MEDIA_TYPE_MANIFEST, &m, &err), -EBADMSG);
        assert_int_equal(err.kind, CC_ERROR_REGISTRY_ERROR);
        assert_string_equal(err.message, "bad manifest from the registry: nested more than 32 deep");
        /* Brackets inside strings are not nesting. */
        memset(big, '[', n);
        memcpy(big, "{\"mediaType\":\"", 14);
        memcpy(big + n - 3, "\"}", 2);
        big[n - 1] = ' ';
        cc_error_clear(&err);
        assert_int_equal(oci_manifest_parse(big, n, NULL, &m, &err), -EBADMSG);
        assert_null(strstr(err.message, "nested"));
        free(big);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_manifest),
                cmocka_unit_test(test_index),
                cmocka_unit_test(test_bad),
                cmocka_unit_test(test_limits),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
