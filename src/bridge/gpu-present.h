/* SPDX-License-Identifier: MIT */
#pragma once

/* nvidia.com/gpu.present on the Node, as the GPU Operator has NFD set it:
 * "true" while nvidia-ccd reports a GPU (an object of Kind gpu), "false"
 * when it reports none.  While the daemon is away the label stays as it
 * was.  The Operator's page finds the passthrough resources with
 * kubectl get nodes -l nvidia.com/gpu.present. */

#include <systemd/sd-bus.h>

#include "label-writer.h"

#define LABEL_GPU_PRESENT "nvidia.com/gpu.present"

typedef struct GpuPresent GpuPresent;

/* The label writer stays the caller's and must outlive it. */
int gpu_present_new(sd_bus *bus, LabelWriter *labels, GpuPresent **ret);
int gpu_present_start(GpuPresent *p);
GpuPresent *gpu_present_free(GpuPresent *p);
