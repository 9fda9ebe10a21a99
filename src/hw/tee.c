/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "fileio.h"
#include "tee.h"

/* kvm exports its boolean module parameters as "Y"/"N"; some kernels and
 * backports print "1"/"0" instead. */
static bool parameter_enabled(HwHost *h, const char *module, const char *parameter) {
        _cleanup_free_ char *path = NULL, *value = NULL;

        path = hw_path(h, "sys/module/%s/parameters/%s", module, parameter);
        if (!path)
                return false;
        if (read_text_file(path, &value) < 0)
                return false;
        return streq(value, "Y") || streq(value, "1");
}

const char *hw_host_tee(HwHost *h) {
        assert(h);

        if (parameter_enabled(h, "kvm_intel", "tdx"))
                return "tdx";
        if (parameter_enabled(h, "kvm_amd", "sev_snp"))
                return "sev-snp";
        return "none";
}
