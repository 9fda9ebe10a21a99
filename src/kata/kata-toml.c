/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "kata-toml.h"
#include "toml-lex.h"

/* Line endings: the edit replaces only the bytes of a string value, so LF
 * and CRLF files (and files without a final newline) come out as they went
 * in. */

typedef struct Edit {
        size_t start, end;
        char *text;
} Edit;

static const char *path_for(const KataTomlPaths *paths, const char *key) {
        if (streq(key, "kernel"))
                return paths->kernel;
        if (streq(key, "initrd"))
                return paths->initrd;
        if (streq(key, "image"))
                return paths->image;
        return NULL;
}

static bool is_edited_key(const char *key) {
        return streq(key, "kernel") || streq(key, "initrd") || streq(key, "image");
}

static int refuse(CcError *err, const TomlDoc *doc, const TomlItem *item, const char *what) {
        _cleanup_free_ char *path = toml_item_path_string(doc, item);

        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL, "line %u: %s: %s", item->line,
                            strempty(path), what);
}

static void free_quoted(char *(*quoted)[3]) {
        for (size_t k = 0; k < ELEMENTSOF(*quoted); k++)
                free((*quoted)[k]);
}

int kata_toml_set_paths(const char *text, size_t len, const KataTomlPaths *paths,
                        char **ret, size_t *ret_len, CcError *err) {
        _cleanup_toml_doc_ TomlDoc doc = {};
        _cleanup_free_ Edit *edits = NULL;
        size_t n_edits = 0, out_len, at;
        _cleanup_free_ char *out = NULL;
        _cleanup_(free_quoted) char *quoted[3] = {};
        const char *keys[3] = { "kernel", "initrd", "image" };
        int r;

        assert(text || len == 0);
        assert(paths);
        assert(ret);
        assert(ret_len);

        /* Each new value as a TOML string, once. */
        for (size_t k = 0; k < 3; k++) {
                const char *p = path_for(paths, keys[k]);

                if (!p)
                        continue;
                quoted[k] = toml_quote(p);
                if (!quoted[k])
                        return errno == EINVAL ?
                                cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL, "%s path is not valid UTF-8",
                                             keys[k]) :
                                cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        }

        r = toml_doc_parse(&doc, text, len, err);
        if (r < 0)
                return r;

        for (size_t i = 0; i < doc.n_items; i++) {
                const TomlItem *item = &doc.items[i];
                size_t n;

                if (item->kind == TOML_ITEM_COMMENT)
                        continue;
                n = toml_item_path_len(&doc, item);
                if (!streq(toml_item_path_part(&doc, item, 0), "hypervisor"))
                        continue;
                if (item->kind == TOML_ITEM_ARRAY_TABLE)
                        return refuse(err, &doc, item, "arrays of tables are not supported under [hypervisor]");
                if (item->kind != TOML_ITEM_KEYVAL)
                        continue;

                size_t table_len = item->table == TOML_NO_TABLE ? 0 : doc.items[item->table].n_key;
                /* hypervisor = { qemu = { kernel = ... } } would hide the keys. */
                if (n <= 2 && item->value_kind == TOML_VALUE_INLINE_TABLE)
                        return refuse(err, &doc, item, "inline tables are not supported here");
                /* [hypervisor] qemu.kernel = ..., or hypervisor.qemu.x = ... at the root. */
                if (table_len < 2 && n >= 3)
                        return refuse(err, &doc, item,
                                      "dotted keys reaching into a [hypervisor.*] table are not supported");
                if (n != 3 || !is_edited_key(toml_item_path_part(&doc, item, 2)))
                        continue;
                if (item->n_key != 1)
                        return refuse(err, &doc, item, "dotted keys are not supported here");
                if (item->value_kind != TOML_VALUE_STRING && item->value_kind != TOML_VALUE_LITERAL_STRING)
                        return refuse(err, &doc, item, item->value_kind == TOML_VALUE_MULTILINE_STRING ?
                                      "a multi-line string cannot be rewritten" : "the value is not a string");

                const char *key = item->key[0];
                size_t k = streq(key, "kernel") ? 0 : streq(key, "initrd") ? 1 : 2;
                if (!quoted[k])
                        continue;
                Edit *grown = realloc(edits, (n_edits + 1) * sizeof(Edit));
                if (!grown)
                        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
                edits = grown;
                edits[n_edits++] = (Edit) { item->value_start, item->value_end, quoted[k] };
        }

        /* The items come in text order, so the edits do too. */
        out_len = len;
        for (size_t e = 0; e < n_edits; e++)
                out_len = out_len - (edits[e].end - edits[e].start) + strlen(edits[e].text);
        out = malloc(out_len + 1);
        if (!out)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        at = 0;
        size_t from = 0;
        for (size_t e = 0; e < n_edits; e++) {
                size_t k = strlen(edits[e].text);

                if (edits[e].start > from)
                        memcpy(out + at, text + from, edits[e].start - from);
                at += edits[e].start - from;
                memcpy(out + at, edits[e].text, k);
                at += k;
                from = edits[e].end;
        }
        if (len > from)
                memcpy(out + at, text + from, len - from);
        at += len - from;
        assert(at == out_len);
        out[out_len] = '\0';

        *ret = TAKE_PTR(out);
        *ret_len = out_len;
        return 0;
}
