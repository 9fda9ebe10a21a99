/* SPDX-License-Identifier: MIT */
#pragma once

/* Structured logging: the journal when its socket is there, stderr otherwise
 * (or when --log-target console is given).  Events carry a MESSAGE_ID from
 * message-ids.h and CC_* fields; the catalog in docs/ explains each id. */

#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

typedef enum LogTarget {
        LOG_TARGET_AUTO,    /* journal if /run/systemd/journal/socket exists */
        LOG_TARGET_JOURNAL,
        LOG_TARGET_CONSOLE,
} LogTarget;

void log_setup(const char *identifier, LogTarget target);
int log_target_from_string(const char *s, LogTarget *ret);
void log_set_max_level(int priority);

/* Plain message at a syslog priority. */
void log_full(int priority, const char *fmt, ...) _printf_(2, 3);

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

/* An event: MESSAGE_ID (32 hex digits, see message-ids.h), extra fields as a
 * NULL-terminated list of "KEY=value" strings (may be NULL), and the
 * human-readable MESSAGE. */
void log_event(int priority, const char *message_id, const char *const *fields, const char *fmt, ...)
        _printf_(4, 5);
