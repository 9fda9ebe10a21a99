/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>

#include "cc-names.h"
#include "oci-reference.h"

static bool is_lower_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_hex_lower(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool oci_digest_is_valid(const char *s) {
        if (!s || strncmp(s, "sha256:", 7) != 0)
                return false;
        s += 7;
        for (size_t i = 0; i < 64; i++)
                if (!is_hex_lower(s[i]))
                        return false;
        return s[64] == '\0';
}

static bool ipv6_literal_is_valid(const char *s, size_t n) {
        char buf[INET6_ADDRSTRLEN];
        struct in6_addr a;

        /* "[...]" */
        if (n < 3 || n - 2 >= sizeof(buf) || s[0] != '[' || s[n - 1] != ']')
                return false;
        memcpy(buf, s + 1, n - 2);
        buf[n - 2] = '\0';
        return inet_pton(AF_INET6, buf, &a) == 1;
}

/* A path component: [a-z0-9]+ joined by ".", "_", "__" or runs of "-". */
static bool repository_component_is_valid(const char *s, size_t n) {
        size_t i = 0;

        if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
                return false;
        while (i < n) {
                if (is_lower_alnum(s[i])) {
                        i++;
                        continue;
                }
                if (s[i] == '.') {
                        i++;
                } else if (s[i] == '_') {
                        i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
                } else if (s[i] == '-') {
                        while (i < n && s[i] == '-')
                                i++;
                } else
                        return false;
                if (i >= n || !is_lower_alnum(s[i]))
                        return false;
        }
        return true;
}

static bool repository_is_valid(const char *s, size_t n) {
        size_t start = 0;

        if (n == 0 || n > OCI_REPOSITORY_MAX)
                return false;
        for (size_t i = 0; i <= n; i++)
                if (i == n || s[i] == '/') {
                        if (!repository_component_is_valid(s + start, i - start))
                                return false;
                        start = i + 1;
                }
        return true;
}

static bool tag_is_valid(const char *s, size_t n) {
        if (n == 0 || n > OCI_TAG_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (isascii(c) && (isalnum(c) || c == '_'))
                        continue;
                if (i > 0 && (c == '.' || c == '-'))
                        continue;
                return false;
        }
        return true;
}

static int parse_port(const char *s, size_t n, unsigned *ret) {
        unsigned v = 0;

        if (n == 0 || n > 5 || s[0] == '0')
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned) (s[i] - '0');
        }
        if (v > 65535)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int invalid(CcError *err, const char *ref, const char *what) {
        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                            "invalid reference \"%.200s\": %s", ref, what);
}

int oci_reference_parse(const char *s, OciReference *ret, CcError *err) {
        _cleanup_free_ char *host = NULL, *authority = NULL, *repository = NULL, *tag = NULL, *digest = NULL;
        const char *slash, *colon, *at, *name, *name_end;
        size_t len, host_len;
        unsigned port = 0;

        assert(s);
        assert(ret);

        len = strnlen(s, OCI_REFERENCE_MAX + 1);
        if (len == 0)
                return invalid(err, s, "empty");
        if (len > OCI_REFERENCE_MAX)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "invalid reference: longer than %d characters", OCI_REFERENCE_MAX);
        for (size_t i = 0; i < len; i++)
                if (!isascii(s[i]) || !isgraph(s[i]))
                        return invalid(err, s, "contains a space or a character that is not printable ASCII");

        /* The authority: everything up to the first "/". */
        slash = strchr(s, '/');
        if (!slash)
                return invalid(err, s, "no registry host (expected HOST[:PORT]/REPOSITORY)");
        host_len = (size_t) (slash - s);
        if (host_len > 0 && s[0] == '[') {
                const char *close = memchr(s, ']', host_len);

                if (!close)
                        return invalid(err, s, "unterminated IPv6 address");
                colon = close + 1 < slash ? close + 1 : NULL;
                if (colon && *colon != ':')
                        return invalid(err, s, "unexpected characters after the IPv6 address");
                if (!ipv6_literal_is_valid(s, (size_t) (close + 1 - s)))
                        return invalid(err, s, "bad IPv6 address");
                host_len = (size_t) (close + 1 - s);
        } else {
                colon = memchr(s, ':', host_len);
                if (colon)
                        host_len = (size_t) (colon - s);
                if (!dns_name_valid(s, host_len, false))
                        return invalid(err, s, "bad registry host name");
        }
        if (colon && parse_port(colon + 1, (size_t) (slash - colon - 1), &port) < 0)
                return invalid(err, s, "bad port (expected 1-65535)");

        /* The name, then ":TAG" and "@DIGEST" (a ":" in the name part can
         * only start the tag: repository components have none). */
        name = slash + 1;
        at = strchr(name, '@');
        name_end = at ? at : s + len;
        colon = memchr(name, ':', (size_t) (name_end - name));
        if (!repository_is_valid(name, (size_t) ((colon ? colon : name_end) - name)))
                return invalid(err, s, "bad repository name (lowercase letters, digits and . _ __ - separators, components joined by /)");
        if (colon && !tag_is_valid(colon + 1, (size_t) (name_end - colon - 1)))
                return invalid(err, s, "bad tag (1-128 of letters, digits, _ . -, not starting with . or -)");
        if (at && !oci_digest_is_valid(at + 1))
                return invalid(err, s, "bad digest (expected sha256: and 64 lowercase hex digits)");

        host = strndup(s, host_len);
        authority = strndup(s, (size_t) (slash - s));
        repository = strndup(name, (size_t) ((colon ? colon : name_end) - name));
        if (colon)
                tag = strndup(colon + 1, (size_t) (name_end - colon - 1));
        else if (!at)
                tag = strdup("latest");
        if (at)
                digest = strdup(at + 1);
        if (!host || !authority || !repository || (!tag && !at) || (at && !digest))
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");

        *ret = (OciReference) {
                .host = TAKE_PTR(host),
                .port = port,
                .authority = TAKE_PTR(authority),
                .repository = TAKE_PTR(repository),
                .tag = TAKE_PTR(tag),
                .digest = TAKE_PTR(digest),
        };
        return 0;
}

void oci_reference_done(OciReference *r) {
        if (!r)
                return;
        free(r->host);
        free(r->authority);
        free(r->repository);
        free(r->tag);
        free(r->digest);
        *r = (OciReference) {};
}

bool oci_reference_is_loopback(const OciReference *r) {
        struct in_addr a4;

        assert(r);
        if (streq(r->host, "localhost") || streq(r->host, "[::1]"))
                return true;
        if (inet_pton(AF_INET, r->host, &a4) == 1)
                return (ntohl(a4.s_addr) >> 24) == 127;
        return false;
}
