/* SPDX-License-Identifier: MIT */
#pragma once

/* A small streaming JSON writer for --json: the output is a handful of
 * objects of strings, numbers and booleans, not worth a library. */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_DEPTH_MAX 8

typedef struct JsonWriter {
        FILE *f;
        bool pretty;
        unsigned depth;
        bool after_key;
        bool need_comma[JSON_DEPTH_MAX + 1];
        bool empty[JSON_DEPTH_MAX + 1];
} JsonWriter;

/* How every writer set up afterwards writes: on one line (the default), or
 * as systemd's --json=pretty does, a value a line, indented with tabs, and
 * "key" : value. */
void json_set_pretty(bool pretty);

void json_writer_init(JsonWriter *w, FILE *f);

/* Writes s as a JSON string literal, quotes included. */
void json_write_escaped(FILE *f, const char *s);

void json_begin_object(JsonWriter *w);
void json_end_object(JsonWriter *w);
void json_begin_array(JsonWriter *w);
void json_end_array(JsonWriter *w);
void json_key(JsonWriter *w, const char *key);

void json_string(JsonWriter *w, const char *s);          /* NULL: null */
void json_string_or_null(JsonWriter *w, const char *s);  /* NULL or "": null */
void json_bool(JsonWriter *w, bool b);
void json_int(JsonWriter *w, int64_t i);
void json_null(JsonWriter *w);
