/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "fake-host.h"
#include "fake-nvcaps.h"
#include "fileio.h"
#include "gpusim.h"
#include "pci-sysfs.h"

#define NVIDIA 0x10de
#define MAX_BRIDGES 256

/* A bridge that devices on its secondary bus sit below. */
typedef struct FakeBridge {
        unsigned domain, secondary_bus;
        char *dir; /* its directory, relative to the root */
} FakeBridge;

struct FakeHost {
        char *root;
        bool remove;      /* tree is removed by fake_host_free */
        int next_group;   /* next fresh IOMMU group */
        unsigned n_bars;  /* devices given MMIO so far, to spread addresses */
        FakeBridge bridges[MAX_BRIDGES];
        size_t n_bridges;
};

/* One PCI function as the builder writes it. */
typedef struct FakeFunction {
        const char *bdf;
        uint16_t vendor, device, subsystem_vendor, subsystem_device;
        uint32_t class_code;
        uint8_t revision;
        const char *driver, *default_driver;
        int iommu_group; /* resolved: -1 none */
        int numa_node;
        bool gpu_bars;
} FakeFunction;

_printf_(2, 0) static char *vpath(const FakeHost *host, const char *fmt, va_list ap) {
        _cleanup_free_ char *rel = NULL;
        char *path;

        if (vasprintf(&rel, fmt, ap) < 0 || asprintf(&path, "%s/%s", host->root, rel) < 0)
                return NULL;
        return path;
}

char *fake_host_path(const FakeHost *host, const char *fmt, ...) {
        va_list ap;
        char *path;

        va_start(ap, fmt);
        path = vpath(host, fmt, ap);
        va_end(ap);
        return path;
}

static int write_file(const char *path, const void *data, size_t size) {
        _cleanup_free_ char *dir = strdup(path);
        _cleanup_close_ int fd = -1;
        char *slash;
        int r;

        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = '\0';
                r = mkdir_parents(dir, 0755);
                if (r < 0)
                        return r;
        }
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        if (size > 0 && write(fd, data, size) != (ssize_t) size)
                return -EIO;
        return 0;
}

/* Writes size bytes of data to the file named by the format under the root. */
static int put(FakeHost *host, const void *data, size_t size, const char *fmt, ...) _printf_(4, 5);
static int put(FakeHost *host, const void *data, size_t size, const char *fmt, ...) {
        _cleanup_free_ char *path = NULL;
        va_list ap;

        va_start(ap, fmt);
        path = vpath(host, fmt, ap);
        va_end(ap);
        return path ? write_file(path, data, size) : -ENOMEM;
}

int fake_host_write(FakeHost *host, const char *relative, const char *content) {
        return put(host, content, strlen(content), "%s", relative);
}

/* The link named by the format, to target (relative to the root), spelled
 * relative to the link's directory as sysfs spells it. */
static int make_link(FakeHost *host, const char *target, const char *fmt, ...) _printf_(3, 4);
static int make_link(FakeHost *host, const char *target, const char *fmt, ...) {
        _cleanup_free_ char *path = NULL, *to = NULL;
        va_list ap;

        va_start(ap, fmt);
        path = vpath(host, fmt, ap);
        va_end(ap);
        to = fake_host_path(host, "%s", target);
        if (!path || !to)
                return -ENOMEM;
        return symlink_relative(to, path);
}

/* Writes the device attribute sys/bus/pci/devices/<bdf>/<attr>. */
static int dev_write(FakeHost *host, const char *bdf, const char *attr, const char *fmt, ...) _printf_(4, 5);
static int dev_write(FakeHost *host, const char *bdf, const char *attr, const char *fmt, ...) {
        _cleanup_free_ char *content = NULL;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&content, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        return put(host, content, (size_t) k, "sys/bus/pci/devices/%s/%s", bdf, attr);
}

int fake_host_add_driver(FakeHost *host, const char *driver) {
        static const char *const files[] = { "bind", "unbind", "new_id", "remove_id", "uevent" };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                r = put(host, "", 0, "sys/bus/pci/drivers/%s/%s", driver, files[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static FakeHost *host_new(const char *root, bool remove) {
        _cleanup_(fake_host_freep) FakeHost *host = calloc(1, sizeof(FakeHost));
        _cleanup_free_ char *devices = NULL, *groups = NULL, *tree = NULL;
        char *canonical;

        if (!host)
                return NULL;
        host->remove = remove;
        host->next_group = 1;
        if (mkdir_parents(root, 0755) < 0)
                return NULL;
        /* Canonical, as hw_host_new makes its root. */
        canonical = realpath(root, NULL);
        if (!canonical)
                return NULL;
        host->root = canonical;

        devices = fake_host_path(host, "sys/bus/pci/devices");
        groups = fake_host_path(host, "sys/kernel/iommu_groups");
        tree = fake_host_path(host, "sys/devices");
        if (!devices || !groups || !tree || mkdir_parents(devices, 0755) < 0 || mkdir_parents(groups, 0755) < 0 ||
            mkdir_parents(tree, 0755) < 0 ||
            put(host, "", 0, "sys/bus/pci/drivers_probe") < 0 ||
            put(host, "", 0, "sys/bus/pci/rescan") < 0 ||
            put(host, "", 0, "dev/vfio/vfio") < 0 ||
            fake_host_add_driver(host, "nvidia") < 0 ||
            fake_host_add_driver(host, "vfio-pci") < 0 ||
            fake_host_set_modules_alias(host, NULL) < 0)
                return NULL;
        return TAKE_PTR(host);
}

FakeHost *fake_host_new(void) {
        _cleanup_free_ char *dir = NULL;
        const char *tmp = getenv("TMPDIR");

        if (asprintf(&dir, "%s/fakehost-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
                return NULL;
        if (!mkdtemp(dir))
                return NULL;
        return host_new(dir, true);
}

FakeHost *fake_host_new_at(const char *root) {
        return host_new(root, true);
}

void fake_host_keep(FakeHost *host) {
        host->remove = false;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

FakeHost *fake_host_free(FakeHost *host) {
        if (!host)
                return NULL;
        if (host->remove && host->root)
                (void) nftw(host->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        for (size_t i = 0; i < host->n_bridges; i++)
                free(host->bridges[i].dir);
        free(host->root);
        free(host);
        return NULL;
}

const char *fake_host_root(const FakeHost *host) {
        return host->root;
}

static bool is_vfio(const char *driver) {
        return driver && strstr(driver, "vfio");
}

/* Kernel resource flags: memory, 64-bit, size-aligned (+ prefetchable),
 * with the BAR's own type bits in the low nibble. */
#define RES_MEM64      0x00140204ull
#define RES_MEM64_PREF 0x0014220cull
#define RES_MEM32      0x00040200ull

static int write_bars(FakeHost *host, const FakeFunction *f) {
        unsigned long long start[13] = {}, size[13] = {}, flags[13] = {};
        uint8_t config[256] = {};
        char text[13 * 64];
        size_t used = 0;
        /* Each device gets a 512 GiB window, as firmware spreads HGX GPUs. */
        unsigned long long base = 0x200000000000ull + (unsigned long long) host->n_bars++ * 0x8000000000ull;
        _cleanup_free_ char *path = NULL;
        int r;

        if (f->gpu_bars) {
                /* BAR0 16 MiB registers, BAR1 128 GiB, BAR3 32 MiB: the slots
                 * 0, 2, 4 of 64-bit BARs, as on the real H100. */
                start[0] = base + 0x4000000000ull, size[0] = 16ull << 20, flags[0] = RES_MEM64;
                start[2] = base, size[2] = 128ull << 30, flags[2] = RES_MEM64_PREF;
                start[4] = base + 0x4002000000ull, size[4] = 32ull << 20, flags[4] = RES_MEM64_PREF;
        } else {
                start[0] = 0xe0000000ull + (host->n_bars % 256) * 0x100000ull, size[0] = 1ull << 20, flags[0] = RES_MEM32;
        }
        for (size_t i = 0; i < 13; i++)
                used += (size_t) snprintf(text + used, sizeof(text) - used, "0x%016llx 0x%016llx 0x%016llx\n",
                                          start[i], size[i] ? start[i] + size[i] - 1 : 0, flags[i]);

        config[0x00] = f->vendor & 0xff, config[0x01] = f->vendor >> 8;
        config[0x02] = f->device & 0xff, config[0x03] = f->device >> 8;
        config[0x04] = 0x06, config[0x05] = 0x04; /* memory, bus master, INTx off */
        config[0x08] = f->revision;
        config[0x09] = f->class_code & 0xff;
        config[0x0a] = (f->class_code >> 8) & 0xff;
        config[0x0b] = (f->class_code >> 16) & 0xff;
        for (size_t bar = 0; bar < 6; bar++) {
                uint32_t lo = (uint32_t) (start[bar] | (flags[bar] & 0xf)), hi = (uint32_t) (start[bar] >> 32);
                memcpy(config + 0x10 + 4 * bar, &lo, 4);
                if (flags[bar] & 0x4 && bar < 5) /* 64-bit: the next slot is the high half */
                        memcpy(config + 0x10 + 4 * ++bar, &hi, 4);
        }
        config[0x2c] = f->subsystem_vendor & 0xff, config[0x2d] = f->subsystem_vendor >> 8;
        config[0x2e] = f->subsystem_device & 0xff, config[0x2f] = f->subsystem_device >> 8;
        config[0x3c] = 0xff, config[0x3d] = 0x01;

        r = put(host, text, used, "sys/bus/pci/devices/%s/resource", f->bdf);
        if (r >= 0)
                r = put(host, config, sizeof(config), "sys/bus/pci/devices/%s/config", f->bdf);
        if (r < 0 || !f->gpu_bars)
                return r;
        /* resource0 as a sparse 16 MiB file: a BAR0 mmap on an unsimulated
         * fake tree reads zeros instead of faulting. */
        path = fake_host_path(host, "sys/bus/pci/devices/%s/resource0", f->bdf);
        if (!path)
                return -ENOMEM;
        r = write_file(path, "", 0);
        if (r < 0)
                return r;
        return truncate(path, BAR0_SIZE) < 0 ? -errno : 0;
}

static int add_group_member(FakeHost *host, const char *bdf, int group) {
        _cleanup_free_ char *dir = NULL, *to_group = NULL, *to_device = NULL;
        int r;

        dir = fake_host_path(host, "sys/kernel/iommu_groups/%d/devices", group);
        if (!dir ||
            asprintf(&to_group, "sys/kernel/iommu_groups/%d", group) < 0 ||
            asprintf(&to_device, "sys/bus/pci/devices/%s", bdf) < 0)
                return -ENOMEM;
        r = mkdir_parents(dir, 0755);
        if (r >= 0)
                r = put(host, "DMA\n", 4, "sys/kernel/iommu_groups/%d/type", group);
        if (r >= 0)
                r = make_link(host, to_group, "sys/bus/pci/devices/%s/iommu_group", bdf);
        if (r >= 0)
                r = make_link(host, to_device, "sys/kernel/iommu_groups/%d/devices/%s", group, bdf);
        if (r >= 0 && group >= host->next_group)
                host->next_group = group + 1;
        return r;
}

/* Binds as the kernel leaves it: both links, and the group's vfio node. */
static int bind_driver(FakeHost *host, const char *bdf, const char *driver, int group) {
        _cleanup_free_ char *to_driver = NULL, *to_device = NULL;
        int r;

        if (asprintf(&to_driver, "sys/bus/pci/drivers/%s", driver) < 0 ||
            asprintf(&to_device, "sys/bus/pci/devices/%s", bdf) < 0)
                return -ENOMEM;
        r = fake_host_add_driver(host, driver);
        if (r >= 0)
                r = make_link(host, to_driver, "sys/bus/pci/devices/%s/driver", bdf);
        if (r >= 0)
                r = make_link(host, to_device, "sys/bus/pci/drivers/%s/%s", driver, bdf);
        if (r >= 0 && is_vfio(driver) && group >= 0)
                r = put(host, "", 0, "dev/vfio/%d", group);
        return r;
}

static int parse_domain_bus(const char *bdf, unsigned *ret_domain, unsigned *ret_bus) {
        int n = 0;

        if (!hw_pci_bdf_is_valid(bdf) || sscanf(bdf, "%x:%x:%n", ret_domain, ret_bus, &n) != 2 || n == 0)
                return -EINVAL;
        return 0;
}

/* Where the kernel puts a device: below the bridge whose secondary bus it
 * is on, else on its root bus, sys/devices/pci<domain>:<bus>/<bdf> (relative
 * to the root). */
static int device_dir_of(FakeHost *host, const char *bdf, char **ret) {
        unsigned domain, bus;
        int r;

        r = parse_domain_bus(bdf, &domain, &bus);
        if (r < 0)
                return r;
        for (size_t i = host->n_bridges; i > 0; i--) {
                const FakeBridge *b = &host->bridges[i - 1];
                if (b->domain == domain && b->secondary_bus == bus)
                        return asprintf(ret, "%s/%s", b->dir, bdf) < 0 ? -ENOMEM : 0;
        }
        return asprintf(ret, "sys/devices/pci%04x:%02x/%s", domain, bus, bdf) < 0 ? -ENOMEM : 0;
}

/* The device's directory with the links the kernel gives it: the bus's
 * link to it, and its `subsystem`. */
static int add_device_dir(FakeHost *host, const char *bdf) {
        _cleanup_free_ char *rel = NULL, *dir = NULL, *link = NULL;
        int r;

        r = device_dir_of(host, bdf, &rel);
        if (r < 0)
                return r;
        dir = fake_host_path(host, "%s", rel);
        link = fake_host_path(host, "sys/bus/pci/devices/%s", bdf);
        if (!dir || !link)
                return -ENOMEM;
        if (access(link, F_OK) == 0 || errno != ENOENT)
                return -EEXIST;
        r = mkdir_parents(dir, 0755);
        if (r < 0)
                return r;
        r = make_link(host, rel, "sys/bus/pci/devices/%s", bdf);
        if (r < 0)
                return r;
        return make_link(host, "sys/bus/pci", "%s/subsystem", rel);
}

static int add_function(FakeHost *host, const FakeFunction *f) {
        _cleanup_free_ char *modalias = NULL;
        const char *bdf = f->bdf;
        unsigned cls = f->class_code;
        int r;

        r = add_device_dir(host, bdf);
        if (r < 0)
                return r;
        if (asprintf(&modalias, "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X", f->vendor, f->device,
                     f->subsystem_vendor, f->subsystem_device, cls >> 16, (cls >> 8) & 0xff, cls & 0xff) < 0)
                return -ENOMEM;

        if ((r = dev_write(host, bdf, "vendor", "0x%04x\n", f->vendor)) < 0 ||
            (r = dev_write(host, bdf, "device", "0x%04x\n", f->device)) < 0 ||
            (r = dev_write(host, bdf, "subsystem_vendor", "0x%04x\n", f->subsystem_vendor)) < 0 ||
            (r = dev_write(host, bdf, "subsystem_device", "0x%04x\n", f->subsystem_device)) < 0 ||
            (r = dev_write(host, bdf, "class", "0x%06x\n", cls)) < 0 ||
            (r = dev_write(host, bdf, "revision", "0x%02x\n", f->revision)) < 0 ||
            (r = dev_write(host, bdf, "irq", "%d\n", 16 + (int) host->n_bars)) < 0 ||
            (r = dev_write(host, bdf, "numa_node", "%d\n", f->numa_node)) < 0 ||
            (r = dev_write(host, bdf, "modalias", "%s\n", modalias)) < 0 ||
            (r = dev_write(host, bdf, "uevent", "%s%s%sPCI_CLASS=%X\nPCI_ID=%04X:%04X\nPCI_SUBSYS_ID=%04X:%04X\n"
                           "PCI_SLOT_NAME=%s\nMODALIAS=%s\n", f->driver ? "DRIVER=" : "", strempty(f->driver),
                           f->driver ? "\n" : "", cls, f->vendor, f->device, f->subsystem_vendor,
                           f->subsystem_device, bdf, modalias)) < 0 ||
            (r = dev_write(host, bdf, "driver_override", "(null)\n")) < 0 ||
            (r = dev_write(host, bdf, "reset", "%s", "")) < 0 ||
            (r = dev_write(host, bdf, "reset_method", "flr\n")) < 0 ||
            (r = dev_write(host, bdf, "enable", "1\n")) < 0 ||
            (r = dev_write(host, bdf, "power_state", "D0\n")) < 0 ||
            (r = dev_write(host, bdf, "sim_default_driver", "%s\n",
                           strempty(f->default_driver ? f->default_driver : f->driver))) < 0 ||
            (r = write_bars(host, f)) < 0)
                return r;

        if (f->iommu_group >= 0 && (r = add_group_member(host, bdf, f->iommu_group)) < 0)
                return r;
        if (f->driver && (r = bind_driver(host, bdf, f->driver, f->iommu_group)) < 0)
                return r;
        return 0;
}

static int resolve_group(FakeHost *host, int requested) {
        if (requested == 0)
                return host->next_group;
        return requested < 0 ? -1 : requested;
}

static int add_nvidia(FakeHost *host, const char *bdf, uint16_t device_id, uint32_t default_class,
                      const FakeGpuOptions *opts) {
        static const FakeGpuOptions defaults = {};
        _cleanup_free_ char *state = NULL;
        FakeFunction f;
        GpuArch arch;
        int r;

        assert(host);
        assert(bdf);

        if (!opts)
                opts = &defaults;
        f = (FakeFunction) {
                .bdf = bdf,
                .vendor = NVIDIA,
                .device = device_id,
                .subsystem_vendor = NVIDIA,
                .subsystem_device = opts->subsystem_device,
                .class_code = opts->class_code ? opts->class_code : default_class,
                .revision = 0xa1,
                .driver = opts->driver,
                .default_driver = opts->default_driver,
                .iommu_group = resolve_group(host, opts->iommu_group),
                .numa_node = opts->numa_node,
                .gpu_bars = true,
        };
        r = add_function(host, &f);
        if (r >= 0 && (f.class_code >> 16) == 0x03)
                r = fake_host_add_nvidia_gpu_entry(host, bdf, device_id);
        if (r < 0)
                return r;

        arch = gpusim_arch_of(f.vendor, f.device, f.class_code);
        if (arch == GPU_ARCH_OTHER || opts->no_gpusim)
                return 0;
        state = fake_host_path(host, "sys/bus/pci/devices/%s/gpusim.ini", bdf);
        if (!state)
                return -ENOMEM;
        r = gpusim_create(state, arch, opts->boot_ms, arch == GPU_ARCH_LS10_NVSWITCH ? DEVICE_CC_OFF : opts->mode);
        if (r < 0)
                return r;
        if (arch == GPU_ARCH_BLACKWELL) {
                GpuChip chip = gpusim_chip_of(f.vendor, f.device, f.class_code);
                _cleanup_free_ char *config = fake_host_path(host, "sys/bus/pci/devices/%s/config", bdf);

                if (!config)
                        return -ENOMEM;
                r = fake_nvcaps_write(config, chip);
                if (r >= 0)
                        r = gpusim_set(state, "Device", "Chip", gpu_chip_to_string(chip));
                if (r < 0)
                        return r;
        }
        if (opts->fsp_latency_ms == 0)
                return r;
        {
                char value[16];
                snprintf(value, sizeof(value), "%u", opts->fsp_latency_ms);
                return gpusim_set(state, "Device", "FspLatencyMs", value);
        }
}

int fake_host_add_gpu(FakeHost *host, const char *bdf, uint16_t device_id, const FakeGpuOptions *opts) {
        return add_nvidia(host, bdf, device_id, 0x030200, opts);
}

int fake_host_add_nvswitch(FakeHost *host, const char *bdf, uint16_t device_id, const FakeGpuOptions *opts) {
        return add_nvidia(host, bdf, device_id, 0x068000, opts);
}

int fake_host_add_device(FakeHost *host, const char *bdf, uint16_t vendor_id, uint16_t device_id,
                         uint32_t class_code, const char *driver, int iommu_group) {
        FakeFunction f = {
                .bdf = bdf,
                .vendor = vendor_id,
                .device = device_id,
                .subsystem_vendor = vendor_id,
                .class_code = class_code,
                .driver = driver,
                .iommu_group = resolve_group(host, iommu_group),
                .numa_node = -1,
        };

        assert(host);
        assert(bdf);
        return add_function(host, &f);
}

int fake_host_add_virtfn(FakeHost *host, const char *pf_bdf, const char *vf_bdf, uint16_t device_id) {
        _cleanup_free_ char *vendor = NULL, *class = NULL, *path = NULL, *to_pf = NULL, *to_vf = NULL;
        int r;

        assert(host);

        path = fake_host_path(host, "sys/bus/pci/devices/%s/vendor", pf_bdf);
        if (!path)
                return -ENOMEM;
        r = read_text_file(path, &vendor);
        free(path);
        path = fake_host_path(host, "sys/bus/pci/devices/%s/class", pf_bdf);
        if (r < 0 || !path || (r = read_text_file(path, &class)) < 0)
                return r < 0 ? r : -ENOMEM;

        r = fake_host_add_device(host, vf_bdf, (uint16_t) strtoul(vendor, NULL, 16), device_id,
                                 (uint32_t) strtoul(class, NULL, 16), NULL, 0);
        if (r < 0)
                return r;
        if (asprintf(&to_pf, "sys/bus/pci/devices/%s", pf_bdf) < 0 ||
            asprintf(&to_vf, "sys/bus/pci/devices/%s", vf_bdf) < 0)
                return -ENOMEM;
        r = make_link(host, to_pf, "sys/bus/pci/devices/%s/physfn", vf_bdf);
        if (r >= 0)
                r = make_link(host, to_vf, "sys/bus/pci/devices/%s/virtfn0", pf_bdf);
        return r;
}

int fake_host_set_tee(FakeHost *host, const char *tee) {
        _cleanup_free_ char *tdx = fake_host_path(host, "sys/module/kvm_intel/parameters/tdx");
        _cleanup_free_ char *snp = fake_host_path(host, "sys/module/kvm_amd/parameters/sev_snp");

        if (!tdx || !snp)
                return -ENOMEM;
        (void) unlink(tdx);
        (void) unlink(snp);
        if (streq(tee, "tdx"))
                return write_file(tdx, "Y\n", 2);
        if (streq(tee, "sev-snp"))
                return write_file(snp, "Y\n", 2);
        if (streq(tee, "none"))
                return write_file(tdx, "N\n", 2); /* an Intel host without TDX */
        return -EINVAL;
}

int fake_host_add_audio(FakeHost *host, const char *bdf, int iommu_group, const char *driver) {
        return fake_host_add_device(host, bdf, NVIDIA, 0x22ba, 0x040300, driver, iommu_group);
}

int fake_host_add_usb(FakeHost *host, const char *bdf, int iommu_group, const char *driver) {
        return fake_host_add_device(host, bdf, NVIDIA, 0x1ad8, 0x0c0330, driver, iommu_group);
}

int fake_host_add_ucsi(FakeHost *host, const char *bdf, int iommu_group, const char *driver) {
        return fake_host_add_device(host, bdf, NVIDIA, 0x1ad9, 0x0c8000, driver, iommu_group);
}

int fake_host_add_bridge(FakeHost *host, const char *bdf, int iommu_group) {
        return fake_host_add_device(host, bdf, 0x10b5, 0xc010, 0x060400, "pcieport", iommu_group);
}

int fake_host_add_bridge_to(FakeHost *host, const char *bdf, unsigned secondary_bus, int iommu_group) {
        _cleanup_free_ char *dir = NULL;
        unsigned domain, bus;
        int r;

        assert(host);

        r = parse_domain_bus(bdf, &domain, &bus);
        if (r < 0)
                return r;
        if (secondary_bus > 0xff || secondary_bus <= bus)
                return -EINVAL;
        if (host->n_bridges >= MAX_BRIDGES)
                return -E2BIG;
        r = device_dir_of(host, bdf, &dir);
        if (r < 0)
                return r;
        r = fake_host_add_bridge(host, bdf, iommu_group);
        if (r < 0)
                return r;
        host->bridges[host->n_bridges++] = (FakeBridge) {
                .domain = domain, .secondary_bus = secondary_bus, .dir = TAKE_PTR(dir) };
        return 0;
}

char *fake_host_device_dir(const FakeHost *host, const char *bdf) {
        _cleanup_free_ char *link = fake_host_path(host, "sys/bus/pci/devices/%s", bdf);

        return link ? realpath(link, NULL) : NULL;
}

int fake_host_add_nic(FakeHost *host, const char *bdf, int iommu_group, const char *driver) {
        return fake_host_add_device(host, bdf, 0x15b3, 0x1021, 0x020000, driver, iommu_group);
}

/* ---- modules.alias.bin: libkmod's index format (libkmod-index.c) -------
 * A trie of the patterns, integers big-endian:
 *   header: magic 0xB007F457, version 0x00020001, root offset
 *   node:   [first char, last char, child offsets...] [value count, (priority, value\0)...]
 * the flags of which parts a node has in the high nibble of its offset.
 * One character per edge: libkmod reads prefixes but needs none. */

#define INDEX_MAGIC 0xB007F457u
#define INDEX_VERSION 0x00020001u
#define INDEX_NODE_VALUES 0x40000000u
#define INDEX_NODE_CHILDS 0x20000000u

typedef struct TrieNode {
        struct TrieNode *children[128];
        char **values;
        unsigned *priorities;
        size_t n_values;
} TrieNode;

static void trie_free(TrieNode *n) {
        if (!n)
                return;
        for (size_t i = 0; i < 128; i++)
                trie_free(n->children[i]);
        for (size_t i = 0; i < n->n_values; i++)
                free(n->values[i]);
        free(n->values);
        free(n->priorities);
        free(n);
}

static int trie_add(TrieNode *root, const char *key, const char *value, unsigned priority) {
        TrieNode *n = root;
        char **values;
        unsigned *priorities;

        for (const char *p = key; *p; p++) {
                unsigned char c = (unsigned char) *p;
                if (c == 0 || c >= 128)
                        return -EINVAL;
                if (!n->children[c] && !(n->children[c] = calloc(1, sizeof(TrieNode))))
                        return -ENOMEM;
                n = n->children[c];
        }
        values = realloc(n->values, (n->n_values + 1) * sizeof(char *));
        if (!values)
                return -ENOMEM;
        n->values = values;
        priorities = realloc(n->priorities, (n->n_values + 1) * sizeof(unsigned));
        if (!priorities)
                return -ENOMEM;
        n->priorities = priorities;
        n->values[n->n_values] = strdup(value);
        if (!n->values[n->n_values])
                return -ENOMEM;
        n->priorities[n->n_values++] = priority;
        return 0;
}

static void put_u32(FILE *f, uint32_t v) {
        uint8_t b[4] = { v >> 24, v >> 16, v >> 8, v };
        fwrite(b, 1, 4, f);
}

/* Writes the children first, so their offsets are known; returns the
 * node's offset with its flags. */
static uint32_t trie_write(FILE *f, const TrieNode *n) {
        uint32_t child[128] = {}, flags = 0, offset;
        int first = -1, last = -1;

        for (int c = 0; c < 128; c++)
                if (n->children[c]) {
                        child[c] = trie_write(f, n->children[c]);
                        if (first < 0)
                                first = c;
                        last = c;
                }
        offset = (uint32_t) ftell(f);
        if (first >= 0) {
                flags |= INDEX_NODE_CHILDS;
                fputc(first, f);
                fputc(last, f);
                for (int c = first; c <= last; c++)
                        put_u32(f, child[c]);
        }
        if (n->n_values > 0) {
                flags |= INDEX_NODE_VALUES;
                put_u32(f, (uint32_t) n->n_values);
                for (size_t i = 0; i < n->n_values; i++) {
                        put_u32(f, n->priorities[i]);
                        fwrite(n->values[i], 1, strlen(n->values[i]) + 1, f);
                }
        }
        return offset | flags;
}

static int write_alias_index(const char *path, char **patterns, char **modules, size_t n) {
        _cleanup_fclose_ FILE *f = NULL;
        TrieNode *root = calloc(1, sizeof(TrieNode));
        uint32_t root_offset;
        int r = 0;

        if (!root)
                return -ENOMEM;
        for (size_t i = 0; i < n && r >= 0; i++)
                r = trie_add(root, patterns[i], modules[i], (unsigned) i);
        if (r >= 0 && !(f = fopen(path, "we")))
                r = -errno;
        if (r >= 0) {
                put_u32(f, INDEX_MAGIC);
                put_u32(f, INDEX_VERSION);
                put_u32(f, 0); /* root offset, written last */
                root_offset = trie_write(f, root);
                fseek(f, 8, SEEK_SET);
                put_u32(f, root_offset);
                if (fflush(f) != 0 || ferror(f))
                        r = -EIO;
        }
        trie_free(root);
        return r;
}

int fake_host_set_modules_alias(FakeHost *host, const char *const *extra) {
        static const char *const builtin[] = { "vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci", NULL };
        const char *const *lists[] = { builtin, extra };
        char *patterns[64], *modules[64];
        _cleanup_free_ char *text = NULL, *bin = NULL;
        size_t n = 0, used = 0;
        struct utsname u;
        int r = 0;

        if (uname(&u) < 0)
                return -errno;
        text = malloc(64 * 256);
        if (!text)
                return -ENOMEM;
        for (size_t l = 0; l < ELEMENTSOF(lists); l++)
                for (const char *const *a = lists[l]; a && *a && r >= 0; a++) {
                        const char *space = strchr(*a, ' ');
                        if (!space || n >= ELEMENTSOF(patterns) || strlen(*a) > 200) {
                                r = -EINVAL;
                                break;
                        }
                        patterns[n] = strndup(*a, (size_t) (space - *a));
                        modules[n] = strdup(space + 1);
                        if (!patterns[n] || !modules[n]) {
                                free(patterns[n]);
                                free(modules[n]);
                                r = -ENOMEM;
                                break;
                        }
                        used += (size_t) sprintf(text + used, "alias %s\n", *a);
                        n++;
                }
        if (r >= 0)
                r = put(host, text, used, "lib/modules/%s/modules.alias", u.release);
        if (r >= 0 && !(bin = fake_host_path(host, "lib/modules/%s/modules.alias.bin", u.release)))
                r = -ENOMEM;
        if (r >= 0)
                r = write_alias_index(bin, patterns, modules, n);
        for (size_t i = 0; i < n; i++) {
                free(patterns[i]);
                free(modules[i]);
        }
        return r;
}

int fake_host_enable_iommufd(FakeHost *host) {
        return put(host, "", 0, "dev/iommu");
}

int fake_host_inject_bind_error(FakeHost *host, const char *bdf, int errno_value) {
        _cleanup_free_ char *path = NULL;
        char value[16];

        if (errno_value == 0) {
                path = fake_host_path(host, "sys/bus/pci/devices/%s/sim_bind_errno", bdf);
                if (!path)
                        return -ENOMEM;
                return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
        }
        snprintf(value, sizeof(value), "%d\n", errno_value);
        return dev_write(host, bdf, "sim_bind_errno", "%s", value);
}

int fake_host_remove_iommu_groups(FakeHost *host) {
        _cleanup_free_ char *path = fake_host_path(host, "sys/kernel/iommu_groups");

        if (!path)
                return -ENOMEM;
        return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 ? -errno : 0;
}
