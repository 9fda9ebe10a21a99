/* SPDX-License-Identifier: MIT */
#pragma once

/* Pulling an artifact from an OCI registry, privilege-separated.
 *
 * oci_pull_start() forks and executes the helper nvidia-ccd-fetch (installed
 * in libexecdir, or $NVIDIA_CCD_FETCH) as an unprivileged user with no
 * supplementary groups (when the caller is root), which also drops every
 * capability and sets no_new_privs before it talks to the network or parses
 * anything the registry sent.  The helper gets the output directory, the
 * pull secret and the CA bundle as descriptors (the directory owned by its
 * user while it runs, taken back after), writes each blob, verified against
 * its SHA-256 digest while it streams, as "<hex digest>" in it, and reports
 * on a pipe, one JSON object per line, which the parent reads with its own
 * strict reader (report-reader.h):
 *
 *   {"progress":{"done":N,"total":N}}
 *   {"result":{"manifest":"sha256:...","layers":[{"digest":"sha256:...","size":N,
 *              "media-type":"...","title":"..."|null}, ...]}}
 *   {"error":{"kind":"RegistryError","message":"..."}}
 *   {"exec-failed":{"errno":N}}      (written by the child when execv() failed)
 *
 * The parent keeps the event loop free: it watches oci_pull_get_fd() and calls
 * oci_pull_process() when it is readable.  Nothing here uses sd-bus. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cc-error.h"
#include "macro.h"

/* The layers of one artifact together, when OciPullOptions.max_total_bytes
 * is 0: room for a kernel, an initrd and a root file system image. */
#define OCI_PULL_DEFAULT_MAX_TOTAL_BYTES (UINT64_C(4) * 1024 * 1024 * 1024)

/* What the helper reads of what callers hand over as descriptors. */
#define OCI_PULL_SECRET_MAX (UINT64_C(1) * 1024 * 1024)
#define OCI_CA_BUNDLE_MAX (UINT64_C(4) * 1024 * 1024)

typedef struct OciPullOptions {
        const char *reference;     /* HOST[:PORT]/REPO[:TAG][@sha256:DIGEST] */
        const char *output_dir;    /* exists, empty, owned by the caller; names the layers' paths */
        int output_dir_fd;         /* the same directory open (used when >= 0: no lookup by name) */
        /* Descriptors of regular files, borrowed; -1 for none (set them:
         * 0 would be standard input).  The helper reads them from offset 0,
         * so nothing is opened by path on anyone's behalf. */
        int pull_secret_fd;        /* a docker config JSON */
        int ca_fd;                 /* a PEM bundle; none: the system store */
        bool plain_http;           /* only honoured for a loopback host */
        uint64_t max_total_bytes;  /* 0: the built-in default */
        const char *helper_path;   /* NULL: the installed nvidia-ccd-fetch */
        const char *user;          /* run the helper as this user (when root); NULL: as the caller */
} OciPullOptions;

typedef struct OciLayer {
        char *digest;       /* "sha256:<64 hex>" */
        uint64_t size;
        char *media_type;
        char *title;        /* annotation org.opencontainers.image.title; NULL when absent */
        char *path;         /* "<output_dir>/<hex digest>" */
} OciLayer;

typedef struct OciPullResult {
        char *manifest_digest;     /* of what the reference names (the index, for an index) */
        OciLayer *layers;
        size_t n_layers;
} OciPullResult;

OciPullResult *oci_pull_result_free(OciPullResult *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(OciPullResult *, oci_pull_result_free);

typedef struct OciPull OciPull;

/* Validates the reference (InvalidArgument), the plain-http rule and the
 * descriptors (InvalidArgument), and that the helper can be executed
 * (HostNotReady, naming its path and the errno), before anything is
 * started.  A helper that cannot be executed after the fork is reported
 * by oci_pull_finish(), again with the path and the errno. */
int oci_pull_start(const OciPullOptions *o, OciPull **ret, CcError *err);
/* Those checks that need nothing but the reference, plain_http and the
 * helper: what a caller can learn before it prepares anything. */
int oci_pull_check(const OciPullOptions *o, CcError *err);
/* The helper oci_pull_start() runs for these options. */
const char *oci_pull_helper_path(const OciPullOptions *o);
OciPull *oci_pull_free(OciPull *p);   /* kills and reaps a helper still running */
DEFINE_TRIVIAL_CLEANUP_FUNC(OciPull *, oci_pull_free);

int oci_pull_get_fd(OciPull *p);
/* Reads what the helper wrote.  Returns 1 when the pull has ended (then call
 * oci_pull_finish()), 0 when more is to come.  *done and *total follow the
 * progress lines. */
int oci_pull_process(OciPull *p, uint64_t *ret_done, uint64_t *ret_total);
/* The outcome: 0 and the verified layers, each file now the caller's
 * (mode 0600), or the helper's error (InvalidArgument, RegistryError,
 * DigestMismatch, Timeout, HostNotReady when it could not be executed...). */
int oci_pull_finish(OciPull *p, OciPullResult **ret, CcError *err);

/* Synchronous convenience for tests and benchmarks: start, wait, finish. */
int oci_pull_run(const OciPullOptions *o, OciPullResult **ret, CcError *err);
