#!/bin/bash
# SPDX-License-Identifier: MIT
# The installed data files parse: interface XML, bus policy and polkit policy
# (xmllint), the man pages (groff, warnings are errors), and the unit's
# sandbox stays at or below the exposure docs/security.md states (3.0).
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

sed 's|@sbindir@|/usr/sbin|' "$src/systemd/nvidia-ccd.service.in" > "$tmp/nvidia-ccd.service"
systemd-analyze security --offline=true --threshold=30 "$tmp/nvidia-ccd.service" | tail -n 1
