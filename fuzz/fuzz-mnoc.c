/* SPDX-License-Identifier: MIT */

/* The MNOC transport's reply parser: the answer of the FSP's send mailbox
 * (MESSAGE_READY, the size, the data dwords, ERR) and the PRC check of its
 * words, then a whole knob read and write over MNOC, against a BAR0 that
 * answers with the fuzz input.  A GPU with broken firmware, or a malicious
 * device behind a passed-through function, may announce any size and put
 * anything in the data: the daemon must answer with an error, never read
 * more dwords than the size says, past its buffer, or outside the mailbox.
 *
 * Input: two parameter bytes (knob; flags: bit 0 a write, bits 1-3 the
 * caller's buffer size), then the register values, little-endian 32-bit,
 * handed out in the order the code reads them; once they run out every read
 * gives 0 (no message ready, so each wait ends at its first look: all
 * timeouts are zero). */

#include "bar0.h"
#include "cc-hw.h"
#include "fsp-transport.h"
#include "fuzz.h"
#include "nv-regs.h"

#define MAX_READS_PAST_END 10000u

typedef struct FuzzBar0 {
        const uint8_t *data;
        size_t size;
        size_t pos;
        unsigned reads_past_end;
        bool seen_send_info;
        uint32_t first_send_info; /* what the wait for MESSAGE_READY saw (zero timeouts: one look) */
        size_t send_data_reads;
} FuzzBar0;

/* Only the mailbox of port 0 and PMC_BOOT_0 (the off-the-bus check) may be
 * touched. */
static void check_offset(uint32_t offset) {
        if (offset == NV_PMC_BOOT_0 || offset == NV_FSP_MNOC_SEND_INFO || offset == NV_FSP_MNOC_SEND_DATA ||
            offset == NV_FSP_MNOC_RECV_INFO || offset == NV_FSP_MNOC_RECV_DATA)
                return;
        fprintf(stderr, "BAR0 access at 0x%x outside the MNOC mailbox\n", offset);
        abort();
}

static uint32_t next_value(FuzzBar0 *f) {
        uint32_t v;

        if (f->size - f->pos < 4) {
                if (++f->reads_past_end > MAX_READS_PAST_END) {
                        fprintf(stderr, "more than %u register reads after the input ran out: a loop does not end\n",
                                MAX_READS_PAST_END);
                        abort();
                }
                return 0;
        }
        v = (uint32_t) f->data[f->pos] | (uint32_t) f->data[f->pos + 1] << 8 |
            (uint32_t) f->data[f->pos + 2] << 16 | (uint32_t) f->data[f->pos + 3] << 24;
        f->pos += 4;
        return v;
}

static uint32_t fuzz_read32(void *impl, uint32_t offset) {
        FuzzBar0 *f = impl;
        uint32_t v;

        check_offset(offset);
        v = next_value(f);
        if (offset == NV_FSP_MNOC_SEND_INFO && !f->seen_send_info) {
                f->first_send_info = v;
                f->seen_send_info = true;
        } else if (offset == NV_FSP_MNOC_SEND_DATA)
                f->send_data_reads++;
        return v;
}

static void fuzz_write32(void *impl, uint32_t offset, uint32_t value) {
        check_offset(offset);
        /* The host writes only the receive mailbox. */
        FUZZ_CHECK(offset == NV_FSP_MNOC_RECV_INFO || offset == NV_FSP_MNOC_RECV_DATA);
}

static void fuzz_close(void *impl) {
}

static const Bar0Ops fuzz_bar0_ops = {
        .read32 = fuzz_read32,
        .write32 = fuzz_write32,
        .close = fuzz_close,
};

static void check_error(int r, const CcError *e) {
        FUZZ_CHECK(r <= 0);
        if (r < 0) {
                FUZZ_CHECK(e->kind > CC_ERROR_NONE && e->kind < _CC_ERROR_KIND_MAX);
                FUZZ_CHECK(e->message[0] != '\0');
                FUZZ_CHECK(memchr(e->message, '\0', sizeof(e->message)));
        } else
                FUZZ_CHECK(!cc_error_is_set(e));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const size_t buffer_sizes[] = { 1, 4, 5, 6, 16, 17, 64, FSP_MAX_RESPONSE_DWORDS };
        static uint32_t resp[FSP_MAX_RESPONSE_DWORDS];
        const CcTimeouts t = {};
        FuzzBar0 f;
        Bar0 b = { .ops = &fuzz_bar0_ops, .impl = &f };
        uint8_t knob;
        bool write;
        size_t max, n = SIZE_MAX;
        uint16_t value = 0xbeef;
        CcError e = CC_ERROR_INIT;
        int r;

        if (size < 2)
                return 0;
        fuzz_quiet_logging();

        knob = data[0];
        write = data[1] & 0x1;
        max = buffer_sizes[(data[1] >> 1) & 0x7];
        f = (FuzzBar0) { .data = data + 2, .size = size - 2 };

        /* The reply parser alone, with the caller's buffer of max dwords. */
        r = fsp_mnoc_receive(&b, &t, resp, max, &n, "the fuzzed answer", &e);
        check_error(r, &e);
        if (r >= 0) {
                uint32_t announced = f.first_send_info & NV_MNOC_INFO_SIZE_MASK;

                /* Exactly the announced dwords, all of them, in the buffer. */
                FUZZ_CHECK(f.first_send_info & NV_MNOC_INFO_READY);
                FUZZ_CHECK(announced == n * 4);
                FUZZ_CHECK(f.send_data_reads == n);
                FUZZ_CHECK(n >= 1 && n <= max);
                FUZZ_CHECK(n <= NV_MNOC_MAX_PACKET_BYTES / 4);
                if (fuzz_verbose())
                        fprintf(stderr, "  answer of %zu dwords (announced %u bytes)\n", n, announced);

                e = (CcError) CC_ERROR_INIT;
                r = fsp_prc_parse_reply(resp, n, knob, write, &value, &e);
                check_error(r, &e);
                if (r >= 0 && !write)
                        FUZZ_CHECK(n >= 6 && value == (resp[5] & 0xffff));
        } else
                /* A refused size is not read at all. */
                FUZZ_CHECK(e.kind != CC_ERROR_HARDWARE_FAILURE || e.errno_value != EBADMSG ||
                           f.send_data_reads == 0);

        /* A whole request, as a switch makes it on a Blackwell GPU. */
        e = (CcError) CC_ERROR_INIT;
        if (write)
                r = fsp_write_knob(&b, GPU_CHIP_GB100, &t, knob, value, &e);
        else
                r = fsp_read_knob(&b, GPU_CHIP_GB202, &t, knob, &value, &e);
        check_error(r, &e);
        if (fuzz_verbose())
                fprintf(stderr, "  %s knob %u: %d %s\n", write ? "write" : "read", knob, r, r < 0 ? e.message : "");
        return 0;
}
