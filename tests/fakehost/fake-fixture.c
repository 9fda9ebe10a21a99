/* SPDX-License-Identifier: MIT */

/* A device from a snapshot of a real host's sysfs (the format of
 * tests/fixtures/h100-sxm5-host.txt and h200-sxm-host.txt): "attribute: value" lines, the driver
 * link as "driver -> ...", "iommu_group: (absent)", resource lines and the
 * first 256 bytes of config space as an od dump.  The device is built with
 * the typed helpers, then every attribute the snapshot has overwrites the
 * builder's value, so the tree reads as that host's did. */

#include <assert.h>
#include <ctype.h>
#include <limits.h>

#include "fake-host.h"

#define MAX_ATTRS 64

typedef struct Fixture {
        char *bdf;
        char *driver;
        uint16_t vendor, device, subsystem_device;
        uint32_t class_code;
        int numa_node;
        int iommu_group;
        char *attr[MAX_ATTRS], *value[MAX_ATTRS];
        size_t n_attrs;
        char resource[13 * 64];
        uint8_t config[256];
        bool has_config;
        unsigned next_slot;
} Fixture;

static void fixture_done(Fixture *f) {
        free(f->bdf);
        free(f->driver);
        for (size_t i = 0; i < f->n_attrs; i++) {
                free(f->attr[i]);
                free(f->value[i]);
        }
}

static char *strip(char *s) {
        char *e;

        while (isspace((unsigned char) *s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char) e[-1]))
                *--e = '\0';
        return s;
}

static const char *last_component(const char *s) {
        const char *slash = strrchr(s, '/');
        return slash ? slash + 1 : s;
}

/* "000040 01 48 13 00 ...": an offset of 6 hex digits, then 16 bytes. */
static bool is_config_line(const char *line) {
        return strspn(line, "0123456789abcdef") == 6 && line[6] == ' ';
}

static void parse_config_line(Fixture *f, const char *line) {
        unsigned long offset = strtoul(line, NULL, 16);
        const char *p = line + 6;
        unsigned byte;
        int k;

        if (offset > sizeof(f->config) - 16)
                return;
        /* "0000a0 .. 0000ff all 00" stops at once: those bytes stay zero. */
        for (unsigned i = 0; i < 16 && sscanf(p, " %2x%n", &byte, &k) == 1; i++, p += k)
                f->config[offset + i] = (uint8_t) byte;
}

#define RESOURCE_LINE_EMPTY "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
#define RESOURCE_LINE_LEN (sizeof(RESOURCE_LINE_EMPTY) - 1)

/* Snapshots number resource[i] in one of two ways: by BAR (h100-sxm5-host.txt:
 * 0, 1, 2 for the 64-bit BARs that sysfs's `resource` shows on lines 0, 2,
 * 4) or by line (h200-sxm-host.txt: 0 to 6, the upper halves as empty
 * lines).  An entry goes on line i when that is free, else on the next free
 * line; empty lines are what the file has anyway. */
static int parse_resource(Fixture *f, const char *key, const char *value) {
        unsigned long long start, end, flags;
        size_t used = strlen(f->resource);
        unsigned long index;
        char *e;

        if (sscanf(value, "%llx %llx %llx", &start, &end, &flags) != 3)
                return -EBADMSG;
        errno = 0;
        index = strtoul(key + 9, &e, 10);
        if (errno != 0 || e == key + 9 || !streq(e, "]") || index >= 13)
                return -EBADMSG;
        if (start == 0 && end == 0 && flags == 0)
                return 0;
        if (index > f->next_slot)
                f->next_slot = (unsigned) index;
        if (f->next_slot >= 13)
                return -EBADMSG;
        for (; used / RESOURCE_LINE_LEN < f->next_slot; used += RESOURCE_LINE_LEN)
                strcpy(f->resource + used, RESOURCE_LINE_EMPTY);
        snprintf(f->resource + used, sizeof(f->resource) - used, "0x%016llx 0x%016llx 0x%016llx\n",
                 start, end, flags);
        f->next_slot += (flags & 0x4) ? 2 : 1;
        return 0;
}

static int parse_line(Fixture *f, char *line, bool *in_config) {
        char *key, *value, *sep;

        if (*in_config && is_config_line(line)) {
                parse_config_line(f, line);
                return 0;
        }
        if ((sep = strstr(line, " -> "))) {
                *sep = '\0';
                if (!streq(strip(line), "driver"))
                        return 0;
                free(f->driver);
                f->driver = strdup(last_component(strip(sep + 4)));
                return f->driver ? 0 : -ENOMEM;
        }
        sep = strchr(line, ':');
        if (!sep)
                return 0;
        *sep = '\0';
        key = strip(line);
        value = sep + 1;
        if ((sep = strstr(value, " #"))) /* trailing comment */
                *sep = '\0';
        value = strip(value);

        if (streq(key, "config")) {
                *in_config = f->has_config = true;
                return 0;
        }
        if (streq(key, "device_dir")) {
                free(f->bdf);
                f->bdf = strdup(last_component(value));
                return f->bdf ? 0 : -ENOMEM;
        }
        if (streq(key, "iommu_group")) {
                char *end;
                long group;

                if (!isdigit((unsigned char) *value)) {
                        f->iommu_group = FAKE_NO_IOMMU;
                        return 0;
                }
                errno = 0;
                group = strtol(value, &end, 10);
                /* The builder numbers groups after the largest it has seen. */
                if (errno != 0 || *end != '\0' || group < 0 || group >= INT_MAX)
                        return -EINVAL;
                f->iommu_group = (int) group;
                return 0;
        }
        if (strncmp(key, "resource[", 9) == 0)
                return parse_resource(f, key, value);
        if (streq(key, "files") || !*key || strstr(key, "..") || key[0] == '/')
                return 0;

        if (streq(key, "vendor"))
                f->vendor = (uint16_t) strtoul(value, NULL, 16);
        else if (streq(key, "device"))
                f->device = (uint16_t) strtoul(value, NULL, 16);
        else if (streq(key, "subsystem_device"))
                f->subsystem_device = (uint16_t) strtoul(value, NULL, 16);
        else if (streq(key, "class"))
                f->class_code = (uint32_t) strtoul(value, NULL, 16);
        else if (streq(key, "numa_node"))
                f->numa_node = atoi(value);

        if (f->n_attrs >= MAX_ATTRS)
                return -E2BIG;
        f->attr[f->n_attrs] = strdup(key);
        /* uevent is one line in the snapshot, "|" between its lines. */
        if (asprintf(&f->value[f->n_attrs], "%s\n", value) < 0)
                f->value[f->n_attrs] = NULL;
        if (!f->attr[f->n_attrs] || !f->value[f->n_attrs])
                return -ENOMEM;
        if (streq(key, "uevent"))
                for (char *p = f->value[f->n_attrs]; *p; p++)
                        if (*p == '|')
                                *p = '\n';
        f->n_attrs++;
        return 0;
}

static int build(FakeHost *host, Fixture *f) {
        char rel[256];
        int r;

        if (f->vendor == 0x10de && (f->class_code >> 8) == 0x0680)
                r = fake_host_add_nvswitch(host, f->bdf, f->device, &(FakeGpuOptions) {
                        .driver = f->driver, .iommu_group = f->iommu_group, .numa_node = f->numa_node,
                        .class_code = f->class_code, .subsystem_device = f->subsystem_device });
        else if (f->vendor == 0x10de)
                r = fake_host_add_gpu(host, f->bdf, f->device, &(FakeGpuOptions) {
                        .driver = f->driver, .iommu_group = f->iommu_group, .numa_node = f->numa_node,
                        .class_code = f->class_code, .subsystem_device = f->subsystem_device });
        else
                r = fake_host_add_device(host, f->bdf, f->vendor, f->device, f->class_code,
                                         f->driver, f->iommu_group);
        if (r < 0)
                return r;

        for (size_t i = 0; i < f->n_attrs; i++) {
                snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/%s", f->bdf, f->attr[i]);
                r = fake_host_write(host, rel, f->value[i]);
                if (r < 0)
                        return r;
        }
        if (f->resource[0]) {
                snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/resource", f->bdf);
                r = fake_host_write(host, rel, f->resource);
                if (r < 0)
                        return r;
        }
        if (f->has_config) {
                _cleanup_free_ char *path = fake_host_path(host, "sys/bus/pci/devices/%s/config", f->bdf);
                _cleanup_fclose_ FILE *out = NULL;

                if (!path)
                        return -ENOMEM;
                out = fopen(path, "we");
                if (!out)
                        return -errno;
                if (fwrite(f->config, 1, sizeof(f->config), out) != sizeof(f->config) || fflush(out) != 0)
                        return -EIO;
        }
        return 0;
}

int fake_host_add_from_fixture(FakeHost *host, const char *path, char **ret_bdf) {
        _cleanup_fclose_ FILE *in = NULL;
        _cleanup_free_ char *line = NULL;
        Fixture f = { .numa_node = -1, .iommu_group = 0 };
        bool in_config = false;
        size_t size = 0;
        int r = 0;

        assert(host);
        assert(path);

        in = fopen(path, "re");
        if (!in)
                return -errno;
        while (getline(&line, &size, in) >= 0) {
                char *l = strip(line);
                if (*l == '#' || *l == '\0')
                        continue;
                r = parse_line(&f, l, &in_config);
                if (r < 0)
                        goto finish;
        }
        if (!f.bdf || !f.vendor) {
                r = -EBADMSG;
                goto finish;
        }
        r = build(host, &f);
        if (r >= 0 && ret_bdf)
                *ret_bdf = TAKE_PTR(f.bdf);
finish:
        fixture_done(&f);
        return r;
}
