/* SPDX-License-Identifier: MIT */

/* The configuration file parser on arbitrary bytes.  The file is written by
 * the administrator, but a broken one must give an error naming the key,
 * never a crash, and a failed load must leave the previous configuration
 * intact and leak nothing. */

#include "config.h"
#include "fuzz.h"

/* A failed load must leave these as they were. */
static void check_unchanged(const CcConfig *c, const CcConfig *before) {
        FUZZ_CHECK(c->default_mode == before->default_mode);
        FUZZ_CHECK(c->cc_capable_ids_set == before->cc_capable_ids_set);
        FUZZ_CHECK(c->n_cc_capable_ids == before->n_cc_capable_ids);
        FUZZ_CHECK(c->n_extra_devices == before->n_extra_devices);
        FUZZ_CHECK(c->bind_nvswitches == before->bind_nvswitches);
        FUZZ_CHECK(streq(c->artifacts_dir, before->artifacts_dir));
        FUZZ_CHECK(streq(c->containerd_config, before->containerd_config));
}

static void check_loaded(const CcConfig *c) {
        FUZZ_CHECK(c->default_mode == TARGET_MODE_INVALID ||
               (c->default_mode >= 0 && c->default_mode < _TARGET_MODE_MAX));
        FUZZ_CHECK(!c->cc_capable_ids_set || c->n_cc_capable_ids > 0);
        FUZZ_CHECK(c->cc_capable_ids || c->n_cc_capable_ids == 0);
        FUZZ_CHECK(c->extra_devices || c->n_extra_devices == 0);
        /* Touch every entry, so ASan sees an array shorter than its count. */
        for (size_t i = 0; i < c->n_cc_capable_ids; i++)
                (void) *(volatile uint16_t *) &c->cc_capable_ids[i];
        for (size_t i = 0; i < c->n_extra_devices; i++)
                (void) *(volatile uint16_t *) &c->extra_devices[i].device_id;
        FUZZ_CHECK(c->artifacts_dir && c->artifacts_dir[0] == '/');
        FUZZ_CHECK(c->containerd_config && c->containerd_config[0] == '/');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = NULL;
        CcError err = CC_ERROR_INIT;
        CcConfig c, before;
        int r;

        fuzz_quiet_logging();
        text = fuzz_strndup(data, size);

        /* Loaded over a configuration that is not the default, so "left as
         * it was" is told apart from "reset to the defaults". */
        cc_config_init(&c);
        r = cc_config_load_from_data(&c, "[Mode]\nDefault=devtools\n[Devices]\nCcCapableDeviceIds=0x2330\n"
                                         "[Vfio]\nBindNvSwitches=true\n", &err);
        FUZZ_CHECK(r == 0);
        before = c;

        r = cc_config_load_from_data(&c, text, &err);
        if (fuzz_verbose())
                fprintf(stderr, "  cc_config_load_from_data: %d %s\n", r, err.message);
        if (r < 0) {
                /* An error says what was wrong. */
                FUZZ_CHECK(err.kind == CC_ERROR_INVALID_ARGUMENT);
                FUZZ_CHECK(err.message[0] != '\0');
                check_unchanged(&c, &before);
        } else {
                FUZZ_CHECK(r == 0);
                check_loaded(&c);
        }

        cc_config_done(&c);
        return 0;
}
