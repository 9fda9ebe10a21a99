/* SPDX-License-Identifier: MIT */

/* PRC knob access through the FSP firmware: the MCTP/NVDM request and the
 * check of its answer, the same on every architecture.  Which mailbox
 * carries them is the transport's business (fsp-transport.h). */

#include <assert.h>

#include "fsp-transport.h"
#include "nv-regs.h"

const FspTransport *fsp_transport_for(GpuChip chip) {
        switch (gpu_chip_arch(chip)) {
        case GPU_ARCH_HOPPER:
        case GPU_ARCH_LS10_NVSWITCH:
                return &fsp_transport_emem;
        case GPU_ARCH_BLACKWELL:
                return &fsp_transport_mnoc;
        default:
                return NULL;
        }
}

int fsp_prc_parse_reply(const uint32_t *resp, size_t n, uint8_t knob, bool write, uint16_t *ret_value,
                        CcError *err) {
        const char *op = write ? "writing" : "reading";

        assert(resp || n == 0);

        if (n < 5 || (resp[1] >> 24) != NV_NVDM_TYPE_RESPONSE)
                return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, EBADMSG,
                                    "FSP answered knob %u with an unexpected message (%zu dwords, NVDM type 0x%x)",
                                    knob, n, n >= 2 ? resp[1] >> 24 : 0);
        if (resp[3] != NV_NVDM_TYPE_PRC)
                return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, EBADMSG,
                                    "FSP answered knob %u for NVDM type 0x%x instead of PRC", knob, resp[3]);
        if (resp[4] == NV_PRC_STATUS_UNKNOWN_KNOB)
                return cc_error_set(err, CC_ERROR_NOT_CAPABLE, EOPNOTSUPP, "firmware does not know knob %u", knob);
        if (resp[4] != NV_PRC_STATUS_OK)
                return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, EIO, "FSP refused %s knob %u (status 0x%x)",
                                    op, knob, resp[4]);

        if (!write) {
                if (n < 6)
                        return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, EBADMSG,
                                            "FSP answered reading knob %u without a value", knob);
                if (ret_value)
                        *ret_value = resp[5] & 0xffff;
        }
        return 0;
}

/* One PRC request: a read when value is NULL, else a write. */
static int fsp_prc(Bar0 *b, GpuChip chip, const CcTimeouts *t, uint8_t knob, const uint16_t *value, uint16_t *ret,
                   CcError *err) {
        const FspTransport *transport = fsp_transport_for(chip);
        CcTimeouts defaults = cc_timeouts_default(gpu_chip_arch(chip));
        uint32_t req[4], resp[FSP_MAX_RESPONSE_DWORDS];
        char what[64];
        size_t n = 0, rn = 0;
        int r;

        assert(b);

        if (!transport)
                return cc_error_set(err, CC_ERROR_NOT_CAPABLE, EOPNOTSUPP,
                                    "device architecture \"%s\" has no FSP to take knobs",
                                    gpu_arch_to_string(gpu_chip_arch(chip)));
        if (!t)
                t = &defaults;

        req[n++] = NV_MCTP_HEADER_SOM_EOM;
        req[n++] = NV_MCTP_VENDOR_HEADER(NV_NVDM_TYPE_PRC);
        req[n++] = NV_PRC_WORD(value ? NV_PRC_OP_WRITE : NV_PRC_OP_READ, knob);
        if (value)
                req[n++] = *value;
        snprintf(what, sizeof(what), "the %s of knob %u", value ? "write" : "read", knob);

        r = cc_check_alive(b, err);
        if (r < 0)
                return r;
        r = transport->exchange(b, t, req, n, resp, ELEMENTSOF(resp), &rn, what, err);
        if (r < 0)
                return r;
        return fsp_prc_parse_reply(resp, rn, knob, value != NULL, ret, err);
}

int fsp_read_knob(Bar0 *b, GpuChip chip, const CcTimeouts *t, uint8_t knob, uint16_t *ret, CcError *err) {
        assert(ret);

        return fsp_prc(b, chip, t, knob, NULL, ret, err);
}

int fsp_write_knob(Bar0 *b, GpuChip chip, const CcTimeouts *t, uint8_t knob, uint16_t value, CcError *err) {
        return fsp_prc(b, chip, t, knob, &value, NULL, err);
}
