/* SPDX-License-Identifier: MIT */

/* A stand-in for libnvidia-ml.so.1 with the calls nvidia-ccd makes, for the
 * unit and service tests: the daemon hands its path, from
 * $NVIDIA_CCD_NVML_LIBRARY on a fake root, to the helper nvidia-ccd-nvml,
 * which loads it.  As strict as the real library where the daemon could go
 * wrong: every query before nvmlInit_v2 or after
 * the last nvmlShutdown is NVML_ERROR_UNINITIALIZED, the settings struct
 * must carry its v1 version, and init/shutdown nest by count.
 *
 * What it answers comes from the file $FAKE_NVML_STATE, read at each
 * nvmlInit_v2, "key=value" lines:
 *
 *   init=0                 nvmlInit_v2's return (9: driver not loaded)
 *   devices=0000:18:00.0,0000:2a:00.0   GPUs with a handle
 *   environment=0  cc_feature=0  devtools=0  gpus_caps=1
 *   multi_gpu=0            absent: the settings call is NOT_SUPPORTED
 *   state=0                the state call's return
 *   log=/path              each call appended as a line ("init",
 *                          "shutdown", "handle 0000:18:00.0", "state", ...)
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;

#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_DRIVER_NOT_LOADED 9
#define NVML_ERROR_ARGUMENT_VERSION_MISMATCH 25
#define NVML_ERROR_UNKNOWN 999

typedef struct {
        unsigned int environment, ccFeature, devToolsMode;
} nvmlConfComputeSystemState_t;

typedef struct {
        unsigned int cpuCaps, gpusCaps;
} nvmlConfComputeSystemCaps_t;

typedef struct {
        unsigned int version, environment, ccFeature, devToolsMode, multiGpuMode;
} nvmlSystemConfComputeSettings_v1_t;

#define MAX_DEVICES 16

static struct {
        int init_rc, state_rc;
        unsigned environment, cc_feature, devtools, gpus_caps, multi_gpu;
        bool has_multi_gpu;
        unsigned devices[MAX_DEVICES][4]; /* domain, bus, device, function */
        size_t n_devices;
        char log[4096];
} fake;

static int init_count;

static void log_call(const char *fmt, ...) {
        va_list ap;
        FILE *f;

        if (!fake.log[0] || !(f = fopen(fake.log, "ae")))
                return;
        va_start(ap, fmt);
        vfprintf(f, fmt, ap);
        va_end(ap);
        fputc('\n', f);
        fclose(f);
}

static bool parse_bus_id(const char *s, unsigned out[4]) {
        int k = 0;

        /* NVML takes "%x:%x:%x.%x"; nvidia-ccd passes sysfs' "0000:18:00.0". */
        return s && sscanf(s, "%x:%x:%x.%x%n", &out[0], &out[1], &out[2], &out[3], &k) == 4 && s[k] == '\0';
}

static void load_state(void) {
        const char *path = getenv("FAKE_NVML_STATE");
        char line[4096];
        FILE *f;

        memset(&fake, 0, sizeof(fake));
        fake.gpus_caps = 1;
        if (!path || !(f = fopen(path, "re")))
                return;
        while (fgets(line, sizeof(line), f)) {
                char *value = strchr(line, '=');

                line[strcspn(line, "\n")] = '\0';
                if (!value)
                        continue;
                *value++ = '\0';
                if (!strcmp(line, "init"))
                        fake.init_rc = atoi(value);
                else if (!strcmp(line, "state"))
                        fake.state_rc = atoi(value);
                else if (!strcmp(line, "environment"))
                        fake.environment = (unsigned) atoi(value);
                else if (!strcmp(line, "cc_feature"))
                        fake.cc_feature = (unsigned) atoi(value);
                else if (!strcmp(line, "devtools"))
                        fake.devtools = (unsigned) atoi(value);
                else if (!strcmp(line, "gpus_caps"))
                        fake.gpus_caps = (unsigned) atoi(value);
                else if (!strcmp(line, "multi_gpu")) {
                        fake.multi_gpu = (unsigned) atoi(value);
                        fake.has_multi_gpu = true;
                } else if (!strcmp(line, "log"))
                        snprintf(fake.log, sizeof(fake.log), "%s", value);
                else if (!strcmp(line, "devices"))
                        for (char *tok = strtok(value, ","); tok && fake.n_devices < MAX_DEVICES; tok = strtok(NULL, ","))
                                if (parse_bus_id(tok, fake.devices[fake.n_devices]))
                                        fake.n_devices++;
        }
        fclose(f);
}

nvmlReturn_t nvmlInit_v2(void);
nvmlReturn_t nvmlShutdown(void);
const char *nvmlErrorString(nvmlReturn_t result);
nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *bus_id, nvmlDevice_t *device);
nvmlReturn_t nvmlSystemGetConfComputeState(nvmlConfComputeSystemState_t *state);
nvmlReturn_t nvmlSystemGetConfComputeCapabilities(nvmlConfComputeSystemCaps_t *caps);
nvmlReturn_t nvmlSystemGetConfComputeSettings(nvmlSystemConfComputeSettings_v1_t *settings);

nvmlReturn_t nvmlInit_v2(void) {
        load_state();
        log_call("init");
        if (fake.init_rc != NVML_SUCCESS)
                return fake.init_rc;
        init_count++;
        return NVML_SUCCESS;
}

nvmlReturn_t nvmlShutdown(void) {
        log_call("shutdown");
        if (init_count == 0)
                return NVML_ERROR_UNINITIALIZED;
        init_count--;
        return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t result) {
        switch (result) {
        case NVML_SUCCESS:
                return "Success";
        case NVML_ERROR_UNINITIALIZED:
                return "Uninitialized";
        case NVML_ERROR_INVALID_ARGUMENT:
                return "Invalid Argument";
        case NVML_ERROR_NOT_SUPPORTED:
                return "Not Supported";
        case NVML_ERROR_NOT_FOUND:
                return "Not Found";
        case NVML_ERROR_DRIVER_NOT_LOADED:
                return "Driver Not Loaded";
        case NVML_ERROR_ARGUMENT_VERSION_MISMATCH:
                return "Argument Version Mismatch";
        default:
                return "Unknown Error";
        }
}

nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *bus_id, nvmlDevice_t *device) {
        unsigned id[4];

        log_call("handle %s", bus_id ? bus_id : "(null)");
        if (init_count == 0)
                return NVML_ERROR_UNINITIALIZED;
        if (!device || !parse_bus_id(bus_id, id))
                return NVML_ERROR_INVALID_ARGUMENT;
        for (size_t i = 0; i < fake.n_devices; i++)
                if (!memcmp(fake.devices[i], id, sizeof(id))) {
                        *device = (nvmlDevice_t) (fake.devices + i);
                        return NVML_SUCCESS;
                }
        return NVML_ERROR_NOT_FOUND;
}

nvmlReturn_t nvmlSystemGetConfComputeState(nvmlConfComputeSystemState_t *state) {
        log_call("state");
        if (init_count == 0)
                return NVML_ERROR_UNINITIALIZED;
        if (!state)
                return NVML_ERROR_INVALID_ARGUMENT;
        if (fake.state_rc != NVML_SUCCESS)
                return fake.state_rc;
        *state = (nvmlConfComputeSystemState_t) { fake.environment, fake.cc_feature, fake.devtools };
        return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetConfComputeCapabilities(nvmlConfComputeSystemCaps_t *caps) {
        log_call("caps");
        if (init_count == 0)
                return NVML_ERROR_UNINITIALIZED;
        if (!caps)
                return NVML_ERROR_INVALID_ARGUMENT;
        *caps = (nvmlConfComputeSystemCaps_t) { 0, fake.gpus_caps };
        return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetConfComputeSettings(nvmlSystemConfComputeSettings_v1_t *settings) {
        log_call("settings");
        if (init_count == 0)
                return NVML_ERROR_UNINITIALIZED;
        if (!settings)
                return NVML_ERROR_INVALID_ARGUMENT;
        if (settings->version != (unsigned) (sizeof(*settings) | 1u << 24))
                return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
        if (!fake.has_multi_gpu)
                return NVML_ERROR_NOT_SUPPORTED;
        settings->environment = fake.environment;
        settings->ccFeature = fake.cc_feature;
        settings->devToolsMode = fake.devtools;
        settings->multiGpuMode = fake.multi_gpu;
        return NVML_SUCCESS;
}
