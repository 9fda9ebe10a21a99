/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glib.h>

#include "kata-host-paths.h"

#define SNP_FIXTURE FIXTURES_DIR "/kata/configuration-qemu-nvidia-gpu-snp.toml"
#define INSTALL_DIR "/opt/nvidia-gpu-operator/artifacts/runtimeclasses/kata-snp"

static const KataHostPolicy defaults = { .install_dir = INSTALL_DIR };

static void assert_accepted(const char *text, const KataHostPolicy *p) {
        CcError err = CC_ERROR_INIT;

        if (kata_check_host_paths(text, strlen(text), p, &err) < 0)
                fail_msg("refused: %s\n%s", err.message, text);
        assert_false(cc_error_is_set(&err));
}

static void assert_refused(const char *text, const KataHostPolicy *p, const char *message) {
        CcError err = CC_ERROR_INIT;

        assert_int_equal(kata_check_host_paths(text, strlen(text), p, &err), -EPERM);
        assert_int_equal(err.kind, CC_ERROR_INVALID_ARGUMENT);
        assert_string_equal(err.message, message);
}

/* Kata's own configuration, as shipped, passes the defaults. */
static void test_fixture_accepted(void **state) {
        g_autofree char *text = NULL;

        assert_true(g_file_get_contents(SNP_FIXTURE, &text, NULL, NULL));
        assert_accepted(text, &defaults);
}

/* The configuration of the review: each key refused, naming its line. */
static void test_shell_refused(void **state) {
        assert_refused("[hypervisor.qemu]\npath = \"/bin/sh\"\n", &defaults,
                       "line 2: hypervisor.qemu.path: \"/bin/sh\" is neither in the install directory nor under an "
                       "allowed host path");
        assert_refused("[hypervisor.qemu]\npath = \"/opt/kata/bin/qemu\"\nvalid_hypervisor_paths = [\n"
                       "  \"/opt/kata/bin/qemu\",\n  \"/bin/*\",\n]\n", &defaults,
                       "line 5: hypervisor.qemu.valid_hypervisor_paths: \"/bin/*\" matches paths outside the install "
                       "directory and the allowed host paths");
        assert_refused("[hypervisor.qemu]\nvirtio_fs_daemon = '/bin/sh'\n", &defaults,
                       "line 2: hypervisor.qemu.virtio_fs_daemon: \"/bin/sh\" is neither in the install directory "
                       "nor under an allowed host path");
        assert_refused("[hypervisor.qemu]\nvirtio_fs_extra_args = [\"--thread-pool-size=1\", \"-c\", \"id\"]\n",
                       &defaults, "line 2: hypervisor.qemu.virtio_fs_extra_args: \"-c\" is not an allowed argument");
}

static void test_every_kind_of_key(void **state) {
        static const char *const refused[] = {
                "[hypervisor.firecracker]\njailer_path = \"/usr/bin/env\"\n",
                "[hypervisor.acrn]\nctlpath = \"/usr/bin/env\"\n",
                "[hypervisor.qemu]\nentropy_source = \"/etc/shadow\"\n",
                "[hypervisor.qemu]\nfile_mem_backend = \"/etc\"\n",
                "[hypervisor.qemu]\nguest_hook_path = \"/root\"\n",
                "[hypervisor.qemu]\nfirmware = \"/boot/evil.fd\"\n",
                "[hypervisor.qemu]\npflashes = [\"/etc/passwd\"]\n",
                "[hypervisor.qemu]\nimage = \"/dev/sda\"\n",
                "[hypervisor.qemu]\nvhost_user_store_path = \"/\"\n",
                "[hypervisor.qemu]\nguest_memory_dump_path = \"/etc\"\n",
                "[hypervisor.qemu]\nvalid_entropy_sources = [\"/dev/*\"]\n",
                "[hypervisor.qemu]\nvalid_file_mem_backends = [\"/tmp\"]\n",
                "[hypervisor.remote]\nremote_hypervisor_socket = \"/run/docker.sock\"\n",
                "[runtime]\nsandbox_bind_mounts = [\"/etc:ro\"]\n",
                "[runtime]\ndan_conf = \"/etc\"\n",
                "[factory]\ntemplate_path = \"/etc\"\n",
                "[netmon]\npath = \"/usr/bin/env\"\n",
                "hypervisor.qemu.path = \"/bin/sh\"\n",
                "[hypervisor]\nqemu.path = \"/bin/sh\"\n",
                "[hypervisor.qemu]\nsome_new_daemon = \"/bin/sh\"\n",
                "[hypervisor.qemu]\nsome_extra_args = [\"--anything\"]\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                CcError err = CC_ERROR_INIT;

                if (kata_check_host_paths(refused[i], strlen(refused[i]), &defaults, &err) != -EPERM)
                        fail_msg("accepted: %s", refused[i]);
                assert_int_equal(err.kind, CC_ERROR_INVALID_ARGUMENT);
                assert_true(g_str_has_prefix(err.message, "line "));
        }
}

static void test_allowed(void **state) {
        /* The install directory, Kata's locations, "" and what is not a path. */
        assert_accepted("[hypervisor.qemu]\n"
                        "path = \"/opt/kata/bin/qemu-system-x86_64\"\n"
                        "kernel = \"" INSTALL_DIR "/vmlinuz\"\n"
                        "image = \"" INSTALL_DIR "\"\n"
                        "valid_hypervisor_paths = [\"/opt/kata/bin/*\", \"/opt/kata/bin/qemu-?\"]\n"
                        "virtio_fs_daemon = \"/usr/libexec/kata-containers/virtiofsd\"\n"
                        "valid_entropy_sources = [\"/dev/urandom\", \"/dev/random\", \"\"]\n"
                        "entropy_source = \"/dev/urandom\"\n"
                        "file_mem_backend = \"\"\n"
                        "virtio_fs_extra_args = [\"--thread-pool-size=4\", \"-o\", \"announce_submounts\"]\n"
                        "kernel_params = \"init=/bin/sh\"\n"
                        "[runtime]\nsandbox_bind_mounts = [\"/opt/kata/share/x:ro\"]\n"
                        "enable_debug = true\n",
                        &defaults);
}

static void test_escapes(void **state) {
        /* Out of the install directory by "..", a glob that climbs, or a
         * prefix that is not a whole component. */
        assert_refused("[hypervisor.qemu]\npath = \"" INSTALL_DIR "/../../../../bin/sh\"\n", &defaults,
                       "line 2: hypervisor.qemu.path: \"" INSTALL_DIR "/../../../../bin/sh\" is not an absolute "
                       "path without \".\" and \"..\"");
        assert_refused("[hypervisor.qemu]\nvalid_hypervisor_paths = [\"/opt/kata/.*/bin/sh\"]\n", &defaults,
                       "line 2: hypervisor.qemu.valid_hypervisor_paths: \"/opt/kata/.*/bin/sh\" has an empty, \".\" "
                       "or \"..\" component");
        assert_refused("[hypervisor.qemu]\nvalid_hypervisor_paths = [\"/opt/kata/[a-z]\"]\n", &defaults,
                       "line 2: hypervisor.qemu.valid_hypervisor_paths: \"/opt/kata/[a-z]\" has a character class "
                       "or an escape, which are not supported");
        assert_refused("[hypervisor.qemu]\npath = \"/opt/katalyst/sh\"\n", &defaults,
                       "line 2: hypervisor.qemu.path: \"/opt/katalyst/sh\" is neither in the install directory nor "
                       "under an allowed host path");
        assert_refused("[hypervisor.qemu]\nvalid_hypervisor_paths = [\"/opt/kat*\"]\n", &defaults,
                       "line 2: hypervisor.qemu.valid_hypervisor_paths: \"/opt/kat*\" matches paths outside the "
                       "install directory and the allowed host paths");
        assert_refused("[hypervisor.qemu]\npath = \"bin/sh\"\n", &defaults,
                       "line 2: hypervisor.qemu.path: \"bin/sh\" is not an absolute path without \".\" and \"..\"");
        /* Hidden where a line reader would not look. */
        assert_refused("[hypervisor.qemu]\npath = \"\"\"/bin/sh\"\"\"\n", &defaults,
                       "line 2: hypervisor.qemu.path is a multi-line string; only single-line strings are checked "
                       "and accepted");
        assert_refused("runtime = { sandbox_bind_mounts = [\"/\"] }\n", &defaults,
                       "line 1: runtime is an inline table; they are not supported in a Kata configuration");
        assert_refused("[hypervisor.qemu]\npath = 7\n", &defaults, "line 2: hypervisor.qemu.path is not a string");
        assert_refused("[hypervisor.qemu]\nvirtio_fs_extra_args = \"-c\"\n", &defaults,
                       "line 2: hypervisor.qemu.virtio_fs_extra_args is not an array");
        /* A value with a terminal escape is shown escaped. */
        assert_refused("[hypervisor.qemu]\npath = \"/bin/\\u001b]0;x\\u0007sh\"\n", &defaults,
                       "line 2: hypervisor.qemu.path: \"/bin/\\x1b]0;x\\x07sh\" is neither in the install directory "
                       "nor under an allowed host path");
}

/* The administrator's allow-lists replace the defaults. */
static void test_configured(void **state) {
        const char *const paths[] = { "/usr/local/kata/", "/usr/bin/qemu-system-x86_64", NULL };
        const char *const args[] = { "--cache=*", NULL };
        const KataHostPolicy p = { .install_dir = INSTALL_DIR, .allowed_paths = paths, .allowed_args = args };

        assert_accepted("[hypervisor.qemu]\npath = \"/usr/bin/qemu-system-x86_64\"\n"
                        "virtio_fs_daemon = \"/usr/local/kata/virtiofsd\"\n"
                        "virtio_fs_extra_args = [\"--cache=always\"]\n", &p);
        assert_refused("[hypervisor.qemu]\npath = \"/usr/bin/qemu-system-x86_64.sh\"\n", &p,
                       "line 2: hypervisor.qemu.path: \"/usr/bin/qemu-system-x86_64.sh\" is neither in the install "
                       "directory nor under an allowed host path");
        assert_refused("[hypervisor.qemu]\npath = \"/opt/kata/bin/qemu\"\n", &p,
                       "line 2: hypervisor.qemu.path: \"/opt/kata/bin/qemu\" is neither in the install directory "
                       "nor under an allowed host path");
        assert_refused("[hypervisor.qemu]\nvirtio_fs_extra_args = [\"--thread-pool-size=1\"]\n", &p,
                       "line 2: hypervisor.qemu.virtio_fs_extra_args: \"--thread-pool-size=1\" is not an allowed "
                       "argument");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fixture_accepted),
                cmocka_unit_test(test_shell_refused),
                cmocka_unit_test(test_every_kind_of_key),
                cmocka_unit_test(test_allowed),
                cmocka_unit_test(test_escapes),
                cmocka_unit_test(test_configured),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
