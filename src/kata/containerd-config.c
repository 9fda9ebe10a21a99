/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <limits.h>
#include <stdint.h>

#include "cc-names.h"
#include "containerd-config.h"
#include "toml-lex.h"

/* Where the text goes, and why there:
 *
 * - Version 2: the managed block holds two explicit table headers for the
 *   runtime and its options, never a parent table, so it cannot define a
 *   table the file already has ([...containerd.runtimes] and its parents
 *   stay where they are, explicit or implicit).  It goes right after the
 *   last table of the runtimes (else of the CRI section's containerd table,
 *   the CRI section, plugins; else at the end), at a point where the next
 *   statement is a header or the end: key/value pairs after it would
 *   otherwise fall into the block's last table.  Never inside another
 *   runtime's managed block.
 * - Version 3: the drop-in is a file of its own; containerd 2.x merges
 *   imported files deeply.  Version 2 files get no `imports`: containerd 1.x
 *   replaces a plugin's whole section with the imported one, which would
 *   wipe runc, CNI and the rest of the CRI configuration.
 *
 * - containerd 1.x has a built-in runc runtime that any runtime table in
 *   the file replaces (even an empty [...containerd.runtimes]).  When the
 *   file defines none, a managed block for runc with containerd's defaults
 *   goes in front of the first Kata block, and goes again with the last one
 *   while the file still defines no runtime of its own.
 *
 * Every edit can be undone to the byte: the block (or a created `imports`
 * line, marked with a trailing comment) is removed whole; appended to a file
 * without a final newline, it takes the newline before it and leaves none
 * after it, so removing it restores the file's ending.  Added lines use the
 * file's line ending (CRLF when its first line ends so). */

#define MARKER_BEGIN "# BEGIN nvidia-ccd runtime "
#define MARKER_END "# END nvidia-ccd runtime "
#define IMPORTS_MARKER "  # managed by nvidia-ccd"

static const char *const v2_runtimes[] = { "plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes" };
static const char *const v3_runtimes[] = { "plugins", "io.containerd.cri.v1.runtime", "containerd", "runtimes" };
#define RUNTIMES_PATH_LEN 4

static int oom(CcError *err) {
        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
}

/* A Kubernetes RuntimeClass handler (a DNS-1123 label) is also a bare TOML
 * key, so it goes into the file unquoted.  "runc" is containerd's default
 * runtime, not to be replaced: in version 2 by a block, in version 3 by a
 * drop-in merged over it. */
static int check_runtime_class(const char *name, CcError *err) {
        if (!cc_runtime_class_valid(name))
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "runtime class name '%.64s' is not a DNS-1123 label", name);
        if (streq(name, "runc"))
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "runtime class name 'runc' is containerd's own runtime");
        return 0;
}

/* text with [del_start, del_end) replaced by ins. */
static int splice(const char *text, size_t len, size_t del_start, size_t del_end, const char *ins,
                  char **ret, size_t *ret_len, CcError *err) {
        size_t k = ins ? strlen(ins) : 0, n;
        char *out;

        assert(del_start <= del_end && del_end <= len);
        n = len - (del_end - del_start) + k;
        out = malloc(n + 1);
        if (!out)
                return oom(err);
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

static int copy_text(const char *text, size_t len, char **ret, size_t *ret_len, CcError *err) {
        return splice(text, len, 0, 0, NULL, ret, ret_len, err);
}

static bool ends_without_newline(const char *text, size_t len) {
        return len > 0 && text[len - 1] != '\n';
}

/* The range of whole lines [start, end) to remove; a last line without a
 * newline takes the newline before it, undoing an append to such a file. */
static void removal_range(const char *text, size_t len, size_t *start, size_t *end) {
        if (*end == len && ends_without_newline(text, len) && *start > 0 && text[*start - 1] == '\n') {
                (*start)--;
                if (*start > 0 && text[*start - 1] == '\r')
                        (*start)--;
        }
}

/* lines (each ending in nl) inserted at pos: at the end of a file without
 * a final newline, the newline moves in front. */
static char *lines_at(const char *text, size_t len, size_t pos, const char *lines, const char *nl) {
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

static bool comment_is(const TomlDoc *doc, const TomlItem *item, const char *prefix, const char *name) {
        size_t p = strlen(prefix), n = strlen(name);

        return item->kind == TOML_ITEM_COMMENT && item->end - item->start == p + n &&
                memcmp(doc->text + item->start, prefix, p) == 0 &&
                memcmp(doc->text + item->start + p, name, n) == 0;
}

static bool item_is_header(const TomlItem *item) {
        return item->kind == TOML_ITEM_TABLE || item->kind == TOML_ITEM_ARRAY_TABLE;
}

static char *item_path(const TomlDoc *doc, const TomlItem *item) {
        size_t n = toml_item_path_len(doc, item);
        _cleanup_free_ const char **parts = calloc(n ? n : 1, sizeof(char *));

        if (!parts)
                return NULL;
        for (size_t i = 0; i < n; i++)
                parts[i] = toml_item_path_part(doc, item, i);
        return toml_path_to_string(parts, n);
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

/* ------------------------------------------------------------ version 2 */

typedef struct Block {
        bool found;
        size_t begin, end;      /* the marker items */
        size_t start, stop;     /* the bytes it takes, markers included */
} Block;

static bool item_in_block(const Block *b, size_t i) {
        return b->found && i >= b->begin && i <= b->end;
}

static bool is_marker(const TomlDoc *doc, const TomlItem *item, const char *prefix) {
        size_t p = strlen(prefix);

        return item->kind == TOML_ITEM_COMMENT && item->end - item->start > p &&
                memcmp(doc->text + item->start, prefix, p) == 0;
}

/* If item i opens a managed block (any runtime's) that is closed, the
 * index of its end marker. */
static bool block_at(const TomlDoc *doc, size_t i, size_t *ret_end) {
        const TomlItem *begin = &doc->items[i];
        size_t p = strlen(MARKER_BEGIN), q = strlen(MARKER_END), n;
        const char *name;

        if (!is_marker(doc, begin, MARKER_BEGIN))
                return false;
        name = doc->text + begin->start + p;
        n = begin->end - begin->start - p;
        for (size_t j = i + 1; j < doc->n_items; j++) {
                const TomlItem *item = &doc->items[j];

                if (is_marker(doc, item, MARKER_END) && item->end - item->start - q == n &&
                    memcmp(doc->text + item->start + q, name, n) == 0) {
                        *ret_end = j;
                        return true;
                }
        }
        return false;
}

/* Whether the file, outside the managed blocks, defines the runtimes table
 * or anything in it; if not, containerd's built-in runc is in effect.  With
 * kata_blocks, whether a managed block other than runc's is there. */
static bool file_defines(const TomlDoc *doc, bool kata_blocks) {
        for (size_t i = 0; i < doc->n_items; i++) {
                const TomlItem *item = &doc->items[i];
                size_t end;

                if (block_at(doc, i, &end)) {
                        if (kata_blocks && !comment_is(doc, item, MARKER_BEGIN, "runc"))
                                return true;
                        i = end;
                        continue;
                }
                if (!kata_blocks && item->kind != TOML_ITEM_COMMENT &&
                    toml_item_path_has_prefix(doc, item, v2_runtimes, ELEMENTSOF(v2_runtimes)))
                        return true;
        }
        return false;
}

static bool file_defines_runtimes(const TomlDoc *doc) {
        return file_defines(doc, false);
}

static bool has_kata_blocks(const TomlDoc *doc) {
        return file_defines(doc, true);
}

/* The managed block of name, checked: one pair of markers, holding only the
 * runtime's tables, followed by a header or the end (key/value pairs after
 * it would change table when it goes). */
static int find_block(const TomlDoc *doc, const char *name, Block *ret, CcError *err) {
        size_t n_path = ELEMENTSOF(v2_runtimes) + 1;
        const char *path[ELEMENTSOF(v2_runtimes) + 1];
        bool begun = false;
        Block b = {};

        memcpy(path, v2_runtimes, sizeof(v2_runtimes));
        path[n_path - 1] = name;

        for (size_t i = 0; i < doc->n_items; i++) {
                const TomlItem *item = &doc->items[i];

                if (comment_is(doc, item, MARKER_BEGIN, name)) {
                        if (begun || b.found)
                                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                                    "line %u: a second managed block for runtime %s (line %u)",
                                                    item->line, name, doc->items[b.begin].line);
                        begun = true;
                        b.begin = i;
                } else if (comment_is(doc, item, MARKER_END, name)) {
                        if (!begun)
                                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                                    "line %u: end of the managed block for runtime %s without "
                                                    "its beginning", item->line, name);
                        begun = false;
                        b.found = true;
                        b.end = i;
                } else if (begun && item->kind != TOML_ITEM_COMMENT &&
                           (item->kind == TOML_ITEM_ARRAY_TABLE ||
                            !toml_item_path_has_prefix(doc, item, path, n_path))) {
                        _cleanup_free_ char *p = item_path(doc, item);

                        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                            "line %u: the managed block for runtime %s holds %s, which is not "
                                            "its own", item->line, name, strempty(p));
                }
        }
        if (begun)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "line %u: the managed block for runtime %s has no end",
                                    doc->items[b.begin].line, name);
        if (b.found) {
                for (size_t i = b.end + 1; i < doc->n_items; i++) {
                        const TomlItem *item = &doc->items[i];

                        if (item->kind == TOML_ITEM_COMMENT)
                                continue;
                        if (item->kind == TOML_ITEM_KEYVAL)
                                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                                    "line %u: key after the managed block for runtime %s "
                                                    "belongs to its table", item->line, name);
                        break;
                }
                b.start = doc->items[b.begin].line_start;
                b.stop = doc->items[b.end].line_end;
                removal_range(doc->text, doc->len, &b.start, &b.stop);
        }
        *ret = b;
        return 0;
}

/* A runtime table for name outside the managed block (b; NULL: none), or a
 * value where its tables would go, makes ours a second definition: in
 * version 2 a duplicate table, in version 3 a merge into the file's own. */
static int check_conflicts(const TomlDoc *doc, const char *const runtimes[static RUNTIMES_PATH_LEN],
                           const char *name, const Block *b, CcError *err) {
        size_t n_path = RUNTIMES_PATH_LEN + 1;
        const char *path[RUNTIMES_PATH_LEN + 1];
        const Block none = {};

        if (!b)
                b = &none;
        memcpy(path, runtimes, RUNTIMES_PATH_LEN * sizeof(char *));
        path[n_path - 1] = name;

        for (size_t i = 0; i < doc->n_items; i++) {
                const TomlItem *item = &doc->items[i];
                size_t n;

                if (item->kind == TOML_ITEM_COMMENT || item_in_block(b, i))
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
                        _cleanup_free_ char *p = item_path(doc, item);

                        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                            "line %u: %s is set as a value; runtime %s cannot be added "
                                            "under it", item->line, strempty(p), name);
                }
                if (item->kind == TOML_ITEM_ARRAY_TABLE) {
                        _cleanup_free_ char *p = item_path(doc, item);

                        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                            "line %u: [[%s]] is an array of tables; runtime %s cannot be "
                                            "added under it", item->line, strempty(p), name);
                }
        }
        return 0;
}

/* Where a new block goes (see the top of the file). */
static size_t insertion_point(const TomlDoc *doc) {
        size_t pos = doc->len;

        for (size_t depth = ELEMENTSOF(v2_runtimes); depth > 0; depth--) {
                size_t last_header = TOML_NO_TABLE;

                for (size_t i = 0; i < doc->n_items; i++)
                        if (item_is_header(&doc->items[i]) &&
                            toml_item_path_has_prefix(doc, &doc->items[i], v2_runtimes, depth))
                                last_header = i;
                if (last_header == TOML_NO_TABLE)
                        continue;

                size_t last = last_header;
                for (size_t i = last_header + 1; i < doc->n_items && !item_is_header(&doc->items[i]); i++)
                        if (doc->items[i].kind != TOML_ITEM_COMMENT)
                                last = i;
                pos = doc->items[last].line_end;
                break;
        }

        /* Not inside another runtime's block: after its end. */
        for (size_t i = 0; i < doc->n_items; i++) {
                const TomlItem *begin = &doc->items[i];
                size_t p = strlen(MARKER_BEGIN);

                if (begin->kind != TOML_ITEM_COMMENT || begin->end - begin->start <= p ||
                    memcmp(doc->text + begin->start, MARKER_BEGIN, p) != 0 || begin->line_end > pos)
                        continue;
                _cleanup_free_ char *name = strndup(doc->text + begin->start + p, begin->end - begin->start - p);
                if (!name)
                        continue;
                for (size_t j = i + 1; j < doc->n_items; j++)
                        if (comment_is(doc, &doc->items[j], MARKER_END, name)) {
                                if (doc->items[j].line_start >= pos)
                                        pos = doc->items[j].line_end;
                                break;
                        }
        }
        return pos;
}

static char *v2_block(const char *name, const char *quoted_path, const char *nl) {
        char *s = NULL;
        const char *t = "plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.";

        if (asprintf(&s,
                     MARKER_BEGIN "%s%s"
                     "[%s%s]%s"
                     "  runtime_type = \"io.containerd.kata.v2\"%s"
                     "  privileged_without_host_devices = true%s"
                     "  pod_annotations = [\"io.katacontainers.*\"]%s"
                     "[%s%s.options]%s"
                     "  ConfigPath = %s%s"
                     MARKER_END "%s%s",
                     name, nl, t, name, nl, nl, nl, nl, t, name, nl, quoted_path, nl, name, nl) < 0)
                return NULL;
        return s;
}

/* containerd 1.6's built-in runc, as `containerd config default` spells it. */
static char *runc_block(const char *nl) {
        char *s = NULL;
        const char *t = "plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc";

        if (asprintf(&s,
                     MARKER_BEGIN "runc%s"
                     "# containerd's built-in runc, kept: a runtime table in the file replaces it.%s"
                     "[%s]%s"
                     "  runtime_type = \"io.containerd.runc.v2\"%s"
                     "[%s.options]%s"
                     "  BinaryName = \"\"%s"
                     "  CriuImagePath = \"\"%s"
                     "  CriuPath = \"\"%s"
                     "  CriuWorkPath = \"\"%s"
                     "  IoGid = 0%s"
                     "  IoUid = 0%s"
                     "  NoNewKeyring = false%s"
                     "  NoPivotRoot = false%s"
                     "  Root = \"\"%s"
                     "  ShimCgroup = \"\"%s"
                     "  SystemdCgroup = false%s"
                     MARKER_END "runc%s",
                     nl, nl, t, nl, nl, t, nl, nl, nl, nl, nl, nl, nl, nl, nl, nl, nl, nl, nl) < 0)
                return NULL;
        return s;
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

int containerd_v2_register(const char *text, size_t len, const char *runtime_class,
                           const char *kata_config_path, char **ret, size_t *ret_len, CcError *err) {
        _cleanup_toml_doc_ TomlDoc doc = {};
        _cleanup_free_ char *quoted = NULL, *block = NULL, *removed = NULL, *ins = NULL, *out = NULL;
        size_t removed_len, pos, out_len;
        const char *base = text, *nl;
        size_t base_len = len;
        Block b;
        int r;

        assert(text || len == 0);
        assert(runtime_class);
        assert(kata_config_path);
        assert(ret);
        assert(ret_len);

        r = check_runtime_class(runtime_class, err);
        if (r < 0)
                return r;
        if (!kata_config_path[0])
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL, "empty Kata configuration path");
        quoted = toml_quote(kata_config_path);
        if (!quoted)
                return errno == EINVAL ?
                        cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                     "Kata configuration path is not valid UTF-8") : oom(err);

        r = toml_doc_parse(&doc, text, len, err);
        if (r < 0)
                return r;
        r = check_version(&doc, 2, err);
        if (r < 0)
                return r;
        r = find_block(&doc, runtime_class, &b, err);
        if (r < 0)
                return r;
        r = check_conflicts(&doc, v2_runtimes, runtime_class, &b, err);
        if (r < 0)
                return r;

        nl = doc.crlf ? "\r\n" : "\n";
        block = v2_block(runtime_class, quoted, nl);
        if (!block)
                return oom(err);
        if (!file_defines_runtimes(&doc)) {
                Block runc;
                char *both;

                r = find_block(&doc, "runc", &runc, err);
                if (r < 0)
                        return r;
                if (!runc.found) {
                        _cleanup_free_ char *keep = runc_block(nl);

                        if (!keep || asprintf(&both, "%s%s", keep, block) < 0)
                                return oom(err);
                        free(block);
                        block = both;
                }
        }

        if (b.found) {
                /* Replaced where it is. */
                r = splice(text, len, b.start, b.stop, NULL, &removed, &removed_len, err);
                if (r < 0)
                        return r;
                base = removed;
                base_len = removed_len;
                pos = b.start;
        } else
                pos = insertion_point(&doc);

        ins = lines_at(base, base_len, pos, block, nl);
        if (!ins)
                return oom(err);
        r = splice(base, base_len, pos, pos, ins, &out, &out_len, err);
        if (r < 0)
                return r;
        r = check_result(out, out_len, err);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(out);
        *ret_len = out_len;
        return 0;
}

/* Removes the block of name; *ret NULL when there is none. */
static int remove_block(const char *text, size_t len, const char *name, char **ret, size_t *ret_len,
                        bool *ret_runc_left, CcError *err) {
        _cleanup_toml_doc_ TomlDoc doc = {};
        Block b;
        int r;

        *ret = NULL;
        r = toml_doc_parse(&doc, text, len, err);
        if (r < 0)
                return r;
        r = find_block(&doc, name, &b, err);
        if (r < 0)
                return r;
        if (!b.found)
                return 0;
        r = splice(text, len, b.start, b.stop, NULL, ret, ret_len, err);
        if (r < 0)
                return r;
        r = check_result(*ret, *ret_len, err);
        if (r < 0) {
                free(*ret);
                *ret = NULL;
                return r;
        }
        if (ret_runc_left) {
                _cleanup_toml_doc_ TomlDoc after = {};
                Block runc;

                /* It parsed just above.  A runc block that is not well
                 * formed is not ours to remove (register leaves it too). */
                r = toml_doc_parse(&after, *ret, *ret_len, err);
                if (r < 0) {
                        free(*ret);
                        *ret = NULL;
                        return r;
                }
                CcError ignored = CC_ERROR_INIT;
                *ret_runc_left = find_block(&after, "runc", &runc, &ignored) >= 0 && runc.found &&
                        !has_kata_blocks(&after) && !file_defines_runtimes(&after);
        }
        return 0;
}

int containerd_v2_unregister(const char *text, size_t len, const char *runtime_class,
                             char **ret, size_t *ret_len, bool *ret_changed, CcError *err) {
        _cleanup_free_ char *out = NULL, *out2 = NULL;
        size_t out_len = 0, out2_len = 0;
        bool runc_alone = false;
        int r;

        assert(text || len == 0);
        assert(runtime_class);
        assert(ret);
        assert(ret_len);

        r = check_runtime_class(runtime_class, err);
        if (r < 0)
                return r;
        r = remove_block(text, len, runtime_class, &out, &out_len, &runc_alone, err);
        if (r < 0)
                return r;
        if (ret_changed)
                *ret_changed = out != NULL;
        if (!out)
                return copy_text(text, len, ret, ret_len, err);

        /* The last Kata block takes the runc block with it, unless the
         * file has runtimes of its own by now. */
        if (runc_alone) {
                r = remove_block(out, out_len, "runc", &out2, &out2_len, NULL, err);
                if (r < 0)
                        return r;
                if (out2) {
                        free(out);
                        out = TAKE_PTR(out2);
                        out_len = out2_len;
                }
        }
        *ret = TAKE_PTR(out);
        *ret_len = out_len;
        return 0;
}

/* ------------------------------------------------------------ version 3 */

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

                if (item_is_header(item)) {
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

        r = check_runtime_class(runtime_class, err);
        if (r < 0)
                return r;
        r = toml_doc_parse(&doc, text, len, err);
        if (r < 0)
                return r;
        r = check_version(&doc, 3, err);
        if (r < 0)
                return r;
        return check_conflicts(&doc, v3_runtimes, runtime_class, NULL, err);
}

int containerd_v3_add_import(const char *text, size_t len, const char *dropin_path,
                             char **ret, size_t *ret_len, CcError *err) {
        _cleanup_toml_doc_ TomlDoc doc = {};
        _cleanup_free_ char *quoted = NULL, *ins = NULL, *out = NULL;
        TomlArrayElement *elements = NULL;
        const TomlItem *imports;
        size_t n = 0, pos, out_len;
        const char *nl;
        int r;

        assert(text || len == 0);
        assert(dropin_path);
        assert(ret);
        assert(ret_len);

        if (!dropin_path[0])
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL, "empty drop-in path");
        quoted = toml_quote(dropin_path);
        if (!quoted)
                return errno == EINVAL ?
                        cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL, "drop-in path is not valid UTF-8") :
                        oom(err);

        r = toml_doc_parse(&doc, text, len, err);
        if (r < 0)
                return r;
        r = check_version(&doc, 3, err);
        if (r < 0)
                return r;
        r = find_imports(&doc, &imports, &elements, &n, err);
        if (r < 0)
                return r;
        nl = doc.crlf ? "\r\n" : "\n";

        for (size_t i = 0; i < n; i++)
                if (streq(elements[i].string, dropin_path)) {
                        toml_array_elements_free(elements, n);
                        return copy_text(text, len, ret, ret_len, err);
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
                        ins = lines_at(text, len, pos, line, nl);
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
                return oom(err);

        r = splice(text, len, pos, pos, ins, &out, &out_len, err);
        if (r < 0)
                return r;
        r = check_result(out, out_len, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(out);
        *ret_len = out_len;
        return 0;
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
                removal_range(text, len, &del_start, &del_end);
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

                r = splice(text, len, comma_at, comma_at + 1, NULL, &without_comma, &without_comma_len, err);
                if (r < 0)
                        return r;
                r = splice(without_comma, without_comma_len, del_start, del_end, NULL, ret, ret_len, err);
        } else
                r = splice(text, len, del_start, del_end, NULL, ret, ret_len, err);
        if (r < 0)
                return r;
        r = check_result(*ret, *ret_len, err);
        if (r < 0) {
                free(*ret);
                *ret = NULL;
                return r;
        }
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

        r = copy_text(text, len, &cur, &cur_len, err);
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
