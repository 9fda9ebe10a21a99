/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdbool.h>

#include "escape.h"
#include "oci-reference.h"
#include "report-reader.h"

/* ---------------------------------------------------------- the JSON subset */

typedef enum JvKind {
        JV_NULL,
        JV_INT,
        JV_STRING,
        JV_ARRAY,
        JV_OBJECT,
} JvKind;

typedef struct Jv {
        JvKind kind;
        uint64_t integer;
        char *string;
        struct Jv *items;     /* elements, or the members' values */
        char **names;         /* the members' names */
        size_t n;
} Jv;

static void jv_done(Jv *v) {
        for (size_t i = 0; i < v->n; i++) {
                jv_done(&v->items[i]);
                if (v->names)
                        free(v->names[i]);
        }
        free(v->items);
        free(v->names);
        free(v->string);
        *v = (Jv) {};
}

typedef struct Parser {
        const char *s;
        size_t len, pos;
        const char *problem;
} Parser;

static int fail(Parser *p, const char *problem) {
        if (!p->problem)
                p->problem = problem;
        return -EBADMSG;
}

static void skip_ws(Parser *p) {
        while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\r'))
                p->pos++;
}

static int hex4(Parser *p, uint32_t *ret) {
        uint32_t v = 0;

        if (p->len - p->pos < 4)
                return fail(p, "bad escape in a string");
        for (int i = 0; i < 4; i++) {
                char c = p->s[p->pos++];
                int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
                        c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

                if (d < 0)
                        return fail(p, "bad escape in a string");
                v = v << 4 | (uint32_t) d;
        }
        *ret = v;
        return 0;
}

/* At the opening quote.  A decoded string is never longer than its text. */
static int parse_string(Parser *p, char **ret) {
        size_t start = ++p->pos, o = 0;
        _cleanup_free_ char *out = NULL;

        while (p->pos < p->len && p->s[p->pos] != '"')
                p->pos += p->s[p->pos] == '\\' && p->pos + 1 < p->len ? 2 : 1;
        if (p->pos >= p->len)
                return fail(p, "unterminated string");
        out = malloc(p->pos - start + 1);
        if (!out)
                return -ENOMEM;
        for (size_t i = start; i < p->pos;) {
                unsigned char c = (unsigned char) p->s[i];
                uint32_t cp, low;
                int r;

                if (c < 0x20)
                        return fail(p, "control character in a string");
                if (c != '\\') {
                        out[o++] = (char) c;
                        i++;
                        continue;
                }
                switch (p->s[i + 1]) {
                case '"': out[o++] = '"'; i += 2; continue;
                case '\\': out[o++] = '\\'; i += 2; continue;
                case '/': out[o++] = '/'; i += 2; continue;
                case 'b': out[o++] = '\b'; i += 2; continue;
                case 'f': out[o++] = '\f'; i += 2; continue;
                case 'n': out[o++] = '\n'; i += 2; continue;
                case 'r': out[o++] = '\r'; i += 2; continue;
                case 't': out[o++] = '\t'; i += 2; continue;
                case 'u': break;
                default: return fail(p, "bad escape in a string");
                }
                {
                        Parser sub = { .s = p->s, .len = p->pos, .pos = i + 2 };

                        r = hex4(&sub, &cp);
                        if (r >= 0 && cp >= 0xd800 && cp <= 0xdbff) {
                                if (sub.len - sub.pos < 6 || p->s[sub.pos] != '\\' || p->s[sub.pos + 1] != 'u')
                                        return fail(p, "lone surrogate in a string");
                                sub.pos += 2;
                                r = hex4(&sub, &low);
                                if (r >= 0 && (low < 0xdc00 || low > 0xdfff))
                                        return fail(p, "lone surrogate in a string");
                                cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                        } else if (r >= 0 && cp >= 0xdc00 && cp <= 0xdfff)
                                return fail(p, "lone surrogate in a string");
                        if (r < 0)
                                return fail(p, "bad escape in a string");
                        if (cp == 0)
                                return fail(p, "NUL in a string");
                        o += utf8_encode_unichar(out + o, cp);
                        i = sub.pos;
                }
        }
        out[o] = '\0';
        if (!text_is_utf8(out, o))
                return fail(p, "string is not UTF-8");
        p->pos++;
        *ret = TAKE_PTR(out);
        return 0;
}

static int parse_integer(Parser *p, uint64_t *ret) {
        uint64_t v = 0;
        size_t start = p->pos;

        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
                unsigned d = (unsigned) (p->s[p->pos] - '0');

                if (v > (UINT64_C(0x7fffffffffffffff) - d) / 10)
                        return fail(p, "number too large");
                v = v * 10 + d;
                p->pos++;
        }
        if (p->pos - start > 1 && p->s[start] == '0')
                return fail(p, "number with a leading zero");
        if (p->pos < p->len && (p->s[p->pos] == '.' || p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
                return fail(p, "number that is not an integer");
        *ret = v;
        return 0;
}

static int parse_value(Parser *p, unsigned depth, Jv *v);

/* Arrays and objects: items separated by commas, at most REPORT_ITEMS_MAX. */
static int parse_container(Parser *p, unsigned depth, Jv *v) {
        bool object = p->s[p->pos] == '{';
        char close = object ? '}' : ']';
        size_t allocated = 0;
        int r;

        v->kind = object ? JV_OBJECT : JV_ARRAY;
        p->pos++;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == close) {
                p->pos++;
                return 0;
        }
        for (;;) {
                char *name = NULL;

                if (v->n >= REPORT_ITEMS_MAX)
                        return fail(p, "too many items");
                if (v->n == allocated) {
                        size_t want = allocated ? 2 * allocated : 4;
                        Jv *items = realloc(v->items, want * sizeof(Jv));

                        if (!items)
                                return -ENOMEM;
                        v->items = items;
                        if (object) {
                                char **names = realloc(v->names, want * sizeof(char *));

                                if (!names)
                                        return -ENOMEM;
                                v->names = names;
                        }
                        allocated = want;
                }
                skip_ws(p);
                if (object) {
                        if (p->pos >= p->len || p->s[p->pos] != '"')
                                return fail(p, "object member without a name");
                        r = parse_string(p, &name);
                        if (r < 0)
                                return r;
                        for (size_t i = 0; i < v->n; i++)
                                if (streq(v->names[i], name)) {
                                        free(name);
                                        return fail(p, "member given twice");
                                }
                        skip_ws(p);
                        if (p->pos >= p->len || p->s[p->pos] != ':') {
                                free(name);
                                return fail(p, "object member without a value");
                        }
                        p->pos++;
                        v->names[v->n] = name;
                }
                v->items[v->n] = (Jv) {};
                v->n++;
                r = parse_value(p, depth + 1, &v->items[v->n - 1]);
                if (r < 0)
                        return r;
                skip_ws(p);
                if (p->pos < p->len && p->s[p->pos] == ',') {
                        p->pos++;
                        continue;
                }
                if (p->pos < p->len && p->s[p->pos] == close) {
                        p->pos++;
                        return 0;
                }
                return fail(p, object ? "unterminated object" : "unterminated array");
        }
}

static int parse_value(Parser *p, unsigned depth, Jv *v) {
        char c;

        skip_ws(p);
        if (p->pos >= p->len)
                return fail(p, "value missing");
        c = p->s[p->pos];
        if (c == '{' || c == '[') {
                if (depth >= REPORT_DEPTH_MAX)
                        return fail(p, "nested too deeply");
                return parse_container(p, depth, v);
        }
        if (c == '"') {
                v->kind = JV_STRING;
                return parse_string(p, &v->string);
        }
        if (c >= '0' && c <= '9') {
                v->kind = JV_INT;
                return parse_integer(p, &v->integer);
        }
        if (p->len - p->pos >= 4 && memcmp(p->s + p->pos, "null", 4) == 0) {
                v->kind = JV_NULL;
                p->pos += 4;
                return 0;
        }
        return fail(p, c == '-' ? "negative number" : "not JSON");
}

/* ------------------------------------------------------------- the shape */

static const Jv *member(const Jv *o, const char *name) {
        for (size_t i = 0; i < o->n; i++)
                if (streq(o->names[i], name))
                        return &o->items[i];
        return NULL;
}

/* Exactly these members, each once. */
static bool only_members(const Jv *o, const char *const *names) {
        size_t n = 0;

        if (o->kind != JV_OBJECT)
                return false;
        for (; names[n]; n++)
                if (!member(o, names[n]))
                        return false;
        return o->n == n;
}

static const char *get_string(const Jv *o, const char *name) {
        const Jv *v = member(o, name);

        return v && v->kind == JV_STRING ? v->string : NULL;
}

static bool get_uint(const Jv *o, const char *name, uint64_t *ret) {
        const Jv *v = member(o, name);

        if (!v || v->kind != JV_INT)
                return false;
        *ret = v->integer;
        return true;
}

static int take_result(const Jv *o, ReportLine *ret, const char **problem) {
        static const char *const names[] = { "manifest", "layers", NULL };
        static const char *const layer_names[] = { "digest", "size", "media-type", "title", NULL };
        _cleanup_(oci_pull_result_freep) OciPullResult *res = NULL;
        const char *manifest;
        const Jv *layers;

        if (!only_members(o, names))
                return *problem = "bad result", -EBADMSG;
        manifest = get_string(o, "manifest");
        if (!manifest || !oci_digest_is_valid(manifest))
                return *problem = "bad manifest digest", -EBADMSG;
        layers = member(o, "layers");
        if (layers->kind != JV_ARRAY || layers->n == 0)
                return *problem = "no layers", -EBADMSG;

        res = calloc(1, sizeof(*res));
        if (!res || !(res->manifest_digest = strdup(manifest)) || !(res->layers = calloc(layers->n, sizeof(OciLayer))))
                return -ENOMEM;
        for (size_t i = 0; i < layers->n; i++) {
                const Jv *e = &layers->items[i], *title;
                OciLayer *l = &res->layers[i];
                const char *digest, *media_type;

                res->n_layers++;
                if (!only_members(e, layer_names))
                        return *problem = "bad layer", -EBADMSG;
                digest = get_string(e, "digest");
                media_type = get_string(e, "media-type");
                title = member(e, "title");
                if (!digest || !oci_digest_is_valid(digest) || !media_type || !media_type[0] ||
                    !get_uint(e, "size", &l->size) || (title->kind != JV_NULL && title->kind != JV_STRING))
                        return *problem = "bad layer", -EBADMSG;
                if (!(l->digest = strdup(digest)) || !(l->media_type = strdup(media_type)) ||
                    (title->kind == JV_STRING && !(l->title = strdup(title->string))))
                        return -ENOMEM;
        }
        ret->kind = REPORT_RESULT;
        ret->result = TAKE_PTR(res);
        return 0;
}

static int take_error(const Jv *o, ReportLine *ret, const char **problem) {
        static const char *const names[] = { "kind", "message", NULL };
        const char *kind, *message;

        if (!only_members(o, names) || !(kind = get_string(o, "kind")) || !(message = get_string(o, "message")))
                return *problem = "bad error", -EBADMSG;
        for (CcErrorKind k = CC_ERROR_NONE + 1; k < _CC_ERROR_KIND_MAX; k++)
                if (streq(kind, cc_error_kind_to_string(k))) {
                        ret->error_message = strdup(message);
                        if (!ret->error_message)
                                return -ENOMEM;
                        ret->kind = REPORT_ERROR;
                        ret->error_kind = k;
                        return 0;
                }
        return *problem = "unknown error kind", -EBADMSG;
}

void report_line_done(ReportLine *l) {
        if (!l)
                return;
        oci_pull_result_free(l->result);
        free(l->error_message);
        *l = (ReportLine) {};
}

int report_line_parse(const char *line, size_t len, ReportLine *ret, const char **ret_problem) {
        static const char *const progress_names[] = { "done", "total", NULL };
        static const char *const exec_failed_names[] = { "errno", NULL };
        uint64_t e;
        Parser p = { .s = line, .len = len };
        ReportLine l = {};
        const char *problem = NULL;
        Jv root = {}, *value;
        int r;

        assert(line || len == 0);
        assert(ret);

        if (len > REPORT_LINE_MAX) {
                r = fail(&p, "line too long");
                goto finish;
        }
        r = parse_value(&p, 0, &root);
        if (r >= 0) {
                skip_ws(&p);
                if (p.pos != p.len)
                        r = fail(&p, "more after the value");
        }
        if (r < 0)
                goto finish;
        if (root.kind != JV_OBJECT || root.n != 1 || root.items[0].kind != JV_OBJECT) {
                r = fail(&p, "not an object of one object");
                goto finish;
        }
        value = &root.items[0];
        if (streq(root.names[0], "progress")) {
                if (!only_members(value, progress_names) || !get_uint(value, "done", &l.done) ||
                    !get_uint(value, "total", &l.total) || l.done > l.total)
                        r = fail(&p, "bad progress");
                else
                        l.kind = REPORT_PROGRESS;
        } else if (streq(root.names[0], "result"))
                r = take_result(value, &l, &problem);
        else if (streq(root.names[0], "error"))
                r = take_error(value, &l, &problem);
        else if (streq(root.names[0], "exec-failed")) {
                if (!only_members(value, exec_failed_names) || !get_uint(value, "errno", &e) || e == 0 || e > 4095)
                        r = fail(&p, "bad exec failure");
                else {
                        l.kind = REPORT_EXEC_FAILED;
                        l.exec_errno = (int) e;
                }
        }        else
                r = fail(&p, "unknown line");
        if (problem)
                (void) fail(&p, problem);
finish:
        jv_done(&root);
        if (r < 0) {
                report_line_done(&l);
                if (ret_problem)
                        *ret_problem = r == -ENOMEM ? "out of memory" : p.problem;
                return r;
        }
        *ret = l;
        return 0;
}

/* ------------------------------------------------------------ the lines */

void report_reader_done(ReportReader *r) {
        if (!r)
                return;
        free(r->buf);
        *r = (ReportReader) {};
}

bool report_reader_pending(const ReportReader *r) {
        return r->size > 0;
}

int report_reader_feed(ReportReader *r, const char *data, size_t n,
                       int (*line)(void *userdata, const char *line, size_t len), void *userdata,
                       const char **ret_problem) {
        size_t start = 0, lines = 0;
        char *nl;
        int k;

        assert(r);
        assert(data || n == 0);
        assert(n <= REPORT_READ_MAX);
        assert(line);

        if (n > 0) {
                char *b = realloc(r->buf, r->size + n);

                if (!b)
                        return -ENOMEM;
                r->buf = b;
                memcpy(r->buf + r->size, data, n);
                r->size += n;
        }
        /* Only the new bytes are searched: a long line costs its length once. */
        while ((nl = memchr(r->buf + start + r->scanned, '\n', r->size - start - r->scanned))) {
                size_t len = (size_t) (nl - (r->buf + start));

                r->scanned = 0;
                if (++lines > REPORT_LINES_PER_WAKEUP) {
                        *ret_problem = "too many lines at once";
                        return -EBADMSG;
                }
                if (len > REPORT_LINE_MAX) {
                        *ret_problem = "line too long";
                        return -EBADMSG;
                }
                k = line(userdata, r->buf + start, len);
                start += len + 1;
                if (k < 0)
                        return k;
        }
        memmove(r->buf, r->buf + start, r->size - start);
        r->size -= start;
        r->scanned = r->size;
        if (r->size > REPORT_LINE_MAX) {
                *ret_problem = "line too long";
                return -EBADMSG;
        }
        return 0;
}
