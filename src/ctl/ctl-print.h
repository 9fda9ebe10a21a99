/* SPDX-License-Identifier: MIT */
#pragma once

/* Output of status and list, for people and as JSON.  Pure: everything
 * goes to the FILE given, nothing is read from the environment. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctl-model.h"

/* --no-legend: tables without their header, and no "No devices." line.
 * For every table printed afterwards. */
void ctl_print_set_legend(bool show);

/* Columns of the device table, in order. */
typedef enum CtlColumn {
        CTL_COLUMN_ADDRESS,
        CTL_COLUMN_NAME,
        CTL_COLUMN_KIND,
        CTL_COLUMN_ARCH,
        CTL_COLUMN_CC,
        CTL_COLUMN_PPCIE,
        CTL_COLUMN_DRIVER,
        CTL_COLUMN_GROUP,
        CTL_COLUMN_NUMA,
        _CTL_COLUMN_MAX,
} CtlColumn;

#define CTL_CELL_MAX 256

/* The text of one cell ("-" for what the device does not have). */
const char *ctl_device_cell(const CtlDevice *d, CtlColumn c, char buf[static CTL_CELL_MAX]);

/* s, or a copy in buf with control characters (C0, DEL, C1: a tab or a
 * newline would break the layout, an escape sequence from a registry or a
 * device name could drive the terminal) and bytes that are not UTF-8 shown
 * as \xNN; a copy that does not fit is cut at a character boundary. */
const char *ctl_printable(const char *s, char *buf, size_t size);

/* Width on a terminal: UTF-8 code points, each taken as one column. */
size_t ctl_text_width(const char *s);

/* Widest NAME that lets the table fit in columns (0: no limit), never less
 * than a few characters. */
size_t ctl_name_width_for(const CtlDevice *d, size_t n, size_t columns);

/* One row of a table: each cell padded to its column's width (cut with an
 * ellipsis when wider), no blanks after the last. */
void ctl_print_row(FILE *f, const char *const *cells, const size_t *widths, size_t n);

/* The table with its header; names wider than name_max (0: no limit) are
 * cut with an ellipsis.  With no devices it prints "No devices.". */
void ctl_print_devices(FILE *f, const CtlDevice *d, size_t n, size_t name_max);

/* Columns of the runtime class table, in order. */
typedef enum CtlRcColumn {
        CTL_RC_COLUMN_NAME,
        CTL_RC_COLUMN_REFERENCE,
        CTL_RC_COLUMN_DIGEST,
        CTL_RC_COLUMN_INSTALLED,
        _CTL_RC_COLUMN_MAX,
} CtlRcColumn;

/* Hex digits of the short digest, as container tools show image ids. */
#define CTL_DIGEST_SHORT_HEX 12

/* "sha256:" and the first CTL_DIGEST_SHORT_HEX hex digits; a digest of
 * another form is shown whole; "-" for none. */
const char *ctl_digest_short(const char *digest, char buf[static CTL_CELL_MAX]);
/* A time in µs since the epoch as local time, "2025-01-31 12:00:00 UTC";
 * "-" for 0. */
const char *ctl_format_timestamp(uint64_t usec, char buf[static CTL_CELL_MAX]);
const char *ctl_runtime_class_cell(const CtlRuntimeClass *rc, CtlRcColumn c, char buf[static CTL_CELL_MAX]);

/* The table with its header, or "No runtime classes.". */
void ctl_print_runtime_classes(FILE *f, const CtlRuntimeClass *rc, size_t n);

/* hostnamectl style: aligned "Key: value" lines, the device table, then
 * the runtime class table. */
void ctl_print_status(FILE *f, const CtlHost *h, size_t name_max);

/* One JSON object (status: the Manager's properties, "Devices" and
 * "RuntimeClasses") or array (list), and a newline.  Keys are the D-Bus
 * property names and strings are as the daemon sent them ("" for none);
 * ids that are -1 for "none" are null, and so is what the daemon did not
 * send. */
void ctl_print_status_json(FILE *f, const CtlHost *h);
void ctl_print_devices_json(FILE *f, const CtlDevice *d, size_t n);

/* {"error":{"name":...,"message":...}} and a newline; name may be NULL. */
void ctl_print_error_json(FILE *f, const char *name, const char *message);
