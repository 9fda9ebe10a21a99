/* SPDX-License-Identifier: MIT */
#include "host.h"
#include "sim-host.h"
#include "tee.h"
#include "time-util.h"

int cc_host_open(const char *root, bool simulate, HwHost **ret) {
        return simulate ? sim_host_new(root, ret) : hw_host_new(root, NULL, ret);
}

const char *cc_host_tee(HwHost *h) {
        return hw_host_tee(h);
}

void cc_host_set_write_timeout(HwHost *h, unsigned seconds) {
        hw_host_set_write_timeout(h, (uint64_t) seconds * USEC_PER_SEC);
}
