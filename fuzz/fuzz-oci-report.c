/* SPDX-License-Identifier: MIT */

/* The daemon's reader of the fetch helper's report (src/oci/report-reader.c)
 * on anything a subverted helper could write on its pipe.  Input: 1 byte
 * seeding the chunk sizes, then the bytes of the pipe.
 *
 * Checks: the pipe gives the same lines, parsed the same way, with the same
 * end, whether it is read in chunks of the largest size a wakeup reads or
 * cut at arbitrary places; a parsed progress has done <= total, a result
 * 1 to 1024 layers with valid digests and non-empty media types, an error a
 * known kind; a refusal names its problem. */

#include <glib.h>

#include "fuzz.h"
#include "macro.h"
#include "oci-reference.h"
#include "report-reader.h"

static int on_line(void *userdata, const char *line, size_t len) {
        GString *out = userdata;
        ReportLine l = {};
        const char *problem = NULL;
        int r;

        r = report_line_parse(line, len, &l, &problem);
        if (r < 0) {
                FUZZ_CHECK(r == -EBADMSG || r == -ENOMEM);
                FUZZ_CHECK(problem && problem[0]);
                g_string_append_printf(out, "refused: %s\n", problem);
                return 0;
        }
        switch (l.kind) {
        case REPORT_PROGRESS:
                FUZZ_CHECK(l.done <= l.total);
                g_string_append_printf(out, "progress %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT "\n", l.done, l.total);
                break;
        case REPORT_RESULT:
                FUZZ_CHECK(l.result && oci_digest_is_valid(l.result->manifest_digest));
                FUZZ_CHECK(l.result->n_layers >= 1 && l.result->n_layers <= REPORT_ITEMS_MAX);
                for (size_t i = 0; i < l.result->n_layers; i++) {
                        const OciLayer *layer = &l.result->layers[i];

                        FUZZ_CHECK(oci_digest_is_valid(layer->digest));
                        FUZZ_CHECK(layer->media_type && layer->media_type[0]);
                        FUZZ_CHECK(!layer->path);
                        FUZZ_CHECK(!layer->title || g_utf8_validate(layer->title, -1, NULL));
                }
                g_string_append_printf(out, "result %s %zu\n", l.result->manifest_digest, l.result->n_layers);
                break;
        case REPORT_ERROR:
                FUZZ_CHECK(l.error_kind > CC_ERROR_NONE && l.error_kind < _CC_ERROR_KIND_MAX);
                FUZZ_CHECK(l.error_message && g_utf8_validate(l.error_message, -1, NULL));
                g_string_append_printf(out, "error %d %s\n", (int) l.error_kind, l.error_message);
                break;
        case REPORT_EXEC_FAILED:
                FUZZ_CHECK(l.exec_errno >= 1 && l.exec_errno <= 4095);
                g_string_append_printf(out, "exec-failed %d\n", l.exec_errno);
                break;
        default:
                FUZZ_CHECK(!"unknown line kind");
        }
        report_line_done(&l);
        return 0;
}

static size_t next_chunk(uint32_t *state, size_t max) {
        uint32_t x = *state;

        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *state = x;
        return 1 + x % max;
}

/* Feeds the pipe's bytes in chunks; returns what the lines gave and how it ended. */
static char *run(const uint8_t *data, size_t size, uint32_t seed) {
        GString *out = g_string_new(NULL);
        ReportReader r = {};
        size_t at = 0;

        while (at < size) {
                size_t n = seed ? next_chunk(&seed, 64) : REPORT_READ_MAX;
                const char *problem = NULL;
                int k;

                if (n > size - at)
                        n = size - at;
                k = report_reader_feed(&r, (const char *) data + at, n, on_line, out, &problem);
                at += n;
                if (k < 0) {
                        FUZZ_CHECK(k == -EBADMSG && problem);
                        g_string_append_printf(out, "stopped: %s\n", problem);
                        break;
                }
        }
        g_string_append_printf(out, "pending: %d\n", report_reader_pending(&r));
        report_reader_done(&r);
        return g_string_free(out, false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autofree char *whole = NULL, *cut = NULL;
        uint32_t seed;

        if (size < 1)
                return 0;
        fuzz_quiet_logging();
        seed = data[0] | 0x100u;
        whole = run(data + 1, size - 1, 0);
        cut = run(data + 1, size - 1, seed);
        if (fuzz_verbose())
                fprintf(stderr, "%s", whole);
        /* "Too many lines at once" depends on how the bytes come: only
         * compare the runs that it did not stop. */
        if (!strstr(whole, "too many lines") && !strstr(cut, "too many lines"))
                FUZZ_CHECK(streq(whole, cut));
        return 0;
}
