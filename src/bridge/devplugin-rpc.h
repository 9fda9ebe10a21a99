/* SPDX-License-Identifier: MIT */
#pragma once

/* The device plugin's messages (protobuf-c, generated from
 * deviceplugin.proto): each request the plugin serves decoded, answered
 * from a DpResource and encoded; the ListAndWatch update and the Register
 * request built.  No I/O: grpc-h2.c carries the bytes, devplugin.c says
 * which resource.  A request that does not decode is INVALID_ARGUMENT. */

#include <stddef.h>
#include <stdint.h>

#include "devplugin-model.h"

/* gRPC status codes (grpc/doc/statuscodes.md). */
typedef enum GrpcStatus {
        GRPC_STATUS_OK = 0,
        GRPC_STATUS_CANCELLED = 1,
        GRPC_STATUS_UNKNOWN = 2,
        GRPC_STATUS_INVALID_ARGUMENT = 3,
        GRPC_STATUS_DEADLINE_EXCEEDED = 4,
        GRPC_STATUS_NOT_FOUND = 5,
        GRPC_STATUS_RESOURCE_EXHAUSTED = 8,
        GRPC_STATUS_FAILED_PRECONDITION = 9,
        GRPC_STATUS_UNIMPLEMENTED = 12,
        GRPC_STATUS_INTERNAL = 13,
        GRPC_STATUS_UNAVAILABLE = 14,
} GrpcStatus;

typedef struct GrpcReply {
        GrpcStatus status;
        char *message;       /* status != OK: what went wrong */
        uint8_t *data;       /* status == OK: the encoded response */
        size_t size;
} GrpcReply;

void grpc_reply_done(GrpcReply *r);
/* Sets an error reply; returns status. */
GrpcStatus grpc_reply_error(GrpcReply *r, GrpcStatus status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

GrpcStatus dp_rpc_get_device_plugin_options(const uint8_t *req, size_t size, GrpcReply *reply);
GrpcStatus dp_rpc_get_preferred_allocation(const DpResource *r, const uint8_t *req, size_t size, GrpcReply *reply);
GrpcStatus dp_rpc_allocate(const DpResource *r, const uint8_t *req, size_t size, GrpcReply *reply);
GrpcStatus dp_rpc_pre_start_container(const DpResource *r, const uint8_t *req, size_t size, GrpcReply *reply);
/* ListAndWatch's request (Empty). */
GrpcStatus dp_rpc_list_and_watch_request(const uint8_t *req, size_t size, GrpcReply *reply);

/* One ListAndWatchResponse: every device of r. */
int dp_rpc_list_and_watch_response(const DpResource *r, uint8_t **ret, size_t *ret_size);
/* RegisterRequest: version v1beta1, the endpoint (a file name), the
 * resource, and the options the plugin serves. */
int dp_rpc_register_request(const char *endpoint, const char *resource_name, uint8_t **ret, size_t *ret_size);
/* Register's response (Empty): -EBADMSG when it does not decode. */
int dp_rpc_register_response(const uint8_t *data, size_t size);
