/* SPDX-License-Identifier: MIT */

/* The host-snapshot parser of the test helpers (fake_host_add_from_fixture).
 * Snapshots are taken on other machines and edited by hand; a bad one must
 * fail the test that reads it with an error, not crash the helper or write
 * outside the tree it builds.
 *
 * Each input gets a fresh fake host (a few dozen small files: the base tree
 * and one device; BAR0 is a sparse file), built one level below a private
 * directory, so anything written outside the tree shows up next to it. */

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake-host.h"
#include "fuzz.h"

static char *work_dir, *input_path, *root;

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

static void remove_work_dir(void) {
        if (work_dir)
                (void) nftw(work_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup_dirs(void) {
        const char *tmp = getenv("TMPDIR");

        if (work_dir)
                return;
        if (asprintf(&work_dir, "%s/fuzz-fixture-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0 || !mkdtemp(work_dir) ||
            asprintf(&input_path, "%s/fixture.txt", work_dir) < 0 ||
            asprintf(&root, "%s/host", work_dir) < 0) {
                perror("fuzz-fixture: temporary directory");
                abort();
        }
        atexit(remove_work_dir);
}

static void write_input(const uint8_t *data, size_t size) {
        int fd = open(input_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t) size) || close(fd) < 0) {
                perror("fuzz-fixture: writing the input");
                abort();
        }
}

/* After the tree is removed only the input may be left in the directory. */
static void check_nothing_outside(void) {
        DIR *d = opendir(work_dir);
        struct dirent *de;

        FUZZ_CHECK(d);
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, "..") || streq(de->d_name, "fixture.txt"))
                        continue;
                fprintf(stderr, "%s/%s left outside the fake host tree\n", work_dir, de->d_name);
                abort();
        }
        closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *bdf = NULL, *device_dir = NULL;
        FakeHost *host;
        struct stat st;
        int r;

        fuzz_quiet_logging();
        setup_dirs();
        write_input(data, size);

        host = fake_host_new_at(root);
        FUZZ_CHECK(host);

        r = fake_host_add_from_fixture(host, input_path, &bdf);
        if (fuzz_verbose())
                fprintf(stderr, "  fake_host_add_from_fixture: %d %s\n", r, r < 0 ? strerror(-r) : bdf);
        if (r >= 0) {
                FUZZ_CHECK(bdf);
                device_dir = fake_host_path(host, "sys/bus/pci/devices/%s", bdf);
                FUZZ_CHECK(device_dir);
                /* The bus's entry links to the device's directory in sys/devices. */
                FUZZ_CHECK(lstat(device_dir, &st) == 0 && S_ISLNK(st.st_mode));
                FUZZ_CHECK(stat(device_dir, &st) == 0 && S_ISDIR(st.st_mode));
        } else
                FUZZ_CHECK(!bdf);

        fake_host_free(host);
        check_nothing_outside();
        return 0;
}
