/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdint.h>

#include "cc-names.h"
#include "containerd-config.h"
#include "containerd-internal.h"
#include "toml-lex.h"

/* Version 3 (containerd 2.x): the runtime goes into a drop-in file of its
 * own, which containerd 2.x merges deeply into the configuration, and the
 * main file's top-level `imports` names it. */

#define IMPORTS_MARKER "  # managed by nvidia-ccd"

int containerd_v3_dropin(const char *runtime_class, const char *kata_config_path, char **ret) {
        _cleanup_free_ char *quoted = NULL;
        const char *t = "plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.";
        char *s;

        assert(runtime_class);
        assert(kata_config_path);
        assert(ret);

        if (!cc_runtime_class_valid(runtime_class) || !kata_config_path[0])
                return -EINVAL;
        quoted = toml_quote(kata_config_path);
        if (!quoted)
                return -errno;
        if (asprintf(&s,
                     "# Kata runtime class %s, registered by nvidia-ccd.\n"
                     "version = 3\n"
                     "\n"
                     "[%s%s]\n"
                     "  runtime_type = \"io.containerd.kata.v2\"\n"
                     "  privileged_without_host_devices = true\n"
                     "  pod_annotations = [\"io.katacontainers.*\"]\n"
                     "\n"
                     "[%s%s.options]\n"
                     "  ConfigPath = %s\n",
                     runtime_class, t, runtime_class, t, runtime_class, quoted) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* The root `imports` and its string elements; refuses a dotted imports.x. */
static int find_imports(const TomlDoc *doc, const TomlItem **ret_item, TomlArrayElement **ret_elements,
                        size_t *ret_n, CcError *err) {
        const TomlItem *imports = NULL;
        bool in_root = true;

        for (size_t i = 0; i < doc->n_items; i++) {
                const TomlItem *item = &doc->items[i];

                if (containerd_item_is_header(item)) {
                        /* [imports] or [imports.x]: a root array could not
                         * be added beside it. */
                        if (streq(item->key[0], "imports"))
                                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                                    "line %u: imports is a table, not a list of files", item->line);
                        in_root = false;
                        continue;
                }
                if (!in_root || item->kind != TOML_ITEM_KEYVAL || !streq(item->key[0], "imports"))
                        continue;
                if (item->n_key != 1)
                        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                            "line %u: imports is a table, not a list of files", item->line);
                imports = item;
        }
        *ret_item = imports;
        *ret_elements = NULL;
        *ret_n = 0;
        if (!imports)
                return 0;
        return toml_item_string_array(doc, imports, ret_elements, ret_n, err);
}

/* Whether element e is the only thing on its line(s) of a multi-line array,
                                                   * but for a comma and a comment after it; gives the line's range. */
static bool element_alone(const TomlDoc *doc, const TomlArrayElement *e, bool *ret_comma,
                          size_t *ret_start, size_t *ret_end) {
        const char *s = doc->text;
        size_t a = e->start, z = e->end;
        bool comma = false;

        while (a > 0 && (s[a - 1] == ' ' || s[a - 1] == '\t'))
                a--;
        if (a > 0 && s[a - 1] != '\n')
                return false;
        while (z < doc->len && (s[z] == ' ' || s[z] == '\t'))
                z++;
        if (z < doc->len && s[z] == ',') {
                comma = true;
                z++;
                while (z < doc->len && (s[z] == ' ' || s[z] == '\t'))
                        z++;
        }
        if (z < doc->len && s[z] == '#')
                while (z < doc->len && s[z] != '\r' && s[z] != '\n')
                        z++;
        if (z >= doc->len)
                return false;
        if (s[z] == '\r')
                z++;
        if (s[z] != '\n')
                return false;
        *ret_comma = comma;
        *ret_start = a;
        *ret_end = z + 1;
        return true;
}

/* The offset of the comma that follows an array element ending at pos,
 * past the blanks, newlines and comments TOML allows before it; SIZE_MAX
 * when the array closes first. */
static size_t comma_after(const char *s, size_t len, size_t pos) {
        while (pos < len) {
                if (s[pos] == ',')
                        return pos;
                if (s[pos] == '#')
                        while (pos < len && s[pos] != '\n')
                                pos++;
                else if (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\r' || s[pos] == '\n')
                        pos++;
                else
                        break;
        }
        return SIZE_MAX;
}

int containerd_v3_check_runtime(const char *text, size_t len, const char *runtime_class, CcError *err) {
        _cleanup_toml_doc_ TomlDoc doc = {};
        int r;

        assert(text || len == 0);
        assert(runtime_class);

        r = containerd_check_runtime_class(runtime_class, err);
        if (r < 0)
                return r;
        r = containerd_doc_parse(&doc, text, len, 3, err);
        if (r < 0)
                return r;
        return containerd_check_conflicts(&doc, containerd_v3_runtimes, runtime_class, NULL, err);
}

int containerd_v3_add_import(const char *text, size_t len, const char *dropin_path,
                             char **ret, size_t *ret_len, CcError *err) {
        _cleanup_toml_doc_ TomlDoc doc = {};
        _cleanup_free_ char *quoted = NULL, *ins = NULL;
        TomlArrayElement *elements = NULL;
        const TomlItem *imports;
        size_t n = 0, pos;
        const char *nl;
        int r;

        assert(text || len == 0);
        assert(dropin_path);
        assert(ret);
        assert(ret_len);

        r = containerd_quote_path(dropin_path, "drop-in path", &quoted, err);
        if (r < 0)
                return r;

        r = containerd_doc_parse(&doc, text, len, 3, err);
        if (r < 0)
                return r;
        r = find_imports(&doc, &imports, &elements, &n, err);
        if (r < 0)
                return r;
        nl = doc.crlf ? "\r\n" : "\n";

        for (size_t i = 0; i < n; i++)
                if (streq(elements[i].string, dropin_path)) {
                        toml_array_elements_free(elements, n);
                        return containerd_copy_text(text, len, ret, ret_len, err);
                }

        if (!imports) {
                /* A line of its own after `version`, marked so that removing
                 * the last import removes the line. */
                const TomlItem *version = toml_doc_root_key(&doc, "version");
                _cleanup_free_ char *line = NULL;

                assert(version);
                pos = version->line_end;
                if (asprintf(&line, "imports = [%s]" IMPORTS_MARKER "%s", quoted, nl) < 0)
                        r = -ENOMEM;
                else {
                        ins = containerd_lines_at(text, len, pos, line, nl);
                        r = ins ? 0 : -ENOMEM;
                }
        } else if (n == 0) {
                pos = imports->value_start + 1;
                ins = strdup(quoted);
                r = ins ? 0 : -ENOMEM;
        } else {
                const TomlArrayElement *last = &elements[n - 1];
                size_t a, z;
                bool comma;

                if (element_alone(&doc, last, &comma, &a, &z) && comma) {
                        /* One element a line: one more line, indented alike. */
                        pos = z;
                        r = asprintf(&ins, "%.*s%s,%s", (int) (last->start - a), text + a, quoted, nl) < 0 ?
                                -ENOMEM : 0;
                } else {
                        pos = last->end;
                        r = asprintf(&ins, ", %s", quoted) < 0 ? -ENOMEM : 0;
                }
        }
        toml_array_elements_free(elements, n);
        if (r < 0)
                return containerd_oom(err);

        return containerd_splice_checked(text, len, pos, pos, ins, ret, ret_len, err);
}

/* Whether the value of imports is the one-element array that
 * containerd_v3_add_import writes on a line of its own: an administrator's
 * array that merely ends in the marker (spanning lines, say) is edited as
 * any other. */
static bool value_is_added_array(const char *text, const TomlItem *imports, const char *dropin_path) {
        _cleanup_free_ char *quoted = toml_quote(dropin_path), *want = NULL;
        size_t k = imports->value_end - imports->value_start;

        if (!quoted || asprintf(&want, "[%s]", quoted) < 0)
                return false;
        return strlen(want) == k && memcmp(text + imports->value_start, want, k) == 0;
}

/* Removes the first element equal to dropin_path; *ret_changed = false (and
 * no *ret) when there is none. */
static int remove_import_once(const char *text, size_t len, const char *dropin_path,
                              char **ret, size_t *ret_len, bool *ret_changed, CcError *err) {
        _cleanup_toml_doc_ TomlDoc doc = {};
        TomlArrayElement *elements = NULL;
        const TomlItem *imports;
        size_t n = 0, j, a, z, del_start, del_end, comma_at = SIZE_MAX;
        bool comma;
        int r;

        r = toml_doc_parse(&doc, text, len, err);
        if (r < 0)
                return r;
        r = find_imports(&doc, &imports, &elements, &n, err);
        if (r < 0)
                return r;
        for (j = 0; j < n; j++)
                if (streq(elements[j].string, dropin_path))
                        break;
        if (j == n) {
                toml_array_elements_free(elements, n);
                *ret_changed = false;
                return 0;
        }

        size_t tail = imports->line_end - imports->value_end, m = strlen(IMPORTS_MARKER);
        while (tail > 0 && (text[imports->value_end + tail - 1] == '\n' || text[imports->value_end + tail - 1] == '\r'))
                tail--;
        if (n == 1 && imports->line_start == imports->start && tail == m &&
            memcmp(text + imports->value_end, IMPORTS_MARKER, m) == 0 &&
            value_is_added_array(text, imports, dropin_path)) {
                /* The line this code added. */
                del_start = imports->line_start;
                del_end = imports->line_end;
                containerd_removal_range(text, len, &del_start, &del_end);
        } else if (element_alone(&doc, &elements[j], &comma, &a, &z)) {
                del_start = a;
                del_end = z;
        } else if (j > 0) {
                del_start = elements[j - 1].end;
                del_end = elements[j].end;
        } else if (n > 1) {
                del_start = elements[0].start;
                del_end = elements[1].start;
        } else {
                /* The only element: its trailing comma goes too, else
                 * `["x",\n]` would become `[,\n]`. */
                del_start = elements[0].start;
                del_end = elements[0].end;
                comma_at = comma_after(text, len, del_end);
        }
        toml_array_elements_free(elements, n);

        if (comma_at != SIZE_MAX) {
                /* Two cuts, the later one first, so that a comment between
                 * the element and its comma stays. */
                _cleanup_free_ char *without_comma = NULL;
                size_t without_comma_len;

                r = containerd_splice(text, len, comma_at, comma_at + 1, NULL, &without_comma, &without_comma_len, err);
                if (r < 0)
                        return r;
                r = containerd_splice_checked(without_comma, without_comma_len, del_start, del_end, NULL, ret, ret_len,
                                              err);
        } else
                r = containerd_splice_checked(text, len, del_start, del_end, NULL, ret, ret_len, err);
        if (r < 0)
                return r;
        *ret_changed = true;
        return 0;
}

int containerd_v3_remove_import(const char *text, size_t len, const char *dropin_path,
                                char **ret, size_t *ret_len, CcError *err) {
        _cleanup_free_ char *cur = NULL;
        size_t cur_len = 0;
        int r;

        assert(text || len == 0);
        assert(dropin_path);
        assert(ret);
        assert(ret_len);

        r = containerd_copy_text(text, len, &cur, &cur_len, err);
        if (r < 0)
                return r;
        for (;;) {
                char *next = NULL;
                size_t next_len = 0;
                bool changed;

                r = remove_import_once(cur, cur_len, dropin_path, &next, &next_len, &changed, err);
                if (r < 0)
                        return r;
                if (!changed)
                        break;
                free(cur);
                cur = next;
                cur_len = next_len;
        }
        *ret = TAKE_PTR(cur);
        *ret_len = cur_len;
        return 0;
}
