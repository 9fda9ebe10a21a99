/* SPDX-License-Identifier: MIT */

/* /org/nvidia/ConfidentialCompute/runtime_class/<escaped name>: one
 * org.nvidia.ConfidentialCompute.RuntimeClass object per installed runtime
 * class, served by a fallback vtable over the daemon's records. */

#include "bus-util.h"
#include "daemon.h"
#include "kata-record.h"

char *bus_runtime_class_path(const char *name) {
        char *path = NULL;

        if (sd_bus_path_encode(CC_RUNTIME_CLASS_PATH_PREFIX, name, &path) < 0)
                return NULL;
        return path;
}

static int runtime_class_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                              sd_bus_error *error) {
        Daemon *d = userdata;
        _cleanup_free_ char *name = NULL;
        int r;

        r = sd_bus_path_decode(path, CC_RUNTIME_CLASS_PATH_PREFIX, &name);
        if (r <= 0)
                return r;
        for (size_t i = 0; i < d->n_runtime_classes; i++)
                if (streq(d->runtime_classes[i]->name, name)) {
                        *found = d->runtime_classes[i];
                        return 1;
                }
        return 0;
}

static int runtime_class_enumerate(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                                   sd_bus_error *error) {
        Daemon *d = userdata;
        char **l;

        l = calloc(d->n_runtime_classes + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < d->n_runtime_classes; i++) {
                l[i] = bus_runtime_class_path(d->runtime_classes[i]->name);
                if (!l[i]) {
                        for (size_t k = 0; k < i; k++)
                                free(l[k]);
                        free(l);
                        return -ENOMEM;
                }
        }
        *nodes = l;
        return 1;
}

BUS_DEFINE_PROPERTY_GET_STRING(property_get_name, KataRecord, object->name)
BUS_DEFINE_PROPERTY_GET_STRING(property_get_reference, KataRecord, object->reference)
BUS_DEFINE_PROPERTY_GET_STRING(property_get_digest, KataRecord, object->digest)
BUS_DEFINE_PROPERTY_GET_STRING(property_get_directory, KataRecord, object->directory)
BUS_DEFINE_PROPERTY_GET_STRING(property_get_handler, KataRecord, strempty(object->containerd_handler))

static int property_get_files(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        KataRecord *r = userdata;
        return sd_bus_message_append_strv(reply, r->files);
}

static int property_get_installed_at(sd_bus *bus, const char *path, const char *interface, const char *property,
                                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        KataRecord *r = userdata;
        return sd_bus_message_append(reply, "t", r->installed_at);
}

/* A reinstall replaces the record under the same name: every property may
 * change, and PropertiesChanged says so. */
static const sd_bus_vtable runtime_class_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", property_get_name, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Reference", "s", property_get_reference, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Digest", "s", property_get_digest, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Directory", "s", property_get_directory, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Files", "as", property_get_files, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ContainerdHandler", "s", property_get_handler, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("InstalledAt", "t", property_get_installed_at, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END
};

int bus_runtime_class_register(Daemon *d) {
        int r;

        r = sd_bus_add_fallback_vtable(d->bus, NULL, CC_RUNTIME_CLASS_PATH_PREFIX, CC_RUNTIME_CLASS_INTERFACE,
                                       runtime_class_vtable, runtime_class_find, d);
        if (r < 0)
                return r;
        return sd_bus_add_node_enumerator(d->bus, NULL, CC_RUNTIME_CLASS_PATH_PREFIX, runtime_class_enumerate, d);
}
