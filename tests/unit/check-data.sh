#!/bin/bash
# SPDX-License-Identifier: MIT
# The installed data files parse: interface XML, bus policy and polkit policy
# (xmllint), the man pages (groff, warnings are errors), the sysusers.d
# entries (systemd-sysusers), and the units' sandboxes stay at or below the
# exposure docs/security.md states (3.5 for nvidia-ccd.service, 1.2 for
# nvidia-cc-k8s-bridge.service).
set -euo pipefail

src="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

xmllint --noout "$src"/dbus/*.xml "$src"/dbus/*.conf "$src"/polkit/*.policy
echo "XML: well-formed"

for page in "$src"/docs/*.[0-9]; do
        warnings=$(groff -ww -z -man "$page" 2>&1)
        if [[ -n "$warnings" ]]; then
                echo "$page: $warnings" >&2
                exit 1
        fi
done
echo "man pages: no groff warnings"

sed -e 's|@sbindir@|/usr/sbin|' -e 's|@sysconfdir@|/etc|' "$src/systemd/nvidia-ccd.service.in" > "$tmp/nvidia-ccd.service"
systemd-analyze security --offline=true --threshold=35 "$tmp/nvidia-ccd.service" | tail -n 1

# The bridge's unit: systemd loads it (its ExecStart a stand-in executable,
# nvidia-ccd.service beside it for its dependency), and its sandbox stays at
# or below the 1.1 docs/security.md states, with a little room.
mkdir "$tmp/bin"
printf '#!/bin/sh\n' > "$tmp/bin/nvidia-cc-k8s-bridge"
chmod 0755 "$tmp/bin/nvidia-cc-k8s-bridge"
sed "s|@bindir@|$tmp/bin|" "$src/systemd/nvidia-cc-k8s-bridge.service.in" > "$tmp/nvidia-cc-k8s-bridge.service"
systemd-analyze verify --man=no --generators=no "$tmp/nvidia-cc-k8s-bridge.service"
echo "nvidia-cc-k8s-bridge.service: systemd-analyze verify passes"
systemd-analyze security --offline=true --threshold=12 "$tmp/nvidia-cc-k8s-bridge.service" | tail -n 1

# The sysusers.d entry: systemd-sysusers takes it and makes the user of the
# DaemonSet's uid (an empty root; nothing of the host's is touched).
mkdir -p "$tmp/sysroot/etc"
systemd-sysusers --root="$tmp/sysroot" "$src/systemd/nvidia-cc-k8s-bridge.sysusers" 2>/dev/null
grep -q '^nvidia-cc-k8s-bridge:x:64721:64721:' "$tmp/sysroot/etc/passwd"
grep -q '^nvidia-cc-k8s-bridge:x:64721:' "$tmp/sysroot/etc/group"
echo "sysusers.d/nvidia-cc-k8s-bridge.conf: user nvidia-cc-k8s-bridge, uid and gid 64721"

# The registry client's user: a system user of its own, neither root nor in
# group root, with no shell.
sed 's|@FETCH_USER@|nvidia-ccd-fetch|' "$src/systemd/nvidia-ccd.sysusers.in" > "$tmp/nvidia-ccd.conf"
systemd-sysusers --root="$tmp/sysroot" "$tmp/nvidia-ccd.conf" 2>/dev/null
fetch_entry=$(grep '^nvidia-ccd-fetch:' "$tmp/sysroot/etc/passwd")
IFS=: read -r _ _ fetch_uid fetch_gid _ _ fetch_shell <<< "$fetch_entry"
[ "$fetch_uid" -gt 0 ] && [ "$fetch_gid" -gt 0 ] && [ "$fetch_shell" = /usr/sbin/nologin ]
echo "sysusers.d/nvidia-ccd.conf: user nvidia-ccd-fetch, uid $fetch_uid, no shell"
