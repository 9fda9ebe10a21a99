/* SPDX-License-Identifier: MIT */
#pragma once

/* The CC mode as the nvidia driver reports it through NVML, for GPUs bound
 * to nvidia: mapping BAR0 under a bound driver goes behind its back, and an
 * unprivileged reader cannot map BAR0 at all, while NVML answers anyone
 * who can open /dev/nvidia*.
 *
 * NVML runs in a helper process, nvidia-ccd-nvml (libexecdir), never in the
 * daemon.  On a real H200 (driver 580.159.04) libnvidia-ml left a thread
 * ("cuda00001800007") in the process after nvmlShutdown, and with NVML
 * loaded in the daemon SIGTERM killed it instead of reaching the event
 * loop's signalfd; and while initialised, NVML holds /dev/nvidia<minor>
 * open, which would make the daemon a holder of every GPU.  The helper
 * loads libnvidia-ml.so.1, asks, shuts NVML down and exits; a host without
 * the library just gets no answer.
 *
 * On a host root other than / (a fake tree) the real library would describe
 * the real host: there the library is the one $NVIDIA_CCD_NVML_LIBRARY names
 * (a test's stand-in), else none.  $NVIDIA_CCD_NVML_HELPER names another
 * helper (an uninstalled build), as $NVIDIA_CCD_FETCH does for the fetch
 * helper. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cc-error.h"
#include "cc-hw.h"
#include "hw-host.h"

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

/* The answer for one GPU: error 0 and the state, or a negative errno and
 * why: -ENODEV when NVML has no such GPU (not bound to nvidia, or a driver
 * that cannot open it, as with CC on: NVIDIA's nvtrust issues 30 and 61),
 * -EIO when a call failed, -EBADMSG for a value NVML documents no meaning for. */
typedef struct HwNvmlAnswer {
        char bdf[16];
        int error;
        char message[256];
        HwNvmlCcState state;
} HwNvmlAnswer;

/* How long the helper may take (nvmlInit_v2 wakes GPUs that have no
 * persistence daemon, seconds each) before it is killed. */
#define HW_NVML_TIMEOUT_MS 30000u

/* Asks NVML about the n GPUs in bdfs, in one helper run; *ret gets n
 * answers in the same order (free()).  *ret_init_ms (optional) how long
 * nvmlInit_v2 took.  Fails, with err saying why, when no session ran:
 * -ENOENT no library for this host (none installed, a fake root without
 * $NVIDIA_CCD_NVML_LIBRARY, no helper), -EOPNOTSUPP the library lacks the
 * CC calls (a driver before r535), -EIO nvmlInit_v2 failed or the helper
 * broke, -ETIMEDOUT the helper took longer than HW_NVML_TIMEOUT_MS. */
int hw_nvml_query(HwHost *h, char *const *bdfs, size_t n, HwNvmlAnswer **ret, double *ret_init_ms, CcError *err);

/* The library hw_nvml_query() loads on this host, NULL when none. */
const char *hw_nvml_library(HwHost *h);
