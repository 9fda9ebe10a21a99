/* SPDX-License-Identifier: MIT */
#pragma once

/* The CC mode as the nvidia driver reports it through NVML, for GPUs bound
 * to nvidia: mapping BAR0 under a bound driver goes behind its back, and an
 * unprivileged reader cannot map BAR0 at all, while NVML answers anyone
 * who can open /dev/nvidia*.
 *
 * libnvidia-ml.so.1 is loaded with dlopen when a scan first needs it (a
 * host with no nvidia driver has none) and stays loaded, as systemd keeps
 * its optional libraries.  A session is nvmlInit_v2 .. nvmlShutdown: NVML
 * holds /dev/nvidia<minor> open while initialised, which would make the
 * daemon itself a holder of every GPU, so no session outlives one scan.
 *
 * On a host root other than / (a fake tree) the real library would describe
 * the real host: there the library is the one $NVIDIA_CCD_NVML_LIBRARY
 * names (a test's stand-in), else none. */

#include <stdbool.h>

#include "cc-error.h"
#include "cc-hw.h"
#include "hw-host.h"
#include "macro.h"

typedef struct HwNvml HwNvml;

/* What NVML said, decoded.  cc is DEVICE_CC_OFF, _ON or _DEVTOOLS; ppcie is
 * DEVICE_CC_ON/_OFF, or _UNKNOWN when the driver predates
 * nvmlSystemGetConfComputeSettings.  The raw values follow for the log;
 * HW_NVML_NO_VALUE where a call was missing or failed. */
#define HW_NVML_NO_VALUE UINT32_MAX
typedef struct HwNvmlCcState {
        DeviceCcMode cc;
        DeviceCcMode ppcie;
        uint32_t environment;    /* 0 unavailable, 1 simulated, 2 production */
        uint32_t cc_feature;     /* 0 disabled, 1 enabled */
        uint32_t devtools_mode;  /* 0 off, 1 on */
        uint32_t multi_gpu_mode; /* 0 none, 1 protected PCIe, 2 NVLink encryption */
        uint32_t gpus_caps;      /* 0 not capable, 1 capable */
} HwNvmlCcState;

/* Loads the library and starts a session.  -ENOENT: no library for this
 * host (none installed, or a fake root without $NVIDIA_CCD_NVML_LIBRARY);
 * -EOPNOTSUPP: the library lacks the CC calls (a driver before r535);
 * -EIO: nvmlInit_v2 failed.  err says which, naming NVML's error. */
int hw_nvml_open(HwHost *h, HwNvml **ret, CcError *err);

/* Ends the session (nvmlShutdown). */
HwNvml *hw_nvml_close(HwNvml *n);
DEFINE_TRIVIAL_CLEANUP_FUNC(HwNvml *, hw_nvml_close);

/* The library the session runs on ("libnvidia-ml.so.1" on a real host). */
const char *hw_nvml_library(const HwNvml *n);

/* The CC state of the GPU at bdf.  -ENODEV: NVML has no such GPU (not bound
 * to nvidia, or a driver that cannot open it, as with CC on: NVIDIA's
 * nvtrust issues 30 and 61); -EIO: a call failed; -EBADMSG: a value NVML
 * documents no meaning for. */
int hw_nvml_query(HwNvml *n, const char *bdf, HwNvmlCcState *ret, CcError *err);
