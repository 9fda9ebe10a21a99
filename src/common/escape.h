/* SPDX-License-Identifier: MIT */
#pragma once

/* Text from elsewhere (a registry, an API server, a caller) shown to people:
 * control characters (C0, DEL and C1: what moves a terminal's cursor, sets
 * its title or its colours) and bytes that are not UTF-8 become \xNN, and a
 * backslash becomes \\, so what is shown is what was sent, and nothing
 * more. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length of the UTF-8 sequence at s (n > 0 bytes left), 0 when it is
 * invalid: overlong, a surrogate, above U+10FFFF, or cut short. */
size_t utf8_sequence_len(const unsigned char *s, size_t n);

/* cp, a Unicode scalar value, as UTF-8 in out (room for the length it
 * returns, 1 to 4 bytes). */
size_t utf8_encode_unichar(char *out, uint32_t cp);

/* Whether s (len bytes) is UTF-8 throughout (no overlong forms, no
 * surrogates). */
bool text_is_utf8(const char *s, size_t len);

/* Whether s (len bytes) holds a control character (C0, DEL or C1 in
 * UTF-8) or a byte sequence that is not UTF-8. */
bool text_has_control(const char *s, size_t len);

/* s escaped as above, at most max bytes of the input (then "..."); NULL on
 * OOM.  s NULL gives "". */
char *text_escape(const char *s, size_t max);

/* For display, where a backslash is just a backslash: control characters
 * and bytes that are not UTF-8 become \xNN, the rest is kept, written into
 * buf (size bytes, NUL-terminated); what does not fit is left out, never
 * half a character or half an escape.  Returns buf. */
const char *text_escape_controls_buf(const char *s, char *buf, size_t size);

/* Escapes in place into buf (size bytes, NUL-terminated, cut where it does
 * not fit); returns buf, for use in a printf argument list. */
const char *text_escape_buf(const char *s, char *buf, size_t size);
