/* SPDX-License-Identifier: MIT */
#include "bus-errors.h"
#include "escape.h"

static const sd_bus_error_map cc_error_map[] = {
        SD_BUS_ERROR_MAP(CC_ERROR_PREFIX "InvalidArgument", EINVAL),
        SD_BUS_ERROR_MAP(CC_ERROR_PREFIX "NotFound", ENODEV),
        SD_BUS_ERROR_MAP(CC_ERROR_PREFIX "NotCapable", EOPNOTSUPP),
        SD_BUS_ERROR_MAP(CC_ERROR_PREFIX "Busy", EBUSY),
        SD_BUS_ERROR_MAP(CC_ERROR_PREFIX "HostNotReady", ENXIO),
        SD_BUS_ERROR_MAP(CC_ERROR_PREFIX "HardwareFailure", EIO),
        SD_BUS_ERROR_MAP(CC_ERROR_PREFIX "Timeout", ETIMEDOUT),
        SD_BUS_ERROR_MAP(CC_ERROR_PREFIX "DigestMismatch", EBADMSG),
        SD_BUS_ERROR_MAP(CC_ERROR_PREFIX "RegistryError", EPROTO),
        SD_BUS_ERROR_MAP_END
};

int bus_errors_register(void) {
        return sd_bus_error_add_map(cc_error_map);
}

int bus_error_from_cc(sd_bus_error *error, const CcError *e) {
        const char *name;

        switch (e->kind) {
        case CC_ERROR_ACCESS_DENIED:
                name = SD_BUS_ERROR_ACCESS_DENIED;
                break;
        case CC_ERROR_NONE:
        case CC_ERROR_INTERNAL:
        case _CC_ERROR_KIND_MAX:
                name = SD_BUS_ERROR_FAILED;
                break;
        default:
                name = NULL;
        }

        /* The last line of defence: whatever a message quotes (a registry,
         * a file), nothing that drives a terminal goes on the bus. */
        char message[4 * sizeof(e->message)];
        text_escape_controls_buf(e->message, message, sizeof(message));

        if (name)
                return sd_bus_error_set(error, name, message[0] ? message : "internal error");

        char full[128];
        snprintf(full, sizeof(full), CC_ERROR_PREFIX "%s", cc_error_kind_to_string(e->kind));
        return sd_bus_error_set(error, full, message);
}
