/* SPDX-License-Identifier: MIT */
#pragma once

/* The bridge's calls of nvidia-ccd's Manager.BindVfio and UnbindVfio (every
 * NVIDIA GPU: an empty list), without blocking, and its reads of what the
 * host can do (CcCapable, HostTee), followed through PropertiesChanged and
 * the daemon's comings and goings. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#define CCD_ERROR_BUSY "org.nvidia.ConfidentialCompute.Error.Busy"

/* error: NULL on success. */
typedef void (*CcdVfioDone)(const sd_bus_error *error, void *userdata);

/* One call; *ret_slot is the caller's (unref it to drop the answer). */
int ccd_vfio_call(sd_bus *bus, bool bind, uint64_t timeout_usec, CcdVfioDone done, void *userdata,
                  sd_bus_slot **ret_slot);

typedef struct CcdHostFacts CcdHostFacts;

/* known: false while the daemon is away or not read yet. */
typedef void (*CcdHostFactsChanged)(bool known, bool cc_capable, const char *host_tee, void *userdata);

int ccd_host_facts_new(sd_bus *bus, CcdHostFactsChanged changed, void *userdata, CcdHostFacts **ret);
CcdHostFacts *ccd_host_facts_free(CcdHostFacts *f);
