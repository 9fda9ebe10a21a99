/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <dlfcn.h>

#include "nvml.h"

/* The part of nvml.h this file uses, declared here so that the build needs
 * no CUDA headers.  Values and layouts as NVML documents them (r535+). */
typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;

#define NVML_SUCCESS 0
#define NVML_ERROR_NOT_FOUND 6

typedef struct {
        unsigned int environment;
        unsigned int ccFeature;
        unsigned int devToolsMode;
} nvmlConfComputeSystemState_t;

typedef struct {
        unsigned int cpuCaps;
        unsigned int gpusCaps;
} nvmlConfComputeSystemCaps_t;

/* The caller states the layout it has: later drivers grow the struct, and
 * a v1 reader must say v1 (sizeof | 1 << 24, 0x1000014). */
typedef struct {
        unsigned int version;
        unsigned int environment;
        unsigned int ccFeature;
        unsigned int devToolsMode;
        unsigned int multiGpuMode;
} nvmlSystemConfComputeSettings_v1_t;
#define NVML_SYSTEM_CONF_COMPUTE_SETTINGS_V1 ((unsigned int) (sizeof(nvmlSystemConfComputeSettings_v1_t) | 1u << 24))

typedef struct NvmlSymbols {
        nvmlReturn_t (*init)(void);
        nvmlReturn_t (*shutdown)(void);
        const char *(*error_string)(nvmlReturn_t);
        nvmlReturn_t (*handle_by_bus_id)(const char *, nvmlDevice_t *);
        nvmlReturn_t (*cc_state)(nvmlConfComputeSystemState_t *);
        /* Optional: later than the rest. */
        nvmlReturn_t (*cc_caps)(nvmlConfComputeSystemCaps_t *);
        nvmlReturn_t (*cc_settings)(nvmlSystemConfComputeSettings_v1_t *);
} NvmlSymbols;

struct HwNvml {
        char *library;
        NvmlSymbols sym;
};

static const char *library_for(HwHost *h) {
        if (streq(hw_host_root(h), "/"))
                return "libnvidia-ml.so.1";
        return getenv("NVIDIA_CCD_NVML_LIBRARY");
}

static const char *nvml_strerror(const HwNvml *n, nvmlReturn_t rc) {
        const char *s = n->sym.error_string ? n->sym.error_string(rc) : NULL;
        return s ? s : "unknown error";
}

int hw_nvml_open(HwHost *h, HwNvml **ret, CcError *err) {
        _cleanup_free_ HwNvml *n = NULL;
        const char *library;
        nvmlReturn_t rc;
        void *dl;

        assert(h);
        assert(ret);

        library = library_for(h);
        if (!library || !*library)
                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, ENOENT,
                                    "no NVML library for host root %s", hw_host_root(h));

        /* Never closed: a library that started threads must not be unmapped
         * under them, and a later scan opens it again for free. */
        dl = dlopen(library, RTLD_NOW | RTLD_LOCAL);
        if (!dl)
                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, ENOENT, "cannot load %s: %s", library, dlerror());

        n = calloc(1, sizeof(HwNvml));
        if (!n)
                return -ENOMEM;
        n->sym = (NvmlSymbols) {
                .init = (nvmlReturn_t (*)(void)) dlsym(dl, "nvmlInit_v2"),
                .shutdown = (nvmlReturn_t (*)(void)) dlsym(dl, "nvmlShutdown"),
                .error_string = (const char *(*)(nvmlReturn_t)) dlsym(dl, "nvmlErrorString"),
                .handle_by_bus_id = (nvmlReturn_t (*)(const char *, nvmlDevice_t *)) dlsym(dl, "nvmlDeviceGetHandleByPciBusId_v2"),
                .cc_state = (nvmlReturn_t (*)(nvmlConfComputeSystemState_t *)) dlsym(dl, "nvmlSystemGetConfComputeState"),
                .cc_caps = (nvmlReturn_t (*)(nvmlConfComputeSystemCaps_t *)) dlsym(dl, "nvmlSystemGetConfComputeCapabilities"),
                .cc_settings = (nvmlReturn_t (*)(nvmlSystemConfComputeSettings_v1_t *)) dlsym(dl, "nvmlSystemGetConfComputeSettings"),
        };
        if (!n->sym.init || !n->sym.shutdown || !n->sym.handle_by_bus_id || !n->sym.cc_state)
                return cc_error_set(err, CC_ERROR_NOT_CAPABLE, EOPNOTSUPP,
                                    "%s has no confidential-computing calls (a driver before r535)", library);

        n->library = strdup(library);
        if (!n->library)
                return -ENOMEM;

        rc = n->sym.init();
        if (rc != NVML_SUCCESS) {
                cc_error_set(err, CC_ERROR_HOST_NOT_READY, EIO, "nvmlInit_v2 failed: %s (%d)", nvml_strerror(n, rc), rc);
                free(n->library);
                return -EIO;
        }

        *ret = TAKE_PTR(n);
        return 0;
}

HwNvml *hw_nvml_close(HwNvml *n) {
        if (!n)
                return NULL;
        (void) n->sym.shutdown();
        free(n->library);
        free(n);
        return NULL;
}

const char *hw_nvml_library(const HwNvml *n) {
        assert(n);
        return n->library;
}

int hw_nvml_query(HwNvml *n, const char *bdf, HwNvmlCcState *ret, CcError *err) {
        nvmlConfComputeSystemState_t state = {};
        nvmlConfComputeSystemCaps_t caps = {};
        nvmlSystemConfComputeSettings_v1_t settings = { .version = NVML_SYSTEM_CONF_COMPUTE_SETTINGS_V1 };
        HwNvmlCcState s = {
                .ppcie = DEVICE_CC_UNKNOWN,
                .multi_gpu_mode = HW_NVML_NO_VALUE,
                .gpus_caps = HW_NVML_NO_VALUE,
        };
        nvmlDevice_t device;
        nvmlReturn_t rc;

        assert(n);
        assert(bdf);
        assert(ret);

        /* The CC state is the system's; a handle says that this GPU is one
         * of the GPUs the driver answers for. */
        rc = n->sym.handle_by_bus_id(bdf, &device);
        if (rc == NVML_ERROR_NOT_FOUND)
                return cc_error_set(err, CC_ERROR_NOT_FOUND, ENODEV, "NVML does not know %s", bdf);
        if (rc != NVML_SUCCESS)
                return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, EIO, "NVML cannot open %s: %s (%d)", bdf,
                                    nvml_strerror(n, rc), rc);

        rc = n->sym.cc_state(&state);
        if (rc != NVML_SUCCESS)
                return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, EIO, "nvmlSystemGetConfComputeState failed: %s (%d)",
                                    nvml_strerror(n, rc), rc);
        if (state.ccFeature > 1 || state.devToolsMode > 1)
                return cc_error_set(err, CC_ERROR_HARDWARE_FAILURE, EBADMSG,
                                    "NVML reports ccFeature %u, devToolsMode %u: values of no known meaning",
                                    state.ccFeature, state.devToolsMode);
        s.environment = state.environment;
        s.cc_feature = state.ccFeature;
        s.devtools_mode = state.devToolsMode;
        /* Devtools is CC with the debugging interfaces open: both knobs
         * set, as the DEVTOOLS state of the status register says. */
        s.cc = state.devToolsMode ? DEVICE_CC_DEVTOOLS : state.ccFeature ? DEVICE_CC_ON : DEVICE_CC_OFF;

        /* multiGpuMode: 0 none, 1 protected PCIe, 2 NVLink encryption
         * (Blackwell's multi-GPU mode, not PPCIe). */
        if (n->sym.cc_settings && n->sym.cc_settings(&settings) == NVML_SUCCESS) {
                s.multi_gpu_mode = settings.multiGpuMode;
                if (settings.multiGpuMode <= 2)
                        s.ppcie = settings.multiGpuMode == 1 ? DEVICE_CC_ON : DEVICE_CC_OFF;
        }
        if (n->sym.cc_caps && n->sym.cc_caps(&caps) == NVML_SUCCESS)
                s.gpus_caps = caps.gpusCaps;

        *ret = s;
        return 0;
}
