/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>

#include "ccd-plan.h"
#include "macro.h"

static void step_free(gpointer p) {
        CcdPlanStep *s = p;

        g_free(s->device);
        g_free(s->action);
        g_free(s->reason);
        g_free(s->holders);
        if (s->holder_pids)
                g_array_unref(s->holder_pids);
        g_free(s);
}

CcdPlan *ccd_plan_free(CcdPlan *p) {
        if (!p)
                return NULL;
        g_ptr_array_unref(p->steps);
        g_free(p);
        return NULL;
}

static int read_string_variant(sd_bus_message *m, char **ret) {
        const char *s;
        int r;

        r = sd_bus_message_read(m, "v", "s", &s);
        if (r < 0)
                return r;
        g_free(*ret);
        *ret = g_strdup(s);
        return 0;
}

/* Holders a(us): pid and command of each process holding the GPU open. */
static int read_holders(sd_bus_message *m, CcdPlanStep *s) {
        g_autoptr(GString) out = g_string_new(NULL);
        g_autoptr(GArray) pids = g_array_new(false, false, sizeof(uint32_t));
        const char *comm;
        uint32_t pid;
        int r;

        r = sd_bus_message_enter_container(m, 'v', "a(us)");
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, 'a', "(us)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "(us)", &pid, &comm)) > 0) {
                g_string_append_printf(out, "%s%" PRIu32 " (%s)", out->len ? ", " : "", pid, comm);
                g_array_append_val(pids, pid);
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        g_free(s->holders);
        s->holders = out->len ? g_string_free(g_steal_pointer(&out), false) : NULL;
        if (s->holder_pids)
                g_array_unref(s->holder_pids);
        s->holder_pids = g_steal_pointer(&pids);
        return 0;
}

static int read_step(sd_bus_message *m, CcdPlanStep *s) {
        int r;

        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                if (streq(key, "Device"))
                        r = read_string_variant(m, &s->device);
                else if (streq(key, "Action"))
                        r = read_string_variant(m, &s->action);
                else if (streq(key, "Reason"))
                        r = read_string_variant(m, &s->reason);
                else if (streq(key, "Holders"))
                        r = read_holders(m, s);
                else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        return r == -ENXIO ? -EBADMSG : r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        return r;
}

int ccd_plan_read(sd_bus_message *m, CcdPlan **ret) {
        CcdPlan *p;
        int r;

        assert(m);
        assert(ret);

        p = g_new0(CcdPlan, 1);
        p->steps = g_ptr_array_new_with_free_func(step_free);
        r = sd_bus_message_enter_container(m, 'a', "a{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'a', "{sv}")) > 0) {
                CcdPlanStep *s = g_new0(CcdPlanStep, 1);

                g_ptr_array_add(p->steps, s);
                r = read_step(m, s);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r >= 0 && (!s->device || !s->action))
                        r = -EBADMSG; /* every step names its device and action */
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0) {
                ccd_plan_free(p);
                return r;
        }
        *ret = p;
        return 0;
}

unsigned ccd_plan_n_refused(const CcdPlan *p) {
        unsigned n = 0;

        for (guint i = 0; p && i < p->steps->len; i++)
                n += streq(((CcdPlanStep *) g_ptr_array_index(p->steps, i))->action, "refuse");
        return n;
}

/* Whether every holder's pid is in the reason already (nvidia-ccd's reasons
 * name the processes): then the list would only repeat it. */
static bool reason_names_holders(const CcdPlanStep *s) {
        for (guint i = 0; s->holder_pids && i < s->holder_pids->len; i++) {
                char pid[16];

                snprintf(pid, sizeof(pid), "%" PRIu32, g_array_index(s->holder_pids, uint32_t, i));
                if (!s->reason || !strstr(s->reason, pid))
                        return false;
        }
        return true;
}

char *ccd_plan_describe_refusals(const CcdPlan *p) {
        GString *out = g_string_new(NULL);

        for (guint i = 0; p && i < p->steps->len; i++) {
                const CcdPlanStep *s = g_ptr_array_index(p->steps, i);

                if (!streq(s->action, "refuse"))
                        continue;
                g_string_append_printf(out, "%s%s: %s", out->len ? "; " : "", s->device,
                                       s->reason && s->reason[0] ? s->reason : "refused");
                if (s->holders && !reason_names_holders(s))
                        g_string_append_printf(out, " (held open by %s)", s->holders);
        }
        return g_string_free(out, false);
}
