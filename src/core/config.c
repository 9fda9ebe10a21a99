/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdarg.h>
#include <glib.h>

#include "config.h"
#include "device-names.h"
#include "fileio.h"
#include "log.h"

#define DEFAULT_ARTIFACTS_DIR "/opt/nvidia-gpu-operator/artifacts/runtimeclasses"
#define DEFAULT_CONTAINERD_CONFIG "/etc/containerd/config.toml"
#define DEFAULT_SYSFS_WRITE_TIMEOUT_SEC 60
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

/* Names the configuration in messages when it did not come from a file. */
#define DATA_SOURCE "(configuration data)"

typedef struct ConfigKey ConfigKey;

/* value is stripped.  An empty value means the key's default: keys with a
 * default_value get that parsed instead, the others (whose default is "not
 * set") take "" themselves. */
typedef int (*ConfigParser)(CcConfig *c, const ConfigKey *k, const char *source, const char *value, CcError *err);

struct ConfigKey {
        const char *group;
        const char *key;
        ConfigParser parse;
        size_t offset; /* of the field, for the generic parsers */
        const char *default_value;
};

void cc_config_init(CcConfig *c) {
        assert(c);

        *c = (CcConfig) {
                .default_mode = TARGET_MODE_INVALID,
                .sysfs_write_timeout_sec = DEFAULT_SYSFS_WRITE_TIMEOUT_SEC,
                .artifacts_dir = g_strdup(DEFAULT_ARTIFACTS_DIR),
                .containerd_config = g_strdup(DEFAULT_CONTAINERD_CONFIG),
                .pull_timeout_usec = CC_CONFIG_DEFAULT_PULL_TIMEOUT_USEC,
                .cdi_kind = NULL, /* per model, as the device plugin's default */
        };
}

void cc_config_done(CcConfig *c) {
        if (!c)
                return;
        g_free(c->cc_capable_ids);
        g_free(c->extra_devices);
        g_free(c->artifacts_dir);
        g_free(c->containerd_config);
        g_strfreev(c->allowed_host_paths);
        g_strfreev(c->allowed_extra_args);
        g_free(c->cdi_kind);
        *c = (CcConfig) { .default_mode = TARGET_MODE_INVALID };
}

static int bad_value(const ConfigKey *k, const char *source, CcError *err, const char *fmt, ...) _printf_(4, 5);
static int bad_value(const ConfigKey *k, const char *source, CcError *err, const char *fmt, ...) {
        char what[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL, "%s: [%s] %s: %s", source, k->group, k->key, what);
}

/* Exactly four hex digits: the form lspci and pci.ids use. */
static bool parse_hex4(const char *s, size_t len, uint16_t *ret) {
        uint16_t v = 0;

        if (len != 4)
                return false;
        for (size_t i = 0; i < len; i++) {
                int d = g_ascii_xdigit_value(s[i]);
                if (d < 0)
                        return false;
                v = (uint16_t) (v << 4 | d);
        }
        *ret = v;
        return true;
}

/* Splits a comma list into stripped entries; an empty entry (",," or a
 * trailing comma) is refused rather than guessed at. */
static int split_list(const ConfigKey *k, const char *source, const char *value, char ***ret, CcError *err) {
        char **items = g_strsplit(value, ",", -1);

        for (char **i = items; *i; i++)
                if (*g_strstrip(*i) == '\0') {
                        g_strfreev(items);
                        return bad_value(k, source, err, "\"%s\" has an empty entry", value);
                }
        *ret = items;
        return 0;
}

static int parse_mode(CcConfig *c, const ConfigKey *k, const char *source, const char *value, CcError *err) {
        TargetMode m;

        if (value[0] == '\0') {
                c->default_mode = TARGET_MODE_INVALID;
                return 0;
        }
        m = target_mode_from_string(value);
        if (m == TARGET_MODE_INVALID)
                return bad_value(k, source, err, "\"%s\" is not one of on, off, devtools, ppcie", value);
        c->default_mode = m;
        return 0;
}

static int parse_cc_ids(CcConfig *c, const ConfigKey *k, const char *source, const char *value, CcError *err) {
        g_auto(GStrv) items = NULL;
        g_autofree uint16_t *ids = NULL;
        size_t n = 0;
        int r;

        if (value[0] == '\0') {
                g_clear_pointer(&c->cc_capable_ids, g_free);
                c->n_cc_capable_ids = 0;
                c->cc_capable_ids_set = false;
                return 0;
        }
        r = split_list(k, source, value, &items, err);
        if (r < 0)
                return r;
        ids = g_new(uint16_t, g_strv_length(items));
        for (char **i = items; *i; i++) {
                const char *s = *i;

                if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
                        s += 2;
                if (!parse_hex4(s, strlen(s), &ids[n]))
                        return bad_value(k, source, err, "\"%s\" is not a PCI device id (0xNNNN or NNNN)", *i);
                n++;
        }

        g_free(c->cc_capable_ids);
        c->cc_capable_ids = g_steal_pointer(&ids);
        c->n_cc_capable_ids = n;
        c->cc_capable_ids_set = true;
        return 0;
}

static int parse_extra_devices(CcConfig *c, const ConfigKey *k, const char *source, const char *value, CcError *err) {
        g_auto(GStrv) items = NULL;
        g_autofree CcPciId *ids = NULL;
        size_t n = 0;
        int r;

        if (value[0] == '\0') {
                g_clear_pointer(&c->extra_devices, g_free);
                c->n_extra_devices = 0;
                return 0;
        }
        r = split_list(k, source, value, &items, err);
        if (r < 0)
                return r;
        ids = g_new(CcPciId, g_strv_length(items));
        for (char **i = items; *i; i++) {
                const char *colon = strchr(*i, ':');

                if (!colon ||
                    !parse_hex4(*i, (size_t) (colon - *i), &ids[n].vendor_id) ||
                    !parse_hex4(colon + 1, strlen(colon + 1), &ids[n].device_id))
                        return bad_value(k, source, err, "\"%s\" is not VENDOR:DEVICE", *i);
                n++;
        }

        g_free(c->extra_devices);
        c->extra_devices = g_steal_pointer(&ids);
        c->n_extra_devices = n;
        return 0;
}

static int parse_bool(CcConfig *c, const ConfigKey *k, const char *source, const char *value, CcError *err) {
        bool *field = (bool *) ((uint8_t *) c + k->offset);

        /* GKeyFile's own spellings, so the file reads like any other key file. */
        if (streq(value, "true") || streq(value, "1"))
                *field = true;
        else if (streq(value, "false") || streq(value, "0"))
                *field = false;
        else
                return bad_value(k, source, err, "\"%s\" is not a boolean (true or false)", value);
        return 0;
}

static int parse_path(CcConfig *c, const ConfigKey *k, const char *source, const char *value, CcError *err) {
        char **field = (char **) ((uint8_t *) c + k->offset);

        if (!g_path_is_absolute(value))
                return bad_value(k, source, err, "\"%s\" is not an absolute path", value);
        g_free(*field);
        *field = g_strdup(value);
        return 0;
}

/* Whole seconds, 1 to an hour. */
static int parse_seconds(CcConfig *c, const ConfigKey *k, const char *source, const char *value, CcError *err) {
        unsigned *field = (unsigned *) ((uint8_t *) c + k->offset);
        guint64 v;
        char *end = NULL;

        if (!g_ascii_isdigit(value[0]))
                return bad_value(k, source, err, "\"%s\" is not a number of seconds", value);
        errno = 0;
        v = g_ascii_strtoull(value, &end, 10);
        if (errno != 0 || *end || v < 1 || v > 3600)
                return bad_value(k, source, err, "\"%s\" is not a number of seconds from 1 to 3600", value);
        *field = (unsigned) v;
        return 0;
}

/* Bytes, with an optional K, M, G or T suffix (powers of 1024). */
static int parse_size(CcConfig *c, const ConfigKey *k, const char *source, const char *value, CcError *err) {
        uint64_t *field = (uint64_t *) ((uint8_t *) c + k->offset);
        static const char suffixes[] = "KMGT";
        guint64 v;
        char *end = NULL;
        const char *s;

        if (value[0] == '\0') {
                *field = 0;
                return 0;
        }
        if (!g_ascii_isdigit(value[0]))
                return bad_value(k, source, err, "\"%s\" is not a size in bytes (e.g. 8G)", value);
        errno = 0;
        v = g_ascii_strtoull(value, &end, 10);
        if (errno != 0)
                return bad_value(k, source, err, "\"%s\" is too large", value);
        if (*end) {
                s = end[1] == '\0' ? strchr(suffixes, g_ascii_toupper(*end)) : NULL;
                if (!s || !*s)
                        return bad_value(k, source, err, "\"%s\" is not a size in bytes (e.g. 8G)", value);
                for (const char *i = suffixes; i <= s; i++) {
                        if (v > UINT64_MAX / 1024)
                                return bad_value(k, source, err, "\"%s\" is too large", value);
                        v *= 1024;
                }
        }
        *field = v;
        return 0;
}

/* Seconds, or a number with s, min or h; 0 for none. */
static int parse_timespan(CcConfig *c, const ConfigKey *k, const char *source, const char *value, CcError *err) {
        uint64_t *field = (uint64_t *) ((uint8_t *) c + k->offset);
        static const struct {
                const char *suffix;
                uint64_t usec;
        } units[] = { { "", 1000000ULL }, { "s", 1000000ULL }, { "min", 60000000ULL }, { "h", 3600000000ULL } };
        char *end = NULL;
        guint64 v;

        if (!g_ascii_isdigit(value[0]))
                return bad_value(k, source, err, "\"%s\" is not a time span (e.g. 30min)", value);
        errno = 0;
        v = g_ascii_strtoull(value, &end, 10);
        for (size_t i = 0; i < G_N_ELEMENTS(units); i++)
                if (errno == 0 && streq(end, units[i].suffix)) {
                        if (v > UINT64_MAX / units[i].usec)
                                break;
                        *field = v * units[i].usec;
                        return 0;
                }
        return bad_value(k, source, err, "\"%s\" is not a time span (e.g. 30min)", value);
}

/* A comma list of absolute paths without "." or ".." components. */
static int parse_path_list(CcConfig *c, const ConfigKey *k, const char *source, const char *value, CcError *err) {
        char ***field = (char ***) ((uint8_t *) c + k->offset);
        g_auto(GStrv) items = NULL;
        int r;

        if (value[0] == '\0') {
                g_clear_pointer(field, g_strfreev);
                return 0;
        }
        r = split_list(k, source, value, &items, err);
        if (r < 0)
                return r;
        for (char **i = items; *i; i++) {
                g_auto(GStrv) parts = g_strsplit(*i, "/", -1);

                if (!g_path_is_absolute(*i))
                        return bad_value(k, source, err, "\"%s\" is not an absolute path", *i);
                for (char **p = parts; *p; p++)
                        if (streq(*p, ".") || streq(*p, ".."))
                                return bad_value(k, source, err, "\"%s\" has a \".\" or \"..\" component", *i);
        }
        g_strfreev(*field);
        *field = g_steal_pointer(&items);
        return 0;
}

/* A comma list of fnmatch() patterns. */
static int parse_pattern_list(CcConfig *c, const ConfigKey *k, const char *source, const char *value, CcError *err) {
        char ***field = (char ***) ((uint8_t *) c + k->offset);
        g_auto(GStrv) items = NULL;
        int r;

        if (value[0] == '\0') {
                g_clear_pointer(field, g_strfreev);
                return 0;
        }
        r = split_list(k, source, value, &items, err);
        if (r < 0)
                return r;
        g_strfreev(*field);
        *field = g_steal_pointer(&items);
        return 0;
}

/* The kubelet device plugin's resource name, or per-model (NULL). */
static int parse_cdi_kind(CcConfig *c, const ConfigKey *k, const char *source, const char *value, CcError *err) {
        if (streq(value, CC_CDI_KIND_PER_MODEL)) {
                g_clear_pointer(&c->cdi_kind, g_free);
                return 0;
        }
        if (!resource_name_is_valid(value))
                return bad_value(k, source, err, "\"%s\" is not an extended resource name (DOMAIN/NAME) or %s",
                                 value, CC_CDI_KIND_PER_MODEL);
        if (!cdi_kind_is_valid(value))
                return bad_value(k, source, err, "\"%s\" is not a CDI kind (VENDOR/CLASS, the class beginning "
                                 "with a letter)", value);
        g_free(c->cdi_kind);
        c->cdi_kind = g_strdup(value);
        return 0;
}

static const ConfigKey config_keys[] = {
        { "Mode", "Default", parse_mode, 0, NULL },
        { "Devices", "CcCapableDeviceIds", parse_cc_ids, 0, NULL },
        { "Devices", "ExtraDevices", parse_extra_devices, 0, NULL },
        { "Devices", "SysfsWriteTimeoutSec", parse_seconds, offsetof(CcConfig, sysfs_write_timeout_sec),
          STRINGIFY(DEFAULT_SYSFS_WRITE_TIMEOUT_SEC) },
        { "Vfio", "BindNvSwitches", parse_bool, offsetof(CcConfig, bind_nvswitches), "false" },
        { "Vfio", "CdiKind", parse_cdi_kind, 0, CC_CDI_KIND_PER_MODEL },
        { "Kata", "ArtifactsDir", parse_path, offsetof(CcConfig, artifacts_dir), DEFAULT_ARTIFACTS_DIR },
        { "Kata", "ContainerdConfig", parse_path, offsetof(CcConfig, containerd_config), DEFAULT_CONTAINERD_CONFIG },
        { "Kata", "MaxArtifactBytes", parse_size, offsetof(CcConfig, max_artifact_bytes), NULL },
        { "Kata", "PullTimeout", parse_timespan, offsetof(CcConfig, pull_timeout_usec), "30min" },
        { "Kata", "AllowedHostPaths", parse_path_list, offsetof(CcConfig, allowed_host_paths), NULL },
        { "Kata", "AllowedExtraArgs", parse_pattern_list, offsetof(CcConfig, allowed_extra_args), NULL },
};

static bool group_known(const char *group) {
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (streq(config_keys[i].group, group))
                        return true;
        return false;
}

static const ConfigKey *key_lookup(const char *group, const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (streq(config_keys[i].group, group) && streq(config_keys[i].key, key))
                        return &config_keys[i];
        return NULL;
}

static int parse_key(CcConfig *c, GKeyFile *kf, const ConfigKey *k, const char *source, CcError *err) {
        g_autoptr(GError) error = NULL;
        g_autofree char *raw = NULL, *value = NULL;

        /* On a bad escape sequence GKeyFile sets the error and may still
         * return a string: the error decides. */
        value = g_key_file_get_string(kf, k->group, k->key, &error);
        if (error || !value) {
                /* Show the value as written. */
                raw = g_key_file_get_value(kf, k->group, k->key, NULL);
                return bad_value(k, source, err, "\"%s\" has a bad escape sequence or is not UTF-8",
                                 raw ? g_strstrip(raw) : "");
        }
        g_strstrip(value);
        if (value[0] == '\0' && k->default_value)
                return k->parse(c, k, source, k->default_value, err);
        return k->parse(c, k, source, value, err);
}

static int config_parse(CcConfig *c, const char *data, const char *source, CcError *err) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) groups = NULL;
        int r;

        if (!g_key_file_load_from_data(kf, data, (gsize) -1, G_KEY_FILE_NONE, &error))
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, EINVAL, "%s: %s", source, error->message);

        groups = g_key_file_get_groups(kf, NULL);
        for (char **g = groups; *g; g++) {
                g_auto(GStrv) keys = NULL;

                /* Unknown groups and keys are left for newer releases to use;
                 * an older daemon must still start with such a file. */
                if (!group_known(*g)) {
                        log_warning("%s: unknown group [%s], ignoring", source, *g);
                        continue;
                }
                keys = g_key_file_get_keys(kf, *g, NULL, NULL);
                for (char **key = keys; key && *key; key++) {
                        const ConfigKey *k = key_lookup(*g, *key);

                        if (!k) {
                                log_warning("%s: [%s] unknown key %s, ignoring", source, *g, *key);
                                continue;
                        }
                        r = parse_key(c, kf, k, source, err);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* Parses into a fresh configuration and replaces *c only on success, so a
 * failed load leaves the caller's configuration as it was. */
static int config_load_data(CcConfig *c, const char *data, const char *source, CcError *err) {
        CcConfig n;
        int r;

        cc_config_init(&n);
        r = config_parse(&n, data, source, err);
        if (r < 0) {
                cc_config_done(&n);
                return r;
        }
        cc_config_done(c);
        *c = n;
        return 0;
}

int cc_config_load_from_data(CcConfig *c, const char *data, CcError *err) {
        assert(c);
        assert(data);

        return config_load_data(c, data, DATA_SOURCE, err);
}

int cc_config_load(CcConfig *c, const char *path, bool must_exist, CcError *err) {
        _cleanup_free_ char *data = NULL;
        int r;

        assert(c);

        if (!path)
                return config_load_data(c, "", DATA_SOURCE, err);

        r = read_text_file(path, &data);
        if (r == -ENOENT && !must_exist) {
                log_debug("%s: not found, using the defaults", path);
                return config_load_data(c, "", path, err);
        }
        if (r == -ENOENT)
                return cc_error_set(err, CC_ERROR_NOT_FOUND, -r, "%s: no such file", path);
        if (r == -EISDIR)
                return cc_error_set(err, CC_ERROR_INVALID_ARGUMENT, -r, "%s: not a regular file", path);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, -r, "%s: cannot read: %s", path, strerror(-r));

        return config_load_data(c, data, path, err);
}
