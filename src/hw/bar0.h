/* SPDX-License-Identifier: MIT */
#pragma once

/* A GPU's BAR0 register window behind read32/write32.  On a real host it is
 * an mmap(MAP_SHARED) of resource0 (16 MiB); a plug-in of the host's
 * operations (hw-host.h) may serve it otherwise. */

#include <stdint.h>

#include "cc-error.h"
#include "hw-host.h"

#define BAR0_SIZE (16u * 1024u * 1024u)

typedef struct Bar0Ops {
        uint32_t (*read32)(void *impl, uint32_t offset);
        void (*write32)(void *impl, uint32_t offset, uint32_t value);
        void (*close)(void *impl);
} Bar0Ops;

typedef struct Bar0 {
        const Bar0Ops *ops;
        void *impl;
} Bar0;

/* Opens the BAR0 of bdf on host h, through the host's operations.  err
 * (optional) says what failed, naming the file. */
int bar0_open(HwHost *h, const char *bdf, Bar0 **ret, CcError *err);

/* The running kernel's way: mmap(MAP_SHARED) of the device's resource0. */
int bar0_open_mmio(HwHost *h, const char *bdf, Bar0 **ret, CcError *err);
Bar0 *bar0_close(Bar0 *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(Bar0 *, bar0_close);

static inline uint32_t bar0_read32(Bar0 *b, uint32_t offset) {
        return b->ops->read32(b->impl, offset);
}
static inline void bar0_write32(Bar0 *b, uint32_t offset, uint32_t value) {
        b->ops->write32(b->impl, offset, value);
}
