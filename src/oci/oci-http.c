/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <curl/curl.h>
#include <json-glib/json-glib.h>
#include <time.h>

#include "build-config.h"
#include "oci-http.h"

#define ERROR_BODY_MAX 4096
#define RECEIVE_BUFFER (512 * 1024)

struct OciHttp {
        CURL *curl;
        /* The PEM text, which libcurl reads in place (CURL_BLOB_NOCOPY). */
        struct curl_blob ca_bundle;
        bool plain_http;
        struct curl_slist *resolve;
        unsigned max_attempts;
        unsigned backoff_ms;
        char curl_error[CURL_ERROR_SIZE];
};

typedef struct Transfer {
        OciHttp *http;
        const OciHttpSink *sink;
        OciHttpResponse *response;
        int sink_error;
        bool status_known;
        bool success;
        size_t error_body_size;
} Transfer;

void oci_http_response_done(OciHttpResponse *r) {
        if (!r)
                return;
        free(r->content_type);
        free(r->www_authenticate);
        free(r->error_body);
        *r = (OciHttpResponse) {};
}

int oci_http_new(const OciHttpOptions *o, OciHttp **ret, CcError *err) {
        _cleanup_(oci_http_freep) OciHttp *h = NULL;

        assert(o);
        assert(ret);

        h = calloc(1, sizeof(*h));
        if (!h)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        h->curl = curl_easy_init();
        if (!h->curl)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "cannot set up libcurl");
        if (o->ca_bundle) {
                h->ca_bundle.data = malloc(o->ca_bundle_size + 1);
                if (!h->ca_bundle.data)
                        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
                memcpy(h->ca_bundle.data, o->ca_bundle, o->ca_bundle_size);
                h->ca_bundle.len = o->ca_bundle_size;
                h->ca_bundle.flags = CURL_BLOB_NOCOPY;
        }
        if (o->pin_localhost && !(h->resolve = curl_slist_append(NULL, o->pin_localhost)))
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        h->plain_http = o->plain_http;
        h->max_attempts = o->max_attempts ?: 4;
        h->backoff_ms = o->backoff_ms ?: 100;
        *ret = TAKE_PTR(h);
        return 0;
}

OciHttp *oci_http_free(OciHttp *h) {
        if (!h)
                return NULL;
        if (h->curl)
                curl_easy_cleanup(h->curl);
        curl_slist_free_all(h->resolve);
        free(h->ca_bundle.data);
        free(h);
        return NULL;
}

const char *oci_http_scheme(const OciHttp *h) {
        return h->plain_http ? "http" : "https";
}

static char *header_value(const char *line, size_t n, const char *name) {
        size_t k = strlen(name);
        const char *v, *end = line + n;

        if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
                return NULL;
        v = line + k + 1;
        while (v < end && (*v == ' ' || *v == '\t'))
                v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
                end--;
        return strndup(v, (size_t) (end - v));
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata) {
        Transfer *t = userdata;
        OciHttpResponse *r = t->response;
        size_t n = size * nmemb;
        char *v;

        /* A new response (after a redirect or a 100): forget the last one's headers. */
        if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
                free(r->content_type);
                free(r->www_authenticate);
                r->content_type = r->www_authenticate = NULL;
                return n;
        }
        if ((v = header_value(data, n, "Content-Type"))) {
                free(r->content_type);
                r->content_type = v;
        } else if ((v = header_value(data, n, "WWW-Authenticate"))) {
                /* The first challenge counts; a registry sends one. */
                if (!r->www_authenticate)
                        r->www_authenticate = v;
                else
                        free(v);
        }
        return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata) {
        Transfer *t = userdata;
        size_t n = size * nmemb;

        if (!t->status_known) {
                long status = 0;

                (void) curl_easy_getinfo(t->http->curl, CURLINFO_RESPONSE_CODE, &status);
                t->success = status >= 200 && status < 300;
                t->status_known = true;
        }
        if (t->success) {
                int r;

                if (!t->sink)
                        return n;
                r = t->sink->write(t->sink->userdata, data, n);
                if (r < 0) {
                        t->sink_error = r;
                        return 0;       /* aborts the transfer */
                }
                return n;
        }

        /* An error body: keep the beginning, for the message. */
        if (t->error_body_size < ERROR_BODY_MAX) {
                size_t k = n < ERROR_BODY_MAX - t->error_body_size ? n : ERROR_BODY_MAX - t->error_body_size;
                char *p = realloc(t->response->error_body, t->error_body_size + k + 1);

                if (!p) {
                        t->sink_error = -ENOMEM;
                        return 0;
                }
                memcpy(p + t->error_body_size, data, k);
                t->error_body_size += k;
                p[t->error_body_size] = '\0';
                t->response->error_body = p;
        }
        return n;
}

static bool curl_code_is_transient(CURLcode c) {
        switch (c) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_PARTIAL_FILE:
        case CURLE_GOT_NOTHING:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
                return true;
        default:
                return false;
        }
}

static bool status_is_transient(long status) {
        return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int setup(OciHttp *h, Transfer *t, const char *url, struct curl_slist *headers) {
        CURL *c = h->curl;
        const char *proto = h->plain_http ? "http" : "https";

        curl_easy_reset(c);   /* keeps the connection cache */
        if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, proto) != CURLE_OK ||
            /* Blob downloads are often redirected to storage; over plain
             * HTTP nothing is followed, so nothing leaves loopback. */
            curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, h->plain_http ? 0L : 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https") != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
            (h->ca_bundle.data && curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &h->ca_bundle) != CURLE_OK) ||
            (h->resolve && curl_easy_setopt(c, CURLOPT_RESOLVE, h->resolve) != CURLE_OK) ||
            curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L) != CURLE_OK ||
            /* A registry that stops sending: less than 1 byte/s for a minute. */
            curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_BUFFERSIZE, (long) RECEIVE_BUFFER) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_USERAGENT, "nvidia-ccd-fetch/" PACKAGE_VERSION) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_HEADERDATA, t) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_WRITEDATA, t) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->curl_error) != CURLE_OK)
                return -EINVAL;
        return 0;
}

int oci_http_get(OciHttp *h, const char *url, const char *authorization, const char *accept,
                 const OciHttpSink *sink, OciHttpResponse *ret, CcError *err) {
        _cleanup_free_ char *auth_header = NULL, *accept_header = NULL;
        struct curl_slist *headers = NULL;
        unsigned delay;
        int r = 0;

        assert(h);
        assert(url);
        assert(ret);

        *ret = (OciHttpResponse) {};
        if (authorization && asprintf(&auth_header, "Authorization: %s", authorization) < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        if (accept && asprintf(&accept_header, "Accept: %s", accept) < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        if (auth_header)
                headers = curl_slist_append(headers, auth_header);
        if (accept_header)
                headers = curl_slist_append(headers, accept_header);
        if ((auth_header || accept_header) && !headers)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        if (auth_header && accept_header && !headers->next) {
                curl_slist_free_all(headers);
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        }

        delay = h->backoff_ms;
        for (unsigned attempt = 1;; attempt++) {
                Transfer t = { .http = h, .sink = sink, .response = ret };
                CURLcode code;
                long status = 0;

                oci_http_response_done(ret);
                h->curl_error[0] = '\0';
                if (setup(h, &t, url, headers) < 0) {
                        r = cc_error_set(err, CC_ERROR_INTERNAL, EINVAL, "cannot set up the request for %s", url);
                        break;
                }
                code = curl_easy_perform(h->curl);
                if (t.sink_error < 0) {
                        r = t.sink_error;
                        break;
                }
                if (code == CURLE_OK) {
                        (void) curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
                        ret->status = status;
                        if (!status_is_transient(status) || attempt >= h->max_attempts) {
                                r = 0;
                                break;
                        }
                } else if (!curl_code_is_transient(code) || attempt >= h->max_attempts) {
                        r = cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EIO, "GET %s: %s%s",
                                         url, h->curl_error[0] ? h->curl_error : curl_easy_strerror(code),
                                         attempt > 1 ? " (after retries)" : "");
                        break;
                }

                if (sink && sink->reset) {
                        r = sink->reset(sink->userdata);
                        if (r < 0)
                                break;
                }
                sleep_ms(delay);
                delay *= 3;
        }
        curl_slist_free_all(headers);
        if (r < 0)
                oci_http_response_done(ret);
        return r;
}

void oci_http_describe(const OciHttpResponse *r, char *buf, size_t size) {
        g_autoptr(JsonParser) parser = NULL;
        const char *code = NULL, *message = NULL;
        JsonNode *root;

        assert(r);

        if (r->error_body) {
                parser = json_parser_new_immutable();
                if (json_parser_load_from_data(parser, r->error_body, -1, NULL) &&
                    (root = json_parser_get_root(parser)) && JSON_NODE_HOLDS_OBJECT(root)) {
                        JsonNode *errors = json_object_get_member(json_node_get_object(root), "errors");

                        if (errors && JSON_NODE_HOLDS_ARRAY(errors) &&
                            json_array_get_length(json_node_get_array(errors)) > 0) {
                                JsonNode *e = json_array_get_element(json_node_get_array(errors), 0);

                                if (JSON_NODE_HOLDS_OBJECT(e)) {
                                        JsonObject *o = json_node_get_object(e);

                                        code = json_object_get_string_member_with_default(o, "code", NULL);
                                        message = json_object_get_string_member_with_default(o, "message", NULL);
                                }
                        }
                }
        }
        if (code || message)
                snprintf(buf, size, "HTTP %ld (%.40s%s%.160s)", r->status, code ?: "",
                         code && message ? ": " : "", message ?: "");
        else
                snprintf(buf, size, "HTTP %ld", r->status);
}
