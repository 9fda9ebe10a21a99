/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <curl/curl.h>
#include <glib.h>
#include <inttypes.h>
#include <json-glib/json-glib.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>

#include "oci-auth.h"
#include "oci-blob.h"
#include "oci-fetch.h"
#include "oci-http.h"
#include "oci-manifest.h"
#include "oci-reference.h"
#include "strbuf.h"

#define TOKEN_RESPONSE_MAX (64 * 1024)
/* Blobs fetched at once, each on its own connection and thread: hashing
 * one stream is bound by one core (SHA-256), so streams in parallel use
 * the others.  containerd's default too. */
#define PARALLEL_BLOBS 3

typedef struct Fetch {
        const OciFetchOptions *options;
        OciReference ref;
        OciHttpOptions http_options;
        OciHttp *http;
        char *base;            /* "https://host:port/v2/" + repository */
        char *authorization;   /* the Authorization header value, or NULL */
        OciFetchProgress progress;
        void *userdata;

        /* While the layers come: shared by the blob threads. */
        pthread_mutex_t lock;
        uint64_t done, total;  /* under lock, as the progress calls */
        const OciManifest *manifest;
        size_t next;           /* the next layer to take, under lock */
        atomic_bool failed;    /* the others give up */
        int result;            /* the first failure, under lock */
        CcError error;
} Fetch;

/* A response body held whole, within its limit. */
typedef struct Buffer {
        StrBuf text;
        size_t max;
        bool too_large;
} Buffer;

static int buffer_write(void *userdata, const void *data, size_t size) {
        Buffer *b = userdata;

        if (size > b->max - b->text.len) {
                b->too_large = true;
                return -EFBIG;
        }
        return strbuf_put(&b->text, data, size);
}

static int buffer_reset(void *userdata) {
        Buffer *b = userdata;

        b->text.len = 0;
        return 0;
}

static void buffer_done(Buffer *b) {
        strbuf_done(&b->text);
}

static void sha256_hex(const void *data, size_t size, char out[static 72]) {
        static const char digits[] = "0123456789abcdef";
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned n = 0;

        (void) EVP_Digest(data, size, md, &n, EVP_sha256(), NULL);
        strcpy(out, "sha256:");
        for (unsigned i = 0; i < n && i < 32; i++) {
                out[7 + 2 * i] = digits[md[i] >> 4];
                out[8 + 2 * i] = digits[md[i] & 15];
        }
        out[7 + 64] = '\0';
}

static char *basic_authorization(const OciCredentials *c) {
        _cleanup_free_ char *joined = NULL;
        g_autofree char *encoded = NULL;
        char *header = NULL;

        if (asprintf(&joined, "%s:%s", c->username, c->password) < 0)
                return NULL;
        encoded = g_base64_encode((const guchar *) joined, strlen(joined));
        explicit_bzero(joined, strlen(joined));
        if (asprintf(&header, "Basic %s", encoded) < 0)
                return NULL;
        return header;
}

/* GET the token service of a Bearer challenge; the credentials, when there
 * are some, authenticate to it. */
static int fetch_token(Fetch *f, const OciAuthChallenge *c, const OciCredentials *creds, CcError *err) {
        _cleanup_free_ char *url = NULL, *basic = NULL, *scope = NULL;
        g_autoptr(JsonParser) parser = NULL;
        OciHttpResponse response = {};
        _cleanup_(buffer_done) Buffer body = { .max = TOKEN_RESPONSE_MAX };
        char *service_e = NULL, *scope_e = NULL;
        const char *token = NULL;
        JsonNode *root;
        int r;

        if (asprintf(&scope, "repository:%s:pull", f->ref.repository) < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        scope_e = curl_easy_escape(NULL, scope, 0);
        service_e = c->service ? curl_easy_escape(NULL, c->service, 0) : NULL;
        if (!scope_e || (c->service && !service_e)) {
                curl_free(scope_e);
                curl_free(service_e);
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        }
        r = asprintf(&url, "%s%s%s%s%sscope=%s", c->realm, strchr(c->realm, '?') ? "&" : "?",
                     service_e ? "service=" : "", strempty(service_e), service_e ? "&" : "", scope_e);
        curl_free(scope_e);
        curl_free(service_e);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");

        /* Over plain HTTP the token service must be on loopback too. */
        if (f->options->plain_http) {
                _cleanup_(oci_reference_done) OciReference realm_host = {};
                _cleanup_free_ char *fake = NULL;
                CURLU *u = curl_url();
                char *host = NULL;
                bool loopback = false;

                if (u && curl_url_set(u, CURLUPART_URL, c->realm, 0) == CURLUE_OK &&
                    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
                    asprintf(&fake, "%s/x", host) >= 0 &&
                    oci_reference_parse(fake, &realm_host, NULL) >= 0)
                        loopback = oci_reference_is_loopback(&realm_host) && !streq(realm_host.host, "localhost");
                curl_free(host);
                curl_url_cleanup(u);
                if (!loopback)
                        return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EPERM,
                                            "the registry's token service %.200s is not on a loopback address; "
                                            "plain HTTP is only used on loopback", c->realm);
        }

        if (creds && !(basic = basic_authorization(creds)))
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        r = oci_http_get(f->http, url, basic, "application/json",
                         &(OciHttpSink) { .write = buffer_write, .reset = buffer_reset, .userdata = &body },
                         &response, err);
        if (r < 0) {
                if (body.too_large)
                        r = cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EFBIG,
                                         "the token service %.200s sent more than %d bytes", c->realm, TOKEN_RESPONSE_MAX);
                else if (!cc_error_is_set(err))
                        r = cc_error_set(err, CC_ERROR_INTERNAL, -r, "token request: %s", strerror(-r));
                return r;
        }
        if (response.status != 200) {
                char status[256];

                oci_http_describe(&response, status, sizeof(status));
                oci_http_response_done(&response);
                return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EACCES,
                                    "the token service %.200s refused %s: %s", c->realm,
                                    creds ? "the pull secret's credentials" : "an anonymous token (no pull secret given)",
                                    status);
        }
        oci_http_response_done(&response);

        parser = json_parser_new_immutable();
        if (body.text.len > 0 && !memchr(body.text.data, '\0', body.text.len) &&
            json_parser_load_from_data(parser, body.text.data, (gssize) body.text.len, NULL) &&
            (root = json_parser_get_root(parser)) && JSON_NODE_HOLDS_OBJECT(root)) {
                JsonObject *o = json_node_get_object(root);

                token = json_object_get_string_member_with_default(o, "token", NULL);
                if (!token || !*token)
                        token = json_object_get_string_member_with_default(o, "access_token", NULL);
        }
        if (!token || !*token)
                return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EBADMSG,
                                    "the token service %.200s sent no token", c->realm);
        for (const char *p = token; *p; p++)
                if (!g_ascii_isgraph(*p))
                        return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EBADMSG,
                                            "the token service %.200s sent a token with bad characters", c->realm);
        free(f->authorization);
        if (asprintf(&f->authorization, "Bearer %s", token) < 0) {
                f->authorization = NULL;
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        }
        return 0;
}

static int load_credentials(Fetch *f, OciCredentials *ret, CcError *err) {
        if (!f->options->pull_secret)
                return 0;
        return oci_credentials_from_docker_config(f->options->pull_secret, f->options->pull_secret_size,
                                                  f->ref.authority, ret, err);
}

/* GET /v2/: no challenge, Basic or Bearer; with credentials, checked here,
 * so a wrong password is told as such. */
static int authenticate(Fetch *f, CcError *err) {
        _cleanup_(oci_auth_challenge_done) OciAuthChallenge challenge = {};
        _cleanup_(oci_credentials_done) OciCredentials creds = {};
        _cleanup_free_ char *url = NULL;
        OciHttpResponse response = {};
        char status[256];
        int r, have;

        if (asprintf(&url, "%s://%s/v2/", oci_http_scheme(f->http), f->ref.authority) < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        r = oci_http_get(f->http, url, NULL, NULL, NULL, &response, err);
        if (r < 0)
                return r;
        if (response.status == 200) {
                oci_http_response_done(&response);
                return 0;
        }
        if (response.status != 401) {
                oci_http_describe(&response, status, sizeof(status));
                oci_http_response_done(&response);
                return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EIO,
                                    "%s is not an OCI registry or is failing: GET /v2/ gave %s", f->ref.authority, status);
        }
        r = response.www_authenticate ? oci_auth_challenge_parse(response.www_authenticate, &challenge) : -EINVAL;
        oci_http_response_done(&response);
        if (r == -EOPNOTSUPP)
                return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EOPNOTSUPP,
                                    "registry %s asks for an authentication scheme other than Basic or Bearer",
                                    f->ref.authority);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EBADMSG,
                                    "registry %s answered 401 without a valid WWW-Authenticate challenge",
                                    f->ref.authority);

        have = load_credentials(f, &creds, err);
        if (have < 0)
                return have;

        if (challenge.scheme == OCI_AUTH_BEARER)
                return fetch_token(f, &challenge, have ? &creds : NULL, err);

        if (!have)
                return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EACCES,
                                    "registry %s requires a user name and password, and %s",
                                    f->ref.authority,
                                    f->options->pull_secret ? "the pull secret has no entry for it"
                                                            : "no pull secret was given");
        f->authorization = basic_authorization(&creds);
        if (!f->authorization)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        r = oci_http_get(f->http, url, f->authorization, NULL, NULL, &response, err);
        if (r < 0)
                return r;
        if (response.status != 200) {
                oci_http_describe(&response, status, sizeof(status));
                oci_http_response_done(&response);
                return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EACCES,
                                    "registry %s refused the pull secret's credentials for user \"%.64s\" "
                                    "(wrong user name or password?): %s",
                                    f->ref.authority, creds.username, status);
        }
        oci_http_response_done(&response);
        return 0;
}

/* GET a manifest by tag or digest; its digest is computed over the bytes. */
static int get_manifest(Fetch *f, const char *what, OciManifest **ret, char digest[static 72], CcError *err) {
        _cleanup_(buffer_done) Buffer body = { .max = OCI_MANIFEST_MAX_BYTES };
        _cleanup_free_ char *url = NULL;
        OciHttpResponse response = {};
        int r;

        if (asprintf(&url, "%s/manifests/%s", f->base, what) < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        r = oci_http_get(f->http, url, f->authorization, oci_manifest_accept,
                         &(OciHttpSink) { .write = buffer_write, .reset = buffer_reset, .userdata = &body },
                         &response, err);
        if (r < 0) {
                if (body.too_large)
                        return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EFBIG,
                                            "manifest %s of %s is larger than %u bytes", what, f->ref.repository,
                                            OCI_MANIFEST_MAX_BYTES);
                if (!cc_error_is_set(err))
                        return cc_error_set(err, CC_ERROR_INTERNAL, -r, "manifest: %s", strerror(-r));
                return r;
        }
        if (response.status != 200) {
                char status[256];
                long code = response.status;

                oci_http_describe(&response, status, sizeof(status));
                oci_http_response_done(&response);
                return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, code == 404 ? ENOENT : EIO,
                                    "%s/%s: manifest %s%s: %s", f->ref.authority, f->ref.repository, what,
                                    code == 404 ? " not found" : (code == 401 || code == 403) ? " not accessible" : "",
                                    status);
        }
        sha256_hex(body.text.data ?: "", body.text.len, digest);
        r = oci_manifest_parse(body.text.data, body.text.len, response.content_type, ret, err);
        oci_http_response_done(&response);
        return r;
}

static void layer_name(const OciManifest *m, size_t i, char *buf, size_t size) {
        if (m->entries[i].title)
                snprintf(buf, size, "layer %zu \"%.100s\"", i + 1, m->entries[i].title);
        else
                snprintf(buf, size, "layer %zu", i + 1);
}

static int on_blob_progress(int64_t delta, void *userdata) {
        Fetch *f = userdata;

        if (atomic_load_explicit(&f->failed, memory_order_relaxed))
                return -ECANCELED;
        pthread_mutex_lock(&f->lock);
        f->done = (uint64_t) ((int64_t) f->done + delta);
        if (f->progress)
                f->progress(f->done, f->total, f->userdata);
        pthread_mutex_unlock(&f->lock);
        return 0;
}

static void remove_fetched(int dir_fd, const OciManifest *m, size_t n) {
        for (size_t i = 0; i < n; i++)
                (void) unlinkat(dir_fd, m->entries[i].digest + strlen("sha256:"), 0);
}

/* The next layer whose content no earlier layer has, or SIZE_MAX. */
static size_t take_layer(Fetch *f) {
        const OciManifest *m = f->manifest;
        size_t i;

        pthread_mutex_lock(&f->lock);
        for (i = f->next; i < m->n_entries; i++) {
                bool seen = false;

                for (size_t j = 0; j < i && !seen; j++)
                        seen = streq(m->entries[j].digest, m->entries[i].digest);
                if (!seen)      /* the same content twice: one file */
                        break;
        }
        f->next = i < m->n_entries ? i + 1 : i;
        pthread_mutex_unlock(&f->lock);
        return i < m->n_entries ? i : SIZE_MAX;
}

static void fail(Fetch *f, int r, const CcError *e) {
        pthread_mutex_lock(&f->lock);
        if (!atomic_load(&f->failed)) {
                f->result = r;
                f->error = *e;
                atomic_store(&f->failed, true);
        }
        pthread_mutex_unlock(&f->lock);
}

/* One blob thread: its own connection, layers until none is left. */
static void *fetch_blobs(void *userdata) {
        Fetch *f = userdata;
        _cleanup_(oci_http_freep) OciHttp *http = NULL;
        CcError e = CC_ERROR_INIT;
        size_t i;
        int r;

        r = oci_http_new(&f->http_options, &http, &e);
        if (r < 0) {
                fail(f, r, &e);
                return NULL;
        }
        while (!atomic_load(&f->failed) && (i = take_layer(f)) != SIZE_MAX) {
                const OciDescriptor *d = &f->manifest->entries[i];
                _cleanup_free_ char *url = NULL;
                char what[160];

                layer_name(f->manifest, i, what, sizeof(what));
                if (asprintf(&url, "%s/blobs/%s", f->base, d->digest) < 0) {
                        fail(f, cc_error_set(&e, CC_ERROR_INTERNAL, ENOMEM, "out of memory"), &e);
                        break;
                }
                e = (CcError) CC_ERROR_INIT;
                r = oci_blob_fetch(http, url, f->authorization, f->options->output_dir_fd, d, what,
                                   on_blob_progress, f, &e);
                if (r < 0) {
                        /* A blob given up because another failed is not the error. */
                        if (r != -ECANCELED)
                                fail(f, r, &e);
                        break;
                }
        }
        return NULL;
}

static int fetch_layers(Fetch *f, const OciManifest *m, CcError *err) {
        pthread_t threads[PARALLEL_BLOBS];
        size_t n = 0;
        int r;

        f->manifest = m;
        f->next = 0;
        for (size_t i = 0; i < PARALLEL_BLOBS && i < m->n_entries; i++) {
                r = pthread_create(&threads[n], NULL, fetch_blobs, f);
                if (r != 0) {
                        if (n == 0)
                                return cc_error_set(err, CC_ERROR_INTERNAL, r, "cannot start a thread: %s",
                                                    strerror(r));
                        break;  /* fewer at once, still all of them */
                }
                n++;
        }
        for (size_t i = 0; i < n; i++)
                pthread_join(threads[i], NULL);

        if (atomic_load(&f->failed)) {
                remove_fetched(f->options->output_dir_fd, m, m->n_entries);
                if (err)
                        *err = f->error;
                return f->result;
        }
        return 0;
}

static int make_result(const char *manifest_digest, const OciManifest *m, OciPullResult **ret, CcError *err) {
        _cleanup_(oci_pull_result_freep) OciPullResult *res = NULL;

        res = calloc(1, sizeof(*res));
        if (!res || !(res->manifest_digest = strdup(manifest_digest)) ||
            !(res->layers = calloc(m->n_entries, sizeof(OciLayer))))
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        for (size_t i = 0; i < m->n_entries; i++) {
                const OciDescriptor *d = &m->entries[i];
                OciLayer *l = &res->layers[i];

                res->n_layers++;
                l->size = d->size;
                if (!(l->digest = strdup(d->digest)) || !(l->media_type = strdup(d->media_type)) ||
                    (d->title && !(l->title = strdup(d->title))) ||
                    !(l->path = strdup(d->digest + strlen("sha256:"))))
                        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        }
        *ret = TAKE_PTR(res);
        return 0;
}

static void fetch_done(Fetch *f) {
        oci_reference_done(&f->ref);
        oci_http_free(f->http);
        free(f->base);
        if (f->authorization)
                explicit_bzero(f->authorization, strlen(f->authorization));
        free(f->authorization);
}

int oci_fetch(const OciFetchOptions *o, OciFetchProgress progress, void *userdata,
              OciPullResult **ret, CcError *err) {
        _cleanup_(fetch_done) Fetch f = { .options = o, .progress = progress, .userdata = userdata,
                                          .lock = PTHREAD_MUTEX_INITIALIZER };
        _cleanup_(oci_manifest_freep) OciManifest *top = NULL, *image = NULL;
        _cleanup_free_ char *pin = NULL;
        char top_digest[72], image_digest[72];
        uint64_t limit;
        int r;

        assert(o);
        assert(o->reference);
        assert(o->output_dir_fd >= 0);
        assert(ret);

        limit = o->max_total_bytes ?: OCI_PULL_DEFAULT_MAX_TOTAL_BYTES;
        r = oci_reference_parse(o->reference, &f.ref, err);
        if (r < 0)
                return r;
        if (o->plain_http && !oci_reference_is_loopback(&f.ref))
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EPERM,
                                    "plain HTTP is only allowed for a registry on loopback, not %s", f.ref.host);
        /* "localhost" is pinned to 127.0.0.1: no name service decides where plain HTTP goes. */
        if (o->plain_http && streq(f.ref.host, "localhost") &&
            asprintf(&pin, "localhost:%u:127.0.0.1", f.ref.port ?: 80) < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        f.http_options = (OciHttpOptions) {
                .ca_bundle = o->ca_bundle,
                .ca_bundle_size = o->ca_bundle_size,
                .plain_http = o->plain_http,
                .pin_localhost = pin,
        };
        r = oci_http_new(&f.http_options, &f.http, err);
        if (r < 0)
                return r;
        if (asprintf(&f.base, "%s://%s/v2/%s", oci_http_scheme(f.http), f.ref.authority, f.ref.repository) < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");

        r = authenticate(&f, err);
        if (r < 0)
                return r;

        r = get_manifest(&f, f.ref.digest ?: f.ref.tag, &top, top_digest, err);
        if (r < 0)
                return r;
        if (f.ref.digest && !streq(top_digest, f.ref.digest))
                return cc_error_set(err, CC_ERROR_DIGEST_MISMATCH, EBADMSG,
                                    "the manifest of %s has digest %s, not the pinned %s",
                                    o->reference, top_digest, f.ref.digest);

        if (top->kind == OCI_MANIFEST_INDEX) {
                const OciDescriptor *d;

                r = oci_index_select(top, "linux", "amd64", &d, err);
                if (r < 0)
                        return r;
                if (d->size > OCI_MANIFEST_MAX_BYTES)
                        return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EFBIG,
                                            "the linux/amd64 manifest is larger than %u bytes", OCI_MANIFEST_MAX_BYTES);
                r = get_manifest(&f, d->digest, &image, image_digest, err);
                if (r < 0)
                        return r;
                if (!streq(image_digest, d->digest))
                        return cc_error_set(err, CC_ERROR_DIGEST_MISMATCH, EBADMSG,
                                            "the linux/amd64 manifest has digest %s, the index says %s",
                                            image_digest, d->digest);
                if (image->kind != OCI_MANIFEST_IMAGE)
                        return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EBADMSG,
                                            "the index's linux/amd64 entry is itself an index");
        } else
                image = TAKE_PTR(top);

        if (image->n_entries == 0)
                return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, ENODATA, "%s has no layers", o->reference);
        if (image->total_size > limit)
                return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EFBIG,
                                    "%s has %" PRIu64 " bytes of layers, more than the limit of %" PRIu64,
                                    o->reference, image->total_size, limit);

        f.total = image->total_size;
        if (progress)
                progress(0, f.total, userdata);
        r = fetch_layers(&f, image, err);
        if (r < 0)
                return r;

        r = make_result(top_digest, image, ret, err);
        if (r < 0)
                remove_fetched(o->output_dir_fd, image, image->n_entries);
        return r;
}
