/* SPDX-License-Identifier: MIT */

/* Builds a fake HGX host tree for the demo, the service tests and the
 * benchmarks:
 *
 *   nvidia-ccd-fakehost ROOT [--gpus N] [--nvswitches N] [--blackwell N]
 *       [--blackwell-id ID] [--add-gpu ID[:CLASS]]...
 *       [--boot-ms MS] [--fsp-latency-ms MS] [--tee tdx|sev-snp|none]
 *       [--driver NAME] [--no-iommu] [--mode off|on|devtools]
 *       [--extra VENDOR:DEVICE:CLASS]... [--audio] [--iommufd]
 *       [--foreign-in-group] [--modules-alias "PATTERN MODULE"]... [--bridges]
 *       [--fixture FILE]... [--fixture-no-gpusim]
 *
 * Default: 8 H100 SXM5 at the addresses of an HGX H100 board, bound to
 * nvidia, one IOMMU group each, NUMA 0 for the first half and 1 for the
 * rest, no TEE.  --blackwell N adds N Blackwell GPUs after them, B200
 * (0x2901) unless --blackwell-id says another (0x2bb5: RTX PRO 6000
 * Blackwell Server Edition); `--gpus 0 --blackwell 8` is an HGX B200 host.
 * --add-gpu adds one more GPU of any NVIDIA id (class 0x030200 unless
 * given, e.g. 0x2b85:0x030000 for an RTX 5090) after all of those.  --audio gives each GPU an HD audio function (.1, bound to
 * snd_hda_intel) in its group; --iommufd adds /dev/iommu; --foreign-in-group
 * puts a NIC bound to mlx5_core in the first GPU's group; --modules-alias
 * adds lines to the module alias index; --bridges puts each GPU behind a
 * root port and a PCIe switch (upstream and downstream port, each bridge in
 * an IOMMU group of its own from 1000 on), as on an HGX board; --fixture
 * adds the device of a real host's snapshot (tests/fixtures/), and
 * --fixture-no-gpusim leaves those without simulator state, as in a tree
 * made by hand.  The tree is laid out as the kernel's (fake-host.h).
 * Prints nothing on success. */

#include <getopt.h>
#include <limits.h>

#include "fake-host.h"

#define H100_SXM5 0x2330
#define H100_SXM5_SUBSYSTEM 0x16c1
#define B200 0x2901
#define LS10_NVSWITCH 0x22a3
#define MAX_EXTRA 16
#define MAX_ADDED 16
#define MAX_ALIASES 16
#define MAX_FIXTURES 8

/* Buses of the eight GPUs of an HGX H100 baseboard. */
static const unsigned hgx_buses[] = { 0x18, 0x2a, 0x3a, 0x5d, 0x9a, 0xab, 0xba, 0xdb };

typedef struct Options {
        const char *root;
        unsigned gpus, nvswitches, blackwell, boot_ms, fsp_latency_ms;
        unsigned blackwell_id;
        unsigned added[MAX_ADDED][2]; /* device id, class */
        size_t n_added;
        const char *tee, *driver;
        bool no_iommu;
        DeviceCcMode mode;
        unsigned extra[MAX_EXTRA][3];
        size_t n_extra;
        bool audio, iommufd, foreign_in_group, bridges, fixture_no_gpusim;
        const char *fixtures[MAX_FIXTURES];
        size_t n_fixtures;
        const char *aliases[MAX_ALIASES + 1];
        size_t n_aliases;
} Options;

static int parse_unsigned(const char *s, unsigned *ret) {
        unsigned long v;
        char *end;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || v > UINT_MAX || *s == '-')
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

static int parse_args(int argc, char **argv, Options *o) {
        enum { ARG_GPUS = 0x100, ARG_NVSWITCHES, ARG_BLACKWELL, ARG_BOOT_MS, ARG_FSP_LATENCY_MS,
               ARG_TEE, ARG_DRIVER, ARG_NO_IOMMU, ARG_MODE, ARG_EXTRA, ARG_AUDIO, ARG_IOMMUFD,
               ARG_FOREIGN_IN_GROUP, ARG_MODULES_ALIAS, ARG_BRIDGES, ARG_FIXTURE, ARG_FIXTURE_NO_GPUSIM,
               ARG_BLACKWELL_ID, ARG_ADD_GPU };
        static const struct option options[] = {
                { "gpus", required_argument, NULL, ARG_GPUS },
                { "nvswitches", required_argument, NULL, ARG_NVSWITCHES },
                { "blackwell", required_argument, NULL, ARG_BLACKWELL },
                { "boot-ms", required_argument, NULL, ARG_BOOT_MS },
                { "fsp-latency-ms", required_argument, NULL, ARG_FSP_LATENCY_MS },
                { "tee", required_argument, NULL, ARG_TEE },
                { "driver", required_argument, NULL, ARG_DRIVER },
                { "no-iommu", no_argument, NULL, ARG_NO_IOMMU },
                { "mode", required_argument, NULL, ARG_MODE },
                { "extra", required_argument, NULL, ARG_EXTRA },
                { "audio", no_argument, NULL, ARG_AUDIO },
                { "iommufd", no_argument, NULL, ARG_IOMMUFD },
                { "foreign-in-group", no_argument, NULL, ARG_FOREIGN_IN_GROUP },
                { "modules-alias", required_argument, NULL, ARG_MODULES_ALIAS },
                { "bridges", no_argument, NULL, ARG_BRIDGES },
                { "fixture", required_argument, NULL, ARG_FIXTURE },
                { "fixture-no-gpusim", no_argument, NULL, ARG_FIXTURE_NO_GPUSIM },
                { "blackwell-id", required_argument, NULL, ARG_BLACKWELL_ID },
                { "add-gpu", required_argument, NULL, ARG_ADD_GPU },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                int r = 0;
                switch (c) {
                case ARG_GPUS:
                        r = parse_unsigned(optarg, &o->gpus);
                        break;
                case ARG_NVSWITCHES:
                        r = parse_unsigned(optarg, &o->nvswitches);
                        break;
                case ARG_BLACKWELL:
                        r = parse_unsigned(optarg, &o->blackwell);
                        break;
                case ARG_BOOT_MS:
                        r = parse_unsigned(optarg, &o->boot_ms);
                        break;
                case ARG_FSP_LATENCY_MS:
                        r = parse_unsigned(optarg, &o->fsp_latency_ms);
                        break;
                case ARG_TEE:
                        if (!streq(optarg, "tdx") && !streq(optarg, "sev-snp") && !streq(optarg, "none"))
                                r = -EINVAL;
                        o->tee = optarg;
                        break;
                case ARG_DRIVER:
                        if (!*optarg || strchr(optarg, '/'))
                                r = -EINVAL;
                        o->driver = optarg;
                        break;
                case ARG_NO_IOMMU:
                        o->no_iommu = true;
                        break;
                case ARG_MODE:
                        if (streq(optarg, "off"))
                                o->mode = DEVICE_CC_OFF;
                        else if (streq(optarg, "on"))
                                o->mode = DEVICE_CC_ON;
                        else if (streq(optarg, "devtools"))
                                o->mode = DEVICE_CC_DEVTOOLS;
                        else
                                r = -EINVAL;
                        break;
                case ARG_EXTRA: {
                        unsigned *e = o->extra[o->n_extra];
                        int n = 0;
                        if (o->n_extra >= MAX_EXTRA ||
                            sscanf(optarg, "%x:%x:%x%n", &e[0], &e[1], &e[2], &n) != 3 || optarg[n] != '\0' ||
                            e[0] > 0xffff || e[1] > 0xffff || e[2] > 0xffffff)
                                r = -EINVAL;
                        else
                                o->n_extra++;
                        break;
                }
                case ARG_AUDIO:
                        o->audio = true;
                        break;
                case ARG_IOMMUFD:
                        o->iommufd = true;
                        break;
                case ARG_FOREIGN_IN_GROUP:
                        o->foreign_in_group = true;
                        break;
                case ARG_BRIDGES:
                        o->bridges = true;
                        break;
                case ARG_FIXTURE:
                        if (o->n_fixtures >= MAX_FIXTURES)
                                r = -E2BIG;
                        else
                                o->fixtures[o->n_fixtures++] = optarg;
                        break;
                case ARG_FIXTURE_NO_GPUSIM:
                        o->fixture_no_gpusim = true;
                        break;
                case ARG_BLACKWELL_ID: {
                        int n = 0;
                        if (sscanf(optarg, "%x%n", &o->blackwell_id, &n) != 1 || optarg[n] != '\0' ||
                            o->blackwell_id > 0xffff)
                                r = -EINVAL;
                        break;
                }
                case ARG_ADD_GPU: {
                        unsigned *a = o->added[o->n_added];
                        int n = 0, k;
                        a[1] = 0x030200;
                        k = o->n_added < MAX_ADDED ? sscanf(optarg, "%x%n:%x%n", &a[0], &n, &a[1], &n) : 0;
                        if (k < 1 || optarg[n] != '\0' || a[0] > 0xffff || a[1] > 0xffffff)
                                r = -EINVAL;
                        else
                                o->n_added++;
                        break;
                }
                case ARG_MODULES_ALIAS:
                        if (o->n_aliases >= MAX_ALIASES || !strchr(optarg, ' '))
                                r = -EINVAL;
                        else
                                o->aliases[o->n_aliases++] = optarg;
                        break;
                default:
                        return -EINVAL;
                }
                if (r < 0) {
                        fprintf(stderr, "Invalid value for --%s: %s\n", options[c - ARG_GPUS].name, optarg);
                        return r;
                }
        }
        if (optind != argc - 1) {
                fprintf(stderr, "Usage: %s ROOT [--gpus N] [--nvswitches N] [--blackwell N] [--blackwell-id ID]\n"
                        "       [--add-gpu ID[:CLASS]]... [--boot-ms MS]\n"
                        "       [--fsp-latency-ms MS] [--tee tdx|sev-snp|none] [--driver NAME] [--no-iommu]\n"
                        "       [--mode off|on|devtools] [--extra VENDOR:DEVICE:CLASS]... [--audio] [--iommufd]\n"
                        "       [--foreign-in-group] [--modules-alias \"PATTERN MODULE\"]... [--bridges]\n"
                        "       [--fixture FILE]... [--fixture-no-gpusim]\n",
                        program_invocation_short_name);
                return -EINVAL;
        }
        o->root = argv[optind];
        return 0;
}

/* GPU i: the HGX buses, then the same buses in further PCI domains. */
static void gpu_address(unsigned i, char bdf[static 16]) {
        snprintf(bdf, 16, "%04x:%02x:00.0", (i / 8) & 0xffff, hgx_buses[i % 8]);
}

/* The path from GPU i's root bus down to its bus: a root port, then the
 * switch's upstream and downstream ports, on the three buses above it. */
static int add_gpu_bridges(FakeHost *host, unsigned i, bool no_iommu) {
        unsigned domain = (i / 8) & 0xffff, bus = hgx_buses[i % 8];
        static const char *const slots[] = { "01.0", "00.0", "00.0" };
        char bdf[16];
        int r;

        for (unsigned k = 0; k < 3; k++) {
                snprintf(bdf, sizeof(bdf), "%04x:%02x:%s", domain, bus - 3 + k, slots[k]);
                r = fake_host_add_bridge_to(host, bdf, bus - 2 + k,
                                            no_iommu ? FAKE_NO_IOMMU : (int) (1000 + 3 * i + k));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int add_fixture(FakeHost *host, const char *path, bool no_gpusim) {
        _cleanup_free_ char *bdf = NULL, *state = NULL;
        int r;

        r = fake_host_add_from_fixture(host, path, &bdf);
        if (r < 0 || !no_gpusim)
                return r;
        state = fake_host_path(host, "sys/bus/pci/devices/%s/gpusim.ini", bdf);
        if (!state)
                return -ENOMEM;
        return unlink(state) < 0 && errno != ENOENT ? -errno : 0;
}

int main(int argc, char **argv) {
        Options o = { .gpus = 8, .boot_ms = 1500, .tee = "none", .driver = "nvidia", .blackwell_id = B200 };
        _cleanup_(fake_host_freep) FakeHost *host = NULL;
        unsigned total;
        char bdf[16] = "";
        int r = 0;

        if (parse_args(argc, argv, &o) < 0)
                return 2;
        if (o.gpus + o.blackwell + o.n_added > 8 * 0x10000u || o.nvswitches > 64) {
                fprintf(stderr, "Too many devices.\n");
                return 2;
        }

        host = fake_host_new_at(o.root);
        if (!host) {
                fprintf(stderr, "Cannot create a fake host under %s: %m\n", o.root);
                return 1;
        }
        fake_host_keep(host);

        total = o.gpus + o.blackwell + (unsigned) o.n_added;
        for (unsigned i = 0; i < total && r >= 0; i++) {
                unsigned added = i - o.gpus - o.blackwell; /* valid once i is past the others */
                uint16_t id = i < o.gpus ? H100_SXM5 : i < o.gpus + o.blackwell ? o.blackwell_id : o.added[added][0];

                gpu_address(i, bdf);
                if (o.bridges)
                        r = add_gpu_bridges(host, i, o.no_iommu);
                if (r < 0)
                        break;
                r = fake_host_add_gpu(host, bdf, id, &(FakeGpuOptions) {
                        .driver = o.driver,
                        /* Groups 1, 2, ... in order (the audio functions join them). */
                        .iommu_group = o.no_iommu ? FAKE_NO_IOMMU : (int) (i + 1),
                        .numa_node = i < (total + 1) / 2 ? 0 : 1,
                        .boot_ms = o.boot_ms,
                        .fsp_latency_ms = o.fsp_latency_ms,
                        .mode = o.mode,
                        .subsystem_device = i < o.gpus ? H100_SXM5_SUBSYSTEM : 0,
                        .class_code = i < o.gpus + o.blackwell ? 0 : o.added[added][1],
                });
                if (r >= 0 && o.audio) {
                        char audio[16];
                        int group = -1;

                        snprintf(audio, sizeof(audio), "%.10s.1", bdf);
                        if (!o.no_iommu)
                                group = (int) (i + 1);
                        r = fake_host_add_audio(host, audio, o.no_iommu ? FAKE_NO_IOMMU : group, "snd_hda_intel");
                }
        }
        if (r >= 0 && o.foreign_in_group && total > 0) {
                snprintf(bdf, sizeof(bdf), "0000:%02x:00.0", hgx_buses[0] + 1);
                r = fake_host_add_nic(host, bdf, o.no_iommu ? FAKE_NO_IOMMU : 1, "mlx5_core");
        }
        /* NVSwitches sit on the board's own buses below the GPUs'. */
        for (unsigned i = 0; i < o.nvswitches && r >= 0; i++) {
                snprintf(bdf, sizeof(bdf), "0000:%02x:00.0", 0x05 + i);
                r = fake_host_add_nvswitch(host, bdf, LS10_NVSWITCH, &(FakeGpuOptions) {
                        .driver = o.driver,
                        .iommu_group = o.no_iommu ? FAKE_NO_IOMMU : 0,
                        .boot_ms = o.boot_ms,
                        .fsp_latency_ms = o.fsp_latency_ms,
                });
        }
        for (size_t i = 0; i < o.n_extra && r >= 0; i++) {
                snprintf(bdf, sizeof(bdf), "0000:f0:%02x.0", (unsigned) i & 0x1f);
                r = fake_host_add_device(host, bdf, (uint16_t) o.extra[i][0], (uint16_t) o.extra[i][1],
                                         o.extra[i][2], NULL, o.no_iommu ? FAKE_NO_IOMMU : 0);
        }
        if (r < 0) {
                fprintf(stderr, "Cannot add %s to the fake host at %s: %s\n", bdf, o.root, strerror(-r));
                return 1;
        }
        for (size_t i = 0; i < o.n_fixtures; i++) {
                r = add_fixture(host, o.fixtures[i], o.fixture_no_gpusim);
                if (r < 0) {
                        fprintf(stderr, "Cannot add the device of %s to the fake host at %s: %s\n",
                                o.fixtures[i], o.root, strerror(-r));
                        return 1;
                }
        }
        if (r >= 0 && o.iommufd)
                r = fake_host_enable_iommufd(host);
        if (r >= 0 && o.n_aliases > 0)
                r = fake_host_set_modules_alias(host, o.aliases);
        if (r < 0) {
                fprintf(stderr, "Cannot set up the fake host at %s: %s\n", o.root, strerror(-r));
                return 1;
        }
        r = fake_host_set_tee(host, o.tee);
        if (r < 0) {
                fprintf(stderr, "Cannot set the TEE of the fake host at %s: %s\n", o.root, strerror(-r));
                return 1;
        }
        return 0;
}
