/* SPDX-License-Identifier: MIT */
#pragma once

/* The bridge's side of org.nvidia.ConfidentialCompute: SetMode without
 * blocking (the reply comes when the switch is done and verified), the Mode
 * property, and the signals that tell of host-side changes
 * (PropertiesChanged) and of the daemon going and coming (NameOwnerChanged). */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "ccd-plan.h"

#define CCD_BUS_NAME "org.nvidia.ConfidentialCompute"
#define CCD_MANAGER_PATH "/org/nvidia/ConfidentialCompute"
#define CCD_MANAGER_INTERFACE "org.nvidia.ConfidentialCompute.Manager"

typedef struct CcdClient CcdClient;

typedef struct CcdClientHandlers {
        /* The daemon's Mode changed (a switch of ours, or one on the host). */
        void (*mode_changed)(CcdClient *c, const char *mode, void *userdata);
        /* The bus name got an owner (present) or lost it. */
        void (*presence_changed)(CcdClient *c, bool present, void *userdata);
} CcdClientHandlers;

/* error: NULL on success, else the D-Bus error (name and message). */
typedef void (*CcdSetModeDone)(CcdClient *c, const sd_bus_error *error, void *userdata);
typedef void (*CcdGetModeDone)(CcdClient *c, const char *mode, const sd_bus_error *error, void *userdata);
/* plan: NULL with an error; it is the handler's to free. */
typedef void (*CcdPlanDone)(CcdClient *c, CcdPlan *plan, const sd_bus_error *error, void *userdata);

int ccd_client_new(sd_bus *bus, const CcdClientHandlers *handlers, void *userdata, CcdClient **ret);
CcdClient *ccd_client_free(CcdClient *c);

/* One call at a time; a second returns -EBUSY. */
int ccd_client_set_mode(CcdClient *c, const char *mode, uint64_t timeout_usec, CcdSetModeDone done,
                        void *userdata);
void ccd_client_cancel_set_mode(CcdClient *c);
int ccd_client_get_mode(CcdClient *c, CcdGetModeDone done, void *userdata);
/* Manager.PlanSetMode: what SetMode(mode) would do, changing nothing. */
int ccd_client_plan_set_mode(CcdClient *c, const char *mode, CcdPlanDone done, void *userdata);

/* The error says the daemon is not on the bus (not running, not activatable). */
bool ccd_error_is_absent(const sd_bus_error *error);
/* The error says the daemon has no such method (one older than PlanSetMode). */
bool ccd_error_is_unknown_method(const sd_bus_error *error);
