/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "json-depth.h"
#include "oci-auth.h"

#define AUTH_PARAM_MAX 4096

static bool is_tchar(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *skip_ws(const char *p) {
        while (*p == ' ' || *p == '\t')
                p++;
        return p;
}

/* One auth-param, name=token or name="quoted string" (RFC 7235). */
static int parse_param(const char **p, char **ret_name, char **ret_value) {
        _cleanup_free_ char *name = NULL, *value = NULL;
        const char *s = *p, *start = s;
        size_t n = 0;

        while (is_tchar(*s))
                s++;
        if (s == start)
                return -EINVAL;
        name = strndup(start, (size_t) (s - start));
        if (!name)
                return -ENOMEM;
        s = skip_ws(s);
        if (*s != '=')
                return -EINVAL;
        s = skip_ws(s + 1);
        value = malloc(strlen(s) + 1);
        if (!value)
                return -ENOMEM;
        if (*s == '"') {
                for (s++;; s++) {
                        if (*s == '\0')
                                return -EINVAL;
                        if (*s == '"')
                                break;
                        if (*s == '\\') {
                                s++;
                                if (*s == '\0')
                                        return -EINVAL;
                        }
                        if ((unsigned char) *s < 0x20 && *s != '\t')
                                return -EINVAL;
                        value[n++] = *s;
                }
                s++;
        } else {
                while (is_tchar(*s) || *s == '/' || *s == ':')
                        value[n++] = *s++;
                if (n == 0)
                        return -EINVAL;
        }
        if (n > AUTH_PARAM_MAX)
                return -EINVAL;
        value[n] = '\0';
        *p = s;
        *ret_name = TAKE_PTR(name);
        *ret_value = TAKE_PTR(value);
        return 0;
}

int oci_auth_challenge_parse(const char *header, OciAuthChallenge *ret) {
        _cleanup_(oci_auth_challenge_done) OciAuthChallenge c = {};
        const char *p;
        size_t n;

        assert(header);
        assert(ret);

        p = skip_ws(header);
        for (n = 0; is_tchar(p[n]); n++)
                ;
        if (n == 5 && strncasecmp(p, "Basic", 5) == 0)
                c.scheme = OCI_AUTH_BASIC;
        else if (n == 6 && strncasecmp(p, "Bearer", 6) == 0)
                c.scheme = OCI_AUTH_BEARER;
        else if (n == 0)
                return -EINVAL;
        else
                return -EOPNOTSUPP;
        p += n;
        if (*p != '\0' && *p != ' ' && *p != '\t')
                return -EINVAL;
        p = skip_ws(p);

        while (*p != '\0') {
                _cleanup_free_ char *name = NULL, *value = NULL;
                char **slot = NULL;
                int r;

                r = parse_param(&p, &name, &value);
                if (r < 0)
                        return r;
                if (strcasecmp(name, "realm") == 0)
                        slot = &c.realm;
                else if (strcasecmp(name, "service") == 0)
                        slot = &c.service;
                else if (strcasecmp(name, "scope") == 0)
                        slot = &c.scope;
                if (slot) {
                        if (*slot)     /* the same parameter twice */
                                return -EINVAL;
                        *slot = TAKE_PTR(value);
                }
                p = skip_ws(p);
                if (*p == ',')
                        p = skip_ws(p + 1);
                else if (*p != '\0')
                        return -EINVAL;
        }
        if (c.scheme == OCI_AUTH_BEARER && (!c.realm || c.realm[0] == '\0'))
                return -EINVAL;

        *ret = c;
        c = (OciAuthChallenge) {};
        return 0;
}

void oci_auth_challenge_done(OciAuthChallenge *c) {
        if (!c)
                return;
        free(c->realm);
        free(c->service);
        free(c->scope);
        *c = (OciAuthChallenge) {};
}

void oci_credentials_done(OciCredentials *c) {
        if (!c)
                return;
        if (c->password)
                explicit_bzero(c->password, strlen(c->password));
        free(c->username);
        free(c->password);
        *c = (OciCredentials) {};
}

/* "https://host:5000/v1/" -> "host:5000": the authority part of a key. */
static bool key_matches(const char *key, const char *authority) {
        const char *p = key, *end;

        if (strncmp(p, "https://", 8) == 0)
                p += 8;
        else if (strncmp(p, "http://", 7) == 0)
                p += 7;
        end = strchr(p, '/');
        if (!end)
                end = p + strlen(p);
        return (size_t) (end - p) == strlen(authority) && strncmp(p, authority, (size_t) (end - p)) == 0;
}

static const char *member_string(JsonObject *o, const char *name, bool *bad) {
        JsonNode *n = json_object_get_member(o, name);

        if (!n || JSON_NODE_HOLDS_NULL(n))
                return NULL;
        if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
                *bad = true;
                return NULL;
        }
        return json_node_get_string(n);
}

static int credentials_from_entry(JsonObject *entry, const char *key, OciCredentials *ret, CcError *err) {
        _cleanup_free_ char *username = NULL, *password = NULL;
        const char *auth, *user, *pass;
        bool bad = false;

        auth = member_string(entry, "auth", &bad);
        user = member_string(entry, "username", &bad);
        pass = member_string(entry, "password", &bad);
        if (bad)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "pull secret: auths.\"%.100s\" has a value that is not a string", key);
        if (auth && auth[0] != '\0') {
                g_autofree guchar *decoded = NULL;
                gsize n = 0;
                char *sep;

                /* g_base64_decode accepts garbage silently: check the alphabet first. */
                for (const char *c = auth; *c; c++)
                        if (!(g_ascii_isalnum(*c) || *c == '+' || *c == '/' || *c == '='))
                                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                                    "pull secret: auths.\"%.100s\".auth is not base64", key);
                decoded = g_base64_decode(auth, &n);
                if (!decoded || n == 0 || memchr(decoded, '\0', n))
                        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                            "pull secret: auths.\"%.100s\".auth is not base64 of user:password", key);
                sep = memchr(decoded, ':', n);
                if (!sep)
                        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                            "pull secret: auths.\"%.100s\".auth has no ':' between user and password", key);
                username = strndup((char *) decoded, (size_t) (sep - (char *) decoded));
                password = strndup(sep + 1, n - (size_t) (sep + 1 - (char *) decoded));
                explicit_bzero(decoded, n);
        } else if (user && pass) {
                username = strdup(user);
                password = strdup(pass);
        } else
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "pull secret: auths.\"%.100s\" has neither \"auth\" nor \"username\" and \"password\"", key);
        if (!username || !password)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        *ret = (OciCredentials) { .username = TAKE_PTR(username), .password = TAKE_PTR(password) };
        return 1;
}

int oci_credentials_from_docker_config(const char *json, size_t size, const char *authority,
                                       OciCredentials *ret, CcError *err) {
        g_autoptr(JsonParser) parser = NULL;
        g_autoptr(GError) error = NULL;
        JsonNode *root, *auths;
        JsonObject *auths_o;
        g_autoptr(GList) members = NULL;

        assert(json);
        assert(authority);
        assert(ret);

        if (size > (size_t) G_MAXSSIZE)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL, "pull secret: too large");
        /* A docker config nests 3 deep; json-glib recurses without a limit. */
        if (!json_depth_within(json, size, 32))
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL, "pull secret: nested more than 32 deep");
        parser = json_parser_new_immutable();
        if (!json_parser_load_from_data(parser, json, (gssize) size, &error))
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "pull secret: not valid JSON: %s", error->message);
        root = json_parser_get_root(parser);
        if (!root || !JSON_NODE_HOLDS_OBJECT(root))
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "pull secret: not a docker config (expected a JSON object)");
        auths = json_object_get_member(json_node_get_object(root), "auths");
        if (!auths)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "pull secret: not a docker config (no \"auths\" object)");
        if (!JSON_NODE_HOLDS_OBJECT(auths))
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "pull secret: \"auths\" is not an object");
        auths_o = json_node_get_object(auths);

        /* An exact key first, then one with a scheme or a path. */
        if (json_object_has_member(auths_o, authority)) {
                JsonNode *n = json_object_get_member(auths_o, authority);

                if (!JSON_NODE_HOLDS_OBJECT(n))
                        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                            "pull secret: auths.\"%.100s\" is not an object", authority);
                return credentials_from_entry(json_node_get_object(n), authority, ret, err);
        }
        members = json_object_get_members(auths_o);
        for (GList *l = members; l; l = l->next) {
                const char *key = l->data;
                JsonNode *n;

                if (!key_matches(key, authority))
                        continue;
                n = json_object_get_member(auths_o, key);
                if (!JSON_NODE_HOLDS_OBJECT(n))
                        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                            "pull secret: auths.\"%.100s\" is not an object", key);
                return credentials_from_entry(json_node_get_object(n), key, ret, err);
        }
        return 0;
}
