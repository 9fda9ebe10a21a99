/* SPDX-License-Identifier: MIT */

/* Minimal stand-ins for the Kata TOML and containerd editors, built only
 * while their real sources are absent from the tree (see meson.build).  They
 * handle the simple, well-formed files the unit tests use and nothing more. */

#include <assert.h>
#include <ctype.h>
#include <glib.h>
#include <stdbool.h>

#include "containerd-config.h"
#include "kata-toml.h"

static const char *line_end(const char *p, const char *end) {
        const char *e = memchr(p, '\n', (size_t) (end - p));
        return e ? e + 1 : end;
}

int kata_toml_set_paths(const char *text, size_t len, const KataTomlPaths *paths,
                        char **ret, size_t *ret_len, CcError *err) {
        GString *out = g_string_sized_new(len + 256);
        const char *p = text, *end = text + len;
        bool in_hypervisor = false;
        unsigned line = 0;

        while (p < end) {
                const char *e = line_end(p, end), *s = p;
                const char *value = NULL;

                line++;
                while (s < e && (*s == ' ' || *s == '\t'))
                        s++;
                if (s < e && *s == '[') {
                        in_hypervisor = strncmp(s, "[hypervisor.", 12) == 0;
                } else if (in_hypervisor) {
                        static const char *const keys[] = { "kernel", "initrd", "image" };
                        for (size_t k = 0; k < 3; k++) {
                                size_t kl = strlen(keys[k]);
                                const char *q = s + kl;
                                if ((size_t) (e - s) <= kl || strncmp(s, keys[k], kl) != 0)
                                        continue;
                                while (q < e && (*q == ' ' || *q == '\t'))
                                        q++;
                                if (q >= e || *q != '=')
                                        continue;
                                value = k == 0 ? paths->kernel : k == 1 ? paths->initrd : paths->image;
                                if (!memchr(q, '"', (size_t) (e - q))) {
                                        g_string_free(out, TRUE);
                                        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                                            "line %u: %s is not a basic string", line, keys[k]);
                                }
                                if (value) {
                                        g_string_append_len(out, p, s - p);
                                        g_string_append_printf(out, "%s = \"%s\"\n", keys[k], value);
                                }
                                break;
                        }
                }
                if (!value)
                        g_string_append_len(out, p, e - p);
                p = e;
        }
        *ret_len = out->len;
        *ret = g_string_free(out, FALSE);
        return 0;
}

int containerd_config_version(const char *text, size_t len, int *ret_version, CcError *err) {
        const char *p = text, *end = text + len;

        *ret_version = 1;
        while (p < end) {
                const char *e = line_end(p, end);
                if (*p == '[')
                        break;
                if (strncmp(p, "version", 7) == 0) {
                        const char *q = p + 7;
                        while (q < e && (*q == ' ' || *q == '='))
                                q++;
                        *ret_version = atoi(q);
                        break;
                }
                p = e;
        }
        return 0;
}

static char *block(const char *runtime_class, const char *cfg) {
        return g_strdup_printf("# BEGIN nvidia-ccd runtime %s\n"
                               "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.%s]\n"
                               "  runtime_type = \"io.containerd.kata.v2\"\n"
                               "  privileged_without_host_devices = true\n"
                               "  pod_annotations = [\"io.katacontainers.*\"]\n"
                               "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.%s.options]\n"
                               "  ConfigPath = \"%s\"\n"
                               "# END nvidia-ccd runtime %s\n",
                               runtime_class, runtime_class, runtime_class, cfg, runtime_class);
}

static GString *without_block(const char *text, size_t len, const char *runtime_class, bool *found, CcError *err) {
        g_autofree char *begin = g_strdup_printf("# BEGIN nvidia-ccd runtime %s\n", runtime_class);
        g_autofree char *endm = g_strdup_printf("# END nvidia-ccd runtime %s\n", runtime_class);
        g_autofree char *table = g_strdup_printf("containerd.runtimes.%s]", runtime_class);
        GString *out = g_string_new(NULL);
        const char *p = text, *end = text + len;
        bool inside = false;
        unsigned line = 0;

        *found = false;
        while (p < end) {
                const char *e = line_end(p, end);
                g_autofree char *l = g_strndup(p, (size_t) (e - p));

                line++;
                if (streq(l, begin)) {
                        inside = true;
                        *found = true;
                } else if (inside && streq(l, endm))
                        inside = false;
                else if (!inside && l[0] == '[' && strstr(l, table)) {
                        g_string_free(out, TRUE);
                        cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                     "line %u: the runtime %s is already defined outside nvidia-ccd's block", line,
                                     runtime_class);
                        return NULL;
                } else if (!inside)
                        g_string_append(out, l);
                p = e;
        }
        return out;
}

int containerd_v2_register(const char *text, size_t len, const char *runtime_class,
                           const char *kata_config_path, char **ret, size_t *ret_len, CcError *err) {
        g_autofree char *b = block(runtime_class, kata_config_path);
        bool found;
        GString *out = without_block(text, len, runtime_class, &found, err);

        if (!out)
                return -EINVAL;
        if (out->len > 0 && out->str[out->len - 1] != '\n')
                g_string_append_c(out, '\n');
        g_string_append(out, b);
        *ret_len = out->len;
        *ret = g_string_free(out, FALSE);
        return 0;
}

int containerd_v2_unregister(const char *text, size_t len, const char *runtime_class,
                             char **ret, size_t *ret_len, bool *ret_changed, CcError *err) {
        GString *out = without_block(text, len, runtime_class, ret_changed, err);

        if (!out)
                return -EINVAL;
        *ret_len = out->len;
        *ret = g_string_free(out, FALSE);
        return 0;
}

int containerd_v3_dropin(const char *runtime_class, const char *kata_config_path, char **ret) {
        *ret = g_strdup_printf("version = 3\n\n"
                               "[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.%s]\n"
                               "  runtime_type = \"io.containerd.kata.v2\"\n"
                               "  privileged_without_host_devices = true\n"
                               "  pod_annotations = [\"io.katacontainers.*\"]\n"
                               "[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.%s.options]\n"
                               "  ConfigPath = \"%s\"\n",
                               runtime_class, runtime_class, kata_config_path);
        return 0;
}

int containerd_v3_add_import(const char *text, size_t len, const char *dropin_path,
                             char **ret, size_t *ret_len, CcError *err) {
        g_autofree char *line = g_strdup_printf("imports = [\"%s\"]\n", dropin_path);
        GString *out = g_string_new(NULL);

        if (g_strstr_len(text, (gssize) len, dropin_path))
                g_string_append_len(out, text, (gssize) len);
        else {
                g_string_append(out, line);
                g_string_append_len(out, text, (gssize) len);
        }
        *ret_len = out->len;
        *ret = g_string_free(out, FALSE);
        return 0;
}

int containerd_v3_remove_import(const char *text, size_t len, const char *dropin_path,
                                char **ret, size_t *ret_len, CcError *err) {
        g_autofree char *line = g_strdup_printf("imports = [\"%s\"]\n", dropin_path);
        g_autofree char *copy = g_strndup(text, len);
        char *at = strstr(copy, line);
        GString *out = g_string_new(NULL);

        if (at) {
                g_string_append_len(out, copy, at - copy);
                g_string_append(out, at + strlen(line));
        } else
                g_string_append(out, copy);
        *ret_len = out->len;
        *ret = g_string_free(out, FALSE);
        return 0;
}
