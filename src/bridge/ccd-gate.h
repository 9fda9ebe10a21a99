/* SPDX-License-Identifier: MIT */
#pragma once

/* The bridge's turn at nvidia-ccd.  The daemon runs one state-changing call
 * at a time and answers Busy to any other, so the bridge's roles (mode,
 * workload, runtime classes) take turns here before SetMode, BindVfio,
 * UnbindVfio, InstallKataArtifacts and RemoveKataArtifacts: first come,
 * first served, each turn granted from the event loop, none blocking it.
 *
 * A Busy that names no holder comes from another client's operation
 * (nvidia-ccctl, a second bridge): the holder of the turn waits it out and
 * sends the call again (ccd_gate_again()), without it counting as a
 * failure.  A Busy naming processes that hold a GPU open is a real refusal
 * and goes back to the role. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

/* How long a turn waits for another client's operation before asking again. */
#define CCD_GATE_BUSY_RETRY_USEC (500 * 1000ULL)

typedef struct CcdGate CcdGate;
typedef struct CcdGateTurn CcdGateTurn;

/* The turn is the caller's: send the call now. */
typedef void (*CcdGateGranted)(CcdGateTurn *turn, void *userdata);

int ccd_gate_new(sd_event *event, CcdGate **ret);
CcdGate *ccd_gate_free(CcdGate *g);

/* Queues a turn; granted runs from the event loop once every turn queued
 * before it was given back.  what: the call, for the log. */
int ccd_gate_acquire(CcdGate *g, const char *what, CcdGateGranted granted, void *userdata, CcdGateTurn **ret);
/* Gives the turn back (or leaves the queue); the next one is granted.
 * Returns NULL, for turn = ccd_gate_release(turn). */
CcdGateTurn *ccd_gate_release(CcdGateTurn *turn);
/* The call was refused because nvidia-ccd is busy with another client's
 * operation: keeps the turn and grants it again a little later. */
void ccd_gate_again(CcdGateTurn *turn);

/* nvidia-ccd's Busy, for either reason below. */
bool ccd_error_is_busy(const sd_bus_error *error);
/* Busy because another call runs, not because a process holds a GPU. */
bool ccd_error_is_other_operation(const sd_bus_error *error);
/* Busy naming the processes that hold a GPU open. */
bool ccd_error_is_held(const sd_bus_error *error);
