/* SPDX-License-Identifier: MIT */
#include "cc-labels.h"
#include "json-util.h"

static JsonNode *member(JsonObject *o, const char *name) {
        return o ? json_object_get_member(o, name) : NULL;
}

const char *json_get_string(JsonObject *o, const char *name) {
        JsonNode *n = member(o, name);

        if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
                return NULL;
        return json_node_get_string(n);
}

JsonObject *json_get_object(JsonObject *o, const char *name) {
        JsonNode *n = member(o, name);

        return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

JsonArray *json_get_array(JsonObject *o, const char *name) {
        JsonNode *n = member(o, name);

        return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

int64_t json_get_int(JsonObject *o, const char *name, int64_t def) {
        JsonNode *n = member(o, name);

        if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
                return def;
        return json_node_get_int(n);
}

const char *json_object_resource_version(JsonObject *o) {
        return json_get_string(json_get_object(o, "metadata"), "resourceVersion");
}

const char *json_object_name(JsonObject *o) {
        return json_get_string(json_get_object(o, "metadata"), "name");
}

const char *json_object_namespace(JsonObject *o) {
        return json_get_string(json_get_object(o, "metadata"), "namespace");
}

GHashTable *json_object_labels(JsonObject *o) {
        GHashTable *labels = cc_labels_new();
        JsonObject *l = json_get_object(json_get_object(o, "metadata"), "labels");
        JsonObjectIter iter;
        const char *name;
        JsonNode *value;

        if (!l)
                return labels;
        json_object_iter_init(&iter, l);
        while (json_object_iter_next(&iter, &name, &value))
                if (JSON_NODE_HOLDS_VALUE(value) && json_node_get_value_type(value) == G_TYPE_STRING)
                        g_hash_table_replace(labels, g_strdup(name), g_strdup(json_node_get_string(value)));
        return labels;
}
