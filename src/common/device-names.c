/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <stdio.h>

#include "cc-names.h"
#include "device-names.h"
#include "macro.h"

#define NAME_MAX_LEN 63

static bool is_alnum(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_letter(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

char *model_resource_name(const char *pci_name, uint16_t device_id) {
        const size_t prefix = strlen(RESOURCE_DOMAIN "/");
        char *out;
        size_t n;
        bool space = false;

        out = malloc(prefix + strlen(strempty(pci_name)) + 8);
        if (!out)
                return NULL;
        memcpy(out, RESOURCE_DOMAIN "/", prefix);
        n = prefix;
        for (const char *p = strempty(pci_name); *p; p++) {
                char c = *p;

                if (isspace((unsigned char) c)) {
                        if (!space)
                                out[n++] = '_';
                        space = true;
                        continue;
                }
                space = false;
                if (c == '/' || c == '.')
                        out[n++] = '_';
                else if (is_alnum(c) || c == '_' || c == '-')
                        out[n++] = (char) toupper((unsigned char) c);
        }
        out[n] = '\0';
        if (n == prefix || !resource_name_is_valid(out))
                snprintf(out + prefix, 8, "%04x", device_id);
        return out;
}

bool resource_name_is_valid(const char *name) {
        const char *slash, *n;
        size_t len;

        if (!name)
                return false;
        slash = strchr(name, '/');
        if (!slash || !dns_name_valid(name, (size_t) (slash - name), true))
                return false;
        /* kubernetes.io and its subdomains are for the native resources. */
        len = (size_t) (slash - name);
        if ((len == strlen("kubernetes.io") && strncmp(name, "kubernetes.io", len) == 0) ||
            (len > strlen(".kubernetes.io") &&
             strncmp(slash - strlen(".kubernetes.io"), ".kubernetes.io", strlen(".kubernetes.io")) == 0))
                return false;
        n = slash + 1;
        len = strlen(n);
        if (len == 0 || len > NAME_MAX_LEN || !is_alnum(n[0]) || !is_alnum(n[len - 1]))
                return false;
        for (size_t i = 0; i < len; i++)
                if (!is_alnum(n[i]) && n[i] != '_' && n[i] != '-' && n[i] != '.')
                        return false;
        return true;
}

static bool cdi_part_is_valid(const char *s, size_t len) {
        if (len == 0 || !is_letter(s[0]) || !is_alnum(s[len - 1]))
                return false;
        for (size_t i = 0; i < len; i++)
                if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
                        return false;
        return true;
}

bool cdi_kind_is_valid(const char *kind) {
        const char *slash;

        if (!kind)
                return false;
        slash = strchr(kind, '/');
        return slash && cdi_part_is_valid(kind, (size_t) (slash - kind)) &&
               cdi_part_is_valid(slash + 1, strlen(slash + 1));
}

bool driver_is_vfio(const char *driver) {
        size_t n;

        if (!driver)
                return false;
        if (streq(driver, "vfio-pci"))
                return true;
        n = strlen(driver);
        return n >= 8 && (streq(driver + n - 8, "vfio_pci") || streq(driver + n - 8, "vfio-pci"));
}
