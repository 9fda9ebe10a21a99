/* SPDX-License-Identifier: MIT */

/* The kernel's side of the PCI sysfs attributes, played on a fake tree laid
 * out as the kernel lays out /sys:
 *
 *   <root>/sys/devices/pci<domain>:<bus>/[<bridge>/...]<bdf>/   the device
 *       driver -> ../../../bus/pci/drivers/<drv>                 when bound
 *       iommu_group -> ../../../kernel/iommu_groups/<N>
 *       subsystem -> ../../../bus/pci
 *       driver_override sim_default_driver gpusim.ini reset ...
 *   <root>/sys/bus/pci/devices/<bdf> -> ../../../devices/pci<domain>:<bus>/.../<bdf>
 *   <root>/sys/bus/pci/drivers/<drv>/{bind,unbind,new_id,remove_id}
 *       <bdf> -> ../../../../devices/pci<domain>:<bus>/.../<bdf>   when bound
 *   <root>/sys/bus/pci/drivers_probe
 *   <root>/sys/kernel/iommu_groups/<N>/devices/<bdf> -> ../../../../devices/.../<bdf>
 *   <root>/dev/vfio/<N>                         while a member is bound to vfio
 *   <root>/dev/vfio/devices/vfio<M>, <bdf>/vfio-dev/vfio<M>
 *                                               with iommufd (<root>/dev/iommu), per device bound to vfio
 *   <root>/sys/module/<module>/drivers/pci:<drv> a module "loaded" by kernel_sim_load_module()
 *   <bdf>/sim_bind_errno                        test hook: a bind to a vfio driver fails with this errno
 *   <bdf>/sim_bind_delay_ms                     test hook: a bind to a vfio driver takes this long, as
 *                                               a driver's probe may
 *   <bdf>/sim_unbind_fifo                       test hook (a FIFO): the next unbind blocks, its driver links
 *                                               already gone, until a byte is written to it, as a driver's
 *                                               remove waits for the last process using the device; then
 *                                               the FIFO is removed
 *
 * A write has its effect whichever way the attribute was reached: the
 * device's own directory, the bus's link to it, or a driver's link.  Links
 * are made relative, as sysfs makes them.  Error codes follow
 * drivers/base/bus.c and drivers/pci/pci-sysfs.c. */

#include <assert.h>
#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "fileio.h"
#include "gpusim.h"
#include "kernel-sim.h"
#include "log.h"
#include "pci-sysfs.h"

static int read_optional(const char *path, char **ret) {
        int r = read_text_file(path, ret);
        if (r == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        return r;
}

/* A group's /dev/vfio/<N> exists while any member is bound to a vfio
 * driver, as vfio creates it on the first bind and drops it on the last. */
static int update_vfio_node(HwHost *h, const char *bdf) {
        _cleanup_(strv_freep) char **members = NULL;
        _cleanup_free_ char *node = NULL, *dir = NULL;
        bool any = false;
        int group, r;

        r = hw_pci_get_iommu_group(h, bdf, &group);
        if (r < 0 || group < 0)
                return r < 0 ? r : 0;
        r = hw_pci_get_group_members(h, bdf, &members);
        if (r < 0)
                return r;
        for (char **m = members; *m && !any; m++) {
                _cleanup_free_ char *driver = NULL;
                if (hw_pci_get_driver(h, *m, &driver) >= 0)
                        any = hw_driver_is_vfio(driver);
        }

        node = hw_path(h, "dev/vfio/%d", group);
        dir = hw_path(h, "dev/vfio");
        if (!node || !dir)
                return -ENOMEM;
        if (any) {
                _cleanup_close_ int fd = -1;

                r = mkdir_parents(dir, 0755);
                if (r < 0)
                        return r;
                fd = open(node, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
                if (fd < 0)
                        return -errno;
        } else if (unlink(node) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* With iommufd the kernel gives each device bound to vfio its own
 * character device, /dev/vfio/devices/vfio<M>, named in <dev>/vfio-dev/. */
static int add_vfio_cdev(HwHost *h, const char *bdf) {
        _cleanup_free_ char *devices = NULL, *existing = NULL, *node = NULL, *link = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        if (!hw_iommufd_present(h))
                return 0;
        r = hw_pci_get_vfio_cdev(h, bdf, &existing);
        if (r < 0 || *existing)
                return r;

        devices = hw_path(h, "dev/vfio/devices");
        if (!devices)
                return -ENOMEM;
        r = mkdir_parents(devices, 0755);
        if (r < 0)
                return r;
        for (unsigned m = 0;; m++) {
                free(node);
                node = hw_path(h, "dev/vfio/devices/vfio%u", m);
                if (!node)
                        return -ENOMEM;
                fd = open(node, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (fd >= 0) {
                        link = hw_path(h, "sys/bus/pci/devices/%s/vfio-dev/vfio%u", bdf, m);
                        break;
                }
                if (errno != EEXIST)
                        return -errno;
        }
        if (!link)
                return -ENOMEM;
        return mkdir_parents(link, 0755);
}

static int remove_vfio_cdev(HwHost *h, const char *bdf) {
        _cleanup_free_ char *cdev = NULL, *node = NULL, *dir = NULL, *parent = NULL;
        int r;

        r = hw_pci_get_vfio_cdev(h, bdf, &cdev);
        if (r < 0 || !*cdev)
                return r;
        node = hw_path(h, "%s", cdev);
        dir = hw_path(h, "sys/bus/pci/devices/%s/vfio-dev/%s", bdf, strrchr(cdev, '/') + 1);
        parent = hw_path(h, "sys/bus/pci/devices/%s/vfio-dev", bdf);
        if (!node || !dir || !parent)
                return -ENOMEM;
        if (unlink(node) < 0 && errno != ENOENT)
                return -errno;
        if (rmdir(dir) < 0 && errno != ENOENT)
                return -errno;
        if (rmdir(parent) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* A number a test wrote to a hook file of the device, 0 when none. */
static long read_hook(HwHost *h, const char *bdf, const char *hook, long max) {
        _cleanup_free_ char *path = NULL, *value = NULL;
        long v;

        path = hw_path(h, "sys/bus/pci/devices/%s/%s", bdf, hook);
        if (!path || read_optional(path, &value) < 0 || !value)
                return 0;
        v = strtol(value, NULL, 10);
        return v > 0 && v <= max ? v : 0;
}

/* The errno a test asked a bind to fail with, 0 for none. */
static int injected_bind_error(HwHost *h, const char *bdf) {
        return (int) read_hook(h, bdf, "sim_bind_errno", 4095);
}

static void injected_bind_delay(HwHost *h, const char *bdf) {
        long ms = read_hook(h, bdf, "sim_bind_delay_ms", 600000);
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

        while (ms > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int sim_bind(HwHost *h, const char *driver, const char *bdf) {
        _cleanup_free_ char *current = NULL, *override = NULL, *link = NULL, *back = NULL,
                            *driver_dir = NULL, *device_dir = NULL;
        int group, r;

        r = hw_pci_get_driver(h, bdf, &current);
        if (r < 0)
                return r == -EINVAL ? -ENODEV : r;
        if (current)
                return -EBUSY;
        /* With an override set, the device matches only that driver. */
        r = hw_pci_get_driver_override(h, bdf, &override);
        if (r < 0)
                return r;
        if (override && !streq(override, driver))
                return -ENODEV;
        /* vfio-pci's probe fails without an IOMMU group. */
        r = hw_pci_get_iommu_group(h, bdf, &group);
        if (r < 0)
                return r;
        if (hw_driver_is_vfio(driver) && group < 0)
                return -EINVAL;
        if (hw_driver_is_vfio(driver)) {
                injected_bind_delay(h, bdf);
                if (injected_bind_error(h, bdf) > 0)
                        return -injected_bind_error(h, bdf);
        }

        link = hw_path(h, "sys/bus/pci/devices/%s/driver", bdf);
        back = hw_path(h, "sys/bus/pci/drivers/%s/%s", driver, bdf);
        driver_dir = hw_path(h, "sys/bus/pci/drivers/%s", driver);
        device_dir = hw_path(h, "sys/bus/pci/devices/%s", bdf);
        if (!link || !back || !driver_dir || !device_dir)
                return -ENOMEM;
        r = symlink_relative(driver_dir, link);
        if (r < 0)
                return r;
        r = symlink_relative(device_dir, back);
        if (r < 0 && r != -EEXIST)
                return r;
        if (hw_driver_is_vfio(driver)) {
                r = add_vfio_cdev(h, bdf);
                if (r < 0)
                        return r;
        }
        return update_vfio_node(h, bdf);
}

/* The remove of a driver that waits for the device's last user: until a
 * test writes to the FIFO.  Played after the driver links are gone, where
 * the kernel's __device_release_driver() calls the driver's remove. */
static void injected_remove_wait(HwHost *h, const char *bdf) {
        _cleanup_free_ char *path = hw_path(h, "sys/bus/pci/devices/%s/sim_unbind_fifo", bdf);
        _cleanup_close_ int fd = -1;
        struct stat st;
        char c;

        if (!path || stat(path, &st) < 0 || !S_ISFIFO(st.st_mode))
                return;
        /* Read and write: the FIFO then has a writer for as long as it is
         * open here, so a test probing it (opening it to write and closing
         * it again) does not end the wait; only a byte does. */
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return;
        while (read(fd, &c, 1) < 0 && errno == EINTR)
                ;
        (void) unlink(path);
}

static int sim_unbind(HwHost *h, const char *driver, const char *bdf) {
        _cleanup_free_ char *current = NULL, *link = NULL, *back = NULL;
        int r;

        r = hw_pci_get_driver(h, bdf, &current);
        if (r < 0)
                return r == -EINVAL ? -ENODEV : r;
        if (!streq_ptr(current, driver))
                return -ENODEV;

        link = hw_path(h, "sys/bus/pci/devices/%s/driver", bdf);
        back = hw_path(h, "sys/bus/pci/drivers/%s/%s", driver, bdf);
        if (!link || !back)
                return -ENOMEM;
        if (unlink(link) < 0)
                return -errno;
        if (unlink(back) < 0 && errno != ENOENT)
                return -errno;
        injected_remove_wait(h, bdf);
        r = remove_vfio_cdev(h, bdf);
        if (r < 0)
                return r;
        return update_vfio_node(h, bdf);
}

static int sim_driver_override(HwHost *h, const char *bdf, const char *value) {
        _cleanup_free_ char *path = NULL;
        _cleanup_fclose_ FILE *f = NULL;

        path = hw_path(h, "sys/bus/pci/devices/%s/driver_override", bdf);
        if (!path)
                return -ENOMEM;
        /* The write landed on a regular file without truncation; store what
         * the kernel would show. */
        f = fopen(path, "we");
        if (!f)
                return -errno;
        fprintf(f, "%s\n", *value ? value : "(null)");
        return fflush(f) == 0 && !ferror(f) ? 0 : -EIO;
}

static int sim_probe(HwHost *h, const char *bdf) {
        _cleanup_free_ char *current = NULL, *driver = NULL, *path = NULL, *dir = NULL;
        int r;

        r = hw_pci_get_driver(h, bdf, &current);
        if (r < 0)
                return r == -EINVAL ? -ENODEV : r;
        if (current)
                return 0;

        r = hw_pci_get_driver_override(h, bdf, &driver);
        if (r < 0)
                return r;
        if (!driver) {
                path = hw_path(h, "sys/bus/pci/devices/%s/sim_default_driver", bdf);
                if (!path)
                        return -ENOMEM;
                r = read_optional(path, &driver);
                if (r < 0)
                        return r;
        }
        if (!driver || !*driver)
                return 0;
        dir = hw_path(h, "sys/bus/pci/drivers/%s", driver);
        if (!dir)
                return -ENOMEM;
        if (access(dir, F_OK) < 0) /* that driver is not loaded */
                return 0;

        /* A failed probe leaves the device unbound; drivers_probe still
         * succeeds. */
        (void) sim_bind(h, driver, bdf);
        return 0;
}

static int sim_reset(HwHost *h, const char *bdf, const char *value) {
        _cleanup_free_ char *state = NULL;
        unsigned long v;
        char *end;
        int r;

        errno = 0;
        v = strtoul(value, &end, 0);
        if (errno != 0 || end == value || *end != '\0' || v != 1)
                return -EINVAL;

        state = hw_path(h, "sys/bus/pci/devices/%s/gpusim.ini", bdf);
        if (!state)
                return -ENOMEM;
        if (access(state, F_OK) < 0)
                return 0;
        r = gpusim_reset(state);
        if (r < 0)
                log_error("Simulated reset of %s failed: %s: %s", bdf, state, strerror(-r));
        return r;
}

/* The part of canonical below prefix ("" for prefix itself), or NULL. */
static const char *path_below(const char *canonical, const char *prefix) {
        size_t n = strlen(prefix);

        if (strncmp(canonical, prefix, n) != 0)
                return NULL;
        if (canonical[n] == '\0')
                return canonical + n;
        if (canonical[n] != '/')
                return NULL;
        return canonical + n + 1;
}

/* The address of the device whose directory canonical is, or NULL: the
 * directory the bus's link for that address resolves to. */
static const char *device_of_directory(HwHost *h, const char *canonical) {
        _cleanup_free_ char *link = NULL, *target = NULL;
        const char *bdf = strrchr(canonical, '/');

        if (!bdf || !hw_pci_bdf_is_valid(++bdf))
                return NULL;
        link = hw_path(h, "sys/bus/pci/devices/%s", bdf);
        if (!link)
                return NULL;
        target = realpath(link, NULL);
        return target && streq(target, canonical) ? bdf : NULL;
}

int kernel_sim_after_write(HwHost *h, const char *path, const char *value) {
        _cleanup_free_ char *dir = NULL, *canonical = NULL, *bus_path = NULL, *bus = NULL, *v = NULL;
        const char *attr, *rel, *bdf;
        size_t n;

        assert(h);
        assert(path);
        assert(value);

        attr = strrchr(path, '/');
        if (!attr)
                return 0;
        dir = strndup(path, (size_t) (attr - path));
        attr++;
        bus_path = hw_path(h, "sys/bus/pci");
        /* sysfs ignores surrounding whitespace in the names written. */
        while (isspace((unsigned char) *value))
                value++;
        v = strdup(value);
        if (!dir || !bus_path || !v)
                return -ENOMEM;
        for (n = strlen(v); n > 0 && isspace((unsigned char) v[n - 1]); n--)
                v[n - 1] = '\0';

        /* Where the write landed, whatever links led there: devices/<bdf>/driver/unbind
         * is drivers/<drv>/unbind, devices/<bdf>/reset is in sys/devices/. */
        canonical = realpath(dir, NULL);
        bus = realpath(bus_path, NULL);
        if (!canonical || !bus)
                return 0;

        rel = path_below(canonical, bus);
        if (rel && *rel == '\0')
                return streq(attr, "drivers_probe") ? sim_probe(h, v) : 0;
        if (rel && strncmp(rel, "drivers/", 8) == 0 && rel[8] && !strchr(rel + 8, '/')) {
                if (streq(attr, "bind"))
                        return hw_pci_bdf_is_valid(v) ? sim_bind(h, rel + 8, v) : -ENODEV;
                if (streq(attr, "unbind"))
                        return hw_pci_bdf_is_valid(v) ? sim_unbind(h, rel + 8, v) : -ENODEV;
                return 0;
        }

        bdf = device_of_directory(h, canonical);
        if (bdf) {
                if (streq(attr, "driver_override"))
                        return sim_driver_override(h, bdf, v);
                if (streq(attr, "reset"))
                        return sim_reset(h, bdf, v);
        }
        return 0;
}

/* The PCI driver a module registers: vfio_pci's is "vfio-pci", the variant
 * drivers use their module name. */
static const char *module_driver_name(const char *module) {
        return streq(module, "vfio_pci") ? "vfio-pci" : module;
}

int kernel_sim_load_module(HwHost *h, const char *module) {
        static const char *const files[] = { "bind", "unbind", "new_id", "remove_id", "uevent" };
        _cleanup_free_ char *drivers = NULL, *entry = NULL, *target = NULL;
        const char *driver;
        int r;

        assert(h);
        assert(module);

        if (!*module || strchr(module, '/') || module[0] == '.')
                return -EINVAL;
        driver = module_driver_name(module);
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *path = hw_path(h, "sys/bus/pci/drivers/%s/%s", driver, files[i]);
                _cleanup_close_ int fd = -1;

                if (!path)
                        return -ENOMEM;
                if (i == 0) {
                        _cleanup_free_ char *dir = hw_path(h, "sys/bus/pci/drivers/%s", driver);
                        if (!dir)
                                return -ENOMEM;
                        r = mkdir_parents(dir, 0755);
                        if (r < 0)
                                return r;
                }
                fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0200);
                if (fd < 0)
                        return -errno;
        }
        drivers = hw_path(h, "sys/module/%s/drivers", module);
        entry = hw_path(h, "sys/module/%s/drivers/pci:%s", module, driver);
        if (!drivers || !entry || asprintf(&target, "../../../bus/pci/drivers/%s", driver) < 0)
                return -ENOMEM;
        r = mkdir_parents(drivers, 0755);
        if (r < 0)
                return r;
        if (symlink(target, entry) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}
