/* SPDX-License-Identifier: MIT */
#pragma once

/* The bridge's side of nvidia-ccd's Kata artifacts: InstallKataArtifacts
 * and RemoveKataArtifacts without blocking, and the RuntimeClass objects
 * (what is installed, from which reference, with which digest) read with
 * one GetManagedObjects. */

#include <glib.h>
#include <stdbool.h>
#include <systemd/sd-bus.h>

typedef struct CcdRuntimeClass {
        char *reference;
        char *digest;
} CcdRuntimeClass;

/* Asks for the objects; the handler gets the reply (or the error). */
int ccd_kata_list(sd_bus *bus, sd_bus_slot **ret_slot, sd_bus_message_handler_t done, void *userdata);
/* A reply of ccd_kata_list(): name -> CcdRuntimeClass. */
int ccd_kata_parse_list(sd_bus_message *reply, GHashTable **ret);

/* secret_fd, ca_fd: -1 for none (the message takes copies). */
int ccd_kata_install(sd_bus *bus, sd_bus_slot **ret_slot, const char *name, const char *reference, int secret_fd,
                     int ca_fd, bool restart_containerd, sd_bus_message_handler_t done, void *userdata);
int ccd_kata_remove(sd_bus *bus, sd_bus_slot **ret_slot, const char *name, sd_bus_message_handler_t done,
                    void *userdata);

/* The class is not installed (RemoveKataArtifacts' NotFound). */
bool ccd_kata_error_is_not_found(const sd_bus_error *error);
