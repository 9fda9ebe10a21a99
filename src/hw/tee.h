/* SPDX-License-Identifier: MIT */
#pragma once

#include "hw-host.h"

/* "tdx" when /sys/module/kvm_intel/parameters/tdx reads Y or 1, "sev-snp"
 * when /sys/module/kvm_amd/parameters/sev_snp does, else "none". */
const char *hw_host_tee(HwHost *h);
