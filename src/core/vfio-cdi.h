/* SPDX-License-Identifier: MIT */
#pragma once

/* The CDI specifications of the devices bound to VFIO, for container
 * runtimes (containerd's CDI support, Kata): one file per kind,
 * <root>/var/run/cdi/<vendor>-<class>.yaml (nvidia.com-pgpu.yaml), written
 * atomically, removed when none of its devices is bound.
 *
 * The kind is the kubelet device plugin's resource name and each device is
 * named by exactly the plugin's device ID, nothing else, so that
 * "<resource>=<ID>" from the plugin's Allocate (or from kubelet's
 * PodResources, as Kata asks it) resolves to the device that was allocated:
 * one device per IOMMU group, named by the group number, or with iommufd (the
 * device has its own vfioN node) by that N.  Its nodes: /dev/vfio/<group>,
 * or with iommufd the vfioN of every member of the group; the spec adds
 * /dev/vfio/vfio (and /dev/iommu with iommufd) for all of its devices.
 *
 * With one kind per GPU model, a second spec, of kind nvidia.com/pgpu,
 * names the same devices by the GPU's index among the host's GPUs in PCI
 * address order (0, 1, ...), for pods that pin a GPU by annotation
 * (cdi.k8s.io/gpu: "nvidia.com/pgpu=0", as the GPU Operator's 2023 page
 * does).  Such a name picks a GPU whatever kubelet allocated; the per-model
 * names are the ones that follow the allocation.  With nvidia.com/pgpu as
 * the GPUs' kind there is no index spec: its names would collide with the
 * plugin's IDs. */

#include "cc-error.h"
#include "device.h"
#include "hw-host.h"

/* A managed device and the kind of its spec; an array ends with bdf NULL. */
typedef struct CcCdiDevice {
        char *bdf;
        char *kind;
        int index;  /* its name in the index spec; -1: none */
} CcCdiDevice;

#define CDI_INDEX_KIND "nvidia.com/pgpu"

/* Every GPU and NVSwitch of inv in inventory order: GPUs get gpu_kind, or
 * with NULL their model's resource name (model_resource_name()) and their
 * index among the GPUs in PCI address order, NVSwitches
 * nvidia.com/nvswitch.  NULL: out of memory. */
CcCdiDevice *cc_cdi_devices_new(const CcInventory *inv, const char *gpu_kind);
CcCdiDevice *cc_cdi_devices_copy(const CcCdiDevice *l);
void cc_cdi_devices_free(CcCdiDevice *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(CcCdiDevice *, cc_cdi_devices_free);

/* Rewrites the specs from sysfs: a file for each kind with a bound device,
 * and every other file this daemon wrote in the directory removed (an
 * earlier configuration's kinds, the nvidia-ccd.yaml of older versions).
 * A kind that is not a valid CDI kind (nvidia.com/2901: a class begins with
 * a letter) gets no file and a warning. */
int cc_vfio_cdi_update(HwHost *h, const CcCdiDevice *devices, CcError *err);
char *cc_vfio_cdi_path(HwHost *h, const char *kind);
