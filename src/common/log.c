/* SPDX-License-Identifier: MIT */
#include <printf.h>
#include <stdarg.h>
#include <wchar.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>

#include "log.h"

/* A message, PRIORITY, SYSLOG_IDENTIFIER, ERRNO and the event's fields. */
#define LOG_FIELDS_MAX 24
#define LOG_LINE_MAX 1024

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

static bool is_field(const char *f, const char *key) {
        size_t n = strlen(key);
        return strncmp(f, key, n) == 0 && f[n] == '=';
}

/* fields: "KEY=value", the first MESSAGE=. */
static void console_write(int priority, const char *const *fields, size_t n) {
        static const char *const prefixes[] = {
                [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
                [LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
                [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
        };
        flockfile(stderr);
        fprintf(stderr, "%s[%s]: %s", log_identifier, prefixes[priority & 7], fields[0] + strlen("MESSAGE="));
        for (size_t i = 1; i < n; i++)
                if (!is_field(fields[i], "MESSAGE_ID") && !is_field(fields[i], "ERRNO"))
                        fprintf(stderr, " %s", fields[i]);
        fputc('\n', stderr);
        funlockfile(stderr);
}

/* fields[0] is MESSAGE=; the rest as given. */
static void log_emit(int priority, const char *const *fields, size_t n) {
        struct iovec iov[LOG_FIELDS_MAX + 2];
        char prio[16], ident[64];
        size_t k = 0;

        if (log_target != LOG_TARGET_JOURNAL) {
                console_write(priority, fields, n);
                return;
        }
        snprintf(prio, sizeof(prio), "PRIORITY=%i", priority & 7);
        snprintf(ident, sizeof(ident), "SYSLOG_IDENTIFIER=%s", log_identifier);
        iov[k++] = (struct iovec) { prio, strlen(prio) };
        iov[k++] = (struct iovec) { ident, strlen(ident) };
        for (size_t i = 0; i < n && i < LOG_FIELDS_MAX; i++)
                iov[k++] = (struct iovec) { (char *) fields[i], strlen(fields[i]) };
        if (sd_journal_sendv(iov, (int) k) < 0)
                console_write(priority, fields, n);
}

static bool log_enabled(int priority) {
        return (priority & 7) <= log_max_level;
}

/* "MESSAGE=" and the message, cut at the buffer's end. */
_printf_(3, 0) static void format_message(char *buf, size_t size, const char *fmt, va_list ap) {
        int k = snprintf(buf, size, "MESSAGE=");

        vsnprintf(buf + k, size - k, fmt, ap);
}

void log_full(int priority, const char *fmt, ...) {
        char buf[LOG_LINE_MAX];
        const char *fields[] = { buf };
        va_list ap;

        if (!log_enabled(priority))
                return;
        va_start(ap, fmt);
        format_message(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        log_emit(priority, fields, 1);
}

int log_full_errno(int priority, int error, const char *fmt, ...) {
        int e = error < 0 ? -error : error;
        char buf[LOG_LINE_MAX], errno_field[32];
        const char *fields[] = { buf, errno_field };
        va_list ap;

        if (!log_enabled(priority))
                return -e;
        errno = e;
        va_start(ap, fmt);
        format_message(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        snprintf(errno_field, sizeof(errno_field), "ERRNO=%i", e);
        log_emit(priority, fields, 2);
        errno = e;
        return -e;
}

/* Steps ap over the arguments of format, as systemd's VA_FORMAT_ADVANCE:
 * the next format comes after them. */
#define VA_SKIP_FORMAT(format, ap)                                                              \
        do {                                                                                    \
                int _types[32];                                                                 \
                size_t _n = parse_printf_format((format), ELEMENTSOF(_types), _types);          \
                for (size_t _i = 0; _i < _n && _i < ELEMENTSOF(_types); _i++) {                \
                        int _t = _types[_i];                                                    \
                        switch (_t & ~PA_FLAG_MASK) {                                           \
                        case PA_CHAR:                                                           \
                        case PA_INT:                                                            \
                                if (_t & PA_FLAG_LONG_LONG)                                     \
                                        (void) va_arg(ap, long long);                           \
                                else if (_t & PA_FLAG_LONG)                                     \
                                        (void) va_arg(ap, long);                                \
                                else                                                            \
                                        (void) va_arg(ap, int);                                 \
                                break;                                                          \
                        case PA_WCHAR:                                                          \
                                (void) va_arg(ap, wint_t);                                      \
                                break;                                                          \
                        case PA_FLOAT:                                                          \
                        case PA_DOUBLE:                                                         \
                                if (_t & PA_FLAG_LONG_DOUBLE)                                   \
                                        (void) va_arg(ap, long double);                         \
                                else                                                            \
                                        (void) va_arg(ap, double);                              \
                                break;                                                          \
                        default: /* strings, pointers */                                        \
                                (void) va_arg(ap, void *);                                      \
                        }                                                                       \
                }                                                                               \
        } while (0)

void log_struct(int priority, const char *format, ...) {
        char *fields[LOG_FIELDS_MAX] = {};
        const char *ordered[LOG_FIELDS_MAX];
        size_t n = 1, k = 0;
        va_list ap;

        if (!log_enabled(priority))
                return;
        /* fields[0]: MESSAGE=, wherever it came. */
        va_start(ap, format);
        for (const char *f = format; f; f = va_arg(ap, const char *)) {
                bool message = strncmp(f, "MESSAGE=", strlen("MESSAGE=")) == 0;
                char *s = NULL;
                va_list aq;

                va_copy(aq, ap);
                if (vasprintf(&s, f, aq) < 0)
                        s = NULL;
                va_end(aq);
                VA_SKIP_FORMAT(f, ap);

                if (message && !fields[0])
                        fields[0] = s;
                else if (!message && n < LOG_FIELDS_MAX)
                        fields[n++] = s;
                else
                        free(s);
        }
        va_end(ap);

        for (size_t i = 0; i < n; i++)
                if (fields[i])
                        ordered[k++] = fields[i];
        if (fields[0])
                log_emit(priority, ordered, k);
        for (size_t i = 0; i < n; i++)
                free(fields[i]);
}

