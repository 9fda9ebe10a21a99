/* SPDX-License-Identifier: MIT */
#include "macro.h"
#include "workload-labels.h"

bool workload_is_valid(const char *workload) {
        return workload && (streq(workload, WORKLOAD_CONTAINER) || streq(workload, WORKLOAD_VM_PASSTHROUGH) ||
                            streq(workload, WORKLOAD_VM_VGPU));
}

const char *workload_desired(GHashTable *labels, const char *default_workload) {
        const char *v = labels ? g_hash_table_lookup(labels, WORKLOAD_LABEL) : NULL;

        return v && v[0] ? v : default_workload;
}

bool workload_vfio_manager_paused(const char *value) {
        return value && value[0] && !streq(value, "true");
}

bool workload_driver_is_vfio(const char *driver) {
        /* The validator's own list: a GPU on another variant driver fails it. */
        return streq_ptr(driver, "vfio-pci") || streq_ptr(driver, "nvgrace_gpu_vfio_pci");
}

const char *workload_cc_capable(bool gpu_capable, const char *host_tee) {
        /* The NFD rule it replaces: a capable GPU and a CPU TEE enabled. */
        return gpu_capable && (streq_ptr(host_tee, "tdx") || streq_ptr(host_tee, "sev-snp")) ? "true" : "false";
}
