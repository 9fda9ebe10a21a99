/* SPDX-License-Identifier: MIT */

/* nvidia-ccd-nvml: asks NVML for the CC state on behalf of nvidia-ccd, in a
 * process of its own (see nvml.h for why).
 *
 *   nvidia-ccd-nvml LIBRARY BDF...
 *
 * Loads LIBRARY (libnvidia-ml.so.1), runs nvmlInit_v2, asks about each GPU,
 * runs nvmlShutdown and exits.  It reports on stdout, one line each:
 *
 *   session ok MS LIBRARY           nvmlInit_v2 took MS milliseconds
 *   session error ERRNO MESSAGE     no session: 2 no library, 95 no CC calls, 5 init failed
 *   gpu BDF ok ENV CCF DEV MULTI CAPS   the raw values; MULTI, CAPS "-" when not read
 *   gpu BDF error ERRNO MESSAGE     19: NVML does not know the GPU, 5: a call failed
 *
 * Exit status 0 when a session ran, 1 when none could start, 2 on bad usage. */

#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The part of nvml.h used here, declared so that the build needs no CUDA
 * headers.  Values and layouts as NVML documents them (r535+). */
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
#define SETTINGS_V1 ((unsigned int) (sizeof(nvmlSystemConfComputeSettings_v1_t) | 1u << 24))

typedef struct Nvml {
        nvmlReturn_t (*init)(void);
        nvmlReturn_t (*shutdown)(void);
        const char *(*error_string)(nvmlReturn_t);
        nvmlReturn_t (*handle_by_bus_id)(const char *, nvmlDevice_t *);
        nvmlReturn_t (*cc_state)(nvmlConfComputeSystemState_t *);
        /* Optional: later than the rest. */
        nvmlReturn_t (*cc_caps)(nvmlConfComputeSystemCaps_t *);
        nvmlReturn_t (*cc_settings)(nvmlSystemConfComputeSettings_v1_t *);
} Nvml;

static const char *nvml_strerror(const Nvml *n, nvmlReturn_t rc) {
        const char *s = n->error_string ? n->error_string(rc) : NULL;
        return s ? s : "unknown error";
}

static double now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1000.0 + (double) ts.tv_nsec / 1e6;
}

/* No newline may reach the report from a message. */
static const char *one_line(const char *s) {
        static char buf[256];
        size_t i;

        for (i = 0; s[i] && i < sizeof(buf) - 1; i++)
                buf[i] = (s[i] == '\n' || s[i] == '\r') ? ' ' : s[i];
        buf[i] = '\0';
        return buf;
}

static void query(const Nvml *n, const char *bdf) {
        nvmlConfComputeSystemState_t state = {};
        nvmlConfComputeSystemCaps_t caps = {};
        nvmlSystemConfComputeSettings_v1_t settings = { .version = SETTINGS_V1 };
        char multi[16] = "-", gpus_caps[16] = "-";
        nvmlDevice_t device;
        nvmlReturn_t rc;

        /* The CC state is the system's; a handle says that this GPU is one
         * of the GPUs the driver answers for. */
        rc = n->handle_by_bus_id(bdf, &device);
        if (rc == NVML_ERROR_NOT_FOUND) {
                printf("gpu %s error %d NVML does not know %s\n", bdf, ENODEV, bdf);
                return;
        }
        if (rc != NVML_SUCCESS) {
                printf("gpu %s error %d NVML cannot open %s: %s (%d)\n", bdf, EIO, bdf,
                       one_line(nvml_strerror(n, rc)), rc);
                return;
        }
        rc = n->cc_state(&state);
        if (rc != NVML_SUCCESS) {
                printf("gpu %s error %d nvmlSystemGetConfComputeState failed: %s (%d)\n", bdf, EIO,
                       one_line(nvml_strerror(n, rc)), rc);
                return;
        }
        if (n->cc_settings && n->cc_settings(&settings) == NVML_SUCCESS)
                snprintf(multi, sizeof(multi), "%u", settings.multiGpuMode);
        if (n->cc_caps && n->cc_caps(&caps) == NVML_SUCCESS)
                snprintf(gpus_caps, sizeof(gpus_caps), "%u", caps.gpusCaps);
        printf("gpu %s ok %u %u %u %s %s\n", bdf, state.environment, state.ccFeature, state.devToolsMode, multi,
               gpus_caps);
}

int main(int argc, char *argv[]) {
        const char *library;
        nvmlReturn_t rc;
        double start;
        void *dl;
        Nvml n;

        if (argc < 2) {
                fprintf(stderr, "usage: %s LIBRARY BDF...\n", argv[0]);
                return 2;
        }
        library = argv[1];

        dl = dlopen(library, RTLD_NOW | RTLD_LOCAL);
        if (!dl) {
                printf("session error %d cannot load %s: %s\n", ENOENT, library, one_line(dlerror()));
                return 1;
        }
        n = (Nvml) {
                .init = (nvmlReturn_t (*)(void)) dlsym(dl, "nvmlInit_v2"),
                .shutdown = (nvmlReturn_t (*)(void)) dlsym(dl, "nvmlShutdown"),
                .error_string = (const char *(*)(nvmlReturn_t)) dlsym(dl, "nvmlErrorString"),
                .handle_by_bus_id = (nvmlReturn_t (*)(const char *, nvmlDevice_t *)) dlsym(dl, "nvmlDeviceGetHandleByPciBusId_v2"),
                .cc_state = (nvmlReturn_t (*)(nvmlConfComputeSystemState_t *)) dlsym(dl, "nvmlSystemGetConfComputeState"),
                .cc_caps = (nvmlReturn_t (*)(nvmlConfComputeSystemCaps_t *)) dlsym(dl, "nvmlSystemGetConfComputeCapabilities"),
                .cc_settings = (nvmlReturn_t (*)(nvmlSystemConfComputeSettings_v1_t *)) dlsym(dl, "nvmlSystemGetConfComputeSettings"),
        };
        if (!n.init || !n.shutdown || !n.handle_by_bus_id || !n.cc_state) {
                printf("session error %d %s has no confidential-computing calls (a driver before r535)\n", EOPNOTSUPP,
                       library);
                return 1;
        }

        start = now_ms();
        rc = n.init();
        if (rc != NVML_SUCCESS) {
                printf("session error %d nvmlInit_v2 failed: %s (%d)\n", EIO, one_line(nvml_strerror(&n, rc)), rc);
                return 1;
        }
        printf("session ok %.1f %s\n", now_ms() - start, library);

        for (int i = 2; i < argc; i++)
                query(&n, argv[i]);

        (void) n.shutdown();
        return fflush(stdout) == 0 ? 0 : 1;
}
