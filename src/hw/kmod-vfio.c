/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <dirent.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/utsname.h>

#include "kmod-dlopen.h"
#include "kmod-vfio.h"
#include "log.h"
#include "pci-sysfs.h"

#define VFIO_ALIAS_PREFIX "vfio_pci:"

_printf_(6, 0) static void kmod_log(void *data, int priority, const char *file, int line, const char *fn, const char *format,
                     va_list args) {
        _cleanup_free_ char *message = NULL;

        if (vasprintf(&message, format, args) < 0)
                return;
        /* libkmod ends its messages with a newline. */
        message[strcspn(message, "\n")] = '\0';
        log_debug("libkmod: %s", message);
}

static void kmod_ctx_unrefp(struct kmod_ctx **p) {
        if (*p)
                sym_kmod_unref(*p);
}
static void kmod_list_unrefp(struct kmod_list **p) {
        if (*p)
                sym_kmod_module_unref_list(*p);
}
static void kmod_module_unrefp(struct kmod_module **p) {
        if (*p)
                sym_kmod_module_unref(*p);
}

/* A libkmod context on the host root's module tree and modprobe.d. */
static int open_kmod(HwHost *h, struct kmod_ctx **ret) {
        _cleanup_free_ char *dir = NULL, *etc = NULL, *run = NULL, *lib = NULL;
        struct utsname u;
        struct kmod_ctx *ctx;
        int r;

        r = dlopen_libkmod();
        if (r < 0)
                return r;
        if (uname(&u) < 0)
                return -errno;
        dir = hw_path(h, "lib/modules/%s", u.release);
        etc = hw_path(h, "etc/modprobe.d");
        run = hw_path(h, "run/modprobe.d");
        lib = hw_path(h, "lib/modprobe.d");
        if (!dir || !etc || !run || !lib)
                return -ENOMEM;

        const char *config[] = { etc, run, lib, NULL };
        ctx = sym_kmod_new(dir, config);
        if (!ctx)
                return -ENOMEM;
        sym_kmod_set_log_fn(ctx, kmod_log, NULL);
        *ret = ctx;
        return 0;
}

static unsigned count_wildcards(const char *pattern) {
        unsigned n = 0;

        for (const char *p = pattern; *p; p++)
                if (*p == '*' || *p == '?' || *p == '[')
                        n++;
        return n;
}

/* Among the modules libkmod matched, the one whose alias has the fewest
 * wildcards.  libkmod hands back modules, not the aliases that matched, so
 * the aliases come from its dump of the same index. */
static int pick_most_specific(struct kmod_ctx *ctx, struct kmod_list *candidates, const char *key, char **ret) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL, *best = NULL;
        unsigned best_score = UINT32_MAX;
        size_t size = 0;
        int fd, r;

        fd = memfd_create("modules.alias", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        f = fdopen(fd, "r");
        if (!f) {
                close(fd);
                return -errno;
        }
        r = sym_kmod_dump_index(ctx, KMOD_INDEX_MODULES_ALIAS, fd);
        if (r < 0)
                return r;
        if (fseek(f, 0, SEEK_SET) < 0)
                return -errno;

        /* "alias <pattern> <module>" */
        while (getline(&line, &size, f) > 0) {
                char *pattern, *module, *save = NULL;
                struct kmod_list *l;
                unsigned score;
                bool candidate = false;

                line[strcspn(line, "\n")] = '\0';
                if (strncmp(line, "alias " VFIO_ALIAS_PREFIX, 6 + strlen(VFIO_ALIAS_PREFIX)) != 0)
                        continue;
                pattern = strtok_r(line + 6, " ", &save);
                module = strtok_r(NULL, " ", &save);
                if (!pattern || !module || fnmatch(pattern, key, 0) != 0)
                        continue;
                sym_kmod_list_foreach(l, candidates) {
                        struct kmod_module *m = sym_kmod_module_get_module(l);
                        candidate = candidate || streq(sym_kmod_module_get_name(m), module);
                        sym_kmod_module_unref(m);
                }
                if (!candidate)
                        continue;
                score = count_wildcards(pattern);
                if (score < best_score || (score == best_score && best && strcmp(module, best) < 0)) {
                        free(best);
                        best = strdup(module);
                        if (!best)
                                return -ENOMEM;
                        best_score = score;
                }
        }
        if (!best)
                return -ENOENT;
        *ret = TAKE_PTR(best);
        return 0;
}

int hw_vfio_resolve_module(HwHost *h, const char *bdf, char **ret_module) {
        _cleanup_(kmod_ctx_unrefp) struct kmod_ctx *ctx = NULL;
        _cleanup_(kmod_list_unrefp) struct kmod_list *list = NULL;
        _cleanup_free_ char *modalias = NULL, *key = NULL, *module = NULL;
        struct kmod_list *l;
        size_t n = 0;
        int r;

        assert(h);
        assert(ret_module);

        r = hw_pci_get_modalias(h, bdf, &modalias);
        if (r < 0)
                return r;
        if (strncmp(modalias, "pci:", 4) != 0)
                return -EBADMSG;
        /* vfio-pci's drivers declare their devices as "vfio_pci:v...d...",
         * the PCI modalias under another prefix. */
        if (asprintf(&key, VFIO_ALIAS_PREFIX "%s", modalias + 4) < 0)
                return -ENOMEM;

        /* Without libkmod, the catch-all: its load fails later, saying why. */
        r = open_kmod(h, &ctx);
        if (r < 0 && r != -EOPNOTSUPP)
                return r;
        if (ctx) {
                r = sym_kmod_module_new_from_lookup(ctx, key, &list);
                if (r < 0)
                        log_debug_errno(r, "%s: looking up %s failed: %m", bdf, key);
        }

        sym_kmod_list_foreach(l, list) {
                struct kmod_module *m = sym_kmod_module_get_module(l);
                if (!module)
                        module = strdup(sym_kmod_module_get_name(m));
                sym_kmod_module_unref(m);
                if (!module)
                        return -ENOMEM;
                n++;
        }
        if (n > 1) {
                _cleanup_free_ char *best = NULL;

                r = pick_most_specific(ctx, list, key, &best);
                if (r >= 0) {
                        free(module);
                        module = TAKE_PTR(best);
                } else
                        log_debug_errno(r, "%s: cannot rank the %zu modules matching %s: %m", bdf, n, key);
        }
        if (!module) {
                module = strdup(HW_VFIO_FALLBACK_MODULE);
                if (!module)
                        return -ENOMEM;
        }
        log_debug("%s: VFIO module %s (%zu match%s for %s)", bdf, module, n, n == 1 ? "" : "es", key);
        *ret_module = TAKE_PTR(module);
        return 0;
}

int hw_vfio_module_driver(HwHost *h, const char *module, char **ret) {
        _cleanup_free_ char *path = NULL;
        struct dirent *de;
        DIR *dir;

        path = hw_path(h, "sys/module/%s/drivers", module);
        if (!path)
                return -ENOMEM;
        dir = opendir(path);
        if (dir) {
                while ((de = readdir(dir)))
                        if (strncmp(de->d_name, "pci:", 4) == 0 && de->d_name[4]) {
                                *ret = strdup(de->d_name + 4);
                                closedir(dir);
                                return *ret ? 0 : -ENOMEM;
                        }
                closedir(dir);
        }
        /* Built in, or a kernel that does not list it: the usual names. */
        *ret = strdup(streq(module, "vfio_pci") ? "vfio-pci" : module);
        return *ret ? 0 : -ENOMEM;
}

int hw_kmod_load_module(HwHost *h, const char *module) {
        _cleanup_(kmod_ctx_unrefp) struct kmod_ctx *ctx = NULL;
        _cleanup_(kmod_module_unrefp) struct kmod_module *mod = NULL;
        int r;

        assert(h);
        assert(module);

        r = open_kmod(h, &ctx);
        if (r < 0)
                return r;
        r = sym_kmod_module_new_from_name(ctx, module, &mod);
        if (r < 0)
                return r;
        if (sym_kmod_module_get_initstate(mod) == KMOD_MODULE_LIVE ||
            sym_kmod_module_get_initstate(mod) == KMOD_MODULE_BUILTIN)
                return 0;
        r = sym_kmod_module_probe_insert_module(mod, KMOD_PROBE_APPLY_BLACKLIST, NULL, NULL, NULL, NULL);
        if (r < 0)
                return r;
        return r > 0 ? -EPERM : 0; /* blacklisted */
}

int hw_vfio_load_module(HwHost *h, const char *module, char **ret_driver) {
        int r;

        assert(h);
        assert(module);
        assert(ret_driver);

        if (!*module || strchr(module, '/'))
                return -EINVAL;

        r = hw_host_ops(h)->load_module(h, module);
        if (r < 0)
                return r;
        return hw_vfio_module_driver(h, module, ret_driver);
}
