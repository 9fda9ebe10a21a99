/* SPDX-License-Identifier: MIT */

/* /org/nvidia/ConfidentialCompute/gpu/<escaped BDF>: one object per device
 * of the inventory, served by a fallback vtable so objects follow the
 * inventory without per-object registration. */

#include "bus-util.h"
#include "daemon.h"
#include "strv.h"

char *bus_gpu_path(const char *bdf) {
        char *path = NULL;

        if (sd_bus_path_encode(CC_GPU_PATH_PREFIX, bdf, &path) < 0)
                return NULL;
        return path;
}

static int gpu_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                    sd_bus_error *error) {
        Daemon *d = userdata;
        _cleanup_free_ char *bdf = NULL;
        CcDevice *dev;
        int r;

        r = sd_bus_path_decode(path, CC_GPU_PATH_PREFIX, &bdf);
        if (r <= 0)
                return r;
        dev = cc_inventory_find(d->inventory, bdf);
        if (!dev)
                return 0;
        *found = dev;
        return 1;
}

static int gpu_enumerate(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        Daemon *d = userdata;
        char **l;

        l = calloc(d->inventory->n_devices + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < d->inventory->n_devices; i++) {
                l[i] = bus_gpu_path(d->inventory->devices[i]->bdf);
                if (!l[i]) {
                        strv_free(l);
                        return -ENOMEM;
                }
        }
        *nodes = l;
        return 1;
}

BUS_DEFINE_PROPERTY_GET_STRING(property_get_address, CcDevice, object->bdf)
BUS_DEFINE_PROPERTY_GET_STRING(property_get_kind, CcDevice, device_kind_to_string(object->kind))
BUS_DEFINE_PROPERTY_GET_STRING(property_get_architecture, CcDevice, gpu_arch_to_string(object->arch))
BUS_DEFINE_PROPERTY_GET_STRING(property_get_cc_mode, CcDevice, device_cc_mode_to_string(object->cc_mode))
BUS_DEFINE_PROPERTY_GET_STRING(property_get_ppcie_mode, CcDevice, device_cc_mode_to_string(object->ppcie_mode))
BUS_DEFINE_PROPERTY_GET_STRING(property_get_nvlink_encryption, CcDevice,
                               device_cc_mode_to_string(object->nvlink_encryption))
BUS_DEFINE_PROPERTY_GET_STRING(property_get_bar0_firewall, CcDevice, device_cc_mode_to_string(object->bar0_firewall))

static int property_get_strv(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        char **l = *(char ***) userdata;
        return sd_bus_message_append_strv(reply, l);
}

static int method_set_mode(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        CcDevice *dev = userdata;
        /* userdata is the device that gpu_find() returned; the daemon is the
         * userdata the fallback vtable was registered with. */
        Daemon *d = sd_bus_slot_get_userdata(sd_bus_get_current_slot(sd_bus_message_get_bus(m)));

        return mode_control_method_set_mode(d, m, dev->bdf, error);
}

static int method_bind_vfio(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        CcDevice *dev = userdata;
        Daemon *d = sd_bus_slot_get_userdata(sd_bus_get_current_slot(sd_bus_message_get_bus(m)));

        return vfio_control_method(d, m, VFIO_ACTION_BIND, dev->bdf, error);
}

static int method_unbind_vfio(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        CcDevice *dev = userdata;
        Daemon *d = sd_bus_slot_get_userdata(sd_bus_get_current_slot(sd_bus_message_get_bus(m)));

        return vfio_control_method(d, m, VFIO_ACTION_UNBIND, dev->bdf, error);
}

static const sd_bus_vtable gpu_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Address", "s", property_get_address, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("VendorId", "q", NULL, offsetof(CcDevice, vendor_id), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("DeviceId", "q", NULL, offsetof(CcDevice, device_id), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Name", "s", NULL, offsetof(CcDevice, name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Kind", "s", property_get_kind, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Architecture", "s", property_get_architecture, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("CcCapable", "b", NULL, offsetof(CcDevice, cc_capable), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("PpcieCapable", "b", NULL, offsetof(CcDevice, ppcie_capable), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("CcMode", "s", property_get_cc_mode, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PpcieMode", "s", property_get_ppcie_mode, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("NvlinkEncryption", "s", property_get_nvlink_encryption, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Bar0Firewall", "s", property_get_bar0_firewall, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Driver", "s", NULL, offsetof(CcDevice, driver), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("IommuGroup", "i", NULL, offsetof(CcDevice, iommu_group), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("GroupMembers", "as", property_get_strv, offsetof(CcDevice, group_members),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("VfioDevice", "s", NULL, offsetof(CcDevice, vfio_device), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("VfioCdev", "s", NULL, offsetof(CcDevice, vfio_cdev), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("GroupVfioCdevs", "as", property_get_strv, offsetof(CcDevice, group_vfio_cdevs),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("NumaNode", "i", NULL, offsetof(CcDevice, numa_node), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("SetMode", SD_BUS_ARGS("s", mode), SD_BUS_NO_RESULT,
                                method_set_mode, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("BindVfio", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
                                method_bind_vfio, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("UnbindVfio", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
                                method_unbind_vfio, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

int bus_gpu_register(Daemon *d) {
        int r;

        r = sd_bus_add_fallback_vtable(d->bus, NULL, CC_GPU_PATH_PREFIX, CC_GPU_INTERFACE, gpu_vtable, gpu_find, d);
        if (r < 0)
                return r;
        return sd_bus_add_node_enumerator(d->bus, NULL, CC_GPU_PATH_PREFIX, gpu_enumerate, d);
}
