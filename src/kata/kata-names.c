/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fnmatch.h>

#include "cc-names.h"
#include "escape.h"
#include "kata-names.h"

bool kata_runtime_class_valid(const char *name) {
        return cc_runtime_class_valid(name);
}

int kata_check_runtime_class(const char *name, CcError *err) {
        if (kata_runtime_class_valid(name))
                return 0;
        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL, CC_RUNTIME_CLASS_INVALID_FMT, strempty(name));
}

static const char *title_problem(const char *title) {
        if (!title)
                return "has no title annotation (org.opencontainers.image.title)";
        if (title[0] == '\0')
                return "has an empty title";
        if (title[0] == '/')
                return "has an absolute path as its title";
        if (strchr(title, '/'))
                return "has a title with a '/' in it";
        if (streq(title, ".") || streq(title, ".."))
                return "has a title that names a directory";
        /* A file name, shown in listings and messages: nothing that moves
         * a terminal. */
        if (text_has_control(title, strlen(title)))
                return "has a title with a control character or bytes that are not UTF-8";
        return NULL;
}

int kata_check_layer_titles(const OciLayer *layers, size_t n, CcError *err) {
        assert(layers || n == 0);

        if (n == 0)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL, "The artifact has no layers");

        for (size_t i = 0; i < n; i++) {
                const char *problem = title_problem(layers[i].title);

                if (problem) {
                        _cleanup_free_ char *shown = text_escape(layers[i].title, 200);

                        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                            "Layer %zu (%s) %s%s%s%s: refusing the whole artifact", i + 1,
                                            strempty(layers[i].digest), problem,
                                            layers[i].title ? " \"" : "", strempty(shown),
                                            layers[i].title ? "\"" : "");
                }
                for (size_t j = 0; j < i; j++)
                        if (streq(layers[i].title, layers[j].title))
                                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                                    "Layers %zu and %zu have the same title \"%s\": refusing the whole artifact",
                                                    j + 1, i + 1, layers[i].title);
        }
        return 0;
}

typedef struct FileKind {
        const char *what;
        const char *const *patterns;
        size_t offset;
} FileKind;

static const char *const configuration_patterns[] = { "configuration-*.toml", NULL };
static const char *const kernel_patterns[] = { "vmlinuz*", "vmlinux*", NULL };
static const char *const initrd_patterns[] = { "*.initrd", "initrd*", NULL };
static const char *const image_patterns[] = { "*.image", NULL };

static const FileKind file_kinds[] = {
        { "Kata configuration (configuration-*.toml)", configuration_patterns, offsetof(KataArtifactFiles, configuration) },
        { "kernel (vmlinuz*, vmlinux*)", kernel_patterns, offsetof(KataArtifactFiles, kernel) },
        { "initrd (*.initrd, initrd*)", initrd_patterns, offsetof(KataArtifactFiles, initrd) },
        { "image (*.image)", image_patterns, offsetof(KataArtifactFiles, image) },
};

static bool matches_any(const char *name, const char *const *patterns) {
        for (const char *const *p = patterns; *p; p++)
                if (fnmatch(*p, name, 0) == 0)
                        return true;
        return false;
}

int kata_find_artifact_files(const OciLayer *layers, size_t n, KataArtifactFiles *ret, CcError *err) {
        KataArtifactFiles f = {};

        assert(layers || n == 0);
        assert(ret);

        for (size_t k = 0; k < ELEMENTSOF(file_kinds); k++) {
                const char **slot = (const char **) ((char *) &f + file_kinds[k].offset);

                for (size_t i = 0; i < n; i++) {
                        if (!layers[i].title || !matches_any(layers[i].title, file_kinds[k].patterns))
                                continue;
                        if (*slot)
                                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                                    "The artifact has two files that could be the %s: \"%s\" and \"%s\"",
                                                    file_kinds[k].what, *slot, layers[i].title);
                        *slot = layers[i].title;
                }
        }
        if (!f.configuration)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "The artifact has no Kata configuration (a layer titled configuration-*.toml)");
        *ret = f;
        return 0;
}
