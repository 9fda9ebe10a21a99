/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "in-use.h"
#include "strv.h"
#include "sysfs-write.h"

char *cc_holders_to_string(const HwHolders *h) {
        char *s = NULL;
        size_t size = 0;
        FILE *f;

        assert(h);

        f = open_memstream(&s, &size);
        if (!f)
                return NULL;
        for (size_t i = 0; i < h->n; i++)
                fprintf(f, "%s%s (pid %d)", i == 0 ? "" : i + 1 == h->n ? " and " : ", ", h->holders[i].comm,
                        h->holders[i].pid);
        if (fclose(f) != 0) {
                free(s);
                return NULL;
        }
        return s;
}

int cc_check_not_in_use(HwHost *h, char *const *bdfs, char ret_device[16], CcError *err) {
        HwHolders *holders = NULL;
        size_t n = strv_length(bdfs), n_held = 0, shown = 0, used = 0;
        char message[sizeof(err->message)];
        int r;

        assert(h);

        /* A device whose last write is still blocked in the kernel stays
         * locked there: any write would block behind it. */
        for (size_t i = 0; i < n; i++)
                if (hw_sysfs_write_pending(h, bdfs[i], NULL)) {
                        cc_error_from_stuck_write(h, -EDEADLK, bdfs[i], "take it from its driver", err);
                        cc_error_prefix(err, "%s", bdfs[i]);
                        return -ETIMEDOUT;
                }

        r = hw_pci_find_holders(h, bdfs, &holders);
        if (r < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, r, "cannot look for processes using the devices: %s",
                                    strerror(-r));

        message[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *who = NULL;
                int k;

                if (holders[i].n == 0)
                        continue;
                if (n_held++ == 0 && ret_device)
                        snprintf(ret_device, 16, "%s", bdfs[i]);
                who = cc_holders_to_string(&holders[i]);
                if (!who) {
                        hw_holders_array_free(holders, n);
                        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "Out of memory");
                }
                /* Whole parts only, and room left to say how many more. */
                k = snprintf(NULL, 0, "%s%s is in use by %s", shown ? "; " : "", bdfs[i], who);
                if (used + (size_t) k + 48 >= sizeof(message))
                        continue;
                used += (size_t) snprintf(message + used, sizeof(message) - used, "%s%s is in use by %s",
                                          shown ? "; " : "", bdfs[i], who);
                shown++;
        }
        hw_holders_array_free(holders, n);
        if (n_held == 0)
                return 0;
        if (shown < n_held)
                snprintf(message + used, sizeof(message) - used, "; and %zu more device%s in use", n_held - shown,
                         n_held - shown == 1 ? "" : "s");
        return cc_error_set(err, CC_ERROR_BUSY, EBUSY, "%s", message);
}

bool cc_error_from_stuck_write(HwHost *h, int r, const char *bdf, const char *step, CcError *err) {
        uint64_t since = 0, timeout = hw_host_get_write_timeout(h);

        if (r == -ETIMEDOUT) {
                cc_error_set(err, CC_ERROR_TIMEOUT, ETIMEDOUT,
                             "%s did not return within %.3g s: the kernel still holds the device, as a driver does "
                             "while a process keeps it open; the write finishes when that process closes it",
                             step, (double) timeout / USEC_PER_SEC);
                return true;
        }
        if (r == -EDEADLK) {
                (void) hw_sysfs_write_pending(h, bdf, &since);
                cc_error_set(err, CC_ERROR_TIMEOUT, ETIMEDOUT,
                             "cannot %s: an earlier write for the device has been blocked in the kernel for %.0f s "
                             "(a process holds it open)",
                             step, since ? (double) (now_usec(CLOCK_MONOTONIC) - since) / USEC_PER_SEC : 0.0);
                return true;
        }
        return false;
}
