/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>

#include "ctl-json.h"
#include "ctl-plan.h"
#include "ctl-model.h"
#include "macro.h"

void ctl_plan_init(CtlPlan *p) {
        assert(p);
        *p = (CtlPlan) {};
}

void ctl_plan_done(CtlPlan *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n_steps; i++) {
                CtlPlanStep *s = &p->steps[i];

                free(s->device);
                free(s->action);
                free(s->driver);
                for (size_t k = 0; k < s->n_holders; k++)
                        free(s->holders[k].command);
                free(s->holders);
                free(s->reason);
                ctl_strv_free(s->members);
                free(s->vfio_driver);
        }
        free(p->steps);
        ctl_plan_init(p);
}

CtlPlanStep *ctl_plan_add_step(CtlPlan *p) {
        CtlPlanStep *l = realloc(p->steps, (p->n_steps + 1) * sizeof(CtlPlanStep));

        if (!l)
                return NULL;
        p->steps = l;
        l[p->n_steps] = (CtlPlanStep) { .group = -1 };
        return &l[p->n_steps++];
}

int ctl_plan_step_add_holder(CtlPlanStep *s, uint32_t pid, const char *command) {
        CtlHolder *l = realloc(s->holders, (s->n_holders + 1) * sizeof(CtlHolder));

        if (!l)
                return -ENOMEM;
        s->holders = l;
        l[s->n_holders].pid = pid;
        l[s->n_holders].command = strdup(command);
        if (!l[s->n_holders].command)
                return -ENOMEM;
        s->n_holders++;
        return 0;
}

static const char *const plan_titles[_CTL_PLAN_COLUMN_MAX] = {
        [CTL_PLAN_COLUMN_DEVICE] = "DEVICE",
        [CTL_PLAN_COLUMN_GROUP] = "GROUP",
        [CTL_PLAN_COLUMN_ACTION] = "ACTION",
        [CTL_PLAN_COLUMN_DRIVER] = "DRIVER",
        [CTL_PLAN_COLUMN_VFIO_DRIVER] = "VFIO DRIVER",
        [CTL_PLAN_COLUMN_HOLDERS] = "HOLDERS",
        [CTL_PLAN_COLUMN_REASON] = "REASON",
};

static const char *text_or_dash(const char *s, char buf[static CTL_CELL_MAX]) {
        return s && *s ? ctl_printable(s, buf, CTL_CELL_MAX) : "-";
}

const char *ctl_plan_cell(const CtlPlanStep *s, CtlPlanColumn c, char buf[static CTL_CELL_MAX]) {
        assert(s);

        switch (c) {
        case CTL_PLAN_COLUMN_DEVICE:
                return text_or_dash(s->device, buf);
        case CTL_PLAN_COLUMN_GROUP:
                if (s->group < 0)
                        return "-";
                snprintf(buf, CTL_CELL_MAX, "%" PRIi32, s->group);
                return buf;
        case CTL_PLAN_COLUMN_ACTION:
                return text_or_dash(s->action, buf);
        case CTL_PLAN_COLUMN_DRIVER:
                return text_or_dash(s->driver, buf);
        case CTL_PLAN_COLUMN_VFIO_DRIVER:
                return text_or_dash(s->vfio_driver, buf);
        case CTL_PLAN_COLUMN_HOLDERS: {
                char text[CTL_CELL_MAX];
                size_t used = 0;

                if (s->n_holders == 0)
                        return "-";
                text[0] = '\0';
                for (size_t i = 0; i < s->n_holders && used < sizeof(text); i++)
                        used += (size_t) snprintf(text + used, sizeof(text) - used, "%s%s (%" PRIu32 ")",
                                                  i ? ", " : "", s->holders[i].command, s->holders[i].pid);
                /* Command names are the processes' own: made printable. */
                if (ctl_printable(text, buf, CTL_CELL_MAX) != buf)
                        snprintf(buf, CTL_CELL_MAX, "%s", text);
                return buf;
        }
        case CTL_PLAN_COLUMN_REASON:
                return text_or_dash(s->reason, buf);
        default:
                return "-";
        }
}

static bool plan_is_vfio(const CtlPlan *p) {
        for (size_t i = 0; i < p->n_steps; i++)
                if (p->steps[i].vfio)
                        return true;
        return false;
}

static size_t count_action(const CtlPlan *p, const char *action) {
        size_t n = 0;

        for (size_t i = 0; i < p->n_steps; i++)
                n += streq_ptr(p->steps[i].action, action);
        return n;
}

static const char *devices(size_t n) {
        return n == 1 ? "device" : "devices";
}

void ctl_print_plan(FILE *f, const CtlPlan *p, const char *operation) {
        CtlPlanColumn columns[_CTL_PLAN_COLUMN_MAX];
        const char *titles[_CTL_PLAN_COLUMN_MAX], *cells[_CTL_PLAN_COLUMN_MAX];
        char bufs[_CTL_PLAN_COLUMN_MAX][CTL_CELL_MAX];
        size_t widths[_CTL_PLAN_COLUMN_MAX], n_columns = 0, refused, skipped, changed;
        bool vfio;

        assert(f);
        assert(p);
        assert(operation);

        if (p->n_steps == 0) {
                fprintf(f, "%s would change no device; nothing was changed.\n", operation);
                return;
        }

        vfio = plan_is_vfio(p);
        for (CtlPlanColumn c = 0; c < _CTL_PLAN_COLUMN_MAX; c++) {
                if (!vfio && (c == CTL_PLAN_COLUMN_GROUP || c == CTL_PLAN_COLUMN_VFIO_DRIVER))
                        continue;
                columns[n_columns] = c;
                titles[n_columns] = plan_titles[c];
                widths[n_columns] = ctl_text_width(plan_titles[c]);
                n_columns++;
        }
        for (size_t i = 0; i < p->n_steps; i++)
                for (size_t k = 0; k < n_columns; k++) {
                        size_t w = ctl_text_width(ctl_plan_cell(&p->steps[i], columns[k], bufs[k]));
                        if (w > widths[k])
                                widths[k] = w;
                }

        ctl_print_row(f, titles, widths, n_columns);
        for (size_t i = 0; i < p->n_steps; i++) {
                for (size_t k = 0; k < n_columns; k++)
                        cells[k] = ctl_plan_cell(&p->steps[i], columns[k], bufs[k]);
                ctl_print_row(f, cells, widths, n_columns);
        }

        refused = count_action(p, "refuse");
        skipped = count_action(p, "skip");
        changed = p->n_steps - refused - skipped;
        fputc('\n', f);
        if (refused > 0)
                fprintf(f, "%s would be refused: %zu %s in use. Nothing was changed.\n", operation, refused,
                        devices(refused));
        else
                fprintf(f, "%s would %s %zu %s and leave %zu as %s. Nothing was changed.\n", operation,
                        vfio ? "bind" : "switch", changed, devices(changed), skipped,
                        skipped == 1 ? "it is" : "they are");
}

static void json_step(JsonWriter *w, const CtlPlanStep *s) {
        json_begin_object(w);
        json_key(w, "Device");
        json_string(w, s->device);
        json_key(w, "Action");
        json_string(w, s->action);
        json_key(w, "Driver");
        json_string(w, s->driver ?: "");
        json_key(w, "Holders");
        json_begin_array(w);
        for (size_t i = 0; i < s->n_holders; i++) {
                json_begin_object(w);
                json_key(w, "Pid");
                json_int(w, s->holders[i].pid);
                json_key(w, "Command");
                json_string(w, s->holders[i].command);
                json_end_object(w);
        }
        json_end_array(w);
        json_key(w, "Reason");
        json_string(w, s->reason);
        if (s->vfio) {
                json_key(w, "Group");
                if (s->group < 0)
                        json_null(w);
                else
                        json_int(w, s->group);
                json_key(w, "Members");
                json_begin_array(w);
                for (char **m = s->members; m && *m; m++)
                        json_string(w, *m);
                json_end_array(w);
                json_key(w, "VfioDriver");
                json_string(w, s->vfio_driver ?: "");
        }
        json_end_object(w);
}

void ctl_print_plan_json(FILE *f, const CtlPlan *p) {
        JsonWriter w;

        assert(f);
        assert(p);

        json_writer_init(&w, f);
        json_begin_array(&w);
        for (size_t i = 0; i < p->n_steps; i++)
                json_step(&w, &p->steps[i]);
        json_end_array(&w);
        fputc('\n', f);
}
