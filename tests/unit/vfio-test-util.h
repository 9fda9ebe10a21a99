/* SPDX-License-Identifier: MIT */
#pragma once

/* A fake host for the VFIO tests: built by each test, then opened, scanned
 * and given a state directory by vfio_fixture_open(). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fake-host.h"
#include "sim-host.h"
#include "fileio.h"
#include "pci-sysfs.h"
#include "strv.h"
#include "vfio-bind.h"
#include "vfio-plan.h"

typedef struct VfioFixture {
        FakeHost *fake;
        HwHost *host;
        CcConfig config;
        CcInventory *inv;
        char *state_dir;
} VfioFixture;

static inline int vfio_fixture_setup(void **state) {
        VfioFixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        f->fake = fake_host_new();
        assert_non_null(f->fake);
        cc_config_init(&f->config);
        *state = f;
        return 0;
}

static inline int vfio_fixture_teardown(void **state) {
        VfioFixture *f = *state;

        cc_inventory_free(f->inv);
        cc_config_done(&f->config);
        hw_host_free(f->host);
        fake_host_free(f->fake);
        free(f->state_dir);
        free(f);
        return 0;
}

/* config: the configuration file's text, or NULL for the defaults. */
static inline void vfio_fixture_open(VfioFixture *f, const char *config) {
        CcError e = CC_ERROR_INIT;

        if (config)
                assert_int_equal(cc_config_load_from_data(&f->config, config, &e), 0);
        assert_int_equal(sim_host_new(fake_host_root(f->fake), &f->host), 0);
        assert_int_equal(cc_inventory_scan(f->host, &f->config, &f->inv, &e), 0);
        f->state_dir = fake_host_path(f->fake, "state");
        assert_non_null(f->state_dir);
        assert_int_equal(mkdir_parents(f->state_dir, 0700), 0);
}

/* The driver bound now, "" for none (a string to compare). */
static inline char *vfio_driver(VfioFixture *f, const char *bdf) {
        static char buf[8][64];
        static unsigned next;
        char *driver = NULL, *b = buf[next++ % 8];

        assert_int_equal(hw_pci_get_driver(f->host, bdf, &driver), 0);
        snprintf(b, 64, "%s", strempty(driver));
        free(driver);
        return b;
}

static inline bool vfio_override_set(VfioFixture *f, const char *bdf) {
        char *value = NULL;
        bool set;

        assert_int_equal(hw_pci_get_driver_override(f->host, bdf, &value), 0);
        set = value != NULL;
        free(value);
        return set;
}

static inline bool vfio_file_exists(VfioFixture *f, const char *relative) {
        char *path = fake_host_path(f->fake, "%s", relative);
        bool exists;

        assert_non_null(path);
        exists = access(path, F_OK) == 0;
        free(path);
        return exists;
}

/* Plans and runs action on bdfs (NULL-terminated, or NULL for all). */
static inline int vfio_fixture_run(VfioFixture *f, VfioAction action, char *const *bdfs, CcError *e) {
        VfioRecord *record = NULL;
        VfioPlan *plan = NULL;
        CcVfioJob *job = NULL;
        CcCdiDevice *cdi = cc_cdi_devices_new(f->inv, f->config.cdi_kind);
        int r;

        assert_non_null(cdi);
        assert_int_equal(vfio_record_load(f->state_dir, &record, e), 0);
        r = cc_vfio_plan_new(f->host, &f->config, f->inv, action, bdfs, record, &plan, e);
        vfio_record_free(record);
        if (r < 0) {
                cc_cdi_devices_free(cdi);
                return r;
        }
        assert_int_equal(cc_vfio_job_new(f->host, f->state_dir, plan, cdi, &job), 0);
        cc_cdi_devices_free(cdi);
        r = cc_vfio_job_run(job, e);
        cc_vfio_job_free(job);
        return r;
}
