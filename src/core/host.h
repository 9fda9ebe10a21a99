/* SPDX-License-Identifier: MIT */
#pragma once

/* The host handle as the daemon holds it.  daemon/ opens and queries the
 * host through these, never through hw/ directly. */

#include <stdbool.h>

#include "hw-host.h"

/* The host under root; simulate plugs in the simulator (src/sim/), which
 * refuses the real root with -EPERM. */
int cc_host_open(const char *root, bool simulate, HwHost **ret);

/* "tdx", "sev-snp" or "none". */
const char *cc_host_tee(HwHost *h);

/* How long a sysfs write may block before the operation ends with Timeout
 * ([Devices] SysfsWriteTimeoutSec). */
void cc_host_set_write_timeout(HwHost *h, unsigned seconds);
