/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdarg.h>
#include <stdint.h>

#include "strbuf.h"

int strbuf_reserve(StrBuf *b, size_t more) {
        size_t want;
        char *p;

        assert(b);

        if (b->oom)
                return -ENOMEM;
        if (b->allocated > b->len && b->allocated - b->len > more)
                return 0;
        if (more > SIZE_MAX / 2 - b->len)
                goto oom;
        want = b->allocated ? b->allocated : 64;
        while (want - b->len <= more)
                want *= 2;
        p = realloc(b->data, want);
        if (!p)
                goto oom;
        b->data = p;
        b->allocated = want;
        return 0;
oom:
        b->oom = true;
        return -ENOMEM;
}

int strbuf_put(StrBuf *b, const void *data, size_t n) {
        if (strbuf_reserve(b, n) < 0)
                return -ENOMEM;
        memcpy(b->data + b->len, data, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
}

int strbuf_puts(StrBuf *b, const char *s) {
        return strbuf_put(b, s, strlen(s));
}

int strbuf_putc(StrBuf *b, char c) {
        return strbuf_put(b, &c, 1);
}

int strbuf_printf(StrBuf *b, const char *fmt, ...) {
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
                b->oom = true;
                return -ENOMEM;
        }
        if (strbuf_reserve(b, (size_t) k) < 0)
                return -ENOMEM;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->allocated - b->len, fmt, ap);
        va_end(ap);
        b->len += (size_t) k;
        return 0;
}

char *strbuf_steal(StrBuf *b) {
        char *s;

        if (!b->oom && !b->data)
                (void) strbuf_reserve(b, 0);
        if (b->oom) {
                strbuf_done(b);
                return NULL;
        }
        b->data[b->len] = '\0';
        s = TAKE_PTR(b->data);
        *b = (StrBuf) {};
        return s;
}

void strbuf_done(StrBuf *b) {
        free(b->data);
        *b = (StrBuf) {};
}
