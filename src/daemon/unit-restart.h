/* SPDX-License-Identifier: MIT */
#pragma once

/* Restarting a systemd unit (containerd.service) through systemd's D-Bus
 * API without blocking the loop: TryRestartUnit (a stopped unit stays
 * stopped, a running one is restarted), then the job's JobRemoved signal
 * gives the outcome. */

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "cc-error.h"

typedef struct UnitRestart UnitRestart;

/* Called once: r >= 0 when the job finished with result "done"; else e
 * says why. */
typedef void (*UnitRestartDone)(void *userdata, int r, const CcError *e);

int unit_restart_start(sd_bus *bus, sd_event *event, const char *unit, uint64_t timeout_usec,
                       UnitRestartDone done, void *userdata, UnitRestart **ret);
UnitRestart *unit_restart_free(UnitRestart *u);
