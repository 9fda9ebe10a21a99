/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <time.h>

#include "bus-open.h"
#include "ctl-bus.h"
#include "ctl-errors.h"
#include "macro.h"

#define USEC_PER_SEC UINT64_C(1000000)

static uint64_t now_usec(void) {
        struct timespec ts;

        /* Cannot fail with a valid clock id and pointer. */
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* sd_bus_call(), except that our own timeout running out is told apart from
 * a NoReply error the bus sends (both come as -ETIMEDOUT): it is returned
 * as -ETIMEDOUT with no error name. */
static int call(sd_bus *bus, sd_bus_message *m, unsigned timeout_sec, sd_bus_error *error, sd_bus_message **reply) {
        uint64_t timeout = timeout_sec * USEC_PER_SEC, start = now_usec();
        int r;

        r = sd_bus_call(bus, m, timeout, error, reply);
        if (r == -ETIMEDOUT && now_usec() - start >= timeout)
                sd_bus_error_free(error);
        return r;
}

const char *ctl_bus_describe(CtlBusKind kind, const char *address, char *buf, size_t size) {
        const char *e;

        switch (kind) {
        case CTL_BUS_SYSTEM:
                e = getenv("DBUS_SYSTEM_BUS_ADDRESS");
                snprintf(buf, size, "the system bus (%s)", e && *e ? e : "unix:path=/run/dbus/system_bus_socket");
                break;
        case CTL_BUS_SESSION:
                e = getenv("DBUS_SESSION_BUS_ADDRESS");
                if (e && *e)
                        snprintf(buf, size, "the session bus (%s)", e);
                else
                        snprintf(buf, size, "the session bus (unix:path=%s/bus)", strempty(getenv("XDG_RUNTIME_DIR")));
                break;
        case CTL_BUS_ADDRESS:
                snprintf(buf, size, "the bus at %s", strempty(address));
                break;
        case CTL_BUS_REMOTE:
                snprintf(buf, size, "the system bus of %s (over ssh, through systemd-stdio-bridge)", strempty(address));
                break;
        default:
                snprintf(buf, size, "the bus");
        }
        return buf;
}

int ctl_bus_open(CtlBusKind kind, const char *address, bool interactive, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        assert(ret);

        switch (kind) {
        case CTL_BUS_SYSTEM:
                r = bus_open_spec("system", &bus);
                break;
        case CTL_BUS_SESSION:
                r = bus_open_spec("session", &bus);
                break;
        case CTL_BUS_ADDRESS:
                r = bus_open_address(address, &bus);
                break;
        case CTL_BUS_REMOTE:
                /* ssh -xT HOST systemd-stdio-bridge, as systemctl -H does. */
                r = sd_bus_open_system_remote(&bus, address);
                break;
        default:
                return -EINVAL;
        }
        if (r < 0)
                return r;

        r = sd_bus_set_allow_interactive_authorization(bus, interactive);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(bus);
        return 0;
}

typedef enum PropType {
        PROP_STRING,
        PROP_BOOL,
        PROP_UINT16,
        PROP_INT32,
        PROP_STRV,
        PROP_UINT64,
} PropType;

typedef struct PropSpec {
        const char *name;
        PropType type;
        size_t offset;
} PropSpec;

static const char *const prop_signatures[] = {
        [PROP_STRING] = "s",
        [PROP_BOOL] = "b",
        [PROP_UINT16] = "q",
        [PROP_INT32] = "i",
        [PROP_STRV] = "as",
        [PROP_UINT64] = "t",
};

static const PropSpec manager_props[] = {
        { "Version", PROP_STRING, offsetof(CtlHost, version) },
        { "HostTee", PROP_STRING, offsetof(CtlHost, host_tee) },
        { "DefaultMode", PROP_STRING, offsetof(CtlHost, default_mode) },
        { "Mode", PROP_STRING, offsetof(CtlHost, mode) },
        { "ModeState", PROP_STRING, offsetof(CtlHost, mode_state) },
        { "LastError", PROP_STRING, offsetof(CtlHost, last_error) },
        { "CcCapable", PROP_BOOL, offsetof(CtlHost, cc_capable) },
};

static const PropSpec gpu_props[] = {
        { "Address", PROP_STRING, offsetof(CtlDevice, address) },
        { "VendorId", PROP_UINT16, offsetof(CtlDevice, vendor_id) },
        { "DeviceId", PROP_UINT16, offsetof(CtlDevice, device_id) },
        { "Name", PROP_STRING, offsetof(CtlDevice, name) },
        { "Kind", PROP_STRING, offsetof(CtlDevice, kind) },
        { "Architecture", PROP_STRING, offsetof(CtlDevice, architecture) },
        { "CcCapable", PROP_BOOL, offsetof(CtlDevice, cc_capable) },
        { "PpcieCapable", PROP_BOOL, offsetof(CtlDevice, ppcie_capable) },
        { "CcMode", PROP_STRING, offsetof(CtlDevice, cc_mode) },
        { "PpcieMode", PROP_STRING, offsetof(CtlDevice, ppcie_mode) },
        { "Driver", PROP_STRING, offsetof(CtlDevice, driver) },
        { "IommuGroup", PROP_INT32, offsetof(CtlDevice, iommu_group) },
        { "GroupMembers", PROP_STRV, offsetof(CtlDevice, group_members) },
        { "VfioDevice", PROP_STRING, offsetof(CtlDevice, vfio_device) },
        { "VfioCdev", PROP_STRING, offsetof(CtlDevice, vfio_cdev) },
        { "NumaNode", PROP_INT32, offsetof(CtlDevice, numa_node) },
};

static const PropSpec runtime_class_props[] = {
        { "Name", PROP_STRING, offsetof(CtlRuntimeClass, name) },
        { "Reference", PROP_STRING, offsetof(CtlRuntimeClass, reference) },
        { "Digest", PROP_STRING, offsetof(CtlRuntimeClass, digest) },
        { "Directory", PROP_STRING, offsetof(CtlRuntimeClass, directory) },
        { "Files", PROP_STRV, offsetof(CtlRuntimeClass, files) },
        { "ContainerdHandler", PROP_STRING, offsetof(CtlRuntimeClass, containerd_handler) },
        { "InstalledAt", PROP_UINT64, offsetof(CtlRuntimeClass, installed_at) },
};

static const PropSpec *prop_lookup(const PropSpec *specs, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(specs[i].name, name))
                        return &specs[i];
        return NULL;
}

/* Reads the value of a variant whose signature was checked. */
static int read_value(sd_bus_message *m, const PropSpec *p, void *target) {
        void *field = (uint8_t *) target + p->offset;
        int r;

        switch (p->type) {
        case PROP_STRING: {
                const char *s;
                char *copy;

                r = sd_bus_message_read_basic(m, 's', &s);
                if (r < 0)
                        return r;
                copy = strdup(s);
                if (!copy)
                        return -ENOMEM;
                free(*(char **) field);
                *(char **) field = copy;
                return 0;
        }
        case PROP_BOOL: {
                int b;

                r = sd_bus_message_read_basic(m, 'b', &b);
                if (r < 0)
                        return r;
                *(bool *) field = b;
                return 0;
        }
        case PROP_UINT16:
                return sd_bus_message_read_basic(m, 'q', field);
        case PROP_INT32:
                return sd_bus_message_read_basic(m, 'i', field);
        case PROP_UINT64:
                return sd_bus_message_read_basic(m, 't', field);
        case PROP_STRV: {
                char **l = NULL;

                r = sd_bus_message_read_strv(m, &l);
                if (r < 0)
                        return r;
                ctl_strv_free(*(char ***) field);
                *(char ***) field = l;
                return 0;
        }
        }
        return -EINVAL;
}

/* Reads an a{sv} of properties into target.  Properties this release does
 * not know are skipped, so a newer daemon still works with it. */
static int read_properties(sd_bus_message *m, const char *interface, const PropSpec *specs, size_t n, void *target,
                           sd_bus_error *error) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *name, *contents;
                const PropSpec *p;

                r = sd_bus_message_read_basic(m, 's', &name);
                if (r < 0)
                        return r;
                p = prop_lookup(specs, n, name);
                if (!p)
                        r = sd_bus_message_skip(m, "v");
                else {
                        r = sd_bus_message_peek_type(m, NULL, &contents);
                        if (r < 0)
                                return r;
                        if (!streq(contents, prop_signatures[p->type]))
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_SIGNATURE,
                                                         "%s.%s has type \"%s\", expected \"%s\"", interface, name,
                                                         contents, prop_signatures[p->type]);
                        r = sd_bus_message_enter_container(m, 'v', contents);
                        if (r < 0)
                                return r;
                        r = read_value(m, p, target);
                        if (r < 0)
                                return r;
                        r = sd_bus_message_exit_container(m);
                }
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

/* The interfaces of one object: a{sa{sv}}. */
static int read_object(sd_bus_message *m, const char *path, CtlHost *host, sd_bus_error *error) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sa{sv}}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sa{sv}")) > 0) {
                const char *interface;

                r = sd_bus_message_read_basic(m, 's', &interface);
                if (r < 0)
                        return r;

                if (streq(interface, CTL_MANAGER_INTERFACE) && streq(path, CTL_MANAGER_PATH)) {
                        r = read_properties(m, interface, manager_props, ELEMENTSOF(manager_props), host, error);
                        host->have_manager = true;
                } else if (streq(interface, CTL_GPU_INTERFACE)) {
                        CtlDevice *d = ctl_host_add_device(host);

                        if (!d)
                                return -ENOMEM;
                        d->object_path = strdup(path);
                        if (!d->object_path)
                                return -ENOMEM;
                        r = read_properties(m, interface, gpu_props, ELEMENTSOF(gpu_props), d, error);
                } else if (streq(interface, CTL_RUNTIME_CLASS_INTERFACE)) {
                        CtlRuntimeClass *rc = ctl_host_add_runtime_class(host);

                        if (!rc)
                                return -ENOMEM;
                        rc->object_path = strdup(path);
                        if (!rc->object_path)
                                return -ENOMEM;
                        r = read_properties(m, interface, runtime_class_props, ELEMENTSOF(runtime_class_props), rc,
                                            error);
                } else
                        r = sd_bus_message_skip(m, "a{sv}");
                if (r < 0)
                        return r;

                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

/* sd-bus's object manager lists the objects below it, not the one it sits
 * on, so the Manager's properties take one GetAll() (skipped should a
 * daemon ever list the Manager too). */
static int read_manager(sd_bus *bus, CtlHost *host, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, CTL_SERVICE, CTL_MANAGER_PATH, "org.freedesktop.DBus.Properties",
                                           "GetAll");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", CTL_MANAGER_INTERFACE);
        if (r < 0)
                return r;
        r = call(bus, m, CTL_READ_TIMEOUT_SEC, error, &reply);
        if (r < 0)
                return r;
        r = read_properties(reply, CTL_MANAGER_INTERFACE, manager_props, ELEMENTSOF(manager_props), host, error);
        if (r < 0)
                return r;
        host->have_manager = true;
        return 0;
}

int ctl_bus_read_host(sd_bus *bus, CtlHost *host, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        assert(bus);
        assert(host);

        r = sd_bus_message_new_method_call(bus, &m, CTL_SERVICE, CTL_MANAGER_PATH, "org.freedesktop.DBus.ObjectManager",
                                           "GetManagedObjects");
        if (r < 0)
                return r;
        r = call(bus, m, CTL_READ_TIMEOUT_SEC, error, &reply);
        if (r < 0)
                return r;

        r = sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}")) > 0) {
                const char *path;

                r = sd_bus_message_read_basic(reply, 'o', &path);
                if (r < 0)
                        return r;
                r = read_object(reply, path, host, error);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(reply);
        if (r < 0)
                return r;

        if (!host->have_manager) {
                r = read_manager(bus, host, error);
                if (r < 0)
                        return r;
        }

        ctl_host_sort_devices(host);
        ctl_host_sort_runtime_classes(host);
        return 0;
}

int ctl_bus_set_mode(sd_bus *bus, const char *gpu, const char *mode, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        assert(bus);
        assert(mode);

        if (gpu && *gpu) {
                r = sd_bus_path_encode(CTL_GPU_PATH_PREFIX, gpu, &path);
                if (r < 0)
                        return r;
                r = sd_bus_message_new_method_call(bus, &m, CTL_SERVICE, path, CTL_GPU_INTERFACE, "SetMode");
        } else
                r = sd_bus_message_new_method_call(bus, &m, CTL_SERVICE, CTL_MANAGER_PATH, CTL_MANAGER_INTERFACE,
                                                   "SetMode");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", mode);
        if (r < 0)
                return r;

        return call(bus, m, CTL_SET_MODE_TIMEOUT_SEC, error, NULL);
}

int ctl_bus_vfio(sd_bus *bus, bool bind, const char (*addresses)[CTL_BDF_MAX], size_t n, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        assert(bus);
        assert(addresses || n == 0);

        r = sd_bus_message_new_method_call(bus, &m, CTL_SERVICE, CTL_MANAGER_PATH, CTL_MANAGER_INTERFACE,
                                           bind ? "BindVfio" : "UnbindVfio");
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'a', "s");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_bus_message_append(m, "s", addresses[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;

        return call(bus, m, CTL_VFIO_TIMEOUT_SEC, error, NULL);
}

/* One {sv} of a plan step whose key is read: the value into the step. */
static int read_step_value(sd_bus_message *m, const char *key, CtlPlanStep *s, sd_bus_error *error) {
        static const struct {
                const char *key;
                const char *type;
        } keys[] = {
                { "Device", "s" }, { "Action", "s" }, { "Driver", "s" }, { "Reason", "s" }, { "VfioDriver", "s" },
                { "Holders", "a(us)" }, { "Group", "i" }, { "Members", "as" },
        };
        const char *contents, *type = NULL;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (streq(keys[i].key, key))
                        type = keys[i].type;
        if (!type)
                return sd_bus_message_skip(m, "v");
        r = sd_bus_message_peek_type(m, NULL, &contents);
        if (r < 0)
                return r;
        if (!streq(contents, type))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_SIGNATURE, "plan step key %s has type \"%s\", expected \"%s\"",
                                         key, contents, type);
        r = sd_bus_message_enter_container(m, 'v', contents);
        if (r < 0)
                return r;

        if (streq(type, "s")) {
                char **field = streq(key, "Device") ? &s->device : streq(key, "Action") ? &s->action
                             : streq(key, "Driver") ? &s->driver : streq(key, "Reason") ? &s->reason : &s->vfio_driver;
                const char *v;

                r = sd_bus_message_read_basic(m, 's', &v);
                if (r >= 0) {
                        free(*field);
                        *field = strdup(v);
                        r = *field ? 0 : -ENOMEM;
                }
                if (r >= 0 && field == &s->vfio_driver)
                        s->vfio = true;
        } else if (streq(type, "i")) {
                r = sd_bus_message_read_basic(m, 'i', &s->group);
                s->vfio = true;
        } else if (streq(type, "as")) {
                ctl_strv_free(s->members);
                s->members = NULL;
                r = sd_bus_message_read_strv(m, &s->members);
                s->vfio = true;
        } else {
                uint32_t pid;
                const char *command;

                r = sd_bus_message_enter_container(m, 'a', "(us)");
                while (r >= 0 && (r = sd_bus_message_read(m, "(us)", &pid, &command)) > 0)
                        r = ctl_plan_step_add_holder(s, pid, command);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int read_plan(sd_bus_message *m, CtlPlan *plan, sd_bus_error *error) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "a{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'a', "{sv}")) > 0) {
                CtlPlanStep *s = ctl_plan_add_step(plan);

                if (!s)
                        return -ENOMEM;
                while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                        const char *key;

                        r = sd_bus_message_read_basic(m, 's', &key);
                        if (r >= 0)
                                r = read_step_value(m, key, s, error);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                        if (r < 0)
                                return r;
                }
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

int ctl_bus_plan(sd_bus *bus, bool vfio, const char *mode, const char (*addresses)[CTL_BDF_MAX], size_t n,
                 CtlPlan *plan, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        assert(bus);
        assert(vfio || mode);
        assert(addresses || n == 0);
        assert(plan);

        r = sd_bus_message_new_method_call(bus, &m, CTL_SERVICE, CTL_MANAGER_PATH, CTL_MANAGER_INTERFACE,
                                           vfio ? "PlanBindVfio" : "PlanSetMode");
        if (r < 0)
                return r;
        if (vfio) {
                r = sd_bus_message_open_container(m, 'a', "s");
                for (size_t i = 0; r >= 0 && i < n; i++)
                        r = sd_bus_message_append(m, "s", addresses[i]);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        } else
                r = sd_bus_message_append(m, "s", mode);
        if (r < 0)
                return r;

        /* A plan reads, but may wait for polkit to ask for a password. */
        r = call(bus, m, CTL_SET_MODE_TIMEOUT_SEC, error, &reply);
        if (r < 0)
                return r;
        return read_plan(reply, plan, error);
}
