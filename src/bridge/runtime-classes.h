/* SPDX-License-Identifier: MIT */
#pragma once

/* The runtime classes of --runtime-classes (rtclass-file.h) on this node:
 * each class whose nodeSelector matches the Node's labels is installed with
 * nvidia-ccd's InstallKataArtifacts, its pull secret read from a Secret in
 * the bridge's namespace and handed over as a sealed memfd; a class that
 * leaves the file, or stops matching, is removed with RemoveKataArtifacts,
 * but only one this bridge installed (the record in the state directory
 * says which).  A reference pinned by digest is pulled again only when the
 * daemon's RuntimeClass object holds another digest; a tag is pulled at
 * start and whenever the file changes.  One call at a time; a failure is
 * retried with a growing delay and told in the journal and as a Node
 * Event.  The file's directory is watched with inotify, as a ConfigMap
 * volume swaps its files by renaming a symbolic link; a file that cannot
 * be read or parsed changes nothing. */

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "kube-client.h"
#include "node-events.h"

typedef struct RuntimeClassesOptions {
        const char *path;                /* the file */
        const char *secret_namespace;    /* where the pull secrets are */
        const char *record;              /* the classes this bridge installed */
        const char *ca_file;             /* a PEM bundle for the registries; NULL: the daemon's trust */
        bool restart_containerd;
        uint64_t retry_initial_usec;
        uint64_t retry_max_usec;
        struct CcdGate *gate;            /* the turns at nvidia-ccd (ccd-gate.h), shared with the bridge */
} RuntimeClassesOptions;

typedef struct RuntimeClasses RuntimeClasses;

/* Borrows kube and events, which must outlive it. */
int runtime_classes_new(sd_event *event, sd_bus *bus, KubeClient *kube, NodeEvents *events,
                        const RuntimeClassesOptions *options, RuntimeClasses **ret);
RuntimeClasses *runtime_classes_free(RuntimeClasses *rc);
/* Watches the file and reads it; nothing is installed before the labels. */
int runtime_classes_start(RuntimeClasses *rc);
/* The Node's labels as last seen. */
void runtime_classes_set_labels(RuntimeClasses *rc, GHashTable *labels);
