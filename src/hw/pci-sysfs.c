/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>

#include "device-names.h"
#include "fileio.h"
#include "pci-sysfs.h"
#include "sysfs-write.h"

static size_t hex_run(const char *s) {
        size_t n = 0;

        while (isxdigit((unsigned char) s[n]))
                n++;
        return n;
}

bool hw_pci_bdf_is_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        /* Domains are 4 hex digits, 5 behind VMD; 7 is what fits in the
         * 16 bytes devices keep their address in. */
        n = hex_run(s);
        if (n < 4 || n > 7 || s[n] != ':')
                return false;
        s += n + 1;
        if (hex_run(s) != 2 || s[2] != ':')
                return false;
        s += 3;
        if (hex_run(s) != 2 || s[2] != '.')
                return false;
        s += 3;
        return s[0] >= '0' && s[0] <= '7' && s[1] == '\0';
}

/* stat(), not access(): under a device cgroup policy (DevicePolicy=closed)
 * access() on a device node fails although the node is there. */
static bool device_node_exists(const char *path) {
        struct stat st;

        return stat(path, &st) == 0;
}

bool hw_pci_device_exists(HwHost *h, const char *bdf) {
        _cleanup_free_ char *path = NULL;

        assert(h);

        if (!hw_pci_bdf_is_valid(bdf))
                return false;
        path = hw_path(h, "sys/bus/pci/devices/%s", bdf);
        return path && access(path, F_OK) == 0;
}

/* The last component of a symlink's target, NULL in *ret when the link is
 * absent. */
static int read_link_name(const char *path, char **ret) {
        char buf[PATH_MAX];
        const char *slash;
        ssize_t k;

        k = readlink(path, buf, sizeof(buf) - 1);
        if (k < 0) {
                if (errno == ENOENT) {
                        *ret = NULL;
                        return 0;
                }
                return -errno;
        }
        buf[k] = '\0';
        slash = strrchr(buf, '/');
        *ret = strdup(slash ? slash + 1 : buf);
        return *ret ? 0 : -ENOMEM;
}

/* Reads a device symlink: -ENODEV when the device is absent, NULL when the
 * link is. */
static int read_device_link(HwHost *h, const char *bdf, const char *link, char **ret) {
        _cleanup_free_ char *path = NULL, *name = NULL;
        int r;

        assert(h);
        assert(ret);

        if (!hw_pci_bdf_is_valid(bdf))
                return -EINVAL;
        path = hw_path(h, "sys/bus/pci/devices/%s/%s", bdf, link);
        if (!path)
                return -ENOMEM;
        r = read_link_name(path, &name);
        if (r < 0)
                return r;
        if (!name && !hw_pci_device_exists(h, bdf))
                return -ENODEV;
        *ret = TAKE_PTR(name);
        return 0;
}

int hw_pci_get_driver(HwHost *h, const char *bdf, char **ret) {
        return read_device_link(h, bdf, "driver", ret);
}

int hw_pci_get_iommu_group(HwHost *h, const char *bdf, int *ret) {
        _cleanup_free_ char *name = NULL;
        char *end;
        long group;
        int r;

        assert(ret);

        r = read_device_link(h, bdf, "iommu_group", &name);
        if (r < 0)
                return r;
        if (!name) {
                *ret = -1;
                return 0;
        }
        errno = 0;
        group = strtol(name, &end, 10);
        if (errno != 0 || end == name || *end != '\0' || group < 0 || group > INT_MAX)
                return -EBADMSG;
        *ret = (int) group;
        return 0;
}

static int compare_strings(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int hw_pci_get_group_members(HwHost *h, const char *bdf, char ***ret) {
        _cleanup_(strv_freep) char **l = NULL;
        _cleanup_free_ char *path = NULL;
        struct dirent *de;
        size_t n = 0, cap = 0;
        DIR *dir;
        int group, r;

        assert(ret);

        r = hw_pci_get_iommu_group(h, bdf, &group);
        if (r < 0)
                return r;

        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        if (group < 0) {
                *ret = TAKE_PTR(l);
                return 0;
        }

        path = hw_path(h, "sys/kernel/iommu_groups/%d/devices", group);
        if (!path)
                return -ENOMEM;
        dir = opendir(path);
        if (!dir)
                return -errno;
        r = 0;
        while ((de = readdir(dir))) {
                if (de->d_name[0] == '.')
                        continue;
                if (n + 2 > cap) {
                        size_t ncap = cap ? cap * 2 : 8;
                        char **nl = realloc(l, ncap * sizeof(char *));
                        if (!nl) {
                                r = -ENOMEM;
                                break;
                        }
                        l = nl;
                        cap = ncap;
                }
                l[n] = strdup(de->d_name);
                if (!l[n]) {
                        r = -ENOMEM;
                        break;
                }
                l[++n] = NULL;
        }
        closedir(dir);
        if (r < 0)
                return r;

        qsort(l, n, sizeof(char *), compare_strings);
        *ret = TAKE_PTR(l);
        return 0;
}

/* Reads a device attribute: -ENODEV when the device is absent, NULL when
 * the attribute is. */
static int read_device_attribute(HwHost *h, const char *bdf, const char *attr, char **ret) {
        _cleanup_free_ char *path = NULL;
        int r;

        assert(h);
        assert(ret);

        if (!hw_pci_bdf_is_valid(bdf))
                return -EINVAL;
        path = hw_path(h, "sys/bus/pci/devices/%s/%s", bdf, attr);
        if (!path)
                return -ENOMEM;
        r = read_text_file(path, ret);
        if (r == -ENOENT) {
                *ret = NULL;
                return hw_pci_device_exists(h, bdf) ? 0 : -ENODEV;
        }
        return r;
}

int hw_pci_get_numa_node(HwHost *h, const char *bdf, int *ret) {
        _cleanup_free_ char *value = NULL;
        char *end;
        long node;
        int r;

        assert(ret);

        r = read_device_attribute(h, bdf, "numa_node", &value);
        if (r < 0)
                return r;
        if (!value) { /* kernel without NUMA */
                *ret = -1;
                return 0;
        }
        errno = 0;
        node = strtol(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || node < -1 || node > INT_MAX)
                return -EBADMSG;
        *ret = (int) node;
        return 0;
}

int hw_pci_get_vfio_device(HwHost *h, const char *bdf, char **ret) {
        _cleanup_free_ char *path = NULL;
        int group, r;

        assert(ret);

        r = hw_pci_get_iommu_group(h, bdf, &group);
        if (r < 0)
                return r;
        if (group >= 0) {
                path = hw_path(h, "dev/vfio/%d", group);
                if (!path)
                        return -ENOMEM;
                if (device_node_exists(path))
                        return asprintf(ret, "/dev/vfio/%d", group) < 0 ? -ENOMEM : 0;
        }
        *ret = strdup("");
        return *ret ? 0 : -ENOMEM;
}

bool hw_pci_is_virtfn(HwHost *h, const char *bdf) {
        _cleanup_free_ char *path = NULL;
        struct stat st;

        assert(h);

        if (!hw_pci_bdf_is_valid(bdf))
                return false;
        path = hw_path(h, "sys/bus/pci/devices/%s/physfn", bdf);
        return path && lstat(path, &st) == 0;
}

int hw_pci_get_driver_override(HwHost *h, const char *bdf, char **ret) {
        _cleanup_free_ char *value = NULL;
        int r;

        assert(ret);

        r = read_device_attribute(h, bdf, "driver_override", &value);
        if (r < 0)
                return r;
        /* The kernel shows an unset override as "(null)". */
        if (value && (streq(value, "(null)") || streq(value, ""))) {
                free(value);
                value = NULL;
        }
        *ret = TAKE_PTR(value);
        return 0;
}

/* Every write to the host goes through here, so a simulated host gets the
 * kernel's side effects exactly where a real one would, and no write can
 * block its caller for longer than the host's write timeout. */
static int sysfs_write(HwHost *h, const char *bdf, const char *path, const char *value) {
        return hw_sysfs_write(h, bdf, path, value);
}

static bool driver_name_is_valid(const char *s) {
        return s && *s && !strchr(s, '/') && !streq(s, ".") && !streq(s, "..");
}

int hw_pci_set_driver_override(HwHost *h, const char *bdf, const char *driver) {
        _cleanup_free_ char *path = NULL;

        assert(h);

        if (!hw_pci_bdf_is_valid(bdf))
                return -EINVAL;
        if (driver && *driver && !driver_name_is_valid(driver))
                return -EINVAL;
        path = hw_path(h, "sys/bus/pci/devices/%s/driver_override", bdf);
        if (!path)
                return -ENOMEM;
        /* A lone newline clears it; an empty write would not reach the kernel. */
        return sysfs_write(h, bdf, path, driver && *driver ? driver : "\n");
}

int hw_pci_probe(HwHost *h, const char *bdf) {
        _cleanup_free_ char *path = NULL;

        assert(h);

        if (!hw_pci_bdf_is_valid(bdf))
                return -EINVAL;
        path = hw_path(h, "sys/bus/pci/drivers_probe");
        if (!path)
                return -ENOMEM;
        return sysfs_write(h, bdf, path, bdf);
}

int hw_pci_unbind(HwHost *h, const char *bdf) {
        _cleanup_free_ char *driver = NULL, *path = NULL;
        int r;

        r = hw_pci_get_driver(h, bdf, &driver);
        if (r < 0)
                return r;
        if (!driver)
                return 0;
        path = hw_path(h, "sys/bus/pci/devices/%s/driver/unbind", bdf);
        if (!path)
                return -ENOMEM;
        r = sysfs_write(h, bdf, path, bdf);
        /* Unbound by someone else since we looked: what was asked is done. */
        if (r == -ENOENT)
                return 0;
        return r;
}

int hw_pci_bind(HwHost *h, const char *bdf, const char *driver) {
        _cleanup_free_ char *path = NULL;

        assert(h);

        if (!hw_pci_bdf_is_valid(bdf) || !driver_name_is_valid(driver))
                return -EINVAL;
        path = hw_path(h, "sys/bus/pci/drivers/%s/bind", driver);
        if (!path)
                return -ENOMEM;
        return sysfs_write(h, bdf, path, bdf);
}

int hw_pci_reset(HwHost *h, const char *bdf) {
        _cleanup_free_ char *path = NULL;

        assert(h);

        if (!hw_pci_bdf_is_valid(bdf))
                return -EINVAL;
        path = hw_path(h, "sys/bus/pci/devices/%s/reset", bdf);
        if (!path)
                return -ENOMEM;
        return sysfs_write(h, bdf, path, "1");
}

static int read_hex_attribute(HwHost *h, const char *bdf, const char *attr, unsigned long max, unsigned long *ret) {
        _cleanup_free_ char *value = NULL;
        unsigned long v;
        char *end;
        int r;

        r = read_device_attribute(h, bdf, attr, &value);
        if (r < 0)
                return r;
        if (!value)
                return -ENOENT;
        errno = 0;
        v = strtoul(value, &end, 16);
        if (errno != 0 || end == value || *end != '\0' || v > max)
                return -EBADMSG;
        *ret = v;
        return 0;
}

int hw_pci_get_ids(HwHost *h, const char *bdf, uint16_t *ret_vendor, uint16_t *ret_device, uint32_t *ret_class) {
        unsigned long vendor, device, class_code;
        int r;

        r = read_hex_attribute(h, bdf, "vendor", 0xffff, &vendor);
        if (r >= 0)
                r = read_hex_attribute(h, bdf, "device", 0xffff, &device);
        if (r >= 0)
                r = read_hex_attribute(h, bdf, "class", 0xffffff, &class_code);
        if (r < 0)
                return r;
        if (ret_vendor)
                *ret_vendor = (uint16_t) vendor;
        if (ret_device)
                *ret_device = (uint16_t) device;
        if (ret_class)
                *ret_class = (uint32_t) class_code;
        return 0;
}

int hw_pci_get_modalias(HwHost *h, const char *bdf, char **ret) {
        _cleanup_free_ char *value = NULL;
        int r;

        assert(ret);

        r = read_device_attribute(h, bdf, "modalias", &value);
        if (r < 0)
                return r;
        if (!value)
                return -ENOENT;
        *ret = TAKE_PTR(value);
        return 0;
}

bool hw_driver_is_vfio(const char *driver) {
        return driver_is_vfio(driver);
}

int hw_pci_get_vfio_cdev(HwHost *h, const char *bdf, char **ret) {
        _cleanup_free_ char *path = NULL;
        struct dirent *de;
        DIR *dir;

        assert(h);
        assert(ret);

        if (!hw_pci_bdf_is_valid(bdf))
                return -EINVAL;
        path = hw_path(h, "sys/bus/pci/devices/%s/vfio-dev", bdf);
        if (!path)
                return -ENOMEM;
        dir = opendir(path);
        if (dir) {
                while ((de = readdir(dir))) {
                        _cleanup_free_ char *node = NULL;

                        /* vfio-dev/ holds exactly one vfioN entry.  Kernels
                         * before 6.6 list it without making the /dev node:
                         * report only a node that can be opened. */
                        if (strncmp(de->d_name, "vfio", 4) != 0 || !isdigit((unsigned char) de->d_name[4]))
                                continue;
                        node = hw_path(h, "dev/vfio/devices/%s", de->d_name);
                        if (!node) {
                                closedir(dir);
                                return -ENOMEM;
                        }
                        if (!device_node_exists(node))
                                break;
                        if (asprintf(ret, "/dev/vfio/devices/%s", de->d_name) < 0) {
                                closedir(dir);
                                return -ENOMEM;
                        }
                        closedir(dir);
                        return 0;
                }
                closedir(dir);
        } else if (errno != ENOENT && errno != ENOTDIR)
                return -errno;
        else if (!hw_pci_device_exists(h, bdf))
                return -ENODEV;
        *ret = strdup("");
        return *ret ? 0 : -ENOMEM;
}

bool hw_iommufd_present(HwHost *h) {
        _cleanup_free_ char *path = NULL;

        assert(h);
        path = hw_path(h, "dev/iommu");
        return path && device_node_exists(path);
}
