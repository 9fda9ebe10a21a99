/* SPDX-License-Identifier: MIT */

/* The containerd configuration editors, as text.  That containerd itself
 * reads what they write is checked by containerd-judge.py with the real
 * containerd 1.x; containerd 2.x is not in Debian 12, so the version-3
 * forms are checked here only. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glib.h>

#include "containerd-config.h"

#define DEFAULT_FIXTURE FIXTURES_DIR "/containerd/default-1.6.toml"
#define OPERATOR_FIXTURE FIXTURES_DIR "/containerd/operator-nvidia.toml"

#define CRI "plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes."
#define BLOCK(name, path)                                                       \
        "# BEGIN nvidia-ccd runtime " name "\n"                                 \
        "[" CRI name "]\n"                                                      \
        "  runtime_type = \"io.containerd.kata.v2\"\n"                          \
        "  privileged_without_host_devices = true\n"                            \
        "  pod_annotations = [\"io.katacontainers.*\"]\n"                       \
        "[" CRI name ".options]\n"                                              \
        "  ConfigPath = \"" path "\"\n"                                         \
        "# END nvidia-ccd runtime " name "\n"

#define RUNC_BLOCK                                                              \
        "# BEGIN nvidia-ccd runtime runc\n"                                     \
        "# containerd's built-in runc, kept: a runtime table in the file replaces it.\n" \
        "[" CRI "runc]\n"                                                        \
        "  runtime_type = \"io.containerd.runc.v2\"\n"                          \
        "[" CRI "runc.options]\n"                                                \
        "  BinaryName = \"\"\n"                                                  \
        "  CriuImagePath = \"\"\n"                                               \
        "  CriuPath = \"\"\n"                                                    \
        "  CriuWorkPath = \"\"\n"                                                \
        "  IoGid = 0\n"                                                         \
        "  IoUid = 0\n"                                                         \
        "  NoNewKeyring = false\n"                                              \
        "  NoPivotRoot = false\n"                                               \
        "  Root = \"\"\n"                                                        \
        "  ShimCgroup = \"\"\n"                                                  \
        "  SystemdCgroup = false\n"                                             \
        "# END nvidia-ccd runtime runc\n"

static char *fixture(const char *path) {
        char *s = NULL;

        assert_true(g_file_get_contents(path, &s, NULL, NULL));
        return s;
}

/* text with s inserted just after the one occurrence of anchor. */
static char *insert_after(const char *text, const char *anchor, const char *s) {
        const char *at = strstr(text, anchor);

        assert_non_null(at);
        assert_null(strstr(at + 1, anchor));
        at += strlen(anchor);
        return g_strdup_printf("%.*s%s%s", (int) (at - text), text, s, at);
}

static void assert_text(const char *got, size_t got_len, const char *want) {
        if (got_len != strlen(want) || memcmp(got, want, got_len) != 0)
                fail_msg("got:\n%.*s\nwant:\n%s", (int) got_len, got, want);
        assert_int_equal(got[got_len], '\0');
}

static char *reg(const char *in, const char *name, const char *path) {
        CcError err = CC_ERROR_INIT;
        char *out = NULL;
        size_t out_len;

        if (containerd_v2_register(in, strlen(in), name, path, &out, &out_len, &err) < 0)
                fail_msg("register refused: %s", err.message);
        assert_int_equal(strlen(out), out_len);
        return out;
}

static char *unreg(const char *in, const char *name, bool want_changed) {
        CcError err = CC_ERROR_INIT;
        char *out = NULL;
        size_t out_len;
        bool changed;

        if (containerd_v2_unregister(in, strlen(in), name, &out, &out_len, &changed, &err) < 0)
                fail_msg("unregister refused: %s", err.message);
        assert_int_equal(changed, want_changed);
        assert_int_equal(strlen(out), out_len);
        return out;
}

static void assert_register_refused(const char *in, const char *name, const char *message) {
        CcError err = CC_ERROR_INIT;
        char *out = (char *) 0x1;
        size_t out_len = 7;

        assert_int_equal(containerd_v2_register(in, strlen(in), name, "/k.toml", &out, &out_len, &err), -EINVAL);
        assert_int_equal(err.kind, CC_ERROR_INVALID_ARGUMENT);
        assert_string_equal(err.message, message);
        assert_ptr_equal(out, (char *) 0x1);
        assert_int_equal(out_len, 7);
}

static void assert_unregister_refused(const char *in, const char *name, const char *message) {
        CcError err = CC_ERROR_INIT;
        char *out = (char *) 0x1;
        size_t out_len = 7;
        bool changed = true;

        assert_int_equal(containerd_v2_unregister(in, strlen(in), name, &out, &out_len, &changed, &err), -EINVAL);
        assert_int_equal(err.kind, CC_ERROR_INVALID_ARGUMENT);
        assert_string_equal(err.message, message);
        assert_ptr_equal(out, (char *) 0x1);
}

static void assert_version(const char *in, int want) {
        CcError err = CC_ERROR_INIT;
        int v = -1;

        assert_int_equal(containerd_config_version(in, strlen(in), &v, &err), 0);
        assert_int_equal(v, want);
}

static void test_version(void **state) {
        g_autofree char *def = fixture(DEFAULT_FIXTURE);
        CcError err = CC_ERROR_INIT;
        int v = -1;

        assert_version(def, 2);
        assert_version("", 1);
        assert_version("root = \"/var/lib/containerd\"\n", 1);
        assert_version("version = 3\n", 3);
        assert_version("version = +2 # comment\n", 2);
        /* Only the top-level key counts. */
        assert_version("[plugins.x]\nversion = 2\n", 1);

        assert_int_equal(containerd_config_version("version = \"2\"\n", 13, &v, &err), -EINVAL);
        assert_string_equal(err.message, "line 1: version is not a version number");
        assert_int_equal(containerd_config_version("\nversion = 2.0\n", 15, &v, &err), -EINVAL);
        assert_string_equal(err.message, "line 2: version is not a version number");
        assert_int_equal(containerd_config_version("version = 99999999999\n", 22, &v, &err), -EINVAL);
        assert_int_equal(containerd_config_version("version = 2\nversion = 3\n", 24, &v, &err), -EINVAL);
        assert_string_equal(err.message, "line 2: key version is already defined (line 1)");
        assert_int_equal(v, -1);
}

/* containerd config default: the block goes after runc's options, the rest
 * stays; registering again replaces it; unregistering gives the file back. */
static void test_v2_default_config(void **state) {
        g_autofree char *def = fixture(DEFAULT_FIXTURE);
        g_autofree char *want = insert_after(def, "            SystemdCgroup = false\n",
                                             BLOCK("kata-qemu-nvidia-gpu-snp", "/opt/a/configuration.toml"));
        g_autofree char *want2 = insert_after(def, "            SystemdCgroup = false\n",
                                              BLOCK("kata-qemu-nvidia-gpu-snp", "/opt/b/configuration.toml"));
        _cleanup_free_ char *once = reg(def, "kata-qemu-nvidia-gpu-snp", "/opt/a/configuration.toml");
        _cleanup_free_ char *twice = reg(once, "kata-qemu-nvidia-gpu-snp", "/opt/b/configuration.toml");
        _cleanup_free_ char *same = reg(twice, "kata-qemu-nvidia-gpu-snp", "/opt/b/configuration.toml");
        _cleanup_free_ char *back = unreg(twice, "kata-qemu-nvidia-gpu-snp", true);
        _cleanup_free_ char *again = unreg(back, "kata-qemu-nvidia-gpu-snp", false);
        _cleanup_free_ char *other = unreg(once, "kata-other", false);

        assert_text(once, strlen(once), want);
        assert_text(twice, strlen(twice), want2);
        assert_text(same, strlen(same), want2);
        assert_text(back, strlen(back), def);
        assert_text(again, strlen(again), def);
        assert_text(other, strlen(other), once);
}

/* Two runtime classes: the second block goes after the first one's end,
 * not inside it, and each comes out on its own. */
static void test_v2_two_runtimes(void **state) {
        g_autofree char *op = fixture(OPERATOR_FIXTURE);
        _cleanup_free_ char *a = reg(op, "kata-a", "/a.toml");
        _cleanup_free_ char *ab = reg(a, "kata-b", "/b.toml");
        _cleanup_free_ char *b = unreg(ab, "kata-a", true);
        _cleanup_free_ char *none = unreg(b, "kata-b", true);
        _cleanup_free_ char *a_again = unreg(ab, "kata-b", true);
        g_autofree char *want_a = NULL, *want_ab = NULL, *want_b = NULL;
        const char *runc_end = "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n"
                               "            SystemdCgroup = true\n";

        want_a = insert_after(op, runc_end, BLOCK("kata-a", "/a.toml"));
        want_ab = insert_after(op, runc_end, BLOCK("kata-a", "/a.toml") BLOCK("kata-b", "/b.toml"));
        want_b = insert_after(op, runc_end, BLOCK("kata-b", "/b.toml"));
        assert_text(a, strlen(a), want_a);
        assert_text(ab, strlen(ab), want_ab);
        assert_text(b, strlen(b), want_b);
        assert_text(none, strlen(none), op);
        assert_text(a_again, strlen(a_again), want_a);
}

/* Where the block goes when the runtimes table or its parents are missing,
 * implicit or defined by dotted keys: always at a header or the end.  With
 * no runtime in the file, containerd's built-in runc is written out first:
 * the first runtime table would replace it. */
static void test_v2_placement(void **state) {
        struct {
                const char *in, *anchor;
                bool runc;
        } cases[] = {
                { "version = 2\n", "version = 2\n", true },
                { "version = 2\n[plugins]\n# trailing comment\n", "[plugins]\n", true },
                { "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\nsandbox_image = \"p\"\n\n[grpc]\n",
                  "sandbox_image = \"p\"\n", true },
                { "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
                  "runtimes.runc.runtime_type = \"io.containerd.runc.v2\"\n[plugins.x]\n",
                  "runtimes.runc.runtime_type = \"io.containerd.runc.v2\"\n", false },
                { "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
                  "runtime_type = \"io.containerd.runc.v2\"\n[plugins.\"io.containerd.grpc.v1.cri\".cni]\n"
                  "bin_dir = \"/opt/cni/bin\"\n",
                  "runtime_type = \"io.containerd.runc.v2\"\n", false },
                { "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes]\n",
                  "runtimes]\n", false },
                { "version = 2\n[debug]\nlevel = \"info\"\n", "level = \"info\"\n", true },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                g_autofree char *want = insert_after(cases[i].in, cases[i].anchor,
                                                     cases[i].runc ? RUNC_BLOCK BLOCK("kata", "/k.toml") :
                                                                     BLOCK("kata", "/k.toml"));
                _cleanup_free_ char *out = reg(cases[i].in, "kata", "/k.toml");
                _cleanup_free_ char *back = unreg(out, "kata", true);

                assert_text(out, strlen(out), want);
                assert_text(back, strlen(back), cases[i].in);
        }
}

/* The runc block comes once, for the first Kata block, and goes with the
 * last one, unless the file has a runtime of its own by then. */
static void test_v2_runc_kept(void **state) {
        const char *in = "version = 2\n[grpc]\n";
        _cleanup_free_ char *a = reg(in, "kata-a", "/a.toml");
        _cleanup_free_ char *ab = reg(a, "kata-b", "/b.toml");
        _cleanup_free_ char *b = unreg(ab, "kata-a", true);
        _cleanup_free_ char *none = unreg(b, "kata-b", true);
        g_autofree char *with_own = g_strdup_printf("%s[" CRI "nvidia]\nruntime_type = \"io.containerd.runc.v2\"\n", a);
        _cleanup_free_ char *own_left = unreg(with_own, "kata-a", true);

        assert_text(ab, strlen(ab), "version = 2\n[grpc]\n" RUNC_BLOCK BLOCK("kata-a", "/a.toml") BLOCK("kata-b", "/b.toml"));
        assert_text(b, strlen(b), "version = 2\n[grpc]\n" RUNC_BLOCK BLOCK("kata-b", "/b.toml"));
        assert_text(none, strlen(none), in);
        assert_text(own_left, strlen(own_left),
                    "version = 2\n[grpc]\n" RUNC_BLOCK "[" CRI "nvidia]\nruntime_type = \"io.containerd.runc.v2\"\n");

        assert_register_refused(in, "runc", "runtime class name 'runc' is containerd's own runtime");
        assert_unregister_refused(a, "runc", "runtime class name 'runc' is containerd's own runtime");
}

/* A file without a final newline gets none after the block, and gets its
 * ending back; a CRLF file gets CRLF lines. */
static void test_v2_line_endings(void **state) {
        _cleanup_free_ char *a = reg("version = 2", "kata", "/k.toml");
        _cleanup_free_ char *a_back = unreg(a, "kata", true);
        _cleanup_free_ char *b = reg("version = 2\r\n[plugins]\r\n", "kata", "/k.toml");
        _cleanup_free_ char *b_back = unreg(b, "kata", true);
        _cleanup_free_ char *c = reg("version = 2\n[plugins]", "kata", "/k.toml");
        _cleanup_free_ char *c2 = reg(c, "kata", "/k2.toml");
        _cleanup_free_ char *c_back = unreg(c2, "kata", true);
        g_autofree char *block = g_strdup(RUNC_BLOCK BLOCK("kata", "/k.toml"));
        g_autofree char *want_a = g_strdup_printf("version = 2\n%.*s", (int) strlen(block) - 1, block);
        g_auto(GStrv) lines = g_strsplit(block, "\n", -1);
        g_autofree char *crlf_block = g_strjoinv("\r\n", lines);
        g_autofree char *want_b = g_strdup_printf("version = 2\r\n[plugins]\r\n%s", crlf_block);

        assert_text(a, strlen(a), want_a);
        assert_text(a_back, strlen(a_back), "version = 2");
        assert_text(b, strlen(b), want_b);
        assert_text(b_back, strlen(b_back), "version = 2\r\n[plugins]\r\n");
        assert_text(c_back, strlen(c_back), "version = 2\n[plugins]");
}

static void test_v2_refusals(void **state) {
        g_autofree char *op = fixture(OPERATOR_FIXTURE);
        g_autofree char *conflict = g_strdup_printf("%s\n[" CRI "kata]\n  runtime_type = \"io.containerd.kata.v2\"\n", op);

        /* Defined outside the block, in every form. */
        assert_register_refused(conflict, "kata",
                                "line 48: runtime kata is already defined outside nvidia-ccd's managed block");
        assert_register_refused("version = 2\n[" CRI "kata.options]\nConfigPath = \"/x\"\n", "kata",
                                "line 2: runtime kata is already defined outside nvidia-ccd's managed block");
        assert_register_refused("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
                                "runtimes.kata.runtime_type = \"x\"\n", "kata",
                                "line 3: runtime kata is already defined outside nvidia-ccd's managed block");
        assert_register_refused("version = 2\nplugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.kata.x = 1\n",
                                "kata",
                                "line 2: runtime kata is already defined outside nvidia-ccd's managed block");
        assert_register_refused("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
                                "runtimes = { runc = { runtime_type = \"x\" } }\n", "kata",
                                "line 3: plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes is set as a "
                                "value; runtime kata cannot be added under it");
        assert_register_refused("version = 2\n[[plugins]]\n", "kata",
                                "line 2: [[plugins]] is an array of tables; runtime kata cannot be added under it");
        /* Inside a block too, when a copy of it is outside. */
        g_autofree char *registered = reg(op, "kata", "/k.toml");
        g_autofree char *both = g_strdup_printf("%s[" CRI "kata.x]\n", registered);
        assert_register_refused(both, "kata",
                                "line 55: runtime kata is already defined outside nvidia-ccd's managed block");

        /* Versions. */
        assert_register_refused("[plugins]\n", "kata",
                                "configuration version 1 (no version key) is not supported; "
                                "convert it with 'containerd config migrate'");
        assert_register_refused("version = 3\n", "kata",
                                "line 1: version 3 (containerd 2.x) takes a drop-in, not a block");
        assert_register_refused("version = 4\n", "kata", "line 1: unsupported version 4");

        /* Names. */
        assert_register_refused("version = 2\n", "Kata_1", "runtime class name 'Kata_1' is not a DNS-1123 label");
        assert_register_refused("version = 2\n", "", "runtime class name '' is not a DNS-1123 label");
        assert_register_refused("version = 2\n", "-kata", "runtime class name '-kata' is not a DNS-1123 label");
        assert_register_refused("version = 2\n", "kata.x", "runtime class name 'kata.x' is not a DNS-1123 label");
        g_autofree char *long_name = g_strnfill(64, 'a');
        g_autofree char *long_message = g_strdup_printf("runtime class name '%s' is not a DNS-1123 label", long_name);
        assert_register_refused("version = 2\n", long_name, long_message);

        /* Broken blocks. */
        const char *no_end = "version = 2\n# BEGIN nvidia-ccd runtime kata\n[" CRI "kata]\n";
        assert_register_refused(no_end, "kata", "line 2: the managed block for runtime kata has no end");
        assert_unregister_refused(no_end, "kata", "line 2: the managed block for runtime kata has no end");
        assert_unregister_refused("version = 2\n# END nvidia-ccd runtime kata\n", "kata",
                                  "line 2: end of the managed block for runtime kata without its beginning");
        g_autofree char *twice = g_strdup_printf("%s# BEGIN nvidia-ccd runtime kata\n# END nvidia-ccd runtime kata\n",
                                                 registered);
        assert_unregister_refused(twice, "kata", "line 55: a second managed block for runtime kata (line 44)");
        /* The same tables in a second block are two definitions. */
        g_autofree char *two_blocks = g_strdup_printf("%s%s", registered, BLOCK("kata", "/k.toml"));
        assert_unregister_refused(two_blocks, "kata", "line 56: table [" CRI "kata] is already defined (line 45)");
        assert_unregister_refused("version = 2\n# BEGIN nvidia-ccd runtime kata\n[" CRI "kata]\n[grpc]\n"
                                  "# END nvidia-ccd runtime kata\n", "kata",
                                  "line 4: the managed block for runtime kata holds grpc, which is not its own");
        assert_unregister_refused("version = 2\n# BEGIN nvidia-ccd runtime kata\n[" CRI "kata]\n"
                                  "# END nvidia-ccd runtime kata\nx = 1\n", "kata",
                                  "line 5: key after the managed block for runtime kata belongs to its table");

        /* What the lexer refuses, and bad paths. */
        assert_register_refused("version = 2\n[grpc]\n[grpc]\n", "kata",
                                "line 3: table [grpc] is already defined (line 2)");
        CcError err = CC_ERROR_INIT;
        char *out = NULL;
        size_t out_len;
        assert_int_equal(containerd_v2_register("version = 2\n", 12, "kata", "", &out, &out_len, &err), -EINVAL);
        assert_string_equal(err.message, "empty Kata configuration path");
        assert_int_equal(containerd_v2_register("version = 2\n", 12, "kata", "/\xfe", &out, &out_len, &err), -EINVAL);
        assert_string_equal(err.message, "Kata configuration path is not valid UTF-8");
        assert_null(out);
}

/* ------------------------------------------------------------ version 3 */

static char *add_import(const char *in, const char *path) {
        CcError err = CC_ERROR_INIT;
        char *out = NULL;
        size_t out_len;

        if (containerd_v3_add_import(in, strlen(in), path, &out, &out_len, &err) < 0)
                fail_msg("add_import refused: %s", err.message);
        assert_int_equal(strlen(out), out_len);
        return out;
}

static char *remove_import(const char *in, const char *path) {
        CcError err = CC_ERROR_INIT;
        char *out = NULL;
        size_t out_len;

        if (containerd_v3_remove_import(in, strlen(in), path, &out, &out_len, &err) < 0)
                fail_msg("remove_import refused: %s", err.message);
        assert_int_equal(strlen(out), out_len);
        return out;
}

static void test_v3_dropin(void **state) {
        _cleanup_free_ char *s = NULL;

        assert_int_equal(containerd_v3_dropin("kata-qemu-nvidia-gpu-snp", "/opt/k/c \"q\".toml", &s), 0);
        assert_string_equal(s,
                "# Kata runtime class kata-qemu-nvidia-gpu-snp, registered by nvidia-ccd.\n"
                "version = 3\n"
                "\n"
                "[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.kata-qemu-nvidia-gpu-snp]\n"
                "  runtime_type = \"io.containerd.kata.v2\"\n"
                "  privileged_without_host_devices = true\n"
                "  pod_annotations = [\"io.katacontainers.*\"]\n"
                "\n"
                "[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.kata-qemu-nvidia-gpu-snp.options]\n"
                "  ConfigPath = \"/opt/k/c \\\"q\\\".toml\"\n");

        char *none = NULL;
        assert_int_equal(containerd_v3_dropin("Bad_Name", "/k", &none), -EINVAL);
        assert_int_equal(containerd_v3_dropin("kata", "", &none), -EINVAL);
        assert_int_equal(containerd_v3_dropin("kata", "/\xff", &none), -EINVAL);
        assert_null(none);
}

/* Each form of `imports`: what adding gives, and removing gives back the
 * input byte for byte. */
static void test_v3_imports(void **state) {
        struct {
                const char *in, *want;
        } cases[] = {
                { "version = 3\n[plugins]\n",
                  "version = 3\nimports = [\"/d/k.toml\"]  # managed by nvidia-ccd\n[plugins]\n" },
                { "version = 3",
                  "version = 3\nimports = [\"/d/k.toml\"]  # managed by nvidia-ccd" },
                { "root = \"/r\"\r\nversion = 3\r\nstate = \"/s\"\r\n",
                  "root = \"/r\"\r\nversion = 3\r\nimports = [\"/d/k.toml\"]  # managed by nvidia-ccd\r\nstate = \"/s\"\r\n" },
                { "imports = []\nversion = 3\n", "imports = [\"/d/k.toml\"]\nversion = 3\n" },
                { "imports = [ ]\nversion = 3\n", "imports = [\"/d/k.toml\" ]\nversion = 3\n" },
                { "imports = [\n]\nversion = 3\n", "imports = [\"/d/k.toml\"\n]\nversion = 3\n" },
                { "version = 3\nimports = [\"/etc/containerd/conf.d/*.toml\"] # mine\n",
                  "version = 3\nimports = [\"/etc/containerd/conf.d/*.toml\", \"/d/k.toml\"] # mine\n" },
                { "version = 3\nimports = ['/a.toml', \"/b.toml\",]\n",
                  "version = 3\nimports = ['/a.toml', \"/b.toml\", \"/d/k.toml\",]\n" },
                { "version = 3\nimports = [\n    \"/a.toml\",\n    \"/b.toml\", # b\n]\n",
                  "version = 3\nimports = [\n    \"/a.toml\",\n    \"/b.toml\", # b\n    \"/d/k.toml\",\n]\n" },
                { "version = 3\nimports = [\n  \"/a.toml\"\n]\n",
                  "version = 3\nimports = [\n  \"/a.toml\", \"/d/k.toml\"\n]\n" },
                /* An empty array of the administrator's that happens to end
                 * in our marker is not the line we add. */
                { "version = 3\nimports = [\n  # c\n]  # managed by nvidia-ccd\n",
                  "version = 3\nimports = [\"/d/k.toml\"\n  # c\n]  # managed by nvidia-ccd\n" },
                { "version = 3\r\nimports = [\r\n  \"/a.toml\",\r\n]\r\n",
                  "version = 3\r\nimports = [\r\n  \"/a.toml\",\r\n  \"/d/k.toml\",\r\n]\r\n" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *out = add_import(cases[i].in, "/d/k.toml");
                _cleanup_free_ char *same = add_import(out, "/d/k.toml");
                _cleanup_free_ char *back = remove_import(out, "/d/k.toml");
                _cleanup_free_ char *unchanged = remove_import(cases[i].in, "/d/k.toml");

                assert_text(out, strlen(out), cases[i].want);
                assert_text(same, strlen(same), cases[i].want);
                assert_text(back, strlen(back), cases[i].in);
                assert_text(unchanged, strlen(unchanged), cases[i].in);
        }

        /* Two drop-ins in one created line, removed in either order. */
        _cleanup_free_ char *one = add_import("version = 3\n", "/d/a.toml");
        _cleanup_free_ char *two = add_import(one, "/d/b.toml");
        _cleanup_free_ char *first_gone = remove_import(two, "/d/a.toml");
        _cleanup_free_ char *all_gone = remove_import(first_gone, "/d/b.toml");
        assert_text(two, strlen(two), "version = 3\nimports = [\"/d/a.toml\", \"/d/b.toml\"]  # managed by nvidia-ccd\n");
        assert_text(first_gone, strlen(first_gone), "version = 3\nimports = [\"/d/b.toml\"]  # managed by nvidia-ccd\n");
        assert_text(all_gone, strlen(all_gone), "version = 3\n");

        /* Every copy goes, wherever it is. */
        _cleanup_free_ char *dups = remove_import("version = 3\nimports = [\"/k\", \"/a\", '/k', \"/k\"]\n", "/k");
        assert_text(dups, strlen(dups), "version = 3\nimports = [\"/a\"]\n");
}

/* Removing our import from every form an array can take keeps a valid
 * array and every other byte: one line or many, trailing comma or not,
 * comments between elements and after `]`. */
static void test_v3_remove_import_forms(void **state) {
        struct {
                const char *in, *want;
        } cases[] = {
                /* The only element. */
                { "imports = [\"/k\"]\n", "imports = []\n" },
                { "imports = [\"/k\",]\n", "imports = []\n" },
                { "imports = [ \"/k\" , ]\n", "imports = [   ]\n" },
                { "imports = [\"/k\"] # x\n", "imports = [] # x\n" },
                { "imports = [\"/k\",   # mine\n]\n", "imports = [   # mine\n]\n" },
                { "imports = [\"/k\" # c\n, ]\n", "imports = [ # c\n ]\n" },
                { "imports = [\n  \"/k\",\n]\n", "imports = [\n]\n" },
                { "imports = [\n  \"/k\"\n]\n", "imports = [\n]\n" },
                { "imports = [\r\n  \"/k\",\r\n]\r\n", "imports = [\r\n]\r\n" },
                { "imports = [\"/k\",\n]# ma        runtime_ccd\n", "imports = [\n]# ma        runtime_ccd\n" },
                { "imports = [\"/k\",\n]# ma        runtime_ccd", "imports = [\n]# ma        runtime_ccd" },
                /* One of several. */
                { "imports = [\"/k\", \"/a\"]\n", "imports = [\"/a\"]\n" },
                { "imports = [\"/a\", \"/k\"]\n", "imports = [\"/a\"]\n" },
                { "imports = [\"/a\", \"/k\",]\n", "imports = [\"/a\",]\n" },
                { "imports = [\"/a\", \"/k\", \"/b\"]\n", "imports = [\"/a\", \"/b\"]\n" },
                { "imports = [\"/k\",\n  \"/a\",\n]\n", "imports = [\"/a\",\n]\n" },
                { "imports = [\n  \"/a\", # a\n  \"/k\", # ours\n  \"/b\"\n] # end\n",
                  "imports = [\n  \"/a\", # a\n  \"/b\"\n] # end\n" },
                { "imports = [\n  \"/a\",\n  \"/k\"\n]\n", "imports = [\n  \"/a\",\n]\n" },
                { "imports = [\n  \"/a\",\n  \"/k\" # last\n]\n", "imports = [\n  \"/a\",\n]\n" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *in = NULL, *want = NULL, *out = NULL, *again = NULL;

                assert_true(asprintf(&in, "version = 3\n%s", cases[i].in) > 0);
                assert_true(asprintf(&want, "version = 3\n%s", cases[i].want) > 0);
                out = remove_import(in, "/k");
                assert_text(out, strlen(out), want);
                /* What is left is an array the editor still takes. */
                again = add_import(out, "/k");
                assert_non_null(strstr(again, "\"/k\""));
        }
}

static void assert_add_refused(const char *in, const char *path, const char *message) {
        CcError err = CC_ERROR_INIT;
        char *out = NULL;
        size_t out_len;

        assert_int_equal(containerd_v3_add_import(in, strlen(in), path, &out, &out_len, &err), -EINVAL);
        assert_int_equal(err.kind, CC_ERROR_INVALID_ARGUMENT);
        assert_string_equal(err.message, message);
        assert_null(out);
}

static void test_v3_refusals(void **state) {
        g_autofree char *def = fixture(DEFAULT_FIXTURE);

        /* The containerd 1.x pitfall: an import would replace the CRI section. */
        assert_add_refused(def, "/d/k.toml",
                           "line 9: version 2 (containerd 1.x) takes no drop-in: an imported file would replace "
                           "the whole CRI section");
        assert_add_refused("[plugins]\n", "/d/k.toml",
                           "configuration version 1 (no version key) is not supported; "
                           "convert it with 'containerd config migrate'");
        assert_add_refused("version = 3\nimports = \"/a.toml\"\n", "/d/k.toml", "line 2: imports is not an array");
        assert_add_refused("version = 3\nimports = [\"/a.toml\", 1]\n", "/d/k.toml",
                           "line 2: only single-line strings are allowed in this array");
        assert_add_refused("version = 3\nimports.x = 1\n", "/d/k.toml",
                           "line 2: imports is a table, not a list of files");
        /* A table of that name anywhere: a root array would clash with it. */
        assert_add_refused("version = 3\n[plugins]\n[imports.\"x\"]\n", "/d/k.toml",
                           "line 3: imports is a table, not a list of files");
        assert_add_refused("version = 3\n", "", "empty drop-in path");
        assert_add_refused("version = 3\n", "/\xc3", "drop-in path is not valid UTF-8");
        assert_add_refused("version = 3\nx = [\n", "/d/k.toml", "line 3: unterminated array");

        CcError err = CC_ERROR_INIT;
        char *out = NULL;
        size_t out_len;
        assert_int_equal(containerd_v3_remove_import("version = 3\nimports = [1]\n", 26, "/k", &out, &out_len, &err),
                         -EINVAL);
        assert_string_equal(err.message, "line 2: only single-line strings are allowed in this array");
        assert_null(out);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_version),
                cmocka_unit_test(test_v2_default_config),
                cmocka_unit_test(test_v2_two_runtimes),
                cmocka_unit_test(test_v2_placement),
                cmocka_unit_test(test_v2_runc_kept),
                cmocka_unit_test(test_v2_line_endings),
                cmocka_unit_test(test_v2_refusals),
                cmocka_unit_test(test_v3_dropin),
                cmocka_unit_test(test_v3_imports),
                cmocka_unit_test(test_v3_remove_import_forms),
                cmocka_unit_test(test_v3_refusals),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
