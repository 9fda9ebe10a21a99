/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>

#include "bus-errors.h"
#include "fileio.h"
#include "kata-options.h"
#include "macro.h"
#include "oci-pull.h"

#define invalid(error, ...) sd_bus_error_setf(error, CC_ERROR_PREFIX "InvalidArgument", __VA_ARGS__)

typedef enum OptionType {
        OPTION_PATH,
        OPTION_FD,
        OPTION_BOOL,
} OptionType;

static const struct {
        const char *name;
        OptionType type;
        size_t offset;
} options[] = {
        { "pull-secret",         OPTION_PATH, offsetof(KataOptions, pull_secret_path) },
        { "pull-secret-fd",      OPTION_FD,   offsetof(KataOptions, pull_secret_fd) },
        { "ca-file",             OPTION_PATH, offsetof(KataOptions, ca_path) },
        { "ca-file-fd",          OPTION_FD,   offsetof(KataOptions, ca_fd) },
        { "plain-http",          OPTION_BOOL, offsetof(KataOptions, plain_http) },
        { "register-containerd", OPTION_BOOL, offsetof(KataOptions, register_containerd) },
        { "restart-containerd",  OPTION_BOOL, offsetof(KataOptions, restart_containerd) },
};

static const char *const type_signature[] = {
        [OPTION_PATH] = "s",
        [OPTION_FD] = "h",
        [OPTION_BOOL] = "b",
};

static const char *const type_name[] = {
        [OPTION_PATH] = "a string (s)",
        [OPTION_FD] = "a file descriptor (h)",
        [OPTION_BOOL] = "a boolean (b)",
};

static uint64_t limit_of(const char *name) {
        return strncmp(name, "pull-secret", strlen("pull-secret")) == 0 ? OCI_PULL_SECRET_MAX : OCI_CA_BUNDLE_MAX;
}

/* "/etc/nvidia-ccd/x.json": in dir (absolute), every component after it a
 * plain name, so that nothing leads out of it. */
static bool path_in_dir(const char *path, const char *dir) {
        size_t n = strlen(dir);

        if (dir[0] != '/' || strncmp(path, dir, n) != 0 || path[n] != '/')
                return false;
        for (const char *p = path + n + 1;; p++) {
                size_t k = strcspn(p, "/");

                if (k == 0 || (k == 1 && p[0] == '.') || (k == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                p += k;
                if (!*p)
                        return true;
        }
}

/* The reasons a handed-over descriptor (or the file at path, opened) is
 * refused, in the option's words. */
static int check_fd(const char *name, int fd, const char *path, sd_bus_error *error) {
        int r;

        r = fd_check_regular_readable(fd, limit_of(name), NULL);
        if (r == -EBADF)
                return invalid(error, "Option %s: the file descriptor is not open for reading", name);
        if (r == -EBADFD && path)
                return invalid(error, "Option %s: %s is not a regular file", name, path);
        if (r == -EBADFD)
                return invalid(error, "Option %s: the file descriptor is not of a regular file", name);
        if (r == -EFBIG)
                return invalid(error, "Option %s: the file is larger than %" PRIu64 " bytes", name, limit_of(name));
        if (r < 0)
                return invalid(error, "Option %s: cannot use the file: %s", name, strerror(-r));
        return 0;
}

int kata_options_read(sd_bus_message *m, const char *secrets_dir, KataOptions *o, sd_bus_error *error) {
        int r;

        assert(m);
        assert(secrets_dir);
        assert(o);

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *contents;
                void *field;
                size_t i;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                for (i = 0; i < ELEMENTSOF(options); i++)
                        if (streq(options[i].name, key))
                                break;
                if (i == ELEMENTSOF(options))
                        return invalid(error, "Unknown option \"%s\": expected pull-secret-fd, ca-file-fd, pull-secret, "
                                       "ca-file, plain-http, register-containerd or restart-containerd", key);
                r = sd_bus_message_peek_type(m, NULL, &contents);
                if (r < 0)
                        return r;
                if (!streq(contents, type_signature[options[i].type]))
                        return invalid(error, "Option \"%s\" must be %s, not of type \"%s\"", key,
                                       type_name[options[i].type], contents);

                field = (uint8_t *) o + options[i].offset;
                switch (options[i].type) {
                case OPTION_PATH:
                        r = sd_bus_message_read(m, "v", "s", (const char **) field);
                        break;
                case OPTION_FD:
                        r = sd_bus_message_read(m, "v", "h", (int *) field);
                        break;
                case OPTION_BOOL: {
                        int b;

                        r = sd_bus_message_read(m, "v", "b", &b);
                        *(bool *) field = b;
                        break;
                }
                }
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        if (o->pull_secret_path && o->pull_secret_fd >= 0)
                return invalid(error, "Options pull-secret and pull-secret-fd exclude each other");
        if (o->ca_path && o->ca_fd >= 0)
                return invalid(error, "Options ca-file and ca-file-fd exclude each other");
        /* A path is opened by the daemon, as root: only where root alone
         * can put files, and the unit can read them. */
        if (o->pull_secret_path && !path_in_dir(o->pull_secret_path, secrets_dir))
                return invalid(error, "Option pull-secret: \"%s\" is not a file in %s/, the one directory the daemon "
                               "opens files in for callers; pass the file itself, open, as pull-secret-fd",
                               o->pull_secret_path, secrets_dir);
        if (o->ca_path && !path_in_dir(o->ca_path, secrets_dir))
                return invalid(error, "Option ca-file: \"%s\" is not a file in %s/, the one directory the daemon "
                               "opens files in for callers; pass the file itself, open, as ca-file-fd",
                               o->ca_path, secrets_dir);
        if (o->pull_secret_fd >= 0) {
                r = check_fd("pull-secret-fd", o->pull_secret_fd, NULL, error);
                if (r < 0)
                        return r;
        }
        if (o->ca_fd >= 0) {
                r = check_fd("ca-file-fd", o->ca_fd, NULL, error);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int open_one(const char *name, const char *path, int fd, int *ret, sd_bus_error *error) {
        _cleanup_close_ int copy = -1;
        int r;

        *ret = -1;
        if (fd >= 0) {
                copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                if (copy < 0)
                        return -errno;
        } else if (path) {
                /* O_NONBLOCK: a FIFO put there must not hold the loop in
                 * open(); it is refused below as not a regular file. */
                copy = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (copy < 0)
                        return invalid(error, "Option %s: cannot open %s: %s", name, path, strerror(errno));
                r = check_fd(name, copy, path, error);
                if (r < 0)
                        return r;
        } else
                return 0;
        *ret = TAKE_FD(copy);
        return 0;
}

int kata_options_open(const KataOptions *o, int *ret_pull_secret_fd, int *ret_ca_fd, sd_bus_error *error) {
        _cleanup_close_ int secret = -1;
        int r;

        assert(o);
        assert(ret_pull_secret_fd);
        assert(ret_ca_fd);

        r = open_one("pull-secret", o->pull_secret_path, o->pull_secret_fd, &secret, error);
        if (r < 0)
                return r;
        r = open_one("ca-file", o->ca_path, o->ca_fd, ret_ca_fd, error);
        if (r < 0)
                return r;
        *ret_pull_secret_fd = TAKE_FD(secret);
        return 0;
}
