/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <glib.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <time.h>

#include "fileio.h"
#include "gpusim.h"
#include "nv-regs.h"
#include "time-util.h"

/* EMEM as the channel-2 client sees it: the channel's area starts at 0x800. */
#define SIM_EMEM_SIZE           0x1000u
#define SIM_N_KNOBS             256
#define SIM_REQUEST_MAX_DWORDS  8
#define SIM_DEFAULT_BOOT_MS     1500u
/* What the simulated FSP answers to a request it cannot parse. */
#define SIM_STATUS_BAD_REQUEST  0x1u

/* PMC_BOOT_0: architecture in bits 28:24, implementation 23:20, revision 7:0.
 * GH100 is architecture 0x18, GB100 0x1a. */
#define SIM_BOOT_0_HOPPER       0x180000a1u
#define SIM_BOOT_0_BLACKWELL    0x1a0000a1u
#define SIM_BOOT_0_LS10         0x000000a1u

typedef enum SimFspTimeout {
        SIM_FSP_TIMEOUT_NONE,
        SIM_FSP_TIMEOUT_QUEUE,    /* the command queue never drains */
        SIM_FSP_TIMEOUT_RESPONSE, /* commands are taken but never answered */
} SimFspTimeout;

typedef struct KnobSet {
        bool set[SIM_N_KNOBS];
        uint16_t value[SIM_N_KNOBS];
} KnobSet;

/* What the state file says. */
typedef struct SimState {
        GpuArch arch;
        unsigned boot_ms;
        unsigned fsp_latency_ms;
        uint64_t reset_at_us;
        KnobSet active;
        KnobSet pending; /* written since the last reset; overlays active */
        uint32_t reset_marker;
        uint32_t sbr_marker;
        unsigned slow_boot_ms;
        SimFspTimeout fsp_timeout;
        bool unknown_knob[SIM_N_KNOBS];
        bool stuck_invalid;
        bool off_bus;
        bool security_fault;
} SimState;

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
} GpuSim;

static const char *model_to_string(GpuArch a) {
        switch (a) {
        case GPU_ARCH_HOPPER:
                return "hopper";
        case GPU_ARCH_BLACKWELL:
                return "blackwell";
        case GPU_ARCH_LS10_NVSWITCH:
                return "ls10";
        default:
                return NULL;
        }
}

static int model_from_string(const char *s, GpuArch *ret) {
        if (streq(s, "hopper"))
                *ret = GPU_ARCH_HOPPER;
        else if (streq(s, "blackwell"))
                *ret = GPU_ARCH_BLACKWELL;
        else if (streq(s, "ls10"))
                *ret = GPU_ARCH_LS10_NVSWITCH;
        else
                return -EINVAL;
        return 0;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *ret) {
        char *end;
        unsigned long long v;

        while (g_ascii_isspace(*s))
                s++;
        if (*s == '-' || *s == '\0')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno != 0 || end == s)
                return -EINVAL;
        while (g_ascii_isspace(*end))
                end++;
        if (*end != '\0' || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* A missing key gives def; a malformed one is an error. */
static int kf_get_u64(GKeyFile *kf, const char *group, const char *key, uint64_t max, uint64_t def, uint64_t *ret) {
        g_autofree char *v = g_key_file_get_value(kf, group, key, NULL);

        if (!v || v[0] == '\0') {
                *ret = def;
                return 0;
        }
        return parse_u64(v, max, ret);
}

static int kf_get_unsigned(GKeyFile *kf, const char *group, const char *key, unsigned def, unsigned *ret) {
        uint64_t v;
        int r;

        r = kf_get_u64(kf, group, key, UINT_MAX, def, &v);
        if (r < 0)
                return r;
        *ret = (unsigned) v;
        return 0;
}

static int kf_get_bool(GKeyFile *kf, const char *group, const char *key, bool *ret) {
        g_autoptr(GError) error = NULL;
        gboolean b;

        if (!g_key_file_has_key(kf, group, key, NULL)) {
                *ret = false;
                return 0;
        }
        b = g_key_file_get_boolean(kf, group, key, &error);
        if (error)
                return -EINVAL;
        *ret = b;
        return 0;
}

/* "8:1;6:0" (also ',' or spaces between entries). */
static int knobs_parse(const char *s, KnobSet *ret) {
        g_auto(GStrv) items = NULL;

        memset(ret, 0, sizeof(*ret));
        if (!s)
                return 0;
        items = g_strsplit_set(s, ";, \t", -1);
        for (char **i = items; *i; i++) {
                char *colon;
                uint64_t id, value;

                if (**i == '\0')
                        continue;
                colon = strchr(*i, ':');
                if (!colon)
                        return -EINVAL;
                *colon = '\0';
                if (parse_u64(*i, SIM_N_KNOBS - 1, &id) < 0 || parse_u64(colon + 1, UINT16_MAX, &value) < 0)
                        return -EINVAL;
                ret->set[id] = true;
                ret->value[id] = (uint16_t) value;
        }
        return 0;
}

static char *knobs_format(const KnobSet *k) {
        GString *s = g_string_new(NULL);

        for (unsigned i = 0; i < SIM_N_KNOBS; i++) {
                if (!k->set[i])
                        continue;
                g_string_append_printf(s, "%s%u:%u", s->len > 0 ? ";" : "", i, k->value[i]);
        }
        return g_string_free(s, false);
}

static int unknown_knobs_parse(const char *s, bool ret[SIM_N_KNOBS]) {
        g_auto(GStrv) items = NULL;

        memset(ret, 0, sizeof(bool) * SIM_N_KNOBS);
        if (!s)
                return 0;
        items = g_strsplit_set(s, ";, \t", -1);
        for (char **i = items; *i; i++) {
                uint64_t id;

                if (**i == '\0')
                        continue;
                if (parse_u64(*i, SIM_N_KNOBS - 1, &id) < 0)
                        return -EINVAL;
                ret[id] = true;
        }
        return 0;
}

static int fsp_timeout_from_string(const char *s, SimFspTimeout *ret) {
        if (!s || s[0] == '\0' || streq(s, "none"))
                *ret = SIM_FSP_TIMEOUT_NONE;
        else if (streq(s, "queue"))
                *ret = SIM_FSP_TIMEOUT_QUEUE;
        else if (streq(s, "response"))
                *ret = SIM_FSP_TIMEOUT_RESPONSE;
        else
                return -EINVAL;
        return 0;
}

static int state_parse(GKeyFile *kf, GpuArch fallback_arch, SimState *st) {
        g_autofree char *model = NULL, *active = NULL, *pending = NULL, *timeout = NULL, *unknown = NULL;
        uint64_t v;
        int r;

        memset(st, 0, sizeof(*st));

        model = g_key_file_get_value(kf, "Device", "Model", NULL);
        if (model) {
                r = model_from_string(model, &st->arch);
                if (r < 0)
                        return r;
        } else if (model_to_string(fallback_arch))
                st->arch = fallback_arch;
        else
                return -EINVAL;

        r = kf_get_unsigned(kf, "Device", "BootMs", SIM_DEFAULT_BOOT_MS, &st->boot_ms);
        if (r < 0)
                return r;
        r = kf_get_unsigned(kf, "Device", "FspLatencyMs", 0, &st->fsp_latency_ms);
        if (r < 0)
                return r;

        r = kf_get_u64(kf, "State", "ResetAtUs", UINT64_MAX, 0, &st->reset_at_us);
        if (r < 0)
                return r;
        r = kf_get_u64(kf, "State", "ResetMarker", UINT32_MAX, 0, &v);
        if (r < 0)
                return r;
        st->reset_marker = (uint32_t) v;
        r = kf_get_u64(kf, "State", "SbrMarker", UINT32_MAX, 0, &v);
        if (r < 0)
                return r;
        st->sbr_marker = (uint32_t) v;

        active = g_key_file_get_value(kf, "Knobs", "Active", NULL);
        r = knobs_parse(active, &st->active);
        if (r < 0)
                return r;
        pending = g_key_file_get_value(kf, "Knobs", "Pending", NULL);
        r = knobs_parse(pending, &st->pending);
        if (r < 0)
                return r;

        r = kf_get_unsigned(kf, "Inject", "SlowBootMs", 0, &st->slow_boot_ms);
        if (r < 0)
                return r;
        timeout = g_key_file_get_value(kf, "Inject", "FspTimeout", NULL);
        r = fsp_timeout_from_string(timeout, &st->fsp_timeout);
        if (r < 0)
                return r;
        unknown = g_key_file_get_value(kf, "Inject", "UnknownKnob", NULL);
        r = unknown_knobs_parse(unknown, st->unknown_knob);
        if (r < 0)
                return r;
        r = kf_get_bool(kf, "Inject", "StuckInvalid", &st->stuck_invalid);
        if (r < 0)
                return r;
        r = kf_get_bool(kf, "Inject", "OffBus", &st->off_bus);
        if (r < 0)
                return r;
        return kf_get_bool(kf, "Inject", "SecurityFault", &st->security_fault);
}

/* Writes back what the simulation itself changes; the rest of the file
 * (configuration, injection, comments) is left as it is. */
static void state_store(GKeyFile *kf, const SimState *st) {
        g_autofree char *active = knobs_format(&st->active);
        g_autofree char *pending = knobs_format(&st->pending);
        char buf[32];

        snprintf(buf, sizeof(buf), "%" PRIu64, st->reset_at_us);
        g_key_file_set_value(kf, "State", "ResetAtUs", buf);
        snprintf(buf, sizeof(buf), "%" PRIu32, st->reset_marker);
        g_key_file_set_value(kf, "State", "ResetMarker", buf);
        snprintf(buf, sizeof(buf), "%" PRIu32, st->sbr_marker);
        g_key_file_set_value(kf, "State", "SbrMarker", buf);
        g_key_file_set_value(kf, "Knobs", "Active", active);
        g_key_file_set_value(kf, "Knobs", "Pending", pending);
}

static int kf_load(const char *path, GKeyFile **ret) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) error = NULL;

        if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_KEEP_COMMENTS, &error)) {
                if (g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        return -ENOENT;
                if (g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_ACCES))
                        return -EACCES;
                if (error->domain == G_KEY_FILE_ERROR)
                        return -EBADMSG;
                return -EIO;
        }
        *ret = g_steal_pointer(&kf);
        return 0;
}

static int kf_save(GKeyFile *kf, const char *path) {
        g_autofree char *data = NULL;
        gsize size;

        data = g_key_file_to_data(kf, &size, NULL);
        if (!data)
                return -ENOMEM;
        return write_file_atomic(path, data, size, 0644);
}

static int state_load(const char *path, GpuArch fallback_arch, GKeyFile **ret_kf, SimState *ret) {
        g_autoptr(GKeyFile) kf = NULL;
        int r;

        r = kf_load(path, &kf);
        if (r < 0)
                return r;
        r = state_parse(kf, fallback_arch, ret);
        if (r < 0)
                return r;
        if (ret_kf)
                *ret_kf = g_steal_pointer(&kf);
        return 0;
}

static uint16_t knob_get(const KnobSet *k, uint8_t knob) {
        return k->set[knob] ? k->value[knob] : 0;
}

/* The value the firmware keeps for the next reset. */
static uint16_t knob_persistent(const SimState *st, uint8_t knob) {
        return st->pending.set[knob] ? st->pending.value[knob] : knob_get(&st->active, knob);
}

static bool sim_booted(const SimState *st, uint64_t now) {
        uint64_t boot_us = ((uint64_t) st->boot_ms + st->slow_boot_ms) * 1000u;
        return now >= st->reset_at_us + boot_us;
}

static uint32_t sim_cc_mode(const SimState *st) {
        bool ccm = knob_get(&st->active, NV_KNOB_CCM) != 0;
        bool ccd = knob_get(&st->active, NV_KNOB_CCD) != 0;

        if (st->stuck_invalid)
                return NV_CC_STATUS_INVALID;
        if (!ccm)
                return ccd ? NV_CC_STATUS_INVALID : NV_CC_STATUS_OFF;
        return ccd ? NV_CC_STATUS_DEVTOOLS : NV_CC_STATUS_ON;
}

static bool sim_ppcie(const SimState *st) {
        return knob_get(&st->active, NV_KNOB_PPCIE) != 0;
}

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
}

/* Picks up what other processes (a reset, a test, a tool) changed.  An
 * unreadable file keeps the last state. */
static void sim_reload(GpuSim *s) {
        SimState st;

        if (state_load(s->path, s->fallback_arch, NULL, &st) < 0)
                return;
        if (st.reset_at_us != s->st.reset_at_us)
                sim_forget_fsp(s);
        s->st = st;
}

/* Read-modify-write of the state file for the simulation's own changes. */
static int sim_update(GpuSim *s, void (*change)(SimState *st, uint32_t a, uint32_t b), uint32_t a, uint32_t b) {
        g_autoptr(GKeyFile) kf = NULL;
        SimState st;
        int r;

        r = state_load(s->path, s->fallback_arch, &kf, &st);
        if (r < 0)
                return r;
        change(&st, a, b);
        state_store(kf, &st);
        r = kf_save(kf, s->path);
        if (r < 0)
                return r;
        s->st = st;
        return 0;
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
                resp[5] = knob_persistent(&s->st, knob);
                rn = 6;
        } else if (op == NV_PRC_OP_WRITE && n == 4) {
                if (sim_update(s, change_pending_knob, knob, req[3] & 0xffff) < 0)
                        status = SIM_STATUS_BAD_REQUEST;
        } else
                status = SIM_STATUS_BAD_REQUEST;

        resp[4] = status;
        return rn;
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
        uint32_t mode;

        sim_reload(s);
        if (st->off_bus)
                return NV_PMC_BOOT_0_OFF_BUS;

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
                if (st->arch != GPU_ARCH_BLACKWELL)
                        return 0;
                /* The BAR0 firewall is up in production CC mode only. */
                mode = sim_cc_mode(st);
                return mode | (mode == NV_CC_STATUS_ON ? NV_BLACKWELL_CC_STATUS_FIREWALL : 0);
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

        sim_reload(s);
        if (s->st.off_bus)
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

static void knobs_for_mode(GpuArch arch, DeviceCcMode mode, KnobSet *k) {
        memset(k, 0, sizeof(*k));
#define SET(id, v) do { k->set[id] = true; k->value[id] = (v); } while (0)
        SET(NV_KNOB_PPCIE, 0);
        if (arch == GPU_ARCH_LS10_NVSWITCH)
                return;
        switch (mode) {
        case DEVICE_CC_ON:
                SET(NV_KNOB_CCM, 1);
                SET(NV_KNOB_CCD, 0);
                break;
        case DEVICE_CC_DEVTOOLS:
                SET(NV_KNOB_CCM, 1);
                SET(NV_KNOB_CCD, 1);
                break;
        case DEVICE_CC_INVALID:
                /* What an interrupted switch leaves behind. */
                SET(NV_KNOB_CCM, 0);
                SET(NV_KNOB_CCD, 1);
                break;
        default:
                SET(NV_KNOB_CCM, 0);
                SET(NV_KNOB_CCD, 0);
                break;
        }
        if (arch == GPU_ARCH_HOPPER)
                SET(NV_KNOB_BAR0_DECOUPLER, mode == DEVICE_CC_ON ? 2 : 0);
#undef SET
}

int gpusim_create(const char *state_path, GpuArch arch, unsigned boot_ms, DeviceCcMode initial) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        const char *model = model_to_string(arch);
        SimState st = {};
        char buf[32];

        assert(state_path);

        if (!model)
                return -EINVAL;

        g_key_file_set_value(kf, "Device", "Model", model);
        snprintf(buf, sizeof(buf), "%u", boot_ms);
        g_key_file_set_value(kf, "Device", "BootMs", buf);
        g_key_file_set_value(kf, "Device", "FspLatencyMs", "0");

        /* Never reset since power-on: booted long ago. */
        st.reset_at_us = 0;
        knobs_for_mode(arch, initial, &st.active);
        state_store(kf, &st);

        g_key_file_set_value(kf, "Inject", "SlowBootMs", "0");
        g_key_file_set_value(kf, "Inject", "FspTimeout", "none");
        g_key_file_set_value(kf, "Inject", "UnknownKnob", "");
        g_key_file_set_value(kf, "Inject", "StuckInvalid", "false");
        g_key_file_set_value(kf, "Inject", "OffBus", "false");
        g_key_file_set_value(kf, "Inject", "SecurityFault", "false");

        return kf_save(kf, state_path);
}

int gpusim_get_arch(const char *state_path, GpuArch *ret) {
        g_autoptr(GKeyFile) kf = NULL;
        g_autofree char *model = NULL;
        int r;

        assert(state_path);
        assert(ret);

        r = kf_load(state_path, &kf);
        if (r < 0)
                return r;
        model = g_key_file_get_value(kf, "Device", "Model", NULL);
        if (!model)
                return -EINVAL;
        return model_from_string(model, ret);
}

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
        r = state_load(state_path, arch, NULL, &s->st);
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

int gpusim_reset(const char *state_path) {
        g_autoptr(GKeyFile) kf = NULL;
        SimState st;
        int r;

        assert(state_path);

        r = state_load(state_path, GPU_ARCH_OTHER, &kf, &st);
        if (r < 0)
                return r;

        for (unsigned i = 0; i < SIM_N_KNOBS; i++)
                if (st.pending.set[i]) {
                        st.active.set[i] = true;
                        st.active.value[i] = st.pending.value[i];
                }
        memset(&st.pending, 0, sizeof(st.pending));
        st.reset_at_us = now_usec(CLOCK_REALTIME);
        /* The kernel's reset of this device is an FLR: the 0x1458 scratch is
         * lost, the SBR marker survives. */
        st.reset_marker = 0;

        state_store(kf, &st);
        return kf_save(kf, state_path);
}

int gpusim_set(const char *state_path, const char *group, const char *key, const char *value) {
        g_autoptr(GKeyFile) kf = NULL;
        SimState st;
        int r;

        assert(state_path);
        assert(group);
        assert(key);
        assert(value);

        r = kf_load(state_path, &kf);
        if (r < 0)
                return r;
        g_key_file_set_value(kf, group, key, value);
        /* Refuse what the simulator could not read back. */
        r = state_parse(kf, GPU_ARCH_OTHER, &st);
        if (r < 0)
                return r;
        return kf_save(kf, state_path);
}
