#!/bin/bash
# SPDX-License-Identifier: MIT
# Every MESSAGE_ID the daemon logs has an entry in the journal catalog, and
# journalctl itself parses the catalog.
set -euo pipefail

src="$1"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root/usr/lib/systemd/catalog"
cp "$src/docs/nvidia-ccd.catalog" "$root/usr/lib/systemd/catalog/"
journalctl --root="$root" --update-catalog
listed=$(journalctl --root="$root" --list-catalog)

n=0
for id in $(grep -o '"[0-9a-f]\{32\}"' "$src/src/common/message-ids.h" | tr -d '"'); do
        if ! grep -q "^$id nvidia-ccd: " <<< "$listed"; then
                echo "no catalog entry for MESSAGE_ID $id" >&2
                exit 1
        fi
        n=$((n + 1))
done
((n > 0)) || { echo "no MESSAGE_ID found in message-ids.h" >&2; exit 1; }
echo "$n MESSAGE_IDs, each with a catalog entry"
