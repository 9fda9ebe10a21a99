/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "cc-names.h"

static bool is_lower_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool dns_name_valid(const char *s, size_t len, bool lowercase) {
        size_t label = 0;

        if (len == 0 || len > DNS_NAME_MAX)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];

                if (c == '.') {
                        if (label == 0 || s[i - 1] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                if (!is_lower_alnum(c) && c != '-' && (lowercase || c < 'A' || c > 'Z'))
                        return false;
                if (label == 0 && c == '-')
                        return false;
                if (++label > DNS_LABEL_MAX)
                        return false;
        }
        return label > 0 && s[len - 1] != '-';
}

bool cc_runtime_class_valid(const char *name) {
        return name && !strchr(name, '.') && dns_name_valid(name, strlen(name), true);
}

bool cc_mode_name_valid(const char *mode) {
        static const char *const modes[] = { "on", "off", "devtools", "ppcie" };

        for (size_t i = 0; mode && i < sizeof(modes) / sizeof(modes[0]); i++)
                if (strcmp(mode, modes[i]) == 0)
                        return true;
        return false;
}
