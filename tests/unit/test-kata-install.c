/* SPDX-License-Identifier: MIT */

/* The Kata artifact install on a scratch tree, with artifacts placed on
 * disk as the pull leaves them: every refusal writes nothing (directory
 * trees compared before and after), the swap keeps the old version when a
 * later step fails, records, stale staging directories, removal. */

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "kata-containerd.h"
#include "kata-install.h"
#include "kata-names.h"
#include "kata-record.h"
#include "strv.h"

#define NAME "kata-qemu-nvidia-gpu-snp"
#define TOML_TITLE "configuration-qemu-nvidia-gpu-snp.toml"
#define KERNEL_TITLE "vmlinuz-6.12.8-nvidia-gpu-confidential"
#define INITRD_TITLE "kata-ubuntu-noble-nvidia-gpu-confidential.initrd"
#define SBOM_TITLE "dpkg.sbom.list"

static const char toml_text[] =
        "# Kata configuration for QEMU with NVIDIA GPUs on SEV-SNP\n"
        "[hypervisor.qemu]\n"
        "path = \"/opt/kata/bin/qemu-system-x86_64\"\n"
        "kernel = \"/opt/kata/share/kata-containers/vmlinuz-confidential.container\" # the guest kernel\n"
        "initrd = \"/opt/kata/share/kata-containers/kata-containers-initrd-confidential.img\"\n"
        "# image = \"/opt/kata/share/kata-containers/kata-containers.img\"\n"
        "kernel_params = \"cgroup_no_v1=all\"\n"
        "firmware = \"/opt/kata/share/ovmf/AMDSEV.fd\"\n"
        "\n"
        "[agent.kata]\n"
        "dial_timeout = 90\n"
        "\n"
        "[runtime]\n"
        "internetworking_model = \"tcfilter\"\n";

static const char containerd_v2[] =
        "version = 2\n"
        "\n"
        "[plugins]\n"
        "  [plugins.\"io.containerd.grpc.v1.cri\"]\n"
        "    [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
        "      default_runtime_name = \"runc\"\n"
        "      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes]\n"
        "        [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
        "          runtime_type = \"io.containerd.runc.v2\"\n";

static const char containerd_v3[] =
        "version = 3\n"
        "\n"
        "[plugins]\n"
        "  [plugins.\"io.containerd.cri.v1.runtime\"]\n"
        "    [plugins.\"io.containerd.cri.v1.runtime\".containerd]\n"
        "      default_runtime_name = \"runc\"\n";

typedef struct Layer {
        const char *title;   /* NULL: no annotation */
        const char *content;
} Layer;

typedef struct Fixture {
        char *root;
        char *artifacts;
        char *state;
        char *etc;           /* the containerd directory */
        char *containerd;    /* its config.toml */
        int restarts;
        int restart_result;
} Fixture;

static int setup(void **state) {
        Fixture *f = g_new0(Fixture, 1);

        f->root = g_dir_make_tmp("test-kata-install-XXXXXX", NULL);
        assert_non_null(f->root);
        f->artifacts = g_build_filename(f->root, "opt/runtimeclasses", NULL);
        f->state = g_build_filename(f->root, "state", NULL);
        f->etc = g_build_filename(f->root, "etc/containerd", NULL);
        f->containerd = g_build_filename(f->etc, "config.toml", NULL);
        assert_int_equal(g_mkdir_with_parents(f->etc, 0755), 0);
        assert_int_equal(g_mkdir_with_parents(f->state, 0700), 0);
        assert_true(g_file_set_contents(f->containerd, containerd_v2, -1, NULL));
        assert_int_equal(chmod(f->containerd, 0640), 0);
        *state = f;
        return 0;
}

static void remove_tree(const char *path) {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", path);
        assert_int_equal(system(cmd), 0);
}

static int teardown(void **state) {
        Fixture *f = *state;

        remove_tree(f->root);
        g_free(f->root);
        g_free(f->artifacts);
        g_free(f->state);
        g_free(f->etc);
        g_free(f->containerd);
        g_free(f);
        return 0;
}

/* ------------------------------------------------------------ snapshots */

/* Every entry under dir as "relpath mode [size sha256 | -> target]",
 * sorted; the comparison that says "nothing was written".  Staging
 * directories are the install's scratch space and are left out. */
static void snapshot_walk(GPtrArray *out, const char *root, const char *rel) {
        g_autofree char *dir = rel[0] ? g_build_filename(root, rel, NULL) : g_strdup(root);
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *name;

        if (!d)
                return;
        while ((name = g_dir_read_name(d))) {
                g_autofree char *r = rel[0] ? g_build_filename(rel, name, NULL) : g_strdup(name);
                g_autofree char *full = g_build_filename(root, r, NULL);
                struct stat st;

                if (g_str_has_prefix(name, ".staging-"))
                        continue;
                assert_int_equal(lstat(full, &st), 0);
                if (S_ISDIR(st.st_mode)) {
                        g_ptr_array_add(out, g_strdup_printf("%s/ %o", r, st.st_mode & 07777));
                        snapshot_walk(out, root, r);
                } else {
                        g_autofree char *data = NULL;
                        g_autofree char *sum = NULL;
                        gsize len = 0;

                        assert_true(g_file_get_contents(full, &data, &len, NULL));
                        sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *) data, len);
                        g_ptr_array_add(out, g_strdup_printf("%s %o %u:%u %zu %s", r, st.st_mode & 07777,
                                                             st.st_uid, st.st_gid, (size_t) len, sum));
                }
        }
}

static int compare_strings(gconstpointer a, gconstpointer b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static char *snapshot(const Fixture *f) {
        g_autoptr(GPtrArray) l = g_ptr_array_new_with_free_func(g_free);

        snapshot_walk(l, f->root, "");
        g_ptr_array_sort(l, compare_strings);
        g_ptr_array_add(l, NULL);
        return g_strjoinv("\n", (char **) l->pdata);
}

static char *read_file(const char *path) {
        char *data = NULL;

        assert_true(g_file_get_contents(path, &data, NULL, NULL));
        return data;
}

static void assert_file_is(const char *path, const char *expected) {
        g_autofree char *data = read_file(path);
        assert_string_equal(data, expected);
}

static bool exists(const char *path) {
        struct stat st;
        return lstat(path, &st) == 0;
}

static size_t count_staging(const Fixture *f) {
        g_autoptr(GDir) d = g_dir_open(f->artifacts, 0, NULL);
        const char *name;
        size_t n = 0;

        if (!d)
                return 0;
        while ((name = g_dir_read_name(d)))
                if (g_str_has_prefix(name, ".staging-"))
                        n++;
        return n;
}

/* ------------------------------------------------------------ artifacts */

/* The blobs as the pull leaves them, and the result it hands back. */
static OciPullResult *place_layers(KataStaging *s, const Layer *layers, size_t n, const char *manifest) {
        OciPullResult *r = calloc(1, sizeof(*r));

        assert_non_null(r);
        r->manifest_digest = strdup(manifest);
        r->layers = calloc(n, sizeof(OciLayer));
        r->n_layers = n;
        for (size_t i = 0; i < n; i++) {
                g_autofree char *hex = g_compute_checksum_for_string(G_CHECKSUM_SHA256, layers[i].content, -1);
                OciLayer *l = &r->layers[i];

                l->digest = g_strdup_printf("sha256:%s", hex);
                l->size = strlen(layers[i].content);
                l->media_type = strdup("application/octet-stream");
                l->title = layers[i].title ? strdup(layers[i].title) : NULL;
                l->path = g_build_filename(kata_staging_blob_dir(s), hex, NULL);
                assert_true(g_file_set_contents(l->path, layers[i].content, -1, NULL));
                assert_int_equal(chmod(l->path, 0600), 0);
        }
        return r;
}

static int restart_cb(void *userdata, CcError *err) {
        Fixture *f = userdata;

        f->restarts++;
        if (f->restart_result < 0)
                return cc_error_set(err, CC_ERROR_HOST_NOT_READY, -f->restart_result, "restart refused");
        return 0;
}

/* Stages, places the layers and installs; returns the result, the record in
 * *ret (may be NULL). */
static int install(Fixture *f, const char *name, const Layer *layers, size_t n, const char *manifest,
                   bool register_containerd, KataRecord **ret, CcError *err) {
        _cleanup_(kata_staging_freep) KataStaging *s = NULL;
        _cleanup_(oci_pull_result_freep) OciPullResult *pull = NULL;
        KataInstallOptions o = {
                .artifacts_dir = f->artifacts,
                .state_dir = f->state,
                .runtime_class = name,
                .reference = "registry.example:5000/kata/artifacts:1",
                .containerd_config = register_containerd ? f->containerd : NULL,
                .restart = restart_cb,
                .restart_userdata = f,
        };
        KataRecord *rec = NULL;
        int r;

        assert_int_equal(kata_staging_new(f->artifacts, name, &s, err), 0);
        assert_true(g_str_has_prefix(kata_staging_path(s), f->artifacts));
        pull = place_layers(s, layers, n, manifest);
        r = kata_install(s, &o, pull, &rec, err);
        if (ret)
                *ret = rec;
        else
                kata_record_free(rec);
        return r;
}

static const Layer v1_layers[] = {
        { TOML_TITLE, toml_text },
        { KERNEL_TITLE, "kernel version 1" },
        { INITRD_TITLE, "initrd version 1" },
        { SBOM_TITLE, "ii  libc6 2.36\n" },
};

static const Layer v2_layers[] = {
        { TOML_TITLE, toml_text },
        { "vmlinuz-6.12.9-nvidia-gpu-confidential", "kernel version 2" },
        { INITRD_TITLE, "initrd version 2" },
        { SBOM_TITLE, "ii  libc6 2.37\n" },
};

#define V1_DIGEST "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define V2_DIGEST "sha256:2222222222222222222222222222222222222222222222222222222222222222"

static void install_v1(Fixture *f) {
        CcError e = CC_ERROR_INIT;
        assert_int_equal(install(f, NAME, v1_layers, ELEMENTSOF(v1_layers), V1_DIGEST, true, NULL, &e), 0);
}

static char *in_dir(const Fixture *f, const char *title) {
        return g_build_filename(f->artifacts, NAME, title, NULL);
}

/* ---------------------------------------------------------------- names */

static void test_runtime_class_names(void **state) {
        static const char *const good[] = { "kata", "kata-qemu-nvidia-gpu-snp", "a", "0", "k8s-1",
                "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk" };
        static const char *const bad[] = { "", "Kata", "-kata", "kata-", "kata_gpu", "kata.gpu", "kata/gpu",
                "../etc", "kata gpu", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl" };
        CcError e = CC_ERROR_INIT;

        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                assert_true(kata_runtime_class_valid(good[i]));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                cc_error_clear(&e);
                assert_false(kata_runtime_class_valid(bad[i]));
                assert_int_equal(kata_check_runtime_class(bad[i], &e), -EINVAL);
                assert_int_equal(e.kind, CC_ERROR_INVALID_ARGUMENT);
                assert_non_null(strstr(e.message, "DNS-1123"));
        }
        assert_false(kata_runtime_class_valid(NULL));
}

static void test_bad_name_writes_nothing(void **state) {
        Fixture *f = *state;
        CcError e = CC_ERROR_INIT;
        g_autofree char *before = NULL, *after = NULL;

        install_v1(f);
        before = snapshot(f);
        assert_int_equal(install(f, "Bad_Name", v1_layers, ELEMENTSOF(v1_layers), V2_DIGEST, true, NULL, &e), -EINVAL);
        assert_int_equal(e.kind, CC_ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(e.message, "Bad_Name"));
        after = snapshot(f);
        assert_string_equal(before, after);
        assert_int_equal(count_staging(f), 0);
}

/* --------------------------------------------------------------- titles */

static void assert_refused(Fixture *f, const Layer *layers, size_t n, const char *what) {
        g_autofree char *before = snapshot(f), *after = NULL;
        g_autofree char *containerd = read_file(f->containerd), *containerd_after = NULL;
        CcError e = CC_ERROR_INIT;
        KataRecord *rec = (KataRecord *) 1;

        assert_int_equal(install(f, NAME, layers, n, V2_DIGEST, true, &rec, &e), -EINVAL);
        assert_null(rec);
        assert_int_equal(e.kind, CC_ERROR_INVALID_ARGUMENT);
        if (!strstr(e.message, what))
                fail_msg("\"%s\" does not say \"%s\"", e.message, what);
        after = snapshot(f);
        assert_string_equal(before, after);
        containerd_after = read_file(f->containerd);
        assert_string_equal(containerd, containerd_after);
        assert_int_equal(count_staging(f), 0);
        assert_int_equal(f->restarts, 1); /* the first install's only */
}

static void test_title_refusals(void **state) {
        Fixture *f = *state;
        const Layer base[] = {
                { TOML_TITLE, toml_text },
                { KERNEL_TITLE, "kernel version 2" },
                { SBOM_TITLE, "sbom 2" },
        };
        static const struct {
                const char *title;
                const char *what;
        } cases[] = {
                { "", "empty title" },
                { "/etc/passwd", "absolute path" },
                { "../../../etc/cron.d/x", "'/'" },
                { "sub/file", "'/'" },
                { ".", "names a directory" },
                { "..", "names a directory" },
                { NULL, "no title annotation" },
                { SBOM_TITLE, "same title" },
                { "x\x1b]0;owned\x07", "control character" },
                { "x\xc2\x9b" "2J", "control character" },
                { "x\xff", "not UTF-8" },
        };

        install_v1(f);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Layer layers[4] = { base[0], base[1], base[2], { cases[i].title, "payload" } };
                assert_refused(f, layers, 4, cases[i].what);
        }
}

static void test_no_configuration_refused(void **state) {
        Fixture *f = *state;
        const Layer layers[] = { { KERNEL_TITLE, "k" }, { SBOM_TITLE, "s" } };

        install_v1(f);
        assert_refused(f, layers, ELEMENTSOF(layers), "no Kata configuration");
}

static void test_ambiguous_kernel_refused(void **state) {
        Fixture *f = *state;
        const Layer layers[] = { { TOML_TITLE, toml_text }, { KERNEL_TITLE, "k" }, { "vmlinux-6.12", "k2" } };

        install_v1(f);
        assert_refused(f, layers, ELEMENTSOF(layers), "two files that could be the kernel");
}

static void test_toml_refused(void **state) {
        Fixture *f = *state;
        const Layer layers[] = {
                { TOML_TITLE, "[hypervisor.qemu]\nkernel = '''/opt/kata/vmlinuz'''\n" },
                { KERNEL_TITLE, "k" },
        };

        install_v1(f);
        assert_refused(f, layers, ELEMENTSOF(layers), TOML_TITLE);
}

static void test_containerd_conflict_refused(void **state) {
        Fixture *f = *state;
        g_autofree char *text = NULL;

        install_v1(f);
        g_autofree char *old = read_file(f->containerd);
        text = g_strconcat(old,
                           "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.other-kata]\n"
                           "  runtime_type = \"io.containerd.kata.v2\"\n", NULL);
        assert_true(g_file_set_contents(f->containerd, text, -1, NULL));
        {
                CcError e = CC_ERROR_INIT;
                g_autofree char *before = snapshot(f), *after = NULL;

                assert_int_equal(install(f, "other-kata", v1_layers, ELEMENTSOF(v1_layers), V2_DIGEST, true, NULL, &e),
                                 -EINVAL);
                assert_int_equal(e.kind, CC_ERROR_INVALID_ARGUMENT);
                assert_non_null(strstr(e.message, f->containerd));
                after = snapshot(f);
                assert_string_equal(before, after);
        }
}

/* containerd 2.x: the same names as version 2 are refused (runc, and a
 * runtime the main file defines), not merged over by a drop-in. */
static void test_version3_conflict_refused(void **state) {
        Fixture *f = *state;
        g_autofree char *text = g_strconcat(containerd_v3,
                                            "    [plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.nvidia]\n"
                                            "      runtime_type = \"io.containerd.runc.v2\"\n", NULL);
        static const char *const names[] = { "runc", "nvidia" };

        assert_true(g_file_set_contents(f->containerd, text, -1, NULL));
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                CcError e = CC_ERROR_INIT;
                g_autofree char *before = snapshot(f), *after = NULL;

                assert_int_equal(install(f, names[i], v1_layers, ELEMENTSOF(v1_layers), V1_DIGEST, true, NULL, &e),
                                 -EINVAL);
                assert_int_equal(e.kind, CC_ERROR_INVALID_ARGUMENT);
                assert_non_null(strstr(e.message, f->containerd));
                assert_non_null(strstr(e.message, i == 0 ? "'runc' is containerd's own runtime" :
                                                   "line 7: runtime nvidia is already defined here"));
                after = snapshot(f);
                assert_string_equal(before, after);
        }
        /* Version 2 refuses them alike. */
        {
                CcError e = CC_ERROR_INIT;

                assert_true(g_file_set_contents(f->containerd, containerd_v2, -1, NULL));
                assert_int_equal(install(f, "runc", v1_layers, ELEMENTSOF(v1_layers), V1_DIGEST, true, NULL, &e),
                                 -EINVAL);
                assert_non_null(strstr(e.message, "'runc' is containerd's own runtime"));
        }
}

/* An install that would push containerd's configuration past the size
 * read back is refused: it could not be removed again. */
static void test_containerd_config_size_limit(void **state) {
        Fixture *f = *state;
        CcError e = CC_ERROR_INIT;
        g_autofree char *before = NULL, *after = NULL;
        GString *text = g_string_new(containerd_v2);

        /* Comments up to 64 bytes short of the limit: the block needs more. */
        while (text->len < CONTAINERD_CONFIG_MAX - 64 - 80)
                g_string_append(text, "# padding padding padding padding padding padding padding padding\n");
        while (text->len < CONTAINERD_CONFIG_MAX - 64)
                g_string_append_c(text, '\n');
        assert_true(g_file_set_contents(f->containerd, text->str, (gssize) text->len, NULL));
        g_string_free(text, true);

        before = snapshot(f);
        assert_int_equal(install(f, NAME, v1_layers, ELEMENTSOF(v1_layers), V1_DIGEST, true, NULL, &e), -EFBIG);
        assert_int_equal(e.kind, CC_ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(e.message, "past the 4194304 that nvidia-ccd reads back"));
        after = snapshot(f);
        assert_string_equal(before, after);
}

/* What an install needs of the host, before anything is pulled: the same
 * refusals as the install, nothing written, not even ArtifactsDir. */
static void test_precheck(void **state) {
        Fixture *f = *state;
        KataInstallOptions o = {
                .artifacts_dir = f->artifacts,
                .state_dir = f->state,
                .runtime_class = NAME,
                .containerd_config = f->containerd,
        };
        g_autofree char *before = snapshot(f), *after = NULL, *old = read_file(f->containerd), *text = NULL;
        g_autofree char *not_dir = g_build_filename(f->root, "a-file", NULL);
        CcError e = CC_ERROR_INIT;

        assert_int_equal(kata_install_precheck(&o, &e), 0);
        after = snapshot(f);
        assert_string_equal(before, after);
        assert_false(g_file_test(f->artifacts, G_FILE_TEST_EXISTS));

        /* containerd's configuration missing: HostNotReady, as the install. */
        assert_int_equal(rename(f->containerd, not_dir), 0);
        assert_int_equal(kata_install_precheck(&o, &e), -ENOENT);
        assert_int_equal(e.kind, CC_ERROR_HOST_NOT_READY);
        assert_non_null(strstr(e.message, f->containerd));
        /* Not registering: containerd's configuration is not needed. */
        o.containerd_config = NULL;
        cc_error_clear(&e);
        assert_int_equal(kata_install_precheck(&o, &e), 0);

        /* ArtifactsDir a file. */
        o.artifacts_dir = not_dir;
        assert_int_equal(kata_install_precheck(&o, &e), -ENOTDIR);
        assert_int_equal(e.kind, CC_ERROR_HOST_NOT_READY);
        assert_non_null(strstr(e.message, "is not a directory"));
        o.artifacts_dir = f->artifacts;
        assert_int_equal(rename(not_dir, f->containerd), 0);

        /* A registration it cannot take: InvalidArgument naming the file. */
        text = g_strconcat(old, "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes." NAME "]\n"
                           "  runtime_type = \"io.containerd.kata.v2\"\n", NULL);
        assert_true(g_file_set_contents(f->containerd, text, -1, NULL));
        o.containerd_config = f->containerd;
        cc_error_clear(&e);
        assert_int_equal(kata_install_precheck(&o, &e), -EINVAL);
        assert_int_equal(e.kind, CC_ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(e.message, f->containerd));
        g_free(after);
        after = read_file(f->containerd);
        assert_string_equal(after, text);

        /* What exists of ArtifactsDir is held to the checks of the install
         * (safe-dir.h), before anything is pulled; nothing is made. */
        {
                g_autofree char *shared = g_build_filename(f->root, "shared", NULL);
                g_autofree char *below = g_build_filename(shared, "artifacts", NULL);
                g_autofree char *link = g_build_filename(f->root, "link", NULL);
                g_autofree char *through = g_build_filename(link, "artifacts", NULL);

                o.containerd_config = NULL;
                assert_int_equal(mkdir(shared, 0755), 0);
                assert_int_equal(chmod(shared, 0777), 0);
                o.artifacts_dir = below;
                cc_error_clear(&e);
                assert_int_equal(kata_install_precheck(&o, &e), -EPERM);
                assert_int_equal(e.kind, CC_ERROR_HOST_NOT_READY);
                assert_true(g_str_has_prefix(e.message, "ArtifactsDir: "));
                assert_non_null(strstr(e.message, "is writable by group or others (mode 0777)"));
                assert_false(g_file_test(below, G_FILE_TEST_EXISTS));
                /* Sticky, as /tmp: nobody else can replace what is ours. */
                assert_int_equal(chmod(shared, 01777), 0);
                cc_error_clear(&e);
                assert_int_equal(kata_install_precheck(&o, &e), 0);
                assert_false(g_file_test(below, G_FILE_TEST_EXISTS));

                assert_int_equal(symlink(shared, link), 0);
                o.artifacts_dir = through;
                cc_error_clear(&e);
                assert_int_equal(kata_install_precheck(&o, &e), -ELOOP);
                assert_int_equal(e.kind, CC_ERROR_HOST_NOT_READY);
                assert_non_null(strstr(e.message, "is a symbolic link"));
                o.artifacts_dir = f->artifacts;
        }
}

static void test_containerd_config_missing(void **state) {
        Fixture *f = *state;
        CcError e = CC_ERROR_INIT;
        g_autofree char *before = NULL, *after = NULL;

        assert_int_equal(unlink(f->containerd), 0);
        before = snapshot(f);
        assert_int_equal(install(f, NAME, v1_layers, ELEMENTSOF(v1_layers), V1_DIGEST, true, NULL, &e), -ENOENT);
        assert_int_equal(e.kind, CC_ERROR_HOST_NOT_READY);
        assert_non_null(strstr(e.message, "or install without registering the runtime class with containerd"));
        after = snapshot(f);
        assert_string_equal(before, after);

        /* Without registration it installs. */
        cc_error_clear(&e);
        assert_int_equal(install(f, NAME, v1_layers, ELEMENTSOF(v1_layers), V1_DIGEST, false, NULL, &e), 0);
        assert_int_equal(f->restarts, 0);
}

/* -------------------------------------------------------------- install */

static void test_install(void **state) {
        Fixture *f = *state;
        g_autofree char *toml = NULL, *kernel = in_dir(f, KERNEL_TITLE), *initrd = in_dir(f, INITRD_TITLE);
        g_autofree char *toml_path = in_dir(f, TOML_TITLE), *sbom = in_dir(f, SBOM_TITLE);
        g_autofree char *containerd = NULL, *expect = NULL;
        _cleanup_(kata_record_freep) KataRecord *rec = NULL;
        CcError e = CC_ERROR_INIT;
        struct stat st;

        assert_int_equal(install(f, NAME, v1_layers, ELEMENTSOF(v1_layers), V1_DIGEST, true, &rec, &e), 0);

        /* The files, named by their titles, readable by the runtime. */
        assert_file_is(sbom, "ii  libc6 2.36\n");
        assert_file_is(kernel, "kernel version 1");
        assert_int_equal(stat(kernel, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        g_autofree char *dir = g_build_filename(f->artifacts, NAME, NULL);
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);

        /* The configuration points at them; the rest is as it was. */
        toml = read_file(toml_path);
        expect = g_strdup_printf("\"%s\"", kernel);
        assert_non_null(strstr(toml, expect));
        g_free(expect);
        expect = g_strdup_printf("\"%s\"", initrd);
        assert_non_null(strstr(toml, expect));
        assert_null(strstr(toml, "vmlinuz-confidential.container"));
        assert_non_null(strstr(toml, "# image = \"/opt/kata/share/kata-containers/kata-containers.img\"\n"));
        assert_non_null(strstr(toml, "kernel_params = \"cgroup_no_v1=all\"\n"));
        assert_non_null(strstr(toml, "[agent.kata]\ndial_timeout = 90\n"));

        /* containerd: registered, the rest kept, mode kept. */
        containerd = read_file(f->containerd);
        assert_true(g_str_has_prefix(containerd, containerd_v2));
        assert_non_null(strstr(containerd, "containerd.runtimes." NAME "]"));
        assert_non_null(strstr(containerd, toml_path));
        assert_int_equal(stat(f->containerd, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
        assert_int_equal(f->restarts, 1);

        /* The record says so and reads back. */
        assert_non_null(rec);
        assert_string_equal(rec->name, NAME);
        assert_string_equal(rec->digest, V1_DIGEST);
        assert_string_equal(rec->directory, dir);
        assert_string_equal(rec->configuration, toml_path);
        assert_string_equal(rec->containerd_handler, NAME);
        assert_int_equal(rec->containerd_version, 2);
        assert_int_equal(strv_length(rec->files), 4);
        assert_true(rec->installed_at > 0);
        {
                _cleanup_(kata_record_freep) KataRecord *back = NULL;
                g_autofree char *path = kata_record_path(f->state, NAME);

                assert_int_equal(kata_record_load(path, &back, &e), 0);
                assert_string_equal(back->reference, rec->reference);
                assert_true(strv_equal(back->files, rec->files));
                assert_int_equal(back->installed_at, rec->installed_at);
        }
        assert_int_equal(count_staging(f), 0);
}

static void test_reinstall_swaps(void **state) {
        Fixture *f = *state;
        g_autofree char *old_kernel = in_dir(f, KERNEL_TITLE);
        g_autofree char *new_kernel = in_dir(f, "vmlinuz-6.12.9-nvidia-gpu-confidential");
        g_autofree char *initrd = in_dir(f, INITRD_TITLE), *toml = NULL, *containerd1 = NULL, *containerd2 = NULL;
        _cleanup_(kata_record_freep) KataRecord *rec = NULL;
        CcError e = CC_ERROR_INIT;

        install_v1(f);
        containerd1 = read_file(f->containerd);
        assert_int_equal(install(f, NAME, v2_layers, ELEMENTSOF(v2_layers), V2_DIGEST, true, &rec, &e), 0);
        assert_false(exists(old_kernel));
        assert_file_is(new_kernel, "kernel version 2");
        assert_file_is(initrd, "initrd version 2");
        toml = read_file(rec->configuration);
        assert_non_null(strstr(toml, new_kernel));
        assert_string_equal(rec->digest, V2_DIGEST);
        /* One managed block, still. */
        containerd2 = read_file(f->containerd);
        assert_string_equal(containerd1, containerd2);
        assert_int_equal(count_staging(f), 0);
}

/* A failure after the swap (here the record cannot be written) puts the old
 * version and containerd's configuration back exactly. */
static void test_failure_after_swap_keeps_old(void **state) {
        Fixture *f = *state;
        g_autofree char *before = NULL, *after = NULL, *records = g_build_filename(f->state, "runtime-classes", NULL);
        g_autofree char *record = NULL;
        CcError e = CC_ERROR_INIT;

        install_v1(f);
        record = kata_record_path(f->state, NAME);
        /* The record directory turns into a file: the write fails. */
        {
                g_autofree char *aside = g_strconcat(records, ".aside", NULL);
                assert_int_equal(rename(records, aside), 0);
                assert_true(g_file_set_contents(records, "in the way", -1, NULL));
                before = snapshot(f);
                assert_int_equal(install(f, NAME, v2_layers, ELEMENTSOF(v2_layers), V2_DIGEST, true, NULL, &e) < 0, 1);
                assert_int_equal(e.kind, CC_ERROR_INTERNAL);
                after = snapshot(f);
                assert_string_equal(before, after);
                assert_int_equal(unlink(records), 0);
                assert_int_equal(rename(aside, records), 0);
        }
        assert_int_equal(f->restarts, 1);
        assert_int_equal(count_staging(f), 0);
}

static void test_restart_failure_keeps_install(void **state) {
        Fixture *f = *state;
        _cleanup_(kata_record_freep) KataRecord *rec = NULL;
        CcError e = CC_ERROR_INIT;

        f->restart_result = -EIO;
        assert_int_equal(install(f, NAME, v1_layers, ELEMENTSOF(v1_layers), V1_DIGEST, true, &rec, &e), -EIO);
        assert_int_equal(e.kind, CC_ERROR_HOST_NOT_READY);
        assert_non_null(rec);
        assert_true(exists(rec->configuration));
}

static void test_version3_dropin(void **state) {
        Fixture *f = *state;
        g_autofree char *dropin = g_build_filename(f->etc, "conf.d", "nvidia-ccd-" NAME ".toml", NULL);
        g_autofree char *main_text = NULL, *dropin_text = NULL, *after = NULL;
        _cleanup_(kata_record_freep) KataRecord *rec = NULL;
        CcError e = CC_ERROR_INIT;

        assert_true(g_file_set_contents(f->containerd, containerd_v3, -1, NULL));
        assert_int_equal(install(f, NAME, v1_layers, ELEMENTSOF(v1_layers), V1_DIGEST, true, &rec, &e), 0);
        assert_int_equal(rec->containerd_version, 3);
        assert_string_equal(rec->containerd_dropin, dropin);
        dropin_text = read_file(dropin);
        assert_non_null(strstr(dropin_text, "io.containerd.cri.v1.runtime"));
        assert_non_null(strstr(dropin_text, rec->configuration));
        main_text = read_file(f->containerd);
        assert_non_null(strstr(main_text, "imports"));
        assert_non_null(strstr(main_text, dropin));

        assert_int_equal(kata_remove(f->artifacts, f->state, rec, &e), 0);
        assert_false(exists(dropin));
        after = read_file(f->containerd);
        assert_string_equal(after, containerd_v3);
}

/* --------------------------------------------------------------- remove */

static void test_remove(void **state) {
        Fixture *f = *state;
        g_autofree char *dir = g_build_filename(f->artifacts, NAME, NULL), *record = kata_record_path(f->state, NAME);
        g_autofree char *containerd = NULL;
        _cleanup_(kata_record_freep) KataRecord *rec = NULL;
        CcError e = CC_ERROR_INIT;
        struct stat st;

        assert_int_equal(install(f, NAME, v1_layers, ELEMENTSOF(v1_layers), V1_DIGEST, true, &rec, &e), 0);
        assert_int_equal(kata_remove(f->artifacts, f->state, rec, &e), 0);
        assert_false(exists(dir));
        assert_false(exists(record));
        containerd = read_file(f->containerd);
        assert_string_equal(containerd, containerd_v2);
        assert_int_equal(stat(f->containerd, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
        assert_int_equal(count_staging(f), 0);
}

/* ---------------------------------------------------- records, staging */

static void test_records_load_all(void **state) {
        Fixture *f = *state;
        KataRecord **l = NULL;
        size_t n = 0;
        CcError e = CC_ERROR_INIT;
        g_autofree char *junk = NULL;

        assert_int_equal(kata_record_load_all(f->state, &l, &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(install(f, "kata-b", v1_layers, ELEMENTSOF(v1_layers), V1_DIGEST, false, NULL, &e), 0);
        assert_int_equal(install(f, "kata-a", v2_layers, ELEMENTSOF(v2_layers), V2_DIGEST, false, NULL, &e), 0);
        /* An unreadable record is skipped, not fatal. */
        junk = g_build_filename(f->state, "runtime-classes", "junk.conf", NULL);
        assert_true(g_file_set_contents(junk, "not a key file", -1, NULL));

        assert_int_equal(kata_record_load_all(f->state, &l, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(l[0]->name, "kata-a");
        assert_string_equal(l[0]->digest, V2_DIGEST);
        assert_string_equal(l[0]->containerd_handler, "");
        assert_string_equal(l[1]->name, "kata-b");
        kata_record_array_free(l, n);
}

static void test_stale_staging_cleaned(void **state) {
        Fixture *f = *state;
        g_autofree char *stale = g_build_filename(f->artifacts, ".staging-" NAME "-abc123", "blobs", NULL);
        g_autofree char *blob = g_build_filename(stale, "0123", NULL);
        g_autofree char *keep = NULL;

        install_v1(f);
        keep = snapshot(f);
        assert_int_equal(g_mkdir_with_parents(stale, 0700), 0);
        assert_true(g_file_set_contents(blob, "half a blob", -1, NULL));
        assert_int_equal(count_staging(f), 1);
        assert_int_equal(kata_staging_clean_stale(f->artifacts, NULL), 1);
        assert_int_equal(count_staging(f), 0);
        g_autofree char *after = snapshot(f);
        assert_string_equal(keep, after);
        /* No artifacts directory yet: nothing to do. */
        g_autofree char *none = g_build_filename(f->root, "nowhere", NULL);
        assert_int_equal(kata_staging_clean_stale(none, NULL), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_runtime_class_names),
                cmocka_unit_test_setup_teardown(test_bad_name_writes_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_title_refusals, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_configuration_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ambiguous_kernel_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_toml_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_containerd_conflict_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_version3_conflict_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_containerd_config_size_limit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_containerd_config_missing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_precheck, setup, teardown),
                cmocka_unit_test_setup_teardown(test_install, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reinstall_swaps, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failure_after_swap_keeps_old, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restart_failure_keeps_install, setup, teardown),
                cmocka_unit_test_setup_teardown(test_version3_dropin, setup, teardown),
                cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
                cmocka_unit_test_setup_teardown(test_records_load_all, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stale_staging_cleaned, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
