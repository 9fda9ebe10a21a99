/* SPDX-License-Identifier: MIT */
#pragma once

/* Typed reads of JSON members that return NULL (or the default) when the
 * member is missing or of another type: what the API server sends is parsed
 * without trusting its shape, and without GLib criticals. */

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdint.h>

#include "json-depth.h"

/* How deep what the API server sends may nest before json-glib, which
 * recurses without a limit, is given it: a Node with its managedFields
 * needs about 15. */
#define KUBE_JSON_DEPTH_MAX 64

const char *json_get_string(JsonObject *o, const char *name);
JsonObject *json_get_object(JsonObject *o, const char *name);
JsonArray *json_get_array(JsonObject *o, const char *name);
int64_t json_get_int(JsonObject *o, const char *name, int64_t def);

/* metadata.resourceVersion, metadata.name, metadata.namespace. */
const char *json_object_resource_version(JsonObject *o);
const char *json_object_name(JsonObject *o);
const char *json_object_namespace(JsonObject *o);

/* metadata.labels as a new table of strings (values that are not strings
 * are left out); an object without labels gives an empty table. */
GHashTable *json_object_labels(JsonObject *o);
