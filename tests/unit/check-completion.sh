#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The shell completions offer what nvidia-ccctl --help lists: every command,
# every option, the modes, the JSON modes; PCI addresses and runtime classes
# are taken from the command's own output (here a stand-in that prints what
# nvidia-ccctl list and status print with --no-legend).  zsh's is checked
# for syntax when zsh is installed.
set -euo pipefail

src="$1"
ccctl="$2"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
        echo "FAIL: $*" >&2
        exit 1
}

help=$("$ccctl" --help)
verbs=$(sed -n '/^Commands:/,/^$/p' <<< "$help" | awk '/^  [a-z]/ { print $1 }' | sort)
options=$(sed -n '/^Options:/,/^$/p' <<< "$help" | grep -oE '(^| )--?[a-zA-Z][a-z-]*' | tr -d ' ' | sort -u)
[[ $(wc -l <<< "$verbs") -ge 7 ]] || fail "--help lists too few commands: $verbs"
[[ $(wc -l <<< "$options") -ge 15 ]] || fail "--help lists too few options: $options"

# What nvidia-ccctl --no-legend prints, for the address and class lists.
mkdir "$tmp/bin"
cat > "$tmp/bin/nvidia-ccctl" <<'STANDIN'
#!/bin/bash
[[ " $* " == *" --no-legend "* && " $* " == *" --no-pager "* ]] || exit 2
case "${*: -1}" in
list)
        echo "0000:18:00.0  GH100 [H100 SXM5 80GB]  gpu  hopper  off  off  nvidia  12  0"
        echo "0000:2a:00.0  GH100 [H100 SXM5 80GB]  gpu  hopper  on   off  vfio-pci  40  1"
        ;;
status)
        echo "     Version: 0.1.0"
        echo "        Mode: off"
        echo "0000:18:00.0  GH100 [H100 SXM5 80GB]  gpu  hopper  off  off  nvidia  12  0"
        echo "kata-qemu-nvidia-gpu-snp  registry.local:5000/kata/artifacts:v1  sha256:3f2a9c0d5e7b  2025-01-31 12:00:00 UTC"
        echo "kata-tdx  nvcr.io/nvidia/cc-runtime:v2  sha256:0123456789ab  2025-02-01 08:30:15 UTC"
        ;;
esac
STANDIN
chmod +x "$tmp/bin/nvidia-ccctl"

complete_words() { # WORD... (the last is the one completed)
        # shellcheck source=/dev/null
        PATH="$tmp/bin:$PATH" bash -c '
                source "$1"
                shift
                COMP_WORDS=("$@")
                COMP_CWORD=$(($# - 1))
                _nvidia_ccctl
                printf "%s\n" "${COMPREPLY[@]}"' _ "$src/shell-completion/bash/nvidia-ccctl" nvidia-ccctl "$@" |
                sed '/^$/d' | sort
}

expect() { # WHAT ACTUAL EXPECTED
        [[ "$2" == "$3" ]] || fail "$1: completion offers [$(echo $2)], expected [$(echo $3)]"
}

expect "commands" "$(complete_words "")" "$verbs"
expect "commands after an option" "$(complete_words --no-pager "")" "$verbs"
expect "options" "$(complete_words -)" "$options"
expect "set-mode" "$(complete_words set-mode "")" "$(printf '%s\n' devtools off on ppcie)"
expect "--json" "$(complete_words --json "")" "$(printf '%s\n' off pretty short)"
expect "bind-vfio" "$(complete_words bind-vfio "")" "$(printf '%s\n' 0000:18:00.0 0000:2a:00.0)"
expect "unbind-vfio after an address" "$(complete_words unbind-vfio 0000:18:00.0 0000:2)" "0000:2a:00.0"
expect "--gpu" "$(complete_words set-mode on --gpu "")" "$(printf '%s\n' 0000:18:00.0 0000:2a:00.0)"
expect "remove-artifacts" "$(complete_words remove-artifacts "")" "$(printf '%s\n' kata-qemu-nvidia-gpu-snp kata-tdx)"
echo "bash: $(wc -l <<< "$verbs") commands, $(wc -l <<< "$options") options"

# zsh's: every command and option of --help appears in it.
zfile="$src/shell-completion/zsh/_nvidia-ccctl"
for v in $verbs; do
        grep -q "'$v:" "$zfile" || fail "zsh completion lacks the command $v"
done
for o in $options; do
        grep -qE "(['{,})]|^ *)$o([=+\[,}]|'|$)" "$zfile" || fail "zsh completion lacks the option $o"
done
if command -v zsh >/dev/null; then
        zsh -n "$zfile" || fail "zsh -n $zfile"
        echo "zsh: syntax checked"
else
        echo "zsh: not installed, its syntax not checked"
fi
