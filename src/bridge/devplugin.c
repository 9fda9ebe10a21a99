/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <glib.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "backoff.h"
#include "ccd-gpus.h"
#include "devplugin-model.h"
#include "devplugin-rpc.h"
#include "devplugin.h"
#include "grpc.h"
#include "log.h"
#include "macro.h"
#include "message-ids.h"
#include "time-util.h"

#define REGISTER_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define RETRY_INITIAL_USEC (1 * USEC_PER_SEC)
#define RETRY_MAX_USEC (30 * USEC_PER_SEC)

typedef struct Resource Resource;

struct DevicePlugin {
        sd_event *event;
        char *dir;
        char *kubelet_socket;
        char *resource_name;
        char *nvswitch_resource_name;
        CcdGpus *gpus;
        GPtrArray *resources;     /* Resource, in the order they appeared */
        sd_event_source *update;  /* rebuild the devices and tell the streams */
        sd_event_source *inotify;
        bool gate_closed;         /* offer no device until the mode is verified */
};

struct Resource {
        DevicePlugin *plugin;
        char *name;
        char *socket_name;
        char *socket_path;
        ino_t socket_ino;
        GrpcServer *server;
        DpResource current;       /* what the streams were last sent */
        GList *streams;           /* GrpcStream: open ListAndWatch calls */
        GrpcCall *register_call;
        sd_event_source *retry;
        Backoff backoff;
        bool registered;
};

static void resource_register(Resource *res);

/* ------------------------------------------------------------ the methods */

static GrpcStatus on_get_options(void *userdata, const uint8_t *req, size_t size, GrpcReply *reply) {
        return dp_rpc_get_device_plugin_options(req, size, reply);
}

static GrpcStatus on_preferred(void *userdata, const uint8_t *req, size_t size, GrpcReply *reply) {
        Resource *res = userdata;
        return dp_rpc_get_preferred_allocation(&res->current, req, size, reply);
}

static GrpcStatus on_allocate(void *userdata, const uint8_t *req, size_t size, GrpcReply *reply) {
        Resource *res = userdata;
        GrpcStatus s = dp_rpc_allocate(&res->current, req, size, reply);

        if (s != GRPC_STATUS_OK)
                log_warning("%s: Allocate refused: %s", res->name, reply->message);
        return s;
}

static GrpcStatus on_pre_start(void *userdata, const uint8_t *req, size_t size, GrpcReply *reply) {
        Resource *res = userdata;
        return dp_rpc_pre_start_container(&res->current, req, size, reply);
}

static void stream_send_current(Resource *res, GrpcStream *stream) {
        g_autofree uint8_t *data = NULL;
        size_t size;

        /* Each list is whole: an older one not yet sent is of no use. */
        if (dp_rpc_list_and_watch_response(&res->current, &data, &size) >= 0)
                (void) grpc_stream_send(stream, data, size, true);
}

static GrpcStatus on_list_and_watch(void *userdata, GrpcStream *stream, const uint8_t *req, size_t size,
                                    GrpcReply *reply) {
        Resource *res = userdata;
        GrpcStatus s = dp_rpc_list_and_watch_request(req, size, reply);

        if (s != GRPC_STATUS_OK)
                return s;
        res->streams = g_list_prepend(res->streams, stream);
        log_debug("%s: ListAndWatch opened (%u open)", res->name, g_list_length(res->streams));
        stream_send_current(res, stream);
        return GRPC_STATUS_OK;
}

static void on_stream_closed(void *userdata, GrpcStream *stream) {
        Resource *res = userdata;

        res->streams = g_list_remove(res->streams, stream);
        log_debug("%s: ListAndWatch closed (%u open)", res->name, g_list_length(res->streams));
}

static const GrpcMethod methods[] = {
        { "/v1beta1.DevicePlugin/GetDevicePluginOptions", .unary = on_get_options },
        { "/v1beta1.DevicePlugin/ListAndWatch", .stream = on_list_and_watch },
        { "/v1beta1.DevicePlugin/GetPreferredAllocation", .unary = on_preferred },
        { "/v1beta1.DevicePlugin/Allocate", .unary = on_allocate },
        { "/v1beta1.DevicePlugin/PreStartContainer", .unary = on_pre_start },
};

/* ------------------------------------------------------------ serving */

static int listen_unix(const char *path, ino_t *ret_ino) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct stat st;
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* A socket left by an earlier run is ours to replace. */
        if (unlink(path) < 0 && errno != ENOENT)
                goto fail;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, SOMAXCONN) < 0 ||
            stat(path, &st) < 0)
                goto fail;
        *ret_ino = st.st_ino;
        return fd;
fail:;
        int r = -errno;
        close(fd);
        return r;
}

/* Whether the socket file is still the one this server listens on. */
static bool socket_is_ours(const Resource *res) {
        struct stat st;

        return res->server && stat(res->socket_path, &st) >= 0 && S_ISSOCK(st.st_mode) &&
               st.st_ino == res->socket_ino;
}

static void resource_stop_serving(Resource *res) {
        /* Its streams end with it (on_stream_closed takes them off). */
        res->server = grpc_server_free(res->server);
        assert(!res->streams);
}

static int resource_serve(Resource *res) {
        int fd, r;

        resource_stop_serving(res);
        fd = listen_unix(res->socket_path, &res->socket_ino);
        if (fd < 0) {
                log_error("%s: cannot serve on %s: %s", res->name, res->socket_path, strerror(-fd));
                return fd;
        }
        r = grpc_server_new(res->plugin->event, fd, methods, ELEMENTSOF(methods), on_stream_closed, res,
                            &res->server);
        if (r < 0) {
                log_error("%s: cannot serve on %s: %s", res->name, res->socket_path, strerror(-r));
                (void) unlink(res->socket_path);
                return r;
        }
        log_info("%s: serving on %s", res->name, res->socket_path);
        return 0;
}

/* ------------------------------------------------------------ registering */

static void schedule_retry(Resource *res) {
        uint64_t now, delay = backoff_next(&res->backoff);

        (void) sd_event_now(res->plugin->event, CLOCK_MONOTONIC, &now);
        if (sd_event_source_set_time(res->retry, now + delay) < 0 ||
            sd_event_source_set_enabled(res->retry, SD_EVENT_ONESHOT) < 0)
                log_error("%s: cannot arm the registration retry", res->name);
}

static void register_done(GrpcCall *call, GrpcStatus status, const char *message, const uint8_t *response,
                          size_t size, void *userdata) {
        Resource *res = userdata;

        /* message and response belong to the call: freed at the end. */
        if (status == GRPC_STATUS_OK && dp_rpc_register_response(response, size) < 0) {
                status = GRPC_STATUS_INTERNAL;
                message = "the answer is not an Empty message";
        }
        if (status != GRPC_STATUS_OK) {
                log_warning("%s: kubelet refused the registration (status %u): %s", res->name, status,
                            strempty(message));
                res->register_call = grpc_call_free(call);
                schedule_retry(res);
                return;
        }
        res->register_call = grpc_call_free(call);
        log_struct(LOG_INFO,
                   LOG_MESSAGE_ID(CC_MESSAGE_BRIDGE_DEVICE_PLUGIN_REGISTERED),
                   "CC_RESOURCE=%s", res->name,
                   "CC_SOCKET=%s", res->socket_path,
                   LOG_MESSAGE("Device plugin for %s registered with kubelet (%zu device(s))", res->name,
                               res->current.n_devices),
                   NULL);
        res->registered = true;
        backoff_reset(&res->backoff);
}

static void resource_register(Resource *res) {
        g_autofree uint8_t *req = NULL;
        size_t size;
        int r;

        res->register_call = grpc_call_free(res->register_call);
        (void) sd_event_source_set_enabled(res->retry, SD_EVENT_OFF);
        res->registered = false;
        if (!res->server && resource_serve(res) < 0) {
                schedule_retry(res);
                return;
        }
        (void) dp_rpc_register_request(res->socket_name, res->name, &req, &size);
        r = grpc_call_unary(res->plugin->event, res->plugin->kubelet_socket, "/v1beta1.Registration/Register", req,
                            size, REGISTER_TIMEOUT_USEC, register_done, res, &res->register_call);
        if (r == -ENOENT) {
                /* No kubelet yet: its socket's creation is seen by inotify. */
                log_info("%s: waiting for %s", res->name, res->plugin->kubelet_socket);
                return;
        }
        if (r < 0) {
                /* A starting kubelet binds its socket before it listens. */
                log_full(r == -ECONNREFUSED ? LOG_INFO : LOG_WARNING, "%s: cannot reach %s: %s; trying again",
                         res->name, res->plugin->kubelet_socket, strerror(-r));
                schedule_retry(res);
        }
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        resource_register(userdata);
        return 0;
}

/* ------------------------------------------------------------ resources */

static Resource *resource_free(Resource *res) {
        if (!res)
                return NULL;
        res->register_call = grpc_call_free(res->register_call);
        sd_event_source_disable_unref(res->retry);
        if (socket_is_ours(res))
                (void) unlink(res->socket_path);
        resource_stop_serving(res);
        dp_resource_done(&res->current);
        g_free(res->name);
        g_free(res->socket_name);
        g_free(res->socket_path);
        g_free(res);
        return NULL;
}

static Resource *resource_find(DevicePlugin *p, const char *name) {
        for (guint i = 0; i < p->resources->len; i++) {
                Resource *res = p->resources->pdata[i];
                if (streq(res->name, name))
                        return res;
        }
        return NULL;
}

static int resource_new(DevicePlugin *p, const char *name, Resource **ret) {
        Resource *res = g_new0(Resource, 1);
        int r;

        res->plugin = p;
        res->name = g_strdup(name);
        res->current.name = g_strdup(name);
        /* nvidia.com/pgpu -> nvidia-cc-nvidia.com-pgpu.sock */
        res->socket_name = g_strdup_printf("nvidia-cc-%s.sock", name);
        g_strdelimit(res->socket_name, "/", '-');
        res->socket_path = g_build_filename(p->dir, res->socket_name, NULL);
        backoff_init(&res->backoff, RETRY_INITIAL_USEC, RETRY_MAX_USEC);
        r = sd_event_add_time(p->event, &res->retry, CLOCK_MONOTONIC, 0, 0, on_retry, res);
        if (r >= 0)
                r = sd_event_source_set_enabled(res->retry, SD_EVENT_OFF);
        if (r < 0) {
                resource_free(res);
                return r;
        }
        g_ptr_array_add(p->resources, res);
        *ret = res;
        return 0;
}

static size_t n_healthy(const DpResource *r) {
        size_t n = 0;

        for (size_t i = 0; i < r->n_devices; i++)
                n += r->devices[i].healthy;
        return n;
}

/* The devices changed: rebuild, and tell every stream of a resource whose
 * list differs.  A resource once offered stays (kubelet would keep it
 * anyway); one with no GPU left lists none. */
static int on_update(sd_event_source *s, void *userdata) {
        DevicePlugin *p = userdata;
        DpOptions options = {
                .resource_name = p->resource_name,
                .nvswitch_resource_name = p->nvswitch_resource_name,
                .daemon_present = ccd_gpus_present(p->gpus),
        };
        DpInventory *inv = NULL;
        DpGpu **gpus;
        size_t n;

        gpus = ccd_gpus_list(p->gpus, &n);
        if (p->gate_closed)
                n = 0;
        if (dp_inventory_build(gpus, n, &options, &inv) < 0) {
                log_error("cannot build the device list");
                return 0;
        }
        for (size_t i = 0; i < inv->n_resources; i++) {
                Resource *res = resource_find(p, inv->resources[i].name);

                if (!res) {
                        if (resource_new(p, inv->resources[i].name, &res) < 0) {
                                log_error("cannot set up %s", inv->resources[i].name);
                                continue;
                        }
                        if (!inv->resources[i].cdi)
                                log_warning("%s is not a valid CDI kind (a class begins with a letter): its "
                                            "devices are given without CDI names, which Kata cannot resolve; "
                                            "set a resource name (P_GPU_ALIAS)",
                                            res->name);
                        resource_register(res);
                }
        }
        for (guint i = 0; i < p->resources->len; i++) {
                Resource *res = p->resources->pdata[i];
                const DpResource *now = dp_inventory_find(inv, res->name);
                DpResource empty = { .name = res->name, .cdi = res->current.cdi };

                if (!now)
                        now = &empty;
                if (dp_resource_equal(&res->current, now))
                        continue;
                dp_resource_done(&res->current);
                dp_resource_copy(now, &res->current);
                log_info("%s: %zu device(s), %zu healthy", res->name, res->current.n_devices,
                         n_healthy(&res->current));
                for (GList *l = res->streams; l; l = l->next)
                        stream_send_current(res, l->data);
        }
        dp_inventory_free(inv);
        return 0;
}

static void on_gpus_changed(CcdGpus *g, void *userdata) {
        DevicePlugin *p = userdata;

        (void) sd_event_source_set_enabled(p->update, SD_EVENT_ONESHOT);
}

/* ------------------------------------------------------------ the directory */

static int on_dir_event(sd_event_source *s, const struct inotify_event *event, void *userdata) {
        DevicePlugin *p = userdata;
        bool kubelet_new = false;

        if (event->mask & IN_Q_OVERFLOW)
                kubelet_new = true; /* events were lost: check everything */
        else if (event->len > 0 && streq(event->name, KUBELET_SOCKET) &&
                 (event->mask & (IN_CREATE | IN_MOVED_TO)))
                kubelet_new = true;

        for (guint i = 0; i < p->resources->len; i++) {
                Resource *res = p->resources->pdata[i];
                bool gone = false;

                if ((event->mask & IN_Q_OVERFLOW) ||
                    (event->len > 0 && streq(event->name, res->socket_name) &&
                     (event->mask & (IN_DELETE | IN_MOVED_FROM | IN_CREATE | IN_MOVED_TO))))
                        /* Our own unlink before bind comes here too: only a
                         * socket that is not ours any more counts. */
                        gone = !socket_is_ours(res);
                if (gone) {
                        log_notice("%s: %s was removed; serving again", res->name, res->socket_path);
                        resource_stop_serving(res);
                }
                if (gone || kubelet_new) {
                        if (kubelet_new)
                                log_info("%s: kubelet (re)started; registering", res->name);
                        resource_register(res);
                }
        }
        return 0;
}

/* ------------------------------------------------------------ object */

int device_plugin_new(sd_event *event, sd_bus *bus, const DevicePluginOptions *o, DevicePlugin **ret) {
        DevicePlugin *p;
        int r;

        assert(event);
        assert(bus);
        assert(o);
        assert(o->dir);
        assert(ret);

        p = g_new0(DevicePlugin, 1);
        p->event = sd_event_ref(event);
        p->dir = g_strdup(o->dir);
        p->kubelet_socket = g_build_filename(o->dir, KUBELET_SOCKET, NULL);
        p->resource_name = g_strdup(o->resource_name);
        p->nvswitch_resource_name = g_strdup(o->nvswitch_resource_name);
        p->resources = g_ptr_array_new();
        r = ccd_gpus_new(bus, on_gpus_changed, p, &p->gpus);
        if (r >= 0)
                r = sd_event_add_defer(event, &p->update, on_update, p);
        if (r >= 0)
                r = sd_event_source_set_enabled(p->update, SD_EVENT_OFF);
        if (r < 0) {
                device_plugin_free(p);
                return r;
        }
        *ret = p;
        return 0;
}

int device_plugin_start(DevicePlugin *p) {
        int r;

        r = sd_event_add_inotify(p->event, &p->inotify, p->dir,
                                 IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR, on_dir_event, p);
        if (r < 0) {
                log_error("cannot watch the device plugin directory %s: %s", p->dir, strerror(-r));
                return r;
        }
        r = ccd_gpus_start(p->gpus);
        if (r < 0) {
                log_error("cannot follow the GPUs of nvidia-ccd: %s", strerror(-r));
                return r;
        }
        log_info("device plugin: %s in %s%s%s", p->resource_name ?: "one resource per GPU model", p->dir,
                 p->nvswitch_resource_name ? ", NVSwitches as " : "", strempty(p->nvswitch_resource_name));
        /* A fixed resource is offered at once, before the GPUs are read. */
        (void) sd_event_source_set_enabled(p->update, SD_EVENT_ONESHOT);
        return 0;
}

void device_plugin_set_gate(DevicePlugin *p, bool open) {
        if (p->gate_closed == !open)
                return;
        p->gate_closed = !open;
        log_info("device plugin: %s", open ? "the mode is verified; offering the devices"
                                           : "the mode is not verified; offering no device");
        (void) sd_event_source_set_enabled(p->update, SD_EVENT_ONESHOT);
}

DevicePlugin *device_plugin_free(DevicePlugin *p) {
        if (!p)
                return NULL;
        for (guint i = 0; p->resources && i < p->resources->len; i++)
                resource_free(p->resources->pdata[i]);
        if (p->resources)
                g_ptr_array_unref(p->resources);
        sd_event_source_disable_unref(p->update);
        sd_event_source_disable_unref(p->inotify);
        ccd_gpus_free(p->gpus);
        g_free(p->dir);
        g_free(p->kubelet_socket);
        g_free(p->resource_name);
        g_free(p->nvswitch_resource_name);
        sd_event_unref(p->event);
        g_free(p);
        return NULL;
}
