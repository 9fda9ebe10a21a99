/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <dirent.h>
#include <pci/pci.h>
#include <setjmp.h>
#include <stdarg.h>

#include "log.h"
#include "pci-enum.h"
#include "pci-sysfs.h"

/* libpci reports fatal errors through a callback that must not return (its
 * default exits the process).  A daemon must survive an odd sysfs tree, so
 * the callback records the message and jumps back to the trapped() call
 * running on this thread.
 *
 * libpci's own scan keeps a directory open while it reads every device, and
 * one bad entry would end it there; so the devices are listed here and
 * libpci reads one at a time (pci_get_dev + pci_fill_info), which leaves
 * nothing behind when it gives up on one, and the others are still read. */
typedef struct PciTrap {
        jmp_buf env;
        char message[256];
} PciTrap;

static __thread PciTrap *current_trap;

/* libpci declares the handler noreturn; the attribute (not _Noreturn)
 * makes the types match for every compiler. */
__attribute__((noreturn)) _printf_(1, 2) static void pci_error_trap(char *msg, ...) {
        PciTrap *t = current_trap;
        va_list ap;

        if (!t)
                abort(); /* libpci called outside trapped(): a bug here */

        va_start(ap, msg);
        vsnprintf(t->message, sizeof(t->message), msg, ap);
        va_end(ap);
        longjmp(t->env, 1);
}

_printf_(1, 2) static void pci_warning_log(char *msg, ...) {
        char buf[256];
        va_list ap;

        va_start(ap, msg);
        vsnprintf(buf, sizeof(buf), msg, ap);
        va_end(ap);
        log_debug("libpci: %s", buf);
}

_printf_(1, 2) static void pci_debug_ignore(char *msg, ...) {
}

/* Runs f with libpci's fatal errors turned into -EIO.  f keeps whatever it
 * must release in *userdata, which outlives the jump. */
static int trapped(int (*f)(struct pci_access *pacc, void *userdata), struct pci_access *pacc, void *userdata,
                   char message[static 256]) {
        PciTrap trap = {};
        int r;

        current_trap = &trap;
        if (setjmp(trap.env) == 0)
                r = f(pacc, userdata);
        else {
                memcpy(message, trap.message, sizeof(trap.message));
                r = -EIO;
        }
        current_trap = NULL;
        return r;
}

static int job_init(struct pci_access *pacc, void *userdata) {
        pci_init(pacc);
        return 0;
}

typedef struct FillJob {
        const char *bdf;
        HwPciDevice *out;
        struct pci_dev *dev;
} FillJob;

static int job_fill(struct pci_access *pacc, void *userdata) {
        FillJob *j = userdata;
        HwPciDevice *d = j->out;
        unsigned domain, bus, dev, func;
        char buf[256];
        const char *name;
        int fill;

        if (sscanf(j->bdf, "%x:%x:%x.%x", &domain, &bus, &dev, &func) != 4)
                return -EINVAL;
        j->dev = pci_get_dev(pacc, (int) domain, (int) bus, (int) dev, (int) func);

        /* libpci reads these from the kernel's attributes (vendor, device,
         * class, subsystem_*), which carry the kernel's quirk fixes. */
        fill = PCI_FILL_IDENT | PCI_FILL_CLASS | PCI_FILL_CLASS_EXT;
#ifdef PCI_FILL_SUBSYS
        fill |= PCI_FILL_SUBSYS;
#endif
        pci_fill_info(j->dev, fill);

        snprintf(d->bdf, sizeof(d->bdf), "%s", j->bdf);
        d->vendor_id = j->dev->vendor_id;
        d->device_id = j->dev->device_id;
        /* device_class is base class and subclass; prog_if, the low byte,
         * comes from the same `class` attribute. */
        d->class_code = ((uint32_t) j->dev->device_class << 8) | j->dev->prog_if;
#ifdef PCI_FILL_SUBSYS
        d->subsystem_vendor_id = j->dev->subsys_vendor_id;
        d->subsystem_device_id = j->dev->subsys_id;
#else
        d->subsystem_vendor_id = pci_read_word(j->dev, PCI_SUBSYSTEM_VENDOR_ID);
        d->subsystem_device_id = pci_read_word(j->dev, PCI_SUBSYSTEM_ID);
#endif

        /* pci.ids only: udev's hwdb would make names depend on the host's
         * udev database rather than on the one file the design names. */
        name = pci_lookup_name(pacc, buf, sizeof(buf),
                               PCI_LOOKUP_DEVICE | PCI_LOOKUP_NO_NUMBERS | PCI_LOOKUP_NO_HWDB,
                               d->vendor_id, d->device_id);
        d->name = strdup(name ? name : "");
        return d->name ? 0 : -ENOMEM;
}

static int compare_devices(const void *a, const void *b) {
        return strcmp(((const HwPciDevice *) a)->bdf, ((const HwPciDevice *) b)->bdf);
}

void hw_pci_devices_free(HwPciDevice *devices, size_t n) {
        if (!devices)
                return;
        for (size_t i = 0; i < n; i++)
                free(devices[i].name);
        free(devices);
}

static int enumerate(struct pci_access *pacc, const char *sysfs, HwPciDevice **devices, size_t *n) {
        _cleanup_free_ char *path = NULL;
        char message[256];
        size_t cap = 0;
        struct dirent *de;
        DIR *dir;
        int r = 0;

        r = trapped(job_init, pacc, NULL, message);
        if (r < 0) {
                log_warning("Cannot enumerate PCI devices under %s: %s", sysfs, message);
                return r;
        }

        if (asprintf(&path, "%s/devices", sysfs) < 0)
                return -ENOMEM;
        dir = opendir(path);
        if (!dir)
                return -errno;
        while ((de = readdir(dir))) {
                FillJob job = { .bdf = de->d_name };

                if (!hw_pci_bdf_is_valid(de->d_name))
                        continue; /* ".", "..", nothing else on a real host */
                if (*n == cap) {
                        size_t ncap = cap ? cap * 2 : 32;
                        HwPciDevice *nd = realloc(*devices, ncap * sizeof(HwPciDevice));
                        if (!nd) {
                                r = -ENOMEM;
                                break;
                        }
                        *devices = nd;
                        cap = ncap;
                }
                job.out = &(*devices)[*n];
                *job.out = (HwPciDevice) {};
                r = trapped(job_fill, pacc, &job, message);
                if (job.dev)
                        pci_free_dev(job.dev);
                if (r == -ENOMEM)
                        break;
                if (r < 0) {
                        /* One unreadable function must not hide the rest. */
                        log_warning("Skipping PCI device %s: %s", de->d_name, r == -EIO ? message : strerror(-r));
                        r = 0;
                        continue;
                }
                (*n)++;
        }
        closedir(dir);
        return r;
}

int hw_pci_enumerate(HwHost *h, HwPciDevice **ret, size_t *ret_n) {
        _cleanup_free_ char *sysfs = NULL;
        HwPciDevice *devices = NULL;
        struct pci_access *pacc;
        size_t n = 0;
        int r;

        assert(h);
        assert(ret);
        assert(ret_n);

        sysfs = hw_path(h, "sys/bus/pci");
        if (!sysfs)
                return -ENOMEM;
        /* A clear error for a root without a PCI tree, rather than libpci's
         * "access method not supported". */
        if (access(sysfs, R_OK) < 0)
                return -errno;

        pacc = pci_alloc();
        if (!pacc)
                return -ENOMEM;
        pacc->error = pci_error_trap;
        pacc->warning = pci_warning_log;
        pacc->debug = pci_debug_ignore;
        pacc->method = PCI_ACCESS_SYS_BUS_PCI;
        pci_set_param(pacc, (char *) "sysfs.path", sysfs);

        r = enumerate(pacc, sysfs, &devices, &n);
        pci_cleanup(pacc);
        if (r < 0) {
                hw_pci_devices_free(devices, n);
                return r;
        }

        if (n > 0)
                qsort(devices, n, sizeof(HwPciDevice), compare_devices);
        *ret = devices;
        *ret_n = n;
        return 0;
}
