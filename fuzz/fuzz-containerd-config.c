/* SPDX-License-Identifier: MIT */

/* The containerd configuration editors on arbitrary bytes.  The file is
 * the administrator's: a refusal must name the problem, and an edit must
 * be undone to the byte by its inverse. */

#include <stdbool.h>

#include "containerd-config.h"
#include "fuzz.h"
#include "macro.h"

#define DROPIN "/etc/containerd/conf.d/nvidia-ccd-kata.toml"

static void check_error(int r, const CcError *err, const char *what) {
        if (fuzz_verbose())
                fprintf(stderr, "  %s: %d %s\n", what, r, err->message);
        if (r >= 0)
                return;
        FUZZ_CHECK(r == -EINVAL);
        FUZZ_CHECK(err->kind == CC_ERROR_INVALID_ARGUMENT);
        FUZZ_CHECK(err->message[0] != '\0');
}

static bool same(const char *a, size_t a_len, const char *b, size_t b_len) {
        return a_len == b_len && memcmp(a, b, a_len) == 0;
}

static int reg(const char *text, size_t len, const char *name, char **ret, size_t *ret_len) {
        CcError err = CC_ERROR_INIT;
        int r = containerd_v2_register(text, len, name, "/opt/k/configuration.toml", ret, ret_len, &err);

        check_error(r, &err, "containerd_v2_register");
        return r;
}

static int unreg(const char *text, size_t len, const char *name, char **ret, size_t *ret_len, bool *changed) {
        CcError err = CC_ERROR_INIT;
        int r = containerd_v2_unregister(text, len, name, ret, ret_len, changed, &err);

        check_error(r, &err, "containerd_v2_unregister");
        return r;
}

static void check_v2(const char *text, size_t len, int version) {
        _cleanup_free_ char *a = NULL, *a2 = NULL, *ab = NULL, *u = NULL, *ua = NULL, *uab = NULL, *uabb = NULL;
        size_t a_len, a2_len, ab_len, u_len, ua_len, uab_len, uabb_len;
        bool changed;
        int r;

        r = reg(text, len, "kata", &a, &a_len);
        if (r < 0)
                return;
        FUZZ_CHECK(version == 2);
        FUZZ_CHECK(a[a_len] == '\0');

        /* Registering is idempotent. */
        FUZZ_CHECK(reg(a, a_len, "kata", &a2, &a2_len) == 0);
        FUZZ_CHECK(same(a, a_len, a2, a2_len));

        /* Register then unregister gives what unregistering alone gives:
         * the input itself when it had no block.  (A lone runc block of
         * nvidia-ccd's goes with the last Kata block: not compared.) */
        FUZZ_CHECK(unreg(text, len, "kata", &u, &u_len, &changed) == 0);
        FUZZ_CHECK(changed || same(u, u_len, text, len));
        FUZZ_CHECK(unreg(a, a_len, "kata", &ua, &ua_len, &changed) == 0);
        FUZZ_CHECK(changed);
        if (!memmem(text, len, "# BEGIN nvidia-ccd runtime runc", 31))
                FUZZ_CHECK(same(ua, ua_len, u, u_len));

        /* A second class, removed first. */
        if (reg(a, a_len, "kata-b", &ab, &ab_len) < 0)
                return;
        FUZZ_CHECK(unreg(ab, ab_len, "kata-b", &uab, &uab_len, &changed) == 0);
        FUZZ_CHECK(changed);
        if (!memmem(text, len, "# BEGIN nvidia-ccd runtime kata-b", 33))
                FUZZ_CHECK(same(uab, uab_len, a, a_len));
        FUZZ_CHECK(unreg(uab, uab_len, "kata", &uabb, &uabb_len, &changed) == 0);
}

static void check_v3(const char *text, size_t len) {
        _cleanup_free_ char *a = NULL, *a2 = NULL, *back = NULL, *removed = NULL;
        size_t a_len, a2_len, back_len, removed_len;
        CcError err = CC_ERROR_INIT;
        int r;

        r = containerd_v3_add_import(text, len, DROPIN, &a, &a_len, &err);
        check_error(r, &err, "containerd_v3_add_import");
        if (r < 0)
                return;
        FUZZ_CHECK(a[a_len] == '\0');
        r = containerd_v3_add_import(a, a_len, DROPIN, &a2, &a2_len, &err);
        check_error(r, &err, "containerd_v3_add_import again");
        FUZZ_CHECK(r == 0 && same(a, a_len, a2, a2_len));

        r = containerd_v3_remove_import(a, a_len, DROPIN, &back, &back_len, &err);
        check_error(r, &err, "containerd_v3_remove_import");
        FUZZ_CHECK(r == 0);
        if (!same(a, a_len, text, len))
                /* Added, so it was not there: removing gives the input. */
                FUZZ_CHECK(same(back, back_len, text, len));

        r = containerd_v3_remove_import(text, len, DROPIN, &removed, &removed_len, &err);
        check_error(r, &err, "containerd_v3_remove_import of the input");
        FUZZ_CHECK(r == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *text = (const char *) data;
        CcError err = CC_ERROR_INIT;
        int version = -1, r;

        fuzz_quiet_logging();

        r = containerd_config_version(text, size, &version, &err);
        check_error(r, &err, "containerd_config_version");
        if (r < 0)
                version = -1;
        else
                FUZZ_CHECK(version >= 0);

        check_v2(text, size, version);
        check_v3(text, size);
        return 0;
}
