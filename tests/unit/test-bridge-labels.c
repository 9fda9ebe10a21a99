/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "backoff.h"
#include "cc-labels.h"
#include "pause-record.h"
#include "time-util.h"
#include "workload-labels.h"

static GHashTable *labels_of(const char *const *kv) {
        GHashTable *l = cc_labels_new();

        for (; kv && kv[0]; kv += 2)
                g_hash_table_insert(l, g_strdup(kv[0]), g_strdup(kv[1]));
        return l;
}

static void test_modes(void **state) {
        assert_true(cc_mode_is_valid("on"));
        assert_true(cc_mode_is_valid("off"));
        assert_true(cc_mode_is_valid("devtools"));
        assert_true(cc_mode_is_valid("ppcie"));
        assert_false(cc_mode_is_valid("ON"));
        assert_false(cc_mode_is_valid(""));
        assert_false(cc_mode_is_valid(NULL));
        assert_false(cc_mode_is_valid("failed"));
        assert_false(cc_mode_is_valid("on "));
}

static void test_workload(void **state) {
        g_autoptr(GHashTable) none = labels_of(NULL);
        g_autoptr(GHashTable) empty = labels_of((const char *const[]) { WORKLOAD_LABEL, "", NULL });
        g_autoptr(GHashTable) vm = labels_of((const char *const[]) { WORKLOAD_LABEL, "vm-passthrough", NULL });
        g_autoptr(GHashTable) bad = labels_of((const char *const[]) { WORKLOAD_LABEL, "vm", NULL });

        assert_true(workload_is_valid("container"));
        assert_true(workload_is_valid("vm-passthrough"));
        assert_true(workload_is_valid("vm-vgpu"));
        assert_false(workload_is_valid("Container"));
        assert_false(workload_is_valid(""));
        assert_false(workload_is_valid(NULL));

        assert_string_equal(workload_desired(none, "container"), "container");
        assert_string_equal(workload_desired(empty, "container"), "container");
        assert_string_equal(workload_desired(vm, "container"), "vm-passthrough");
        assert_string_equal(workload_desired(bad, "container"), "vm");
        assert_null(workload_desired(NULL, NULL));

        assert_false(workload_vfio_manager_paused(NULL));
        assert_false(workload_vfio_manager_paused(""));
        assert_false(workload_vfio_manager_paused("true"));
        assert_true(workload_vfio_manager_paused("false"));
        assert_true(workload_vfio_manager_paused(CC_PAUSED_VALUE));
        assert_true(workload_vfio_manager_paused("True"));

        assert_true(workload_driver_is_vfio("vfio-pci"));
        assert_true(workload_driver_is_vfio("nvgrace_gpu_vfio_pci"));
        assert_false(workload_driver_is_vfio("nvidia"));
        assert_false(workload_driver_is_vfio(""));
        assert_false(workload_driver_is_vfio(NULL));

        assert_string_equal(workload_cc_capable(true, "tdx"), "true");
        assert_string_equal(workload_cc_capable(true, "sev-snp"), "true");
        assert_string_equal(workload_cc_capable(true, "none"), "false");
        assert_string_equal(workload_cc_capable(true, NULL), "false");
        assert_string_equal(workload_cc_capable(false, "tdx"), "false");
}

static void test_desired(void **state) {
        g_autoptr(GHashTable) none = labels_of(NULL);
        g_autoptr(GHashTable) empty = labels_of((const char *const[]) { CC_LABEL_MODE, "", NULL });
        g_autoptr(GHashTable) off = labels_of((const char *const[]) { CC_LABEL_MODE, "off", NULL });
        g_autoptr(GHashTable) bad = labels_of((const char *const[]) { CC_LABEL_MODE, "sideways", NULL });

        assert_string_equal(cc_desired_mode(none, "on"), "on");
        assert_string_equal(cc_desired_mode(NULL, "devtools"), "devtools");
        assert_string_equal(cc_desired_mode(empty, "ppcie"), "ppcie");
        assert_string_equal(cc_desired_mode(off, "on"), "off");
        /* Invalid values come back as they are; the caller reports them. */
        assert_string_equal(cc_desired_mode(bad, "on"), "sideways");
}

static void test_ready_state(void **state) {
        assert_string_equal(cc_ready_state("on"), "true");
        assert_string_equal(cc_ready_state("ppcie"), "true");
        assert_string_equal(cc_ready_state("off"), "false");
        assert_string_equal(cc_ready_state("devtools"), "");
        assert_string_equal(cc_ready_state("failed"), "");
        assert_string_equal(cc_ready_state(NULL), "");
}

static void test_mode_state_label(void **state) {
        CcModeStateFormat f;

        assert_int_equal(cc_mode_state_format_from_string("success", &f), 0);
        assert_int_equal(f, CC_MODE_STATE_FORMAT_SUCCESS);
        assert_int_equal(cc_mode_state_format_from_string("mode", &f), 0);
        assert_int_equal(f, CC_MODE_STATE_FORMAT_MODE);
        assert_int_equal(cc_mode_state_format_from_string("Mode", &f), -EINVAL);
        assert_int_equal(cc_mode_state_format_from_string(NULL, &f), -EINVAL);

        /* The page's format: success or failed. */
        assert_string_equal(cc_mode_state_label(CC_MODE_STATE_FORMAT_SUCCESS, "on", "on"), "success");
        assert_string_equal(cc_mode_state_label(CC_MODE_STATE_FORMAT_SUCCESS, "off", NULL), "success");
        assert_string_equal(cc_mode_state_label(CC_MODE_STATE_FORMAT_SUCCESS, "off", "on"), "failed");
        assert_string_equal(cc_mode_state_label(CC_MODE_STATE_FORMAT_SUCCESS, "failed", "on"), "failed");
        assert_string_equal(cc_mode_state_label(CC_MODE_STATE_FORMAT_SUCCESS, "switching", "on"), "switching");
        /* Today's cc-manager: the mode. */
        assert_string_equal(cc_mode_state_label(CC_MODE_STATE_FORMAT_MODE, "devtools", "devtools"), "devtools");
        assert_string_equal(cc_mode_state_label(CC_MODE_STATE_FORMAT_MODE, "off", "on"), "off");
        assert_string_equal(cc_mode_state_label(CC_MODE_STATE_FORMAT_MODE, "failed", "on"), "failed");
}

static void assert_str_or_null(char *got, const char *expected) {
        if (!expected)
                assert_null(got);
        else
                assert_string_equal(got, expected);
        g_free(got);
}

static void test_pause_values(void **state) {
        assert_str_or_null(cc_operand_paused_value("true"), "paused-for-cc-mode-change");
        assert_str_or_null(cc_operand_paused_value("pre-installed"), "pre-installed_paused-for-cc-mode-change");
        assert_str_or_null(cc_operand_paused_value("false"), NULL);
        assert_str_or_null(cc_operand_paused_value(""), NULL);
        assert_str_or_null(cc_operand_paused_value(NULL), NULL);
        assert_str_or_null(cc_operand_paused_value("paused-for-cc-mode-change"), NULL);
        assert_str_or_null(cc_operand_paused_value("x_paused-for-cc-mode-change"), NULL);

        assert_str_or_null(cc_operand_unpaused_value("paused-for-cc-mode-change"), "true");
        assert_str_or_null(cc_operand_unpaused_value("pre-installed_paused-for-cc-mode-change"), "pre-installed");
        assert_str_or_null(cc_operand_unpaused_value("_paused-for-cc-mode-change"), NULL);
        assert_str_or_null(cc_operand_unpaused_value("true"), NULL);
        assert_str_or_null(cc_operand_unpaused_value(NULL), NULL);
}

static void test_operands_to_pause(void **state) {
        g_autoptr(GHashTable) l = labels_of((const char *const[]) {
                "nvidia.com/gpu.deploy.vfio-manager", "true",
                "nvidia.com/gpu.deploy.vgpu-manager", "false",
                "nvidia.com/gpu.deploy.sandbox-validator", "custom",
                "nvidia.com/gpu.deploy.sandbox-device-plugin", "paused-for-cc-mode-change",
                "nvidia.com/gpu.deploy.cc-manager", "true",
                NULL });
        g_autoptr(GHashTable) pause = NULL, original = NULL, p2 = NULL, o2 = NULL;

        assert_int_equal(cc_operands_to_pause(l, &pause, &original), 3);
        assert_int_equal(g_hash_table_size(pause), 2);
        assert_string_equal(g_hash_table_lookup(pause, "nvidia.com/gpu.deploy.vfio-manager"),
                            "paused-for-cc-mode-change");
        assert_string_equal(g_hash_table_lookup(pause, "nvidia.com/gpu.deploy.sandbox-validator"),
                            "custom_paused-for-cc-mode-change");
        assert_string_equal(g_hash_table_lookup(original, "nvidia.com/gpu.deploy.vfio-manager"), "true");
        assert_string_equal(g_hash_table_lookup(original, "nvidia.com/gpu.deploy.sandbox-validator"), "custom");
        /* Paused by a run that did not restore it: recorded, not rewritten. */
        assert_string_equal(g_hash_table_lookup(original, "nvidia.com/gpu.deploy.sandbox-device-plugin"), "true");
        assert_false(g_hash_table_contains(pause, "nvidia.com/gpu.deploy.sandbox-device-plugin"));
        /* Not an operand of the protocol; false untouched. */
        assert_false(g_hash_table_contains(original, "nvidia.com/gpu.deploy.cc-manager"));
        assert_false(g_hash_table_contains(original, "nvidia.com/gpu.deploy.vgpu-manager"));

        assert_int_equal(cc_operands_to_pause(NULL, &p2, &o2), 0);
        assert_int_equal(g_hash_table_size(p2), 0);
}

static void test_merge_patch(void **state) {
        g_autoptr(GHashTable) l = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        g_autofree char *patch = NULL;

        g_hash_table_insert(l, g_strdup(CC_LABEL_READY_STATE), g_strdup(""));
        g_hash_table_insert(l, g_strdup(CC_LABEL_MODE_STATE), g_strdup("on"));
        g_hash_table_insert(l, g_strdup("gone"), NULL);
        patch = cc_labels_merge_patch(l);
        assert_string_equal(patch, "{\"metadata\":{\"labels\":{\"gone\":null,\"nvidia.com/cc.mode.state\":\"on\","
                                   "\"nvidia.com/cc.ready.state\":\"\"}}}");
}

static void test_backoff(void **state) {
        Backoff b;
        uint64_t d;

        backoff_init(&b, 1000, 8000);
        /* random 0: the lower half; random max: the ceiling. */
        assert_int_equal(backoff_next_with(&b, 0), 500);
        /* ceiling 2000: 1000 + 1000 % 1001 */
        assert_int_equal(backoff_next_with(&b, 1000), 2000);
        assert_int_equal(backoff_next_with(&b, 0), 2000);
        assert_int_equal(backoff_next_with(&b, 0), 4000);
        /* Capped. */
        assert_int_equal(backoff_next_with(&b, 0), 4000);
        assert_int_equal(backoff_next_with(&b, 4000), 8000);
        for (int i = 0; i < 100; i++) {
                d = backoff_next(&b);
                assert_true(d >= 4000 && d <= 8000);
        }
        backoff_reset(&b);
        assert_int_equal(backoff_next_with(&b, 0), 500);

        /* A huge cap does not overflow. */
        backoff_init(&b, 1, UINT64_MAX);
        for (int i = 0; i < 70; i++)
                (void) backoff_next_with(&b, 0);
        assert_int_equal(b.current_usec, UINT64_MAX);
}

static void test_label_syntax(void **state) {
        assert_true(label_key_is_valid("nvidia.com/gpu.deploy.vfio-manager"));
        assert_true(label_key_is_valid("app"));
        assert_false(label_key_is_valid("/x"));
        assert_false(label_key_is_valid("Nvidia.com/x"));
        assert_false(label_key_is_valid("nvidia.com/"));
        assert_false(label_key_is_valid("a b"));
        assert_false(label_key_is_valid(""));
        assert_true(label_value_is_valid(""));
        assert_true(label_value_is_valid("paused-for-cc-mode-change"));
        assert_false(label_value_is_valid("-x"));
        assert_false(label_value_is_valid("x\n"));
}

static void test_pause_record(void **state) {
        g_autofree char *dir = g_dir_make_tmp("test-bridge-XXXXXX", NULL);
        g_autofree char *path = g_build_filename(dir, "sub", "paused-labels", NULL);
        g_autoptr(GHashTable) orig = labels_of((const char *const[]) {
                "nvidia.com/gpu.deploy.vfio-manager", "true",
                "nvidia.com/gpu.deploy.sandbox-validator", "custom",
                NULL });
        g_autoptr(GHashTable) loaded = NULL, none = NULL, parsed = NULL;
        g_autofree char *text = pause_record_format(orig);
        CcError e = CC_ERROR_INIT;

        assert_string_equal(text, "nvidia.com/gpu.deploy.sandbox-validator=custom\n"
                                  "nvidia.com/gpu.deploy.vfio-manager=true\n");
        assert_int_equal(pause_record_load(path, &none, &e), 0);
        assert_null(none);
        assert_int_equal(pause_record_save(path, orig, &e), 0);
        assert_int_equal(pause_record_load(path, &loaded, &e), 0);
        assert_int_equal(g_hash_table_size(loaded), 2);
        assert_string_equal(g_hash_table_lookup(loaded, "nvidia.com/gpu.deploy.vfio-manager"), "true");
        assert_int_equal(pause_record_remove(path), 0);
        assert_int_equal(pause_record_remove(path), 0);
        assert_false(g_file_test(path, G_FILE_TEST_EXISTS));

        /* An empty value is a value. */
        assert_int_equal(pause_record_parse("a=\n\n", &parsed, &e), 0);
        assert_string_equal(g_hash_table_lookup(parsed, "a"), "");

        assert_true(pause_record_parse("novalue\n", &parsed, &e) < 0);
        assert_non_null(strstr(e.message, "line 1 has no '='"));
        assert_true(pause_record_parse("a=b\nBad Key=x\n", &parsed, &e) < 0);
        assert_non_null(strstr(e.message, "line 2"));
        assert_true(pause_record_parse("a=b c\n", &parsed, &e) < 0);

        g_autofree char *sub = g_path_get_dirname(path);
        g_rmdir(sub);
        g_rmdir(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_modes),
                cmocka_unit_test(test_desired),
                cmocka_unit_test(test_ready_state),
                cmocka_unit_test(test_mode_state_label),
                cmocka_unit_test(test_pause_values),
                cmocka_unit_test(test_operands_to_pause),
                cmocka_unit_test(test_merge_patch),
                cmocka_unit_test(test_backoff),
                cmocka_unit_test(test_label_syntax),
                cmocka_unit_test(test_pause_record),
                cmocka_unit_test(test_workload),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
