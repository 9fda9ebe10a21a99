/* SPDX-License-Identifier: MIT */
#pragma once

/* The table checks of the TOML reader (toml-lex.c): the tables and keys a
 * document has defined so far, to refuse what a TOML parser refuses: a
 * table or key defined twice, a dotted key extending a table defined
 * elsewhere, a header reopening a value. */

#include <stdbool.h>
#include <stddef.h>

#include "cc-error.h"
#include "macro.h"

typedef struct TomlNode TomlNode;

typedef struct TomlTables {
        TomlNode *nodes;
        size_t n, allocated;
        size_t *slots;          /* node indexes, free ones (size_t) -1; a power of two */
        size_t n_slots;
} TomlTables;

/* The root table, the first node. */
int toml_tables_root(TomlTables *t, size_t *ret, CcError *err);

/* A header [parts] (array: [[parts]]): *ret is the table that key/value
 * pairs after it go into. */
int toml_tables_header(TomlTables *t, char **parts, size_t n, bool array, unsigned line, size_t *ret, CcError *err);

/* A key/value pair with the (dotted) key parts in table, whose path
 * table_key is for messages. */
int toml_tables_keyval(TomlTables *t, size_t table, char **table_key, size_t n_table_key, char **parts, size_t n,
                       unsigned line, CcError *err);

void toml_tables_done(TomlTables *t);

/* Shared by the lexer and the table checks: InvalidArgument "line N: ...",
 * and InternalError for a failed allocation. */
int toml_error(CcError *err, unsigned line, const char *fmt, ...) _printf_(3, 4);
int toml_oom(CcError *err);
