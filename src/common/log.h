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

/* As systemd's: the message with errno set from error (negative or not),
 * so that %m names it, and ERRNO= in the journal; returns -|error|, for
 * "return log_error_errno(r, "Cannot ...: %m");". */
int log_full_errno(int priority, int error, const char *fmt, ...) _printf_(3, 4);

#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, error, __VA_ARGS__)

/* An event, as systemd's log_struct(): after the priority, printf formats
 * each with its arguments, one journal field each, up to a NULL:
 *
 *     log_struct(LOG_INFO,
 *                LOG_MESSAGE_ID(CC_MESSAGE_SWITCH_STARTED),
 *                "CC_MODE=%s", mode,
 *                LOG_MESSAGE("Switching %zu devices to mode %s", n, mode),
 *                NULL);
 *
 * On the console: the message, then the CC_* fields. */
void log_struct(int priority, const char *format, ...) _sentinel_;

#define LOG_MESSAGE(...) "MESSAGE=" __VA_ARGS__
#define LOG_MESSAGE_ID(id) "MESSAGE_ID=%s", (id)

