/* SPDX-License-Identifier: MIT */
#pragma once

/* Names that both nvidia-ccd and nvidia-ccctl check, with one message each,
 * so that a bad argument reads the same whichever refuses it. */

#include <stdbool.h>
#include <stddef.h>

/* A DNS name (RFC 1123): labels of letters, digits and inner hyphens, at
 * most 63 characters each, 253 in all; lowercase: no capital letters, as
 * Kubernetes takes its names. */
#define DNS_LABEL_MAX 63
#define DNS_NAME_MAX 253
bool dns_name_valid(const char *s, size_t len, bool lowercase);

/* A Kubernetes RuntimeClass handler: an RFC 1123 label,
 * [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters. */
#define CC_RUNTIME_CLASS_MAX 63
bool cc_runtime_class_valid(const char *name);
/* printf format of the refusal, with the name as its one argument. */
#define CC_RUNTIME_CLASS_INVALID_FMT                                                                     \
        "Runtime class name \"%s\" is not a DNS-1123 label (lowercase letters, digits and '-', starting " \
        "and ending with a letter or digit, at most 63 characters)"

/* A mode SetMode() takes: exactly on, off, devtools or ppcie. */
bool cc_mode_name_valid(const char *mode);
#define CC_MODE_INVALID_FMT "Unknown mode \"%s\": expected on, off, devtools or ppcie"
