/* SPDX-License-Identifier: MIT */

/* The record of an interrupted mode switch, read at start.  A crash or a
 * full disk can leave it cut short, and the daemon then acts on it, so what
 * it loads must be sound whatever the file holds: an error, or targets with
 * terminated addresses and drivers, which save and load back unchanged. */

#include <fcntl.h>
#include <ftw.h>
#include <unistd.h>

#include "fuzz.h"
#include "mode-switch.h"

static char *state_dir, *copy_dir, *intent_path;

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

static void remove_dirs(void) {
        if (state_dir)
                (void) nftw(state_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* One directory per process, made on the first input and removed at exit;
 * each input overwrites the one file in it. */
static void setup_dirs(void) {
        const char *tmp = getenv("TMPDIR");

        if (state_dir)
                return;
        if (asprintf(&state_dir, "%s/fuzz-intent-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0 || !mkdtemp(state_dir) ||
            asprintf(&copy_dir, "%s/copy", state_dir) < 0 ||
            asprintf(&intent_path, "%s/mode-switch.intent", state_dir) < 0) {
                perror("fuzz-intent: temporary directory");
                abort();
        }
        atexit(remove_dirs);
}

static void write_input(const uint8_t *data, size_t size) {
        int fd = open(intent_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t) size) || close(fd) < 0) {
                perror("fuzz-intent: writing the input");
                abort();
        }
}

static void check_targets(TargetMode mode, const CcSwitchTarget *t, size_t n) {
        KnobWrite plan[CC_KNOB_PLAN_MAX];

        FUZZ_CHECK(target_mode_to_string(mode));
        FUZZ_CHECK(t);
        FUZZ_CHECK(n > 0);
        for (size_t i = 0; i < n; i++) {
                FUZZ_CHECK(memchr(t[i].bdf, '\0', sizeof(t[i].bdf)));
                FUZZ_CHECK(t[i].driver);
                (void) strlen(t[i].driver);
                /* What a resumed switch does with the values before it
                 * touches a device. */
                FUZZ_CHECK(gpu_arch_to_string(t[i].arch));
                FUZZ_CHECK(device_kind_to_string(t[i].kind));
                (void) cc_timeouts_default(t[i].arch);
                FUZZ_CHECK(cc_knob_plan(mode, t[i].arch, false, plan) <= CC_KNOB_PLAN_MAX);
                FUZZ_CHECK(cc_knob_plan(mode, t[i].arch, true, plan) <= CC_KNOB_PLAN_MAX);
        }
}

/* What was loaded is saved as a new switch would be, and must load back the
 * same. */
static void check_round_trip(TargetMode mode, const CcSwitchTarget *t, size_t n) {
        CcSwitchTarget *again = NULL;
        CcError err = CC_ERROR_INIT;
        TargetMode mode_again;
        size_t n_again = 0;
        int r;

        FUZZ_CHECK(cc_switch_intent_save(copy_dir, mode, t, n) >= 0);
        r = cc_switch_intent_load(copy_dir, &mode_again, &again, &n_again, &err);
        if (r != 1)
                fprintf(stderr, "reloading a saved record: %d %s\n", r, err.message);
        FUZZ_CHECK(r == 1);
        FUZZ_CHECK(mode_again == mode);
        FUZZ_CHECK(n_again == n);
        for (size_t i = 0; i < n; i++) {
                FUZZ_CHECK(streq(again[i].bdf, t[i].bdf));
                FUZZ_CHECK(again[i].arch == t[i].arch);
                FUZZ_CHECK(again[i].kind == t[i].kind);
                FUZZ_CHECK(streq(again[i].driver, t[i].driver));
        }
        cc_switch_targets_free(again, n_again);
        FUZZ_CHECK(cc_switch_intent_remove(copy_dir) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        CcSwitchTarget *targets = (CcSwitchTarget *) 1; /* must be reset on every path */
        CcError err = CC_ERROR_INIT;
        TargetMode mode = TARGET_MODE_INVALID;
        size_t n = SIZE_MAX;
        int r;

        fuzz_quiet_logging();
        setup_dirs();
        write_input(data, size);

        r = cc_switch_intent_load(state_dir, &mode, &targets, &n, &err);
        if (fuzz_verbose())
                fprintf(stderr, "  cc_switch_intent_load: %d %s\n", r, r < 0 ? err.message : "");
        FUZZ_CHECK(r <= 1);
        if (r <= 0) {
                /* The file is there: never "no record". */
                FUZZ_CHECK(r < 0);
                FUZZ_CHECK(!targets);
                FUZZ_CHECK(n == 0);
                FUZZ_CHECK(r == -ENOMEM || (cc_error_is_set(&err) && err.message[0]));
                return 0;
        }

        if (fuzz_verbose())
                for (size_t i = 0; i < n; i++)
                        fprintf(stderr, "    %s %s arch %d kind %d driver \"%s\"\n", target_mode_to_string(mode),
                                targets[i].bdf, (int) targets[i].arch, (int) targets[i].kind, targets[i].driver);
        check_targets(mode, targets, n);
        check_round_trip(mode, targets, n);
        cc_switch_targets_free(targets, n);
        return 0;
}
