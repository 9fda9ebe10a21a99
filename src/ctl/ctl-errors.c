/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "ctl-args.h"
#include "ctl-errors.h"
#include "escape.h"
#include "macro.h"

#define DBUS_ERROR(n) "org.freedesktop.DBus.Error." n
#define STILL_WORKING "the daemon may still be working (see nvidia-ccctl status)"

static bool name_in(const char *name, const char *const *names, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (streq(name, names[i]))
                        return true;
        return false;
}

static bool has_prefix(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Errors of a connection to the bus that could not be made or broke. */
static bool errno_is_disconnect(int r) {
        static const int errnos[] = { ENOENT, ECONNREFUSED, ECONNRESET, ENOTCONN, EPIPE, ESHUTDOWN, EHOSTDOWN };

        for (size_t i = 0; i < ELEMENTSOF(errnos); i++)
                if (r == -errnos[i])
                        return true;
        return false;
}

CtlFailure ctl_failure_classify(const char *name, int r, const char *gpu) {
        static const char *const denied[] = {
                DBUS_ERROR("AccessDenied"),
                DBUS_ERROR("InteractiveAuthorizationRequired"),
        };
        /* The name has no owner and could not be activated, or the daemon
         * went away before it answered. */
        static const char *const not_running[] = {
                DBUS_ERROR("ServiceUnknown"),
                DBUS_ERROR("NameHasNoOwner"),
                DBUS_ERROR("NoReply"),
                DBUS_ERROR("Disconnected"),
                DBUS_ERROR("NoServer"),
        };
        static const char *const no_object[] = {
                DBUS_ERROR("UnknownObject"),
                DBUS_ERROR("UnknownInterface"),
                DBUS_ERROR("UnknownMethod"),
        };

        /* sd-bus's names for a local errno, System.Error.ENOTCONN: ours,
         * not the daemon's. */
        if (name && has_prefix(name, "System.Error."))
                name = NULL;
        if (!name) {
                /* Our own call timeout ran out: the daemon may well still
                 * be working. */
                if (r == -ETIMEDOUT)
                        return CTL_FAILURE_NO_REPLY_IN_TIME;
                if (errno_is_disconnect(r))
                        return CTL_FAILURE_NO_BUS;
                return CTL_FAILURE_OTHER;
        }
        if (name_in(name, denied, ELEMENTSOF(denied)))
                return CTL_FAILURE_ACCESS_DENIED;
        if (name_in(name, not_running, ELEMENTSOF(not_running)) || has_prefix(name, DBUS_ERROR("Spawn.")))
                return CTL_FAILURE_NOT_RUNNING;
        if (gpu && name_in(name, no_object, ELEMENTSOF(no_object)))
                return CTL_FAILURE_NO_SUCH_DEVICE;
        return CTL_FAILURE_OTHER;
}

int ctl_failure_exit_code(CtlFailure f) {
        return f == CTL_FAILURE_ACCESS_DENIED ? CTL_EXIT_ACCESS_DENIED : CTL_EXIT_FAILURE;
}

const char *ctl_error_short_name(const char *name) {
        const char *dot;

        assert(name);

        dot = strrchr(name, '.');
        return dot ? dot + 1 : name;
}

void ctl_failure_format(char *buf, size_t size, const CtlOperation *op, const char *name, const char *message, int r) {
        assert(buf);
        assert(op);

        if (name && has_prefix(name, "System.Error."))
                name = message = NULL;

        switch (ctl_failure_classify(name, r, op->gpu)) {
        case CTL_FAILURE_ACCESS_DENIED:
                /* The daemon says why: not authorized, authentication
                 * needed, or no polkit to ask. */
                if (message && *message)
                        snprintf(buf, size, "%s: %s", op->denied, message);
                else
                        snprintf(buf, size, "%s", op->denied);
                break;
        case CTL_FAILURE_NOT_RUNNING:
                snprintf(buf, size, "nvidia-ccd is not running: " CTL_SERVICE " is not on the bus "
                         "(see systemctl status nvidia-ccd)");
                break;
        case CTL_FAILURE_NO_BUS:
                snprintf(buf, size, "%s: lost the connection to the bus: %s", op->failed, strerror(r < 0 ? -r : r));
                break;
        case CTL_FAILURE_NO_SUCH_DEVICE:
                snprintf(buf, size, "%s: no device %s (see nvidia-ccctl list)", op->failed, op->gpu);
                break;
        case CTL_FAILURE_NO_REPLY_IN_TIME:
                if (op->timeout_sec % 60 == 0)
                        snprintf(buf, size, "%s: no reply within %u min; " STILL_WORKING, op->failed,
                                 op->timeout_sec / 60);
                else
                        snprintf(buf, size, "%s: no reply within %u s; " STILL_WORKING, op->failed, op->timeout_sec);
                break;
        case CTL_FAILURE_OTHER:
                if (name) {
                        /* The message may quote a registry or a file. */
                        char shown[1024];

                        snprintf(buf, size, "%s: %s: %s", op->failed, ctl_error_short_name(name),
                                 message && *message ? text_escape_controls_buf(message, shown, sizeof(shown)) :
                                                       "(no message)");
                }
                else
                        snprintf(buf, size, "%s: %s", op->failed, strerror(r < 0 ? -r : r));
                break;
        }
}
