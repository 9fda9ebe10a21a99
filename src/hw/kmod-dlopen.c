/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <pthread.h>

#include "kmod-dlopen.h"
#include "log.h"
#include "macro.h"

DLSYM_PROTOTYPE(kmod_dump_index) = NULL;
DLSYM_PROTOTYPE(kmod_list_next) = NULL;
DLSYM_PROTOTYPE(kmod_module_get_initstate) = NULL;
DLSYM_PROTOTYPE(kmod_module_get_module) = NULL;
DLSYM_PROTOTYPE(kmod_module_get_name) = NULL;
DLSYM_PROTOTYPE(kmod_module_new_from_lookup) = NULL;
DLSYM_PROTOTYPE(kmod_module_new_from_name) = NULL;
DLSYM_PROTOTYPE(kmod_module_probe_insert_module) = NULL;
DLSYM_PROTOTYPE(kmod_module_unref) = NULL;
DLSYM_PROTOTYPE(kmod_module_unref_list) = NULL;
DLSYM_PROTOTYPE(kmod_new) = NULL;
DLSYM_PROTOTYPE(kmod_set_log_fn) = NULL;
DLSYM_PROTOTYPE(kmod_unref) = NULL;

#define LIBKMOD_SONAME "libkmod.so.2"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int load_result = -EOPNOTSUPP;

static bool resolve(void *dl, void **p, const char *name) {
        *p = dlsym(dl, name);
        if (!*p)
                log_error("%s has no %s: %s", LIBKMOD_SONAME, name, dlerror());
        return *p;
}

#define RESOLVE(dl, symbol) resolve((dl), (void **) &sym_##symbol, #symbol)

static void load(void) {
        void *dl;

        /* RTLD_NODELETE: the pointers stay good for the process's life. */
        dl = dlopen(LIBKMOD_SONAME, RTLD_NOW | RTLD_NODELETE);
        if (!dl) {
                log_error("Cannot load %s, needed to find and load VFIO modules: %s", LIBKMOD_SONAME, dlerror());
                return;
        }
        if (!RESOLVE(dl, kmod_dump_index) || !RESOLVE(dl, kmod_list_next) ||
            !RESOLVE(dl, kmod_module_get_initstate) || !RESOLVE(dl, kmod_module_get_module) ||
            !RESOLVE(dl, kmod_module_get_name) || !RESOLVE(dl, kmod_module_new_from_lookup) ||
            !RESOLVE(dl, kmod_module_new_from_name) || !RESOLVE(dl, kmod_module_probe_insert_module) ||
            !RESOLVE(dl, kmod_module_unref) || !RESOLVE(dl, kmod_module_unref_list) || !RESOLVE(dl, kmod_new) ||
            !RESOLVE(dl, kmod_set_log_fn) || !RESOLVE(dl, kmod_unref)) {
                dlclose(dl);
                return;
        }
        log_debug("Loaded %s", LIBKMOD_SONAME);
        load_result = 0;
}

int dlopen_libkmod(void) {
        (void) pthread_once(&once, load);
        return load_result;
}
