/* SPDX-License-Identifier: MIT */
#pragma once

/* A growable, always NUL-terminated text buffer.  A failed allocation is
 * remembered (oom) and later appends do nothing, so a writer may append a
 * whole document and check once at the end. */

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

typedef struct StrBuf {
        char *data;      /* NULL until the first append */
        size_t len;
        size_t allocated;
        bool oom;
} StrBuf;

/* Room for more bytes and the NUL; -ENOMEM (and oom) when there is none. */
int strbuf_reserve(StrBuf *b, size_t more);
int strbuf_put(StrBuf *b, const void *data, size_t n);
int strbuf_puts(StrBuf *b, const char *s);
int strbuf_putc(StrBuf *b, char c);
int strbuf_printf(StrBuf *b, const char *fmt, ...) _printf_(2, 3);
/* The text ("" when nothing was appended), handed over; NULL after oom. */
char *strbuf_steal(StrBuf *b);
void strbuf_done(StrBuf *b);
