/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdbool.h>

#include "bus-args.h"
#include "bus-errors.h"
#include "macro.h"
#include "strv.h"

#define invalid(error, ...) sd_bus_error_setf(error, CC_ERROR_PREFIX "InvalidArgument", __VA_ARGS__)

static bool is_string_type(char type) {
        return type == SD_BUS_TYPE_STRING || type == SD_BUS_TYPE_OBJECT_PATH || type == SD_BUS_TYPE_SIGNATURE;
}

/* One complete value at the read position, of the type peeked. */
static int check_value(sd_bus_message *m, char type, const char *contents, unsigned depth, unsigned arg,
                       sd_bus_error *error) {
        int r;

        if (type != SD_BUS_TYPE_ARRAY && type != SD_BUS_TYPE_VARIANT && type != SD_BUS_TYPE_STRUCT &&
            type != SD_BUS_TYPE_DICT_ENTRY) {
                union {
                        const char *s;
                        uint64_t u64;
                        double d;
                        int fd;
                } v;

                r = sd_bus_message_read_basic(m, type, &v);
                if (r < 0)
                        return r;
                if (is_string_type(type) && strnlen(v.s, BUS_STRING_MAX + 1) > BUS_STRING_MAX)
                        return invalid(error, "Argument %u holds a string longer than %d bytes", arg, BUS_STRING_MAX);
                return 0;
        }

        if (depth >= BUS_NESTING_MAX)
                return invalid(error, "Argument %u is nested deeper than %d containers", arg, BUS_NESTING_MAX);
        r = sd_bus_message_enter_container(m, type, contents);
        if (r < 0)
                return r;
        for (size_t n = 0;; n++) {
                const char *inner;
                char t;

                r = sd_bus_message_peek_type(m, &t, &inner);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (type == SD_BUS_TYPE_ARRAY && n >= BUS_ARRAY_MAX)
                        return invalid(error, "Argument %u holds an array of more than %d elements", arg,
                                       BUS_ARRAY_MAX);
                r = check_value(m, t, inner, depth + 1, arg, error);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_exit_container(m);
}

int bus_args_check_sizes(sd_bus_message *m, sd_bus_error *error) {
        int r = 0;

        assert(m);

        r = sd_bus_message_rewind(m, true);
        if (r < 0)
                return r;
        for (unsigned arg = 1;; arg++) {
                const char *contents;
                char type;

                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r <= 0)
                        break;
                r = check_value(m, type, contents, 0, arg, error);
                if (r < 0)
                        break;
        }
        (void) sd_bus_message_rewind(m, true);
        return r < 0 ? r : 0;
}

int bus_read_strv(sd_bus_message *m, size_t max, const char *what, char ***ret, sd_bus_error *error) {
        _cleanup_(strv_freep) char **l = NULL;
        size_t n = 0;
        int r;

        assert(m);
        assert(max <= BUS_ARRAY_MAX);
        assert(ret);

        /* Room for the most there may be: no growing, nothing quadratic. */
        l = calloc(max + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "s");
        if (r < 0)
                return r;
        for (;;) {
                const char *s;

                r = sd_bus_message_read_basic(m, SD_BUS_TYPE_STRING, &s);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (n >= max)
                        return invalid(error, "More than %zu %s given", max, what);
                if (strnlen(s, BUS_STRING_MAX + 1) > BUS_STRING_MAX)
                        return invalid(error, "One of the %s is longer than %d bytes", what, BUS_STRING_MAX);
                l[n] = strdup(s);
                if (!l[n])
                        return -ENOMEM;
                n++;
        }
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(l);
        return 0;
}

int bus_read_string(sd_bus_message *m, size_t max, const char *what, const char **ret, sd_bus_error *error) {
        const char *s;
        int r;

        assert(m);
        assert(ret);

        r = sd_bus_message_read_basic(m, SD_BUS_TYPE_STRING, &s);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENXIO;
        if (strnlen(s, max + 1) > max)
                return invalid(error, "The %s is longer than %zu bytes", what, max);
        *ret = s;
        return 0;
}
