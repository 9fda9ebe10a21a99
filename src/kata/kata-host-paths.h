/* SPDX-License-Identifier: MIT */
#pragma once

/* What a Kata configuration from a registry may make the host run.
 *
 * containerd-shim-kata-v2 runs as root and takes from the configuration the
 * programs it starts (the hypervisor, virtiofsd, a jailer), their arguments,
 * and host files and directories it hands to them.  The artifact's publisher
 * writes that file, so every such key is checked before anything is
 * installed: its value must lie in the runtime class's own install directory
 * or under a path the host's administrator allows ([Kata] AllowedHostPaths=,
 * by default Kata's own install locations), and every argument must match a
 * pattern the administrator allows ([Kata] AllowedExtraArgs=).  The keys, in
 * any table:
 *
 *   paths:     path, ctlpath, jailer_path, virtio_fs_daemon, entropy_source,
 *              file_mem_backend, guest_hook_path, firmware, firmware_volume,
 *              kernel, initrd, image, template_path, vm_cache_endpoint,
 *              dan_conf, pflashes, sandbox_bind_mounts, and every key ending
 *              in "path", "paths", "_daemon" or "_socket"
 *   patterns:  every key starting with "valid_" (valid_hypervisor_paths,
 *              valid_virtio_fs_daemon_paths, ...): globs, whose fixed part
 *              must lie where a path may, with no component that can match
 *              "." or "..", and no character classes
 *   arguments: every key ending in "_extra_args"
 *
 * A value is a single-line string or an array of them; "" (unset) passes.
 * Paths are absolute with no "." or ".." component.  Inline tables are
 * refused anywhere (they could hide any of these keys).  A refusal is an
 * InvalidArgument naming the line, the key and the value (escaped). */

#include <stddef.h>

#include "cc-error.h"

/* Kata's own install locations (kata-deploy's /opt/kata, the distribution
 * packages), its runtime directories and the entropy sources it names. */
extern const char *const kata_default_allowed_host_paths[];
/* The arguments Kata's own configurations give virtiofsd. */
extern const char *const kata_default_allowed_extra_args[];

typedef struct KataHostPolicy {
        const char *install_dir;                 /* ArtifactsDir/<runtime class> */
        const char *const *allowed_paths;        /* NULL: the defaults */
        const char *const *allowed_args;         /* fnmatch() patterns; NULL: the defaults */
} KataHostPolicy;

int kata_check_host_paths(const char *text, size_t len, const KataHostPolicy *policy, CcError *err);
