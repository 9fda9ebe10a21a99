/* SPDX-License-Identifier: MIT */
#include <stdarg.h>

#include "cc-error.h"

int cc_error_setv(CcError *e, CcErrorKind kind, int errno_value, const char *fmt, va_list ap) {
        if (errno_value < 0)
                errno_value = -errno_value;
        if (e) {
                e->kind = kind;
                e->errno_value = errno_value;
                vsnprintf(e->message, sizeof(e->message), fmt, ap);
        }
        return -(errno_value ? errno_value : EIO);
}

int cc_error_set(CcError *e, CcErrorKind kind, int errno_value, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = cc_error_setv(e, kind, errno_value, fmt, ap);
        va_end(ap);
        return r;
}

void cc_error_prefix(CcError *e, const char *fmt, ...) {
        char prefix[128], joined[sizeof(e->message)];
        va_list ap;

        if (!e)
                return;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        size_t used = (size_t) snprintf(joined, sizeof(joined), "%s: ", prefix);
        if (used >= sizeof(joined))
                used = sizeof(joined) - 1;
        size_t rest = strnlen(e->message, sizeof(e->message) - 1);
        if (rest > sizeof(joined) - 1 - used)
                rest = sizeof(joined) - 1 - used;
        memcpy(joined + used, e->message, rest);
        joined[used + rest] = '\0';
        memcpy(e->message, joined, sizeof(joined));
}

void cc_error_clear(CcError *e) {
        if (!e)
                return;
        e->kind = CC_ERROR_NONE;
        e->errno_value = 0;
        e->message[0] = '\0';
}

const char *cc_error_kind_to_string(CcErrorKind kind) {
        static const char *const names[_CC_ERROR_KIND_MAX] = {
                [CC_ERROR_NONE] = "None",
                [CC_ERROR_INVALID_ARGUMENT] = "InvalidArgument",
                [CC_ERROR_NOT_FOUND] = "NotFound",
                [CC_ERROR_NOT_CAPABLE] = "NotCapable",
                [CC_ERROR_BUSY] = "Busy",
                [CC_ERROR_HOST_NOT_READY] = "HostNotReady",
                [CC_ERROR_HARDWARE_FAILURE] = "HardwareFailure",
                [CC_ERROR_TIMEOUT] = "Timeout",
                [CC_ERROR_DIGEST_MISMATCH] = "DigestMismatch",
                [CC_ERROR_REGISTRY_ERROR] = "RegistryError",
                [CC_ERROR_ACCESS_DENIED] = "AccessDenied",
                [CC_ERROR_INTERNAL] = "Internal",
        };
        if ((unsigned) kind >= _CC_ERROR_KIND_MAX)
                return "Internal";
        return names[kind];
}
