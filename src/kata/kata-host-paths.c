/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fnmatch.h>
#include <stdbool.h>

#include "escape.h"
#include "kata-host-paths.h"
#include "toml-lex.h"

const char *const kata_default_allowed_host_paths[] = {
        "/opt/kata",
        "/usr/share/kata-containers",
        "/usr/libexec/kata-containers",
        "/usr/share/oci/hooks",
        "/run/kata-containers",
        "/var/run/kata-containers",
        "/run/vc",
        "/dev/urandom",
        "/dev/random",
        "/dev/shm",
        NULL
};

const char *const kata_default_allowed_extra_args[] = {
        "--thread-pool-size=*",
        "--announce-submounts",
        "-o",
        "announce_submounts",
        NULL
};

typedef enum KeyKind {
        KEY_OTHER,
        KEY_PATH,
        KEY_PATTERN,
        KEY_ARGUMENTS,
} KeyKind;

static bool has_suffix(const char *s, const char *suffix) {
        size_t n = strlen(s), k = strlen(suffix);

        return n >= k && streq(s + n - k, suffix);
}

static KeyKind key_kind(const char *key) {
        static const char *const paths[] = {
                "path", "ctlpath", "jailer_path", "virtio_fs_daemon", "entropy_source", "file_mem_backend",
                "guest_hook_path", "firmware", "firmware_volume", "kernel", "initrd", "image", "template_path",
                "vm_cache_endpoint", "dan_conf", "pflashes", "sandbox_bind_mounts",
        };

        if (strncmp(key, "valid_", strlen("valid_")) == 0)
                return KEY_PATTERN;
        if (has_suffix(key, "_extra_args"))
                return KEY_ARGUMENTS;
        for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                if (streq(key, paths[i]))
                        return KEY_PATH;
        if (has_suffix(key, "path") || has_suffix(key, "paths") || has_suffix(key, "_daemon") ||
            has_suffix(key, "_socket"))
                return KEY_PATH;
        return KEY_OTHER;
}

/* Absolute, no empty, "." or ".." component (a trailing '/' allowed). */
static bool path_is_clean(const char *p) {
        if (p[0] != '/')
                return false;
        for (const char *c = p + 1; *c;) {
                size_t n = strcspn(c, "/");

                if ((n == 0 && c[n] == '/') || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                c += n;
                if (*c == '/')
                        c++;
        }
        return true;
}

/* p is dir or lies under it (both clean). */
static bool path_within(const char *p, const char *dir) {
        size_t n = strlen(dir);

        while (n > 1 && dir[n - 1] == '/')
                n--;
        if (n == 1 && dir[0] == '/')
                return true;
        return strncmp(p, dir, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

static bool path_allowed(const char *p, const KataHostPolicy *policy) {
        const char *const *allowed = policy->allowed_paths ?: kata_default_allowed_host_paths;

        if (policy->install_dir && path_within(p, policy->install_dir))
                return true;
        for (size_t i = 0; allowed[i]; i++)
                if (path_within(p, allowed[i]))
                        return true;
        return false;
}

/* A glob as Kata matches it (filepath.Glob): its directory part before the
 * first wildcard must be allowed, and no component may reach out. */
static const char *pattern_problem(const char *p, const KataHostPolicy *policy) {
        _cleanup_free_ char *fixed = NULL;
        size_t wild;

        if (p[0] != '/')
                return "is not an absolute path";
        if (strpbrk(p, "[\\"))
                return "has a character class or an escape, which are not supported";
        for (const char *c = p + 1; *c;) {
                size_t n = strcspn(c, "/");
                _cleanup_free_ char *part = strndup(c, n);

                if (!part)
                        return "cannot be checked (out of memory)";
                if ((n == 0 && c[n] == '/') || fnmatch(part, ".", FNM_PERIOD) == 0 ||
                    fnmatch(part, "..", FNM_PERIOD) == 0)
                        return "has an empty, \".\" or \"..\" component";
                c += n;
                if (*c == '/')
                        c++;
        }
        wild = strcspn(p, "*?");
        if (p[wild] == '\0')
                return path_allowed(p, policy) ? NULL : "is neither in the install directory nor under an allowed host path";
        /* The directory the wildcard's component lies in. */
        fixed = strndup(p, wild);
        if (!fixed)
                return "cannot be checked (out of memory)";
        *strrchr(fixed, '/') = '\0';
        if (!fixed[0] || !path_allowed(fixed, policy))
                return "matches paths outside the install directory and the allowed host paths";
        return NULL;
}

static const char *value_problem(KeyKind kind, const char *key, const char *v, const KataHostPolicy *policy) {
        const char *const *args = policy->allowed_args ?: kata_default_allowed_extra_args;
        _cleanup_free_ char *bare = NULL;

        if (kind != KEY_ARGUMENTS && v[0] == '\0')
                return NULL;
        switch (kind) {
        case KEY_PATH:
                /* A bind mount may say how: "/host/path:ro". */
                if (streq(key, "sandbox_bind_mounts") && (has_suffix(v, ":ro") || has_suffix(v, ":rw"))) {
                        bare = strndup(v, strlen(v) - 3);
                        if (!bare)
                                return "cannot be checked (out of memory)";
                        v = bare;
                }
                if (!path_is_clean(v))
                        return "is not an absolute path without \".\" and \"..\"";
                return path_allowed(v, policy) ? NULL :
                       "is neither in the install directory nor under an allowed host path";
        case KEY_PATTERN:
                return pattern_problem(v, policy);
        case KEY_ARGUMENTS:
                for (size_t i = 0; args[i]; i++)
                        if (fnmatch(args[i], v, 0) == 0)
                                return NULL;
                return "is not an allowed argument";
        default:
                return NULL;
        }
}

static int refuse(CcError *err, const TomlDoc *doc, const TomlItem *item, unsigned line, const char *value,
                  const char *problem) {
        size_t n = toml_item_path_len(doc, item);
        _cleanup_free_ const char **parts = calloc(n ? n : 1, sizeof(char *));
        _cleanup_free_ char *path = NULL, *shown = NULL;

        for (size_t i = 0; parts && i < n; i++)
                parts[i] = toml_item_path_part(doc, item, i);
        if (parts)
                path = toml_path_to_string(parts, n);
        if (!value)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EPERM, "line %u: %s %s", line, strempty(path),
                                    problem);
        shown = text_escape(value, 120);
        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EPERM, "line %u: %s: \"%s\" %s", line, strempty(path),
                            strempty(shown), problem);
}

int kata_check_host_paths(const char *text, size_t len, const KataHostPolicy *policy, CcError *err) {
        _cleanup_toml_doc_ TomlDoc doc = {};
        int r;

        assert(text || len == 0);
        assert(policy);

        r = toml_doc_parse(&doc, text, len, err);
        if (r < 0)
                return r;

        for (size_t i = 0; i < doc.n_items; i++) {
                const TomlItem *item = &doc.items[i];
                const char *key, *problem;
                KeyKind kind;

                if (item->kind != TOML_ITEM_KEYVAL)
                        continue;
                if (item->value_kind == TOML_VALUE_INLINE_TABLE)
                        return refuse(err, &doc, item, item->line, NULL,
                                      "is an inline table; they are not supported in a Kata configuration");
                key = toml_item_path_part(&doc, item, toml_item_path_len(&doc, item) - 1);
                kind = key_kind(key);
                if (kind == KEY_OTHER)
                        continue;

                if (item->value_kind == TOML_VALUE_STRING || item->value_kind == TOML_VALUE_LITERAL_STRING) {
                        if (kind == KEY_ARGUMENTS || kind == KEY_PATTERN)
                                return refuse(err, &doc, item, item->line, NULL, "is not an array");
                        problem = value_problem(kind, key, item->string, policy);
                        if (problem)
                                return refuse(err, &doc, item, item->line, item->string, problem);
                } else if (item->value_kind == TOML_VALUE_ARRAY) {
                        TomlArrayElement *elements = NULL;
                        size_t n = 0;

                        r = toml_item_string_array(&doc, item, &elements, &n, err);
                        if (r < 0)
                                return r;
                        for (size_t e = 0; e < n; e++) {
                                problem = value_problem(kind, key, elements[e].string, policy);
                                if (problem) {
                                        r = refuse(err, &doc, item, elements[e].line, elements[e].string, problem);
                                        toml_array_elements_free(elements, n);
                                        return r;
                                }
                        }
                        toml_array_elements_free(elements, n);
                } else
                        return refuse(err, &doc, item, item->line, NULL,
                                      item->value_kind == TOML_VALUE_MULTILINE_STRING ?
                                      "is a multi-line string; only single-line strings are checked and accepted" :
                                      "is not a string");
        }
        return 0;
}
