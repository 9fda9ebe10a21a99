/* SPDX-License-Identifier: MIT */
#pragma once

/* A domain error that carries a kind (mapped 1:1 to the D-Bus error names of
 * the contract by daemon/) and a message for people.  Below daemon/ nothing
 * knows about D-Bus; it fills one of these. */

#include <stdarg.h>

#include "macro.h"

typedef enum CcErrorKind {
        CC_ERROR_NONE = 0,
        CC_ERROR_INVALID_ARGUMENT,
        CC_ERROR_NOT_FOUND,
        CC_ERROR_NOT_CAPABLE,
        CC_ERROR_BUSY,
        CC_ERROR_HOST_NOT_READY,
        CC_ERROR_HARDWARE_FAILURE,
        CC_ERROR_TIMEOUT,
        CC_ERROR_DIGEST_MISMATCH,
        CC_ERROR_REGISTRY_ERROR,
        CC_ERROR_ACCESS_DENIED,
        CC_ERROR_INTERNAL,
        _CC_ERROR_KIND_MAX,
} CcErrorKind;

typedef struct CcError {
        CcErrorKind kind;
        int errno_value; /* positive errno behind it, 0 if none */
        char message[384];
} CcError;

#define CC_ERROR_INIT { CC_ERROR_NONE, 0, "" }

/* Fills *e (when non-NULL) and returns -errno_value, or -EIO when errno_value
 * is 0, so callers can write `return cc_error_set(e, ...);`. */
int cc_error_set(CcError *e, CcErrorKind kind, int errno_value, const char *fmt, ...) _printf_(4, 5);
int cc_error_setv(CcError *e, CcErrorKind kind, int errno_value, const char *fmt, va_list ap) _printf_(4, 0);

/* Prepends "prefix: " to the message, e.g. the GPU's address. */
void cc_error_prefix(CcError *e, const char *fmt, ...) _printf_(2, 3);

void cc_error_clear(CcError *e);
static inline int cc_error_is_set(const CcError *e) {
        return e && e->kind != CC_ERROR_NONE;
}
const char *cc_error_kind_to_string(CcErrorKind kind);
