/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "containerd-config.h"
#include "containerd-internal.h"
#include "toml-lex.h"

/* Version 2 (containerd 1.x): where the managed block goes, and why there:
 *
 * - It holds two explicit table headers for the runtime and its options,
 *   never a parent table, so it cannot define a table the file already has
 *   ([...containerd.runtimes] and its parents stay where they are, explicit
 *   or implicit).  It goes right after the last table of the runtimes (else
 *   of the CRI section's containerd table, the CRI section, plugins; else
 *   at the end), at a point where the next statement is a header or the
 *   end: key/value pairs after it would otherwise fall into the block's
 *   last table.  Never inside another runtime's managed block.
 * - Version 2 files get no `imports`: containerd 1.x replaces a plugin's
 *   whole section with the imported one, which would wipe runc, CNI and the
 *   rest of the CRI configuration.
 * - containerd 1.x has a built-in runc runtime that any runtime table in
 *   the file replaces (even an empty [...containerd.runtimes]).  When the
 *   file defines none, a managed block for runc with containerd's defaults
 *   goes in front of the first Kata block, and goes again with the last one
 *   while the file still defines no runtime of its own. */

#define MARKER_BEGIN "# BEGIN nvidia-ccd runtime "
#define MARKER_END "# END nvidia-ccd runtime "

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
                        if (kata_blocks && !containerd_comment_is(doc, item, MARKER_BEGIN, "runc"))
                                return true;
                        i = end;
                        continue;
                }
                if (!kata_blocks && item->kind != TOML_ITEM_COMMENT &&
                    toml_item_path_has_prefix(doc, item, containerd_v2_runtimes, ELEMENTSOF(containerd_v2_runtimes)))
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
static int find_block(const TomlDoc *doc, const char *name, ContainerdBlock *ret, CcError *err) {
        size_t n_path = ELEMENTSOF(containerd_v2_runtimes) + 1;
        const char *path[ELEMENTSOF(containerd_v2_runtimes) + 1];
        bool begun = false;
        ContainerdBlock b = {};

        memcpy(path, containerd_v2_runtimes, sizeof(containerd_v2_runtimes));
        path[n_path - 1] = name;

        for (size_t i = 0; i < doc->n_items; i++) {
                const TomlItem *item = &doc->items[i];

                if (containerd_comment_is(doc, item, MARKER_BEGIN, name)) {
                        if (begun || b.found)
                                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                                    "line %u: a second managed block for runtime %s (line %u)",
                                                    item->line, name, doc->items[b.begin].line);
                        begun = true;
                        b.begin = i;
                } else if (containerd_comment_is(doc, item, MARKER_END, name)) {
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
                        _cleanup_free_ char *p = toml_item_path_string(doc, item);

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
                containerd_removal_range(doc->text, doc->len, &b.start, &b.stop);
        }
        *ret = b;
        return 0;
}

/* Where a new block goes (see the top of the file). */
static size_t insertion_point(const TomlDoc *doc) {
        size_t pos = doc->len;

        for (size_t depth = ELEMENTSOF(containerd_v2_runtimes); depth > 0; depth--) {
                size_t last_header = TOML_NO_TABLE;

                for (size_t i = 0; i < doc->n_items; i++)
                        if (containerd_item_is_header(&doc->items[i]) &&
                            toml_item_path_has_prefix(doc, &doc->items[i], containerd_v2_runtimes, depth))
                                last_header = i;
                if (last_header == TOML_NO_TABLE)
                        continue;

                size_t last = last_header;
                for (size_t i = last_header + 1; i < doc->n_items && !containerd_item_is_header(&doc->items[i]); i++)
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
                        if (containerd_comment_is(doc, &doc->items[j], MARKER_END, name)) {
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

int containerd_v2_register(const char *text, size_t len, const char *runtime_class,
                           const char *kata_config_path, char **ret, size_t *ret_len, CcError *err) {
        _cleanup_toml_doc_ TomlDoc doc = {};
        _cleanup_free_ char *quoted = NULL, *block = NULL, *removed = NULL, *ins = NULL;
        size_t removed_len, pos;
        const char *base = text, *nl;
        size_t base_len = len;
        ContainerdBlock b;
        int r;

        assert(text || len == 0);
        assert(runtime_class);
        assert(kata_config_path);
        assert(ret);
        assert(ret_len);

        r = containerd_check_runtime_class(runtime_class, err);
        if (r < 0)
                return r;
        r = containerd_quote_path(kata_config_path, "Kata configuration path", &quoted, err);
        if (r < 0)
                return r;

        r = containerd_doc_parse(&doc, text, len, 2, err);
        if (r < 0)
                return r;
        r = find_block(&doc, runtime_class, &b, err);
        if (r < 0)
                return r;
        r = containerd_check_conflicts(&doc, containerd_v2_runtimes, runtime_class, &b, err);
        if (r < 0)
                return r;

        nl = doc.crlf ? "\r\n" : "\n";
        block = v2_block(runtime_class, quoted, nl);
        if (!block)
                return containerd_oom(err);
        if (!file_defines_runtimes(&doc)) {
                ContainerdBlock runc;
                char *both;

                r = find_block(&doc, "runc", &runc, err);
                if (r < 0)
                        return r;
                if (!runc.found) {
                        _cleanup_free_ char *keep = runc_block(nl);

                        if (!keep || asprintf(&both, "%s%s", keep, block) < 0)
                                return containerd_oom(err);
                        free(block);
                        block = both;
                }
        }

        if (b.found) {
                /* Replaced where it is. */
                r = containerd_splice(text, len, b.start, b.stop, NULL, &removed, &removed_len, err);
                if (r < 0)
                        return r;
                base = removed;
                base_len = removed_len;
                pos = b.start;
        } else
                pos = insertion_point(&doc);

        ins = containerd_lines_at(base, base_len, pos, block, nl);
        if (!ins)
                return containerd_oom(err);
        return containerd_splice_checked(base, base_len, pos, pos, ins, ret, ret_len, err);
}

/* Removes the block of name; *ret NULL when there is none. */
static int remove_block(const char *text, size_t len, const char *name, char **ret, size_t *ret_len,
                        bool *ret_runc_left, CcError *err) {
        _cleanup_toml_doc_ TomlDoc doc = {};
        ContainerdBlock b;
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
        r = containerd_splice_checked(text, len, b.start, b.stop, NULL, ret, ret_len, err);
        if (r < 0)
                return r;
        if (ret_runc_left) {
                _cleanup_toml_doc_ TomlDoc after = {};
                ContainerdBlock runc;

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

        r = containerd_check_runtime_class(runtime_class, err);
        if (r < 0)
                return r;
        r = remove_block(text, len, runtime_class, &out, &out_len, &runc_alone, err);
        if (r < 0)
                return r;
        if (ret_changed)
                *ret_changed = out != NULL;
        if (!out)
                return containerd_copy_text(text, len, ret, ret_len, err);

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
