/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <inttypes.h>

#include "ctl-json.h"

static bool json_pretty;

void json_set_pretty(bool pretty) {
        json_pretty = pretty;
}

void json_writer_init(JsonWriter *w, FILE *f) {
        assert(w);
        assert(f);

        *w = (JsonWriter) { .f = f, .pretty = json_pretty };
}

static void newline_indent(JsonWriter *w) {
        fputc('\n', w->f);
        for (unsigned i = 0; i < w->depth; i++)
                fputc('\t', w->f);
}

void json_write_escaped(FILE *f, const char *s) {
        assert(f);
        assert(s);

        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                switch (*p) {
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '\b':
                        fputs("\\b", f);
                        break;
                case '\f':
                        fputs("\\f", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\r':
                        fputs("\\r", f);
                        break;
                case '\t':
                        fputs("\\t", f);
                        break;
                default:
                        /* Bytes from 0x80 up pass through: D-Bus strings
                         * are valid UTF-8, and so is the output. */
                        if (*p < 0x20 || *p == 0x7f)
                                fprintf(f, "\\u%04x", *p);
                        else
                                fputc(*p, f);
                }
        fputc('"', f);
}

/* The separator a value needs before it: none right after a key, a comma
 * after an earlier value at the same depth. */
static void value_prefix(JsonWriter *w) {
        if (w->after_key) {
                w->after_key = false;
                return;
        }
        if (w->need_comma[w->depth])
                fputc(',', w->f);
        w->need_comma[w->depth] = true;
        /* Pretty: each member of an object or array on a line of its own. */
        if (w->pretty && w->depth > 0)
                newline_indent(w);
        w->empty[w->depth] = false;
}

static void begin(JsonWriter *w, char c) {
        assert(w->depth < JSON_DEPTH_MAX);

        value_prefix(w);
        fputc(c, w->f);
        w->depth++;
        w->need_comma[w->depth] = false;
        w->empty[w->depth] = true;
}

static void end(JsonWriter *w, char c) {
        assert(w->depth > 0);
        assert(!w->after_key);

        w->depth--;
        if (w->pretty && !w->empty[w->depth + 1])
                newline_indent(w);
        fputc(c, w->f);
}

void json_begin_object(JsonWriter *w) {
        begin(w, '{');
}

void json_end_object(JsonWriter *w) {
        end(w, '}');
}

void json_begin_array(JsonWriter *w) {
        begin(w, '[');
}

void json_end_array(JsonWriter *w) {
        end(w, ']');
}

void json_key(JsonWriter *w, const char *key) {
        assert(w->depth > 0);
        assert(!w->after_key);

        value_prefix(w);
        json_write_escaped(w->f, key);
        fputs(w->pretty ? " : " : ":", w->f);
        w->after_key = true;
}

void json_null(JsonWriter *w) {
        value_prefix(w);
        fputs("null", w->f);
}

void json_string(JsonWriter *w, const char *s) {
        if (!s) {
                json_null(w);
                return;
        }
        value_prefix(w);
        json_write_escaped(w->f, s);
}

void json_string_or_null(JsonWriter *w, const char *s) {
        json_string(w, s && *s ? s : NULL);
}

void json_bool(JsonWriter *w, bool b) {
        value_prefix(w);
        fputs(b ? "true" : "false", w->f);
}

void json_int(JsonWriter *w, int64_t i) {
        value_prefix(w);
        fprintf(w->f, "%" PRIi64, i);
}
