/* SPDX-License-Identifier: MIT */

/* The gRPC server side (grpc.h): connections accepted on a listening unix
 * socket, each an nghttp2 server session (grpc-conn.c); a request is
 * dispatched when its stream ends (END_STREAM), the whole request message
 * in hand. */

#include <assert.h>
#include <glib.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "grpc-conn.h"
#include "grpc-wire.h"
#include "grpc.h"
#include "log.h"
#include "macro.h"

/* kubelet keeps one connection; a few more are a client retrying. */
#define MAX_CONNECTIONS 32

typedef struct ServerConn ServerConn;

struct GrpcServer {
        sd_event *event;
        int fd;
        sd_event_source *accept_source;
        const GrpcMethod *methods;
        size_t n_methods;
        GrpcStreamClosed stream_closed;
        void *userdata;
        GList *conns;            /* ServerConn */
        nghttp2_session_callbacks *callbacks;
        nghttp2_option *option;
};

struct ServerConn {
        GrpcServer *server;
        GrpcConn *conn;
        GList *streams;          /* GrpcStream */
};

struct GrpcStream {
        ServerConn *sc;
        int32_t id;
        char *path, *method, *content_type;
        GByteArray *request;
        bool too_large;
        bool dispatched;
        bool open;               /* a server-streaming call: stream_closed is due */
        bool responding;         /* response HEADERS submitted with the data provider */
        bool deferred;           /* the data provider waits for output */
        GByteArray *out;         /* framed messages not yet taken by nghttp2 */
        size_t out_pos;
        bool finish;             /* after out: the trailers */
        GrpcStatus status;
        char *message;
};

static void stream_free(GrpcStream *st) {
        g_free(st->path);
        g_free(st->method);
        g_free(st->content_type);
        g_byte_array_unref(st->request);
        g_byte_array_unref(st->out);
        g_free(st->message);
        g_free(st);
}

/* ------------------------------------------------------------ responses */

static void submit_trailers(nghttp2_session *session, GrpcStream *st) {
        g_autofree char *status = g_strdup_printf("%u", st->status);
        g_autofree char *message = grpc_percent_encode(strempty(st->message));
        nghttp2_nv nva[] = {
                GRPC_NV("grpc-status", status),
                GRPC_NV("grpc-message", message),
        };

        (void) nghttp2_submit_trailer(session, st->id, nva, message[0] ? 2 : 1);
}

static ssize_t read_response(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                             uint32_t *data_flags, nghttp2_data_source *source, void *user_data) {
        GrpcStream *st = source->ptr;
        size_t n = MIN(length, st->out->len - st->out_pos);

        memcpy(buf, st->out->data + st->out_pos, n);
        st->out_pos += n;
        if (st->out_pos < st->out->len)
                return (ssize_t) n;
        g_byte_array_set_size(st->out, 0);
        st->out_pos = 0;
        if (st->finish) {
                *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
                submit_trailers(session, st);
                return (ssize_t) n;
        }
        if (n == 0) {
                st->deferred = true;
                return NGHTTP2_ERR_DEFERRED;
        }
        return (ssize_t) n;
}

static void respond_headers(nghttp2_session *session, GrpcStream *st) {
        nghttp2_nv nva[] = {
                GRPC_NV(":status", "200"),
                GRPC_NV("content-type", "application/grpc"),
        };
        nghttp2_data_provider provider = { .source.ptr = st, .read_callback = read_response };

        st->responding = true;
        (void) nghttp2_submit_response(session, st->id, nva, ELEMENTSOF(nva), &provider);
}

/* Trailers-only: one HEADERS frame that ends the stream. */
static void respond_error(nghttp2_session *session, GrpcStream *st, GrpcStatus status, const char *message) {
        g_autofree char *code = g_strdup_printf("%u", status);
        g_autofree char *encoded = grpc_percent_encode(strempty(message));
        nghttp2_nv nva[] = {
                GRPC_NV(":status", "200"),
                GRPC_NV("content-type", "application/grpc"),
                GRPC_NV("grpc-status", code),
                GRPC_NV("grpc-message", encoded),
        };

        log_debug("gRPC %s: status %u: %s", strempty(st->path), status, strempty(message));
        (void) nghttp2_submit_response(session, st->id, nva, encoded[0] ? 4 : 3, NULL);
}

static void respond_http(nghttp2_session *session, GrpcStream *st, const char *status) {
        nghttp2_nv nva[] = { GRPC_NV(":status", status) };

        (void) nghttp2_submit_response(session, st->id, nva, ELEMENTSOF(nva), NULL);
}

int grpc_stream_send(GrpcStream *st, const uint8_t *message, size_t size, bool replace_queued) {
        assert(st);

        if (size > GRPC_MAX_MESSAGE)
                return -EMSGSIZE;
        if (replace_queued)
                grpc_frames_drop_unsent(st->out, st->out_pos);
        grpc_frame_append(st->out, message, size);
        if (st->responding && st->deferred) {
                st->deferred = false;
                (void) nghttp2_session_resume_data(grpc_conn_session(st->sc->conn), st->id);
        }
        grpc_conn_want_write(st->sc->conn);
        return 0;
}

static const GrpcMethod *find_method(GrpcServer *s, const char *path) {
        for (size_t i = 0; i < s->n_methods; i++)
                if (streq(s->methods[i].path, path))
                        return &s->methods[i];
        return NULL;
}

static void dispatch(nghttp2_session *session, GrpcStream *st) {
        GrpcServer *s = st->sc->server;
        const GrpcMethod *m;
        const uint8_t *msg = NULL;
        size_t size = 0;
        GrpcReply reply = {};
        GrpcStatus status;
        int r;

        st->dispatched = true;
        if (!streq_ptr(st->method, "POST")) {
                respond_http(session, st, "405");
                return;
        }
        /* application/grpc, or application/grpc+proto and the like. */
        if (!st->content_type || !g_str_has_prefix(st->content_type, "application/grpc") ||
            (st->content_type[16] != '\0' && st->content_type[16] != '+' && st->content_type[16] != ';')) {
                respond_http(session, st, "415");
                return;
        }
        m = st->path ? find_method(s, st->path) : NULL;
        if (!m) {
                respond_error(session, st, GRPC_STATUS_UNIMPLEMENTED, "unknown method");
                return;
        }
        if (st->too_large) {
                respond_error(session, st, GRPC_STATUS_RESOURCE_EXHAUSTED, "the request is over 4 MiB");
                return;
        }
        r = grpc_frame_parse_one(st->request->data, st->request->len, &msg, &size);
        if (r == -EOPNOTSUPP) {
                respond_error(session, st, GRPC_STATUS_UNIMPLEMENTED, "compressed messages are not supported");
                return;
        }
        if (r < 0) {
                respond_error(session, st, GRPC_STATUS_INVALID_ARGUMENT, "the request is not one gRPC message");
                return;
        }

        if (m->unary) {
                status = m->unary(s->userdata, msg, size, &reply);
                if (status == GRPC_STATUS_OK) {
                        grpc_frame_append(st->out, reply.data, reply.size);
                        st->finish = true;
                        st->status = GRPC_STATUS_OK;
                        respond_headers(session, st);
                } else
                        respond_error(session, st, status, reply.message);
        } else {
                status = m->stream(s->userdata, st, msg, size, &reply);
                if (status == GRPC_STATUS_OK) {
                        st->open = true;
                        respond_headers(session, st);
                } else
                        respond_error(session, st, status, reply.message);
        }
        grpc_reply_done(&reply);
}

/* ------------------------------------------------------------ nghttp2 callbacks */

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
        ServerConn *sc = user_data;
        GrpcStream *st;

        if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
                return 0;
        st = g_new0(GrpcStream, 1);
        st->sc = sc;
        st->id = frame->hd.stream_id;
        st->request = g_byte_array_new();
        st->out = g_byte_array_new();
        sc->streams = g_list_prepend(sc->streams, st);
        nghttp2_session_set_stream_user_data(session, st->id, st);
        return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data) {
        GrpcStream *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
        char **field = NULL;

        if (!st || frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
                return 0;
        if (grpc_name_is(name, namelen, ":path"))
                field = &st->path;
        else if (grpc_name_is(name, namelen, ":method"))
                field = &st->method;
        else if (grpc_name_is(name, namelen, "content-type"))
                field = &st->content_type;
        if (field) {
                g_free(*field);
                *field = g_strndup((const char *) value, valuelen);
        }
        return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data,
                         size_t len, void *user_data) {
        GrpcStream *st = nghttp2_session_get_stream_user_data(session, stream_id);

        if (!st || st->dispatched)
                return 0;
        if (st->too_large || st->request->len + len > GRPC_MAX_MESSAGE + GRPC_FRAME_HEADER) {
                st->too_large = true;
                g_byte_array_set_size(st->request, 0);
                return 0;
        }
        g_byte_array_append(st->request, data, (guint) len);
        return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
        GrpcStream *st;

        if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
            !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
                return 0;
        st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
        if (st && !st->dispatched)
                dispatch(session, st);
        return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data) {
        ServerConn *sc = user_data;
        GrpcStream *st = nghttp2_session_get_stream_user_data(session, stream_id);

        if (!st)
                return 0;
        sc->streams = g_list_remove(sc->streams, st);
        if (st->open)
                sc->server->stream_closed(sc->server->userdata, st);
        stream_free(st);
        return 0;
}

/* ------------------------------------------------------------ connections */

static void server_conn_free(ServerConn *sc, bool notify) {
        GrpcServer *s = sc->server;

        s->conns = g_list_remove(s->conns, sc);
        /* nghttp2_session_del() frees its streams without callbacks. */
        sc->conn = grpc_conn_free(sc->conn);
        for (GList *l = sc->streams; l; l = l->next) {
                GrpcStream *st = l->data;

                if (st->open && notify)
                        s->stream_closed(s->userdata, st);
                stream_free(st);
        }
        g_list_free(sc->streams);
        g_free(sc);
}

static void on_conn_closed(GrpcConn *c, int error, void *userdata) {
        ServerConn *sc = userdata;

        if (error < 0)
                log_debug("gRPC connection ended: %s", strerror(-error));
        server_conn_free(sc, true);
}

static int on_accept(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        GrpcServer *s = userdata;
        nghttp2_settings_entry settings[] = {
                { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100 },
        };
        ServerConn *sc;
        int cfd, r;

        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
                if (errno != EAGAIN && errno != EINTR)
                        log_warning("cannot accept a connection: %m");
                return 0;
        }
        if (g_list_length(s->conns) >= MAX_CONNECTIONS) {
                log_warning("refusing a gRPC connection: %d are open", MAX_CONNECTIONS);
                close(cfd);
                return 0;
        }
        sc = g_new0(ServerConn, 1);
        sc->server = s;
        r = grpc_conn_new(s->event, cfd, true, s->callbacks, s->option, sc, on_conn_closed, NULL, sc, &sc->conn);
        if (r < 0) {
                g_free(sc);
                log_warning("cannot serve a connection: %s", strerror(-r));
                return 0;
        }
        s->conns = g_list_prepend(s->conns, sc);
        (void) nghttp2_submit_settings(grpc_conn_session(sc->conn), NGHTTP2_FLAG_NONE, settings,
                                       ELEMENTSOF(settings));
        grpc_conn_want_write(sc->conn);
        return 0;
}

int grpc_server_new(sd_event *event, int listen_fd, const GrpcMethod *methods, size_t n_methods,
                    GrpcStreamClosed stream_closed, void *userdata, GrpcServer **ret) {
        GrpcServer *s;
        int r;

        assert(event);
        assert(listen_fd >= 0);
        assert(stream_closed);
        assert(ret);

        s = g_new0(GrpcServer, 1);
        s->event = sd_event_ref(event);
        s->fd = listen_fd;
        s->methods = methods;
        s->n_methods = n_methods;
        s->stream_closed = stream_closed;
        s->userdata = userdata;

        if (nghttp2_session_callbacks_new(&s->callbacks) != 0 || nghttp2_option_new(&s->option) != 0) {
                grpc_server_free(s);
                return -ENOMEM;
        }
        nghttp2_session_callbacks_set_on_begin_headers_callback(s->callbacks, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(s->callbacks, on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(s->callbacks, on_data_chunk);
        nghttp2_session_callbacks_set_on_frame_recv_callback(s->callbacks, on_frame_recv);
        nghttp2_session_callbacks_set_on_stream_close_callback(s->callbacks, on_stream_close);
        /* Without nghttp2's HTTP checks: gRPC clients differ in :authority
         * over unix sockets (grpc-go sends the socket's path), which those
         * checks refuse; what gRPC needs is checked in dispatch(). */
        nghttp2_option_set_no_http_messaging(s->option, 1);

        r = sd_event_add_io(event, &s->accept_source, listen_fd, EPOLLIN, on_accept, s);
        if (r < 0) {
                grpc_server_free(s);
                return r;
        }
        (void) sd_event_source_set_description(s->accept_source, "grpc-accept");
        *ret = s;
        return 0;
}

GrpcServer *grpc_server_free(GrpcServer *s) {
        if (!s)
                return NULL;
        while (s->conns)
                server_conn_free(s->conns->data, true);
        sd_event_source_disable_unref(s->accept_source);
        if (s->fd >= 0)
                close(s->fd);
        if (s->callbacks)
                nghttp2_session_callbacks_del(s->callbacks);
        if (s->option)
                nghttp2_option_del(s->option);
        sd_event_unref(s->event);
        g_free(s);
        return NULL;
}

unsigned grpc_server_n_connections(const GrpcServer *s) {
        return g_list_length(s->conns);
}
