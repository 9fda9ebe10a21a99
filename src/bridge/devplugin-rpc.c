/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <glib.h>
#include <stdarg.h>

#include "deviceplugin.pb-c.h"
#include "devplugin-rpc.h"
#include "macro.h"

#define DP_API_VERSION "v1beta1"

void grpc_reply_done(GrpcReply *r) {
        g_free(r->message);
        g_free(r->data);
        *r = (GrpcReply) {};
}

GrpcStatus grpc_reply_error(GrpcReply *r, GrpcStatus status, const char *fmt, ...) {
        va_list ap;

        grpc_reply_done(r);
        r->status = status;
        va_start(ap, fmt);
        r->message = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        return status;
}

/* Packs m into the reply. */
static GrpcStatus reply_message(GrpcReply *r, const ProtobufCMessage *m) {
        size_t n = protobuf_c_message_get_packed_size(m);

        grpc_reply_done(r);
        r->data = g_malloc(n + 1); /* + 1: an empty message is a valid buffer */
        r->size = protobuf_c_message_pack(m, r->data);
        assert(r->size == n);
        r->status = GRPC_STATUS_OK;
        return GRPC_STATUS_OK;
}

#define UNPACK(type, prefix, req, size, reply, what)                                                   \
        ({                                                                                             \
                type *_m = prefix##__unpack(NULL, (size), (req));                                      \
                if (!_m)                                                                               \
                        grpc_reply_error((reply), GRPC_STATUS_INVALID_ARGUMENT,                        \
                                         "the %s does not decode as %s", (what), #type);              \
                _m;                                                                                    \
        })

GrpcStatus dp_rpc_get_device_plugin_options(const uint8_t *req, size_t size, GrpcReply *reply) {
        V1beta1__Empty *in = UNPACK(V1beta1__Empty, v1beta1__empty, req, size, reply, "request");
        V1beta1__DevicePluginOptions out = V1BETA1__DEVICE_PLUGIN_OPTIONS__INIT;

        if (!in)
                return reply->status;
        v1beta1__empty__free_unpacked(in, NULL);
        out.pre_start_required = false;
        out.get_preferred_allocation_available = true;
        return reply_message(reply, &out.base);
}

GrpcStatus dp_rpc_list_and_watch_request(const uint8_t *req, size_t size, GrpcReply *reply) {
        V1beta1__Empty *in = UNPACK(V1beta1__Empty, v1beta1__empty, req, size, reply, "request");

        if (!in)
                return reply->status;
        v1beta1__empty__free_unpacked(in, NULL);
        reply->status = GRPC_STATUS_OK;
        return GRPC_STATUS_OK;
}

GrpcStatus dp_rpc_pre_start_container(const DpResource *r, const uint8_t *req, size_t size, GrpcReply *reply) {
        V1beta1__PreStartContainerRequest *in =
                UNPACK(V1beta1__PreStartContainerRequest, v1beta1__pre_start_container_request, req, size, reply,
                       "request");
        V1beta1__PreStartContainerResponse out = V1BETA1__PRE_START_CONTAINER_RESPONSE__INIT;

        if (!in)
                return reply->status;
        /* Options say pre_start_required=false: kubelet does not call it,
         * and there is nothing to prepare. */
        v1beta1__pre_start_container_request__free_unpacked(in, NULL);
        return reply_message(reply, &out.base);
}

GrpcStatus dp_rpc_get_preferred_allocation(const DpResource *r, const uint8_t *req, size_t size,
                                           GrpcReply *reply) {
        V1beta1__PreferredAllocationRequest *in =
                UNPACK(V1beta1__PreferredAllocationRequest, v1beta1__preferred_allocation_request, req, size,
                       reply, "request");
        V1beta1__PreferredAllocationResponse out = V1BETA1__PREFERRED_ALLOCATION_RESPONSE__INIT;
        V1beta1__ContainerPreferredAllocationResponse *containers = NULL, **ptrs = NULL;
        char ***chosen = NULL;
        size_t n = 0;

        if (!in)
                return reply->status;
        n = in->n_container_requests;
        containers = g_new0(V1beta1__ContainerPreferredAllocationResponse, n + 1);
        ptrs = g_new0(V1beta1__ContainerPreferredAllocationResponse *, n + 1);
        chosen = g_new0(char **, n + 1);
        for (size_t i = 0; i < n; i++) {
                const V1beta1__ContainerPreferredAllocationRequest *c = in->container_requests[i];
                g_autofree char *error = NULL;

                if (dp_preferred_allocation(r, c->available_deviceids, c->n_available_deviceids,
                                            c->must_include_deviceids, c->n_must_include_deviceids,
                                            c->allocation_size, &chosen[i], &error) < 0) {
                        grpc_reply_error(reply, GRPC_STATUS_INVALID_ARGUMENT, "container %zu: %s", i, error);
                        goto out;
                }
                v1beta1__container_preferred_allocation_response__init(&containers[i]);
                containers[i].deviceids = chosen[i];
                containers[i].n_deviceids = g_strv_length(chosen[i]);
                ptrs[i] = &containers[i];
        }
        out.container_responses = ptrs;
        out.n_container_responses = n;
        reply_message(reply, &out.base);
out:
        for (size_t i = 0; i < n; i++)
                g_strfreev(chosen[i]);
        g_free(chosen);
        g_free(ptrs);
        g_free(containers);
        v1beta1__preferred_allocation_request__free_unpacked(in, NULL);
        return reply->status;
}

typedef struct ContainerOut {
        V1beta1__ContainerAllocateResponse msg;
        V1beta1__DeviceSpec *specs;
        V1beta1__DeviceSpec **spec_ptrs;
        V1beta1__CDIDevice *cdi;
        V1beta1__CDIDevice **cdi_ptrs;
        char **nodes;
        char **cdi_names;
} ContainerOut;

GrpcStatus dp_rpc_allocate(const DpResource *r, const uint8_t *req, size_t size, GrpcReply *reply) {
        V1beta1__AllocateRequest *in =
                UNPACK(V1beta1__AllocateRequest, v1beta1__allocate_request, req, size, reply, "request");
        V1beta1__AllocateResponse out = V1BETA1__ALLOCATE_RESPONSE__INIT;
        V1beta1__ContainerAllocateResponse **ptrs = NULL;
        ContainerOut *c = NULL;
        size_t n = 0;

        if (!in)
                return reply->status;
        n = in->n_container_requests;
        c = g_new0(ContainerOut, n + 1);
        ptrs = g_new0(V1beta1__ContainerAllocateResponse *, n + 1);
        for (size_t i = 0; i < n; i++) {
                const V1beta1__ContainerAllocateRequest *cr = in->container_requests[i];
                g_autofree char *error = NULL;
                size_t n_nodes, n_cdi;
                int k;

                k = dp_allocate(r, cr->devices_ids, cr->n_devices_ids, &c[i].nodes, &c[i].cdi_names, &error);
                if (k < 0) {
                        grpc_reply_error(reply,
                                         k == -ENOENT   ? GRPC_STATUS_NOT_FOUND
                                         : k == -EAGAIN ? GRPC_STATUS_FAILED_PRECONDITION
                                                        : GRPC_STATUS_INVALID_ARGUMENT,
                                         "%s", error);
                        goto out;
                }
                n_nodes = g_strv_length(c[i].nodes);
                n_cdi = g_strv_length(c[i].cdi_names);
                v1beta1__container_allocate_response__init(&c[i].msg);
                c[i].specs = g_new0(V1beta1__DeviceSpec, n_nodes + 1);
                c[i].spec_ptrs = g_new0(V1beta1__DeviceSpec *, n_nodes + 1);
                for (size_t j = 0; j < n_nodes; j++) {
                        v1beta1__device_spec__init(&c[i].specs[j]);
                        c[i].specs[j].container_path = c[i].nodes[j];
                        c[i].specs[j].host_path = c[i].nodes[j];
                        c[i].specs[j].permissions = (char *) DP_PERMISSIONS;
                        c[i].spec_ptrs[j] = &c[i].specs[j];
                }
                c[i].cdi = g_new0(V1beta1__CDIDevice, n_cdi + 1);
                c[i].cdi_ptrs = g_new0(V1beta1__CDIDevice *, n_cdi + 1);
                for (size_t j = 0; j < n_cdi; j++) {
                        v1beta1__cdidevice__init(&c[i].cdi[j]);
                        c[i].cdi[j].name = c[i].cdi_names[j];
                        c[i].cdi_ptrs[j] = &c[i].cdi[j];
                }
                c[i].msg.devices = c[i].spec_ptrs;
                c[i].msg.n_devices = n_nodes;
                c[i].msg.cdi_devices = c[i].cdi_ptrs;
                c[i].msg.n_cdi_devices = n_cdi;
                ptrs[i] = &c[i].msg;
        }
        out.container_responses = ptrs;
        out.n_container_responses = n;
        reply_message(reply, &out.base);
out:
        for (size_t i = 0; i < n; i++) {
                g_free(c[i].specs);
                g_free(c[i].spec_ptrs);
                g_free(c[i].cdi);
                g_free(c[i].cdi_ptrs);
                g_strfreev(c[i].nodes);
                g_strfreev(c[i].cdi_names);
        }
        g_free(c);
        g_free(ptrs);
        v1beta1__allocate_request__free_unpacked(in, NULL);
        return reply->status;
}

int dp_rpc_list_and_watch_response(const DpResource *r, uint8_t **ret, size_t *ret_size) {
        V1beta1__ListAndWatchResponse out = V1BETA1__LIST_AND_WATCH_RESPONSE__INIT;
        size_t n = r->n_devices;
        g_autofree V1beta1__Device *devices = g_new0(V1beta1__Device, n + 1);
        g_autofree V1beta1__Device **ptrs = g_new0(V1beta1__Device *, n + 1);
        g_autofree V1beta1__TopologyInfo *topo = g_new0(V1beta1__TopologyInfo, n + 1);
        g_autofree V1beta1__NUMANode *numa = g_new0(V1beta1__NUMANode, n + 1);
        g_autofree V1beta1__NUMANode **numa_ptrs = g_new0(V1beta1__NUMANode *, n + 1);
        size_t size;

        for (size_t i = 0; i < n; i++) {
                const DpDevice *d = &r->devices[i];

                v1beta1__device__init(&devices[i]);
                devices[i].id = (char *) d->id;
                devices[i].health = (char *) (d->healthy ? DP_HEALTHY : DP_UNHEALTHY);
                if (d->numa_node >= 0) {
                        v1beta1__topology_info__init(&topo[i]);
                        v1beta1__numanode__init(&numa[i]);
                        numa[i].id = d->numa_node;
                        numa_ptrs[i] = &numa[i];
                        topo[i].nodes = &numa_ptrs[i];
                        topo[i].n_nodes = 1;
                        devices[i].topology = &topo[i];
                }
                ptrs[i] = &devices[i];
        }
        out.devices = ptrs;
        out.n_devices = n;
        size = protobuf_c_message_get_packed_size(&out.base);
        *ret = g_malloc(size + 1);
        *ret_size = protobuf_c_message_pack(&out.base, *ret);
        return 0;
}

int dp_rpc_register_request(const char *endpoint, const char *resource_name, uint8_t **ret, size_t *ret_size) {
        V1beta1__RegisterRequest out = V1BETA1__REGISTER_REQUEST__INIT;
        V1beta1__DevicePluginOptions options = V1BETA1__DEVICE_PLUGIN_OPTIONS__INIT;
        size_t size;

        options.pre_start_required = false;
        options.get_preferred_allocation_available = true;
        out.version = (char *) DP_API_VERSION;
        out.endpoint = (char *) endpoint;
        out.resource_name = (char *) resource_name;
        out.options = &options;
        size = protobuf_c_message_get_packed_size(&out.base);
        *ret = g_malloc(size + 1);
        *ret_size = protobuf_c_message_pack(&out.base, *ret);
        return 0;
}

int dp_rpc_register_response(const uint8_t *data, size_t size) {
        V1beta1__Empty *m = v1beta1__empty__unpack(NULL, size, data);

        if (!m)
                return -EBADMSG;
        v1beta1__empty__free_unpacked(m, NULL);
        return 0;
}
