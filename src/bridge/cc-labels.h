/* SPDX-License-Identifier: MIT */
#pragma once

/* The node-label protocol of the GPU Operator's cc-manager, kept as it is so
 * that clusters and tooling that read or write these labels keep working:
 *
 *   nvidia.com/cc.mode          desired mode; absent or empty: the default
 *   nvidia.com/cc.mode.state    "success" (the node is in the mode asked for) or
 *                               "failed", as the 2023 Operator's page says; with
 *                               the "mode" format (today's cc-manager) the applied
 *                               mode (on/off/devtools/ppcie) or "failed";
 *                               "switching" from the pause of the operands to the
 *                               result (nvidia-ccd's ModeState), so that nothing
 *                               reads the previous mode as still applied
 *   nvidia.com/cc.ready.state   "true" for on/ppcie, "false" for off, "" otherwise
 *
 * and the operand labels nvidia.com/gpu.deploy.<operand> that are paused
 * around a switch: "true" becomes "paused-for-cc-mode-change", any other
 * value V becomes "V_paused-for-cc-mode-change", "false" and "" stay.
 *
 * Labels are GHashTables of strings to strings. */

#include <glib.h>
#include <stdbool.h>

#define CC_LABEL_MODE        "nvidia.com/cc.mode"
#define CC_LABEL_MODE_STATE  "nvidia.com/cc.mode.state"
#define CC_LABEL_READY_STATE "nvidia.com/cc.ready.state"
#define CC_MODE_STATE_FAILED "failed"
#define CC_MODE_STATE_SWITCHING "switching"
#define CC_MODE_STATE_SUCCESS "success"
#define CC_PAUSED_VALUE      "paused-for-cc-mode-change"
#define CC_PAUSED_SUFFIX     "_paused-for-cc-mode-change"

/* The operand labels paused around a switch, and the "app" label of the pods
 * whose absence from the node the switch waits for (same order). */
extern const char *const cc_operand_labels[];
extern const char *const cc_operand_apps[];
#define CC_N_OPERANDS 5

/* on, off, devtools, ppcie. */
bool cc_mode_is_valid(const char *mode);

/* The mode the node asks for: the value of nvidia.com/cc.mode, or
 * default_mode when the label is absent or empty.  May be invalid; the
 * caller checks with cc_mode_is_valid(). */
const char *cc_desired_mode(GHashTable *labels, const char *default_mode);

/* What nvidia.com/cc.mode.state says. */
typedef enum CcModeStateFormat {
        CC_MODE_STATE_FORMAT_SUCCESS, /* success or failed */
        CC_MODE_STATE_FORMAT_MODE,    /* the mode applied, or failed */
        _CC_MODE_STATE_FORMAT_MAX,
} CcModeStateFormat;

int cc_mode_state_format_from_string(const char *s, CcModeStateFormat *ret);

/* The value of nvidia.com/cc.mode.state for state (a mode the host is in,
 * "failed" or "switching") when the node asks for desired (NULL: nothing
 * asked, any mode will do). */
const char *cc_mode_state_label(CcModeStateFormat format, const char *state, const char *desired);

/* nvidia.com/cc.ready.state for a mode the host is in (or "failed",
 * "switching"). */
const char *cc_ready_state(const char *mode_state);

/* The paused value of an operand label's value, or NULL when it is left
 * alone ("false", empty, or paused already). */
char *cc_operand_paused_value(const char *value);
/* The value before the pause of a paused value, or NULL when value is not a
 * paused one. */
char *cc_operand_unpaused_value(const char *value);

/* A new table of string labels. */
GHashTable *cc_labels_new(void);

/* Which operand labels a switch pauses, given the node's labels: *ret_pause
 * gets label -> paused value for the ones to write, *ret_original label ->
 * value before the pause for every operand label that is or will be paused
 * (those paused already, by an earlier run, included).  Returns the number
 * of labels in *ret_original. */
unsigned cc_operands_to_pause(GHashTable *labels, GHashTable **ret_pause, GHashTable **ret_original);

/* A JSON merge patch that sets these labels: {"metadata":{"labels":{...}}}.
 * A NULL value removes the label. */
char *cc_labels_merge_patch(GHashTable *labels);
