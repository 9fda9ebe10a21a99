/* SPDX-License-Identifier: MIT */
#pragma once

/* A small, strict reader of TOML documents for the editors of Kata's and
 * containerd's configuration files.  It does not build values: it splits the
 * text into statements (table headers, key/value pairs, comment lines) with
 * their byte offsets and decoded keys, so an editor can replace or insert a
 * few bytes and keep every other byte as it was.
 *
 * It reads TOML 1.0: bare, quoted and dotted keys; [tables] and
 * [[arrays of tables]]; basic, literal and multi-line strings (escapes
 * checked); arrays (multi-line, with comments); inline tables; numbers,
 * booleans and dates (only their characters are checked).  It checks the
 * document's structure as a parser would (toml-tables.c): a table or key
 * defined twice, a dotted key reaching into a table defined elsewhere, a
 * header reopening a value or an inline table are refused.  Lines may end in LF or CRLF.
 * Anything else (invalid UTF-8, control characters, a byte-order mark,
 * nesting deeper than 64, TOML 1.1 forms) is refused with an InvalidArgument
 * error naming the line. */

#include <stdbool.h>
#include <stddef.h>

#include "cc-error.h"

typedef enum TomlItemKind {
        TOML_ITEM_TABLE,        /* [a.b] */
        TOML_ITEM_ARRAY_TABLE,  /* [[a.b]] */
        TOML_ITEM_KEYVAL,       /* a.b = value */
        TOML_ITEM_COMMENT,      /* a line holding only a comment */
} TomlItemKind;

typedef enum TomlValueKind {
        TOML_VALUE_NONE,              /* not a key/value pair */
        TOML_VALUE_STRING,            /* "basic" */
        TOML_VALUE_LITERAL_STRING,    /* 'literal' */
        TOML_VALUE_MULTILINE_STRING,  /* """...""" or '''...''' */
        TOML_VALUE_ARRAY,
        TOML_VALUE_INLINE_TABLE,
        TOML_VALUE_OTHER,             /* number, boolean, date-time */
} TomlValueKind;

#define TOML_NO_TABLE ((size_t) -1)

typedef struct TomlItem {
        TomlItemKind kind;
        unsigned line;          /* 1-based line of its first byte */
        unsigned last_line;     /* line of its last byte (a multi-line value) */
        size_t line_start;      /* offset of the start of its first line */
        size_t start;           /* offset of its first byte ('[', the key or '#') */
        size_t end;             /* just after the header's ']', the value or the comment */
        size_t line_end;        /* just after the newline ending its last line (or the length) */
        char **key;             /* decoded: the header's path, or the (dotted) key */
        size_t n_key;
        size_t table;           /* key/value: index of its table's header, or TOML_NO_TABLE */
        TomlValueKind value_kind;
        size_t value_start, value_end;
        char *string;           /* the decoded value of a single-line string */
} TomlItem;

typedef struct TomlDoc {
        const char *text;
        size_t len;
        TomlItem *items;
        size_t n_items;
        bool crlf;              /* the first line ends in CRLF */
} TomlDoc;

/* text need not be NUL-terminated; doc keeps pointing at it. */
int toml_doc_parse(TomlDoc *doc, const char *text, size_t len, CcError *err);
void toml_doc_done(TomlDoc *doc);

/* The full path of an item: a header's own path; for a key/value, its
 * table's path followed by its key. */
size_t toml_item_path_len(const TomlDoc *doc, const TomlItem *item);
const char *toml_item_path_part(const TomlDoc *doc, const TomlItem *item, size_t i);
/* The full path as text, for messages; NULL on OOM. */
char *toml_item_path_string(const TomlDoc *doc, const TomlItem *item);
/* Whether the item's full path starts with the n parts of prefix. */
bool toml_item_path_has_prefix(const TomlDoc *doc, const TomlItem *item,
                               const char *const *prefix, size_t n);

/* The first key/value pair of the root table with the one-part key name, or
 * NULL. */
const TomlItem *toml_doc_root_key(const TomlDoc *doc, const char *name);

typedef struct TomlArrayElement {
        size_t start, end;      /* the element's bytes */
        unsigned line;
        char *string;           /* decoded */
} TomlArrayElement;

/* The elements of an array value that holds only single-line strings (any
 * other element is refused, naming the line). */
int toml_item_string_array(const TomlDoc *doc, const TomlItem *item,
                           TomlArrayElement **ret, size_t *ret_n, CcError *err);
void toml_array_elements_free(TomlArrayElement *elements, size_t n);

/* s as a TOML basic string, quotes included, control characters escaped;
 * NULL when s is not valid UTF-8 (errno EINVAL) or on OOM. */
char *toml_quote(const char *s);
/* "a.b.\"c d\"": a path for messages. */
char *toml_path_to_string(const char *const *parts, size_t n);

static inline void toml_docp_done(TomlDoc *doc) {
        toml_doc_done(doc);
}
#define _cleanup_toml_doc_ _cleanup_(toml_docp_done)
