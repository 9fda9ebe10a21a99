/* SPDX-License-Identifier: MIT */
#pragma once

/* Output of status and list, for people and as JSON.  Pure: everything
 * goes to the FILE given, nothing is read from the environment. */

#include <stddef.h>
#include <stdio.h>

#include "ctl-model.h"

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

/* s, or a copy in buf with control characters (a tab or a newline in a name
 * or an error message would break the layout) turned into spaces; a copy
 * that does not fit is cut at a character boundary. */
const char *ctl_printable(const char *s, char *buf, size_t size);

/* Width on a terminal: UTF-8 code points, each taken as one column. */
size_t ctl_text_width(const char *s);

/* Widest NAME that lets the table fit in columns (0: no limit), never less
 * than a few characters. */
size_t ctl_name_width_for(const CtlDevice *d, size_t n, size_t columns);

/* The table with its header; names wider than name_max (0: no limit) are
 * cut with an ellipsis.  With no devices it prints "No devices.". */
void ctl_print_devices(FILE *f, const CtlDevice *d, size_t n, size_t name_max);

/* hostnamectl style: aligned "Key: value" lines, then the table. */
void ctl_print_status(FILE *f, const CtlHost *h, size_t name_max);

/* One JSON object (status) or array (list), and a newline.  Keys are the
 * D-Bus property names; strings that are empty for "none" and ids that are
 * -1 for "none" are null. */
void ctl_print_status_json(FILE *f, const CtlHost *h);
void ctl_print_devices_json(FILE *f, const CtlDevice *d, size_t n);

/* {"error":{"name":...,"message":...}} and a newline; name may be NULL. */
void ctl_print_error_json(FILE *f, const char *name, const char *message);
