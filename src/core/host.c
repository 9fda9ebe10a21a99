/* SPDX-License-Identifier: MIT */
#include "host.h"
#include "tee.h"

int cc_host_open(const char *root, bool simulate, HwHost **ret) {
        return hw_host_new(root, simulate, ret);
}

const char *cc_host_tee(HwHost *h) {
        return hw_host_tee(h);
}
