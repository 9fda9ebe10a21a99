# SPDX-License-Identifier: MIT
#
# Helpers of the guest's test runner and benchmark (sourced; bash).
#
# The guest has QEMU's edu device at 00:05.0 and its PCI test device at
# 00:05.1, one IOMMU group; the image's configuration makes both GPUs
# ([Devices] ExtraDevices).  Before the VFIO cases the test device is put on
# uio_pci_generic (through new_id, as a distribution's driver claims it), so
# that "the driver each device had before" is a driver for one of them and
# none for the other.

BDF0=0000:00:05.0
BDF1=0000:00:05.1
GROUP_BDFS=("$BDF0" "$BDF1")
PREVIOUS_DRIVER=([0]="" [1]="uio_pci_generic")

BUS_NAME=org.nvidia.ConfidentialCompute
MANAGER_PATH=/org/nvidia/ConfidentialCompute
MANAGER_IFACE=org.nvidia.ConfidentialCompute.Manager
GPU_IFACE=org.nvidia.ConfidentialCompute.Gpu
GPU_PATH_PREFIX=/org/nvidia/ConfidentialCompute/gpu
CDI_SPEC=/var/run/cdi/nvidia.com-pgpu.yaml
RUNTIME_CLASS_IFACE=org.nvidia.ConfidentialCompute.RuntimeClass
RUNTIME_CLASS_PATH_PREFIX=/org/nvidia/ConfidentialCompute/runtime_class
SYS_PCI=/sys/bus/pci

# A name as sd_bus_path_encode() puts it in an object path: every
# character but a letter, or a digit after the first character, becomes
# _xx.
path_escape() { # NAME
        local s="$1" out="" c i
        for ((i = 0; i < ${#s}; i++)); do
                c="${s:i:1}"
                if [[ "$c" == [A-Za-z] ]] || { ((i > 0)) && [[ "$c" == [0-9] ]]; }; then
                        out+="$c"
                else
                        printf -v c '_%02x' "'$c"
                        out+="$c"
                fi
        done
        echo "$out"
}

gpu_path() { # BDF
        echo "$GPU_PATH_PREFIX/$(path_escape "$1")"
}

# The kernel's view of a device: its driver ("" when none) and
# driver_override ("" when cleared).
sysfs_driver() { # BDF
        local link="$SYS_PCI/devices/$1/driver"
        if [[ -e "$link" ]]; then
                basename "$(readlink "$link")"
        else
                echo ""
        fi
}

sysfs_override() { # BDF
        local o
        read -r o < "$SYS_PCI/devices/$1/driver_override"
        [[ "$o" == "(null)" ]] && o=""
        echo "$o"
}

iommu_group() { # BDF
        basename "$(readlink "$SYS_PCI/devices/$1/iommu_group")"
}

# One line describing the whole group in the kernel, for comparisons and
# for the log.
group_state() {
        local b out=""
        for b in "${GROUP_BDFS[@]}"; do
                out+="$b driver=$(sysfs_driver "$b") override=$(sysfs_override "$b"); "
        done
        echo "${out% }"
}

previous_state() {
        local i out=""
        for i in "${!GROUP_BDFS[@]}"; do
                out+="${GROUP_BDFS[$i]} driver=${PREVIOUS_DRIVER[$i]} override=; "
        done
        echo "${out% }"
}

bound_state() {
        local b out=""
        for b in "${GROUP_BDFS[@]}"; do
                out+="$b driver=vfio-pci override=vfio-pci; "
        done
        echo "${out% }"
}

# Every Gpu property of every device, from one GetManagedObjects (a
# process costs a lot under TCG), into the associative array GPU_PROPS
# indexed "BDF/Name"; arrays become one space-separated line.
declare -A GPU_PROPS=()
load_gpu_props() {
        local bdf key value
        GPU_PROPS=()
        while IFS=$'\t' read -r bdf key value; do
                GPU_PROPS["$bdf/$key"]="$value"
        done < <(busctl --json=short call "$BUS_NAME" "$MANAGER_PATH" org.freedesktop.DBus.ObjectManager GetManagedObjects |
                 jq -r --arg i "$GPU_IFACE" '.data[0][] | .[$i] // empty | . as $p |
                        $p | to_entries[] |
                        [$p.Address.data, .key, (.value.data | if type == "array" then join(" ") else tostring end)] | @tsv')
        ((${#GPU_PROPS[@]} > 0))
}

# A Manager property; busctl prints a string as: s "value".
manager_prop() { # NAME
        local out
        out=$(busctl get-property "$BUS_NAME" "$MANAGER_PATH" "$MANAGER_IFACE" "$1") || return 1
        out=${out#s \"}
        echo "${out%\"}"
}

manager_call() { # METHOD BDF...
        local method="$1"
        shift
        busctl call "$BUS_NAME" "$MANAGER_PATH" "$MANAGER_IFACE" "$method" as "$#" "$@"
}

# Puts the group in its "before" state: the test device on
# uio_pci_generic, the edu device on no driver, no override.  Plain sysfs
# writes.
prepare_group() {
        local b
        modprobe uio_pci_generic
        for b in "${GROUP_BDFS[@]}"; do
                echo > "$SYS_PCI/devices/$b/driver_override"
                if [[ -e "$SYS_PCI/devices/$b/driver" ]]; then
                        echo "$b" > "$SYS_PCI/devices/$b/driver/unbind"
                fi
        done
        # new_id binds every matching device without a driver; a second
        # new_id of the same id is refused with EEXIST.
        echo "1b36 0005" > "$SYS_PCI/drivers/uio_pci_generic/new_id" 2>/dev/null ||
                echo "$BDF1" > "$SYS_PCI/drivers/uio_pci_generic/bind"
}

# A real docker-registry on loopback, plain HTTP, its storage under DIR.
# The kernel picks the port (":0"); readiness is the registry's own
# "listening on ADDRESS" line, read from its output, which a cat then keeps
# draining into DIR/log.  Sets REGISTRY (HOST:PORT) and REGISTRY_PID.
start_registry() { # DIR
        local dir="$1" line out
        mkdir -p "$dir/data"
        cat > "$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:0
EOF
        coproc REGISTRY_PROC { exec docker-registry serve "$dir/config.yml" 2>&1; }
        REGISTRY_PID=$REGISTRY_PROC_PID
        REGISTRY=""
        while IFS= read -r line <&"${REGISTRY_PROC[0]}"; do
                echo "$line" >> "$dir/log"
                if [[ "$line" =~ msg=\"listening\ on\ (127\.0\.0\.1:[0-9]+)[,\"] ]]; then
                        REGISTRY=${BASH_REMATCH[1]}
                        break
                fi
        done
        [[ -n "$REGISTRY" ]] || { cat "$dir/log"; return 1; }
        # bash keeps a coprocess's descriptors from other children.
        exec {out}<&"${REGISTRY_PROC[0]}"
        cat <&"$out" >> "$dir/log" &
        exec {out}<&-
}

# Pushes a file as a blob in one monolithic upload (POST, then PUT with
# the digest), the way ORAS does; prints its layer descriptor, titled with
# the file's name.
push_blob() { # REPOSITORY FILE MEDIA-TYPE
        local repo="$1" file="$2" type="$3" digest location sep
        digest=sha256:$(sha256sum "$file" | cut -d' ' -f1)
        location=$(curl -fsS -X POST -D - -o /dev/null "http://$REGISTRY/v2/$repo/blobs/uploads/" |
                   tr -d '\r' | sed -n 's/^[Ll]ocation: *//p')
        [[ -n "$location" ]] || return 1
        [[ "$location" == /* ]] && location="http://$REGISTRY$location"
        sep='?'
        [[ "$location" == *\?* ]] && sep='&'
        curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$file" \
                "$location${sep}digest=$digest" >/dev/null || return 1
        jq -n -c --arg t "$type" --arg d "$digest" --argjson s "$(stat -c %s "$file")" \
                --arg title "$(basename "$file")" \
                '{mediaType: $t, digest: $d, size: $s, annotations: {"org.opencontainers.image.title": $title}}'
}

# Pushes FILEs as ORAS does: one layer per file, titled, the empty config
# and an artifact type.  Prints the manifest's digest.
push_artifact() { # WORKDIR REPOSITORY TAG FILE...
        local dir="$1" repo="$2" tag="$3" f layer layers=() manifest
        shift 3
        printf '{}' > "$dir/empty-config"
        push_blob "$repo" "$dir/empty-config" application/vnd.oci.empty.v1+json >/dev/null || return 1
        for f in "$@"; do
                layer=$(push_blob "$repo" "$f" application/vnd.oci.image.layer.v1.tar) || return 1
                layers+=("$layer")
        done
        manifest="$dir/manifest-$tag.json"
        printf '%s\n' "${layers[@]}" | jq -s -c \
                --arg cd "sha256:$(sha256sum "$dir/empty-config" | cut -d' ' -f1)" \
                '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
                  artifactType: "application/vnd.nvidia.kata.artifacts.v1",
                  config: {mediaType: "application/vnd.oci.empty.v1+json", digest: $cd, size: 2},
                  layers: .}' > "$manifest"
        curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
                --data-binary "@$manifest" "http://$REGISTRY/v2/$repo/manifests/$tag" >/dev/null || return 1
        echo "sha256:$(sha256sum "$manifest" | cut -d' ' -f1)"
}
