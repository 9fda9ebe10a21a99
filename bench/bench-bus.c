/* SPDX-License-Identifier: MIT */

/* Round-trip latency of the daemon's read path on one bus connection:
 * Properties.GetAll of the Manager against Peer.Ping on the same object (a
 * call that serializes nothing, the baseline), then GetManagedObjects.  With
 * --pid, the daemon's resident memory when idle (after one
 * GetManagedObjects) and after the run.  Prints figures, never a verdict. */

#include <assert.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include "macro.h"
#include "time-util.h"

#define BUS_NAME "org.nvidia.ConfidentialCompute"
#define MANAGER_PATH "/org/nvidia/ConfidentialCompute"
#define MANAGER_INTERFACE "org.nvidia.ConfidentialCompute.Manager"

/* The resident size of the Operator's cc-manager runtime (python3 with the
 * kubernetes client imported), as measured for the Operator. */
#define PYTHON_CC_MANAGER_RSS_MIB 53

typedef struct Options {
        const char *address;
        unsigned calls;
        unsigned warmup;
        unsigned managed_calls;
        pid_t pid;
} Options;

typedef enum Call {
        CALL_PING,
        CALL_GET_ALL,
        CALL_GET_MANAGED_OBJECTS,
        _CALL_MAX,
} Call;

static const char *const call_names[_CALL_MAX] = {
        [CALL_PING] = "Peer.Ping",
        [CALL_GET_ALL] = "Properties.GetAll (Manager)",
        [CALL_GET_MANAGED_OBJECTS] = "ObjectManager.GetManagedObjects",
};

static int call(sd_bus *bus, Call c, sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r;

        switch (c) {
        case CALL_PING:
                r = sd_bus_call_method(bus, BUS_NAME, MANAGER_PATH, "org.freedesktop.DBus.Peer", "Ping",
                                       &error, &reply, NULL);
                break;
        case CALL_GET_ALL:
                r = sd_bus_call_method(bus, BUS_NAME, MANAGER_PATH, "org.freedesktop.DBus.Properties", "GetAll",
                                       &error, &reply, "s", MANAGER_INTERFACE);
                break;
        case CALL_GET_MANAGED_OBJECTS:
                r = sd_bus_call_method(bus, BUS_NAME, MANAGER_PATH, "org.freedesktop.DBus.ObjectManager",
                                       "GetManagedObjects", &error, &reply, NULL);
                break;
        default:
                assert(!"unknown call");
                return -EINVAL;
        }
        if (r < 0) {
                fprintf(stderr, "%s failed: %s\n", call_names[c], error.message ? error.message : strerror(-r));
                return r;
        }
        if (ret_reply)
                *ret_reply = reply;
        else
                sd_bus_message_unref(reply);
        return 0;
}

static int timed_call(sd_bus *bus, Call c, uint64_t *ret_ns) {
        uint64_t start = now_nsec(CLOCK_MONOTONIC);
        int r = call(bus, c, NULL);

        *ret_ns = now_nsec(CLOCK_MONOTONIC) - start;
        return r;
}

/* The replies must carry what the benchmark claims to measure: the Manager's
 * properties and the GPU objects. */
static int check_replies(sd_bus *bus, size_t *ret_n_properties, size_t *ret_n_objects) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *props = NULL, *objects = NULL;
        size_t n = 0;
        int r;

        r = call(bus, CALL_GET_ALL, &props);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(props, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_skip(props, "{sv}")) > 0)
                n++;
        if (r < 0)
                return r;
        *ret_n_properties = n;

        r = call(bus, CALL_GET_MANAGED_OBJECTS, &objects);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(objects, 'a', "{oa{sa{sv}}}");
        if (r < 0)
                return r;
        n = 0;
        while ((r = sd_bus_message_skip(objects, "{oa{sa{sv}}}")) > 0)
                n++;
        if (r < 0)
                return r;
        *ret_n_objects = n;
        return 0;
}

/* VmRSS, RssAnon and RssFile of /proc/PID/status and Pss of
 * /proc/PID/smaps_rollup (the share of the libraries' pages charged to this
 * process), in KiB. */
typedef struct Rss {
        unsigned long rss, anon, file, pss;
} Rss;

static int read_rss(pid_t pid, Rss *ret) {
        _cleanup_fclose_ FILE *f = NULL, *g = NULL;
        char path[64], line[256];
        Rss rss = {};
        bool found = false;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %lu kB", &rss.rss) == 1)
                        found = true;
                else if (sscanf(line, "RssAnon: %lu kB", &rss.anon) == 1)
                        continue;
                else
                        (void) sscanf(line, "RssFile: %lu kB", &rss.file);
        if (!found)
                return -ENODATA;

        /* Optional: older kernels have no smaps_rollup. */
        snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int) pid);
        g = fopen(path, "re");
        while (g && fgets(line, sizeof(line), g))
                if (sscanf(line, "Pss: %lu kB", &rss.pss) == 1)
                        break;
        *ret = rss;
        return 0;
}

static void print_rss(const char *what, const Rss *r) {
        printf("  %-36s %6lu KiB  %6.2f MiB  (anon %lu, file %lu, Pss %lu KiB)\n",
               what, r->rss, r->rss / 1024.0, r->anon, r->file, r->pss);
}

/* Resident KiB per mapped object of /proc/PID/smaps ("[anon]" for anonymous
 * mappings), largest first: where the resident size comes from. */
#define MAX_OBJECTS 64

typedef struct ObjectRss {
        char name[64];
        unsigned long kib;
} ObjectRss;

static int cmp_object_rss(const void *a, const void *b) {
        const ObjectRss *x = a, *y = b;

        return x->kib < y->kib ? 1 : x->kib > y->kib ? -1 : strcmp(x->name, y->name);
}

static size_t read_rss_by_object(pid_t pid, ObjectRss objects[MAX_OBJECTS]) {
        _cleanup_fclose_ FILE *f = NULL;
        char path[64], line[512];
        ObjectRss *cur = NULL;
        size_t n = 0;

        snprintf(path, sizeof(path), "/proc/%d/smaps", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f)) {
                unsigned long start, end, kib;
                char file[448] = "";
                const char *base;

                if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %447s", &start, &end, file) >= 2) {
                        base = file[0] == '\0' ? "[anon]" : strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
                        cur = NULL;
                        for (size_t i = 0; i < n && !cur; i++)
                                if (streq(objects[i].name, base))
                                        cur = &objects[i];
                        if (!cur && n < MAX_OBJECTS) {
                                cur = &objects[n++];
                                snprintf(cur->name, sizeof(cur->name), "%s", base);
                                cur->kib = 0;
                        }
                } else if (cur && sscanf(line, "Rss: %lu kB", &kib) == 1)
                        cur->kib += kib;
        }
        qsort(objects, n, sizeof(ObjectRss), cmp_object_rss);
        return n;
}

static void print_rss_by_object(pid_t pid, size_t top) {
        ObjectRss objects[MAX_OBJECTS];
        size_t n = read_rss_by_object(pid, objects);

        if (n == 0)
                return;
        printf("\n  nvidia-ccd's largest resident objects (KiB):");
        for (size_t i = 0; i < n && i < top; i++)
                printf("%s %s %lu", i % 4 == 0 ? "\n   " : ",", objects[i].name, objects[i].kib);
        printf("\n");
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

/* Nearest rank of a sorted sample. */
static double percentile_us(const uint64_t *sorted, size_t n, unsigned p) {
        size_t rank = (n * p + 99) / 100;

        return sorted[rank > 0 ? rank - 1 : 0] / 1000.0;
}

static int parse_unsigned(const char *s, unsigned long min, unsigned long max, unsigned long *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static void help(void) {
        printf("Usage: bench-bus --address ADDRESS [OPTIONS]\n\n"
               "Times calls to " BUS_NAME " on one connection, one after another.\n\n"
               "  --address ADDRESS     D-Bus address of the bus the daemon is on\n"
               "  --calls N             Calls of GetAll and of Ping each (default 10000)\n"
               "  --managed-calls N     Calls of GetManagedObjects (default 2000)\n"
               "  --warmup N            Untimed calls of each first (default 500)\n"
               "  --pid PID             The daemon's process, for its resident memory\n"
               "  -h --help             Show this help\n");
}

static int parse_argv(int argc, char *argv[], Options *o) {
        enum { ARG_ADDRESS = 0x100, ARG_CALLS, ARG_MANAGED_CALLS, ARG_WARMUP, ARG_PID };
        static const struct option options[] = {
                { "address",       required_argument, NULL, ARG_ADDRESS },
                { "calls",         required_argument, NULL, ARG_CALLS },
                { "managed-calls", required_argument, NULL, ARG_MANAGED_CALLS },
                { "warmup",        required_argument, NULL, ARG_WARMUP },
                { "pid",           required_argument, NULL, ARG_PID },
                { "help",          no_argument,       NULL, 'h' },
                {}
        };
        unsigned long v;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                r = 0;
                switch (c) {
                case ARG_ADDRESS:
                        o->address = optarg;
                        break;
                case ARG_CALLS:
                        r = parse_unsigned(optarg, 1, 10000000, &v);
                        o->calls = (unsigned) v;
                        break;
                case ARG_MANAGED_CALLS:
                        r = parse_unsigned(optarg, 1, 10000000, &v);
                        o->managed_calls = (unsigned) v;
                        break;
                case ARG_WARMUP:
                        r = parse_unsigned(optarg, 0, 10000000, &v);
                        o->warmup = (unsigned) v;
                        break;
                case ARG_PID:
                        r = parse_unsigned(optarg, 1, INT32_MAX, &v);
                        o->pid = (pid_t) v;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return -EINVAL;
                }
                if (r < 0) {
                        fprintf(stderr, "Invalid value \"%s\" for --%s\n", optarg, options[c - ARG_ADDRESS].name);
                        return r;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "Unexpected argument \"%s\"\n", argv[optind]);
                return -EINVAL;
        }
        if (!o->address) {
                fprintf(stderr, "--address is required\n");
                return -EINVAL;
        }
        return 1;
}

static int connect_bus(const char *address, sd_bus **ret) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        int r;

        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, true);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

int main(int argc, char *argv[]) {
        Options o = { .calls = 10000, .warmup = 500, .managed_calls = 2000 };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ uint64_t *buf = NULL;
        uint64_t *samples[_CALL_MAX];
        size_t n_samples[_CALL_MAX], n_properties = 0, n_objects = 0;
        double p50[_CALL_MAX], p99[_CALL_MAX];
        Rss idle = {}, after = {}, self = {};
        int r;

        r = parse_argv(argc, argv, &o);
        if (r <= 0)
                return r < 0 ? 2 : 0;

        r = connect_bus(o.address, &bus);
        if (r < 0) {
                fprintf(stderr, "Cannot connect to %s: %s\n", o.address, strerror(-r));
                return EXIT_FAILURE;
        }

        r = check_replies(bus, &n_properties, &n_objects);
        if (r < 0) {
                fprintf(stderr, "Unexpected replies from %s: %s\n", BUS_NAME, strerror(-r));
                return EXIT_FAILURE;
        }
        if (o.pid > 0) {
                r = read_rss(o.pid, &idle);
                if (r < 0) {
                        fprintf(stderr, "Cannot read the status of process %d: %s\n", (int) o.pid, strerror(-r));
                        return EXIT_FAILURE;
                }
        }

        n_samples[CALL_PING] = n_samples[CALL_GET_ALL] = o.calls;
        n_samples[CALL_GET_MANAGED_OBJECTS] = o.managed_calls;
        buf = calloc(2 * (size_t) o.calls + o.managed_calls, sizeof(uint64_t));
        if (!buf)
                return EXIT_FAILURE;
        samples[CALL_PING] = buf;
        samples[CALL_GET_ALL] = buf + o.calls;
        samples[CALL_GET_MANAGED_OBJECTS] = buf + 2 * (size_t) o.calls;

        for (unsigned i = 0; i < o.warmup; i++)
                for (Call c = 0; c < _CALL_MAX; c++)
                        if (call(bus, c, NULL) < 0)
                                return EXIT_FAILURE;

        /* Ping and GetAll alternate, so both see the same state of the machine. */
        for (unsigned i = 0; i < o.calls; i++)
                if (timed_call(bus, CALL_PING, &samples[CALL_PING][i]) < 0 ||
                    timed_call(bus, CALL_GET_ALL, &samples[CALL_GET_ALL][i]) < 0)
                        return EXIT_FAILURE;
        for (unsigned i = 0; i < o.managed_calls; i++)
                if (timed_call(bus, CALL_GET_MANAGED_OBJECTS, &samples[CALL_GET_MANAGED_OBJECTS][i]) < 0)
                        return EXIT_FAILURE;

        if (o.pid > 0 && read_rss(o.pid, &after) < 0)
                after = (Rss) {};
        (void) read_rss(getpid(), &self);

        for (Call c = 0; c < _CALL_MAX; c++) {
                qsort(samples[c], n_samples[c], sizeof(uint64_t), cmp_u64);
                p50[c] = percentile_us(samples[c], n_samples[c], 50);
                p99[c] = percentile_us(samples[c], n_samples[c], 99);
        }

        printf("Bus round trips on one connection, calls one after another after %u warm-up calls each\n"
               "(Manager: %zu properties; %zu objects managed)\n\n",
               o.warmup, n_properties, n_objects);
        printf("  %-34s %7s  %9s  %9s\n", "call", "calls", "p50 µs", "p99 µs");
        for (Call c = 0; c < _CALL_MAX; c++)
                printf("  %-34s %7zu  %9.1f  %9.1f\n", call_names[c], n_samples[c], p50[c], p99[c]);
        printf("\n  GetAll/Ping: p50 %.2f, p99 %.2f   (Ping = the bus round trip alone, the baseline;"
               " goal p50 <= 1.5)\n",
               p50[CALL_GET_ALL] / p50[CALL_PING], p99[CALL_GET_ALL] / p99[CALL_PING]);

        if (o.pid > 0) {
                printf("\nResident memory (VmRSS); idle = after READY=1 and one GetManagedObjects,\n"
                       "nvidia-ccd with %zu GPU objects\n\n", n_objects);
                print_rss("nvidia-ccd, idle", &idle);
                if (after.rss > 0)
                        print_rss("nvidia-ccd, after the calls above", &after);
                if (self.rss > 0)
                        print_rss("bench-bus (a bare sd-bus client)", &self);
                printf("  %-36s %6d KiB  %6.2f MiB  (python3 + kubernetes client, as measured)\n",
                       "Operator's cc-manager runtime", PYTHON_CC_MANAGER_RSS_MIB * 1024,
                       (double) PYTHON_CC_MANAGER_RSS_MIB);
                printf("\n  nvidia-ccd idle / cc-manager: %.3f   (goal: idle <= 4 MiB)\n",
                       idle.rss / (PYTHON_CC_MANAGER_RSS_MIB * 1024.0));
                print_rss_by_object(o.pid, 8);
        }
        return EXIT_SUCCESS;
}
