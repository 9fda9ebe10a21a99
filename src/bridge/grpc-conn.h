/* SPDX-License-Identifier: MIT */
#pragma once

/* One HTTP/2 connection on a non-blocking unix socket, driven from
 * sd-event: what grpc-server.c and grpc-client.c share.  nghttp2 does the
 * protocol (frames, HPACK, flow control, PING, SETTINGS); this file moves
 * its bytes: the socket's input into nghttp2_session_mem_recv(), and
 * nghttp2_session_mem_send()'s output into the socket, keeping what the
 * socket does not take until it is writable again.  Nothing here blocks.
 *
 * The session's callbacks belong to the owner.  Output the owner queues
 * outside of them (grpc_conn_want_write()) goes out from a deferred event
 * source, so that a write error never closes the connection under a caller
 * that is iterating its own records.  When the connection ends (the peer
 * closed it, an I/O or protocol error, or nothing more to read or write),
 * closed() is called last, from the loop; the owner frees the connection
 * there or later. */

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

typedef struct GrpcConn GrpcConn;

/* error: 0 for an orderly end, else a negative errno or -EPROTO. */
typedef void (*GrpcConnClosed)(GrpcConn *c, int error, void *userdata);
/* After each round of input: the owner may act on what the callbacks
 * recorded (and may free the connection). */
typedef void (*GrpcConnAfterInput)(GrpcConn *c, void *userdata);

/* Takes fd (closed on failure too).  server: the session is a server's.  option may be NULL.
 * session_userdata is what nghttp2's callbacks get. */
int grpc_conn_new(sd_event *event, int fd, bool server, const nghttp2_session_callbacks *callbacks,
                  const nghttp2_option *option, void *session_userdata, GrpcConnClosed closed, GrpcConnAfterInput after_input, void *userdata,
                  GrpcConn **ret);
GrpcConn *grpc_conn_free(GrpcConn *c);

nghttp2_session *grpc_conn_session(GrpcConn *c);
/* The session has output queued (a submit, resumed data). */
void grpc_conn_want_write(GrpcConn *c);
