/* SPDX-License-Identifier: MIT */
#pragma once

/* libkmod, loaded with dlopen the first time a VFIO request needs it (as
 * systemd loads its optional libraries): the daemon then maps neither it
 * nor the libcrypto it links while it only answers the bus.  The sym_
 * pointers are the functions kmod-vfio.c calls; they are set once
 * dlopen_libkmod() returned 0. */

#include <libkmod.h>

#define DLSYM_PROTOTYPE(symbol) typeof(symbol) *sym_##symbol

extern DLSYM_PROTOTYPE(kmod_dump_index);
extern DLSYM_PROTOTYPE(kmod_list_next);
extern DLSYM_PROTOTYPE(kmod_module_get_initstate);
extern DLSYM_PROTOTYPE(kmod_module_get_module);
extern DLSYM_PROTOTYPE(kmod_module_get_name);
extern DLSYM_PROTOTYPE(kmod_module_new_from_lookup);
extern DLSYM_PROTOTYPE(kmod_module_new_from_name);
extern DLSYM_PROTOTYPE(kmod_module_probe_insert_module);
extern DLSYM_PROTOTYPE(kmod_module_unref);
extern DLSYM_PROTOTYPE(kmod_module_unref_list);
extern DLSYM_PROTOTYPE(kmod_new);
extern DLSYM_PROTOTYPE(kmod_set_log_fn);
extern DLSYM_PROTOTYPE(kmod_unref);

/* libkmod's kmod_list_foreach(), through the pointers. */
#define sym_kmod_list_foreach(l, first) for ((l) = (first); (l); (l) = sym_kmod_list_next((first), (l)))

/* Loads libkmod once (thread-safe); 0, or -EOPNOTSUPP when the library or
 * one of its functions is missing (logged once). */
int dlopen_libkmod(void);
