/* SPDX-License-Identifier: MIT */

/* The Kata TOML and containerd configuration editors as a filter, for the
 * tests that let the real containerd judge their output (not installed):
 *
 *   containerd-edit version                      < config.toml
 *   containerd-edit v2-register NAME CONFIGPATH  < config.toml > new.toml
 *   containerd-edit v2-unregister NAME           < config.toml > new.toml
 *   containerd-edit v3-dropin NAME CONFIGPATH    > dropin.toml
 *   containerd-edit v3-add-import PATH           < config.toml > new.toml
 *   containerd-edit v3-remove-import PATH        < config.toml > new.toml
 *   containerd-edit kata-toml KERNEL INITRD IMAGE < kata.toml > new.toml
 *                   ("-" leaves a key as it is)
 *
 * A refusal prints "Kind: message" on stderr and exits 1 with nothing on
 * stdout; a usage error exits 2. */

#include <stdbool.h>
#include <stdio.h>

#include "containerd-config.h"
#include "kata-toml.h"
#include "macro.h"

static int read_stdin(char **ret, size_t *ret_len) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, allocated = 0;

        for (;;) {
                if (allocated - len < 4096) {
                        char *p = realloc(buf, allocated + 65536);

                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        allocated += 65536;
                }
                size_t k = fread(buf + len, 1, allocated - len, stdin);
                len += k;
                if (k == 0)
                        break;
        }
        if (ferror(stdin))
                return -EIO;
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

static int usage(void) {
        fprintf(stderr, "usage: containerd-edit version|v2-register NAME PATH|v2-unregister NAME|"
                        "v3-dropin NAME PATH|v3-add-import PATH|v3-remove-import PATH|"
                        "kata-toml KERNEL INITRD IMAGE\n");
        return 2;
}

static const char *arg_or_null(const char *s) {
        return streq(s, "-") ? NULL : s;
}

int main(int argc, char **argv) {
        _cleanup_free_ char *in = NULL, *out = NULL;
        size_t in_len = 0, out_len = 0;
        CcError err = CC_ERROR_INIT;
        const char *verb;
        int r;

        if (argc < 2)
                return usage();
        verb = argv[1];

        if (streq(verb, "v3-dropin")) {
                if (argc != 4)
                        return usage();
                r = containerd_v3_dropin(argv[2], argv[3], &out);
                if (r < 0) {
                        fprintf(stderr, "InvalidArgument: %s\n", strerror(-r));
                        return 1;
                }
                fputs(out, stdout);
                return 0;
        }

        if (read_stdin(&in, &in_len) < 0) {
                perror("stdin");
                return 2;
        }

        if (streq(verb, "version") && argc == 2) {
                int v;

                r = containerd_config_version(in, in_len, &v, &err);
                if (r >= 0)
                        printf("%d\n", v);
        } else if (streq(verb, "v2-register") && argc == 4)
                r = containerd_v2_register(in, in_len, argv[2], argv[3], &out, &out_len, &err);
        else if (streq(verb, "v2-unregister") && argc == 3) {
                bool changed;

                r = containerd_v2_unregister(in, in_len, argv[2], &out, &out_len, &changed, &err);
                if (r >= 0 && !changed)
                        fprintf(stderr, "no managed block for %s\n", argv[2]);
        } else if (streq(verb, "v3-add-import") && argc == 3)
                r = containerd_v3_add_import(in, in_len, argv[2], &out, &out_len, &err);
        else if (streq(verb, "v3-remove-import") && argc == 3)
                r = containerd_v3_remove_import(in, in_len, argv[2], &out, &out_len, &err);
        else if (streq(verb, "kata-toml") && argc == 5) {
                KataTomlPaths paths = {
                        .kernel = arg_or_null(argv[2]),
                        .initrd = arg_or_null(argv[3]),
                        .image = arg_or_null(argv[4]),
                };

                r = kata_toml_set_paths(in, in_len, &paths, &out, &out_len, &err);
        } else
                return usage();

        if (r < 0) {
                fprintf(stderr, "%s: %s\n", cc_error_kind_to_string(err.kind), err.message);
                return 1;
        }
        if (out && fwrite(out, 1, out_len, stdout) != out_len)
                return 2;
        return fflush(stdout) == 0 ? 0 : 2;
}
