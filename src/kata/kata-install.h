/* SPDX-License-Identifier: MIT */
#pragma once

/* Installing a pulled Kata artifact as a runtime class, all or nothing.
 *
 *   1. kata_staging_new() makes ArtifactsDir/.staging-<name>-<random>/ and in
 *      it blobs/, the directory the pull writes its verified blobs to.
 *   2. kata_install() checks the layer titles, rewrites the Kata
 *      configuration, plans the containerd edits (nothing is written until
 *      all of that passed), links each blob into the new tree under its
 *      title (same filesystem: links, no copies), fsyncs the files and the
 *      tree, and swaps the tree in as ArtifactsDir/<name> with
 *      renameat2(RENAME_EXCHANGE) (or a plain rename when new).  The
 *      containerd files and the record follow; if either fails the swap is
 *      undone, so the previous version is never half replaced.
 *   3. kata_staging_free() removes the staging directory, which then holds
 *      the previous version.
 *
 * The Kata configuration's [hypervisor.*] kernel, initrd and image keys are
 * set to the installed files found by kata_find_artifact_files() (by name;
 * see kata-names.h).  Nothing here talks to D-Bus: restarting containerd is
 * the daemon's callback. */

#include <stdbool.h>
#include <stdint.h>

#include "cc-error.h"
#include "kata-record.h"
#include "macro.h"
#include "oci-pull.h"

/* A Kata configuration is a few tens of KiB. */
#define KATA_CONFIG_MAX (1024U * 1024)

typedef struct KataStaging KataStaging;

/* What an install needs of the host, checked before anything is pulled
 * (reads only): what exists of ArtifactsDir passes the checks below (a
 * missing part can be made), and, when registering, containerd's
 * configuration exists, is a regular file of a version the editors know,
 * and takes the registration (the plan the install makes, nothing
 * written).  Uses artifacts_dir, runtime_class and containerd_config of o.
 * HostNotReady or InvalidArgument, as the install would fail. */
typedef struct KataInstallOptions KataInstallOptions;
int kata_install_precheck(const KataInstallOptions *o, CcError *err);

/* Creates ArtifactsDir (0755) when missing.  ArtifactsDir and each of its
 * ancestors must be directories of root that nobody else can write
 * (safe-dir.h): HostNotReady naming the one that is not, or when it cannot
 * be created.  Everything below works from descriptors, with *at() calls. */
int kata_staging_new(const char *artifacts_dir, const char *runtime_class, KataStaging **ret, CcError *err);
const char *kata_staging_path(const KataStaging *s);
const char *kata_staging_blob_dir(const KataStaging *s);
int kata_staging_blob_fd(const KataStaging *s);
int kata_staging_fd(const KataStaging *s);
int kata_staging_artifacts_fd(const KataStaging *s);
KataStaging *kata_staging_free(KataStaging *s);  /* removes the directory */
DEFINE_TRIVIAL_CLEANUP_FUNC(KataStaging *, kata_staging_free);

/* Removes what a crash left: every ArtifactsDir/.staging-* directory.
 * Returns the number removed, 0 when ArtifactsDir does not exist, or an
 * error when it is not safe (as for kata_staging_new()). */
int kata_staging_clean_stale(const char *artifacts_dir, CcError *err);

/* Starts a restart of containerd; called once the install is complete and
 * registered.  A negative return is reported as the install's error, the
 * install itself stays. */
typedef int (*KataRestartContainerd)(void *userdata, CcError *err);

struct KataInstallOptions {
        const char *artifacts_dir;
        const char *state_dir;
        const char *runtime_class;
        const char *reference;
        const char *containerd_config;   /* NULL: do not register */
        /* What the Kata configuration may name on the host besides the
         * install directory (kata-host-paths.h); NULL: the defaults. */
        const char *const *allowed_host_paths;
        const char *const *allowed_extra_args;
        KataRestartContainerd restart;   /* NULL: do not restart */
        void *restart_userdata;
};

/* 0 and the new record on success.  On failure, *ret is NULL and nothing
 * outside the staging directory changed, except after a failed restart
 * callback (then *ret is the complete install's record). */
int kata_install(KataStaging *s, const KataInstallOptions *o, const OciPullResult *pull,
                 KataRecord **ret, CcError *err);

/* Unregisters from containerd (the rest of its configuration kept byte for
 * byte), deletes the directory and drops the record. */
int kata_remove(const char *artifacts_dir, const char *state_dir, const KataRecord *record, CcError *err);
