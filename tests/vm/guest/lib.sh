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
CDI_SPEC=/var/run/cdi/nvidia-ccd.yaml
SYS_PCI=/sys/bus/pci

# The object path of a device, as sd_bus_path_encode() makes it: every
# character but a letter, or a digit after the first character, becomes
# _xx.
gpu_path() { # BDF
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
        echo "$GPU_PATH_PREFIX/$out"
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
