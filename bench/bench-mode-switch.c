/* SPDX-License-Identifier: MIT */

/* Wall time of a CC mode switch off -> on through the real engine on fake
 * H100 hosts (FSP over EMEM) or B200 hosts (FSP over the MNOC mailbox, the
 * BAR firewall waited for through config space) of 1 to 8 GPUs, with every
 * GPU reset at once (the engine's way) against one GPU after another (the
 * Operator's way, the baseline).  Every
 * measurement gets a fresh host, so each switch starts from the same state.
 * Prints figures, never a verdict. */

#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "device.h"
#include "fake-host.h"
#include "sim-host.h"
#include "hw-host.h"
#include "mode-switch.h"

#define MAX_GPUS 8
#define MAX_REPS 32
#define H100_SXM5 0x2330
#define B200 0x2901

/* The bus numbers of an 8-GPU HGX H100 board. */
static const char *const gpu_bdfs[MAX_GPUS] = {
        "0000:18:00.0", "0000:2a:00.0", "0000:3a:00.0", "0000:5d:00.0",
        "0000:9a:00.0", "0000:ab:00.0", "0000:ba:00.0", "0000:db:00.0",
};

typedef struct Options {
        unsigned gpus[MAX_GPUS];
        size_t n_gpus;
        unsigned reps;
        unsigned boot_ms;
        unsigned fsp_latency_ms;
        uint16_t device_id;
        const char *model;
} Options;

static uint64_t now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, size_t n) {
        qsort(v, n, sizeof(*v), cmp_u64);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A host of n GPUs of the model in CC off, bound to nvidia, each in its own
 * IOMMU group. */
static int make_host(const Options *o, unsigned n, FakeHost **ret) {
        _cleanup_(fake_host_freep) FakeHost *fake = fake_host_new();
        _cleanup_free_ char *state = NULL;
        int r;

        if (!fake)
                return -ENOMEM;
        for (unsigned i = 0; i < n; i++) {
                r = fake_host_add_gpu(fake, gpu_bdfs[i], o->device_id, &(FakeGpuOptions) {
                        .driver = "nvidia",
                        .boot_ms = o->boot_ms,
                        .fsp_latency_ms = o->fsp_latency_ms,
                        .mode = DEVICE_CC_OFF,
                });
                if (r < 0)
                        return r;
        }
        r = fake_host_set_tee(fake, "tdx");
        if (r < 0)
                return r;
        state = fake_host_path(fake, "state");
        if (!state)
                return -ENOMEM;
        if (mkdir(state, 0700) < 0)
                return -errno;
        *ret = TAKE_PTR(fake);
        return 0;
}

/* One switch off -> on of every GPU of a fresh host; *ret_us is the time from
 * choosing the targets to collecting the outcome. */
static int time_switch(const Options *o, unsigned n, bool sequential, uint64_t *ret_us) {
        _cleanup_(fake_host_freep) FakeHost *fake = NULL;
        _cleanup_(hw_host_freep) HwHost *host = NULL;
        _cleanup_(cc_inventory_freep) CcInventory *inv = NULL;
        _cleanup_(cc_switch_freep) CcSwitch *sw = NULL;
        _cleanup_free_ char *state = NULL;
        CcSwitchTarget *targets = NULL;
        CcError e = CC_ERROR_INIT;
        CcConfig config;
        size_t n_targets;
        uint64_t start, end;
        int r;

        r = make_host(o, n, &fake);
        if (r < 0)
                return fprintf(stderr, "Cannot build a fake host: %s\n", strerror(-r)), r;
        state = fake_host_path(fake, "state");
        if (!state)
                return -ENOMEM;
        r = sim_host_new(fake_host_root(fake), &host);
        if (r < 0)
                return fprintf(stderr, "Cannot open the fake host: %s\n", strerror(-r)), r;

        cc_config_init(&config);
        r = cc_inventory_scan(host, &config, &inv, &e);
        cc_config_done(&config);
        if (r < 0)
                return fprintf(stderr, "Discovery failed: %s\n", e.message), r;
        if (inv->n_devices != n)
                return fprintf(stderr, "Discovery found %zu devices, expected %u\n", inv->n_devices, n), -EIO;

        start = now_us();
        r = cc_switch_select(inv, TARGET_MODE_ON, NULL, &targets, &n_targets, &e);
        if (r < 0)
                return fprintf(stderr, "Target selection failed: %s\n", e.message), r;
        r = cc_switch_new(host, state, TARGET_MODE_ON, targets, n_targets, &sw);
        if (r < 0) {
                cc_switch_targets_free(targets, n_targets);
                return fprintf(stderr, "Cannot create the switch: %s\n", strerror(-r)), r;
        }
        cc_switch_set_sequential(sw, sequential);
        r = cc_switch_start(sw);
        if (r < 0)
                return fprintf(stderr, "Cannot start the switch: %s\n", strerror(-r)), r;

        /* Waits as the daemon's event loop does: on the fd, not by joining. */
        for (;;) {
                struct pollfd p = { .fd = cc_switch_get_fd(sw), .events = POLLIN };

                r = poll(&p, 1, -1);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return fprintf(stderr, "poll: %m\n"), -errno;
                if (p.revents & POLLIN)
                        break;
        }
        r = cc_switch_finish(sw, &e);
        end = now_us();
        if (r < 0)
                return fprintf(stderr, "Switch of %u GPU%s (%s) failed: %s\n", n, n == 1 ? "" : "s",
                               sequential ? "one after another" : "concurrent", e.message), r;

        for (size_t i = 0; i < cc_switch_n_outcomes(sw); i++)
                if (!cc_switch_outcome(sw, i)->verified)
                        return fprintf(stderr, "%s: not verified after the switch\n",
                                       cc_switch_outcome(sw, i)->bdf), -EIO;
        if (cc_switch_n_outcomes(sw) != n)
                return fprintf(stderr, "The switch had %zu targets, expected %u\n",
                               cc_switch_n_outcomes(sw), n), -EIO;

        *ret_us = end - start;
        return 0;
}

static int parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

/* "1,2,4,8" */
static int parse_gpus(const char *s, Options *o) {
        _cleanup_free_ char *copy = strdup(s);
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        o->n_gpus = 0;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (o->n_gpus >= MAX_GPUS || parse_unsigned(tok, 1, MAX_GPUS, &o->gpus[o->n_gpus]) < 0)
                        return -EINVAL;
                o->n_gpus++;
        }
        return o->n_gpus > 0 ? 0 : -EINVAL;
}

static void help(void) {
        printf("Usage: bench-mode-switch [OPTIONS]\n\n"
               "Times a CC mode switch off -> on of every GPU of fake H100 or B200 hosts\n"
               "through the mode engine, concurrent resets against one GPU after another.\n\n"
               "  --model h100|b200     The GPUs: H100 SXM5 (EMEM) or B200 (MNOC) (default h100)\n"
               "  --gpus LIST           GPU counts to measure (default 1,2,4,8; at most %d)\n"
               "  --reps N              Repetitions of each measurement; the median is shown (default 3)\n"
               "  --boot-ms MS          Simulated boot time after a reset (default 1500)\n"
               "  --fsp-latency-ms MS   Simulated FSP answer latency (default 20)\n"
               "  -h --help             Show this help\n",
               MAX_GPUS);
}

static int parse_argv(int argc, char *argv[], Options *o) {
        enum { ARG_GPUS = 0x100, ARG_REPS, ARG_BOOT_MS, ARG_FSP_LATENCY_MS, ARG_MODEL };
        static const struct option options[] = {
                { "gpus",           required_argument, NULL, ARG_GPUS },
                { "reps",           required_argument, NULL, ARG_REPS },
                { "boot-ms",        required_argument, NULL, ARG_BOOT_MS },
                { "fsp-latency-ms", required_argument, NULL, ARG_FSP_LATENCY_MS },
                { "model",          required_argument, NULL, ARG_MODEL },
                { "help",           no_argument,       NULL, 'h' },
                {}
        };
        int c, r = 0;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_GPUS:
                        r = parse_gpus(optarg, o);
                        break;
                case ARG_REPS:
                        r = parse_unsigned(optarg, 1, MAX_REPS, &o->reps);
                        break;
                case ARG_BOOT_MS:
                        r = parse_unsigned(optarg, 0, 60000, &o->boot_ms);
                        break;
                case ARG_FSP_LATENCY_MS:
                        r = parse_unsigned(optarg, 0, 1000, &o->fsp_latency_ms);
                        break;
                case ARG_MODEL:
                        if (streq(optarg, "h100"))
                                o->device_id = H100_SXM5, o->model = "H100 SXM5, FSP over EMEM";
                        else if (streq(optarg, "b200"))
                                o->device_id = B200, o->model = "B200, FSP over MNOC";
                        else
                                r = -EINVAL;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return -EINVAL;
                }
                if (r < 0) {
                        fprintf(stderr, "Invalid value \"%s\" for --%s\n", optarg, options[c - ARG_GPUS].name);
                        return r;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "Unexpected argument \"%s\"\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

int main(int argc, char *argv[]) {
        Options o = { .gpus = { 1, 2, 4, 8 }, .n_gpus = 4, .reps = 3, .boot_ms = 1500, .fsp_latency_ms = 20,
                      .device_id = H100_SXM5, .model = "H100 SXM5, FSP over EMEM" };
        uint64_t conc[MAX_GPUS], seq[MAX_GPUS];
        int r;

        r = parse_argv(argc, argv, &o);
        if (r <= 0)
                return r < 0 ? 2 : 0;

        printf("Mode switch off -> on of every GPU, simulated %s (boot %u ms, FSP latency %u ms),\n"
               "wall time from target selection to the collected outcome, median of %u\n",
               o.model, o.boot_ms, o.fsp_latency_ms, o.reps);
        fflush(stdout);

        for (size_t g = 0; g < o.n_gpus; g++) {
                uint64_t c_us[MAX_REPS], s_us[MAX_REPS];

                /* Alternate the two ways so drift of the machine hits both alike. */
                for (unsigned i = 0; i < o.reps; i++) {
                        r = time_switch(&o, o.gpus[g], false, &c_us[i]);
                        if (r >= 0)
                                r = time_switch(&o, o.gpus[g], true, &s_us[i]);
                        if (r < 0)
                                return EXIT_FAILURE;
                }
                conc[g] = median(c_us, o.reps);
                seq[g] = median(s_us, o.reps);
        }

        printf("\n  GPUs  concurrent s  sequential s  sequential/concurrent  T(N)/T(%u) concurrent\n", o.gpus[0]);
        for (size_t g = 0; g < o.n_gpus; g++)
                printf("  %4u  %12.3f  %12.3f  %21.2f  %22.2f\n",
                       o.gpus[g], conc[g] / 1e6, seq[g] / 1e6,
                       (double) seq[g] / (double) conc[g], (double) conc[g] / (double) conc[0]);
        printf("\n  sequential = one GPU after another (the Operator's cc-manager), the baseline\n"
               "  goal: T(8)/T(1) <= 1.2 for the concurrent engine\n");
        return EXIT_SUCCESS;
}
