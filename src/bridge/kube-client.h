/* SPDX-License-Identifier: MIT */
#pragma once

/* HTTP requests to the API server on libcurl's multi interface, driven by
 * sd-event: sockets and timers are event sources, so nothing blocks the
 * loop.  Requests are started and cancelled from the loop (never from inside
 * libcurl), so the handlers may start and cancel requests freely. */

#include <stdint.h>
#include <systemd/sd-event.h>

#include "kube-config.h"

typedef struct KubeClient KubeClient;
typedef struct KubeRequest KubeRequest;

/* Streamed body of a 2xx answer (watches).  Return < 0 to end the request;
 * the done handler then gets that value. */
typedef int (*KubeDataHandler)(KubeRequest *req, const void *data, size_t size, void *userdata);
/* The end of a request: r < 0 when it did not complete (network, TLS, a
 * data handler's error; status is 0 then or the status seen), else the HTTP
 * status and the body (the whole body without a data handler; with one,
 * only the body of an answer that is not 2xx).  The request is freed after
 * this returns. */
typedef void (*KubeDoneHandler)(KubeRequest *req, int r, long status, const char *body, size_t size,
                                void *userdata);

/* Takes the configuration. */
int kube_client_new(sd_event *event, KubeConfig *config, KubeClient **ret);
KubeClient *kube_client_free(KubeClient *c);

/* Starts method on server+path.  body may be NULL; timeout 0: none.  *ret
 * (optional) is valid until the done handler returns or until cancelled. */
int kube_client_request(KubeClient *c, const char *method, const char *path, const char *content_type,
                        const char *body, uint64_t timeout_usec, KubeDataHandler on_data,
                        KubeDoneHandler on_done, void *userdata, KubeRequest **ret);

/* Ends the request; no handler is called any more.  NULL is fine. */
void kube_request_cancel(KubeRequest *req);

/* For messages: "GET /api/v1/nodes/x". */
const char *kube_request_describe(KubeRequest *req);
