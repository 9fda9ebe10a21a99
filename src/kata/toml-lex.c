/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdarg.h>
#include <stdint.h>

#include "escape.h"
#include "strbuf.h"
#include "toml-lex.h"
#include "toml-tables.h"

/* Deeper nesting of arrays and inline tables is refused, so the recursive
 * value reader has a bounded stack. */
#define MAX_DEPTH 64
/* So is a dotted key or a header path with more parts. */
#define MAX_KEY_PARTS 128

/* ------------------------------------------------------------ the lexer */

typedef struct Lexer {
        const char *s;
        size_t len;
        size_t p;
        unsigned line;
        CcError *err;
} Lexer;

int toml_error(CcError *err, unsigned line, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = cc_error_setv(err, CC_ERROR_INVALID_ARGUMENT, EINVAL, fmt, ap);
        va_end(ap);
        cc_error_prefix(err, "line %u", line);
        return r;
}

int toml_oom(CcError *err) {
        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
}

#define lex_error(lx, line, ...) toml_error((lx)->err, line, __VA_ARGS__)
#define lex_oom(lx) toml_oom((lx)->err)

/* The character k bytes ahead; '\0' past the end (a NUL in the text is
 * refused before lexing, so '\0' means the end). */
static char peek(const Lexer *lx, size_t k) {
        return lx->p + k < lx->len ? lx->s[lx->p + k] : '\0';
}

static bool at_end(const Lexer *lx) {
        return lx->p >= lx->len;
}

/* A lone CR is refused before lexing: '\r' always starts CRLF. */
static bool at_newline(const Lexer *lx) {
        char c = peek(lx, 0);

        return c == '\n' || c == '\r';
}

static void skip_newline(Lexer *lx) {
        lx->p += peek(lx, 0) == '\r' ? 2 : 1;
        lx->line++;
}

static void skip_ws(Lexer *lx) {
        while (peek(lx, 0) == ' ' || peek(lx, 0) == '\t')
                lx->p++;
}

static void skip_comment(Lexer *lx) {
        if (peek(lx, 0) != '#')
                return;
        while (!at_end(lx) && !at_newline(lx))
                lx->p++;
}

/* Whitespace, newlines and comments, as between the elements of an array. */
static void skip_ws_nl_comments(Lexer *lx) {
        for (;;) {
                skip_ws(lx);
                skip_comment(lx);
                if (at_end(lx) || !at_newline(lx))
                        return;
                skip_newline(lx);
        }
}

/* The whole text is UTF-8 without control characters (tab and CRLF
 * aside), and has no byte-order mark: checked once, before lexing. */
static int check_characters(Lexer *lx) {
        const unsigned char *s = (const unsigned char *) lx->s;
        unsigned line = 1;

        if (lx->len >= 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf)
                return lex_error(lx, 1, "byte-order mark at the start of the file");
        for (size_t i = 0; i < lx->len;) {
                unsigned char c = s[i];

                if (c == '\n') {
                        line++;
                        i++;
                } else if (c == '\r') {
                        if (i + 1 >= lx->len || s[i + 1] != '\n')
                                return lex_error(lx, line, "carriage return not followed by a line feed");
                        i++;
                } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
                        return lex_error(lx, line, "control character 0x%02x", c);
                } else if (c >= 0x80) {
                        size_t k = utf8_sequence_len(s + i, lx->len - i);

                        if (k == 0)
                                return lex_error(lx, line, "invalid UTF-8");
                        i += k;
                } else
                        i++;
        }
        return 0;
}

static int hex_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* An escape after the backslash (at lx->p); appended decoded to b when b is
 * non-NULL.  \u0000 is refused: decoded values are C strings, and one cut
 * short could compare equal to another key. */
static int read_escape(Lexer *lx, StrBuf *b) {
        char c = peek(lx, 0);
        uint32_t cp = 0;
        int digits;

        switch (c) {
        case 'b': c = '\b'; break;
        case 't': c = '\t'; break;
        case 'n': c = '\n'; break;
        case 'f': c = '\f'; break;
        case 'r': c = '\r'; break;
        case '"':
        case '\\':
                break;
        case 'u':
        case 'U':
                digits = c == 'u' ? 4 : 8;
                for (int i = 1; i <= digits; i++) {
                        int v = hex_value(peek(lx, i));

                        if (v < 0)
                                return lex_error(lx, lx->line, "invalid escape \\%c in a string: needs %d hex digits",
                                                 c, digits);
                        cp = (cp << 4) | (uint32_t) v;
                }
                if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return lex_error(lx, lx->line, "escape \\%c is not a Unicode scalar value", c);
                if (cp == 0)
                        return lex_error(lx, lx->line, "NUL character in a string");
                lx->p += 1 + (size_t) digits;
                if (b) {
                        char u[4];

                        if (strbuf_put(b, u, utf8_encode_unichar(u, cp)) < 0)
                                return lex_oom(lx);
                }
                return 0;
        default:
                if ((unsigned char) c > ' ' && (unsigned char) c < 0x7f)
                        return lex_error(lx, lx->line, "invalid escape \\%c in a string", c);
                return lex_error(lx, lx->line, "invalid escape in a string");
        }
        lx->p++;
        if (b && strbuf_putc(b, c) < 0)
                return lex_oom(lx);
        return 0;
}

/* "basic", at the opening quote. */
static int read_basic_string(Lexer *lx, char **ret) {
        _cleanup_(strbuf_done) StrBuf b = {};
        int r;

        lx->p++;
        for (;;) {
                char c = peek(lx, 0);

                if (at_end(lx) || at_newline(lx))
                        return lex_error(lx, lx->line, "unterminated string");
                if (c == '"') {
                        lx->p++;
                        break;
                }
                if (c == '\\') {
                        lx->p++;
                        r = read_escape(lx, ret ? &b : NULL);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (ret && strbuf_putc(&b, c) < 0)
                        return lex_oom(lx);
                lx->p++;
        }
        if (ret) {
                *ret = strbuf_steal(&b);
                if (!*ret)
                        return lex_oom(lx);
        }
        return 0;
}

/* 'literal', at the opening quote. */
static int read_literal_string(Lexer *lx, char **ret) {
        size_t start = ++lx->p;

        while (peek(lx, 0) != '\'') {
                if (at_end(lx) || at_newline(lx))
                        return lex_error(lx, lx->line, "unterminated string");
                lx->p++;
        }
        if (ret) {
                *ret = strndup(lx->s + start, lx->p - start);
                if (!*ret)
                        return lex_oom(lx);
        }
        lx->p++;
        return 0;
}

/* """multi-line basic""" or '''multi-line literal''', at the first quote.
 * Only checked, not decoded: no editor reads one. */
static int read_multiline_string(Lexer *lx) {
        char q = peek(lx, 0);
        unsigned start_line = lx->line;

        lx->p += 3;
        for (;;) {
                char c = peek(lx, 0);

                if (at_end(lx))
                        return lex_error(lx, start_line, "unterminated multi-line string");
                if (at_newline(lx)) {
                        skip_newline(lx);
                        continue;
                }
                if (c == q) {
                        size_t n = 0;

                        while (peek(lx, n) == q)
                                n++;
                        lx->p += n;
                        if (n >= 3) {
                                /* Up to two quotes may end the content. */
                                if (n > 5)
                                        return lex_error(lx, lx->line, "too many quotes closing a multi-line string");
                                return 0;
                        }
                        continue;
                }
                if (c == '\\' && q == '"') {
                        char d;

                        lx->p++;
                        d = peek(lx, 0);
                        if (d == ' ' || d == '\t' || d == '\n' || d == '\r') {
                                /* A line-ending backslash: only whitespace up to the newline. */
                                skip_ws(lx);
                                if (!at_newline(lx))
                                        return lex_error(lx, lx->line, "invalid escape in a string");
                                continue;
                        }
                        int r = read_escape(lx, NULL);
                        if (r < 0)
                                return r;
                        continue;
                }
                lx->p++;
        }
}

static bool is_bare_key_char(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-';
}

static void strv_free_n(char **v, size_t n) {
        if (!v)
                return;
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* A key: simple keys joined by dots, whitespace allowed around the dots. */
static int read_key(Lexer *lx, char ***ret, size_t *ret_n) {
        char **parts = NULL;
        size_t n = 0;
        int r = 0;

        for (;;) {
                char *part = NULL;
                char c = peek(lx, 0);

                if (n >= MAX_KEY_PARTS) {
                        r = lex_error(lx, lx->line, "key with more than %d parts", MAX_KEY_PARTS);
                        break;
                }
                if (c == '"' || c == '\'') {
                        if (peek(lx, 1) == c && peek(lx, 2) == c) {
                                r = lex_error(lx, lx->line, "multi-line string used as a key");
                                break;
                        }
                        r = c == '"' ? read_basic_string(lx, &part) : read_literal_string(lx, &part);
                        if (r < 0)
                                break;
                } else {
                        size_t start = lx->p;

                        while (is_bare_key_char(peek(lx, 0)))
                                lx->p++;
                        if (lx->p == start) {
                                if (at_end(lx) || at_newline(lx))
                                        r = lex_error(lx, lx->line, "missing key");
                                else if ((unsigned char) c > ' ' && (unsigned char) c < 0x7f)
                                        r = lex_error(lx, lx->line, "invalid character '%c' in a key", c);
                                else
                                        r = lex_error(lx, lx->line, "invalid character in a key");
                                break;
                        }
                        part = strndup(lx->s + start, lx->p - start);
                        if (!part) {
                                r = lex_oom(lx);
                                break;
                        }
                }
                char **grown = realloc(parts, (n + 1) * sizeof(char *));
                if (!grown) {
                        free(part);
                        r = lex_oom(lx);
                        break;
                }
                parts = grown;
                parts[n++] = part;

                skip_ws(lx);
                if (peek(lx, 0) != '.')
                        break;
                lx->p++;
                skip_ws(lx);
        }
        if (r < 0) {
                strv_free_n(parts, n);
                return r;
        }
        *ret = parts;
        *ret_n = n;
        return 0;
}

static bool is_bare_value_char(char c) {
        return is_bare_key_char(c) || c == '+' || c == '.' || c == ':';
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

/* A number, boolean or date-time.  Only its characters are checked: a
 * malformed number cannot hide a statement from the editors. */
static int read_bare_value(Lexer *lx) {
        size_t start = lx->p;
        size_t n;
        const char *t;

        while (is_bare_value_char(peek(lx, 0)))
                lx->p++;
        /* "1979-05-27 07:32:00": a date and a time separated by a space. */
        if (lx->p - start == 10 && lx->s[start + 4] == '-' && lx->s[start + 7] == '-' &&
            peek(lx, 0) == ' ' && is_digit(peek(lx, 1)) && is_digit(peek(lx, 2)) && peek(lx, 3) == ':') {
                lx->p++;
                while (is_bare_value_char(peek(lx, 0)))
                        lx->p++;
        }
        n = lx->p - start;
        t = lx->s + start;
        if (n == 0) {
                char c = peek(lx, 0);

                if (at_end(lx) || at_newline(lx) || c == '#')
                        return lex_error(lx, lx->line, "missing value");
                if ((unsigned char) c > ' ' && (unsigned char) c < 0x7f)
                        return lex_error(lx, lx->line, "invalid character '%c' in a value", c);
                return lex_error(lx, lx->line, "invalid character in a value");
        }
        if ((n == 4 && memcmp(t, "true", 4) == 0) || (n == 5 && memcmp(t, "false", 5) == 0))
                return 0;
        if (t[0] == '+' || t[0] == '-') {
                t++;
                n--;
        }
        if ((n == 3 && (memcmp(t, "inf", 3) == 0 || memcmp(t, "nan", 3) == 0)) || (n > 0 && is_digit(t[0])))
                return 0;
        return lex_error(lx, lx->line, "invalid value '%.*s'", (int) (lx->p - start > 40 ? 40 : lx->p - start),
                         lx->s + start);
}

static int read_value(Lexer *lx, unsigned depth, TomlValueKind *ret_kind, char **ret_string);

static int read_array(Lexer *lx, unsigned depth) {
        int r;

        lx->p++;
        for (;;) {
                skip_ws_nl_comments(lx);
                if (peek(lx, 0) == ']')
                        break;
                if (at_end(lx))
                        return lex_error(lx, lx->line, "unterminated array");
                r = read_value(lx, depth + 1, NULL, NULL);
                if (r < 0)
                        return r;
                skip_ws_nl_comments(lx);
                if (peek(lx, 0) == ',') {
                        lx->p++;
                        continue;
                }
                if (peek(lx, 0) != ']')
                        return lex_error(lx, lx->line, at_end(lx) ? "unterminated array" :
                                         "expected ',' or ']' in an array");
                break;
        }
        lx->p++;
        return 0;
}

/* { a = 1, b.c = "x" } on one line (TOML 1.0). */
static int read_inline_table(Lexer *lx, unsigned depth) {
        int r;

        lx->p++;
        skip_ws(lx);
        if (peek(lx, 0) == '}') {
                lx->p++;
                return 0;
        }
        for (;;) {
                char **key = NULL;
                size_t n_key = 0;

                r = read_key(lx, &key, &n_key);
                if (r < 0)
                        return r;
                strv_free_n(key, n_key);
                skip_ws(lx);
                if (peek(lx, 0) != '=')
                        return lex_error(lx, lx->line, "expected '=' after a key in an inline table");
                lx->p++;
                skip_ws(lx);
                r = read_value(lx, depth + 1, NULL, NULL);
                if (r < 0)
                        return r;
                skip_ws(lx);
                if (peek(lx, 0) == ',') {
                        lx->p++;
                        skip_ws(lx);
                        continue;
                }
                if (peek(lx, 0) == '}') {
                        lx->p++;
                        return 0;
                }
                return lex_error(lx, lx->line, "expected ',' or '}' in an inline table");
        }
}

static int read_value(Lexer *lx, unsigned depth, TomlValueKind *ret_kind, char **ret_string) {
        char c = peek(lx, 0);
        TomlValueKind kind;
        int r;

        if (depth >= MAX_DEPTH)
                return lex_error(lx, lx->line, "arrays or inline tables nested deeper than %d", MAX_DEPTH);
        if ((c == '"' || c == '\'') && peek(lx, 1) == c && peek(lx, 2) == c) {
                kind = TOML_VALUE_MULTILINE_STRING;
                r = read_multiline_string(lx);
        } else if (c == '"') {
                kind = TOML_VALUE_STRING;
                r = read_basic_string(lx, ret_string);
        } else if (c == '\'') {
                kind = TOML_VALUE_LITERAL_STRING;
                r = read_literal_string(lx, ret_string);
        } else if (c == '[') {
                kind = TOML_VALUE_ARRAY;
                r = read_array(lx, depth);
        } else if (c == '{') {
                kind = TOML_VALUE_INLINE_TABLE;
                r = read_inline_table(lx, depth);
        } else {
                kind = TOML_VALUE_OTHER;
                r = read_bare_value(lx);
        }
        if (r < 0)
                return r;
        if (ret_kind)
                *ret_kind = kind;
        return 0;
}

/* ------------------------------------------------------------ documents */

static void item_free(TomlItem *item) {
        strv_free_n(item->key, item->n_key);
        free(item->string);
}

void toml_doc_done(TomlDoc *doc) {
        if (!doc)
                return;
        for (size_t i = 0; i < doc->n_items; i++)
                item_free(&doc->items[i]);
        free(doc->items);
        *doc = (TomlDoc) {};
}

static int doc_append(TomlDoc *doc, size_t *allocated, TomlItem *item) {
        if (doc->n_items == *allocated) {
                size_t want = *allocated ? *allocated * 2 : 32;
                TomlItem *p = realloc(doc->items, want * sizeof(TomlItem));

                if (!p)
                        return -ENOMEM;
                doc->items = p;
                *allocated = want;
        }
        doc->items[doc->n_items++] = *item;
        *item = (TomlItem) {};
        return 0;
}

/* The current table: the index of its header (or TOML_NO_TABLE), its node
 * in the tree and its path. */
typedef struct Current {
        size_t item, node;
        char **key;
        size_t n_key;
} Current;

/* One statement, from its first byte to the end of its line. */
static int read_statement(Lexer *lx, TomlTables *tables, Current *cur, TomlItem *item) {
        int r;

        item->line = lx->line;
        item->start = lx->p;
        item->table = TOML_NO_TABLE;
        if (peek(lx, 0) == '#') {
                item->kind = TOML_ITEM_COMMENT;
                skip_comment(lx);
        } else if (peek(lx, 0) == '[') {
                bool array = peek(lx, 1) == '[';

                item->kind = array ? TOML_ITEM_ARRAY_TABLE : TOML_ITEM_TABLE;
                lx->p += array ? 2 : 1;
                skip_ws(lx);
                r = read_key(lx, &item->key, &item->n_key);
                if (r < 0)
                        return r;
                skip_ws(lx);
                if (peek(lx, 0) != ']' || (array && peek(lx, 1) != ']'))
                        return lex_error(lx, lx->line, array ? "expected ']]' closing the table header" :
                                         "expected ']' closing the table header");
                lx->p += array ? 2 : 1;
                r = toml_tables_header(tables, item->key, item->n_key, array, item->line, &cur->node, lx->err);
                if (r < 0)
                        return r;
        } else {
                item->kind = TOML_ITEM_KEYVAL;
                item->table = cur->item;
                r = read_key(lx, &item->key, &item->n_key);
                if (r < 0)
                        return r;
                skip_ws(lx);
                if (peek(lx, 0) != '=')
                        return lex_error(lx, lx->line, "expected '=' after the key");
                lx->p++;
                skip_ws(lx);
                item->value_start = lx->p;
                r = read_value(lx, 0, &item->value_kind, &item->string);
                if (r < 0)
                        return r;
                item->value_end = lx->p;
                r = toml_tables_keyval(tables, cur->node, cur->key, cur->n_key, item->key, item->n_key, item->line,
                                       lx->err);
                if (r < 0)
                        return r;
        }
        item->end = lx->p;
        item->last_line = lx->line;

        skip_ws(lx);
        skip_comment(lx);
        if (!at_end(lx) && !at_newline(lx))
                return lex_error(lx, lx->line, "expected the end of the line");
        if (!at_end(lx))
                skip_newline(lx);
        item->line_end = lx->p;
        return 0;
}

int toml_doc_parse(TomlDoc *doc, const char *text, size_t len, CcError *err) {
        Lexer lx = { .s = text, .len = len, .line = 1, .err = err };
        _cleanup_(toml_tables_done) TomlTables tables = {};
        size_t allocated = 0;
        Current cur = { .item = TOML_NO_TABLE };
        TomlItem item = {};
        int r;

        assert(doc);
        assert(text || len == 0);

        *doc = (TomlDoc) { .text = text, .len = len };
        for (size_t i = 0; i < len; i++)
                if (text[i] == '\n') {
                        doc->crlf = i > 0 && text[i - 1] == '\r';
                        break;
                }

        r = check_characters(&lx);
        if (r < 0)
                return r;

        r = toml_tables_root(&tables, &cur.node, err);
        if (r < 0)
                return r;

        while (!at_end(&lx)) {
                size_t line_start = lx.p;

                skip_ws(&lx);
                if (at_end(&lx))
                        break;
                if (at_newline(&lx)) {
                        skip_newline(&lx);
                        continue;
                }
                item = (TomlItem) { .line_start = line_start };
                r = read_statement(&lx, &tables, &cur, &item);
                if (r < 0) {
                        item_free(&item);
                        toml_doc_done(doc);
                        return r;
                }
                if (item.kind == TOML_ITEM_TABLE || item.kind == TOML_ITEM_ARRAY_TABLE) {
                        cur.item = doc->n_items;
                        cur.key = item.key;
                        cur.n_key = item.n_key;
                }
                if (doc_append(doc, &allocated, &item) < 0) {
                        item_free(&item);
                        toml_doc_done(doc);
                        return lex_oom(&lx);
                }
        }
        return 0;
}

/* ------------------------------------------------------------ queries */

size_t toml_item_path_len(const TomlDoc *doc, const TomlItem *item) {
        if (item->kind == TOML_ITEM_KEYVAL && item->table != TOML_NO_TABLE)
                return doc->items[item->table].n_key + item->n_key;
        return item->n_key;
}

const char *toml_item_path_part(const TomlDoc *doc, const TomlItem *item, size_t i) {
        if (item->kind == TOML_ITEM_KEYVAL && item->table != TOML_NO_TABLE) {
                const TomlItem *t = &doc->items[item->table];

                if (i < t->n_key)
                        return t->key[i];
                i -= t->n_key;
        }
        assert(i < item->n_key);
        return item->key[i];
}

char *toml_item_path_string(const TomlDoc *doc, const TomlItem *item) {
        size_t n = toml_item_path_len(doc, item);
        _cleanup_free_ const char **parts = calloc(n ? n : 1, sizeof(char *));

        if (!parts)
                return NULL;
        for (size_t i = 0; i < n; i++)
                parts[i] = toml_item_path_part(doc, item, i);
        return toml_path_to_string(parts, n);
}

bool toml_item_path_has_prefix(const TomlDoc *doc, const TomlItem *item, const char *const *prefix, size_t n) {
        if (toml_item_path_len(doc, item) < n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!streq(toml_item_path_part(doc, item, i), prefix[i]))
                        return false;
        return true;
}

const TomlItem *toml_doc_root_key(const TomlDoc *doc, const char *name) {
        for (size_t i = 0; i < doc->n_items; i++) {
                const TomlItem *item = &doc->items[i];

                if (item->kind == TOML_ITEM_TABLE || item->kind == TOML_ITEM_ARRAY_TABLE)
                        break;
                if (item->kind == TOML_ITEM_KEYVAL && item->n_key == 1 && streq(item->key[0], name))
                        return item;
        }
        return NULL;
}

void toml_array_elements_free(TomlArrayElement *elements, size_t n) {
        if (!elements)
                return;
        for (size_t i = 0; i < n; i++)
                free(elements[i].string);
        free(elements);
}

int toml_item_string_array(const TomlDoc *doc, const TomlItem *item, TomlArrayElement **ret, size_t *ret_n,
                           CcError *err) {
        Lexer lx = { .s = doc->text, .len = doc->len, .p = item->value_start, .line = item->line, .err = err };
        TomlArrayElement *elements = NULL;
        size_t n = 0;
        int r = 0;

        assert(item->kind == TOML_ITEM_KEYVAL);
        if (item->value_kind != TOML_VALUE_ARRAY) {
                _cleanup_free_ char *path = toml_path_to_string((const char *const *) item->key, item->n_key);

                return lex_error(&lx, item->line, "%s is not an array", strempty(path));
        }
        lx.p++;
        for (;;) {
                TomlArrayElement e = { .start = 0 };
                char c;

                skip_ws_nl_comments(&lx);
                if (peek(&lx, 0) == ']')
                        break;
                c = peek(&lx, 0);
                e.start = lx.p;
                e.line = lx.line;
                if ((c != '"' && c != '\'') || (peek(&lx, 1) == c && peek(&lx, 2) == c)) {
                        r = lex_error(&lx, lx.line, "only single-line strings are allowed in this array");
                        break;
                }
                r = c == '"' ? read_basic_string(&lx, &e.string) : read_literal_string(&lx, &e.string);
                if (r < 0)
                        break;
                e.end = lx.p;
                TomlArrayElement *grown = realloc(elements, (n + 1) * sizeof(TomlArrayElement));
                if (!grown) {
                        free(e.string);
                        r = lex_oom(&lx);
                        break;
                }
                elements = grown;
                elements[n++] = e;
                skip_ws_nl_comments(&lx);
                if (peek(&lx, 0) == ',') {
                        lx.p++;
                        continue;
                }
                break;
        }
        if (r < 0) {
                toml_array_elements_free(elements, n);
                return r;
        }
        *ret = elements;
        *ret_n = n;
        return 0;
}

/* ------------------------------------------------------------ writing */

char *toml_quote(const char *s) {
        _cleanup_(strbuf_done) StrBuf b = {};
        size_t len = strlen(s);
        char *quoted;

        if (!text_is_utf8(s, len)) {
                errno = EINVAL;
                return NULL;
        }
        /* A failed append is remembered: strbuf_steal() tells it. */
        (void) strbuf_reserve(&b, len + 2);
        (void) strbuf_putc(&b, '"');
        for (const char *p = s; *p; p++) {
                unsigned char c = (unsigned char) *p;

                switch (c) {
                case '"': (void) strbuf_puts(&b, "\\\""); break;
                case '\\': (void) strbuf_puts(&b, "\\\\"); break;
                case '\b': (void) strbuf_puts(&b, "\\b"); break;
                case '\t': (void) strbuf_puts(&b, "\\t"); break;
                case '\n': (void) strbuf_puts(&b, "\\n"); break;
                case '\f': (void) strbuf_puts(&b, "\\f"); break;
                case '\r': (void) strbuf_puts(&b, "\\r"); break;
                default:
                        if (c < 0x20 || c == 0x7f)
                                (void) strbuf_printf(&b, "\\u%04x", c);
                        else
                                (void) strbuf_putc(&b, (char) c);
                }
        }
        (void) strbuf_putc(&b, '"');
        quoted = strbuf_steal(&b);
        if (!quoted)
                errno = ENOMEM;
        return quoted;
}

static bool is_bare_key(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (!is_bare_key_char(*s))
                        return false;
        return true;
}

char *toml_path_to_string(const char *const *parts, size_t n) {
        _cleanup_(strbuf_done) StrBuf b = {};

        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        (void) strbuf_putc(&b, '.');
                if (is_bare_key(parts[i]))
                        (void) strbuf_puts(&b, parts[i]);
                else {
                        _cleanup_free_ char *q = toml_quote(parts[i]);

                        if (!q)
                                return NULL;
                        (void) strbuf_puts(&b, q);
                }
        }
        return strbuf_steal(&b);
}
