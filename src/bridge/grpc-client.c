/* SPDX-License-Identifier: MIT */

/* The gRPC client side (grpc.h): one unary call on a connection of its own,
 * an nghttp2 client session (grpc-conn.c).  The outcome is reported from
 * the loop once the stream has closed, the connection has ended or the
 * deadline has passed, whichever comes first. */

#include <assert.h>
#include <glib.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "grpc-conn.h"
#include "grpc-wire.h"
#include "grpc.h"
#include "log.h"
#include "macro.h"

struct GrpcCall {
        sd_event *event;
        GrpcConn *conn;
        sd_event_source *timer;
        sd_event_source *report;
        nghttp2_session_callbacks *callbacks;
        char *path;
        GByteArray *request;
        size_t request_pos;
        int32_t stream_id;

        int http_status;
        int grpc_status;         /* -1: none received */
        char *grpc_message;
        GByteArray *response;
        bool too_large;

        bool finished;           /* the outcome is known */
        GrpcStatus status;
        char *message;
        GrpcCallDone done;
        void *userdata;
};

static void finish(GrpcCall *c, GrpcStatus status, const char *fmt, ...) _printf_(3, 4);
static void finish(GrpcCall *c, GrpcStatus status, const char *fmt, ...) {
        va_list ap;

        if (c->finished)
                return;
        c->finished = true;
        c->status = status;
        va_start(ap, fmt);
        c->message = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        /* Reported from the loop: never from inside nghttp2 or the caller. */
        (void) sd_event_source_set_enabled(c->report, SD_EVENT_ONESHOT);
}

/* The server's answer, once the stream is closed. */
static void finish_from_response(GrpcCall *c, uint32_t error_code) {
        const uint8_t *msg;
        size_t size;

        if (c->http_status != 200) {
                if (c->http_status == 0)
                        finish(c, GRPC_STATUS_UNAVAILABLE, "the stream ended without a response (%s)",
                               nghttp2_http2_strerror(error_code));
                else
                        finish(c, GRPC_STATUS_UNKNOWN, "HTTP status %d", c->http_status);
                return;
        }
        if (c->grpc_status < 0) {
                finish(c, GRPC_STATUS_INTERNAL, "the response has no grpc-status (%s)",
                       nghttp2_http2_strerror(error_code));
                return;
        }
        if (c->grpc_status != GRPC_STATUS_OK) {
                finish(c, (GrpcStatus) c->grpc_status, "%s", strempty(c->grpc_message));
                return;
        }
        if (c->too_large || grpc_frame_parse_one(c->response->data, c->response->len, &msg, &size) < 0) {
                finish(c, GRPC_STATUS_INTERNAL, "the response is not one gRPC message");
                return;
        }
        finish(c, GRPC_STATUS_OK, "%s", "");
}

static int on_report(sd_event_source *s, void *userdata) {
        GrpcCall *c = userdata;
        const uint8_t *msg = NULL;
        size_t size = 0;

        if (c->status == GRPC_STATUS_OK)
                (void) grpc_frame_parse_one(c->response->data, c->response->len, &msg, &size);
        c->done(c, c->status, c->message, msg, size, c->userdata); /* may free c */
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        GrpcCall *c = userdata;

        finish(c, GRPC_STATUS_DEADLINE_EXCEEDED, "no answer in time");
        return 0;
}

static ssize_t read_request(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                            uint32_t *data_flags, nghttp2_data_source *source, void *user_data) {
        GrpcCall *c = source->ptr;
        size_t n = MIN(length, c->request->len - c->request_pos);

        memcpy(buf, c->request->data + c->request_pos, n);
        c->request_pos += n;
        if (c->request_pos == c->request->len)
                *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t) n;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data) {
        GrpcCall *c = user_data;
        g_autofree char *v = NULL;

        if (frame->hd.type != NGHTTP2_HEADERS || frame->hd.stream_id != c->stream_id)
                return 0;
        v = g_strndup((const char *) value, valuelen);
        if (grpc_name_is(name, namelen, ":status"))
                c->http_status = atoi(v);
        else if (grpc_name_is(name, namelen, "grpc-status")) {
                char *end;
                long s = strtol(v, &end, 10);

                c->grpc_status = (*v && !*end && s >= 0 && s <= 16) ? (int) s : GRPC_STATUS_UNKNOWN;
        } else if (grpc_name_is(name, namelen, "grpc-message")) {
                g_free(c->grpc_message);
                c->grpc_message = grpc_percent_decode(v, valuelen);
        }
        return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data,
                         size_t len, void *user_data) {
        GrpcCall *c = user_data;

        if (stream_id != c->stream_id)
                return 0;
        if (c->too_large || c->response->len + len > GRPC_MAX_MESSAGE + GRPC_FRAME_HEADER) {
                c->too_large = true;
                return 0;
        }
        g_byte_array_append(c->response, data, (guint) len);
        return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data) {
        GrpcCall *c = user_data;

        if (stream_id != c->stream_id)
                return 0;
        finish_from_response(c, error_code);
        /* One call per connection: say goodbye. */
        (void) nghttp2_session_terminate_session(session, NGHTTP2_NO_ERROR);
        return 0;
}

static void on_conn_closed(GrpcConn *conn, int error, void *userdata) {
        GrpcCall *c = userdata;

        if (error < 0)
                finish(c, GRPC_STATUS_UNAVAILABLE, "the connection failed: %s", strerror(-error));
        else
                finish(c, GRPC_STATUS_UNAVAILABLE, "the server closed the connection");
}

static int connect_unix(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* A unix socket connects at once or not at all (EAGAIN: the
         * listener's backlog is full; the caller tries again later). */
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

int grpc_call_unary(sd_event *event, const char *socket_path, const char *method_path, const uint8_t *request,
                    size_t size, uint64_t timeout_usec, GrpcCallDone done, void *userdata, GrpcCall **ret) {
        GrpcCall *c;
        nghttp2_session *session;
        uint64_t now;
        int fd, r;

        assert(event);
        assert(socket_path);
        assert(method_path);
        assert(done);
        assert(ret);

        fd = connect_unix(socket_path);
        if (fd < 0)
                return fd;

        c = g_new0(GrpcCall, 1);
        c->event = sd_event_ref(event);
        c->path = g_strdup(method_path);
        c->request = g_byte_array_new();
        c->response = g_byte_array_new();
        c->grpc_status = -1;
        c->done = done;
        c->userdata = userdata;
        grpc_frame_append(c->request, request, size);

        if (nghttp2_session_callbacks_new(&c->callbacks) != 0) {
                close(fd);
                grpc_call_free(c);
                return -ENOMEM;
        }
        nghttp2_session_callbacks_set_on_header_callback(c->callbacks, on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c->callbacks, on_data_chunk);
        nghttp2_session_callbacks_set_on_stream_close_callback(c->callbacks, on_stream_close);

        r = grpc_conn_new(event, fd, false, c->callbacks, NULL, c, on_conn_closed, NULL, c, &c->conn);
        if (r < 0) {
                grpc_call_free(c);
                return r;
        }
        r = sd_event_add_defer(event, &c->report, on_report, c);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->report, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_now(event, CLOCK_MONOTONIC, &now);
        if (r >= 0)
                r = sd_event_add_time(event, &c->timer, CLOCK_MONOTONIC, now + timeout_usec, 0, on_timeout, c);
        if (r < 0) {
                grpc_call_free(c);
                return r;
        }

        session = grpc_conn_session(c->conn);
        {
                nghttp2_nv nva[] = {
                        GRPC_NV(":method", "POST"),
                        GRPC_NV(":scheme", "http"),
                        GRPC_NV(":path", c->path),
                        GRPC_NV(":authority", "localhost"),
                        GRPC_NV("content-type", "application/grpc"),
                        GRPC_NV("te", "trailers"),
                };
                nghttp2_data_provider provider = { .source.ptr = c, .read_callback = read_request };

                (void) nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, NULL, 0);
                c->stream_id = nghttp2_submit_request(session, NULL, nva, ELEMENTSOF(nva), &provider, c);
        }
        if (c->stream_id < 0) {
                r = -ENOMEM;
                grpc_call_free(c);
                return r;
        }
        grpc_conn_want_write(c->conn);
        *ret = c;
        return 0;
}

GrpcCall *grpc_call_free(GrpcCall *c) {
        if (!c)
                return NULL;
        grpc_conn_free(c->conn);
        sd_event_source_disable_unref(c->timer);
        sd_event_source_disable_unref(c->report);
        if (c->callbacks)
                nghttp2_session_callbacks_del(c->callbacks);
        g_free(c->path);
        g_byte_array_unref(c->request);
        g_byte_array_unref(c->response);
        g_free(c->grpc_message);
        g_free(c->message);
        sd_event_unref(c->event);
        g_free(c);
        return NULL;
}
