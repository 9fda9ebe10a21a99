/* SPDX-License-Identifier: MIT */
#pragma once

/* gRPC's own bits of the wire, above HTTP/2 (grpc/doc/PROTOCOL-HTTP2.md):
 * the 5-byte message framing, grpc-message's percent-encoding, and header
 * helpers for nghttp2. */

#include <glib.h>
#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GRPC_FRAME_HEADER 5

/* An nghttp2_nv of two C strings (nghttp2 copies them). */
#define GRPC_NV(n, v)                                                                           \
        {                                                                                       \
                .name = (uint8_t *) (n), .value = (uint8_t *) (v), .namelen = strlen(n),        \
                .valuelen = strlen(v), .flags = NGHTTP2_NV_FLAG_NONE                           \
        }

/* Appends one uncompressed message, framed. */
void grpc_frame_append(GByteArray *out, const uint8_t *message, size_t size);
/* data holds exactly one framed message: *ret_message and *ret_size point
 * into data.  -EOPNOTSUPP: a compressed one; -EBADMSG: anything else. */
int grpc_frame_parse_one(const uint8_t *data, size_t size, const uint8_t **ret_message, size_t *ret_size);

/* out holds framed messages of which the first sent bytes are gone to the
 * peer: drops the messages not begun; one begun is kept whole. */
void grpc_frames_drop_unsent(GByteArray *out, size_t sent);

/* grpc-message: bytes outside 0x20-0x7e and '%' as %XX. */
char *grpc_percent_encode(const char *s);
/* The reverse; a malformed %XX is kept as it is, as the spec asks. */
char *grpc_percent_decode(const char *s, size_t len);

bool grpc_name_is(const uint8_t *name, size_t len, const char *what);
