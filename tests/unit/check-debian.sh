#!/bin/bash
# SPDX-License-Identifier: MIT
# The version is set in meson.build alone: debian/changelog's newest entry
# is that version (a native package: no Debian revision), for the source
# package meson names, and no other file of debian/ repeats it.
set -euo pipefail

src="$1"
name="$2"
version="$3"

changelog="$src/debian/changelog"
first=$(head -n 1 "$changelog")
if [[ ! "$first" =~ ^([a-z0-9][a-z0-9.+-]*)\ \(([^\)]+)\)\ [a-z-]+\;\ urgency=[a-z]+$ ]]; then
        echo "debian/changelog: the first line is no changelog entry's: $first" >&2
        exit 1
fi
package=${BASH_REMATCH[1]}
full=${BASH_REMATCH[2]}
# dpkg's own reading, where dpkg-dev is there, must agree.
if command -v dpkg-parsechangelog >/dev/null; then
        parsed=$(dpkg-parsechangelog -l "$changelog" -S Version)
        [[ "$parsed" == "$full" ]] || { echo "dpkg-parsechangelog reads $parsed, not $full" >&2; exit 1; }
fi
if [[ "$full" != "$version" ]]; then
        echo "debian/changelog's newest entry is $full; meson.build sets $version: add an entry $version" >&2
        exit 1
fi
format=$(cat "$src/debian/source/format")
[[ "$format" == "3.0 (native)" ]] || { echo "debian/source/format is $format, not 3.0 (native)" >&2; exit 1; }
[[ "$package" == "$name" ]] || { echo "debian/changelog names $package, meson.build $name" >&2; exit 1; }
source=$(sed -n 's/^Source: *//p' "$src/debian/control")
[[ "$source" == "$name" ]] || { echo "debian/control: Source: $source, meson.build: $name" >&2; exit 1; }
if grep -rlF -- "$version" "$src/debian" | grep -vx "$changelog"; then
        echo "the files above repeat the version $version: only meson.build and debian/changelog carry it" >&2
        exit 1
fi
echo "debian/changelog: $package $full, meson.build: $name $version"
