/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <glib.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <time.h>

#include "fileio.h"
#include "gpusim-state.h"
#include "gpusim.h"
#include "nv-regs.h"
#include "time-util.h"

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
        r = kf_get_bool(kf, "Inject", "SecurityFault", &st->security_fault);
        if (r < 0)
                return r;
        return sim_state_parse_chip(kf, st);
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

int sim_state_load(const char *path, GpuArch fallback_arch, SimState *ret) {
        assert(path);
        assert(ret);

        return state_load(path, fallback_arch, NULL, ret);
}

static uint16_t knob_get(const KnobSet *k, uint8_t knob) {
        return k->set[knob] ? k->value[knob] : 0;
}

/* The value the firmware keeps for the next reset. */
uint16_t sim_state_knob_persistent(const SimState *st, uint8_t knob) {
        return st->pending.set[knob] ? st->pending.value[knob] : knob_get(&st->active, knob);
}

bool sim_booted(const SimState *st, uint64_t now) {
        uint64_t boot_us = ((uint64_t) st->boot_ms + st->slow_boot_ms) * 1000u;
        return now >= st->reset_at_us + boot_us;
}

uint32_t sim_cc_mode(const SimState *st) {
        bool ccm = knob_get(&st->active, NV_KNOB_CCM) != 0;
        bool ccd = knob_get(&st->active, NV_KNOB_CCD) != 0;

        if (st->stuck_invalid)
                return NV_CC_STATUS_INVALID;
        if (!ccm)
                return ccd ? NV_CC_STATUS_INVALID : NV_CC_STATUS_OFF;
        return ccd ? NV_CC_STATUS_DEVTOOLS : NV_CC_STATUS_ON;
}

bool sim_ppcie(const SimState *st) {
        return knob_get(&st->active, NV_KNOB_PPCIE) != 0;
}

/* Read-modify-write of the state file for the simulation's own changes. */
int sim_state_update(const char *path, GpuArch fallback_arch, SimStateChange change, uint32_t a, uint32_t b, SimState *ret) {
        g_autoptr(GKeyFile) kf = NULL;
        SimState st;
        int r;

        r = state_load(path, fallback_arch, &kf, &st);
        if (r < 0)
                return r;
        change(&st, a, b);
        state_store(kf, &st);
        r = kf_save(kf, path);
        if (r < 0)
                return r;
        *ret = st;
        return 0;
}

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
        /* On Blackwell knob 10 is the BAR0 firewall setting, on out of the box. */
        if (arch == GPU_ARCH_BLACKWELL)
                SET(NV_KNOB_BAR0_DECOUPLER, 2);
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

GpuArch gpusim_arch_of(uint16_t vendor, uint16_t device, uint32_t class_code) {
        return gpu_chip_arch(gpusim_chip_of(vendor, device, class_code));
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
