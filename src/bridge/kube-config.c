/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <yaml.h>

#include "fileio.h"
#include "kube-config.h"
#include "macro.h"

void kube_config_done(KubeConfig *c) {
        assert(c);

        g_free(c->server);
        g_free(c->ca_file);
        g_clear_pointer(&c->ca_data, g_bytes_unref);
        g_free(c->token);
        g_free(c->token_file);
        g_free(c->client_cert_file);
        g_clear_pointer(&c->client_cert_data, g_bytes_unref);
        g_free(c->client_key_file);
        g_clear_pointer(&c->client_key_data, g_bytes_unref);
        g_free(c->namespace);
        *c = (KubeConfig) {};
}

static void kube_config_donep(KubeConfig *c) {
        kube_config_done(c);
}

/* ------------------------------------------------------------ YAML tree */

static yaml_node_t *node_get(yaml_document_t *doc, int index) {
        return index > 0 ? yaml_document_get_node(doc, index) : NULL;
}

/* A scalar's text, or NULL for anything else and for YAML's null.  A scalar
 * with a NUL inside cannot be a path, a token or a name. */
static const char *scalar(yaml_node_t *n) {
        const char *s;

        if (!n || n->type != YAML_SCALAR_NODE)
                return NULL;
        s = (const char *) n->data.scalar.value;
        if (strlen(s) != n->data.scalar.length)
                return NULL;
        if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
            (streq(s, "") || streq(s, "~") || streq(s, "null") || streq(s, "Null") || streq(s, "NULL")))
                return NULL;
        return s;
}

static yaml_node_t *mapping_get(yaml_document_t *doc, yaml_node_t *map, const char *key) {
        if (!map || map->type != YAML_MAPPING_NODE)
                return NULL;
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
                const char *k = scalar(node_get(doc, p->key));

                if (k && streq(k, key))
                        return node_get(doc, p->value);
        }
        return NULL;
}

static const char *mapping_get_scalar(yaml_document_t *doc, yaml_node_t *map, const char *key) {
        return scalar(mapping_get(doc, map, key));
}

/* In the list `section` (contexts, clusters, users), the mapping under
 * `field` of the entry named `name`. */
static yaml_node_t *named_entry(yaml_document_t *doc, yaml_node_t *root, const char *section,
                                const char *field, const char *name) {
        yaml_node_t *seq = mapping_get(doc, root, section);

        if (!seq || seq->type != YAML_SEQUENCE_NODE)
                return NULL;
        for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top; i++) {
                yaml_node_t *entry = node_get(doc, *i);

                if (streq_ptr(mapping_get_scalar(doc, entry, "name"), name)) {
                        yaml_node_t *m = mapping_get(doc, entry, field);

                        return m && m->type == YAML_MAPPING_NODE ? m : NULL;
                }
        }
        return NULL;
}

/* ------------------------------------------------------------ fields */

static char *resolve_path(const char *base_dir, const char *path) {
        if (path[0] == '/' || !base_dir)
                return g_strdup(path);
        return g_build_filename(base_dir, path, NULL);
}

static int decode_base64(const char *what, const char *entry, const char *text, GBytes **ret, CcError *e) {
        g_autofree guchar *data = NULL;
        gsize size = 0;
        size_t n = 0;

        for (const char *s = text; *s; s++) {
                if (g_ascii_isspace(*s))
                        continue;
                if (!g_ascii_isalnum(*s) && !strchr("+/=", *s))
                        return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                            "kubeconfig: %s of \"%s\" is not base64", what, entry);
                n++;
        }
        if (n == 0 || n % 4 != 0)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "kubeconfig: %s of \"%s\" is not base64", what, entry);
        data = g_base64_decode(text, &size);
        if (!data || size == 0)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "kubeconfig: %s of \"%s\" is empty", what, entry);
        *ret = g_bytes_new_take(TAKE_PTR(data), size);
        return 0;
}

static int parse_bool(const char *what, const char *entry, const char *s, bool *ret, CcError *e) {
        if (!s) {
                *ret = false;
                return 0;
        }
        if (streq(s, "true") || streq(s, "True") || streq(s, "TRUE"))
                *ret = true;
        else if (streq(s, "false") || streq(s, "False") || streq(s, "FALSE"))
                *ret = false;
        else
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "kubeconfig: %s of \"%s\" is not true or false", what, entry);
        return 0;
}

/* A file form and a data form of the same thing: the data wins, as in
 * kubectl. */
static int file_or_data(yaml_document_t *doc, yaml_node_t *m, const char *entry, const char *base_dir,
                        const char *file_key, const char *data_key, char **ret_file, GBytes **ret_data,
                        CcError *e) {
        const char *file = mapping_get_scalar(doc, m, file_key);
        const char *data = mapping_get_scalar(doc, m, data_key);

        if (data)
                return decode_base64(data_key, entry, data, ret_data, e);
        if (file)
                *ret_file = resolve_path(base_dir, file);
        return 0;
}

static int parse_cluster(yaml_document_t *doc, yaml_node_t *root, const char *name, const char *base_dir,
                         KubeConfig *c, CcError *e) {
        yaml_node_t *m = named_entry(doc, root, "clusters", "cluster", name);
        const char *server;
        size_t n;
        int r;

        if (!m)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, ENOENT,
                                    "kubeconfig: cluster \"%s\" not found", name);
        server = mapping_get_scalar(doc, m, "server");
        if (!server)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "kubeconfig: cluster \"%s\" has no server", name);
        if (!g_str_has_prefix(server, "https://") && !g_str_has_prefix(server, "http://"))
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "kubeconfig: server of cluster \"%s\" is not an http(s) URL", name);
        for (const char *s = server; *s; s++)
                if ((unsigned char) *s <= ' ' || *s == 0x7f)
                        return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                            "kubeconfig: server of cluster \"%s\" contains a space or "
                                            "control character", name);
        c->server = g_strdup(server);
        n = strlen(c->server);
        while (n > 0 && c->server[n - 1] == '/')
                c->server[--n] = '\0';
        if (n <= strlen("https://") - (g_str_has_prefix(server, "http://") ? 1 : 0))
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "kubeconfig: server of cluster \"%s\" has no host", name);

        r = file_or_data(doc, m, name, base_dir, "certificate-authority", "certificate-authority-data",
                         &c->ca_file, &c->ca_data, e);
        if (r < 0)
                return r;
        return parse_bool("insecure-skip-tls-verify", name,
                          mapping_get_scalar(doc, m, "insecure-skip-tls-verify"),
                          &c->insecure_skip_tls_verify, e);
}

static int parse_user(yaml_document_t *doc, yaml_node_t *root, const char *name, const char *base_dir,
                      KubeConfig *c, CcError *e) {
        yaml_node_t *m = named_entry(doc, root, "users", "user", name);
        const char *s;
        int r;

        if (!m)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, ENOENT,
                                    "kubeconfig: user \"%s\" not found", name);
        if (mapping_get(doc, m, "exec") || mapping_get(doc, m, "auth-provider"))
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EOPNOTSUPP,
                                    "kubeconfig: user \"%s\" authenticates with a plugin (exec or "
                                    "auth-provider), which is not supported; use a token, a tokenFile "
                                    "or a client certificate", name);
        if (mapping_get(doc, m, "username") || mapping_get(doc, m, "password"))
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EOPNOTSUPP,
                                    "kubeconfig: user \"%s\" uses basic authentication, which is not "
                                    "supported", name);

        s = mapping_get_scalar(doc, m, "token");
        if (s) {
                /* It becomes an Authorization header: a CR or LF would end
                 * it and start another, as for a token file. */
                for (const char *p = s; *p; p++)
                        if ((unsigned char) *p < 0x20 || *p == 0x7f)
                                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                                    "kubeconfig: the token of user \"%s\" has a control character "
                                                    "(a line break?)", name);
                c->token = g_strdup(s);
        }
        s = mapping_get_scalar(doc, m, "tokenFile");
        if (s)
                c->token_file = resolve_path(base_dir, s);

        r = file_or_data(doc, m, name, base_dir, "client-certificate", "client-certificate-data",
                         &c->client_cert_file, &c->client_cert_data, e);
        if (r < 0)
                return r;
        r = file_or_data(doc, m, name, base_dir, "client-key", "client-key-data",
                         &c->client_key_file, &c->client_key_data, e);
        if (r < 0)
                return r;
        if ((c->client_cert_file || c->client_cert_data) != (c->client_key_file || c->client_key_data))
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "kubeconfig: user \"%s\" has a client certificate without its key, "
                                    "or a key without its certificate", name);
        return 0;
}

static int parse_document(yaml_document_t *doc, const char *base_dir, KubeConfig *c, CcError *e) {
        yaml_node_t *root = yaml_document_get_root_node(doc), *ctx;
        const char *current, *cluster, *user, *ns;
        int r;

        if (!root || root->type != YAML_MAPPING_NODE)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL, "kubeconfig: not a YAML mapping");

        current = mapping_get_scalar(doc, root, "current-context");
        if (!current)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL, "kubeconfig: current-context is not set");
        ctx = named_entry(doc, root, "contexts", "context", current);
        if (!ctx)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, ENOENT,
                                    "kubeconfig: context \"%s\" not found", current);
        cluster = mapping_get_scalar(doc, ctx, "cluster");
        if (!cluster)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "kubeconfig: context \"%s\" names no cluster", current);
        r = parse_cluster(doc, root, cluster, base_dir, c, e);
        if (r < 0)
                return r;

        /* A context without a user talks to the server anonymously. */
        user = mapping_get_scalar(doc, ctx, "user");
        if (user) {
                r = parse_user(doc, root, user, base_dir, c, e);
                if (r < 0)
                        return r;
        }
        ns = mapping_get_scalar(doc, ctx, "namespace");
        if (ns)
                c->namespace = g_strdup(ns);
        return 0;
}

int kube_config_parse(const char *text, size_t size, const char *base_dir, KubeConfig *ret, CcError *e) {
        _cleanup_(kube_config_donep) KubeConfig c = {};
        yaml_parser_t parser;
        yaml_document_t doc;
        int r;

        assert(text || size == 0);
        assert(ret);

        if (size > KUBE_CONFIG_MAX_BYTES)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EFBIG,
                                    "kubeconfig: larger than %d bytes", KUBE_CONFIG_MAX_BYTES);
        if (!yaml_parser_initialize(&parser))
                return cc_error_set(e, CC_ERROR_INTERNAL, ENOMEM, "kubeconfig: out of memory");
        yaml_parser_set_input_string(&parser, (const unsigned char *) (text ? text : ""), size);
        if (!yaml_parser_load(&parser, &doc)) {
                r = cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                 "kubeconfig: YAML error at line %zu: %s",
                                 parser.problem_mark.line + 1, strempty(parser.problem));
                yaml_parser_delete(&parser);
                return r;
        }
        r = parse_document(&doc, base_dir, &c, e);
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        if (r < 0)
                return r;

        *ret = c;
        c = (KubeConfig) {};
        return 0;
}

/* The files a kubeconfig names are opened by libcurl, or read at each
 * request: each must be a regular file (a FIFO would hold the bridge). */
static int check_files(const KubeConfig *c, CcError *e) {
        const char *const files[] = { c->ca_file, c->client_cert_file, c->client_key_file, c->token_file };

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                struct stat st;

                /* A missing one is reported when it is used (a token may
                 * appear later). */
                if (!files[i] || stat(files[i], &st) < 0)
                        continue;
                if (!S_ISREG(st.st_mode))
                        return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EISDIR, "%s is not a regular file", files[i]);
        }
        return 0;
}

int kube_config_load(const char *path, KubeConfig *ret, CcError *e) {
        _cleanup_free_ char *text = NULL;
        g_autofree char *dir = NULL;
        KubeConfig c = {};
        int r;

        assert(path);
        assert(ret);

        r = read_text_file(path, &text);
        if (r < 0)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, -r, "cannot read %s: %s", path,
                                    r == -EISDIR ? "not a regular file" : strerror(-r));
        dir = g_path_get_dirname(path);
        r = kube_config_parse(text, strlen(text), dir, &c, e);
        if (r >= 0) {
                r = check_files(&c, e);
                if (r < 0)
                        kube_config_done(&c);
        }
        if (r < 0) {
                cc_error_prefix(e, "%s", path);
                return r;
        }
        *ret = c;
        return 0;
}

int kube_config_in_cluster(const char *host, const char *port, const char *service_account_dir,
                           KubeConfig *ret, CcError *e) {
        _cleanup_(kube_config_donep) KubeConfig c = {};
        _cleanup_free_ char *ns = NULL;
        g_autofree char *ns_path = NULL;

        assert(ret);

        if (!host || !host[0] || !port || !port[0])
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "in-cluster configuration needs KUBERNETES_SERVICE_HOST and "
                                    "KUBERNETES_SERVICE_PORT");
        if (strspn(port, "0123456789") != strlen(port))
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                    "KUBERNETES_SERVICE_PORT \"%s\" is not a port number", port);
        for (const char *s = host; *s; s++)
                if (!g_ascii_isalnum(*s) && !strchr(".-:", *s))
                        return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL,
                                            "KUBERNETES_SERVICE_HOST \"%s\" is not a host name or address", host);
        service_account_dir = service_account_dir ?: KUBE_SERVICE_ACCOUNT_DIR;

        /* An IPv6 address goes in brackets. */
        c.server = strchr(host, ':') ? g_strdup_printf("https://[%s]:%s", host, port)
                                     : g_strdup_printf("https://%s:%s", host, port);
        c.token_file = g_build_filename(service_account_dir, "token", NULL);
        c.ca_file = g_build_filename(service_account_dir, "ca.crt", NULL);
        if (access(c.token_file, R_OK) < 0)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, errno,
                                    "in-cluster configuration: cannot read %s: %s", c.token_file, strerror(errno));
        if (access(c.ca_file, R_OK) < 0)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, errno,
                                    "in-cluster configuration: cannot read %s: %s", c.ca_file, strerror(errno));
        ns_path = g_build_filename(service_account_dir, "namespace", NULL);
        if (read_text_file(ns_path, &ns) >= 0 && ns[0])
                c.namespace = g_strdup(ns);

        *ret = c;
        c = (KubeConfig) {};
        return 0;
}

int kube_config_read_token(const KubeConfig *c, char **ret, CcError *e) {
        _cleanup_free_ char *token = NULL;
        int r;

        assert(c);
        assert(ret);

        if (!c->token_file) {
                *ret = c->token ? g_strdup(c->token) : NULL;
                return 0;
        }
        /* Read each time: the kubelet rotates the projected token in place. */
        r = read_text_file(c->token_file, &token);
        if (r < 0)
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, -r, "cannot read the token %s: %s",
                                    c->token_file, strerror(-r));
        g_strstrip(token);
        if (!token[0] || strpbrk(token, "\r\n"))
                return cc_error_set(e, CC_ERROR_INVALID_ARGUMENT, EINVAL, "the token in %s is %s",
                                    c->token_file, token[0] ? "more than one line" : "empty");
        *ret = g_strdup(token);
        return 0;
}
