/* SPDX-License-Identifier: MIT */
#pragma once

/* What an artifact install accepts as names, checked before anything is
 * written: the runtime class (a Kubernetes RuntimeClass handler, so a
 * DNS-1123 label) and the layer titles that become file names. */

#include <stdbool.h>
#include <stddef.h>

#include "cc-error.h"
#include "cc-names.h"
#include "oci-pull.h"

#define KATA_RUNTIME_CLASS_MAX CC_RUNTIME_CLASS_MAX

bool kata_runtime_class_valid(const char *name);
/* InvalidArgument naming the name and the rule when it is not a label. */
int kata_check_runtime_class(const char *name, CcError *err);

/* Every layer has a title that is a plain file name (not empty, no '/', not
 * "." or "..") and no two layers share one; InvalidArgument naming the first
 * offending layer otherwise. */
int kata_check_layer_titles(const OciLayer *layers, size_t n, CcError *err);

/* The files of an artifact the Kata configuration points at, found by name:
 *   configuration: configuration-*.toml (exactly one)
 *   kernel:        vmlinuz* or vmlinux*
 *   initrd:        *.initrd or initrd*
 *   image:         *.image
 * (the names kata-manager's artifacts use; "*.img" is left out because Kata
 * names both its initrd and its image that way).
 * Each kind but the configuration may be absent (its key is then left as it
 * is) and may not be ambiguous (two candidates are InvalidArgument naming
 * them: guessing would boot the wrong file).  The results point into the
 * layers' titles. */
typedef struct KataArtifactFiles {
        const char *configuration;
        const char *kernel;
        const char *initrd;
        const char *image;
} KataArtifactFiles;

int kata_find_artifact_files(const OciLayer *layers, size_t n, KataArtifactFiles *ret, CcError *err);
