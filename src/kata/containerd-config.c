/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <limits.h>

#include "cc-names.h"
#include "containerd-config.h"
#include "containerd-internal.h"
#include "toml-lex.h"

/* Every edit can be undone to the byte: what is added (a block, a created
 * `imports` line marked with a trailing comment) is removed whole; appended
 * to a file without a final newline, it takes the newline before it and
 * leaves none after it, so removing it restores the file's ending.  Added
 * lines use the file's line ending (CRLF when its first line ends so).
 * Version 2's edits are in containerd-v2.c, version 3's in containerd-v3.c. */

const char *const containerd_v2_runtimes[CONTAINERD_RUNTIMES_PATH_LEN] = {
        "plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes"
};
const char *const containerd_v3_runtimes[CONTAINERD_RUNTIMES_PATH_LEN] = {
        "plugins", "io.containerd.cri.v1.runtime", "containerd", "runtimes"
};

int containerd_oom(CcError *err) {
        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
}

/* A Kubernetes RuntimeClass handler (a DNS-1123 label) is also a bare TOML
 * key, so it goes into the file unquoted.  "runc" is containerd's default
 * runtime, not to be replaced: in version 2 by a block, in version 3 by a
 * drop-in merged over it. */
int containerd_check_runtime_class(const char *name, CcError *err) {
        if (!cc_runtime_class_valid(name))
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "runtime class name '%.64s' is not a DNS-1123 label", name);
        if (streq(name, "runc"))
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "runtime class name 'runc' is containerd's own runtime");
        return 0;
}

int containerd_quote_path(const char *path, const char *what, char **ret, CcError *err) {
        char *quoted;

        if (!path[0])
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL, "empty %s", what);
        quoted = toml_quote(path);
        if (!quoted)
                return errno == EINVAL ?
                        cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL, "%s is not valid UTF-8", what) :
                        containerd_oom(err);
        *ret = quoted;
        return 0;
}

int containerd_splice(const char *text, size_t len, size_t del_start, size_t del_end, const char *ins,
                      char **ret, size_t *ret_len, CcError *err) {
        size_t k = ins ? strlen(ins) : 0, n;
        char *out;

        assert(del_start <= del_end && del_end <= len);
        n = len - (del_end - del_start) + k;
        out = malloc(n + 1);
        if (!out)
                return containerd_oom(err);
        if (del_start > 0)
                memcpy(out, text, del_start);
        if (k > 0)
                memcpy(out + del_start, ins, k);
        if (len > del_end)
                memcpy(out + del_start + k, text + del_end, len - del_end);
        out[n] = '\0';
        *ret = out;
        *ret_len = n;
        return 0;
}

/* The edited text must parse: a last guard against writing a file that
 * containerd refuses to start with. */
static int check_result(const char *text, size_t len, CcError *err) {
        _cleanup_toml_doc_ TomlDoc doc = {};
        CcError e = CC_ERROR_INIT;

        if (toml_doc_parse(&doc, text, len, &e) < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, EINVAL, "the edited configuration does not parse: %s",
                                    e.message);
        return 0;
}

int containerd_splice_checked(const char *text, size_t len, size_t del_start, size_t del_end, const char *ins,
                              char **ret, size_t *ret_len, CcError *err) {
        _cleanup_free_ char *out = NULL;
        size_t out_len;
        int r;

        r = containerd_splice(text, len, del_start, del_end, ins, &out, &out_len, err);
        if (r < 0)
                return r;
        r = check_result(out, out_len, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(out);
        *ret_len = out_len;
        return 0;
}

int containerd_copy_text(const char *text, size_t len, char **ret, size_t *ret_len, CcError *err) {
        return containerd_splice(text, len, 0, 0, NULL, ret, ret_len, err);
}

static bool ends_without_newline(const char *text, size_t len) {
        return len > 0 && text[len - 1] != '\n';
}

void containerd_removal_range(const char *text, size_t len, size_t *start, size_t *end) {
        if (*end == len && ends_without_newline(text, len) && *start > 0 && text[*start - 1] == '\n') {
                (*start)--;
                if (*start > 0 && text[*start - 1] == '\r')
                        (*start)--;
        }
}

char *containerd_lines_at(const char *text, size_t len, size_t pos, const char *lines, const char *nl) {
        size_t k = strlen(lines), m = strlen(nl);
        char *s;

        if (pos != len || !ends_without_newline(text, len))
                return strdup(lines);
        assert(k >= m);
        s = malloc(k + 1);
        if (!s)
                return NULL;
        memcpy(s, nl, m);
        memcpy(s + m, lines, k - m);
        s[k] = '\0';
        return s;
}

bool containerd_comment_is(const TomlDoc *doc, const TomlItem *item, const char *prefix, const char *name) {
        size_t p = strlen(prefix), n = strlen(name);

        return item->kind == TOML_ITEM_COMMENT && item->end - item->start == p + n &&
                memcmp(doc->text + item->start, prefix, p) == 0 &&
                memcmp(doc->text + item->start + p, name, n) == 0;
}

bool containerd_item_is_header(const TomlItem *item) {
        return item->kind == TOML_ITEM_TABLE || item->kind == TOML_ITEM_ARRAY_TABLE;
}

/* ------------------------------------------------------------ version */

static int parse_version(const TomlDoc *doc, int *ret, CcError *err) {
        const TomlItem *item = toml_doc_root_key(doc, "version");
        const char *s, *e;
        long v = 0;

        if (!item) {
                *ret = 1;
                return 0;
        }
        s = doc->text + item->value_start;
        e = doc->text + item->value_end;
        if (s < e && *s == '+')
                s++;
        if (item->value_kind != TOML_VALUE_OTHER || s == e || (*s == '0' && e - s > 1))
                goto invalid;
        for (const char *p = s; p < e; p++) {
                if (*p == '_' && p > s && p + 1 < e && p[-1] != '_' && p[1] >= '0' && p[1] <= '9')
                        continue;
                if (*p < '0' || *p > '9')
                        goto invalid;
                v = v * 10 + (*p - '0');
                if (v > INT_MAX)
                        goto invalid;
        }
        *ret = (int) v;
        return 0;
invalid:
        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                            "line %u: version is not a version number", item->line);
}

int containerd_config_version(const char *text, size_t len, int *ret_version, CcError *err) {
        _cleanup_toml_doc_ TomlDoc doc = {};
        int r;

        assert(text || len == 0);
        assert(ret_version);

        r = toml_doc_parse(&doc, text, len, err);
        if (r < 0)
                return r;
        return parse_version(&doc, ret_version, err);
}

static int check_version(const TomlDoc *doc, int want, CcError *err) {
        const TomlItem *item = toml_doc_root_key(doc, "version");
        int version, r;

        r = parse_version(doc, &version, err);
        if (r < 0)
                return r;
        if (version == want)
                return 0;
        if (version == 1)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "configuration version 1 (no version key) is not supported; "
                                    "convert it with 'containerd config migrate'");
        if (want == 2 && version == 3)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "line %u: version 3 (containerd 2.x) takes a drop-in, not a block",
                                    item->line);
        if (want == 3 && version == 2)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "line %u: version 2 (containerd 1.x) takes no drop-in: an imported file "
                                    "would replace the whole CRI section", item->line);
        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL, "line %u: unsupported version %d",
                            item->line, version);
}

int containerd_doc_parse(TomlDoc *doc, const char *text, size_t len, int version, CcError *err) {
        int r;

        r = toml_doc_parse(doc, text, len, err);
        if (r < 0)
                return r;
        return check_version(doc, version, err);
}

int containerd_check_conflicts(const TomlDoc *doc, const char *const runtimes[static CONTAINERD_RUNTIMES_PATH_LEN],
                               const char *name, const ContainerdBlock *b, CcError *err) {
        size_t n_path = CONTAINERD_RUNTIMES_PATH_LEN + 1;
        const char *path[CONTAINERD_RUNTIMES_PATH_LEN + 1];
        const ContainerdBlock none = {};

        if (!b)
                b = &none;
        memcpy(path, runtimes, CONTAINERD_RUNTIMES_PATH_LEN * sizeof(char *));
        path[n_path - 1] = name;

        for (size_t i = 0; i < doc->n_items; i++) {
                const TomlItem *item = &doc->items[i];
                size_t n;

                if (item->kind == TOML_ITEM_COMMENT || containerd_item_in_block(b, i))
                        continue;
                n = toml_item_path_len(doc, item);
                if (n >= n_path) {
                        if (toml_item_path_has_prefix(doc, item, path, n_path))
                                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                                    "line %u: runtime %s is already defined %s", item->line, name,
                                                    b == &none ? "here; a drop-in would be merged into it" :
                                                    "outside nvidia-ccd's managed block");
                        continue;
                }
                if (!toml_item_path_has_prefix(doc, item, path, n))
                        continue;
                if (item->kind == TOML_ITEM_KEYVAL) {
                        _cleanup_free_ char *p = toml_item_path_string(doc, item);

                        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                            "line %u: %s is set as a value; runtime %s cannot be added "
                                            "under it", item->line, strempty(p), name);
                }
                if (item->kind == TOML_ITEM_ARRAY_TABLE) {
                        _cleanup_free_ char *p = toml_item_path_string(doc, item);

                        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                            "line %u: [[%s]] is an array of tables; runtime %s cannot be "
                                            "added under it", item->line, strempty(p), name);
                }
        }
        return 0;
}
