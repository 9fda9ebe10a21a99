/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <inttypes.h>
#include <time.h>

#include "ctl-json.h"
#include "ctl-print.h"
#include "escape.h"
#include "macro.h"

#define COLUMN_GAP "  "
#define NAME_WIDTH_MIN 12

#define MAX(a, b) ((a) > (b) ? (a) : (b))

static const char *const column_titles[_CTL_COLUMN_MAX] = {
        [CTL_COLUMN_ADDRESS] = "ADDRESS",
        [CTL_COLUMN_NAME] = "NAME",
        [CTL_COLUMN_KIND] = "KIND",
        [CTL_COLUMN_ARCH] = "ARCH",
        [CTL_COLUMN_CC] = "CC",
        [CTL_COLUMN_PPCIE] = "PPCIE",
        [CTL_COLUMN_DRIVER] = "DRIVER",
        [CTL_COLUMN_GROUP] = "GROUP",
        [CTL_COLUMN_NUMA] = "NUMA",
};

static bool legend = true;

void ctl_print_set_legend(bool show) {
        legend = show;
}

const char *ctl_printable(const char *s, char *buf, size_t size) {
        assert(s);
        assert(buf);
        assert(size > 0);

        if (!text_has_control(s, strlen(s)))
                return s;
        return text_escape_controls_buf(s, buf, size);
}

static const char *or_dash(const char *s, char buf[static CTL_CELL_MAX]) {
        return s && *s ? ctl_printable(s, buf, CTL_CELL_MAX) : "-";
}

static const char *id_or_dash(int32_t id, char buf[static CTL_CELL_MAX]) {
        if (id < 0)
                return "-";
        snprintf(buf, CTL_CELL_MAX, "%" PRIi32, id);
        return buf;
}

const char *ctl_device_cell(const CtlDevice *d, CtlColumn c, char buf[static CTL_CELL_MAX]) {
        assert(d);

        switch (c) {
        case CTL_COLUMN_ADDRESS:
                return or_dash(d->address, buf);
        case CTL_COLUMN_NAME:
                return or_dash(d->name, buf);
        case CTL_COLUMN_KIND:
                return or_dash(d->kind, buf);
        case CTL_COLUMN_ARCH:
                return or_dash(d->architecture, buf);
        case CTL_COLUMN_CC:
                /* A mode of a device that has none would only confuse. */
                return d->cc_capable ? or_dash(d->cc_mode, buf) : "-";
        case CTL_COLUMN_PPCIE:
                return d->ppcie_capable ? or_dash(d->ppcie_mode, buf) : "-";
        case CTL_COLUMN_DRIVER:
                return or_dash(d->driver, buf);
        case CTL_COLUMN_GROUP:
                return id_or_dash(d->iommu_group, buf);
        case CTL_COLUMN_NUMA:
                return id_or_dash(d->numa_node, buf);
        default:
                return "-";
        }
}

size_t ctl_text_width(const char *s) {
        size_t w = 0;

        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if ((*p & 0xc0) != 0x80)
                        w++;
        return w;
}

/* Prints s cut to width columns, with "…" as the last one when cut;
 * returns the columns printed. */
static size_t print_cut(FILE *f, const char *s, size_t width) {
        size_t w = ctl_text_width(s), cols = 0;
        const char *p;

        if (width == 0 || w <= width) {
                fputs(s, f);
                return w;
        }
        for (p = s; *p; p++) {
                if (((unsigned char) *p & 0xc0) != 0x80) {
                        if (cols == width - 1)
                                break;
                        cols++;
                }
                fputc(*p, f);
        }
        fputs("…", f);
        return width;
}

static void column_widths(const CtlDevice *d, size_t n, size_t widths[static _CTL_COLUMN_MAX]) {
        char buf[CTL_CELL_MAX];

        /* Without the header, the cells alone set the widths. */
        for (CtlColumn c = 0; c < _CTL_COLUMN_MAX; c++)
                widths[c] = legend ? ctl_text_width(column_titles[c]) : 0;
        for (size_t i = 0; i < n; i++)
                for (CtlColumn c = 0; c < _CTL_COLUMN_MAX; c++) {
                        size_t w = ctl_text_width(ctl_device_cell(&d[i], c, buf));
                        if (w > widths[c])
                                widths[c] = w;
                }
}

size_t ctl_name_width_for(const CtlDevice *d, size_t n, size_t columns) {
        size_t widths[_CTL_COLUMN_MAX], others = 0;

        if (columns == 0)
                return 0;
        column_widths(d, n, widths);
        for (CtlColumn c = 0; c < _CTL_COLUMN_MAX; c++)
                if (c != CTL_COLUMN_NAME)
                        others += widths[c] + strlen(COLUMN_GAP);
        if (others + NAME_WIDTH_MIN >= columns)
                return NAME_WIDTH_MIN;
        return columns - others;
}

void ctl_print_row(FILE *f, const char *const *cells, const size_t *widths, size_t n) {
        for (size_t c = 0; c < n; c++) {
                size_t w = print_cut(f, cells[c], widths[c]);

                /* No padding after the last column: no trailing blanks. */
                if (c + 1 < n)
                        fprintf(f, "%*s" COLUMN_GAP, (int) (widths[c] - w), "");
        }
        fputc('\n', f);
}

void ctl_print_devices(FILE *f, const CtlDevice *d, size_t n, size_t name_max) {
        size_t widths[_CTL_COLUMN_MAX];
        char bufs[_CTL_COLUMN_MAX][CTL_CELL_MAX];
        const char *cells[_CTL_COLUMN_MAX];

        assert(f);
        assert(d || n == 0);

        if (n == 0) {
                if (legend)
                        fputs("No devices.\n", f);
                return;
        }

        column_widths(d, n, widths);
        if (name_max > 0 && widths[CTL_COLUMN_NAME] > name_max)
                widths[CTL_COLUMN_NAME] = legend ? MAX(name_max, ctl_text_width(column_titles[CTL_COLUMN_NAME]))
                                                 : name_max;

        if (legend)
                ctl_print_row(f, column_titles, widths, _CTL_COLUMN_MAX);
        for (size_t i = 0; i < n; i++) {
                for (CtlColumn c = 0; c < _CTL_COLUMN_MAX; c++)
                        cells[c] = ctl_device_cell(&d[i], c, bufs[c]);
                ctl_print_row(f, cells, widths, _CTL_COLUMN_MAX);
        }
}

/* ------------------------------------------------------ runtime classes */

static const char *const rc_column_titles[_CTL_RC_COLUMN_MAX] = {
        [CTL_RC_COLUMN_NAME] = "RUNTIME CLASS",
        [CTL_RC_COLUMN_REFERENCE] = "REFERENCE",
        [CTL_RC_COLUMN_DIGEST] = "DIGEST",
        [CTL_RC_COLUMN_INSTALLED] = "INSTALLED",
};

const char *ctl_digest_short(const char *digest, char buf[static CTL_CELL_MAX]) {
        static const char prefix[] = "sha256:";
        size_t hex = 0;

        if (!digest || !*digest)
                return "-";
        if (strncmp(digest, prefix, strlen(prefix)) == 0) {
                const char *h = digest + strlen(prefix);

                while (h[hex] && strchr("0123456789abcdef", h[hex]))
                        hex++;
                if (!h[hex] && hex > CTL_DIGEST_SHORT_HEX) {
                        snprintf(buf, CTL_CELL_MAX, "%s%.*s", prefix, CTL_DIGEST_SHORT_HEX, h);
                        return buf;
                }
        }
        /* Not the form the daemon sends: shown whole, so nothing is hidden. */
        return ctl_printable(digest, buf, CTL_CELL_MAX);
}

const char *ctl_format_timestamp(uint64_t usec, char buf[static CTL_CELL_MAX]) {
        time_t t;
        struct tm tm;

        if (usec == 0)
                return "-";
        t = (time_t) (usec / UINT64_C(1000000));
        if (!localtime_r(&t, &tm) || strftime(buf, CTL_CELL_MAX, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
                return "-";
        return buf;
}

const char *ctl_runtime_class_cell(const CtlRuntimeClass *rc, CtlRcColumn c, char buf[static CTL_CELL_MAX]) {
        assert(rc);

        switch (c) {
        case CTL_RC_COLUMN_NAME:
                return or_dash(rc->name, buf);
        case CTL_RC_COLUMN_REFERENCE:
                return or_dash(rc->reference, buf);
        case CTL_RC_COLUMN_DIGEST:
                return ctl_digest_short(rc->digest, buf);
        case CTL_RC_COLUMN_INSTALLED:
                return ctl_format_timestamp(rc->installed_at, buf);
        default:
                return "-";
        }
}

void ctl_print_runtime_classes(FILE *f, const CtlRuntimeClass *rc, size_t n) {
        size_t widths[_CTL_RC_COLUMN_MAX];
        char bufs[_CTL_RC_COLUMN_MAX][CTL_CELL_MAX];
        const char *cells[_CTL_RC_COLUMN_MAX];

        assert(f);
        assert(rc || n == 0);

        if (n == 0) {
                if (legend)
                        fputs("No runtime classes.\n", f);
                return;
        }

        for (CtlRcColumn c = 0; c < _CTL_RC_COLUMN_MAX; c++)
                widths[c] = legend ? ctl_text_width(rc_column_titles[c]) : 0;
        for (size_t i = 0; i < n; i++)
                for (CtlRcColumn c = 0; c < _CTL_RC_COLUMN_MAX; c++)
                        widths[c] = MAX(widths[c], ctl_text_width(ctl_runtime_class_cell(&rc[i], c, bufs[c])));

        if (legend)
                ctl_print_row(f, rc_column_titles, widths, _CTL_RC_COLUMN_MAX);
        for (size_t i = 0; i < n; i++) {
                for (CtlRcColumn c = 0; c < _CTL_RC_COLUMN_MAX; c++)
                        cells[c] = ctl_runtime_class_cell(&rc[i], c, bufs[c]);
                ctl_print_row(f, cells, widths, _CTL_RC_COLUMN_MAX);
        }
}

typedef struct StatusLine {
        const char *key;
        const char *value;
} StatusLine;

void ctl_print_status(FILE *f, const CtlHost *h, size_t name_max) {
        StatusLine lines[8];
        size_t n = 0, width = 0;

        assert(f);
        assert(h);

        lines[n++] = (StatusLine) { "Version", h->version };
        lines[n++] = (StatusLine) { "Host TEE", h->host_tee };
        lines[n++] = (StatusLine) { "Default mode", h->default_mode && !*h->default_mode ? "none" : h->default_mode };
        lines[n++] = (StatusLine) { "Mode", h->mode };
        lines[n++] = (StatusLine) { "Mode state", h->mode_state };
        if (h->last_error && *h->last_error)
                lines[n++] = (StatusLine) { "Last error", h->last_error };
        lines[n++] = (StatusLine) { "CC capable", h->have_manager ? (h->cc_capable ? "yes" : "no") : NULL };

        for (size_t i = 0; i < n; i++)
                width = MAX(width, strlen(lines[i].key));
        for (size_t i = 0; i < n; i++) {
                char buf[1024];

                fprintf(f, "%*s: %s\n", (int) width, lines[i].key,
                        lines[i].value ? ctl_printable(lines[i].value, buf, sizeof(buf)) : "n/a");
        }

        if (legend || h->n_devices > 0)
                fputc('\n', f);
        ctl_print_devices(f, h->devices, h->n_devices, name_max);
        if (legend || h->n_runtime_classes > 0)
                fputc('\n', f);
        ctl_print_runtime_classes(f, h->runtime_classes, h->n_runtime_classes);
}

static void json_strv(JsonWriter *w, char **l) {
        json_begin_array(w);
        for (char **i = l; i && *i; i++)
                json_string(w, *i);
        json_end_array(w);
}

static void json_id(JsonWriter *w, int32_t id) {
        if (id < 0)
                json_null(w);
        else
                json_int(w, id);
}

static void json_device(JsonWriter *w, const CtlDevice *d) {
        json_begin_object(w);
        json_key(w, "Address");
        json_string(w, d->address);
        json_key(w, "VendorId");
        json_int(w, d->vendor_id);
        json_key(w, "DeviceId");
        json_int(w, d->device_id);
        json_key(w, "Name");
        json_string(w, d->name);
        json_key(w, "Kind");
        json_string(w, d->kind);
        json_key(w, "Architecture");
        json_string(w, d->architecture);
        json_key(w, "CcCapable");
        json_bool(w, d->cc_capable);
        json_key(w, "PpcieCapable");
        json_bool(w, d->ppcie_capable);
        json_key(w, "CcMode");
        json_string(w, d->cc_mode);
        json_key(w, "PpcieMode");
        json_string(w, d->ppcie_mode);
        json_key(w, "Driver");
        json_string(w, d->driver);
        json_key(w, "IommuGroup");
        json_id(w, d->iommu_group);
        json_key(w, "GroupMembers");
        json_strv(w, d->group_members);
        json_key(w, "VfioDevice");
        json_string(w, d->vfio_device);
        json_key(w, "VfioCdev");
        json_string(w, d->vfio_cdev);
        json_key(w, "NumaNode");
        json_id(w, d->numa_node);
        json_end_object(w);
}

static void json_devices(JsonWriter *w, const CtlDevice *d, size_t n) {
        json_begin_array(w);
        for (size_t i = 0; i < n; i++)
                json_device(w, &d[i]);
        json_end_array(w);
}

void ctl_print_devices_json(FILE *f, const CtlDevice *d, size_t n) {
        JsonWriter w;

        assert(f);
        assert(d || n == 0);

        json_writer_init(&w, f);
        json_devices(&w, d, n);
        fputc('\n', f);
}

static void json_runtime_class(JsonWriter *w, const CtlRuntimeClass *rc) {
        json_begin_object(w);
        json_key(w, "Name");
        json_string(w, rc->name);
        json_key(w, "Reference");
        json_string(w, rc->reference);
        json_key(w, "Digest");
        json_string(w, rc->digest);
        json_key(w, "Directory");
        json_string(w, rc->directory);
        json_key(w, "Files");
        json_strv(w, rc->files);
        json_key(w, "ContainerdHandler");
        json_string(w, rc->containerd_handler);
        json_key(w, "InstalledAt");
        if (rc->installed_at > 0 && rc->installed_at <= INT64_MAX)
                json_int(w, (int64_t) rc->installed_at);
        else
                json_null(w);
        json_end_object(w);
}

void ctl_print_status_json(FILE *f, const CtlHost *h) {
        JsonWriter w;

        assert(f);
        assert(h);

        json_writer_init(&w, f);
        json_begin_object(&w);
        json_key(&w, "Version");
        json_string(&w, h->version);
        json_key(&w, "HostTee");
        json_string(&w, h->host_tee);
        json_key(&w, "DefaultMode");
        json_string(&w, h->default_mode);
        json_key(&w, "Mode");
        json_string(&w, h->mode);
        json_key(&w, "ModeState");
        json_string(&w, h->mode_state);
        json_key(&w, "LastError");
        json_string(&w, h->last_error);
        json_key(&w, "CcCapable");
        if (h->have_manager)
                json_bool(&w, h->cc_capable);
        else
                json_null(&w);
        json_key(&w, "Devices");
        json_devices(&w, h->devices, h->n_devices);
        json_key(&w, "RuntimeClasses");
        json_begin_array(&w);
        for (size_t i = 0; i < h->n_runtime_classes; i++)
                json_runtime_class(&w, &h->runtime_classes[i]);
        json_end_array(&w);
        json_end_object(&w);
        fputc('\n', f);
}

void ctl_print_error_json(FILE *f, const char *name, const char *message) {
        JsonWriter w;

        assert(f);

        json_writer_init(&w, f);
        json_begin_object(&w);
        json_key(&w, "error");
        json_begin_object(&w);
        json_key(&w, "name");
        json_string(&w, name);
        json_key(&w, "message");
        json_string(&w, message);
        json_end_object(&w);
        json_end_object(&w);
        fputc('\n', f);
}
