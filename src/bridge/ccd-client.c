/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <glib.h>

#include "ccd-client.h"
#include "log.h"
#include "macro.h"

struct CcdClient {
        sd_bus *bus;
        CcdClientHandlers handlers;
        void *userdata;
        sd_bus_slot *name_owner_slot;
        sd_bus_slot *properties_slot;
        sd_bus_slot *set_mode_slot;
        CcdSetModeDone set_mode_done;
        void *set_mode_userdata;
};

/* A plan is read-only, and polkit answers it at once or not at all. */
#define PLAN_TIMEOUT_USEC (60 * 1000000ULL)

typedef struct GetModeCall {
        CcdClient *client;
        CcdGetModeDone done;
        void *userdata;
} GetModeCall;

bool ccd_error_is_absent(const sd_bus_error *error) {
        return error && (sd_bus_error_has_name(error, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
                         sd_bus_error_has_name(error, SD_BUS_ERROR_NAME_HAS_NO_OWNER));
}

bool ccd_error_is_unknown_method(const sd_bus_error *error) {
        return error && (sd_bus_error_has_name(error, SD_BUS_ERROR_UNKNOWN_METHOD) ||
                         sd_bus_error_has_name(error, SD_BUS_ERROR_UNKNOWN_INTERFACE));
}

static int name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        CcdClient *c = userdata;
        const char *name, *old_owner, *new_owner;
        int r;

        r = sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner);
        if (r < 0 || !streq(name, CCD_BUS_NAME))
                return 0;
        if (c->handlers.presence_changed)
                c->handlers.presence_changed(c, new_owner && new_owner[0], c->userdata);
        return 0;
}

static int properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        CcdClient *c = userdata;
        const char *interface;
        int r;

        r = sd_bus_message_read(m, "s", &interface);
        if (r < 0 || !streq(interface, CCD_MANAGER_INTERFACE))
                return 0;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return 0;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *name, *mode;

                if (sd_bus_message_read(m, "s", &name) < 0)
                        return 0;
                if (streq(name, "Mode") && sd_bus_message_read(m, "v", "s", &mode) >= 0) {
                        if (c->handlers.mode_changed)
                                c->handlers.mode_changed(c, mode, c->userdata);
                } else if (sd_bus_message_skip(m, "v") < 0)
                        return 0;
                if (sd_bus_message_exit_container(m) < 0)
                        return 0;
        }
        return 0;
}

int ccd_client_new(sd_bus *bus, const CcdClientHandlers *handlers, void *userdata, CcdClient **ret) {
        CcdClient *c;
        int r;

        assert(bus);
        assert(handlers);
        assert(ret);

        c = g_new0(CcdClient, 1);
        c->bus = sd_bus_ref(bus);
        c->handlers = *handlers;
        c->userdata = userdata;

        r = sd_bus_match_signal_async(bus, &c->name_owner_slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                      "org.freedesktop.DBus", "NameOwnerChanged", name_owner_changed, NULL, c);
        if (r >= 0)
                /* sender: the bus resolves the well-known name to whoever owns it. */
                r = sd_bus_match_signal_async(bus, &c->properties_slot, CCD_BUS_NAME, CCD_MANAGER_PATH,
                                              "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                              properties_changed, NULL, c);
        if (r < 0) {
                ccd_client_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

CcdClient *ccd_client_free(CcdClient *c) {
        if (!c)
                return NULL;
        sd_bus_slot_unref(c->name_owner_slot);
        sd_bus_slot_unref(c->properties_slot);
        sd_bus_slot_unref(c->set_mode_slot);
        sd_bus_unref(c->bus);
        g_free(c);
        return NULL;
}

static int set_mode_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        CcdClient *c = userdata;
        CcdSetModeDone done = c->set_mode_done;

        c->set_mode_slot = sd_bus_slot_unref(c->set_mode_slot);
        c->set_mode_done = NULL;
        done(c, sd_bus_message_is_method_error(m, NULL) ? sd_bus_message_get_error(m) : NULL,
             c->set_mode_userdata);
        return 0;
}

int ccd_client_set_mode(CcdClient *c, const char *mode, uint64_t timeout_usec, CcdSetModeDone done,
                        void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        assert(c);
        assert(mode);
        assert(done);

        if (c->set_mode_slot)
                return -EBUSY;
        r = sd_bus_message_new_method_call(c->bus, &m, CCD_BUS_NAME, CCD_MANAGER_PATH, CCD_MANAGER_INTERFACE,
                                           "SetMode");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", mode);
        /* polkit: the caller is a service, never a person to ask. */
        if (r >= 0)
                r = sd_bus_message_set_allow_interactive_authorization(m, false);
        if (r >= 0)
                r = sd_bus_call_async(c->bus, &c->set_mode_slot, m, set_mode_reply, c, timeout_usec);
        if (r < 0)
                return r;
        c->set_mode_done = done;
        c->set_mode_userdata = userdata;
        return 0;
}

void ccd_client_cancel_set_mode(CcdClient *c) {
        c->set_mode_slot = sd_bus_slot_unref(c->set_mode_slot);
        c->set_mode_done = NULL;
}

static int get_mode_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        GetModeCall *call = userdata; /* freed with the slot */
        const char *mode = NULL;

        if (sd_bus_message_is_method_error(m, NULL)) {
                call->done(call->client, NULL, sd_bus_message_get_error(m), call->userdata);
                return 0;
        }
        if (sd_bus_message_read(m, "v", "s", &mode) < 0) {
                sd_bus_error e = SD_BUS_ERROR_MAKE_CONST(SD_BUS_ERROR_INVALID_ARGS, "Mode is not a string");

                call->done(call->client, NULL, &e, call->userdata);
                return 0;
        }
        call->done(call->client, mode, NULL, call->userdata);
        return 0;
}

int ccd_client_get_mode(CcdClient *c, CcdGetModeDone done, void *userdata) {
        GetModeCall *call;
        sd_bus_slot *slot = NULL;
        int r;

        assert(c);
        assert(done);

        call = malloc(sizeof(*call));
        if (!call)
                return -ENOMEM;
        *call = (GetModeCall) { c, done, userdata };
        r = sd_bus_call_method_async(c->bus, &slot, CCD_BUS_NAME, CCD_MANAGER_PATH,
                                     "org.freedesktop.DBus.Properties", "Get", get_mode_reply, call, "ss",
                                     CCD_MANAGER_INTERFACE, "Mode");
        if (r < 0) {
                free(call);
                return r;
        }
        /* The bus owns the call from here; the record goes with the slot,
         * answered or not. */
        (void) sd_bus_slot_set_destroy_callback(slot, free);
        (void) sd_bus_slot_set_floating(slot, true);
        sd_bus_slot_unref(slot);
        return 0;
}

typedef struct PlanCall {
        CcdClient *client;
        CcdPlanDone done;
        void *userdata;
} PlanCall;

static int plan_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        PlanCall *call = userdata; /* freed with the slot */
        CcdPlan *plan = NULL;
        int r;

        if (sd_bus_message_is_method_error(m, NULL)) {
                call->done(call->client, NULL, sd_bus_message_get_error(m), call->userdata);
                return 0;
        }
        r = ccd_plan_read(m, &plan);
        if (r < 0) {
                sd_bus_error e = SD_BUS_ERROR_MAKE_CONST(SD_BUS_ERROR_INVALID_ARGS,
                                                         "the plan is not the aa{sv} of the contract");

                call->done(call->client, NULL, &e, call->userdata);
                return 0;
        }
        call->done(call->client, plan, NULL, call->userdata);
        return 0;
}

int ccd_client_plan_set_mode(CcdClient *c, const char *mode, CcdPlanDone done, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        sd_bus_slot *slot = NULL;
        PlanCall *call;
        int r;

        assert(c);
        assert(mode);
        assert(done);

        r = sd_bus_message_new_method_call(c->bus, &m, CCD_BUS_NAME, CCD_MANAGER_PATH, CCD_MANAGER_INTERFACE,
                                           "PlanSetMode");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", mode);
        if (r >= 0)
                r = sd_bus_message_set_allow_interactive_authorization(m, false);
        if (r < 0)
                return r;
        call = g_new(PlanCall, 1);
        *call = (PlanCall) { c, done, userdata };
        r = sd_bus_call_async(c->bus, &slot, m, plan_reply, call, PLAN_TIMEOUT_USEC);
        if (r < 0) {
                g_free(call);
                return r;
        }
        (void) sd_bus_slot_set_destroy_callback(slot, g_free);
        (void) sd_bus_slot_set_floating(slot, true);
        sd_bus_slot_unref(slot);
        return 0;
}
