/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdbool.h>

#include "bus-open.h"
#include "macro.h"

int bus_open_address(const char *address, sd_bus **ret) {
        _cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
        int r;

        assert(address);
        assert(ret);

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, address);
        if (r < 0)
                return r;
        r = sd_bus_set_bus_client(bus, true);
        if (r < 0)
                return r;
        r = sd_bus_start(bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

int bus_open_spec(const char *spec, sd_bus **ret) {
        assert(ret);

        if (!spec || streq(spec, "system"))
                return sd_bus_open_system(ret);
        if (streq(spec, "session"))
                return sd_bus_open_user(ret);
        return bus_open_address(spec, ret);
}
