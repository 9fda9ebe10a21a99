/* SPDX-License-Identifier: MIT */
#pragma once

/* Registry authentication: the WWW-Authenticate challenge of GET /v2/ and
 * the credentials of a docker config JSON (the .dockerconfigjson of a
 * Kubernetes pull secret). */

#include <stdbool.h>
#include <stddef.h>

#include "cc-error.h"

typedef enum OciAuthScheme {
        OCI_AUTH_NONE,
        OCI_AUTH_BASIC,
        OCI_AUTH_BEARER,
} OciAuthScheme;

typedef struct OciAuthChallenge {
        OciAuthScheme scheme;
        char *realm;      /* Bearer: the token service URL */
        char *service;    /* Bearer, optional */
        char *scope;      /* Bearer, optional */
} OciAuthChallenge;

/* Parses one challenge: `Basic realm="..."` or
 * `Bearer realm="...",service="...",scope="..."`.  -EINVAL when malformed,
 * -EOPNOTSUPP for another scheme.  A Bearer challenge must have a realm. */
int oci_auth_challenge_parse(const char *header, OciAuthChallenge *ret);
void oci_auth_challenge_done(OciAuthChallenge *c);

typedef struct OciCredentials {
        char *username;
        char *password;
} OciCredentials;

/* Looks up `auths.<authority>` in a docker config JSON (keys may carry a
 * scheme and a path, e.g. "https://host:5000/v1/").  Credentials come from
 * "auth" (base64 of "user:password") or from "username" and "password".
 * Returns 1 and fills *ret when found, 0 when the file has no entry for the
 * registry, or a negative errno with an InvalidArgument error when the JSON
 * is not a docker config. */
int oci_credentials_from_docker_config(const char *json, size_t size, const char *authority,
                                       OciCredentials *ret, CcError *err);
void oci_credentials_done(OciCredentials *c);
