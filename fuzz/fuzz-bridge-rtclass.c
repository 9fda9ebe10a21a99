/* SPDX-License-Identifier: MIT */

/* The bridge's runtime-class file parser (src/bridge/rtclass-file.c) on any
 * text.  The file comes from a ConfigMap, which anyone allowed to edit it
 * writes: a broken or hostile one must give an error naming the problem,
 * never a crash or a leak.
 *
 * Checks: a refusal is InvalidArgument with a message and gives no file;
 * an accepted file has at most RTCLASS_FILE_MAX_CLASSES classes, each with
 * a valid, distinct name, a reference without white space of at most
 * RTCLASS_REFERENCE_MAX bytes, a pull secret that is absent or named, and
 * a selector of label names and values; an absolute artifactsDir or none. */

#include <glib.h>

#include "fuzz.h"
#include "macro.h"
#include "pause-record.h"
#include "rtclass-file.h"

static void check_class(const RuntimeClassFile *f, guint i) {
        const RuntimeClassSpec *c = f->classes->pdata[i];
        GHashTableIter iter;
        gpointer key, value;

        FUZZ_CHECK(rtclass_name_is_valid(c->name));
        FUZZ_CHECK(rtclass_file_find(f, c->name) == c);
        FUZZ_CHECK(c->url && c->url[0] && strlen(c->url) <= RTCLASS_REFERENCE_MAX);
        FUZZ_CHECK(!strpbrk(c->url, " \t\n"));
        FUZZ_CHECK(!c->pull_secret || c->pull_secret[0]);
        g_hash_table_iter_init(&iter, c->node_selector);
        while (g_hash_table_iter_next(&iter, &key, &value)) {
                FUZZ_CHECK(label_key_is_valid(key));
                FUZZ_CHECK(label_value_is_valid(value));
        }
        /* A class matches the labels of its own selector. */
        FUZZ_CHECK(rtclass_selector_matches(c, c->node_selector));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        RuntimeClassFile *f = NULL;
        CcError err = CC_ERROR_INIT;
        int r;

        fuzz_quiet_logging();
        r = rtclass_file_parse((const char *) data, size, &f, &err);
        if (fuzz_verbose())
                fprintf(stderr, "rtclass_file_parse: %d %s\n", r, err.message);
        if (r < 0) {
                FUZZ_CHECK(err.kind == CC_ERROR_INVALID_ARGUMENT);
                FUZZ_CHECK(err.message[0] != '\0');
                FUZZ_CHECK(!f);
                return 0;
        }
        FUZZ_CHECK(r == 0 && f);
        FUZZ_CHECK(f->classes->len <= RTCLASS_FILE_MAX_CLASSES);
        FUZZ_CHECK(!f->artifacts_dir || f->artifacts_dir[0] == '/');
        for (guint i = 0; i < f->classes->len; i++)
                check_class(f, i);
        rtclass_file_free(f);
        return 0;
}
