/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdarg.h>

#include "bus-errors.h"
#include "daemon.h"
#include "log.h"
#include "operation.h"

Operation *operation_free(Operation *o) {
        if (!o)
                return NULL;
        sd_bus_message_unref(o->request);
        free(o->what);
        free(o);
        return NULL;
}

bool operation_running(const Daemon *d) {
        return d->operation;
}

int operation_check_idle(const Daemon *d, sd_bus_error *error) {
        if (!d->operation)
                return 0;
        return sd_bus_error_setf(error, CC_ERROR_PREFIX "Busy", "%s is in progress; try again when it is done",
                                 d->operation->what);
}

int operation_begin(Daemon *d, sd_bus_message *request, sd_bus_error *error, const char *what_fmt, ...) {
        Operation *o;
        va_list ap;
        int r;

        assert(d);

        r = operation_check_idle(d, error);
        if (r < 0)
                return r;
        o = calloc(1, sizeof(Operation));
        if (!o)
                return -ENOMEM;
        va_start(ap, what_fmt);
        r = vasprintf(&o->what, what_fmt, ap);
        va_end(ap);
        if (r < 0) {
                free(o);
                return -ENOMEM;
        }
        o->request = sd_bus_message_ref(request);
        d->operation = o;
        return 0;
}

void operation_cancel(Daemon *d) {
        d->operation = operation_free(d->operation);
}

void operation_end(Daemon *d, int r, const CcError *e, const char *types, ...) {
        Operation *o = TAKE_PTR(d->operation);
        int k = 0;

        assert(o);

        if (o->request && r < 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

                bus_error_from_cc(&error, e);
                k = sd_bus_reply_method_error(o->request, &error);
        } else if (o->request) {
                va_list ap;

                va_start(ap, types);
                k = sd_bus_reply_method_returnv(o->request, types, ap);
                va_end(ap);
        }
        if (k < 0)
                log_warning("Cannot send the reply (%s): %s", o->what, strerror(-k));
        operation_free(o);

        if (d->exit_requested)
                sd_event_exit(d->event, d->exit_code);
}

void operation_request_exit(Daemon *d, int code) {
        if (!d->operation) {
                sd_event_exit(d->event, code);
                return;
        }
        /* Finish the operation rather than leave devices half done; a
         * pull, which may take long, is cancelled instead (its end may
         * come at once, and exits then). */
        log_info("Stopping once the operation in progress is done");
        d->exit_requested = true;
        d->exit_code = code;
        kata_control_stop(d);
}
