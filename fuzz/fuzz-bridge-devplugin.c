/* SPDX-License-Identifier: MIT */

/* The device plugin's requests (src/bridge/devplugin-rpc.c): the protobuf
 * decoding of every request it serves and the answer built from it, as
 * kubelet, or anything that can reach the socket, could send them.
 * Input: 1 byte choosing the method (and, bit 7, a resource that is no CDI
 * kind), then the request message.
 *
 * Checks: an answer is OK or an error with a message; an OK answer decodes
 * as its response type, and it says what was asked: Allocate has a
 * container per container asked for, each device spec "mrw" with the same
 * path inside and out, a CDI name "<resource>=<ID>" for each ID asked for
 * (none for a resource that is no CDI kind) and only healthy devices of
 * the resource; GetPreferredAllocation gives allocation_size distinct IDs,
 * the must-include ones first, all from what was offered; a request that
 * does not decode is INVALID_ARGUMENT; the options and PreStartContainer
 * answers are the constant ones. */

#include <glib.h>

#include "deviceplugin.pb-c.h"
#include "devplugin-model.h"
#include "devplugin-rpc.h"
#include "fuzz.h"
#include "macro.h"

enum {
        METHOD_OPTIONS,
        METHOD_LIST_AND_WATCH,
        METHOD_PREFERRED,
        METHOD_ALLOCATE,
        METHOD_PRE_START,
        METHOD_REGISTER_RESPONSE,
        N_METHODS,
};

/* Eight devices, IDs 1-8 on two NUMA nodes, 7 unhealthy, one without a
 * topology. */
static void make_resource(DpResource *r, bool cdi) {
        *r = (DpResource) { .name = g_strdup(cdi ? "nvidia.com/pgpu" : "nvidia.com/2901"), .cdi = cdi,
                            .devices = g_new0(DpDevice, 8), .n_devices = 8 };
        for (int i = 0; i < 8; i++) {
                DpDevice *d = &r->devices[i];

                snprintf(d->id, sizeof(d->id), "%d", i + 1);
                d->healthy = i != 6;
                d->numa_node = i == 5 ? -1 : i / 4;
                d->nodes = g_new0(char *, 3);
                d->nodes[0] = g_strdup("/dev/vfio/vfio");
                d->nodes[1] = g_strdup_printf("/dev/vfio/%d", i + 1);
        }
}

static bool in_list(char **l, size_t n, const char *s) {
        for (size_t i = 0; i < n; i++)
                if (streq(l[i], s))
                        return true;
        return false;
}

static void check_allocate(const DpResource *r, const uint8_t *req, size_t size, const GrpcReply *reply) {
        V1beta1__AllocateRequest *in = v1beta1__allocate_request__unpack(NULL, size, req);
        V1beta1__AllocateResponse *out;

        if (reply->status != GRPC_STATUS_OK) {
                if (in)
                        FUZZ_CHECK(reply->status == GRPC_STATUS_NOT_FOUND ||
                                   reply->status == GRPC_STATUS_FAILED_PRECONDITION ||
                                   reply->status == GRPC_STATUS_INVALID_ARGUMENT);
                v1beta1__allocate_request__free_unpacked(in, NULL);
                return;
        }
        FUZZ_CHECK(in);
        out = v1beta1__allocate_response__unpack(NULL, reply->size, reply->data);
        FUZZ_CHECK(out);
        FUZZ_CHECK(out->n_container_responses == in->n_container_requests);
        for (size_t c = 0; c < out->n_container_responses; c++) {
                const V1beta1__ContainerAllocateRequest *cr = in->container_requests[c];
                const V1beta1__ContainerAllocateResponse *co = out->container_responses[c];

                FUZZ_CHECK(co->n_envs == 0 && co->n_mounts == 0 && co->n_annotations == 0);
                for (size_t i = 0; i < cr->n_devices_ids; i++) {
                        const DpDevice *d = dp_resource_find(r, cr->devices_ids[i]);

                        FUZZ_CHECK(d && d->healthy);
                }
                for (size_t i = 0; i < co->n_devices; i++) {
                        FUZZ_CHECK(streq(co->devices[i]->permissions, "mrw"));
                        FUZZ_CHECK(streq(co->devices[i]->host_path, co->devices[i]->container_path));
                }
                FUZZ_CHECK(co->n_cdi_devices == (r->cdi ? cr->n_devices_ids : 0));
                for (size_t i = 0; i < co->n_cdi_devices; i++) {
                        g_autofree char *want = g_strdup_printf("%s=%s", r->name, cr->devices_ids[i]);

                        FUZZ_CHECK(streq(co->cdi_devices[i]->name, want));
                }
        }
        v1beta1__allocate_response__free_unpacked(out, NULL);
        v1beta1__allocate_request__free_unpacked(in, NULL);
}

static void check_preferred(const uint8_t *req, size_t size, const GrpcReply *reply) {
        V1beta1__PreferredAllocationRequest *in = v1beta1__preferred_allocation_request__unpack(NULL, size, req);
        V1beta1__PreferredAllocationResponse *out;

        if (reply->status != GRPC_STATUS_OK) {
                FUZZ_CHECK(reply->status == GRPC_STATUS_INVALID_ARGUMENT);
                v1beta1__preferred_allocation_request__free_unpacked(in, NULL);
                return;
        }
        FUZZ_CHECK(in);
        out = v1beta1__preferred_allocation_response__unpack(NULL, reply->size, reply->data);
        FUZZ_CHECK(out);
        FUZZ_CHECK(out->n_container_responses == in->n_container_requests);
        for (size_t c = 0; c < out->n_container_responses; c++) {
                const V1beta1__ContainerPreferredAllocationRequest *cr = in->container_requests[c];
                const V1beta1__ContainerPreferredAllocationResponse *co = out->container_responses[c];
                size_t k = 0;

                FUZZ_CHECK(cr->allocation_size >= 0 && co->n_deviceids == (size_t) cr->allocation_size);
                for (size_t i = 0; i < co->n_deviceids; i++) {
                        FUZZ_CHECK(!in_list(co->deviceids, i, co->deviceids[i]));
                        FUZZ_CHECK(in_list(cr->available_deviceids, cr->n_available_deviceids, co->deviceids[i]) ||
                                   in_list(cr->must_include_deviceids, cr->n_must_include_deviceids,
                                           co->deviceids[i]));
                }
                /* The must-include ones first, in their order (each once). */
                for (size_t i = 0; i < cr->n_must_include_deviceids; i++) {
                        if (in_list(cr->must_include_deviceids, i, cr->must_include_deviceids[i]))
                                continue;
                        FUZZ_CHECK(k < co->n_deviceids && streq(co->deviceids[k], cr->must_include_deviceids[i]));
                        k++;
                }
        }
        v1beta1__preferred_allocation_response__free_unpacked(out, NULL);
        v1beta1__preferred_allocation_request__free_unpacked(in, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        DpResource r;
        GrpcReply reply = {};
        unsigned method;
        GrpcStatus s;

        if (size < 1)
                return 0;
        fuzz_quiet_logging();
        method = (data[0] & 0x7f) % N_METHODS;
        make_resource(&r, !(data[0] & 0x80));
        data++;
        size--;

        switch (method) {
        case METHOD_OPTIONS:
                s = dp_rpc_get_device_plugin_options(data, size, &reply);
                if (s == GRPC_STATUS_OK) {
                        V1beta1__DevicePluginOptions *o =
                                v1beta1__device_plugin_options__unpack(NULL, reply.size, reply.data);

                        FUZZ_CHECK(o && !o->pre_start_required && o->get_preferred_allocation_available);
                        v1beta1__device_plugin_options__free_unpacked(o, NULL);
                }
                break;
        case METHOD_LIST_AND_WATCH:
                s = dp_rpc_list_and_watch_request(data, size, &reply);
                FUZZ_CHECK(s == GRPC_STATUS_OK || s == GRPC_STATUS_INVALID_ARGUMENT);
                break;
        case METHOD_PREFERRED:
                s = dp_rpc_get_preferred_allocation(&r, data, size, &reply);
                check_preferred(data, size, &reply);
                break;
        case METHOD_ALLOCATE:
                s = dp_rpc_allocate(&r, data, size, &reply);
                check_allocate(&r, data, size, &reply);
                break;
        case METHOD_PRE_START:
                s = dp_rpc_pre_start_container(&r, data, size, &reply);
                FUZZ_CHECK(s != GRPC_STATUS_OK || reply.size == 0);
                break;
        default:
                s = dp_rpc_register_response(data, size) < 0 ? GRPC_STATUS_INVALID_ARGUMENT : GRPC_STATUS_OK;
                reply.status = s;
                if (s != GRPC_STATUS_OK)
                        reply.message = g_strdup("bad");
                break;
        }
        FUZZ_CHECK(s == reply.status);
        if (s != GRPC_STATUS_OK)
                FUZZ_CHECK(reply.message && reply.message[0]);
        if (fuzz_verbose())
                fprintf(stderr, "method %u: status %u %s\n", method, s, strempty(reply.message));
        grpc_reply_done(&reply);
        dp_resource_done(&r);
        return 0;
}
