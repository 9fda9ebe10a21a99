/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <json-glib/json-glib.h>

#include "cc-labels.h"
#include "macro.h"

const char *const cc_operand_labels[CC_N_OPERANDS + 1] = {
        "nvidia.com/gpu.deploy.vfio-manager",
        "nvidia.com/gpu.deploy.vgpu-manager",
        "nvidia.com/gpu.deploy.sandbox-validator",
        "nvidia.com/gpu.deploy.sandbox-device-plugin",
        "nvidia.com/gpu.deploy.vgpu-device-manager",
        NULL,
};

const char *const cc_operand_apps[CC_N_OPERANDS + 1] = {
        "nvidia-vfio-manager",
        "nvidia-vgpu-manager",
        "nvidia-sandbox-validator",
        "nvidia-sandbox-device-plugin-daemonset",
        "nvidia-vgpu-device-manager",
        NULL,
};

bool cc_mode_is_valid(const char *mode) {
        return mode && (streq(mode, "on") || streq(mode, "off") ||
                        streq(mode, "devtools") || streq(mode, "ppcie"));
}

const char *cc_desired_mode(GHashTable *labels, const char *default_mode) {
        const char *v = labels ? g_hash_table_lookup(labels, CC_LABEL_MODE) : NULL;

        return v && v[0] ? v : default_mode;
}

int cc_mode_state_format_from_string(const char *s, CcModeStateFormat *ret) {
        if (streq_ptr(s, "success"))
                *ret = CC_MODE_STATE_FORMAT_SUCCESS;
        else if (streq_ptr(s, "mode"))
                *ret = CC_MODE_STATE_FORMAT_MODE;
        else
                return -EINVAL;
        return 0;
}

const char *cc_mode_state_label(CcModeStateFormat format, const char *state, const char *desired) {
        if (format != CC_MODE_STATE_FORMAT_SUCCESS || !cc_mode_is_valid(state))
                return state;
        /* A host in another mode than the one asked for is no success. */
        return !desired || streq(state, desired) ? CC_MODE_STATE_SUCCESS : CC_MODE_STATE_FAILED;
}

const char *cc_ready_state(const char *mode_state) {
        if (streq_ptr(mode_state, "on") || streq_ptr(mode_state, "ppcie"))
                return "true";
        if (streq_ptr(mode_state, "off"))
                return "false";
        return "";
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t n = strlen(s), k = strlen(suffix);

        return n >= k && streq(s + n - k, suffix);
}

char *cc_operand_paused_value(const char *value) {
        if (!value || !value[0] || streq(value, "false"))
                return NULL;
        if (streq(value, CC_PAUSED_VALUE) || has_suffix(value, CC_PAUSED_SUFFIX))
                return NULL;
        if (streq(value, "true"))
                return g_strdup(CC_PAUSED_VALUE);
        return g_strconcat(value, CC_PAUSED_SUFFIX, NULL);
}

char *cc_operand_unpaused_value(const char *value) {
        if (!value)
                return NULL;
        if (streq(value, CC_PAUSED_VALUE))
                return g_strdup("true");
        if (has_suffix(value, CC_PAUSED_SUFFIX) && strlen(value) > strlen(CC_PAUSED_SUFFIX))
                return g_strndup(value, strlen(value) - strlen(CC_PAUSED_SUFFIX));
        return NULL;
}

GHashTable *cc_labels_new(void) {
        return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

unsigned cc_operands_to_pause(GHashTable *labels, GHashTable **ret_pause, GHashTable **ret_original) {
        GHashTable *pause = cc_labels_new(), *original = cc_labels_new();

        assert(ret_pause);
        assert(ret_original);

        for (size_t i = 0; cc_operand_labels[i]; i++) {
                const char *key = cc_operand_labels[i];
                const char *value = labels ? g_hash_table_lookup(labels, key) : NULL;
                char *paused, *before;

                paused = cc_operand_paused_value(value);
                if (paused) {
                        g_hash_table_insert(pause, g_strdup(key), paused);
                        g_hash_table_insert(original, g_strdup(key), g_strdup(value));
                        continue;
                }
                /* Paused by a run that did not get to restore it. */
                before = cc_operand_unpaused_value(value);
                if (before)
                        g_hash_table_insert(original, g_strdup(key), before);
        }

        *ret_pause = pause;
        *ret_original = original;
        return g_hash_table_size(original);
}

char *cc_labels_merge_patch(GHashTable *labels) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = NULL;
        g_autoptr(GList) keys = NULL;

        assert(labels);

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "metadata");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "labels");
        json_builder_begin_object(b);
        /* Sorted, so the same labels give the same patch. */
        keys = g_list_sort(g_hash_table_get_keys(labels), (GCompareFunc) strcmp);
        for (GList *l = keys; l; l = l->next) {
                const char *value = g_hash_table_lookup(labels, l->data);

                json_builder_set_member_name(b, l->data);
                if (value)
                        json_builder_add_string_value(b, value);
                else
                        json_builder_add_null_value(b);
        }
        json_builder_end_object(b);
        json_builder_end_object(b);
        json_builder_end_object(b);

        root = json_builder_get_root(b);
        json_generator_set_root(gen, root);
        return json_generator_to_data(gen, NULL);
}
