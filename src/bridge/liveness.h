/* SPDX-License-Identifier: MIT */
#pragma once

/* The liveness file: touched from the event loop at an interval while a
 * check says the bridge works (its watch of the Node makes progress), so
 * that a probe run beside it (nvidia-cc-k8s-bridge --check-liveness) tells a
 * working bridge from one whose loop is stuck, without a port to serve. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

typedef bool (*LivenessCheck)(void *userdata, uint64_t now);

typedef struct Liveness Liveness;

int liveness_new(sd_event *event, const char *path, uint64_t interval_usec, LivenessCheck check, void *userdata,
                 Liveness **ret);
Liveness *liveness_free(Liveness *l);

/* The probe: 0 when path was touched within max_age_usec; else a negative
 * errno and *ret_message (why, for the probe's output). */
int liveness_probe(const char *path, uint64_t max_age_usec, char **ret_message);
