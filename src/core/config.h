/* SPDX-License-Identifier: MIT */
#pragma once

/* /etc/nvidia-ccd/nvidia-ccd.conf (GKeyFile):
 *   [Mode]    Default=on|off|devtools|ppcie      (absent: leave the GPUs alone)
 *   [Devices] CcCapableDeviceIds=0x2330,0x2331   (absent: the built-in table of cc-sku.c; set:
 *             exactly these ids are CC-capable, narrowing or extending them)
 *             ExtraDevices=1234:11e8,...         (vendor:device pairs handled as GPUs)
 *             SysfsWriteTimeoutSec=60            (how long a sysfs write may block; 1..3600)
 *   [Vfio]    BindNvSwitches=false
 *             CdiKind=per-model                 (the kind of the GPUs' CDI spec: the
 *                                                 device plugin's resource name, or
 *                                                 per-model, the default, for one per
 *                                                 GPU model plus nvidia.com/pgpu named
 *                                                 by index)
 *   [Kata]    ArtifactsDir=/opt/nvidia-gpu-operator/artifacts/runtimeclasses
 *             ContainerdConfig=/etc/containerd/config.toml
 *             MaxArtifactBytes=8G                (total of an artifact's layers;
 *                                                 absent: the registry client's default)
 *             PullTimeout=30min                  (a pull that takes longer is stopped;
 *                                                 s, min or h; 0: no deadline)
 *             AllowedHostPaths=/opt/kata,...     (what a Kata configuration may name on
 *                                                 the host; absent: Kata's own locations)
 *             AllowedExtraArgs=--thread-pool-size=*,...  (fnmatch patterns of the
 *                                                 arguments it may give; absent: Kata's own)
 * A missing file gives the defaults; a bad value is an error naming the key.
 * An empty value means the key's default; unknown groups and keys are logged
 * and skipped (a newer file must not stop an older daemon). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "build-config.h"
#include "cc-error.h"
#include "cc-hw.h"

/* SYSCONFDIR/nvidia-ccd/nvidia-ccd.conf: the build's sysconfdir. */
#define CC_CONFIG_DEFAULT_PATH CC_SYSCONFDIR "/nvidia-ccd/nvidia-ccd.conf"
/* 4 GiB, the default limit of an artifact, at 2.5 MB/s. */
#define CC_CONFIG_DEFAULT_PULL_TIMEOUT_USEC (30ULL * 60 * 1000000)
#define CC_CDI_KIND_PER_MODEL "per-model"

typedef struct CcPciId {
        uint16_t vendor_id;
        uint16_t device_id;
} CcPciId;

typedef struct CcConfig {
        TargetMode default_mode; /* TARGET_MODE_INVALID when not set */
        bool cc_capable_ids_set;
        uint16_t *cc_capable_ids;
        size_t n_cc_capable_ids;
        CcPciId *extra_devices;
        size_t n_extra_devices;
        unsigned sysfs_write_timeout_sec;
        bool bind_nvswitches;
        char *cdi_kind;                /* NULL: one kind per GPU model */
        char *artifacts_dir;
        char *containerd_config;
        uint64_t max_artifact_bytes;   /* 0: the registry client's default */
        uint64_t pull_timeout_usec;    /* 0: none */
        char **allowed_host_paths;     /* NULL: the defaults of kata-host-paths.h */
        char **allowed_extra_args;     /* NULL: the defaults of kata-host-paths.h */
} CcConfig;

void cc_config_init(CcConfig *c); /* defaults */
void cc_config_done(CcConfig *c);

/* path NULL or missing file: defaults (a missing file is not an error when
 * must_exist is false).  c must have been set up by cc_config_init(); its
 * contents are replaced on success and left as they were on failure. */
int cc_config_load(CcConfig *c, const char *path, bool must_exist, CcError *err);
int cc_config_load_from_data(CcConfig *c, const char *data, CcError *err);
