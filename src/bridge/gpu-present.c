/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "ccd-gpus.h"
#include "gpu-present.h"
#include "log.h"
#include "macro.h"

struct GpuPresent {
        CcdGpus *gpus;
        LabelWriter *labels;
        const char *written; /* "true", "false", NULL: nothing yet */
};

static void gpus_changed(CcdGpus *g, void *userdata) {
        GpuPresent *p = userdata;
        DpGpu **list;
        size_t n, n_gpus = 0;
        const char *value;

        if (!ccd_gpus_present(g))
                return;
        list = ccd_gpus_list(g, &n);
        for (size_t i = 0; i < n; i++)
                if (streq(list[i]->kind, "gpu"))
                        n_gpus++;
        value = n_gpus > 0 ? "true" : "false";
        if (streq_ptr(value, p->written))
                return;
        log_info("nvidia-ccd reports %zu GPU(s): %s=%s", n_gpus, LABEL_GPU_PRESENT, value);
        (void) label_writer_set(p->labels, LABEL_GPU_PRESENT, value);
        p->written = value;
}

int gpu_present_new(sd_bus *bus, LabelWriter *labels, GpuPresent **ret) {
        GpuPresent *p;
        int r;

        assert(bus);
        assert(labels);
        assert(ret);

        p = g_new0(GpuPresent, 1);
        p->labels = labels;
        r = ccd_gpus_new(bus, gpus_changed, p, &p->gpus);
        if (r < 0) {
                gpu_present_free(p);
                return r;
        }
        *ret = p;
        return 0;
}

int gpu_present_start(GpuPresent *p) {
        assert(p);
        return ccd_gpus_start(p->gpus);
}

GpuPresent *gpu_present_free(GpuPresent *p) {
        if (!p)
                return NULL;
        ccd_gpus_free(p->gpus);
        g_free(p);
        return NULL;
}
