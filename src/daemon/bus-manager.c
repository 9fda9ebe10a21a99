/* SPDX-License-Identifier: MIT */

/* /org/nvidia/ConfidentialCompute: org.nvidia.ConfidentialCompute.Manager. */

#include <stdarg.h>

#include "build-config.h"
#include "bus-util.h"
#include "daemon.h"

BUS_DEFINE_PROPERTY_GET_STRING(property_get_version, Daemon, PACKAGE_VERSION)
BUS_DEFINE_PROPERTY_GET_STRING(property_get_host_tee, Daemon, object->host_tee)
BUS_DEFINE_PROPERTY_GET_STRING(property_get_default_mode, Daemon,
                               object->default_mode == TARGET_MODE_INVALID ? "" : target_mode_to_string(object->default_mode))
BUS_DEFINE_PROPERTY_GET_STRING(property_get_mode, Daemon, cc_inventory_mode(object->inventory))
BUS_DEFINE_PROPERTY_GET_STRING(property_get_mode_state, Daemon, mode_state_to_string(object->mode_state))
BUS_DEFINE_PROPERTY_GET_STRING(property_get_last_error, Daemon, strempty(object->last_error))

static int property_get_cc_capable(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Daemon *d = userdata;
        return sd_bus_message_append(reply, "b", cc_inventory_cc_capable(d->inventory));
}

static int method_set_mode(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return mode_control_method_set_mode(userdata, m, NULL, error);
}

static int method_bind_vfio(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return vfio_control_method(userdata, m, VFIO_ACTION_BIND, NULL, error);
}

static int method_unbind_vfio(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return vfio_control_method(userdata, m, VFIO_ACTION_UNBIND, NULL, error);
}

static int method_plan_set_mode(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return plan_control_method_set_mode(userdata, m, error);
}

static int method_plan_bind_vfio(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return plan_control_method_bind_vfio(userdata, m, error);
}

static int property_get_artifacts_progress(sd_bus *bus, const char *path, const char *interface,
                                           const char *property, sd_bus_message *reply, void *userdata,
                                           sd_bus_error *error) {
        return kata_control_append_progress(userdata, reply);
}

static int method_install_kata_artifacts(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return kata_control_method_install(userdata, m, error);
}

static int method_remove_kata_artifacts(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return kata_control_method_remove(userdata, m, error);
}

static int method_rescan(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Daemon *d = userdata;
        int r;

        r = authorizer_check(d->authorizer, m, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        return daemon_rescan_start(d, m, error);
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("HostTee", "s", property_get_host_tee, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("DefaultMode", "s", property_get_default_mode, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Mode", "s", property_get_mode, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ModeState", "s", property_get_mode_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastError", "s", property_get_last_error, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CcCapable", "b", property_get_cc_capable, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("SetMode", SD_BUS_ARGS("s", mode), SD_BUS_NO_RESULT,
                                method_set_mode, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("BindVfio", SD_BUS_ARGS("as", addresses), SD_BUS_NO_RESULT,
                                method_bind_vfio, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("UnbindVfio", SD_BUS_ARGS("as", addresses), SD_BUS_NO_RESULT,
                                method_unbind_vfio, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Rescan", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
                                method_rescan, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("PlanSetMode", SD_BUS_ARGS("s", mode), SD_BUS_RESULT("aa{sv}", steps),
                                method_plan_set_mode, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("PlanBindVfio", SD_BUS_ARGS("as", addresses), SD_BUS_RESULT("aa{sv}", steps),
                                method_plan_bind_vfio, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_PROPERTY("ArtifactsProgress", "(stt)", property_get_artifacts_progress, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("InstallKataArtifacts",
                                SD_BUS_ARGS("s", runtime_class, "s", reference, "a{sv}", options),
                                SD_BUS_RESULT("o", runtime_class),
                                method_install_kata_artifacts, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RemoveKataArtifacts", SD_BUS_ARGS("s", runtime_class), SD_BUS_NO_RESULT,
                                method_remove_kata_artifacts, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

int bus_manager_register(Daemon *d) {
        int r;

        r = sd_bus_add_object_vtable(d->bus, NULL, CC_MANAGER_PATH, CC_MANAGER_INTERFACE, manager_vtable, d);
        if (r < 0)
                return r;
        return sd_bus_add_object_manager(d->bus, NULL, CC_MANAGER_PATH);
}

int bus_manager_emit_changed(Daemon *d, const char *property, ...) {
        char *names[8];
        size_t n = 0;
        va_list ap;

        va_start(ap, property);
        for (const char *p = property; p && n < ELEMENTSOF(names) - 1; p = va_arg(ap, const char *))
                names[n++] = (char *) p;
        va_end(ap);
        names[n] = NULL;

        return sd_bus_emit_properties_changed_strv(d->bus, CC_MANAGER_PATH, CC_MANAGER_INTERFACE, names);
}
