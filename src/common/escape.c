/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"

size_t utf8_sequence_len(const unsigned char *s, size_t n) {
        size_t k;
        uint32_t cp;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                k = 2, cp = s[0] & 0x1f;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                k = 3, cp = s[0] & 0x0f;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                k = 4, cp = s[0] & 0x07;
        else
                return 0;
        if (n < k)
                return 0;
        for (size_t i = 1; i < k; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return k;
}

size_t utf8_encode_unichar(char *out, uint32_t cp) {
        if (cp < 0x80) {
                out[0] = (char) cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char) (0xc0 | cp >> 6);
                out[1] = (char) (0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (char) (0xe0 | cp >> 12);
                out[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
                out[2] = (char) (0x80 | (cp & 0x3f));
                return 3;
        }
        out[0] = (char) (0xf0 | cp >> 18);
        out[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char) (0x80 | (cp & 0x3f));
        return 4;
}

/* C0, DEL, and C1 (U+0080..U+009F, 0xc2 0x80..0x9f in UTF-8). */
static bool is_control(const unsigned char *s, size_t k) {
        if (k == 1)
                return s[0] < 0x20 || s[0] == 0x7f;
        return k == 2 && s[0] == 0xc2 && s[1] < 0xa0;
}

bool text_is_utf8(const char *s, size_t len) {
        const unsigned char *p = (const unsigned char *) s;

        for (size_t i = 0; i < len;) {
                size_t k = utf8_sequence_len(p + i, len - i);

                if (k == 0)
                        return false;
                i += k;
        }
        return true;
}

bool text_has_control(const char *s, size_t len) {
        const unsigned char *p = (const unsigned char *) s;

        for (size_t i = 0; i < len;) {
                size_t k = utf8_sequence_len(p + i, len - i);

                if (k == 0 || is_control(p + i, k))
                        return true;
                i += k;
        }
        return false;
}

/* Writes the escaped form of at most max input bytes into out (room for
 * 4 * max + 4 bytes) and returns its length. */
static size_t escape_into(const char *s, size_t max, char *out) {
        const unsigned char *p = (const unsigned char *) s;
        size_t len = strlen(s), o = 0;

        for (size_t i = 0; i < len;) {
                size_t k = utf8_sequence_len(p + i, len - i);

                if (i + (k ? k : 1) > max) {
                        memcpy(out + o, "...", 3);
                        o += 3;
                        break;
                }
                if (k == 0 || is_control(p + i, k)) {
                        for (size_t j = 0; j < (k ? k : 1); j++)
                                o += (size_t) sprintf(out + o, "\\x%02x", p[i + j]);
                        i += k ? k : 1;
                } else if (p[i] == '\\') {
                        out[o++] = '\\';
                        out[o++] = '\\';
                        i++;
                } else {
                        memcpy(out + o, p + i, k);
                        o += k;
                        i += k;
                }
        }
        out[o] = '\0';
        return o;
}

char *text_escape(const char *s, size_t max) {
        char *out;

        if (!s)
                return strdup("");
        if (max > strlen(s))
                max = strlen(s);
        out = malloc(4 * max + 4);
        if (!out)
                return NULL;
        escape_into(s, max, out);
        return out;
}

const char *text_escape_buf(const char *s, char *buf, size_t size) {
        char *e;

        if (size == 0)
                return buf;
        /* Each input byte takes at most 4 output bytes. */
        e = text_escape(s, size / 4 > 1 ? size / 4 - 1 : 0);
        snprintf(buf, size, "%s", e ? e : "");
        free(e);
        return buf;
}

const char *text_escape_controls_buf(const char *s, char *buf, size_t size) {
        const unsigned char *p = (const unsigned char *) s;
        size_t len = strlen(s), o = 0;

        if (size == 0)
                return buf;
        for (size_t i = 0; i < len;) {
                size_t k = utf8_sequence_len(p + i, len - i), n = k ? k : 1;

                if (k == 0 || is_control(p + i, k)) {
                        if (o + 4 * n >= size)
                                break;
                        for (size_t j = 0; j < n; j++)
                                o += (size_t) snprintf(buf + o, size - o, "\\x%02x", p[i + j]);
                } else {
                        if (o + k >= size)
                                break;
                        memcpy(buf + o, p + i, k);
                        o += k;
                }
                i += n;
        }
        buf[o] = '\0';
        return buf;
}
