/* SPDX-License-Identifier: MIT */
#pragma once

/* How a PRC message reaches the FSP firmware and its answer comes back.
 * The PRC layer (fsp.c) builds the same MCTP/NVDM messages for every device
 * and hands them to the transport of the device's architecture:
 *
 *   EMEM channel 2 (fsp-emem.c): Hopper GPUs and LS10 NVSwitches
 *   MNOC port 0    (fsp-mnoc.c): Blackwell GPUs, as gpu-admin-tools does
 *
 * A transport's errors name the request they belong to through `what`
 * ("the write of knob 8"), so a failure reads "FSP mailbox error after the
 * write of knob 8" whichever step it was. */

#include <stddef.h>
#include <stdint.h>

#include "bar0.h"
#include "cc-error.h"
#include "cc-hw.h"

/* The largest answer any transport hands back, in dwords (an MNOC port-0
 * packet is 4,160 bytes). */
#define FSP_MAX_RESPONSE_DWORDS 1040

typedef struct FspTransport {
        const char *name;
        /* Sends req[0..n) and receives one answer into resp (at most
         * resp_max dwords; *ret_n dwords were received). */
        int (*exchange)(Bar0 *b, const CcTimeouts *t, const uint32_t *req, size_t n,
                        uint32_t *resp, size_t resp_max, size_t *ret_n, const char *what, CcError *err);
} FspTransport;

extern const FspTransport fsp_transport_emem;
extern const FspTransport fsp_transport_mnoc;

/* EMEM for Hopper and LS10, MNOC for Blackwell; NULL for anything else. */
const FspTransport *fsp_transport_for(GpuChip chip);

/* The MNOC steps, for the tests and the fuzz target. */
int fsp_mnoc_send(Bar0 *b, const CcTimeouts *t, const uint32_t *msg, size_t n, const char *what, CcError *err);
int fsp_mnoc_receive(Bar0 *b, const CcTimeouts *t, uint32_t *resp, size_t resp_max, size_t *ret_n,
                     const char *what, CcError *err);

/* Checks a PRC answer: NVDM response type, echo of the PRC type, status;
 * for a read (write false) *ret_value gets the knob's value. */
int fsp_prc_parse_reply(const uint32_t *resp, size_t n, uint8_t knob, bool write, uint16_t *ret_value,
                        CcError *err);
