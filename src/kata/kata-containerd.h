/* SPDX-License-Identifier: MIT */
#pragma once

/* containerd registration as files: a plan computes every text to write from
 * the files as they are (nothing is written), apply writes them, each file
 * replaced whole and atomically with its mode and owner kept, and rollback
 * puts back what apply changed.  The text edits are containerd-config.h's. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "cc-error.h"

/* containerd reads small files; anything bigger is not a config. */
#define CONTAINERD_CONFIG_MAX (4U * 1024 * 1024)

typedef struct ContainerdFile {
        char *path;
        bool existed;
        char *old_text;
        size_t old_len;
        struct stat old_st;
        bool write;            /* new_text replaces it (or creates it) */
        bool remove;           /* it is deleted */
        char *new_text;
        size_t new_len;
        bool applied;
} ContainerdFile;

typedef struct ContainerdPlan {
        int version;
        /* Version 3 writes the drop-in before the main file that imports
         * it and removes it after; files[] is in the order to apply. */
        ContainerdFile files[2];
        size_t n_files;
        char *dropin_path;     /* version 3 */
} ContainerdPlan;

void containerd_plan_done(ContainerdPlan *p);

/* The drop-in of a runtime class: <dir of config>/conf.d/nvidia-ccd-<name>.toml */
char *containerd_dropin_path(const char *config_path, const char *runtime_class);

int containerd_plan_register(const char *config_path, const char *runtime_class, const char *kata_config,
                             ContainerdPlan *ret, CcError *err);
/* version and dropin_path as the record has them; a config that is gone
 * gives an empty plan. */
int containerd_plan_unregister(const char *config_path, int version, const char *dropin_path,
                               const char *runtime_class, ContainerdPlan *ret, CcError *err);

int containerd_plan_apply(ContainerdPlan *p, CcError *err);
/* Best effort: what apply wrote is put back as it was. */
void containerd_plan_rollback(ContainerdPlan *p);
