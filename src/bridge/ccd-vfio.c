/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <glib.h>

#include "ccd-client.h"
#include "ccd-vfio.h"
#include "log.h"
#include "macro.h"

typedef struct VfioCall {
        CcdVfioDone done;
        void *userdata;
} VfioCall;

static int vfio_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        VfioCall *call = userdata; /* freed with the slot */

        call->done(sd_bus_message_is_method_error(m, NULL) ? sd_bus_message_get_error(m) : NULL, call->userdata);
        return 0;
}

int ccd_vfio_call(sd_bus *bus, bool bind, uint64_t timeout_usec, CcdVfioDone done, void *userdata,
                  sd_bus_slot **ret_slot) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        VfioCall *call;
        int r;

        assert(bus);
        assert(done);
        assert(ret_slot);

        r = sd_bus_message_new_method_call(bus, &m, CCD_BUS_NAME, CCD_MANAGER_PATH, CCD_MANAGER_INTERFACE,
                                           bind ? "BindVfio" : "UnbindVfio");
        /* Empty: every NVIDIA GPU (and NVSwitches as the daemon's config says). */
        if (r >= 0)
                r = sd_bus_message_append_strv(m, (char *[]) { NULL });
        /* polkit: the caller is a service, never a person to ask. */
        if (r >= 0)
                r = sd_bus_message_set_allow_interactive_authorization(m, false);
        if (r < 0)
                return r;
        call = g_new(VfioCall, 1);
        *call = (VfioCall) { done, userdata };
        r = sd_bus_call_async(bus, ret_slot, m, vfio_reply, call, timeout_usec);
        if (r < 0) {
                g_free(call);
                return r;
        }
        (void) sd_bus_slot_set_destroy_callback(*ret_slot, g_free);
        return 0;
}

/* ------------------------------------------------------------ host facts */

struct CcdHostFacts {
        sd_bus *bus;
        CcdHostFactsChanged changed;
        void *userdata;
        sd_bus_slot *name_owner_slot, *properties_slot, *read_slot;
        bool known, cc_capable;
        char *host_tee;
};

static void facts_notify(CcdHostFacts *f) {
        f->changed(f->known, f->cc_capable, f->host_tee, f->userdata);
}

/* Reads CcCapable and HostTee out of an a{sv}; returns how many it found. */
static int read_facts(sd_bus_message *m, CcdHostFacts *f) {
        int r, n = 0;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *name, *s;
                int b;

                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;
                if (streq(name, "CcCapable")) {
                        r = sd_bus_message_read(m, "v", "b", &b);
                        if (r >= 0) {
                                f->cc_capable = b;
                                n++;
                        }
                } else if (streq(name, "HostTee")) {
                        r = sd_bus_message_read(m, "v", "s", &s);
                        if (r >= 0) {
                                g_free(f->host_tee);
                                f->host_tee = g_strdup(s);
                                n++;
                        }
                } else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        return r < 0 ? r : n;
}

static int get_all_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        CcdHostFacts *f = userdata;

        f->read_slot = sd_bus_slot_unref(f->read_slot);
        if (sd_bus_message_is_method_error(m, NULL)) {
                log_debug("cannot read the host's facts from nvidia-ccd: %s",
                          strempty(sd_bus_message_get_error(m)->message));
                return 0;
        }
        if (read_facts(m, f) < 0) {
                log_warning("nvidia-ccd's Manager properties are not the a{sv} of the contract");
                return 0;
        }
        f->known = true;
        facts_notify(f);
        return 0;
}

static void facts_read(CcdHostFacts *f) {
        int r;

        f->read_slot = sd_bus_slot_unref(f->read_slot);
        r = sd_bus_call_method_async(f->bus, &f->read_slot, CCD_BUS_NAME, CCD_MANAGER_PATH,
                                     "org.freedesktop.DBus.Properties", "GetAll", get_all_reply, f, "s",
                                     CCD_MANAGER_INTERFACE);
        if (r < 0)
                log_warning("cannot ask nvidia-ccd for the host's facts: %s", strerror(-r));
}

static int facts_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        CcdHostFacts *f = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 || !streq(name, CCD_BUS_NAME))
                return 0;
        if (new_owner && new_owner[0])
                facts_read(f);
        else if (f->known) {
                f->known = false;
                f->read_slot = sd_bus_slot_unref(f->read_slot);
                facts_notify(f);
        }
        return 0;
}

static int facts_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        CcdHostFacts *f = userdata;
        const char *interface;

        if (sd_bus_message_read(m, "s", &interface) < 0 || !streq(interface, CCD_MANAGER_INTERFACE))
                return 0;
        if (read_facts(m, f) > 0 && f->known)
                facts_notify(f);
        return 0;
}

int ccd_host_facts_new(sd_bus *bus, CcdHostFactsChanged changed, void *userdata, CcdHostFacts **ret) {
        CcdHostFacts *f;
        int r;

        assert(bus);
        assert(changed);
        assert(ret);

        f = g_new0(CcdHostFacts, 1);
        f->bus = sd_bus_ref(bus);
        f->changed = changed;
        f->userdata = userdata;
        r = sd_bus_match_signal_async(bus, &f->name_owner_slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                      "org.freedesktop.DBus", "NameOwnerChanged", facts_owner_changed, NULL, f);
        if (r >= 0)
                r = sd_bus_match_signal_async(bus, &f->properties_slot, CCD_BUS_NAME, CCD_MANAGER_PATH,
                                              "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                              facts_properties_changed, NULL, f);
        if (r < 0) {
                ccd_host_facts_free(f);
                return r;
        }
        /* Queued after the matches: a change between the two is not lost. */
        facts_read(f);
        *ret = f;
        return 0;
}

CcdHostFacts *ccd_host_facts_free(CcdHostFacts *f) {
        if (!f)
                return NULL;
        sd_bus_slot_unref(f->name_owner_slot);
        sd_bus_slot_unref(f->properties_slot);
        sd_bus_slot_unref(f->read_slot);
        sd_bus_unref(f->bus);
        g_free(f->host_tee);
        g_free(f);
        return NULL;
}
