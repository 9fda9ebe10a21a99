/* SPDX-License-Identifier: MIT */
#pragma once

/* Image references: HOST[:PORT]/REPO[:TAG][@sha256:DIGEST], parsed strictly.
 * The host is always given (no implied docker.io), so a reference says by
 * itself which server is contacted. */

#include <stdbool.h>

#include "cc-error.h"

#define OCI_REFERENCE_MAX 1024
#define OCI_REPOSITORY_MAX 255
#define OCI_TAG_MAX 128

typedef struct OciReference {
        char *host;        /* "registry.example.com", "127.0.0.1", "[::1]" */
        unsigned port;     /* 0 when not given */
        char *authority;   /* host[:port], as in URLs and docker config keys */
        char *repository;  /* "nvidia/kata-artifacts" */
        char *tag;         /* "latest" when neither tag nor digest is given; NULL with a digest only */
        char *digest;      /* "sha256:<64 hex>", or NULL */
} OciReference;

/* 0, or -EINVAL with an InvalidArgument error naming what is wrong. */
int oci_reference_parse(const char *s, OciReference *ret, CcError *err);
void oci_reference_done(OciReference *r);

/* The host is a loopback address written as such: localhost, 127.0.0.0/8 or
 * [::1].  No name is resolved. */
bool oci_reference_is_loopback(const OciReference *r);

/* "sha256:" and 64 lowercase hex digits: the only digest accepted. */
bool oci_digest_is_valid(const char *s);
