/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdint.h>
#include <time.h>

#include "gpusim-chip.h"
#include "gpusim-mnoc.h"
#include "gpusim-state.h"
#include "gpusim.h"
#include "nv-regs.h"
#include "time-util.h"

/* EMEM as the channel-2 client sees it: the channel's area starts at 0x800. */
#define SIM_EMEM_SIZE           0x1000u
#define SIM_REQUEST_MAX_DWORDS  8
/* What the simulated FSP answers to a request it cannot parse, and to an
 * in-band write its permission knob forbids. */
#define SIM_STATUS_BAD_REQUEST  0x1u
#define SIM_STATUS_NOT_PERMITTED 0x2u

/* PMC_BOOT_0: architecture in bits 28:24, implementation 23:20, revision 7:0.
 * GH100 is architecture 0x18, GB100 0x1a. */
#define SIM_BOOT_0_HOPPER       0x180000a1u
#define SIM_BOOT_0_BLACKWELL    0x1a0000a1u
#define SIM_BOOT_0_LS10         0x000000a1u

/* One open BAR0.  EMEM and the queues live only here, as on the device. */
typedef struct GpuSim {
        char *path;
        GpuArch fallback_arch;
        SimState st;

        uint32_t emem[SIM_EMEM_SIZE / 4];
        uint32_t emem_ctrl;
        uint32_t cmd_head, cmd_tail;
        uint32_t msg_head, msg_tail;
        bool cmd_doorbell;       /* a command waits for the FSP */
        bool msg_pending;        /* an answer waits for FspLatencyMs */
        uint64_t msg_ready_us;
        uint32_t msg_pending_tail;
        SimMnoc mnoc;            /* Blackwell's mailbox (gpusim-mnoc.c) */
} GpuSim;

/* The FSP's queues and EMEM as after a reset.  Idle queues rest at the
 * channel base, so publishing a message moves only the tail and a reader
 * never sees a half-updated pair. */
static void sim_forget_fsp(GpuSim *s) {
        memset(s->emem, 0, sizeof(s->emem));
        s->emem_ctrl = 0;
        s->cmd_head = s->cmd_tail = NV_FSP_EMEM_CHANNEL_BASE;
        s->msg_head = s->msg_tail = NV_FSP_EMEM_CHANNEL_BASE;
        s->cmd_doorbell = false;
        s->msg_pending = false;
        sim_mnoc_forget(&s->mnoc);
}

/* Picks up what other processes (a reset, a test, a tool) changed.  An
 * unreadable file keeps the last state. */
static void sim_reload(GpuSim *s) {
        SimState st;

        if (sim_state_load(s->path, s->fallback_arch, &st) < 0)
                return;
        if (st.reset_at_us != s->st.reset_at_us)
                sim_forget_fsp(s);
        s->st = st;
}

static int sim_update(GpuSim *s, SimStateChange change, uint32_t a, uint32_t b) {
        return sim_state_update(s->path, s->fallback_arch, change, a, b, &s->st);
}

static void change_pending_knob(SimState *st, uint32_t knob, uint32_t value) {
        st->pending.set[knob] = true;
        st->pending.value[knob] = (uint16_t) value;
}

static void change_scratch(SimState *st, uint32_t offset, uint32_t value) {
        if (offset == NV_SCRATCH_RESET_MARKER)
                st->reset_marker = value;
        else
                st->sbr_marker = value;
}

/* Serves one PRC request from the command queue; returns the number of
 * response dwords. */
static size_t sim_fsp_serve(GpuSim *s, const uint32_t *req, size_t n, uint32_t resp[6]) {
        uint32_t word = n >= 3 ? req[2] : 0;
        uint8_t op = word & 0xff, knob = (word >> 16) & 0xff;
        uint32_t status = NV_PRC_STATUS_OK;
        size_t rn = 5;

        resp[0] = NV_MCTP_HEADER_SOM_EOM;
        resp[1] = NV_MCTP_VENDOR_HEADER(NV_NVDM_TYPE_RESPONSE);
        resp[2] = word;
        resp[3] = NV_NVDM_TYPE_PRC;

        if (n < 3 ||
            (req[0] & NV_MCTP_HEADER_SOM_EOM) != NV_MCTP_HEADER_SOM_EOM ||
            req[1] != NV_MCTP_VENDOR_HEADER(NV_NVDM_TYPE_PRC) ||
            ((word >> 8) & 0xff) != 2 || (word >> 24) != 0)
                status = SIM_STATUS_BAD_REQUEST;
        else if (s->st.unknown_knob[knob])
                status = NV_PRC_STATUS_UNKNOWN_KNOB;
        else if (op == NV_PRC_OP_READ && n == 3) {
                resp[5] = sim_knob_read(&s->st, knob);
                rn = 6;
        } else if (op == NV_PRC_OP_WRITE && n == 4) {
                if (sim_knob_write_refused(&s->st, knob))
                        status = SIM_STATUS_NOT_PERMITTED;
                else if (sim_update(s, change_pending_knob, knob, req[3] & 0xffff) < 0)
                        status = SIM_STATUS_BAD_REQUEST;
        } else
                status = SIM_STATUS_BAD_REQUEST;

        resp[4] = status;
        return rn;
}

static size_t sim_fsp_serve_mnoc(void *userdata, const uint32_t *req, size_t n, uint32_t resp[6]) {
        return sim_fsp_serve(userdata, req, n, resp);
}

static void sim_fsp_take_command(GpuSim *s, uint64_t now) {
        uint32_t req[SIM_REQUEST_MAX_DWORDS], resp[6];
        uint32_t head = s->cmd_head, tail = s->cmd_tail;
        size_t n = 0, rn;

        /* The FSP consumes the command whatever it holds. */
        s->cmd_tail = s->cmd_head;

        if (s->st.fsp_timeout == SIM_FSP_TIMEOUT_RESPONSE)
                return;

        if (tail >= head && (tail - head) % 4 == 0 && tail + 4 <= SIM_EMEM_SIZE &&
            (tail - head) / 4 + 1 <= SIM_REQUEST_MAX_DWORDS) {
                n = (tail - head) / 4 + 1;
                memcpy(req, &s->emem[head / 4], n * 4);
        }
        rn = sim_fsp_serve(s, req, n, resp);

        memcpy(&s->emem[NV_FSP_EMEM_CHANNEL_BASE / 4], resp, rn * 4);
        s->msg_pending = true;
        s->msg_ready_us = now + (uint64_t) s->st.fsp_latency_ms * 1000u;
        s->msg_pending_tail = NV_FSP_EMEM_CHANNEL_BASE + (uint32_t) (rn - 1) * 4;
}

/* Lets the simulated FSP make progress: take a queued command once booted
 * and once the host has taken the previous answer, publish an answer once
 * its latency has passed. */
static void sim_fsp_step(GpuSim *s) {
        uint64_t now = now_usec(CLOCK_REALTIME);
        bool msg_queue_free = !s->msg_pending && s->msg_head == s->msg_tail;

        if (s->cmd_doorbell && msg_queue_free && sim_booted(&s->st, now) &&
            s->st.fsp_timeout != SIM_FSP_TIMEOUT_QUEUE) {
                s->cmd_doorbell = false;
                sim_fsp_take_command(s, now);
        }
        if (s->msg_pending && now >= s->msg_ready_us) {
                s->msg_pending = false;
                s->msg_head = NV_FSP_EMEM_CHANNEL_BASE;
                s->msg_tail = s->msg_pending_tail;
        }
}

static uint32_t emem_offset(uint32_t ctrl) {
        return ctrl & ~(NV_FSP_EMEM_CTRL_AINCW | NV_FSP_EMEM_CTRL_AINCR) & ~3u;
}

static void emem_advance(GpuSim *s) {
        uint32_t flags = s->emem_ctrl & (NV_FSP_EMEM_CTRL_AINCW | NV_FSP_EMEM_CTRL_AINCR);
        s->emem_ctrl = ((emem_offset(s->emem_ctrl) + 4) & 0x00fffffcu) | flags;
}

static uint32_t emem_read(GpuSim *s) {
        uint32_t off = emem_offset(s->emem_ctrl);
        uint32_t v = off < SIM_EMEM_SIZE ? s->emem[off / 4] : 0;

        if (s->emem_ctrl & NV_FSP_EMEM_CTRL_AINCR)
                emem_advance(s);
        return v;
}

static void emem_write(GpuSim *s, uint32_t value) {
        uint32_t off = emem_offset(s->emem_ctrl);

        if (off < SIM_EMEM_SIZE)
                s->emem[off / 4] = value;
        if (s->emem_ctrl & NV_FSP_EMEM_CTRL_AINCW)
                emem_advance(s);
}

static uint32_t sim_boot_0(const SimState *st) {
        if (st->security_fault)
                return NV_PMC_BOOT_0_SEC_FAULT_A;
        switch (st->arch) {
        case GPU_ARCH_BLACKWELL:
                return SIM_BOOT_0_BLACKWELL;
        case GPU_ARCH_LS10_NVSWITCH:
                return SIM_BOOT_0_LS10;
        default:
                return SIM_BOOT_0_HOPPER;
        }
}

static uint32_t sim_read32(void *impl, uint32_t offset) {
        GpuSim *s = impl;
        const SimState *st = &s->st;
        uint64_t now;
        uint32_t v;

        sim_reload(s);
        if (st->off_bus)
                return NV_PMC_BOOT_0_OFF_BUS;
        /* Behind the BAR firewall nothing answers. */
        now = now_usec(CLOCK_REALTIME);
        if (sim_firewall_up(st, now))
                return NV_PMC_BOOT_0_OFF_BUS;
        if (sim_chip_read(st, now, offset, &v) || sim_mnoc_read(&s->mnoc, st, now, offset, &v))
                return v;

        switch (offset) {
        case NV_PMC_BOOT_0:
                return sim_boot_0(st);
        case NV_FSP_BOOT_COMPLETE:
                if (st->arch == GPU_ARCH_LS10_NVSWITCH)
                        return 0;
                return sim_booted(st, now_usec(CLOCK_REALTIME)) ? NV_FSP_BOOT_COMPLETE_DONE : 0;
        case NV_LS10_FSP_BOOT_COMPLETE:
                if (st->arch != GPU_ARCH_LS10_NVSWITCH)
                        return 0;
                return sim_booted(st, now_usec(CLOCK_REALTIME)) ? NV_FSP_BOOT_COMPLETE_DONE : 0;
        case NV_HOPPER_CC_STATUS:
                if (st->arch != GPU_ARCH_HOPPER)
                        return 0;
                return sim_cc_mode(st) | (sim_ppcie(st) ? NV_HOPPER_CC_STATUS_PPCIE : 0);
        case NV_BLACKWELL_CC_STATUS:
                return 0; /* Blackwell's is served by gpusim-chip.c */
        case NV_LS10_PPCIE_STATUS:
                if (st->arch != GPU_ARCH_LS10_NVSWITCH)
                        return 0;
                return sim_ppcie(st) ? 1 : 0;
        case NV_SCRATCH_RESET_MARKER:
                return st->reset_marker;
        case NV_HOPPER_SCRATCH_SBR_MARKER:
                return st->sbr_marker;
        case NV_FSP_EMEM_CTRL:
                return s->emem_ctrl;
        case NV_FSP_EMEM_DATA:
                return emem_read(s);
        case NV_FSP_CMD_QUEUE_HEAD:
                sim_fsp_step(s);
                return s->cmd_head;
        case NV_FSP_CMD_QUEUE_TAIL:
                sim_fsp_step(s);
                return s->cmd_tail;
        case NV_FSP_MSG_QUEUE_HEAD:
                sim_fsp_step(s);
                return s->msg_head;
        case NV_FSP_MSG_QUEUE_TAIL:
                sim_fsp_step(s);
                return s->msg_tail;
        default:
                return 0;
        }
}

static void sim_write32(void *impl, uint32_t offset, uint32_t value) {
        GpuSim *s = impl;
        uint64_t now;

        sim_reload(s);
        if (s->st.off_bus)
                return;
        now = now_usec(CLOCK_REALTIME);
        if (sim_firewall_up(&s->st, now) ||
            sim_mnoc_write(&s->mnoc, &s->st, now, offset, value, sim_fsp_serve_mnoc, s))
                return;

        switch (offset) {
        case NV_SCRATCH_RESET_MARKER:
        case NV_HOPPER_SCRATCH_SBR_MARKER:
                (void) sim_update(s, change_scratch, offset, value);
                break;
        case NV_FSP_EMEM_CTRL:
                s->emem_ctrl = value;
                break;
        case NV_FSP_EMEM_DATA:
                emem_write(s, value);
                break;
        case NV_FSP_CMD_QUEUE_HEAD:
                s->cmd_head = value;
                break;
        case NV_FSP_CMD_QUEUE_TAIL:
                /* The tail write is the doorbell. */
                s->cmd_tail = value;
                s->cmd_doorbell = s->cmd_head != s->cmd_tail;
                sim_fsp_step(s);
                break;
        case NV_FSP_MSG_QUEUE_HEAD:
                s->msg_head = value;
                break;
        case NV_FSP_MSG_QUEUE_TAIL:
                s->msg_tail = value;
                break;
        default:
                break;
        }
}

static void sim_close(void *impl) {
        GpuSim *s = impl;

        if (!s)
                return;
        free(s->path);
        free(s);
}

static const Bar0Ops gpusim_ops = {
        .read32 = sim_read32,
        .write32 = sim_write32,
        .close = sim_close,
};

int gpusim_open(const char *state_path, GpuArch arch, Bar0 **ret) {
        _cleanup_free_ GpuSim *s = NULL;
        Bar0 *b;
        int r;

        assert(state_path);
        assert(ret);

        if (access(state_path, F_OK) < 0) {
                if (errno != ENOENT)
                        return -errno;
                r = gpusim_create(state_path, arch, SIM_DEFAULT_BOOT_MS, DEVICE_CC_OFF);
                if (r < 0)
                        return r;
        }

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->fallback_arch = arch;
        sim_forget_fsp(s);
        r = sim_state_load(state_path, arch, &s->st);
        if (r < 0)
                return r;
        s->path = strdup(state_path);
        if (!s->path)
                return -ENOMEM;

        b = malloc(sizeof(*b));
        if (!b) {
                free(s->path);
                return -ENOMEM;
        }
        b->ops = &gpusim_ops;
        b->impl = TAKE_PTR(s);
        *ret = b;
        return 0;
}
