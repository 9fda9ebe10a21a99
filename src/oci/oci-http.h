/* SPDX-License-Identifier: MIT */
#pragma once

/* HTTP GETs to one registry over one reused connection (libcurl): TLS with
 * the system store or a CA bundle, or plain HTTP to loopback only; transient
 * failures (connection refused or reset, 5xx, 429) retried with backoff.
 * Bodies of successful responses go to a sink; error bodies are kept (small)
 * for the message. */

#include <stdbool.h>
#include <stddef.h>

#include "cc-error.h"

typedef struct OciHttp OciHttp;

typedef struct OciHttpSink {
        /* Each chunk of a 2xx body: 0, or a negative errno to abort (the
         * sink keeps its own error, oci_http_get() returns the errno). */
        int (*write)(void *userdata, const void *data, size_t size);
        /* Before a retry: start the body over. */
        int (*reset)(void *userdata);
        void *userdata;
} OciHttpSink;

typedef struct OciHttpResponse {
        long status;
        char *content_type;
        char *www_authenticate;
        char *error_body;     /* the first bytes of a non-2xx body, NUL-terminated */
} OciHttpResponse;

void oci_http_response_done(OciHttpResponse *r);

typedef struct OciHttpOptions {
        const char *ca_bundle;    /* PEM text to trust; NULL: the system store */
        size_t ca_bundle_size;
        bool plain_http;          /* the caller checked the host is loopback */
        const char *pin_localhost; /* plain HTTP to "localhost": "localhost:PORT:127.0.0.1" */
        unsigned max_attempts;    /* 0: 4 */
        unsigned backoff_ms;      /* 0: 100, then x3 per attempt */
} OciHttpOptions;

int oci_http_new(const OciHttpOptions *o, OciHttp **ret, CcError *err);
OciHttp *oci_http_free(OciHttp *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(OciHttp *, oci_http_free);

/* "https" or "http": the scheme registry URLs are built with. */
const char *oci_http_scheme(const OciHttp *h);

/* GET url.  authorization: the Authorization header's value, or NULL.
 * accept: the Accept header's value, or NULL.  Returns 0 with any final
 * HTTP status in *ret; a negative errno with a RegistryError naming the URL
 * when the registry could not be reached or went away (after the retries);
 * or the sink's errno when it aborted. */
int oci_http_get(OciHttp *h, const char *url, const char *authorization, const char *accept,
                 const OciHttpSink *sink, OciHttpResponse *ret, CcError *err);

/* A message for a non-2xx response: "401 Unauthorized (UNAUTHORIZED:
 * authentication required)", from the registry's error JSON when it has one. */
void oci_http_describe(const OciHttpResponse *r, char *buf, size_t size);
