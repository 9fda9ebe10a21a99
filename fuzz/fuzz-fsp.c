/* SPDX-License-Identifier: MIT */

/* The FSP RPC and status paths against a BAR0 that answers with the fuzz
 * input.  A device is not trusted to be sane: a GPU with broken firmware, a
 * device falling off the bus or a malicious one behind a passed-through
 * function may put anything in its registers, and the daemon must answer
 * with an error, not read past its buffers or spin.
 *
 * Input: four parameter bytes (knob, value low, value high, flags), then the
 * register values, little-endian 32-bit, handed out in the order the code
 * reads them.  Once they run out every read gives 0, which ends each loop at
 * once: the command queue reads empty and no answer ever comes.  All
 * timeouts are zero, so every polling loop makes a single pass and the run
 * does not depend on timing. */

#include "bar0.h"
#include "cc-hw.h"
#include "fuzz.h"

/* Reads past the input's end beyond which a loop is taken not to end. */
#define MAX_READS_PAST_END 10000u

/* flags */
#define FLAG_NO_ERROR 0x01u /* CcError NULL: callers that do not want the message */
#define FLAG_MNOC     0x40u /* knob access as a Blackwell GPU (MNOC) instead of Hopper (EMEM) */

typedef struct FuzzBar0 {
        const uint8_t *data;
        size_t size;
        size_t pos;
        unsigned reads_past_end;
} FuzzBar0;

/* Every access must stay inside the 16 MiB window, dword-aligned, as the
 * mmap of resource0 demands. */
static void check_offset(uint32_t offset) {
        if (offset >= BAR0_SIZE || offset % 4 != 0) {
                fprintf(stderr, "BAR0 access at 0x%x outside the window or unaligned\n", offset);
                abort();
        }
}

static uint32_t fuzz_read32(void *impl, uint32_t offset) {
        FuzzBar0 *f = impl;
        uint32_t v;

        check_offset(offset);
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

static void fuzz_write32(void *impl, uint32_t offset, uint32_t value) {
        check_offset(offset);
}

static void fuzz_close(void *impl) {
}

static const Bar0Ops fuzz_bar0_ops = {
        .read32 = fuzz_read32,
        .write32 = fuzz_write32,
        .close = fuzz_close,
};

static void check_result(const char *call, int r, const CcError *err) {
        if (fuzz_verbose())
                fprintf(stderr, "  %s: %d%s%s\n", call, r, err && r < 0 ? " " : "", err && r < 0 ? err->message : "");
        FUZZ_CHECK(r <= 0);
        if (!err)
                return;
        if (r < 0) {
                FUZZ_CHECK(err->kind > CC_ERROR_NONE && err->kind < _CC_ERROR_KIND_MAX);
                FUZZ_CHECK(err->message[0] != '\0');
                FUZZ_CHECK(memchr(err->message, '\0', sizeof(err->message)));
        } else
                FUZZ_CHECK(!cc_error_is_set(err));
}

/* The calls, in a fixed order; every register read takes the next value of
 * the input.  Shared with the tool that records seeds from the simulator. */
static void run_calls(Bar0 *b, const uint8_t params[static 4]) {
        static const GpuArch arches[] = {
                GPU_ARCH_HOPPER, GPU_ARCH_BLACKWELL, GPU_ARCH_LS10_NVSWITCH, GPU_ARCH_OTHER,
        };
        const CcTimeouts t = {}; /* all zero: one pass through each loop */
        uint8_t knob = params[0];
        uint16_t value = (uint16_t) (params[1] | params[2] << 8);
        bool use_error = !(params[3] & FLAG_NO_ERROR);
        CcError e;
        CcError *err = use_error ? &e : NULL;
        KnobWrite plan[CC_KNOB_PLAN_MAX];
        GpuChip knob_chip = params[3] & FLAG_MNOC ? GPU_CHIP_GB100 : GPU_CHIP_GH100;
        GpuArch plan_arch;
        uint16_t current = 0;
        unsigned writes = 0;
        size_t n;
        int r;

#define RESET_ERROR() (e = (CcError) CC_ERROR_INIT)

        RESET_ERROR();
        r = cc_check_alive(b, err);
        check_result("cc_check_alive", r, err);

        for (size_t i = 0; i < ELEMENTSOF(arches); i++) {
                CcStatus s = { .cc = (DeviceCcMode) -1 };

                RESET_ERROR();
                r = cc_wait_boot(b, gpu_chip_default(arches[i]), &t, err);
                check_result("cc_wait_boot", r, err);

                RESET_ERROR();
                r = cc_query(b, gpu_chip_default(arches[i]), &s, err);
                check_result("cc_query", r, err);
                if (r >= 0 && fuzz_verbose())
                        fprintf(stderr, "    %s: cc %s, ppcie %d\n", gpu_arch_to_string(arches[i]),
                                device_cc_mode_to_string(s.cc), s.ppcie);
                if (r >= 0) {
                        FUZZ_CHECK(device_cc_mode_to_string(s.cc));
                        if (arches[i] == GPU_ARCH_LS10_NVSWITCH)
                                FUZZ_CHECK(s.cc == DEVICE_CC_OFF || s.cc == DEVICE_CC_UNKNOWN);
                        (void) cc_status_matches(arches[i], &s, TARGET_MODE_ON);
                }
        }

        RESET_ERROR();
        r = fsp_read_knob(b, knob_chip, &t, knob, &current, err);
        check_result("fsp_read_knob", r, err);
        if (r >= 0 && fuzz_verbose())
                fprintf(stderr, "    knob %u = %u\n", knob, current);

        RESET_ERROR();
        r = fsp_write_knob(b, knob_chip, &t, knob, value, err);
        check_result("fsp_write_knob", r, err);

        /* The read-compare-write of a whole plan, as a mode switch runs it. */
        plan_arch = arches[(params[3] >> 3) % ELEMENTSOF(arches)];
        n = cc_knob_plan((TargetMode) ((params[3] >> 1) % _TARGET_MODE_MAX), plan_arch, params[3] & 0x20, plan);
        FUZZ_CHECK(n <= CC_KNOB_PLAN_MAX);
        RESET_ERROR();
        r = cc_apply_knobs(b, gpu_chip_default(plan_arch), &t, plan, n, &writes, err);
        FUZZ_CHECK(writes <= n);
        check_result("cc_apply_knobs", r, err);

#undef RESET_ERROR
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        FuzzBar0 f;
        Bar0 b = { .ops = &fuzz_bar0_ops, .impl = &f };

        if (size < 4)
                return 0;
        fuzz_quiet_logging();

        f = (FuzzBar0) { .data = data + 4, .size = size - 4 };
        run_calls(&b, data);
        return 0;
}
