/* SPDX-License-Identifier: MIT */

/* The Kata configuration editor on arbitrary bytes.  The file comes from a
 * registry: it must give an edit or an error naming the line, never a
 * crash, and an edit must touch nothing but the values it was asked to. */

#include "fuzz.h"
#include "kata-toml.h"
#include "macro.h"

static int edit(const char *text, size_t len, const KataTomlPaths *paths, char **ret, size_t *ret_len) {
        CcError err = CC_ERROR_INIT;
        int r;

        r = kata_toml_set_paths(text, len, paths, ret, ret_len, &err);
        if (fuzz_verbose())
                fprintf(stderr, "  kata_toml_set_paths: %d %s\n", r, err.message);
        if (r < 0) {
                /* An error says what was wrong, and where. */
                FUZZ_CHECK(r == -EINVAL);
                FUZZ_CHECK(err.kind == CC_ERROR_INVALID_ARGUMENT);
                FUZZ_CHECK(strncmp(err.message, "line ", 5) == 0);
        } else {
                FUZZ_CHECK(r == 0);
                FUZZ_CHECK((*ret)[*ret_len] == '\0');
        }
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *same = NULL, *edited = NULL, *twice = NULL;
        size_t same_len, edited_len, twice_len;
        const KataTomlPaths none = {};
        const KataTomlPaths paths = {
                .kernel = "/opt/nvidia-gpu-operator/artifacts/runtimeclasses/kata/vmlinuz",
                .initrd = "/opt/nvidia-gpu-operator/artifacts/runtimeclasses/kata/kata \"initrd\"",
                .image = "/i\\m\tage",
        };
        const KataTomlPaths back_paths = { .kernel = "/k", .initrd = "/i", .image = "/im" };
        const char *text = (const char *) data;
        int r;

        fuzz_quiet_logging();

        /* Nothing asked: the same bytes, or a refusal. */
        r = edit(text, size, &none, &same, &same_len);
        if (r < 0)
                return 0;
        FUZZ_CHECK(same_len == size && memcmp(same, text, size) == 0);

        /* The same input is accepted whatever the paths. */
        r = edit(text, size, &paths, &edited, &edited_len);
        FUZZ_CHECK(r == 0);

        /* Editing again changes nothing more, and what was written reads
         * back: the edit left a file the editor itself accepts. */
        r = edit(edited, edited_len, &paths, &twice, &twice_len);
        FUZZ_CHECK(r == 0);
        FUZZ_CHECK(twice_len == edited_len && memcmp(twice, edited, edited_len) == 0);

        /* Only the values move: edited back to short paths, the input and
         * the edited text give the same result. */
        _cleanup_free_ char *short1 = NULL, *short2 = NULL;
        size_t short1_len, short2_len;
        FUZZ_CHECK(edit(text, size, &back_paths, &short1, &short1_len) == 0);
        FUZZ_CHECK(edit(edited, edited_len, &back_paths, &short2, &short2_len) == 0);
        FUZZ_CHECK(short1_len == short2_len && memcmp(short1, short2, short1_len) == 0);
        return 0;
}
