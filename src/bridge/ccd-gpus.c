/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <glib.h>

#include "ccd-client.h"
#include "ccd-gpus.h"
#include "log.h"
#include "macro.h"

#define CCD_GPU_INTERFACE "org.nvidia.ConfidentialCompute.Gpu"
#define CCD_GPU_PATH_PREFIX CCD_MANAGER_PATH "/gpu"

struct CcdGpus {
        sd_bus *bus;
        CcdGpusChanged changed;
        void *userdata;
        GHashTable *gpus;          /* path -> DpGpu */
        GPtrArray *list;           /* what ccd_gpus_list() hands out */
        bool present;
        sd_bus_slot *name_owner_slot, *added_slot, *removed_slot, *properties_slot;
        sd_bus_slot *read_slot;    /* GetManagedObjects in flight */
};

static void gpu_free(void *p) {
        dp_gpu_free(p);
}

static void notify(CcdGpus *g) {
        g->changed(g, g->userdata);
}

/* ------------------------------------------------------------ properties */

static int read_string(sd_bus_message *m, char **field) {
        const char *s;
        int r = sd_bus_message_read(m, "v", "s", &s);

        if (r < 0)
                return r;
        g_free(*field);
        *field = g_strdup(s);
        return 0;
}

/* One a{sv} of the Gpu interface into g. */
static int read_properties(sd_bus_message *m, DpGpu *g) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *name;
                int32_t i;
                uint16_t q;

                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;
                if (streq(name, "Address"))
                        r = read_string(m, &g->address);
                else if (streq(name, "Kind"))
                        r = read_string(m, &g->kind);
                else if (streq(name, "Name"))
                        r = read_string(m, &g->name);
                else if (streq(name, "Driver"))
                        r = read_string(m, &g->driver);
                else if (streq(name, "VfioDevice"))
                        r = read_string(m, &g->vfio_device);
                else if (streq(name, "VfioCdev"))
                        r = read_string(m, &g->vfio_cdev);
                else if (streq(name, "DeviceId")) {
                        r = sd_bus_message_read(m, "v", "q", &q);
                        if (r >= 0)
                                g->device_id = q;
                } else if (streq(name, "IommuGroup")) {
                        r = sd_bus_message_read(m, "v", "i", &i);
                        if (r >= 0)
                                g->iommu_group = i;
                } else if (streq(name, "NumaNode")) {
                        r = sd_bus_message_read(m, "v", "i", &i);
                        if (r >= 0)
                                g->numa_node = i;
                } else if (streq(name, "GroupVfioCdevs")) {
                        char **l = NULL;

                        r = sd_bus_message_enter_container(m, 'v', "as");
                        if (r >= 0)
                                r = sd_bus_message_read_strv(m, &l);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                        if (r >= 0) {
                                g_strfreev(g->group_cdevs);
                                g->group_cdevs = l ?: g_new0(char *, 1);
                        } else
                                g_strfreev(l);
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
        if (r < 0)
                return r;
        dp_gpu_note(g);
        return 0;
}

/* a{sa{sv}}: the Gpu interface's properties into a new object, if it has it.
 * Returns 1 when it did. */
static int read_interfaces(sd_bus_message *m, const char *path, DpGpu **ret) {
        DpGpu *g = NULL;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sa{sv}}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sa{sv}")) > 0) {
                const char *iface;

                r = sd_bus_message_read(m, "s", &iface);
                if (r >= 0 && streq(iface, CCD_GPU_INTERFACE)) {
                        if (!g)
                                g = dp_gpu_new(path);
                        r = read_properties(m, g);
                } else if (r >= 0)
                        r = sd_bus_message_skip(m, "a{sv}");
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r < 0)
                        break;
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0) {
                dp_gpu_free(g);
                return r;
        }
        *ret = g;
        return g ? 1 : 0;
}

/* ------------------------------------------------------------ reading all */

static int managed_objects_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        CcdGpus *g = userdata;
        g_autoptr(GHashTable) table = NULL;
        int r;

        g->read_slot = sd_bus_slot_unref(g->read_slot);
        if (sd_bus_message_is_method_error(m, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(m);

                if (!ccd_error_is_absent(e))
                        log_warning("cannot read the GPUs of nvidia-ccd: %s", e->message ?: e->name);
                return 0;
        }
        table = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, gpu_free);
        r = sd_bus_message_enter_container(m, 'a', "{oa{sa{sv}}}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "oa{sa{sv}}")) > 0) {
                const char *path;
                DpGpu *gpu = NULL;

                r = sd_bus_message_read(m, "o", &path);
                if (r >= 0)
                        r = read_interfaces(m, path, &gpu);
                if (r > 0)
                        g_hash_table_replace(table, gpu->path, gpu);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        if (r < 0) {
                log_warning("cannot parse the GPUs of nvidia-ccd: %s", strerror(-r));
                return 0;
        }
        g_hash_table_unref(g->gpus);
        g->gpus = g_steal_pointer(&table);
        g->present = true;
        log_info("nvidia-ccd reports %u GPU(s) and NVSwitch(es)", g_hash_table_size(g->gpus));
        notify(g);
        return 0;
}

static int read_all(CcdGpus *g) {
        g->read_slot = sd_bus_slot_unref(g->read_slot);
        return sd_bus_call_method_async(g->bus, &g->read_slot, CCD_BUS_NAME, CCD_MANAGER_PATH,
                                        "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
                                        managed_objects_reply, g, NULL);
}

/* ------------------------------------------------------------ signals */

static int name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        CcdGpus *g = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 || !streq(name, CCD_BUS_NAME))
                return 0;
        /* Gone, or a new instance whose objects are not read yet: either
         * way the devices are not usable until they are. */
        if (g->present) {
                g->present = false;
                notify(g);
        }
        if (new_owner && new_owner[0] && read_all(g) < 0)
                log_error("cannot ask nvidia-ccd for its GPUs");
        return 0;
}

static int interfaces_added(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        CcdGpus *g = userdata;
        const char *path;
        DpGpu *gpu = NULL;

        if (sd_bus_message_read(m, "o", &path) < 0 || read_interfaces(m, path, &gpu) <= 0)
                return 0;
        g_hash_table_replace(g->gpus, gpu->path, gpu);
        notify(g);
        return 0;
}

static int interfaces_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        CcdGpus *g = userdata;
        g_auto(GStrv) ifaces = NULL;
        const char *path;

        if (sd_bus_message_read(m, "o", &path) < 0 || sd_bus_message_read_strv(m, &ifaces) < 0)
                return 0;
        if (!g_strv_contains((const char *const *) ifaces, CCD_GPU_INTERFACE))
                return 0;
        if (g_hash_table_remove(g->gpus, path))
                notify(g);
        return 0;
}

static int properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        CcdGpus *g = userdata;
        g_auto(GStrv) invalidated = NULL;
        const char *iface;
        DpGpu *gpu;
        int r;

        gpu = g_hash_table_lookup(g->gpus, sd_bus_message_get_path(m));
        if (!gpu || sd_bus_message_read(m, "s", &iface) < 0 || !streq(iface, CCD_GPU_INTERFACE))
                return 0;
        r = read_properties(m, gpu);
        if (r >= 0)
                r = sd_bus_message_read_strv(m, &invalidated);
        if (r < 0) {
                log_warning("cannot parse a change of %s: %s", gpu->path, strerror(-r));
                return 0;
        }
        /* The daemon sends values; a bare invalidation is read again. */
        if (invalidated && invalidated[0] && !g->read_slot && read_all(g) < 0)
                log_error("cannot ask nvidia-ccd for its GPUs");
        notify(g);
        return 0;
}

/* ------------------------------------------------------------ object */

int ccd_gpus_new(sd_bus *bus, CcdGpusChanged changed, void *userdata, CcdGpus **ret) {
        CcdGpus *g;

        assert(bus);
        assert(changed);
        assert(ret);

        g = g_new0(CcdGpus, 1);
        g->bus = sd_bus_ref(bus);
        g->changed = changed;
        g->userdata = userdata;
        g->gpus = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, gpu_free);
        g->list = g_ptr_array_new();
        *ret = g;
        return 0;
}

CcdGpus *ccd_gpus_free(CcdGpus *g) {
        if (!g)
                return NULL;
        sd_bus_slot_unref(g->name_owner_slot);
        sd_bus_slot_unref(g->added_slot);
        sd_bus_slot_unref(g->removed_slot);
        sd_bus_slot_unref(g->properties_slot);
        sd_bus_slot_unref(g->read_slot);
        g_hash_table_unref(g->gpus);
        g_ptr_array_unref(g->list);
        sd_bus_unref(g->bus);
        g_free(g);
        return NULL;
}

int ccd_gpus_start(CcdGpus *g) {
        int r;

        r = sd_bus_match_signal_async(g->bus, &g->name_owner_slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                      "org.freedesktop.DBus", "NameOwnerChanged", name_owner_changed, NULL, g);
        if (r >= 0)
                r = sd_bus_match_signal_async(g->bus, &g->added_slot, CCD_BUS_NAME, CCD_MANAGER_PATH,
                                              "org.freedesktop.DBus.ObjectManager", "InterfacesAdded",
                                              interfaces_added, NULL, g);
        if (r >= 0)
                r = sd_bus_match_signal_async(g->bus, &g->removed_slot, CCD_BUS_NAME, CCD_MANAGER_PATH,
                                              "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved",
                                              interfaces_removed, NULL, g);
        if (r >= 0)
                r = sd_bus_add_match_async(g->bus, &g->properties_slot,
                                           "type='signal',sender='" CCD_BUS_NAME "',"
                                           "interface='org.freedesktop.DBus.Properties',"
                                           "member='PropertiesChanged',"
                                           "path_namespace='" CCD_GPU_PATH_PREFIX "',"
                                           "arg0='" CCD_GPU_INTERFACE "'",
                                           properties_changed, NULL, g);
        if (r < 0)
                return r;
        /* The matches go first on the same connection: nothing is missed
         * between the snapshot and the signals. */
        return read_all(g);
}

bool ccd_gpus_present(const CcdGpus *g) {
        return g->present;
}

DpGpu **ccd_gpus_list(CcdGpus *g, size_t *ret_n) {
        GHashTableIter iter;
        gpointer value;

        g_ptr_array_set_size(g->list, 0);
        g_hash_table_iter_init(&iter, g->gpus);
        while (g_hash_table_iter_next(&iter, NULL, &value))
                g_ptr_array_add(g->list, value);
        *ret_n = g->list->len;
        g_ptr_array_add(g->list, NULL);
        return (DpGpu **) g->list->pdata;
}
