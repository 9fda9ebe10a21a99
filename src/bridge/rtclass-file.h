/* SPDX-License-Identifier: MIT */
#pragma once

/* The runtime-class file of --runtime-classes, in the format of the GPU
 * Operator's kata-manager (YAML, or JSON, which is YAML too):
 *
 *     artifactsDir: /opt/nvidia-gpu-operator/artifacts/runtimeclasses
 *     runtimeClasses:
 *       - name: kata-qemu-nvidia-gpu-snp
 *         nodeSelector: { nvidia.com/cc.capable: "true" }
 *         artifacts:
 *           url: nvcr.io/nvidia/cc/kata-artifacts@sha256:...
 *           pullSecret: kata-artifacts-pull-secret
 *
 * Parsed strictly: an unknown key is refused rather than ignored, since a
 * misspelt nodeSelector would install a class on every node. */

#include <glib.h>
#include <stdbool.h>

#include "cc-error.h"

#define RTCLASS_FILE_MAX_BYTES (1024 * 1024)
#define RTCLASS_FILE_MAX_CLASSES 64
/* What InstallKataArtifacts takes. */
#define RTCLASS_REFERENCE_MAX 1024

typedef struct RuntimeClassSpec {
        char *name;                /* a DNS-1123 label */
        GHashTable *node_selector; /* label -> value; empty: every node */
        char *url;                 /* the OCI reference */
        char *pull_secret;         /* a Secret's name; NULL: none */
} RuntimeClassSpec;

typedef struct RuntimeClassFile {
        char *artifacts_dir;       /* NULL when not given */
        GPtrArray *classes;        /* RuntimeClassSpec, in the file's order */
} RuntimeClassFile;

int rtclass_file_parse(const char *text, size_t size, RuntimeClassFile **ret, CcError *e);
RuntimeClassFile *rtclass_file_free(RuntimeClassFile *f);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RuntimeClassFile, rtclass_file_free)

const RuntimeClassSpec *rtclass_file_find(const RuntimeClassFile *f, const char *name);

/* Every label of the selector is on the node with that value. */
bool rtclass_selector_matches(const RuntimeClassSpec *c, GHashTable *labels);

/* The digest a reference is pinned to ("sha256:..."), or NULL for a tag. */
const char *rtclass_reference_digest(const char *reference);

bool rtclass_name_is_valid(const char *name);
