/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "fileio.h"
#include "macro.h"
#include "pause-record.h"

#define RECORD_MAX_BYTES (64 * 1024)

/* A name segment: up to 63 of [A-Za-z0-9._-], alphanumeric at both ends;
 * empty allowed only for values. */
static bool name_segment_is_valid(const char *s, size_t n, bool allow_empty) {
        if (n == 0)
                return allow_empty;
        if (n > 63)
                return false;
        if (!g_ascii_isalnum(s[0]) || !g_ascii_isalnum(s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!g_ascii_isalnum(s[i]) && !strchr("._-", s[i]))
                        return false;
        return true;
}

bool label_value_is_valid(const char *value) {
        return value && name_segment_is_valid(value, strlen(value), true);
}

bool label_key_is_valid(const char *key) {
        const char *slash;

        if (!key)
                return false;
        slash = strchr(key, '/');
        if (!slash)
                return name_segment_is_valid(key, strlen(key), false);

        /* The prefix: a DNS subdomain of at most 253 characters. */
        size_t n = (size_t) (slash - key);
        if (n == 0 || n > 253)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!g_ascii_islower(key[i]) && !g_ascii_isdigit(key[i]) && !strchr(".-", key[i]))
                        return false;
        if (!g_ascii_isalnum(key[0]) || !g_ascii_isalnum(key[n - 1]))
                return false;
        return name_segment_is_valid(slash + 1, strlen(slash + 1), false);
}

int pause_record_parse(const char *text, GHashTable **ret, CcError *e) {
        g_autoptr(GHashTable) labels = NULL;
        g_auto(GStrv) lines = NULL;

        assert(text);
        assert(ret);

        if (strlen(text) > RECORD_MAX_BYTES)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EFBIG,
                                    "pause record is larger than %d bytes", RECORD_MAX_BYTES);

        labels = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        lines = g_strsplit(text, "\n", -1);
        for (size_t i = 0; lines[i]; i++) {
                const char *line = lines[i], *eq;
                g_autofree char *key = NULL;

                if (!line[0])
                        continue;
                eq = strchr(line, '=');
                if (!eq)
                        return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EBADMSG,
                                            "pause record line %zu has no '='", i + 1);
                key = g_strndup(line, (size_t) (eq - line));
                if (!label_key_is_valid(key) || !label_value_is_valid(eq + 1))
                        return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EBADMSG,
                                            "pause record line %zu is not a label and its value", i + 1);
                g_hash_table_replace(labels, TAKE_PTR(key), g_strdup(eq + 1));
        }

        *ret = TAKE_PTR(labels);
        return 0;
}

char *pause_record_format(GHashTable *original) {
        g_autoptr(GList) keys = NULL;
        GString *s = g_string_new(NULL);

        assert(original);

        keys = g_list_sort(g_hash_table_get_keys(original), (GCompareFunc) strcmp);
        for (GList *l = keys; l; l = l->next)
                g_string_append_printf(s, "%s=%s\n", (const char *) l->data,
                                       (const char *) g_hash_table_lookup(original, l->data));
        return g_string_free(s, false);
}

int pause_record_load(const char *path, GHashTable **ret, CcError *e) {
        _cleanup_free_ char *text = NULL;
        int r;

        assert(path);
        assert(ret);

        r = read_text_file(path, &text);
        if (r == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        if (r < 0)
                return cc_error_set(e, CC_ERROR_INTERNAL, -r, "cannot read %s: %s", path, strerror(-r));
        r = pause_record_parse(text, ret, e);
        if (r < 0)
                cc_error_prefix(e, "%s", path);
        return r;
}

int pause_record_save(const char *path, GHashTable *original, CcError *e) {
        g_autofree char *text = NULL, *dir = NULL;
        int r;

        assert(path);
        assert(original);

        dir = g_path_get_dirname(path);
        r = mkdir_parents(dir, 0755);
        if (r < 0)
                return cc_error_set(e, CC_ERROR_INTERNAL, -r, "cannot create the directory of %s: %s",
                                    path, strerror(-r));
        text = pause_record_format(original);
        r = write_file_atomic(path, text, strlen(text), 0644);
        if (r < 0)
                return cc_error_set(e, CC_ERROR_INTERNAL, -r, "cannot write %s: %s", path, strerror(-r));
        return 0;
}

int pause_record_remove(const char *path) {
        assert(path);

        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}
