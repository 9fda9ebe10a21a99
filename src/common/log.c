/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>

#include "log.h"

static const char *log_identifier = "nvidia-ccd";
static LogTarget log_target = LOG_TARGET_AUTO;
static int log_max_level = LOG_INFO;

static bool journal_available(void) {
        struct stat st;
        return stat("/run/systemd/journal/socket", &st) == 0;
}

void log_setup(const char *identifier, LogTarget target) {
        if (identifier)
                log_identifier = identifier;
        if (target == LOG_TARGET_AUTO)
                target = journal_available() ? LOG_TARGET_JOURNAL : LOG_TARGET_CONSOLE;
        log_target = target;
}

int log_target_from_string(const char *s, LogTarget *ret) {
        if (streq(s, "auto"))
                *ret = LOG_TARGET_AUTO;
        else if (streq(s, "journal"))
                *ret = LOG_TARGET_JOURNAL;
        else if (streq(s, "console"))
                *ret = LOG_TARGET_CONSOLE;
        else
                return -EINVAL;
        return 0;
}

void log_set_max_level(int priority) {
        log_max_level = priority;
}

static void console_write(int priority, const char *message, const char *const *fields) {
        static const char *const prefixes[] = {
                [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
                [LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
                [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
        };
        flockfile(stderr);
        fprintf(stderr, "%s[%s]: %s", log_identifier, prefixes[priority & 7], message);
        for (const char *const *f = fields; f && *f; f++)
                fprintf(stderr, " %s", *f);
        fputc('\n', stderr);
        funlockfile(stderr);
}

static void log_emit(int priority, const char *message_id, const char *const *fields, const char *message) {
        if ((priority & 7) > log_max_level)
                return;
        if (log_target != LOG_TARGET_JOURNAL) {
                console_write(priority, message, fields);
                return;
        }

        /* MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, MESSAGE_ID and the fields. */
        size_t n_fields = 0;
        for (const char *const *f = fields; f && *f; f++)
                n_fields++;

        struct iovec iov[4 + n_fields];
        char prio[16], ident[64], msgid[48];
        _cleanup_free_ char *msg = NULL;
        size_t n = 0;

        if (asprintf(&msg, "MESSAGE=%s", message) < 0)
                return;
        snprintf(prio, sizeof(prio), "PRIORITY=%i", priority & 7);
        snprintf(ident, sizeof(ident), "SYSLOG_IDENTIFIER=%s", log_identifier);
        iov[n++] = (struct iovec) { msg, strlen(msg) };
        iov[n++] = (struct iovec) { prio, strlen(prio) };
        iov[n++] = (struct iovec) { ident, strlen(ident) };
        if (message_id) {
                snprintf(msgid, sizeof(msgid), "MESSAGE_ID=%s", message_id);
                iov[n++] = (struct iovec) { msgid, strlen(msgid) };
        }
        for (const char *const *f = fields; f && *f; f++)
                iov[n++] = (struct iovec) { (char *) *f, strlen(*f) };

        if (sd_journal_sendv(iov, (int) n) < 0)
                console_write(priority, message, fields);
}

void log_full(int priority, const char *fmt, ...) {
        char buf[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        log_emit(priority, NULL, NULL, buf);
}

void log_event(int priority, const char *message_id, const char *const *fields, const char *fmt, ...) {
        char buf[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        log_emit(priority, message_id, fields, buf);
}
