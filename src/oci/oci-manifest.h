/* SPDX-License-Identifier: MIT */
#pragma once

/* Image manifests and indexes (OCI and docker v2 schema 2), as the registry
 * sent them: parsed strictly, nothing trusted that is not checked. */

#include <stddef.h>
#include <stdint.h>

#include "cc-error.h"

#define OCI_MEDIA_TYPE_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MEDIA_TYPE_INDEX "application/vnd.oci.image.index.v1+json"
#define DOCKER_MEDIA_TYPE_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_MEDIA_TYPE_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define OCI_ANNOTATION_TITLE "org.opencontainers.image.title"

#define OCI_MANIFEST_MAX_BYTES (4U * 1024U * 1024U)
#define OCI_MANIFEST_MAX_ENTRIES 1024
/* Arrays and objects inside each other: a manifest needs 4 or 5. */
#define OCI_JSON_DEPTH_MAX 32

typedef enum OciManifestKind {
        OCI_MANIFEST_IMAGE,   /* OCI image manifest or docker v2 manifest: layers */
        OCI_MANIFEST_INDEX,   /* OCI index or docker manifest list: manifests */
} OciManifestKind;

typedef struct OciDescriptor {
        char *media_type;
        char *digest;         /* valid sha256 digest */
        uint64_t size;
        char *title;          /* annotation org.opencontainers.image.title, or NULL */
        char *os;             /* index entries: platform, or NULL */
        char *architecture;
        char *variant;
} OciDescriptor;

typedef struct OciManifest {
        OciManifestKind kind;
        char *media_type;
        OciDescriptor *entries;   /* layers, or the index's manifests */
        size_t n_entries;
        uint64_t total_size;      /* sum of the entries' sizes */
} OciManifest;

/* content_type: the response's Content-Type (parameters ignored), or NULL.
 * The kind comes from it or from the body's mediaType; when both are given
 * they must agree.  Errors are RegistryError naming the problem. */
int oci_manifest_parse(const char *body, size_t size, const char *content_type,
                       OciManifest **ret, CcError *err);
OciManifest *oci_manifest_free(OciManifest *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(OciManifest *, oci_manifest_free);

/* The index entry for os/architecture (the first one, when several), an
 * image manifest by its media type.  -ENOENT with a RegistryError naming
 * the platforms there are. */
int oci_index_select(const OciManifest *index, const char *os, const char *architecture,
                     const OciDescriptor **ret, CcError *err);

/* The Accept header value for a manifest request. */
extern const char oci_manifest_accept[];
