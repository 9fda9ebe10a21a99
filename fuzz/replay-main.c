/* SPDX-License-Identifier: MIT */

/* Runs a fuzz target over the files named on the command line, and over the
 * files in each directory named: the seed corpus stays checked by ordinary
 * builds (gcc included, no libFuzzer), and a crashing input found by the
 * fuzzer can be replayed under gdb or valgrind.  Exits non-zero when a file
 * cannot be read; a bug in the code under test shows as a crash or a
 * sanitizer report, as under libFuzzer. */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "macro.h"

static int read_all(const char *path, uint8_t **ret, size_t *ret_size) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size = 0, allocated = 0;

        f = fopen(path, "re");
        if (!f)
                return -errno;
        for (;;) {
                size_t k;

                if (allocated - size < 4096) {
                        uint8_t *p = realloc(buf, allocated + 65536);

                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        allocated += 65536;
                }
                k = fread(buf + size, 1, allocated - size, f);
                size += k;
                if (k == 0)
                        break;
        }
        if (ferror(f))
                return -EIO;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

static int replay_file(const char *path) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t size = 0;
        int r;

        r = read_all(path, &data, &size);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(-r));
                return r;
        }
        /* stderr, where the targets and the sanitizers write. */
        fprintf(stderr, "%s (%zu bytes)\n", path, size);
        /* An exact-size copy, so ASan sees a read past the input's end. */
        {
                _cleanup_free_ uint8_t *exact = malloc(size ? size : 1);

                if (!exact)
                        return -ENOMEM;
                memcpy(exact, data, size);
                (void) LLVMFuzzerTestOneInput(exact, size);
        }
        return 0;
}

static int not_hidden(const struct dirent *d) {
        return d->d_name[0] != '.';
}

static int replay_path(const char *path, unsigned *n_files) {
        struct dirent **entries = NULL;
        struct stat st;
        int n, r = 0;

        if (stat(path, &st) < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -errno;
        }
        if (!S_ISDIR(st.st_mode)) {
                (*n_files)++;
                return replay_file(path);
        }

        /* Sorted, so a run is the same from one machine to the next. */
        n = scandir(path, &entries, not_hidden, alphasort);
        if (n < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -errno;
        }
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *child = NULL;

                if (r >= 0 && asprintf(&child, "%s/%s", path, entries[i]->d_name) < 0)
                        r = -ENOMEM;
                if (r >= 0 && !(stat(child, &st) == 0 && S_ISDIR(st.st_mode))) {
                        (*n_files)++;
                        r = replay_file(child);
                }
                free(entries[i]);
        }
        free(entries);
        return r;
}

int main(int argc, char *argv[]) {
        unsigned n_files = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++)
                if (replay_path(argv[i], &n_files) < 0)
                        return 1;
        if (n_files == 0) {
                /* An empty corpus would pass without checking anything. */
                fprintf(stderr, "no input files\n");
                return 1;
        }
        fprintf(stderr, "%u inputs replayed\n", n_files);
        return 0;
}
