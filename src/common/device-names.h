/* SPDX-License-Identifier: MIT */
#pragma once

/* Names that nvidia-ccd and the bridge's device plugin must agree on: the
 * resource name of a GPU model, which is also the kind of its CDI spec, and
 * what counts as a VFIO driver. */

#include <stdbool.h>
#include <stdint.h>

#define RESOURCE_DOMAIN "nvidia.com"
#define RESOURCE_PGPU "nvidia.com/pgpu"
#define RESOURCE_NVSWITCH "nvidia.com/nvswitch"

/* The resource of one GPU model, by the rule of NVIDIA's sandbox device
 * plugin for an empty P_GPU_ALIAS: RESOURCE_DOMAIN "/" + the PCI name
 * upper-cased, "/" and "." made "_", runs of white space made one "_",
 * every other character outside [A-Za-z0-9_-] dropped ("GH100 [H100 SXM5
 * 80GB]" gives nvidia.com/GH100_H100_SXM5_80GB).  Without a name, or when
 * the rule leaves no valid resource name, the device id as %04x
 * (nvidia.com/2901).  NULL only when out of memory. */
char *model_resource_name(const char *pci_name, uint16_t device_id);

/* An extended resource name as kubelet accepts it in Register: DOMAIN/NAME,
 * the domain a DNS subdomain other than kubernetes.io, the name at most 63
 * of [A-Za-z0-9_.-], beginning and ending with a letter or digit. */
bool resource_name_is_valid(const char *name);

/* A CDI kind (vendor/class) that container runtimes parse: each part
 * begins with a letter, ends with a letter or digit, and holds only
 * [A-Za-z0-9_.-].  Not every resource name is one: nvidia.com/2901 is not. */
bool cdi_kind_is_valid(const char *kind);

/* vfio-pci, or a variant driver named after its module (<vendor>_vfio_pci). */
bool driver_is_vfio(const char *driver);
