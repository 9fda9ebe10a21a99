/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <glib.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "grpc-conn.h"
#include "log.h"
#include "macro.h"

#define READ_CHUNK 16384
/* Output is taken from the session up to this much before writing. */
#define OUT_HIGH_WATER (64 * 1024)

struct GrpcConn {
        sd_event *event;
        int fd;
        sd_event_source *io;
        sd_event_source *flush;
        nghttp2_session *session;
        GByteArray *out;
        GrpcConnClosed closed;
        GrpcConnAfterInput after_input;
        void *userdata;
        bool ended;
};

nghttp2_session *grpc_conn_session(GrpcConn *c) {
        return c->session;
}

/* Moves the session's output to the socket.  Returns < 0 on a write or
 * session error, 0 otherwise (some may be left for EPOLLOUT). */
static int conn_write(GrpcConn *c) {
        for (;;) {
                while (c->out->len < OUT_HIGH_WATER) {
                        const uint8_t *data;
                        ssize_t n = nghttp2_session_mem_send(c->session, &data);

                        if (n < 0) {
                                log_debug("HTTP/2 session: %s", nghttp2_strerror((int) n));
                                return -EPROTO;
                        }
                        if (n == 0)
                                break;
                        g_byte_array_append(c->out, data, (guint) n);
                }
                if (c->out->len == 0)
                        break;
                ssize_t w = send(c->fd, c->out->data, c->out->len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (w < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        return -errno;
                }
                g_byte_array_remove_range(c->out, 0, (guint) w);
        }
        return sd_event_source_set_io_events(c->io, EPOLLIN | (c->out->len > 0 ? EPOLLOUT : 0));
}

/* The end: once, from the loop, last. */
static void conn_end(GrpcConn *c, int error) {
        if (c->ended)
                return;
        c->ended = true;
        (void) sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(c->flush, SD_EVENT_OFF);
        c->closed(c, error, c->userdata);
}

/* Whether the session has nothing more to do. */
static bool conn_done(GrpcConn *c) {
        return !nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session) &&
               c->out->len == 0;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        GrpcConn *c = userdata;
        uint8_t buf[READ_CHUNK];
        int r;

        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        conn_end(c, -errno);
                        return 0;
                }
                if (n == 0) {
                        conn_end(c, 0);
                        return 0;
                }
                if (n > 0) {
                        ssize_t k = nghttp2_session_mem_recv(c->session, buf, (size_t) n);
                        if (k < 0) {
                                log_debug("HTTP/2 input refused: %s", nghttp2_strerror((int) k));
                                /* A GOAWAY may be queued for the peer: try once. */
                                (void) conn_write(c);
                                conn_end(c, -EPROTO);
                                return 0;
                        }
                }
        }
        r = conn_write(c);
        if (r < 0) {
                conn_end(c, r);
                return 0;
        }
        if (conn_done(c)) {
                conn_end(c, 0);
                return 0;
        }
        if (c->after_input)
                c->after_input(c, c->userdata); /* may free c: nothing after this */
        return 0;
}

static int on_flush(sd_event_source *s, void *userdata) {
        GrpcConn *c = userdata;
        int r;

        r = conn_write(c);
        if (r < 0)
                conn_end(c, r);
        else if (conn_done(c))
                conn_end(c, 0);
        return 0;
}

void grpc_conn_want_write(GrpcConn *c) {
        if (!c->ended)
                (void) sd_event_source_set_enabled(c->flush, SD_EVENT_ONESHOT);
}

int grpc_conn_new(sd_event *event, int fd, bool server, const nghttp2_session_callbacks *callbacks,
                  const nghttp2_option *option, void *session_userdata, GrpcConnClosed closed, GrpcConnAfterInput after_input, void *userdata,
                  GrpcConn **ret) {
        GrpcConn *c;
        int r;

        assert(event);
        assert(fd >= 0);
        assert(callbacks);
        assert(closed);
        assert(ret);

        c = g_new0(GrpcConn, 1);
        c->event = sd_event_ref(event);
        c->fd = fd;
        c->out = g_byte_array_new();
        c->closed = closed;
        c->after_input = after_input;
        c->userdata = userdata;

        r = server ? nghttp2_session_server_new2(&c->session, callbacks, session_userdata, option)
                   : nghttp2_session_client_new2(&c->session, callbacks, session_userdata, option);
        if (r != 0) {
                grpc_conn_free(c);
                return -ENOMEM;
        }
        r = sd_event_add_io(event, &c->io, fd, EPOLLIN, on_io, c);
        if (r >= 0)
                r = sd_event_add_defer(event, &c->flush, on_flush, c);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->flush, SD_EVENT_OFF);
        if (r < 0) {
                grpc_conn_free(c);
                return r;
        }
        (void) sd_event_source_set_description(c->io, "grpc-conn");
        *ret = c;
        return 0;
}

GrpcConn *grpc_conn_free(GrpcConn *c) {
        if (!c)
                return NULL;
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->flush);
        if (c->session)
                nghttp2_session_del(c->session);
        if (c->fd >= 0)
                close(c->fd);
        g_byte_array_unref(c->out);
        sd_event_unref(c->event);
        g_free(c);
        return NULL;
}
