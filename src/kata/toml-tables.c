/* SPDX-License-Identifier: MIT */
#include <stdint.h>

#include "toml-lex.h"
#include "toml-tables.h"

/* The tree of tables and keys: a node per name, its children found through
 * a hash of (parent, name), so a table with many keys, or a file with many
 * tables, is read in linear time. */
typedef enum NodeKind {
        NODE_TABLE,
        NODE_ARRAY_OF_TABLES,   /* its children are its tables */
        NODE_VALUE,             /* any value, inline tables and arrays included */
} NodeKind;

#define NO_NODE ((size_t) -1)

struct TomlNode {
        const char *name;       /* borrowed from an item's key */
        NodeKind kind;
        bool header;            /* defined by [a] (or one table of [[a]]) */
        bool dotted;            /* defined by a dotted key */
        unsigned line;
        size_t parent;
        size_t last;            /* the last child: the current table of an array of tables */
};

static size_t slot_hash(size_t parent, const char *name) {
        uint64_t h = 14695981039346656037ULL ^ parent;

        for (const unsigned char *p = (const unsigned char *) name; *p; p++)
                h = (h ^ *p) * 1099511628211ULL;
        return (size_t) (h ^ (h >> 29));
}

static void slots_insert(TomlTables *t, size_t node) {
        size_t mask = t->n_slots - 1;
        size_t i = slot_hash(t->nodes[node].parent, t->nodes[node].name) & mask;

        while (t->slots[i] != NO_NODE)
                i = (i + 1) & mask;
        t->slots[i] = node;
}

static int slots_grow(TomlTables *t) {
        size_t want = t->n_slots ? t->n_slots * 2 : 256;
        size_t *slots = malloc(want * sizeof(size_t));

        if (!slots)
                return -ENOMEM;
        for (size_t i = 0; i < want; i++)
                slots[i] = NO_NODE;
        free(t->slots);
        t->slots = slots;
        t->n_slots = want;
        /* Only named nodes are looked up; the tables of an array are not. */
        for (size_t i = 1; i < t->n; i++)
                if (t->nodes[t->nodes[i].parent].kind != NODE_ARRAY_OF_TABLES)
                        slots_insert(t, i);
        return 0;
}

static size_t tree_add(TomlTables *t, size_t parent, const char *name, NodeKind kind, unsigned line) {
        if (t->n == t->allocated) {
                size_t want = t->allocated ? t->allocated * 2 : 64;
                TomlNode *p = realloc(t->nodes, want * sizeof(TomlNode));

                if (!p)
                        return NO_NODE;
                t->nodes = p;
                t->allocated = want;
        }
        size_t i = t->n++;
        t->nodes[i] = (TomlNode) {
                .name = name, .kind = kind, .line = line, .parent = parent, .last = NO_NODE,
        };
        if (parent == NO_NODE)
                return i;
        t->nodes[parent].last = i;
        if (t->nodes[parent].kind == NODE_ARRAY_OF_TABLES)
                return i;
        if (2 * t->n > t->n_slots) {
                if (slots_grow(t) < 0)
                        return NO_NODE;
        } else
                slots_insert(t, i);
        return i;
}

static size_t tree_find(const TomlTables *t, size_t parent, const char *name) {
        size_t mask = t->n_slots - 1, i;

        if (t->n_slots == 0)
                return NO_NODE;
        for (i = slot_hash(parent, name) & mask; t->slots[i] != NO_NODE; i = (i + 1) & mask) {
                const TomlNode *n = &t->nodes[t->slots[i]];

                if (n->parent == parent && streq(n->name, name))
                        return t->slots[i];
        }
        return NO_NODE;
}

/* A path for an error message; "?" when out of memory. */
static char *path_n(char **parts, size_t n) {
        return toml_path_to_string((const char *const *) parts, n);
}

/* The table's path followed by the first n parts of a key. */
static char *path_2(char **table, size_t n_table, char **parts, size_t n) {
        _cleanup_free_ const char **all = calloc(n_table + n + 1, sizeof(char *));

        if (!all)
                return NULL;
        for (size_t i = 0; i < n_table; i++)
                all[i] = table[i];
        for (size_t i = 0; i < n; i++)
                all[n_table + i] = parts[i];
        return toml_path_to_string(all, n_table + n);
}

int toml_tables_header(TomlTables *t, char **parts, size_t n, bool array, unsigned line, size_t *ret, CcError *err) {
        size_t cur = 0;

        for (size_t i = 0; i < n; i++) {
                size_t child = tree_find(t, cur, parts[i]);
                TomlNode *c;

                if (i + 1 < n) {
                        if (child == NO_NODE) {
                                child = tree_add(t, cur, parts[i], NODE_TABLE, line);
                                if (child == NO_NODE)
                                        return toml_oom(err);
                        }
                        c = &t->nodes[child];
                        if (c->kind == NODE_VALUE) {
                                _cleanup_free_ char *p = path_n(parts, i + 1);
                                return toml_error(err, line, "%s is a value (line %u), not a table", strempty(p),
                                                  c->line);
                        }
                        cur = c->kind == NODE_ARRAY_OF_TABLES ? c->last : child;
                        continue;
                }
                if (array) {
                        if (child == NO_NODE) {
                                child = tree_add(t, cur, parts[i], NODE_ARRAY_OF_TABLES, line);
                                if (child == NO_NODE)
                                        return toml_oom(err);
                        } else if (t->nodes[child].kind != NODE_ARRAY_OF_TABLES) {
                                _cleanup_free_ char *p = path_n(parts, n);
                                return toml_error(err, line, "[[%s]]: already defined as something else (line %u)",
                                                  strempty(p), t->nodes[child].line);
                        }
                        cur = tree_add(t, child, "", NODE_TABLE, line);
                        if (cur == NO_NODE)
                                return toml_oom(err);
                        t->nodes[cur].header = true;
                } else {
                        if (child == NO_NODE) {
                                child = tree_add(t, cur, parts[i], NODE_TABLE, line);
                                if (child == NO_NODE)
                                        return toml_oom(err);
                        } else {
                                c = &t->nodes[child];
                                if (c->kind != NODE_TABLE || c->header || c->dotted) {
                                        _cleanup_free_ char *p = path_n(parts, n);
                                        return toml_error(err, line, "table [%s] is already defined (line %u)",
                                                          strempty(p), c->line);
                                }
                                c->line = line;
                        }
                        t->nodes[child].header = true;
                        cur = child;
                }
        }
        *ret = cur;
        return 0;
}

int toml_tables_keyval(TomlTables *t, size_t table, char **table_key, size_t n_table_key, char **parts, size_t n,
                       unsigned line, CcError *err) {
        size_t cur = table;

        for (size_t i = 0; i < n; i++) {
                size_t child = tree_find(t, cur, parts[i]);

                if (i + 1 < n) {
                        if (child == NO_NODE) {
                                child = tree_add(t, cur, parts[i], NODE_TABLE, line);
                                if (child == NO_NODE)
                                        return toml_oom(err);
                                t->nodes[child].dotted = true;
                        } else if (t->nodes[child].kind != NODE_TABLE || !t->nodes[child].dotted) {
                                _cleanup_free_ char *p = path_2(table_key, n_table_key, parts, i + 1);
                                return toml_error(err, line, "dotted key reaches into %s, defined at line %u",
                                                  strempty(p), t->nodes[child].line);
                        }
                        cur = child;
                        continue;
                }
                if (child != NO_NODE) {
                        _cleanup_free_ char *p = path_2(table_key, n_table_key, parts, n);
                        return toml_error(err, line, "key %s is already defined (line %u)", strempty(p),
                                          t->nodes[child].line);
                }
                if (tree_add(t, cur, parts[i], NODE_VALUE, line) == NO_NODE)
                        return toml_oom(err);
        }
        return 0;
}

int toml_tables_root(TomlTables *t, size_t *ret, CcError *err) {
        size_t root = tree_add(t, NO_NODE, "", NODE_TABLE, 0);

        if (root == NO_NODE)
                return toml_oom(err);
        *ret = root;
        return 0;
}

void toml_tables_done(TomlTables *t) {
        free(t->nodes);
        free(t->slots);
        *t = (TomlTables) {};
}
