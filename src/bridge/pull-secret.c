/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <sys/mman.h>

#include "fileio.h"
#include "json-util.h"
#include "macro.h"
#include "pull-secret.h"

int pull_secret_memfd(const void *data, size_t size) {
        _cleanup_close_ int fd = -1;
        int r;

        fd = memfd_create("pull-secret", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return -errno;
        r = loop_write(fd, data, size);
        if (r < 0)
                return r;
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
                return -errno;
        return TAKE_FD(fd);
}

/* data[".dockerconfigjson"] of a Secret, decoded. */
static int docker_config(const char *body, size_t size, GBytes **ret, char **ret_reason) {
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(GError) error = NULL;
        JsonNode *root;
        const char *b64;
        guchar *raw;
        gsize n;

        if (!json_depth_within(body, size, KUBE_JSON_DEPTH_MAX) ||
            !json_parser_load_from_data(parser, body, (gssize) size, &error) ||
            !(root = json_parser_get_root(parser)) || !JSON_NODE_HOLDS_OBJECT(root) ||
            !streq_ptr(json_get_string(json_node_get_object(root), "kind"), "Secret")) {
                *ret_reason = g_strdup("the API server's answer is not a Secret");
                return -EINVAL;
        }
        b64 = json_get_string(json_get_object(json_node_get_object(root), "data"), PULL_SECRET_KEY);
        if (!b64) {
                *ret_reason = g_strdup("it has no " PULL_SECRET_KEY " (a Secret of type "
                                       "kubernetes.io/dockerconfigjson holds one)");
                return -EINVAL;
        }
        if (strlen(b64) > (size_t) PULL_SECRET_MAX / 3 * 4 + 4) {
                *ret_reason = g_strdup_printf("its " PULL_SECRET_KEY " is larger than %d bytes, the most "
                                              "nvidia-ccd takes",
                                              PULL_SECRET_MAX);
                return -EFBIG;
        }
        raw = g_base64_decode(b64, &n);
        if (n == 0) {
                g_free(raw);
                *ret_reason = g_strdup("its " PULL_SECRET_KEY " is empty");
                return -EINVAL;
        }
        *ret = g_bytes_new_take(raw, n);
        return 0;
}

int pull_secret_from_answer(const char *what, long status, const char *body, size_t size, char **ret_reason) {
        g_autoptr(GBytes) config = NULL;
        g_autofree char *why = NULL;
        int fd;

        if (status == 404) {
                *ret_reason = g_strdup_printf("%s does not exist", what);
                return -ENOENT;
        }
        if (status == 401 || status == 403) {
                *ret_reason = g_strdup_printf("the API server does not let the bridge read %s (HTTP %ld): the "
                                              "bridge's Role must grant get on it",
                                              what, status);
                return -EACCES;
        }
        if (status != 200) {
                *ret_reason = g_strdup_printf("cannot read %s: HTTP %ld", what, status);
                return -EIO;
        }
        if (docker_config(body, size, &config, &why) < 0) {
                *ret_reason = g_strdup_printf("%s: %s", what, why);
                return -EINVAL;
        }
        fd = pull_secret_memfd(g_bytes_get_data(config, NULL), g_bytes_get_size(config));
        if (fd < 0)
                *ret_reason = g_strdup_printf("cannot hand over %s: %s", what, strerror(-fd));
        return fd;
}
