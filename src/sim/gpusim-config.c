/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <time.h>

#include "cc-ready.h"
#include "gpusim-chip.h"
#include "gpusim-config.h"
#include "gpusim-state.h"
#include "time-util.h"

typedef struct SimConfig {
        PciConfig *file;
        char *state_path;
        GpuArch fallback_arch;
        bool have_regs;
        CcConfigRegs regs;
} SimConfig;

static int sim_config_read32(void *impl, uint32_t offset, uint32_t *ret) {
        SimConfig *c = impl;
        SimState st;
        uint32_t v;
        int r;

        r = pci_config_read32(c->file, offset, &v);
        if (r < 0)
                return r;
        /* Without a state file the device is just its config file. */
        if (sim_state_load(c->state_path, c->fallback_arch, &st) < 0) {
                *ret = v;
                return 0;
        }
        if (st.off_bus) {
                *ret = UINT32_MAX;
                return 0;
        }
        if (c->have_regs && offset == c->regs.firewall) {
                if (sim_firewall_up(&st, now_usec(CLOCK_REALTIME)))
                        v |= c->regs.firewall_bit;
                else
                        v &= ~c->regs.firewall_bit;
        }
        if (c->have_regs && offset == c->regs.sec_fault)
                v = st.security_fault ? 0x1 : 0x0;
        *ret = v;
        return 0;
}

static void sim_config_close(void *impl) {
        SimConfig *c = impl;

        if (!c)
                return;
        pci_config_close(c->file);
        free(c->state_path);
        free(c);
}

static const PciConfigOps sim_config_ops = {
        .read32 = sim_config_read32,
        .close = sim_config_close,
};

int gpusim_config_open(const char *state_path, const char *config_path, PciConfig **ret) {
        _cleanup_(pci_config_closep) PciConfig *file = NULL;
        SimConfig *c;
        PciConfig *p;
        SimState st;
        int r;

        assert(state_path);
        assert(config_path);
        assert(ret);

        r = pci_config_open_file(config_path, &file);
        if (r < 0)
                return r;

        c = calloc(1, sizeof(*c));
        p = malloc(sizeof(*p));
        if (!c || !p || !(c->state_path = strdup(state_path))) {
                if (c)
                        free(c->state_path);
                free(c);
                free(p);
                return -ENOMEM;
        }
        c->fallback_arch = GPU_ARCH_OTHER;
        /* Where the live bits are: the capability the chip's code will look
         * for, found the same way in the static file. */
        if (sim_state_load(state_path, GPU_ARCH_OTHER, &st) >= 0)
                c->have_regs = cc_config_regs(file, st.chip, &c->regs) >= 0;
        c->file = TAKE_PTR(file);
        p->ops = &sim_config_ops;
        p->impl = c;
        *ret = p;
        return 0;
}
