/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdbool.h>
#include <yaml.h>

#include "macro.h"
#include "pause-record.h"
#include "rtclass-file.h"

static void spec_free(RuntimeClassSpec *c) {
        if (!c)
                return;
        g_free(c->name);
        if (c->node_selector)
                g_hash_table_unref(c->node_selector);
        g_free(c->url);
        g_free(c->pull_secret);
        g_free(c);
}

RuntimeClassFile *rtclass_file_free(RuntimeClassFile *f) {
        if (!f)
                return NULL;
        g_free(f->artifacts_dir);
        if (f->classes)
                g_ptr_array_unref(f->classes);
        g_free(f);
        return NULL;
}

/* ------------------------------------------------------------ names */

static bool dns_chars_ok(const char *s, size_t n, bool dots) {
        if (n == 0 || !g_ascii_isalnum(s[0]) || !g_ascii_isalnum(s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (!(g_ascii_islower(c) || g_ascii_isdigit(c) || c == '-' || (dots && c == '.')))
                        return false;
        }
        return true;
}

bool rtclass_name_is_valid(const char *name) {
        return name && strlen(name) <= 63 && dns_chars_ok(name, strlen(name), false);
}

static bool secret_name_is_valid(const char *name) {
        return name && strlen(name) <= 253 && dns_chars_ok(name, strlen(name), true);
}

const char *rtclass_reference_digest(const char *reference) {
        const char *at = reference ? strrchr(reference, '@') : NULL;

        return at && strncmp(at + 1, "sha256:", 7) == 0 ? at + 1 : NULL;
}

/* ------------------------------------------------------------ YAML tree */

static yaml_node_t *node_get(yaml_document_t *doc, int index) {
        return index > 0 ? yaml_document_get_node(doc, index) : NULL;
}

static bool is_null(yaml_node_t *n) {
        const char *s;

        if (!n)
                return true;
        if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return false;
        s = (const char *) n->data.scalar.value;
        return streq(s, "") || streq(s, "~") || streq(s, "null") || streq(s, "Null") || streq(s, "NULL");
}

/* A scalar's text; NULL for anything else, for null and for text with a NUL. */
static const char *scalar(yaml_node_t *n) {
        const char *s;

        if (!n || n->type != YAML_SCALAR_NODE || is_null(n))
                return NULL;
        s = (const char *) n->data.scalar.value;
        return strlen(s) == n->data.scalar.length ? s : NULL;
}

static const char *node_kind(yaml_node_t *n) {
        if (is_null(n))
                return "null";
        switch (n->type) {
        case YAML_MAPPING_NODE:
                return "a mapping";
        case YAML_SEQUENCE_NODE:
                return "a list";
        default:
                return "a scalar";
        }
}

typedef int (*FieldParser)(yaml_document_t *doc, yaml_node_t *value, const char *where, void *userdata, CcError *e);

typedef struct Field {
        const char *key;
        FieldParser parse;
} Field;

/* Each key of the mapping to its parser; a key not listed, or given twice, is
 * refused, naming where it is. */
static int parse_mapping(yaml_document_t *doc, yaml_node_t *map, const char *where, const Field *fields,
                         void *userdata, CcError *e) {
        g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
        int r;

        if (!map || map->type != YAML_MAPPING_NODE)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL, "%s: is %s, not a mapping", where,
                                    node_kind(map));
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
                const char *key = scalar(node_get(doc, p->key));
                const Field *f;

                if (!key)
                        return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL, "%s: a key is not a string",
                                            where);
                for (f = fields; f->key && !streq(f->key, key); f++)
                        ;
                if (!f->key) {
                        g_autoptr(GString) known = g_string_new(NULL);

                        for (f = fields; f->key; f++)
                                g_string_append_printf(known, "%s%s", known->len ? ", " : "", f->key);
                        return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                            "%s: unknown key \"%s\" (known: %s)", where, key, known->str);
                }
                if (!g_hash_table_add(seen, (char *) key))
                        return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL, "%s: \"%s\" is given twice",
                                            where, key);
                r = f->parse(doc, node_get(doc, p->value), where, userdata, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int string_field(yaml_node_t *value, const char *where, const char *key, char **ret, CcError *e) {
        const char *s = scalar(value);

        if (is_null(value))
                return 0;
        if (!s)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL, "%s.%s: is %s, not a string", where,
                                    key, node_kind(value));
        g_free(*ret);
        *ret = g_strdup(s);
        return 0;
}

/* ------------------------------------------------------------ a class */

static int parse_name(yaml_document_t *doc, yaml_node_t *v, const char *where, void *userdata, CcError *e) {
        return string_field(v, where, "name", &((RuntimeClassSpec *) userdata)->name, e);
}

static int parse_selector(yaml_document_t *doc, yaml_node_t *v, const char *where, void *userdata, CcError *e) {
        RuntimeClassSpec *c = userdata;

        if (is_null(v))
                return 0;
        if (v->type != YAML_MAPPING_NODE)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL, "%s.nodeSelector: is %s, not a mapping",
                                    where, node_kind(v));
        for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
                const char *key = scalar(node_get(doc, p->key));
                yaml_node_t *value_node = node_get(doc, p->value);
                const char *value = is_null(value_node) ? "" : scalar(value_node);

                if (!key || !label_key_is_valid(key))
                        return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                            "%s.nodeSelector: \"%s\" is not a label name", where, strempty(key));
                if (!value || !label_value_is_valid(value))
                        return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                            "%s.nodeSelector.%s: is not a label value (at most 63 letters, "
                                            "digits, '-', '_' or '.')",
                                            where, key);
                if (g_hash_table_contains(c->node_selector, key))
                        return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                            "%s.nodeSelector: \"%s\" is given twice", where, key);
                g_hash_table_insert(c->node_selector, g_strdup(key), g_strdup(value));
        }
        return 0;
}

static int parse_url(yaml_document_t *doc, yaml_node_t *v, const char *where, void *userdata, CcError *e) {
        return string_field(v, where, "artifacts.url", &((RuntimeClassSpec *) userdata)->url, e);
}

static int parse_pull_secret(yaml_document_t *doc, yaml_node_t *v, const char *where, void *userdata,
                             CcError *e) {
        return string_field(v, where, "artifacts.pullSecret", &((RuntimeClassSpec *) userdata)->pull_secret, e);
}

static int parse_artifacts(yaml_document_t *doc, yaml_node_t *v, const char *where, void *userdata, CcError *e) {
        static const Field fields[] = {
                { "url", parse_url },
                { "pullSecret", parse_pull_secret },
                {},
        };
        g_autofree char *inner = g_strconcat(where, ".artifacts", NULL);

        return parse_mapping(doc, v, inner, fields, userdata, e);
}

static int check_class(RuntimeClassSpec *c, const char *where, CcError *e) {
        if (!c->name)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL, "%s: no name", where);
        if (!rtclass_name_is_valid(c->name))
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "%s: name \"%s\" is not a DNS-1123 label (at most 63 lower-case letters, "
                                    "digits and '-', starting and ending with a letter or digit)",
                                    where, c->name);
        if (!c->url)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL, "%s (%s): no artifacts.url", where,
                                    c->name);
        if (strlen(c->url) > RTCLASS_REFERENCE_MAX || strchr(c->url, '/') == NULL || strpbrk(c->url, " \t\n"))
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "%s (%s): artifacts.url \"%s\" is not an OCI reference "
                                    "(HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST], at most %d bytes)",
                                    where, c->name, c->url, RTCLASS_REFERENCE_MAX);
        /* kata-manager's own default: pullSecret: "" for a public registry. */
        if (c->pull_secret && !c->pull_secret[0])
                g_clear_pointer(&c->pull_secret, g_free);
        if (c->pull_secret && !secret_name_is_valid(c->pull_secret))
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "%s (%s): artifacts.pullSecret \"%s\" is not the name of a Secret", where,
                                    c->name, c->pull_secret);
        return 0;
}

static int parse_classes(yaml_document_t *doc, yaml_node_t *v, const char *where, void *userdata, CcError *e) {
        static const Field fields[] = {
                { "name", parse_name },
                { "nodeSelector", parse_selector },
                { "artifacts", parse_artifacts },
                {},
        };
        RuntimeClassFile *f = userdata;
        size_t n;
        int r;

        if (is_null(v))
                return 0;
        if (v->type != YAML_SEQUENCE_NODE)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL, "runtimeClasses: is %s, not a list",
                                    node_kind(v));
        n = v->data.sequence.items.top - v->data.sequence.items.start;
        if (n > RTCLASS_FILE_MAX_CLASSES)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "runtimeClasses: %zu entries, more than %d", n, RTCLASS_FILE_MAX_CLASSES);
        for (size_t i = 0; i < n; i++) {
                g_autofree char *item = g_strdup_printf("runtimeClasses[%zu]", i);
                RuntimeClassSpec *c = g_new0(RuntimeClassSpec, 1);

                c->node_selector = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
                g_ptr_array_add(f->classes, c);
                r = parse_mapping(doc, node_get(doc, v->data.sequence.items.start[i]), item, fields, c, e);
                if (r < 0)
                        return r;
                r = check_class(c, item, e);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (streq(((RuntimeClassSpec *) f->classes->pdata[j])->name, c->name))
                                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                                    "%s: runtime class \"%s\" is already runtimeClasses[%zu]", item,
                                                    c->name, j);
        }
        return 0;
}

static int parse_artifacts_dir(yaml_document_t *doc, yaml_node_t *v, const char *where, void *userdata,
                               CcError *e) {
        RuntimeClassFile *f = userdata;
        int r;

        r = string_field(v, "", "artifactsDir", &f->artifacts_dir, e);
        if (r < 0)
                return r;
        if (f->artifacts_dir && f->artifacts_dir[0] != '/')
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "artifactsDir: \"%s\" is not an absolute path", f->artifacts_dir);
        return 0;
}

int rtclass_file_parse(const char *text, size_t size, RuntimeClassFile **ret, CcError *e) {
        static const Field fields[] = {
                { "artifactsDir", parse_artifacts_dir },
                { "runtimeClasses", parse_classes },
                {},
        };
        g_autoptr(RuntimeClassFile) f = NULL;
        yaml_parser_t parser;
        yaml_document_t doc;
        yaml_node_t *root;
        int r;

        assert(text || size == 0);
        assert(ret);

        if (size > RTCLASS_FILE_MAX_BYTES)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EFBIG, "larger than %d bytes",
                                    RTCLASS_FILE_MAX_BYTES);
        if (memchr(text ?: "", '\0', size))
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL, "holds a NUL byte");
        if (!yaml_parser_initialize(&parser))
                return cc_error_set(e, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        yaml_parser_set_input_string(&parser, (const unsigned char *) (text ?: ""), size);
        if (!yaml_parser_load(&parser, &doc)) {
                r = cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL, "YAML error at line %zu: %s",
                                 parser.problem_mark.line + 1, strempty(parser.problem));
                yaml_parser_delete(&parser);
                return r;
        }
        f = g_new0(RuntimeClassFile, 1);
        f->classes = g_ptr_array_new_with_free_func((GDestroyNotify) spec_free);
        root = yaml_document_get_root_node(&doc);
        if (!root)
                r = cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                 "empty (an empty list of classes is \"runtimeClasses: []\")");
        else
                r = parse_mapping(&doc, root, "the file", fields, f, e);
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(f);
        return 0;
}

const RuntimeClassSpec *rtclass_file_find(const RuntimeClassFile *f, const char *name) {
        for (guint i = 0; f && i < f->classes->len; i++) {
                const RuntimeClassSpec *c = f->classes->pdata[i];

                if (streq(c->name, name))
                        return c;
        }
        return NULL;
}

bool rtclass_selector_matches(const RuntimeClassSpec *c, GHashTable *labels) {
        GHashTableIter iter;
        gpointer key, value;

        g_hash_table_iter_init(&iter, c->node_selector);
        while (g_hash_table_iter_next(&iter, &key, &value))
                if (!streq_ptr(g_hash_table_lookup(labels, key), value))
                        return false;
        return true;
}
