/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <sys/epoll.h>

#include "build-config.h"
#include "kube-client.h"
#include "log.h"
#include "macro.h"
#include "time-util.h"

/* A body without a data handler (a Node, a pod list) is kept up to this. */
#define BODY_MAX (16U * 1024U * 1024U)
#define CONNECT_TIMEOUT_MS 10000L

typedef enum RequestState {
        REQUEST_QUEUED,   /* waiting to be added to the multi handle */
        REQUEST_RUNNING,
        REQUEST_CANCELLED, /* running, to be removed */
} RequestState;

struct KubeRequest {
        KubeClient *client;
        KubeRequest *prev, *next;
        RequestState state;
        CURL *easy;
        struct curl_slist *headers;
        char *body;
        char *description;
        GByteArray *response;
        KubeDataHandler on_data;
        KubeDoneHandler on_done;
        void *userdata;
        int error; /* a data handler's negative return */
};

struct KubeClient {
        sd_event *event;
        KubeConfig config;
        CURLM *multi;
        sd_event_source *timer;
        sd_event_source *defer; /* adds queued and removes cancelled requests */
        KubeRequest *requests;
        char *user_agent;
};

/* ------------------------------------------------------------ requests */

static void request_unlink_and_free(KubeRequest *req) {
        KubeClient *c = req->client;

        if (req->prev)
                req->prev->next = req->next;
        else
                c->requests = req->next;
        if (req->next)
                req->next->prev = req->prev;

        if (req->state != REQUEST_QUEUED)
                curl_multi_remove_handle(c->multi, req->easy);
        curl_easy_cleanup(req->easy);
        curl_slist_free_all(req->headers);
        g_free(req->body);
        g_free(req->description);
        g_byte_array_unref(req->response);
        g_free(req);
}

const char *kube_request_describe(KubeRequest *req) {
        return req ? req->description : "";
}

void kube_request_cancel(KubeRequest *req) {
        if (!req)
                return;
        req->on_data = NULL;
        req->on_done = NULL;
        if (req->state == REQUEST_QUEUED) {
                request_unlink_and_free(req);
                return;
        }
        /* Possibly inside libcurl's write callback: removed from the loop. */
        req->state = REQUEST_CANCELLED;
        (void) sd_event_source_set_enabled(req->client->defer, SD_EVENT_ONESHOT);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
        KubeRequest *req = userdata;
        size_t n = size * nmemb;
        long status = 0;

        if (req->state == REQUEST_CANCELLED)
                return 0;

        (void) curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
        if (req->on_data && status >= 200 && status < 300) {
                int r = req->on_data(req, ptr, n, req->userdata);

                if (r < 0) {
                        req->error = r;
                        return 0;
                }
                return n;
        }
        if (req->response->len + n > BODY_MAX) {
                req->error = -E2BIG;
                return 0;
        }
        g_byte_array_append(req->response, (const guint8 *) ptr, (guint) n);
        return n;
}

static void finish_request(KubeRequest *req, CURLcode result) {
        long status = 0;
        int r = 0;

        (void) curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
        if (req->error < 0)
                r = req->error;
        else if (result != CURLE_OK) {
                log_debug("%s: %s", req->description, curl_easy_strerror(result));
                r = result == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT :
                    result == CURLE_COULDNT_CONNECT ? -ECONNREFUSED :
                    result == CURLE_PEER_FAILED_VERIFICATION || result == CURLE_SSL_CONNECT_ERROR ? -EPROTO :
                    -EIO;
        }

        log_debug("%s: %s%ld", req->description, r < 0 ? "failed, HTTP " : "HTTP ", status);
        if (req->on_done) {
                /* NUL-terminated, for the handlers' convenience. */
                guint len = req->response->len;

                g_byte_array_append(req->response, (const guint8 *) "", 1);
                req->on_done(req, r, status, (const char *) req->response->data, len, req->userdata);
        }
        request_unlink_and_free(req);
}

static void check_multi_info(KubeClient *c) {
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(c->multi, &left))) {
                KubeRequest *req = NULL;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                (void) curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
                assert(req);
                if (req->state == REQUEST_CANCELLED)
                        request_unlink_and_free(req);
                else
                        finish_request(req, msg->data.result);
        }
}

static int defer_cb(sd_event_source *s, void *userdata) {
        KubeClient *c = userdata;
        int running;

        for (KubeRequest *req = c->requests, *next; req; req = next) {
                next = req->next;
                if (req->state == REQUEST_CANCELLED)
                        request_unlink_and_free(req);
        }
        for (KubeRequest *req = c->requests; req; req = req->next) {
                CURLMcode m;

                if (req->state != REQUEST_QUEUED)
                        continue;
                m = curl_multi_add_handle(c->multi, req->easy);
                if (m != CURLM_OK) {
                        log_error("%s: %s", req->description, curl_multi_strerror(m));
                        continue;
                }
                req->state = REQUEST_RUNNING;
        }
        /* Kick off the new transfers now rather than at the next timeout. */
        (void) curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        check_multi_info(c);
        return 0;
}

/* ------------------------------------------------------------ libcurl <-> sd-event */

static int io_cb(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        KubeClient *c = userdata;
        int flags = 0, running;

        if (revents & EPOLLIN)
                flags |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                flags |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP))
                flags |= CURL_CSELECT_ERR;
        (void) curl_multi_socket_action(c->multi, fd, flags, &running);
        check_multi_info(c);
        return 0;
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        KubeClient *c = userp;
        sd_event_source *s = socketp;
        uint32_t events = 0;
        int r;

        if (what == CURL_POLL_REMOVE) {
                if (s) {
                        curl_multi_assign(c->multi, fd, NULL);
                        sd_event_source_disable_unref(s);
                }
                return 0;
        }

        if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
                events |= EPOLLIN;
        if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
                events |= EPOLLOUT;

        if (s) {
                r = sd_event_source_set_io_events(s, events);
                if (r < 0)
                        return -1;
                return 0;
        }
        r = sd_event_add_io(c->event, &s, fd, events, io_cb, c);
        if (r < 0) {
                log_error("cannot watch the API server connection: %s", strerror(-r));
                return -1;
        }
        (void) sd_event_source_set_description(s, "kube-socket");
        curl_multi_assign(c->multi, fd, s);
        return 0;
}

static int timer_event_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        KubeClient *c = userdata;
        int running;

        (void) curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        check_multi_info(c);
        return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
        KubeClient *c = userp;
        uint64_t now;

        if (timeout_ms < 0)
                return sd_event_source_set_enabled(c->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
        /* 0 ms: at the next loop iteration, not from inside libcurl. */
        (void) sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        if (sd_event_source_set_time(c->timer, now + (uint64_t) timeout_ms * USEC_PER_MSEC) < 0 ||
            sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT) < 0)
                return -1;
        return 0;
}

/* ------------------------------------------------------------ client */

int kube_client_new(sd_event *event, KubeConfig *config, KubeClient **ret) {
        KubeClient *c;
        int r;

        assert(event);
        assert(config);
        assert(ret);

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return -EIO;

        c = g_new0(KubeClient, 1);
        c->event = sd_event_ref(event);
        c->config = *config;
        *config = (KubeConfig) {};
        c->user_agent = g_strdup("nvidia-cc-k8s-bridge/" PACKAGE_VERSION);

        c->multi = curl_multi_init();
        if (!c->multi) {
                kube_client_free(c);
                return -ENOMEM;
        }
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
        curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
        curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);

        r = sd_event_add_time(event, &c->timer, CLOCK_MONOTONIC, UINT64_MAX, 0, timer_event_cb, c);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_defer(event, &c->defer, defer_cb, c);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->defer, SD_EVENT_OFF);
        if (r < 0) {
                kube_client_free(c);
                return r;
        }
        (void) sd_event_source_set_description(c->timer, "kube-timer");
        (void) sd_event_source_set_description(c->defer, "kube-requests");

        *ret = c;
        return 0;
}

KubeClient *kube_client_free(KubeClient *c) {
        if (!c)
                return NULL;
        while (c->requests)
                request_unlink_and_free(c->requests);
        if (c->multi)
                curl_multi_cleanup(c->multi);
        sd_event_source_disable_unref(c->timer);
        sd_event_source_disable_unref(c->defer);
        sd_event_unref(c->event);
        kube_config_done(&c->config);
        g_free(c->user_agent);
        g_free(c);
        curl_global_cleanup();
        return NULL;
}

static void set_blob(CURL *easy, CURLoption option, GBytes *bytes) {
        struct curl_blob blob = {
                .data = (void *) g_bytes_get_data(bytes, &blob.len),
                .flags = CURL_BLOB_COPY,
        };

        curl_easy_setopt(easy, option, &blob);
}

static int setup_tls(KubeClient *c, CURL *easy) {
        const KubeConfig *k = &c->config;

        if (k->ca_data)
                set_blob(easy, CURLOPT_CAINFO_BLOB, k->ca_data);
        else if (k->ca_file)
                curl_easy_setopt(easy, CURLOPT_CAINFO, k->ca_file);
        if (k->client_cert_data)
                set_blob(easy, CURLOPT_SSLCERT_BLOB, k->client_cert_data);
        else if (k->client_cert_file)
                curl_easy_setopt(easy, CURLOPT_SSLCERT, k->client_cert_file);
        if (k->client_key_data)
                set_blob(easy, CURLOPT_SSLKEY_BLOB, k->client_key_data);
        else if (k->client_key_file)
                curl_easy_setopt(easy, CURLOPT_SSLKEY, k->client_key_file);
        if (k->client_cert_data || k->client_cert_file) {
                curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
                curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
        }
        if (k->insecure_skip_tls_verify) {
                curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        return 0;
}

int kube_client_request(KubeClient *c, const char *method, const char *path, const char *content_type,
                        const char *body, uint64_t timeout_usec, KubeDataHandler on_data,
                        KubeDoneHandler on_done, void *userdata, KubeRequest **ret) {
        g_autofree char *url = NULL, *token = NULL, *auth = NULL, *ct = NULL;
        CcError err = CC_ERROR_INIT;
        KubeRequest *req;
        int r;

        assert(c);
        assert(method);
        assert(path && path[0] == '/');
        assert(on_done);

        /* The token is read for each request: a rotated one is taken up at
         * once, a failing read fails this request only. */
        r = kube_config_read_token(&c->config, &token, &err);
        if (r < 0) {
                log_error("%s", err.message);
                return r;
        }

        req = g_new0(KubeRequest, 1);
        req->client = c;
        req->on_data = on_data;
        req->on_done = on_done;
        req->userdata = userdata;
        req->response = g_byte_array_new();
        req->description = g_strdup_printf("%s %s", method, path);
        req->easy = curl_easy_init();
        if (!req->easy) {
                g_byte_array_unref(req->response);
                g_free(req->description);
                g_free(req);
                return -ENOMEM;
        }
        /* Linked first, so every failure below frees through one path. */
        req->next = c->requests;
        if (c->requests)
                c->requests->prev = req;
        c->requests = req;

        url = g_strconcat(c->config.server, path, NULL);
        curl_easy_setopt(req->easy, CURLOPT_URL, url);
        curl_easy_setopt(req->easy, CURLOPT_PRIVATE, req);
        curl_easy_setopt(req->easy, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(req->easy, CURLOPT_WRITEDATA, req);
        curl_easy_setopt(req->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(req->easy, CURLOPT_PROTOCOLS_STR, "https,http");
        curl_easy_setopt(req->easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(req->easy, CURLOPT_USERAGENT, c->user_agent);
        curl_easy_setopt(req->easy, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
        curl_easy_setopt(req->easy, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(req->easy, CURLOPT_TCP_KEEPIDLE, 30L);
        curl_easy_setopt(req->easy, CURLOPT_TCP_KEEPINTVL, 10L);
        if (timeout_usec > 0)
                curl_easy_setopt(req->easy, CURLOPT_TIMEOUT_MS, (long) (timeout_usec / USEC_PER_MSEC));
        curl_easy_setopt(req->easy, CURLOPT_CUSTOMREQUEST, method);
        if (body) {
                req->body = g_strdup(body);
                curl_easy_setopt(req->easy, CURLOPT_POSTFIELDS, req->body);
                curl_easy_setopt(req->easy, CURLOPT_POSTFIELDSIZE, (long) strlen(req->body));
        }
        setup_tls(c, req->easy);

        req->headers = curl_slist_append(req->headers, "Accept: application/json");
        if (content_type) {
                ct = g_strconcat("Content-Type: ", content_type, NULL);
                req->headers = curl_slist_append(req->headers, ct);
        }
        if (token) {
                auth = g_strconcat("Authorization: Bearer ", token, NULL);
                req->headers = curl_slist_append(req->headers, auth);
        }
        if (!req->headers) {
                request_unlink_and_free(req);
                return -ENOMEM;
        }
        curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->headers);

        req->state = REQUEST_QUEUED;
        r = sd_event_source_set_enabled(c->defer, SD_EVENT_ONESHOT);
        if (r < 0) {
                request_unlink_and_free(req);
                return r;
        }
        if (ret)
                *ret = req;
        return 0;
}
