/* SPDX-License-Identifier: MIT */
#pragma once

/* Where the API server is and how to authenticate to it: from a kubeconfig
 * file (its current context) or from the pod's service account. */

#include <glib.h>
#include <stdbool.h>

#include "cc-error.h"

#define KUBE_SERVICE_ACCOUNT_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
/* Larger kubeconfig files are refused. */
#define KUBE_CONFIG_MAX_BYTES (1024 * 1024)

typedef struct KubeConfig {
        char *server;               /* https://host:port[/prefix], no trailing '/' */
        char *ca_file;              /* certificate-authority */
        GBytes *ca_data;            /* certificate-authority-data, decoded (PEM) */
        char *token;                /* token */
        char *token_file;           /* tokenFile or the service account's token: read for each request */
        char *client_cert_file;     /* client-certificate */
        GBytes *client_cert_data;   /* client-certificate-data, decoded */
        char *client_key_file;      /* client-key */
        GBytes *client_key_data;    /* client-key-data, decoded */
        bool insecure_skip_tls_verify;
        char *namespace;            /* the context's, or the service account's; may be NULL */
} KubeConfig;

void kube_config_done(KubeConfig *c);

/* Parses a kubeconfig's text; relative paths are taken from base_dir.
 * Errors name the entry and the field.  *ret is untouched on error. */
int kube_config_parse(const char *text, size_t size, const char *base_dir, KubeConfig *ret, CcError *e);
/* Reads and parses a kubeconfig file. */
int kube_config_load(const char *path, KubeConfig *ret, CcError *e);
/* The in-cluster configuration: https://host:port, the service account's
 * token (re-read for each request, so a rotated one is used) and ca.crt. */
int kube_config_in_cluster(const char *host, const char *port, const char *service_account_dir,
                           KubeConfig *ret, CcError *e);

/* The bearer token to send now, or NULL in *ret when there is none. */
int kube_config_read_token(const KubeConfig *c, char **ret, CcError *e);
