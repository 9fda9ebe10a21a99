/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glib.h>

#include "kata-toml.h"
#include "toml-lex.h"

#define SNP_FIXTURE FIXTURES_DIR "/kata/configuration-qemu-nvidia-gpu-snp.toml"

/* text with the one occurrence of old replaced by new. */
static char *replace_once(const char *text, const char *old, const char *new) {
        const char *at = strstr(text, old);

        assert_non_null(at);
        assert_null(strstr(at + 1, old));
        return g_strdup_printf("%.*s%s%s", (int) (at - text), text, new, at + strlen(old));
}

static void assert_edit(const char *in, const KataTomlPaths *paths, const char *want) {
        _cleanup_free_ char *out = NULL;
        CcError err = CC_ERROR_INIT;
        size_t out_len = 0;

        assert_int_equal(kata_toml_set_paths(in, strlen(in), paths, &out, &out_len, &err), 0);
        assert_false(cc_error_is_set(&err));
        assert_int_equal(out_len, strlen(want));
        assert_memory_equal(out, want, out_len);
        assert_int_equal(out[out_len], '\0');
}

static void assert_refused(const char *in, const char *message) {
        const KataTomlPaths paths = { .kernel = "/k", .initrd = "/i", .image = "/im" };
        CcError err = CC_ERROR_INIT;
        char *out = (char *) 0x1;
        size_t out_len = 7;

        assert_int_equal(kata_toml_set_paths(in, strlen(in), &paths, &out, &out_len, &err), -EINVAL);
        assert_int_equal(err.kind, CC_ERROR_INVALID_ARGUMENT);
        assert_string_equal(err.message, message);
        /* Nothing handed back. */
        assert_ptr_equal(out, (char *) 0x1);
        assert_int_equal(out_len, 7);
}

/* The fixture: kernel and initrd rewritten, every other byte kept (the
 * commented image, kernel_params that mention kernel= and image=, the
 * inline comment after the kernel, the tab-indented multi-line array). */
static void test_snp_fixture(void **state) {
        const KataTomlPaths paths = {
                .kernel = "/opt/nvidia-gpu-operator/artifacts/runtimeclasses/kata-qemu-nvidia-gpu-snp/vmlinuz-6.12.8",
                .initrd = "/opt/nvidia-gpu-operator/artifacts/runtimeclasses/kata-qemu-nvidia-gpu-snp/kata.initrd",
                .image = "/unused.img",
        };
        g_autofree char *fixture = NULL, *step = NULL, *want = NULL;

        assert_true(g_file_get_contents(SNP_FIXTURE, &fixture, NULL, NULL));
        step = replace_once(fixture,
                "kernel = \"/opt/kata/share/kata-containers/vmlinuz-nvidia-gpu-confidential.container\"   # guest kernel\n",
                "kernel = \"/opt/nvidia-gpu-operator/artifacts/runtimeclasses/kata-qemu-nvidia-gpu-snp/vmlinuz-6.12.8\""
                "   # guest kernel\n");
        want = replace_once(step,
                "initrd = '/opt/kata/share/kata-containers/kata-containers-initrd-nvidia-gpu-confidential.img'\n",
                "initrd = \"/opt/nvidia-gpu-operator/artifacts/runtimeclasses/kata-qemu-nvidia-gpu-snp/kata.initrd\"\n");
        assert_edit(fixture, &paths, want);

        /* Only the kernel. */
        const KataTomlPaths kernel_only = { .kernel = "/k" };
        g_autofree char *want_kernel = replace_once(fixture,
                "\"/opt/kata/share/kata-containers/vmlinuz-nvidia-gpu-confidential.container\"", "\"/k\"");
        assert_edit(fixture, &kernel_only, want_kernel);

        /* Nothing asked: the same bytes. */
        const KataTomlPaths none = {};
        assert_edit(fixture, &none, fixture);
}

static void test_every_hypervisor_table(void **state) {
        const KataTomlPaths paths = { .kernel = "/k", .initrd = "/i", .image = "/im" };

        assert_edit("kernel = \"root\"\n"
                    "[hypervisor]\n"
                    "kernel = \"not a hypervisor table\"\n"
                    "[hypervisor.qemu]\n"
                    "kernel = \"a\"\n"
                    "image = \"b\" # c\n"
                    "[hypervisor.qemu.extra]\n"
                    "kernel = \"deeper\"\n"
                    "[ hypervisor . \"cloud-hypervisor\" ]\n"
                    "\"kernel\" = 'x'\n"
                    "  initrd='y'\t#\n"
                    "[agent.kata]\n"
                    "kernel = \"agent\"\n",
                    &paths,
                    "kernel = \"root\"\n"
                    "[hypervisor]\n"
                    "kernel = \"not a hypervisor table\"\n"
                    "[hypervisor.qemu]\n"
                    "kernel = \"/k\"\n"
                    "image = \"/im\" # c\n"
                    "[hypervisor.qemu.extra]\n"
                    "kernel = \"deeper\"\n"
                    "[ hypervisor . \"cloud-hypervisor\" ]\n"
                    "\"kernel\" = \"/k\"\n"
                    "  initrd=\"/i\"\t#\n"
                    "[agent.kata]\n"
                    "kernel = \"agent\"\n");
}

/* Commented-out keys and keys inside multi-line strings are text, not keys. */
static void test_not_keys(void **state) {
        const KataTomlPaths paths = { .kernel = "/k", .image = "/im" };

        assert_edit("[hypervisor.qemu]\n"
                    "# kernel = \"commented\"\n"
                    "#image=\"x\"\n"
                    "kernel_params = \"\"\"\n"
                    "kernel = \"inside a string\"\n"
                    "[hypervisor.fake]\n"
                    "\"\"\"\n"
                    "path = '''\n"
                    "image = 'x'\n"
                    "'''\n"
                    "kernel = \"real\"\n",
                    &paths,
                    "[hypervisor.qemu]\n"
                    "# kernel = \"commented\"\n"
                    "#image=\"x\"\n"
                    "kernel_params = \"\"\"\n"
                    "kernel = \"inside a string\"\n"
                    "[hypervisor.fake]\n"
                    "\"\"\"\n"
                    "path = '''\n"
                    "image = 'x'\n"
                    "'''\n"
                    "kernel = \"/k\"\n");
}

/* CRLF line endings and a missing final newline come out as they went in;
 * the new value is escaped as a TOML basic string. */
static void test_line_endings_and_escapes(void **state) {
        const KataTomlPaths paths = { .kernel = "/a \"b\"\\c\td\x01" };

        assert_edit("[hypervisor.qemu]\r\nkernel = \"x\"\r\n[runtime]\r\nx = 1",
                    &paths,
                    "[hypervisor.qemu]\r\nkernel = \"/a \\\"b\\\"\\\\c\\td\\u0001\"\r\n[runtime]\r\nx = 1");
        assert_edit("[hypervisor.qemu]\nkernel = \"x\"", &paths,
                    "[hypervisor.qemu]\nkernel = \"/a \\\"b\\\"\\\\c\\td\\u0001\"");
        assert_edit("", &paths, "");
}

/* Values the lexer skips over without trouble. */
static void test_value_forms(void **state) {
        const KataTomlPaths paths = { .kernel = "/k" };
        const char *in =
                "title = \"\\u00e9t\\U0001F600 \\\"q\\\"\"\n"
                "n = [1, -2.5e3, +inf, nan, 0x1f, 1_000, true, false]\n"
                "d = [1979-05-27T07:32:00Z, 1979-05-27 07:32:00, 07:32:00, 1979-05-27]\n"
                "t = { a = 1, b.c = \"x\", d = { e = [ ] } }\n"
                "m = [\n  [1, 2], # nested\n  [\"a\", 'b'],\n]\n"
                "s = \"\"\"a \\\n   b\"\"\"\"\"\n"
                "[hypervisor.qemu]\n"
                "kernel = \"x\"\n"
                "[[array.of]]\nx = 1\n[[array.of]]\nx = 2\n[array.of.sub]\ny = 3\n";
        g_autofree char *want = replace_once(in, "kernel = \"x\"", "kernel = \"/k\"");

        assert_edit(in, &paths, want);
}

static void test_refusals(void **state) {
        assert_refused("[hypervisor.qemu]\nkernel = \"\"\"\n/x\"\"\"\n",
                       "line 2: hypervisor.qemu.kernel: a multi-line string cannot be rewritten");
        assert_refused("[hypervisor.qemu]\ninitrd = [\"/x\"]\n",
                       "line 2: hypervisor.qemu.initrd: the value is not a string");
        assert_refused("[hypervisor.qemu]\nimage = 1\n",
                       "line 2: hypervisor.qemu.image: the value is not a string");
        assert_refused("[hypervisor.qemu]\nkernel = \"a\"\n# again\nkernel = \"b\"\n",
                       "line 4: key hypervisor.qemu.kernel is already defined (line 2)");
        assert_refused("[hypervisor.qemu]\nkernel = \"a\"\n\"kernel\" = \"b\"\n",
                       "line 3: key hypervisor.qemu.kernel is already defined (line 2)");
        assert_refused("[hypervisor.qemu]\n[runtime]\n[hypervisor.qemu]\n",
                       "line 3: table [hypervisor.qemu] is already defined (line 1)");
        assert_refused("[hypervisor]\nqemu.kernel = \"x\"\n",
                       "line 2: hypervisor.qemu.kernel: dotted keys reaching into a [hypervisor.*] table "
                       "are not supported");
        assert_refused("hypervisor.qemu.kernel = \"x\"\n",
                       "line 1: hypervisor.qemu.kernel: dotted keys reaching into a [hypervisor.*] table "
                       "are not supported");
        assert_refused("[hypervisor.qemu]\npath = \"x\"\n[hypervisor]\nqemu.kernel = \"x\"\n",
                       "line 4: dotted key reaches into hypervisor.qemu, defined at line 1");
        assert_refused("[hypervisor]\nqemu = { kernel = \"x\" }\n",
                       "line 2: hypervisor.qemu: inline tables are not supported here");
        assert_refused("hypervisor = { qemu = { kernel = \"x\" } }\n",
                       "line 1: hypervisor: inline tables are not supported here");
        assert_refused("[[hypervisor.qemu]]\nkernel = \"x\"\n",
                       "line 1: hypervisor.qemu: arrays of tables are not supported under [hypervisor]");
        assert_refused("[hypervisor.qemu]\nkernel = \"x\n",
                       "line 2: unterminated string");
        assert_refused("[hypervisor.qemu]\nkernel = \"\\x41\"\n",
                       "line 2: invalid escape \\x in a string");
        assert_refused("[hypervisor.qemu]\nkernel = \"\\u0000\"\n",
                       "line 2: NUL character in a string");
        assert_refused("[hypervisor.qemu]\nkernel = \"\\ud800\"\n",
                       "line 2: escape \\u is not a Unicode scalar value");
        assert_refused("[hypervisor.qemu]\nkernel \"x\"\n",
                       "line 2: expected '=' after the key");
        assert_refused("[hypervisor.qemu]\nkernel = \"x\" \"y\"\n",
                       "line 2: expected the end of the line");
        assert_refused("[hypervisor.qemu\nkernel = \"x\"\n",
                       "line 1: expected ']' closing the table header");
        assert_refused("[hypervisor.qemu]\nkernel =\n",
                       "line 2: missing value");
        assert_refused("[hypervisor.qemu]\nkernel = yes\n",
                       "line 2: invalid value 'yes'");
        assert_refused("[runtime]\nx = [1, 2\n\n",
                       "line 4: unterminated array");
        assert_refused("[runtime]\nx = \"\"\"\nopen\n",
                       "line 2: unterminated multi-line string");
        assert_refused("[runtime]\nx = { a = 1,\n b = 2 }\n",
                       "line 2: missing key");
        assert_refused("[hypervisor.qemu]\nkernel = \"x\"\r\ninitrd = \"y\"\r",
                       "line 3: carriage return not followed by a line feed");
        assert_refused("# \x01\n", "line 1: control character 0x01");
        assert_refused("[hypervisor.qemu]\n# caf\xc3\n", "line 2: invalid UTF-8");
        assert_refused("# overlong \xc0\xaf\n", "line 1: invalid UTF-8");
        assert_refused("# surrogate \xed\xa0\x80\n", "line 1: invalid UTF-8");
        assert_refused("\xef\xbb\xbf[hypervisor.qemu]\n", "line 1: byte-order mark at the start of the file");
        assert_refused("a = 1\nb = 2\na.b = 3\n", "line 3: dotted key reaches into a, defined at line 1");
        assert_refused("a.b = 1\n[a]\n", "line 2: table [a] is already defined (line 1)");
        assert_refused("a = [1]\n[[a]]\n", "line 2: [[a]]: already defined as something else (line 1)");
        assert_refused("a = 1\n[a.b]\n", "line 2: a is a value (line 1), not a table");
        assert_refused("[a.b.c]\n[a]\nb.c.d = 1\n", "line 3: dotted key reaches into a.b, defined at line 1");

        /* Nesting has a limit, so the stack has one. */
        g_autofree char *deep = g_strnfill(65, '[');
        g_autofree char *deep_doc = g_strdup_printf("x = %s\n", deep);
        assert_refused(deep_doc, "line 1: arrays or inline tables nested deeper than 64");

        /* A path that is not UTF-8 cannot go into a TOML file. */
        const KataTomlPaths bad = { .initrd = "/a\xff" };
        CcError err = CC_ERROR_INIT;
        char *out = NULL;
        size_t out_len;
        assert_int_equal(kata_toml_set_paths("", 0, &bad, &out, &out_len, &err), -EINVAL);
        assert_string_equal(err.message, "initrd path is not valid UTF-8");
        assert_null(out);
}

/* A sub-table and an array of tables outside [hypervisor] are fine; a
 * dotted-key table may get a sub-table by header (TOML 1.0). */
static void test_structure_accepted(void **state) {
        const KataTomlPaths paths = { .kernel = "/k" };
        const char *in = "[a]\nb.c = 1\n[a.b.d]\ne = 2\n[x.y]\n[x]\nz = 1\n[hypervisor.qemu]\nkernel = \"old\"\n";
        g_autofree char *want = replace_once(in, "\"old\"", "\"/k\"");

        assert_edit(in, &paths, want);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_snp_fixture),
                cmocka_unit_test(test_every_hypervisor_table),
                cmocka_unit_test(test_not_keys),
                cmocka_unit_test(test_line_endings_and_escapes),
                cmocka_unit_test(test_value_forms),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_structure_accepted),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
