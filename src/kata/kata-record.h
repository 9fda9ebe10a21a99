/* SPDX-License-Identifier: MIT */
#pragma once

/* The record of one installed runtime class: a key file
 * $STATE_DIRECTORY/runtime-classes/<name>.conf, written atomically after the
 * install is complete, removed with it.  At start the daemon exports one
 * RuntimeClass object per record. */

#include <stddef.h>
#include <stdint.h>

#include "cc-error.h"
#include "macro.h"

typedef struct KataRecord {
        char *name;
        char *reference;
        char *digest;               /* the manifest's */
        char *directory;
        char **files;               /* names in directory, NULL-terminated */
        char *configuration;        /* the Kata configuration's full path */
        char *containerd_handler;   /* "" when not registered */
        char *containerd_config;    /* the main file registered in, "" when not */
        int containerd_version;     /* 2 or 3; 0 when not registered */
        char *containerd_dropin;    /* the version 3 drop-in, "" when none */
        uint64_t installed_at;      /* µs since the epoch */
} KataRecord;

KataRecord *kata_record_free(KataRecord *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(KataRecord *, kata_record_free);
void kata_record_array_free(KataRecord **l, size_t n);

char *kata_record_path(const char *state_dir, const char *name);

int kata_record_save(const char *state_dir, const KataRecord *r, CcError *err);
int kata_record_load(const char *path, KataRecord **ret, CcError *err);
/* Every readable record, sorted by name; unreadable ones are logged and
 * skipped.  No directory: none. */
int kata_record_load_all(const char *state_dir, KataRecord ***ret, size_t *ret_n);
/* 0 also when there was none. */
int kata_record_remove(const char *state_dir, const char *name);
