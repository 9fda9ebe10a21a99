/* SPDX-License-Identifier: MIT */

/* The device plugin's pure parts: the resource naming rule of the sandbox
 * device plugin, resource and CDI-kind validity, the device list built from
 * Gpu objects (VFIO only, one per group, iommufd IDs kept, health, NUMA),
 * GetPreferredAllocation's choice, Allocate's nodes and CDI names, the
 * messages decoded back with protobuf-c, and gRPC's framing and
 * grpc-message encoding. */

#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "device-names.h"
#include "deviceplugin.pb-c.h"
#include "devplugin-model.h"
#include "devplugin-rpc.h"
#include "grpc-wire.h"
#include "macro.h"

static void test_model_names(void **state) {
        static const struct {
                const char *pci_name;
                uint16_t id;
                const char *expected;
        } cases[] = {
                /* The examples of the sandbox plugin's rule. */
                { "GH100 [H100 SXM5 80GB]", 0x2330, "nvidia.com/GH100_H100_SXM5_80GB" },
                { "GH100 [H200 SXM 141GB]", 0x2335, "nvidia.com/GH100_H200_SXM_141GB" },
                /* Older pci.ids spell it without the space. */
                { "GH100[H100 SXM5 80GB]", 0x2330, "nvidia.com/GH100H100_SXM5_80GB" },
                { "GA100 [A100 PCIe 40GB/80GB]", 0x20f1, "nvidia.com/GA100_A100_PCIE_40GB_80GB" },
                { "TU104GL [Tesla T4]", 0x1eb8, "nvidia.com/TU104GL_TESLA_T4" },
                { "gb100  \t[b200]", 0x2901, "nvidia.com/GB100_B200" },
                { "GH100 v1.0", 0x2339, "nvidia.com/GH100_V1_0" },
                /* No name: the device id. */
                { "", 0x2901, "nvidia.com/2901" },
                { NULL, 0x0abc, "nvidia.com/0abc" },
                /* Nothing left, or not a valid name: the device id too. */
                { "[]()", 0x1234, "nvidia.com/1234" },
                { "GH100 [H100] ", 0x2330, "nvidia.com/2330" },
                { "A very long marketing name that goes on and on past sixty-three characters", 0x2342,
                  "nvidia.com/2342" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                g_autofree char *name = model_resource_name(cases[i].pci_name, cases[i].id);
                assert_string_equal(name, cases[i].expected);
                assert_true(resource_name_is_valid(name));
        }
}

static void test_name_validity(void **state) {
        static const char *const resources[] = { "nvidia.com/pgpu", "example.com/a", "a.b-c.d/X_y.z-1", "x/1" };
        static const char *const not_resources[] = {
                "pgpu", "nvidia.com/", "/pgpu", "nvidia.com/-x", "nvidia.com/x_", "Nvidia.com/pgpu",
                "nvidia..com/pgpu", "-nvidia.com/pgpu", "kubernetes.io/gpu", "x.kubernetes.io/gpu",
                "nvidia.com/a/b", "nvidia.com/a b", "",
                "nvidia.com/0123456789012345678901234567890123456789012345678901234567890123",
        };

        for (size_t i = 0; i < ELEMENTSOF(resources); i++)
                assert_true(resource_name_is_valid(resources[i]));
        for (size_t i = 0; i < ELEMENTSOF(not_resources); i++)
                assert_false(resource_name_is_valid(not_resources[i]));
        assert_false(resource_name_is_valid(NULL));

        assert_true(cdi_kind_is_valid("nvidia.com/pgpu"));
        assert_true(cdi_kind_is_valid("nvidia.com/GH100_H100_SXM5_80GB"));
        assert_false(cdi_kind_is_valid("nvidia.com/2901"));
        assert_false(cdi_kind_is_valid("nvidia.com/pgpu_"));
        assert_false(cdi_kind_is_valid("1nvidia.com/pgpu"));
        assert_false(cdi_kind_is_valid("pgpu"));

        assert_true(driver_is_vfio("vfio-pci"));
        assert_true(driver_is_vfio("nvgrace_gpu_vfio_pci"));
        assert_false(driver_is_vfio("nvidia"));
        assert_false(driver_is_vfio("vfio"));
        assert_false(driver_is_vfio(""));
        assert_false(driver_is_vfio(NULL));
}

/* ------------------------------------------------------------ the model */

static DpGpu *gpu(const char *address, const char *driver, int group, int numa, const char *cdev) {
        g_autofree char *path = g_strdup_printf("/org/nvidia/ConfidentialCompute/gpu/%s", address);
        DpGpu *g = dp_gpu_new(path);

        g_free(g->address);
        g->address = g_strdup(address);
        g_free(g->name);
        g->name = g_strdup("GH100 [H100 SXM5 80GB]");
        g->device_id = 0x2330;
        g_free(g->driver);
        g->driver = g_strdup(driver);
        g->iommu_group = group;
        g->numa_node = numa;
        if (driver_is_vfio(driver) && group >= 0) {
                g_free(g->vfio_device);
                g->vfio_device = g_strdup_printf("/dev/vfio/%d", group);
        }
        if (cdev) {
                g_free(g->vfio_cdev);
                g->vfio_cdev = g_strdup(cdev);
                g_strfreev(g->group_cdevs);
                g->group_cdevs = g_new0(char *, 3);
                g->group_cdevs[0] = g_strdup(cdev);
                g->group_cdevs[1] = g_strdup_printf("%s1", cdev); /* the audio function's */
        }
        dp_gpu_note(g);
        return g;
}

static const DpOptions options_pgpu = {
        .resource_name = "nvidia.com/pgpu",
        .nvswitch_resource_name = "nvidia.com/nvswitch",
        .daemon_present = true,
};

static void test_inventory(void **state) {
        DpGpu *gpus[] = {
                gpu("0000:9a:00.0", "vfio-pci", 12, 1, NULL),
                gpu("0000:18:00.0", "vfio-pci", 3, 0, NULL),
                gpu("0000:2a:00.0", "nvidia", 4, 0, NULL),          /* not on VFIO */
                gpu("0000:3a:00.0", "vfio-pci", 3, 0, NULL),        /* the same group as 18:00.0 */
                gpu("0000:ab:00.0", "nvgrace_gpu_vfio_pci", 10, -1, NULL),
                gpu("0000:ba:00.0", "vfio-pci", -1, 1, NULL),       /* no group */
        };
        DpInventory *inv = NULL;
        const DpResource *r;

        assert_int_equal(dp_inventory_build(gpus, ELEMENTSOF(gpus), &options_pgpu, &inv), 0);
        assert_int_equal(inv->n_resources, 1);
        r = dp_inventory_find(inv, "nvidia.com/pgpu");
        assert_non_null(r);
        assert_true(r->cdi);
        assert_int_equal(r->n_devices, 3);
        /* Numeric order: 3, 10, 12. */
        assert_string_equal(r->devices[0].id, "3");
        assert_string_equal(r->devices[1].id, "10");
        assert_string_equal(r->devices[2].id, "12");
        assert_int_equal(r->devices[0].numa_node, 0);
        assert_int_equal(r->devices[1].numa_node, -1);
        assert_int_equal(r->devices[2].numa_node, 1);
        for (size_t i = 0; i < 3; i++)
                assert_true(r->devices[i].healthy);
        assert_string_equal(r->devices[0].nodes[0], "/dev/vfio/vfio");
        assert_string_equal(r->devices[0].nodes[1], "/dev/vfio/3");
        assert_null(r->devices[0].nodes[2]);
        dp_inventory_free(inv);

        /* The group node gone: unhealthy.  The daemon away: all unhealthy. */
        g_free(gpus[0]->vfio_device);
        gpus[0]->vfio_device = g_strdup("");
        assert_int_equal(dp_inventory_build(gpus, ELEMENTSOF(gpus), &options_pgpu, &inv), 0);
        r = dp_inventory_find(inv, "nvidia.com/pgpu");
        assert_false(r->devices[2].healthy);
        assert_true(r->devices[0].healthy);
        dp_inventory_free(inv);
        {
                DpOptions away = options_pgpu;

                away.daemon_present = false;
                assert_int_equal(dp_inventory_build(gpus, ELEMENTSOF(gpus), &away, &inv), 0);
                r = dp_inventory_find(inv, "nvidia.com/pgpu");
                assert_int_equal(r->n_devices, 3);
                for (size_t i = 0; i < 3; i++)
                        assert_false(r->devices[i].healthy);
                dp_inventory_free(inv);
        }

        /* Nothing on VFIO: the fixed resource is still there, empty. */
        assert_int_equal(dp_inventory_build(gpus + 2, 1, &options_pgpu, &inv), 0);
        assert_int_equal(inv->n_resources, 1);
        assert_int_equal(inv->resources[0].n_devices, 0);
        dp_inventory_free(inv);

        for (size_t i = 0; i < ELEMENTSOF(gpus); i++)
                dp_gpu_free(gpus[i]);
}

static void test_inventory_iommufd(void **state) {
        DpGpu *g = gpu("0000:18:00.0", "vfio-pci", 3, 0, "/dev/vfio/devices/vfio7");
        DpInventory *inv = NULL;
        const DpResource *r;

        assert_int_equal(g->cdev_id, 7);
        assert_int_equal(dp_inventory_build(&g, 1, &options_pgpu, &inv), 0);
        r = &inv->resources[0];
        assert_int_equal(r->n_devices, 1);
        assert_string_equal(r->devices[0].id, "7");
        assert_true(r->devices[0].healthy);
        /* Every function's node and /dev/iommu; not the group node. */
        assert_string_equal(r->devices[0].nodes[0], "/dev/vfio/devices/vfio7");
        assert_string_equal(r->devices[0].nodes[1], "/dev/vfio/devices/vfio71");
        assert_string_equal(r->devices[0].nodes[2], "/dev/iommu");
        assert_null(r->devices[0].nodes[3]);
        dp_inventory_free(inv);

        /* The node vanishes while the GPU stays on VFIO: the same ID,
         * unhealthy. */
        g_free(g->vfio_cdev);
        g->vfio_cdev = g_strdup("");
        dp_gpu_note(g);
        assert_int_equal(dp_inventory_build(&g, 1, &options_pgpu, &inv), 0);
        assert_string_equal(inv->resources[0].devices[0].id, "7");
        assert_false(inv->resources[0].devices[0].healthy);
        dp_inventory_free(inv);

        /* Off VFIO: forgotten. */
        g_free(g->driver);
        g->driver = g_strdup("nvidia");
        dp_gpu_note(g);
        assert_int_equal(g->cdev_id, -1);
        dp_gpu_free(g);
}

static void test_inventory_per_model(void **state) {
        DpGpu *gpus[] = {
                gpu("0000:18:00.0", "vfio-pci", 3, 0, NULL),
                gpu("0000:2a:00.0", "vfio-pci", 4, 0, NULL),
                gpu("0000:05:00.0", "vfio-pci", 1, 0, NULL),
                gpu("0000:06:00.0", "nvidia-nvswitch", 2, 0, NULL),
        };
        DpOptions o = options_pgpu;
        DpInventory *inv = NULL;
        const DpResource *r;

        g_free(gpus[1]->name);
        gpus[1]->name = g_strdup("");
        gpus[1]->device_id = 0x2901;
        for (size_t i = 2; i < 4; i++) {
                g_free(gpus[i]->kind);
                gpus[i]->kind = g_strdup("nvswitch");
        }
        o.resource_name = NULL;
        assert_int_equal(dp_inventory_build(gpus, ELEMENTSOF(gpus), &o, &inv), 0);
        assert_int_equal(inv->n_resources, 3);
        r = dp_inventory_find(inv, "nvidia.com/GH100_H100_SXM5_80GB");
        assert_non_null(r);
        assert_true(r->cdi);
        assert_int_equal(r->n_devices, 1);
        assert_string_equal(r->devices[0].id, "3");
        r = dp_inventory_find(inv, "nvidia.com/2901");
        assert_non_null(r);
        assert_false(r->cdi);
        assert_int_equal(r->n_devices, 1);
        r = dp_inventory_find(inv, "nvidia.com/nvswitch");
        assert_non_null(r);
        assert_int_equal(r->n_devices, 1); /* the one on VFIO */
        assert_string_equal(r->devices[0].id, "1");
        dp_inventory_free(inv);

        /* Without an NVSwitch resource they are left out. */
        o.nvswitch_resource_name = NULL;
        assert_int_equal(dp_inventory_build(gpus, ELEMENTSOF(gpus), &o, &inv), 0);
        assert_int_equal(inv->n_resources, 2);
        dp_inventory_free(inv);
        for (size_t i = 0; i < ELEMENTSOF(gpus); i++)
                dp_gpu_free(gpus[i]);
}

/* ------------------------------------------------------------ requests */

/* Eight devices: IDs 1-8, 1-4 on node 0, 5-8 on node 1. */
static void eight(DpResource *r) {
        *r = (DpResource) { .name = g_strdup("nvidia.com/pgpu"), .cdi = true, .devices = g_new0(DpDevice, 8),
                            .n_devices = 8 };
        for (int i = 0; i < 8; i++) {
                DpDevice *d = &r->devices[i];

                snprintf(d->id, sizeof(d->id), "%d", i + 1);
                d->healthy = i != 6; /* 7 is unhealthy */
                d->numa_node = i < 4 ? 0 : 1;
                d->nodes = g_new0(char *, 3);
                d->nodes[0] = g_strdup("/dev/vfio/vfio");
                d->nodes[1] = g_strdup_printf("/dev/vfio/%d", i + 1);
        }
}

static char *joined(char **l) {
        return g_strjoinv(",", l);
}

static void assert_preferred(const DpResource *r, const char *available, const char *must, int size,
                             const char *expected) {
        g_auto(GStrv) a = g_strsplit(available, ",", -1), m = must[0] ? g_strsplit(must, ",", -1) : g_new0(char *, 1);
        g_auto(GStrv) out = NULL;
        g_autofree char *error = NULL, *got = NULL;

        assert_int_equal(dp_preferred_allocation(r, a, g_strv_length(a), m, g_strv_length(m), size, &out, &error), 0);
        got = joined(out);
        assert_string_equal(got, expected);
}

static void test_preferred(void **state) {
        DpResource r;
        g_autofree char *error = NULL;
        char **out = NULL;

        eight(&r);
        /* One node when it can: the smallest that fits. */
        assert_preferred(&r, "1,2,3,5,6,7,8", "", 2, "1,2");
        assert_preferred(&r, "1,2,3,5,6,7,8", "", 3, "1,2,3");
        assert_preferred(&r, "1,2,3,4,5,6,7,8", "", 4, "1,2,3,4");
        /* Must-include first, then its node. */
        assert_preferred(&r, "1,2,3,4,5,6,7,8", "6", 3, "6,5,7");
        assert_preferred(&r, "1,2,3,4,5,6,7,8", "6,2", 4, "6,2,5,7");
        /* No node has enough: the fullest first, then the others. */
        assert_preferred(&r, "1,2,5,6,7", "", 4, "5,6,7,1");
        /* Numeric order, duplicates once. */
        assert_preferred(&r, "8,5,5,6", "", 2, "5,6");
        assert_preferred(&r, "3", "3", 1, "3");

        assert_int_equal(dp_preferred_allocation(&r, (char *[]) { (char *) "1", NULL }, 1,
                                                 (char *[]) { (char *) "1", (char *) "2", NULL }, 2, 1, &out, &error),
                         -EINVAL);
        assert_string_equal(error, "allocation_size 1 is below the 2 must-include device(s)");
        g_clear_pointer(&error, g_free);
        assert_int_equal(dp_preferred_allocation(&r, (char *[]) { (char *) "1", NULL }, 1, NULL, 0, 2, &out, &error),
                         -EINVAL);
        assert_string_equal(error, "allocation_size 2 is above the 1 device(s) available");
        dp_resource_done(&r);
}

static void test_allocate(void **state) {
        g_auto(GStrv) nodes = NULL, cdi = NULL;
        g_autofree char *error = NULL, *n = NULL, *c = NULL;
        DpResource r;

        eight(&r);
        assert_int_equal(dp_allocate(&r, (char *[]) { (char *) "5", (char *) "2" }, 2, &nodes, &cdi, &error), 0);
        n = joined(nodes);
        c = joined(cdi);
        assert_string_equal(n, "/dev/vfio/vfio,/dev/vfio/5,/dev/vfio/2");
        assert_string_equal(c, "nvidia.com/pgpu=5,nvidia.com/pgpu=2");

        assert_int_equal(dp_allocate(&r, (char *[]) { (char *) "5", (char *) "9" }, 2, &nodes, &cdi, &error), -ENOENT);
        assert_string_equal(error, "nvidia.com/pgpu has no device \"9\"");
        g_clear_pointer(&error, g_free);
        assert_int_equal(dp_allocate(&r, (char *[]) { (char *) "7" }, 1, &nodes, &cdi, &error), -EAGAIN);
        assert_string_equal(error, "device \"7\" of nvidia.com/pgpu is unhealthy");
        g_clear_pointer(&error, g_free);
        assert_int_equal(dp_allocate(&r, (char *[]) { (char *) "1", (char *) "1" }, 2, &nodes, &cdi, &error), -EINVAL);
        assert_string_equal(error, "device \"1\" of nvidia.com/pgpu is asked for twice");
        g_clear_pointer(&error, g_free);
        dp_resource_done(&r);
}

/* ------------------------------------------------------------ messages */

static void test_messages(void **state) {
        V1beta1__AllocateRequest req = V1BETA1__ALLOCATE_REQUEST__INIT;
        V1beta1__ContainerAllocateRequest c0 = V1BETA1__CONTAINER_ALLOCATE_REQUEST__INIT;
        V1beta1__ContainerAllocateRequest *cs[] = { &c0 };
        char *ids[] = { (char *) "3", (char *) "1" };
        g_autofree uint8_t *buf = NULL;
        V1beta1__AllocateResponse *resp;
        V1beta1__ListAndWatchResponse *law;
        V1beta1__RegisterRequest *reg;
        GrpcReply reply = {};
        DpResource r;
        size_t size;

        eight(&r);
        c0.devices_ids = ids;
        c0.n_devices_ids = 2;
        req.container_requests = cs;
        req.n_container_requests = 1;
        buf = g_malloc(v1beta1__allocate_request__get_packed_size(&req));
        size = v1beta1__allocate_request__pack(&req, buf);

        assert_int_equal(dp_rpc_allocate(&r, buf, size, &reply), GRPC_STATUS_OK);
        resp = v1beta1__allocate_response__unpack(NULL, reply.size, reply.data);
        assert_non_null(resp);
        assert_int_equal(resp->n_container_responses, 1);
        assert_int_equal(resp->container_responses[0]->n_devices, 3);
        assert_string_equal(resp->container_responses[0]->devices[1]->host_path, "/dev/vfio/3");
        assert_string_equal(resp->container_responses[0]->devices[1]->container_path, "/dev/vfio/3");
        assert_string_equal(resp->container_responses[0]->devices[1]->permissions, "mrw");
        assert_int_equal(resp->container_responses[0]->n_cdi_devices, 2);
        assert_string_equal(resp->container_responses[0]->cdi_devices[0]->name, "nvidia.com/pgpu=3");
        assert_int_equal(resp->container_responses[0]->n_envs, 0);
        v1beta1__allocate_response__free_unpacked(resp, NULL);
        grpc_reply_done(&reply);

        /* Not a message: refused, naming the type. */
        assert_int_equal(dp_rpc_allocate(&r, (const uint8_t *) "\x0a\x05", 2, &reply), GRPC_STATUS_INVALID_ARGUMENT);
        assert_string_equal(reply.message, "the request does not decode as V1beta1__AllocateRequest");
        grpc_reply_done(&reply);

        g_clear_pointer(&buf, g_free);
        assert_int_equal(dp_rpc_list_and_watch_response(&r, &buf, &size), 0);
        law = v1beta1__list_and_watch_response__unpack(NULL, size, buf);
        assert_non_null(law);
        assert_int_equal(law->n_devices, 8);
        assert_string_equal(law->devices[6]->id, "7");
        assert_string_equal(law->devices[6]->health, "Unhealthy");
        assert_string_equal(law->devices[0]->health, "Healthy");
        assert_int_equal(law->devices[5]->topology->n_nodes, 1);
        assert_int_equal(law->devices[5]->topology->nodes[0]->id, 1);
        v1beta1__list_and_watch_response__free_unpacked(law, NULL);

        g_clear_pointer(&buf, g_free);
        assert_int_equal(dp_rpc_register_request("nvidia-cc-nvidia.com-pgpu.sock", "nvidia.com/pgpu", &buf, &size), 0);
        reg = v1beta1__register_request__unpack(NULL, size, buf);
        assert_non_null(reg);
        assert_string_equal(reg->version, "v1beta1");
        assert_string_equal(reg->endpoint, "nvidia-cc-nvidia.com-pgpu.sock");
        assert_string_equal(reg->resource_name, "nvidia.com/pgpu");
        assert_false(reg->options->pre_start_required);
        assert_true(reg->options->get_preferred_allocation_available);
        v1beta1__register_request__free_unpacked(reg, NULL);

        assert_int_equal(dp_rpc_get_device_plugin_options((const uint8_t *) "", 0, &reply), GRPC_STATUS_OK);
        assert_int_equal(reply.size, 2); /* field 2, true */
        grpc_reply_done(&reply);
        dp_resource_done(&r);
}

/* ------------------------------------------------------------ gRPC wire */

static void test_wire(void **state) {
        g_autoptr(GByteArray) out = g_byte_array_new();
        const uint8_t *msg;
        size_t size;
        g_autofree char *enc = NULL, *dec = NULL, *bad = NULL;

        grpc_frame_append(out, (const uint8_t *) "abc", 3);
        assert_int_equal(out->len, 8);
        assert_memory_equal(out->data, "\0\0\0\0\3abc", 8);
        assert_int_equal(grpc_frame_parse_one(out->data, out->len, &msg, &size), 0);
        assert_int_equal(size, 3);
        assert_memory_equal(msg, "abc", 3);
        /* Short, long, two messages, compressed, a bad flag. */
        assert_int_equal(grpc_frame_parse_one(out->data, 4, &msg, &size), -EBADMSG);
        assert_int_equal(grpc_frame_parse_one(out->data, 7, &msg, &size), -EBADMSG);
        grpc_frame_append(out, NULL, 0);
        assert_int_equal(grpc_frame_parse_one(out->data, out->len, &msg, &size), -EBADMSG);
        assert_int_equal(grpc_frame_parse_one((const uint8_t *) "\1\0\0\0\0", 5, &msg, &size), -EOPNOTSUPP);
        assert_int_equal(grpc_frame_parse_one((const uint8_t *) "\2\0\0\0\0", 5, &msg, &size), -EBADMSG);
        assert_int_equal(grpc_frame_parse_one((const uint8_t *) "\0\0\0\0\0", 5, &msg, &size), 0);
        assert_int_equal(size, 0);

        enc = grpc_percent_encode("device \"9\" 100% \n\xc3\xa9");
        assert_string_equal(enc, "device \"9\" 100%25 %0A%C3%A9");
        dec = grpc_percent_decode(enc, strlen(enc));
        assert_string_equal(dec, "device \"9\" 100% \n\xc3\xa9");
        bad = grpc_percent_decode("50%z%4", 6); /* kept as they are */
        assert_string_equal(bad, "50%z%4");
}

static void test_drop_unsent(void **state) {
        g_autoptr(GByteArray) out = g_byte_array_new();

        /* Three messages of 3, 2 and 4 bytes: ends at 8, 15, 24. */
        grpc_frame_append(out, (const uint8_t *) "aaa", 3);
        grpc_frame_append(out, (const uint8_t *) "bb", 2);
        grpc_frame_append(out, (const uint8_t *) "cccc", 4);
        assert_int_equal(out->len, 24);

        /* The second begun: kept whole, the third dropped. */
        grpc_frames_drop_unsent(out, 9);
        assert_int_equal(out->len, 15);
        /* At a boundary: nothing after it kept. */
        grpc_frames_drop_unsent(out, 8);
        assert_int_equal(out->len, 8);
        /* The first begun: kept. */
        grpc_frames_drop_unsent(out, 1);
        assert_int_equal(out->len, 8);
        /* All sent: all kept; nothing sent: nothing kept. */
        grpc_frames_drop_unsent(out, 8);
        assert_int_equal(out->len, 8);
        grpc_frames_drop_unsent(out, 0);
        assert_int_equal(out->len, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_model_names),
                cmocka_unit_test(test_name_validity),
                cmocka_unit_test(test_inventory),
                cmocka_unit_test(test_inventory_iommufd),
                cmocka_unit_test(test_inventory_per_model),
                cmocka_unit_test(test_preferred),
                cmocka_unit_test(test_allocate),
                cmocka_unit_test(test_messages),
                cmocka_unit_test(test_wire),
                cmocka_unit_test(test_drop_unsent),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
