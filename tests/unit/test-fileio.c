/* SPDX-License-Identifier: MIT */

/* Whole-file reads and atomic replacements (common/fileio.c): what each
 * refuses, the mode and owner a replacement keeps, and a read that outgrows
 * the size the file claimed. */

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fileio.h"
#include "macro.h"

static char *make_dir(void) {
        char *dir = strdup("/tmp/test-fileio.XXXXXX");

        assert_non_null(dir);
        assert_non_null(mkdtemp(dir));
        return dir;
}

static void remove_dir(const char *dir) {
        _cleanup_free_ char *cmd = NULL;

        assert_true(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
        assert_int_equal(system(cmd), 0);
}

static size_t count_entries(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static void test_replace_keeps_mode(void **state) {
        _cleanup_free_ char *dir = make_dir(), *path = NULL, *text = NULL;
        struct stat like = {}, st;
        size_t len;

        assert_true(asprintf(&path, "%s/config.toml", dir) > 0);
        assert_int_equal(write_file_atomic_like(path, "a = 1\n", 6, NULL), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);

        /* The replacement takes the mode of the file it replaces. */
        like.st_mode = S_IFREG | 0600;
        like.st_uid = getuid();
        like.st_gid = getgid();
        assert_int_equal(write_file_atomic_like(path, "b = 2\n", 6, &like), 0);
        assert_int_equal(read_regular_file(path, 100, &text, &len, &st), 0);
        assert_string_equal(text, "b = 2\n");
        assert_int_equal(len, 6);
        assert_int_equal(st.st_mode & 07777, 0600);
        /* No temporary file is left beside it. */
        assert_int_equal(count_entries(dir), 1);
        remove_dir(dir);
}

static void test_read_refuses(void **state) {
        _cleanup_free_ char *dir = make_dir(), *file = NULL, *link = NULL, *fifo = NULL, *text = NULL;
        _cleanup_close_ int dfd = -1;

        assert_true(asprintf(&file, "%s/file", dir) > 0);
        assert_true(asprintf(&link, "%s/link", dir) > 0);
        assert_true(asprintf(&fifo, "%s/fifo", dir) > 0);
        assert_int_equal(write_file_atomic(file, "0123456789", 10, 0644), 0);
        assert_int_equal(symlink(file, link), 0);
        assert_int_equal(mkfifo(fifo, 0600), 0);

        assert_int_equal(read_regular_file(link, 100, &text, NULL, NULL), -ELOOP);
        /* A FIFO is refused, not waited on. */
        assert_int_equal(read_regular_file(fifo, 100, &text, NULL, NULL), -EISDIR);
        assert_int_equal(read_regular_file(dir, 100, &text, NULL, NULL), -EISDIR);
        assert_int_equal(read_regular_file(file, 9, &text, NULL, NULL), -EFBIG);
        assert_int_equal(read_regular_file(file, 10, &text, NULL, NULL), 0);
        assert_string_equal(text, "0123456789");
        free(TAKE_PTR(text));

        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        assert_int_equal(read_regular_file_at(dfd, "link", 100, &text, NULL, NULL), -EISDIR);
        assert_int_equal(read_regular_file_at(dfd, "fifo", 100, &text, NULL, NULL), -EISDIR);
        assert_int_equal(read_regular_file_at(dfd, "missing", 100, &text, NULL, NULL), -ENOENT);
        assert_int_equal(read_regular_file_at(dfd, "file", 100, &text, NULL, NULL), 0);
        assert_string_equal(text, "0123456789");
        remove_dir(dir);
}

static void test_read_past_claimed_size(void **state) {
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        size_t len;

        /* A /proc file claims size 0 and holds more: the buffer grows. */
        fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(st.st_size, 0);
        assert_int_equal(fd_read_regular(fd, 1 << 20, &text, &len), 0);
        assert_true(len > 100);
        assert_int_equal(strlen(text), len);
        assert_non_null(strstr(text, "Name:"));
        free(TAKE_PTR(text));
        /* And stops at max. */
        assert_int_equal(fd_read_regular(fd, 50, &text, &len), -EFBIG);
        assert_null(text);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_replace_keeps_mode),
                cmocka_unit_test(test_read_refuses),
                cmocka_unit_test(test_read_past_claimed_size),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
