/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "cc-names.h"

static bool is_lower_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool cc_runtime_class_valid(const char *name) {
        size_t len;

        if (!name)
                return false;
        len = strlen(name);
        if (len == 0 || len > CC_RUNTIME_CLASS_MAX)
                return false;
        if (!is_lower_alnum(name[0]) || !is_lower_alnum(name[len - 1]))
                return false;
        for (size_t i = 0; i < len; i++)
                if (!is_lower_alnum(name[i]) && name[i] != '-')
                        return false;
        return true;
}

bool cc_mode_name_valid(const char *mode) {
        static const char *const modes[] = { "on", "off", "devtools", "ppcie" };

        for (size_t i = 0; mode && i < sizeof(modes) / sizeof(modes[0]); i++)
                if (strcmp(mode, modes[i]) == 0)
                        return true;
        return false;
}
