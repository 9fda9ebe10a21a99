/* SPDX-License-Identifier: MIT */
#pragma once

/* The bridge's copy of nvidia-ccd's Gpu objects, for the device plugin:
 * read with ObjectManager.GetManagedObjects when the daemon appears on the
 * bus (and at start), then kept up to date from InterfacesAdded/Removed and
 * the PropertiesChanged of each object (Driver, IommuGroup, VfioDevice,
 * VfioCdev, GroupVfioCdevs, ...).  While the daemon is away, or until its
 * objects have been read after it came back, present is false and the
 * objects are the last ones seen.  changed() is called after every change
 * that was applied, so the owner coalesces. */

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-bus.h>

#include "devplugin-model.h"

typedef struct CcdGpus CcdGpus;

typedef void (*CcdGpusChanged)(CcdGpus *g, void *userdata);

int ccd_gpus_new(sd_bus *bus, CcdGpusChanged changed, void *userdata, CcdGpus **ret);
CcdGpus *ccd_gpus_free(CcdGpus *g);
/* Subscribes and reads the objects. */
int ccd_gpus_start(CcdGpus *g);

bool ccd_gpus_present(const CcdGpus *g);
/* The objects, in no order; valid until the next return to the loop. */
DpGpu **ccd_gpus_list(CcdGpus *g, size_t *ret_n);
