/* SPDX-License-Identifier: MIT */
#pragma once

/* The record of the operand labels a switch paused, with the values they had
 * before: written before the pause reaches the API server and removed once
 * the restore has, so a bridge that crashed or was killed in between
 * restores them when it starts again.  One "label=value" per line. */

#include <glib.h>

#include "cc-error.h"

/* Parses a record's text into label -> value.  Lines that are not a label
 * name (DNS-prefixed, as Kubernetes allows) and a label value are refused,
 * naming the line. */
int pause_record_parse(const char *text, GHashTable **ret, CcError *e);
/* The record's text, sorted by label. */
char *pause_record_format(GHashTable *original);

/* Reads the record at path: 0 and *ret = NULL when there is none. */
int pause_record_load(const char *path, GHashTable **ret, CcError *e);
/* Replaces the record atomically (the directory is created). */
int pause_record_save(const char *path, GHashTable *original, CcError *e);
/* Removes the record; no record is no error. */
int pause_record_remove(const char *path);

/* A label key and value Kubernetes would accept. */
bool label_key_is_valid(const char *key);
bool label_value_is_valid(const char *value);
