/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "grpc-wire.h"

void grpc_frame_append(GByteArray *out, const uint8_t *message, size_t size) {
        uint8_t header[GRPC_FRAME_HEADER] = {
                0, (uint8_t) (size >> 24), (uint8_t) (size >> 16), (uint8_t) (size >> 8), (uint8_t) size,
        };

        g_byte_array_append(out, header, sizeof(header));
        if (size > 0)
                g_byte_array_append(out, message, (guint) size);
}

int grpc_frame_parse_one(const uint8_t *data, size_t size, const uint8_t **ret_message, size_t *ret_size) {
        uint32_t len;

        if (size < GRPC_FRAME_HEADER)
                return -EBADMSG;
        if (data[0] == 1)
                return -EOPNOTSUPP;
        if (data[0] != 0)
                return -EBADMSG;
        len = (uint32_t) data[1] << 24 | (uint32_t) data[2] << 16 | (uint32_t) data[3] << 8 | data[4];
        if ((size_t) len != size - GRPC_FRAME_HEADER)
                return -EBADMSG;
        *ret_message = data + GRPC_FRAME_HEADER;
        *ret_size = len;
        return 0;
}

void grpc_frames_drop_unsent(GByteArray *out, size_t sent) {
        size_t pos = 0;

        while (pos + GRPC_FRAME_HEADER <= out->len) {
                const uint8_t *h = out->data + pos;
                size_t end = pos + GRPC_FRAME_HEADER +
                             ((size_t) h[1] << 24 | (size_t) h[2] << 16 | (size_t) h[3] << 8 | h[4]);

                if (sent < end) {
                        g_byte_array_set_size(out, (guint) (sent > pos ? MIN(end, out->len) : pos));
                        return;
                }
                pos = end;
        }
}

char *grpc_percent_encode(const char *s) {
        GString *out = g_string_new(NULL);

        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (*p < 0x20 || *p > 0x7e || *p == '%')
                        g_string_append_printf(out, "%%%02X", *p);
                else
                        g_string_append_c(out, (char) *p);
        }
        return g_string_free(out, false);
}

char *grpc_percent_decode(const char *s, size_t len) {
        GString *out = g_string_sized_new(len);

        for (size_t i = 0; i < len; i++) {
                if (s[i] == '%' && i + 2 < len && g_ascii_isxdigit(s[i + 1]) && g_ascii_isxdigit(s[i + 2])) {
                        g_string_append_c(out, (char) (g_ascii_xdigit_value(s[i + 1]) << 4 |
                                                       g_ascii_xdigit_value(s[i + 2])));
                        i += 2;
                } else
                        g_string_append_c(out, s[i]);
        }
        return g_string_free(out, false);
}

bool grpc_name_is(const uint8_t *name, size_t len, const char *what) {
        return len == strlen(what) && memcmp(name, what, len) == 0;
}
