/* SPDX-License-Identifier: MIT */
#pragma once

/* The record of VFIO bindings, "<state_dir>/vfio-bindings" (a key file
 * written atomically): for each device the daemon moved to a vfio driver,
 * the driver it had before and whether the move is in progress.  It is
 * written before a device is touched, so that after a crash the next start
 * can finish what was cut short (vfio_record_recover in vfio-bind.h). */

#include <stddef.h>

#include "cc-error.h"
#include "macro.h"

typedef enum VfioRecordState {
        VFIO_RECORD_BINDING,     /* being bound; a crash rolls it back */
        VFIO_RECORD_BOUND,       /* bound; unbind restores previous_driver */
        VFIO_RECORD_UNBINDING,   /* being given back; a crash finishes it */
} VfioRecordState;

typedef struct VfioRecordEntry {
        char bdf[16];
        char *previous_driver;   /* "" when it had none */
        int iommu_group;
        VfioRecordState state;
} VfioRecordEntry;

typedef struct VfioRecord {
        char *path;
        VfioRecordEntry *entries;
        size_t n_entries;
} VfioRecord;

/* A missing file is an empty record. */
int vfio_record_load(const char *state_dir, VfioRecord **ret, CcError *err);
int vfio_record_save(const VfioRecord *r);
VfioRecord *vfio_record_free(VfioRecord *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(VfioRecord *, vfio_record_free);

VfioRecordEntry *vfio_record_find(const VfioRecord *r, const char *bdf);
int vfio_record_put(VfioRecord *r, const char *bdf, int iommu_group, const char *previous_driver,
                    VfioRecordState state);
void vfio_record_remove(VfioRecord *r, const char *bdf);
