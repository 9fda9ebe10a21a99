/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "ccd-client.h"
#include "ccd-kata.h"
#include "macro.h"

#define CCD_RUNTIME_CLASS_INTERFACE "org.nvidia.ConfidentialCompute.RuntimeClass"
#define CCD_ERROR_NOT_FOUND "org.nvidia.ConfidentialCompute.Error.NotFound"
/* A pull of a few GiB over a slow link, then the install. */
#define INSTALL_TIMEOUT_USEC (UINT64_C(60) * 60 * 1000000)
#define REMOVE_TIMEOUT_USEC (UINT64_C(5) * 60 * 1000000)

static void runtime_class_free(CcdRuntimeClass *i) {
        if (!i)
                return;
        g_free(i->reference);
        g_free(i->digest);
        g_free(i);
}

int ccd_kata_list(sd_bus *bus, sd_bus_slot **ret_slot, sd_bus_message_handler_t done, void *userdata) {
        return sd_bus_call_method_async(bus, ret_slot, CCD_BUS_NAME, CCD_MANAGER_PATH,
                                        "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", done, userdata,
                                        NULL);
}

static int parse_objects(sd_bus_message *m, GHashTable *out) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{oa{sa{sv}}}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "oa{sa{sv}}")) > 0) {
                r = sd_bus_message_skip(m, "o");
                if (r >= 0)
                        r = sd_bus_message_enter_container(m, 'a', "{sa{sv}}");
                if (r < 0)
                        return r;
                while ((r = sd_bus_message_enter_container(m, 'e', "sa{sv}")) > 0) {
                        g_autofree char *name = NULL;
                        CcdRuntimeClass *i = NULL;
                        const char *iface;

                        r = sd_bus_message_read(m, "s", &iface);
                        if (r < 0)
                                return r;
                        if (!streq(iface, CCD_RUNTIME_CLASS_INTERFACE)) {
                                r = sd_bus_message_skip(m, "a{sv}");
                                if (r < 0)
                                        return r;
                        } else {
                                i = g_new0(CcdRuntimeClass, 1);
                                r = sd_bus_message_enter_container(m, 'a', "{sv}");
                                while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                                        const char *prop, *v;

                                        r = sd_bus_message_read(m, "s", &prop);
                                        if (r >= 0 && (streq(prop, "Name") || streq(prop, "Reference") ||
                                                       streq(prop, "Digest"))) {
                                                r = sd_bus_message_read(m, "v", "s", &v);
                                                if (r >= 0 && streq(prop, "Name"))
                                                        name = g_strdup(v);
                                                else if (r >= 0 && streq(prop, "Reference"))
                                                        i->reference = g_strdup(v);
                                                else if (r >= 0)
                                                        i->digest = g_strdup(v);
                                        } else if (r >= 0)
                                                r = sd_bus_message_skip(m, "v");
                                        if (r >= 0)
                                                r = sd_bus_message_exit_container(m);
                                }
                                if (r >= 0)
                                        r = sd_bus_message_exit_container(m);
                                if (r < 0) {
                                        runtime_class_free(i);
                                        return r;
                                }
                                if (name)
                                        g_hash_table_insert(out, TAKE_PTR(name), i);
                                else
                                        runtime_class_free(i);
                        }
                        r = sd_bus_message_exit_container(m);
                        if (r < 0)
                                return r;
                }
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}


int ccd_kata_parse_list(sd_bus_message *reply, GHashTable **ret) {
        g_autoptr(GHashTable) out =
                g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) runtime_class_free);
        int r;

        assert(reply && ret);
        r = parse_objects(reply, out);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(out);
        return 0;
}

int ccd_kata_install(sd_bus *bus, sd_bus_slot **ret_slot, const char *name, const char *reference, int secret_fd,
                     int ca_fd, bool restart_containerd, sd_bus_message_handler_t done, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, CCD_BUS_NAME, CCD_MANAGER_PATH, CCD_MANAGER_INTERFACE,
                                           "InstallKataArtifacts");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", name, reference);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && secret_fd >= 0)
                r = sd_bus_message_append(m, "{sv}", "pull-secret-fd", "h", secret_fd);
        if (r >= 0 && ca_fd >= 0)
                r = sd_bus_message_append(m, "{sv}", "ca-file-fd", "h", ca_fd);
        if (r >= 0 && restart_containerd)
                r = sd_bus_message_append(m, "{sv}", "restart-containerd", "b", 1);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_call_async(bus, ret_slot, m, done, userdata, INSTALL_TIMEOUT_USEC);
        return r;
}

int ccd_kata_remove(sd_bus *bus, sd_bus_slot **ret_slot, const char *name, sd_bus_message_handler_t done,
                    void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, CCD_BUS_NAME, CCD_MANAGER_PATH, CCD_MANAGER_INTERFACE,
                                           "RemoveKataArtifacts");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", name);
        if (r >= 0)
                r = sd_bus_call_async(bus, ret_slot, m, done, userdata, REMOVE_TIMEOUT_USEC);
        return r;
}

bool ccd_kata_error_is_not_found(const sd_bus_error *error) {
        return sd_bus_error_has_name(error, CCD_ERROR_NOT_FOUND);
}
