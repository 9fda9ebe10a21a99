/* SPDX-License-Identifier: MIT */

/* A CUDA process that holds one GPU open, for tests/hw: it creates the
 * primary context of a device through the driver API (libcuda.so.1, loaded
 * with dlopen, so that nothing of CUDA is needed to build it), prints
 * "ready <PCI address>" and keeps the context until its standard input
 * closes.  It runs no kernel and changes nothing on the GPU.
 *
 *   hold-gpu [ORDINAL]      ORDINAL in CUDA's order (set CUDA_DEVICE_ORDER=PCI_BUS_ID)
 *
 * Exit status: 0 after stdin closed, 1 when CUDA failed (the reason on
 * stderr), 2 on bad usage. */

#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;

typedef struct Cuda {
        CUresult (*init)(unsigned);
        CUresult (*device_get)(CUdevice *, int);
        CUresult (*primary_ctx_retain)(CUcontext *, CUdevice);
        CUresult (*ctx_set_current)(CUcontext);
        CUresult (*device_get_pci_bus_id)(char *, int, CUdevice);
        CUresult (*get_error_string)(CUresult, const char **);
} Cuda;

static const char *cuda_error(const Cuda *c, CUresult r) {
        const char *s = NULL;

        if (c->get_error_string && c->get_error_string(r, &s) == 0 && s)
                return s;
        return "unknown error";
}

int main(int argc, char *argv[]) {
        char bus_id[32], buf[256];
        CUcontext ctx = NULL;
        CUdevice dev;
        CUresult r;
        Cuda c;
        void *dl;
        int ordinal = 0;

        if (argc > 2 || (argc == 2 && !isdigit((unsigned char) argv[1][0]))) {
                fprintf(stderr, "usage: %s [ORDINAL]\n", argv[0]);
                return 2;
        }
        if (argc == 2)
                ordinal = atoi(argv[1]);

        dl = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
        if (!dl) {
                fprintf(stderr, "hold-gpu: cannot load libcuda.so.1: %s\n", dlerror());
                return 1;
        }
        c = (Cuda) {
                .init = (CUresult (*)(unsigned)) dlsym(dl, "cuInit"),
                .device_get = (CUresult (*)(CUdevice *, int)) dlsym(dl, "cuDeviceGet"),
                .primary_ctx_retain = (CUresult (*)(CUcontext *, CUdevice)) dlsym(dl, "cuDevicePrimaryCtxRetain"),
                .ctx_set_current = (CUresult (*)(CUcontext)) dlsym(dl, "cuCtxSetCurrent"),
                .device_get_pci_bus_id = (CUresult (*)(char *, int, CUdevice)) dlsym(dl, "cuDeviceGetPCIBusId"),
                .get_error_string = (CUresult (*)(CUresult, const char **)) dlsym(dl, "cuGetErrorString"),
        };
        if (!c.init || !c.device_get || !c.primary_ctx_retain || !c.ctx_set_current || !c.device_get_pci_bus_id) {
                fprintf(stderr, "hold-gpu: libcuda.so.1 lacks the driver API calls\n");
                return 1;
        }

        if ((r = c.init(0)) != 0 || (r = c.device_get(&dev, ordinal)) != 0 ||
            (r = c.primary_ctx_retain(&ctx, dev)) != 0 || (r = c.ctx_set_current(ctx)) != 0 ||
            (r = c.device_get_pci_bus_id(bus_id, sizeof(bus_id), dev)) != 0) {
                fprintf(stderr, "hold-gpu: CUDA error %d: %s\n", r, cuda_error(&c, r));
                return 1;
        }
        /* sysfs writes addresses in lower case. */
        for (char *p = bus_id; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        printf("ready %s\n", bus_id);
        fflush(stdout);

        while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
                ;
        return 0;
}
