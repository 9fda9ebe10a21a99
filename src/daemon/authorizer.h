/* SPDX-License-Identifier: MIT */
#pragma once

/* One asynchronous polkit authorizer for the whole bus surface.  A method
 * handler calls authorizer_check(); the first time it returns 0 and the
 * handler returns 1 without replying.  The caller's uid is asked of the bus
 * (root passes), then polkit's CheckAuthorization; when the answer comes the
 * original message is queued again and the handler runs a second time, now
 * getting 1 (go on) or an AccessDenied error.  Deny by default: a missing
 * polkitd or any error means denied. */

#include <systemd/sd-bus.h>

typedef struct Authorizer Authorizer;

int authorizer_new(sd_bus *bus, Authorizer **ret);
Authorizer *authorizer_free(Authorizer *a);

/* The polkit action of a mutating method, from the one table that maps
 * interface and member to action; NULL for a method not in it (denied). */
const char *authorizer_action_for(const char *interface, const char *member);

/* 1 authorized, 0 answer pending (return 1 from the handler), < 0 denied or
 * failed with *error set. */
int authorizer_check(Authorizer *a, sd_bus_message *m, sd_bus_error *error);
