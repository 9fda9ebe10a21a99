/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "oci-auth.h"

static void test_bearer(void **state) {
        OciAuthChallenge c = {};

        assert_int_equal(oci_auth_challenge_parse(
                "Bearer realm=\"https://auth.example.com/token\",service=\"registry.example.com\","
                "scope=\"repository:a/b:pull\"", &c), 0);
        assert_int_equal(c.scheme, OCI_AUTH_BEARER);
        assert_string_equal(c.realm, "https://auth.example.com/token");
        assert_string_equal(c.service, "registry.example.com");
        assert_string_equal(c.scope, "repository:a/b:pull");
        oci_auth_challenge_done(&c);

        /* Case, spaces, escapes, unknown parameters, unquoted tokens. */
        assert_int_equal(oci_auth_challenge_parse(
                "bearer  realm = \"https://a/t?x=\\\"y\\\"\" , error=\"invalid_token\", service=reg", &c), 0);
        assert_string_equal(c.realm, "https://a/t?x=\"y\"");
        assert_string_equal(c.service, "reg");
        assert_null(c.scope);
        oci_auth_challenge_done(&c);
}

static void test_basic(void **state) {
        OciAuthChallenge c = {};

        assert_int_equal(oci_auth_challenge_parse("Basic realm=\"Registry Realm\"", &c), 0);
        assert_int_equal(c.scheme, OCI_AUTH_BASIC);
        assert_string_equal(c.realm, "Registry Realm");
        oci_auth_challenge_done(&c);
        assert_int_equal(oci_auth_challenge_parse("Basic", &c), 0);
        assert_int_equal(c.scheme, OCI_AUTH_BASIC);
        oci_auth_challenge_done(&c);
}

static void test_bad(void **state) {
        static const char *const bad[] = {
                "",
                "Bearer",                                  /* no realm */
                "Bearer service=\"x\"",
                "Bearer realm=\"\"",
                "Bearer realm=\"https://a",                /* unterminated */
                "Bearer realm=\"a\" service=\"b\"",        /* no comma */
                "Bearer realm=\"a\",realm=\"b\"",          /* twice */
                "Bearer realm=",
                "Bearer =x",
                "Bearer realm=\"a\x01\"",
        };
        OciAuthChallenge c = {};

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (oci_auth_challenge_parse(bad[i], &c) != -EINVAL)
                        fail_msg("accepted: %s", bad[i]);
        assert_int_equal(oci_auth_challenge_parse("Negotiate abc", &c), -EOPNOTSUPP);
        assert_int_equal(oci_auth_challenge_parse("Digest realm=\"x\"", &c), -EOPNOTSUPP);
        assert_int_equal(oci_auth_challenge_parse("Bearerrealm=\"a\"", &c), -EOPNOTSUPP);
}

static int creds(const char *json, const char *authority, OciCredentials *c, CcError *err) {
        return oci_credentials_from_docker_config(json, strlen(json), authority, c, err);
}

static void test_docker_config(void **state) {
        OciCredentials c = {};
        CcError err = CC_ERROR_INIT;

        /* "auth": base64("user:pa:ss") -- the password may contain ':'. */
        assert_int_equal(creds("{\"auths\":{\"reg:5000\":{\"auth\":\"dXNlcjpwYTpzcw==\"}}}", "reg:5000", &c, &err), 1);
        assert_string_equal(c.username, "user");
        assert_string_equal(c.password, "pa:ss");
        oci_credentials_done(&c);

        /* username/password, a key with a scheme and a path. */
        assert_int_equal(creds("{\"auths\":{\"other\":{\"auth\":\"eDp5\"},"
                               "\"https://reg:5000/v1/\":{\"username\":\"u\",\"password\":\"p\"}}}",
                               "reg:5000", &c, &err), 1);
        assert_string_equal(c.username, "u");
        assert_string_equal(c.password, "p");
        oci_credentials_done(&c);

        /* No entry: 0, nothing filled. */
        assert_int_equal(creds("{\"auths\":{\"reg:5001\":{\"auth\":\"eDp5\"}}}", "reg:5000", &c, &err), 0);
        assert_null(c.username);
        /* A prefix is not a match. */
        assert_int_equal(creds("{\"auths\":{\"reg:50000\":{\"auth\":\"eDp5\"}}}", "reg:5000", &c, &err), 0);
        assert_int_equal(creds("{\"auths\":{}}", "reg", &c, &err), 0);
}

static void check_bad_config(const char *json, const char *words) {
        OciCredentials c = {};
        CcError err = CC_ERROR_INIT;

        assert_true(creds(json, "reg", &c, &err) < 0);
        assert_int_equal(err.kind, CC_ERROR_INVALID_ARGUMENT);
        if (!strstr(err.message, words))
                fail_msg("%s: \"%s\" does not say \"%s\"", json, err.message, words);
        assert_null(c.username);
}

static void test_docker_config_bad(void **state) {
        check_bad_config("", "expected a JSON object");
        check_bad_config("{", "not valid JSON");
        check_bad_config("[]", "expected a JSON object");
        check_bad_config("{}", "no \"auths\"");
        check_bad_config("{\"auths\":[]}", "not an object");
        check_bad_config("{\"auths\":{\"reg\":1}}", "not an object");
        check_bad_config("{\"auths\":{\"reg\":{}}}", "neither");
        check_bad_config("{\"auths\":{\"reg\":{\"auth\":\"!!!\"}}}", "not base64");
        check_bad_config("{\"auths\":{\"reg\":{\"auth\":\"dXNlcg==\"}}}", "no ':'");
        check_bad_config("{\"auths\":{\"reg\":{\"auth\":5}}}", "not a string");
        check_bad_config("{\"auths\":{\"reg\":{\"username\":\"u\"}}}", "neither");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bearer),
                cmocka_unit_test(test_basic),
                cmocka_unit_test(test_bad),
                cmocka_unit_test(test_docker_config),
                cmocka_unit_test(test_docker_config_bad),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
