/* SPDX-License-Identifier: MIT */
#pragma once

/* Which NVIDIA parts can run in confidential-computing mode.  CC support is
 * per SKU, not per chip: a B200 is CC-capable, an RTX 5090 of the same
 * generation is not, and NVIDIA's tools keep no list (they take every
 * Hopper-or-newer id).  This is the built-in list of docs/hardware.md;
 * [Devices] CcCapableDeviceIds= replaces it.  (The names the Name property
 * falls back to are pci.ids' own, in src/core/device-names.c.) */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cc-chip.h"

typedef struct CcSku {
        uint16_t device_id;
        GpuChip chip;
        bool cc_capable;
        const char *note;   /* why it is not CC-capable; NULL for capable parts */
} CcSku;

/* The entry of an NVIDIA device id, NULL when the table has none. */
const CcSku *cc_sku_lookup(uint16_t device_id);

/* The built-in rule: every Hopper GPU (GH100 has no consumer parts), and the
 * Blackwell parts the table lists as capable.  An id of another
 * architecture, or a Blackwell id the table does not know, is not. */
bool cc_sku_is_cc_capable(uint16_t vendor_id, uint16_t device_id, uint32_t class_code);

/* Why the built-in rule does not call a Blackwell GPU CC-capable, for the
 * log: "GB202 [GeForce RTX 5090] (0x2b85) is not CC-capable: a consumer
 * part ...".  name (optional) is the device's.  NULL for a capable GPU or
 * one of another architecture; else buf. */
const char *cc_sku_why_not_capable(uint16_t vendor_id, uint16_t device_id, uint32_t class_code, const char *name,
                                   char *buf, size_t size);

/* Every entry, for tests and docs. */
const CcSku *cc_sku_table(size_t *ret_n);
