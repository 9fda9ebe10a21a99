/* SPDX-License-Identifier: MIT */
#pragma once

/* gRPC over HTTP/2 on unix sockets, as much of it as the kubelet device
 * plugin API needs, on sd-event and nghttp2 (grpc-conn.c):
 *
 * - a server of unary and server-streaming methods (grpc-server.c): one
 *   request message per call, uncompressed, at most GRPC_MAX_MESSAGE bytes;
 *   the answer is HEADERS, the response message(s), and trailers with
 *   grpc-status and grpc-message, or a trailers-only error;
 * - a client for one unary call (grpc-client.c).
 *
 * The wire format is gRPC's PROTOCOL-HTTP2: content-type application/grpc,
 * each message framed as 1 byte "compressed" (0) + 4 bytes big-endian
 * length + the message.  Handlers run on the loop and must not block. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "devplugin-rpc.h"

#define GRPC_MAX_MESSAGE (4 * 1024 * 1024)

/* ------------------------------------------------------------ server */

typedef struct GrpcServer GrpcServer;
typedef struct GrpcStream GrpcStream;

typedef GrpcStatus (*GrpcUnaryHandler)(void *userdata, const uint8_t *request, size_t size, GrpcReply *reply);
/* A server-streaming call: check the request; GRPC_STATUS_OK keeps the
 * stream open (messages may be sent on it at once and later), anything
 * else ends it with that status and reply's message. */
typedef GrpcStatus (*GrpcStreamHandler)(void *userdata, GrpcStream *stream, const uint8_t *request, size_t size,
                                        GrpcReply *reply);
/* An open stream ended: the client cancelled it or went away, or the
 * server is being freed.  stream is invalid afterwards. */
typedef void (*GrpcStreamClosed)(void *userdata, GrpcStream *stream);

typedef struct GrpcMethod {
        const char *path;         /* "/v1beta1.DevicePlugin/Allocate" */
        GrpcUnaryHandler unary;   /* one of the two */
        GrpcStreamHandler stream;
} GrpcMethod;

/* Serves on listen_fd (taken; a listening, non-blocking unix socket).
 * methods must outlive the server. */
int grpc_server_new(sd_event *event, int listen_fd, const GrpcMethod *methods, size_t n_methods,
                    GrpcStreamClosed stream_closed, void *userdata, GrpcServer **ret);
/* Closes every connection; stream_closed is called for each open stream. */
GrpcServer *grpc_server_free(GrpcServer *s);
unsigned grpc_server_n_connections(const GrpcServer *s);

/* Queues one message on an open stream; it goes out from the loop.
 * replace_queued: the messages still queued are dropped first (a message
 * already begun is finished), so that a peer that does not read gets the
 * latest state and holds no growing queue. */
int grpc_stream_send(GrpcStream *stream, const uint8_t *message, size_t size, bool replace_queued);

/* ------------------------------------------------------------ client */

typedef struct GrpcCall GrpcCall;

/* status and message: the call's outcome (the server's grpc-status and
 * grpc-message, or UNAVAILABLE/DEADLINE_EXCEEDED/INTERNAL made here);
 * response: the one response message when status is OK.  The callback may
 * free the call. */
typedef void (*GrpcCallDone)(GrpcCall *call, GrpcStatus status, const char *message, const uint8_t *response,
                             size_t size, void *userdata);

/* Connects to socket_path and makes one unary call.  A socket that cannot
 * be connected to is an error here (-ENOENT, -ECONNREFUSED, ...), not a
 * callback. */
int grpc_call_unary(sd_event *event, const char *socket_path, const char *method_path, const uint8_t *request,
                    size_t size, uint64_t timeout_usec, GrpcCallDone done, void *userdata, GrpcCall **ret);
/* Cancels the call if it is still running; done is not called. */
GrpcCall *grpc_call_free(GrpcCall *call);
