# SPDX-License-Identifier: MIT
#
# What the host says, for tests/hw/run-hw-tests: sysfs and pci.ids read as
# lspci and the sandbox device plugin read them, nvidia-smi's read-only
# queries, and /proc.  Nothing here writes anything.

import os
import re
import subprocess
import sys

NVIDIA = 0x10de
GPU_CLASSES = (0x0300, 0x0302)
NVSWITCH_CLASS = 0x0680


def note(text):
    for line in str(text).splitlines() or ['']:
        sys.stdout.write('# %s\n' % line)
    sys.stdout.flush()


# ------------------------------------------------------------------ sysfs

class Sysfs:
    '''What the kernel says, read the way lspci and the sandbox device
    plugin read it.'''

    def __init__(self, root='/'):
        self.root = root
        self.devices = os.path.join(root, 'sys/bus/pci/devices')

    def attr(self, bdf, name):
        with open(os.path.join(self.devices, bdf, name)) as f:
            return f.read().strip()

    def hex_attr(self, bdf, name):
        return int(self.attr(bdf, name), 16)

    def managed(self):
        '''NVIDIA GPUs and NVSwitches, not SR-IOV VFs: what the daemon
        should publish with no configuration.'''
        out = []
        for bdf in sorted(os.listdir(self.devices)):
            try:
                if self.hex_attr(bdf, 'vendor') != NVIDIA:
                    continue
                cls = self.hex_attr(bdf, 'class') >> 8
            except (FileNotFoundError, ValueError):
                continue
            if cls not in GPU_CLASSES + (NVSWITCH_CLASS,):
                continue
            if os.path.exists(os.path.join(self.devices, bdf, 'physfn')):
                continue
            out.append(bdf)
        return out

    def driver(self, bdf):
        try:
            return os.path.basename(os.readlink(os.path.join(self.devices, bdf, 'driver')))
        except FileNotFoundError:
            return ''

    def iommu_group(self, bdf):
        try:
            return int(os.path.basename(os.readlink(os.path.join(self.devices, bdf, 'iommu_group'))))
        except FileNotFoundError:
            return -1

    def group_members(self, bdf):
        group = self.iommu_group(bdf)
        if group < 0:
            return []
        return sorted(os.listdir(os.path.join(self.root, 'sys/kernel/iommu_groups/%d/devices' % group)))

    def numa_node(self, bdf):
        try:
            return int(self.attr(bdf, 'numa_node'))
        except FileNotFoundError:
            return -1

    def host_tee(self):
        def on(path):
            try:
                with open(os.path.join(self.root, path)) as f:
                    return f.read().strip() in ('1', 'Y', 'y')
            except OSError:
                return False
        if on('sys/module/kvm_intel/parameters/tdx'):
            return 'tdx'
        if on('sys/module/kvm_amd/parameters/sev_snp'):
            return 'sev-snp'
        return 'none'


def pci_ids_name(vendor, device, paths=('/usr/share/misc/pci.ids', '/usr/share/hwdata/pci.ids')):
    '''(path, name) of the first pci.ids found, name None when it lacks the id.'''
    for path in paths:
        try:
            with open(path, errors='replace') as f:
                in_vendor = False
                for line in f:
                    if line.startswith('#') or not line.strip():
                        continue
                    if not line.startswith('\t'):
                        in_vendor = line[:4].lower() == '%04x' % vendor
                        continue
                    if in_vendor and not line.startswith('\t\t') and line[1:5].lower() == '%04x' % device:
                        return path, line[5:].strip()
            return path, None
        except FileNotFoundError:
            continue
    return None, None


# The built-in ranges of docs/hardware.md, "Devices".
def expected_arch(device_id, cls):
    if cls == NVSWITCH_CLASS:
        return 'hopper' if 0x22a0 <= device_id <= 0x22a3 else 'other'
    if 0x22f0 <= device_id < 0x2380:
        return 'hopper'
    if 0x2900 <= device_id <= 0x2bff:
        return 'blackwell'
    return 'other'


# ------------------------------------------------------------------ nvidia-smi

def run_query(args, timeout=60):
    try:
        r = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        return None, '%s: not found' % args[0]
    except subprocess.TimeoutExpired:
        return None, '%s: no answer in %d s' % (' '.join(args), timeout)
    out = (r.stdout + r.stderr).strip()
    return (r.stdout if r.returncode == 0 else None), out


def smi_gpus():
    '''{bdf: {name, driver_version}} from nvidia-smi, or None.'''
    out, text = run_query(['nvidia-smi', '--query-gpu=pci.bus_id,name,driver_version', '--format=csv,noheader'])
    note('$ nvidia-smi --query-gpu=pci.bus_id,name,driver_version --format=csv,noheader')
    note(text)
    if out is None:
        return None
    gpus = {}
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(',')]
        if len(parts) < 3:
            continue
        m = re.fullmatch(r'([0-9A-Fa-f]+):([0-9A-Fa-f]{2}):([0-9A-Fa-f]{2})\.([0-7])', parts[0])
        if not m:
            continue
        bdf = '%04x:%s:%s.%s' % (int(m.group(1), 16), m.group(2).lower(), m.group(3).lower(), m.group(4))
        gpus[bdf] = {'name': parts[1], 'driver_version': parts[2]}
    return gpus


def smi_cc_mode():
    '''The mode `nvidia-smi conf-compute -f` prints ("CC status: OFF"), as
    CcMode names it; None when it cannot tell.'''
    out, text = run_query(['nvidia-smi', 'conf-compute', '-f'])
    note('$ nvidia-smi conf-compute -f')
    note(text)
    if out is None:
        return None
    m = re.search(r'CC status:\s*(\S+)', out)
    if not m:
        return None
    return {'ON': 'on', 'OFF': 'off', 'DEVTOOLS': 'devtools'}.get(m.group(1).upper(), m.group(1))


def smi_conf_compute(option, what):
    '''`nvidia-smi conf-compute OPTION`, read into what CcCapable or
    PpcieMode says; None when the output is not one of the forms known.'''
    out, text = run_query(['nvidia-smi', 'conf-compute', option])
    note('$ nvidia-smi conf-compute %s' % option)
    note(text)
    if out is None:
        return None
    low = out.lower()
    if what == 'gpus-caps':
        if re.search(r'not[ _-]*(cc[ _-]*)?capable', low):
            return False
        return True if 'capable' in low else None
    if what == 'multigpu':
        if 'protected' in low or 'ppcie' in low:
            return 'on'
        return 'off' if re.search(r':\s*(none|disabled|off)\b', low) else None
    return None


# ------------------------------------------------------------------ processes

def proc_status(pid):
    return proc_status_path('/proc/%d/status' % pid)


def proc_status_path(path):
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(':')
            out[k] = v.strip()
    return out


def nvidia_fds(pid):
    '''The GPU device nodes (/dev/nvidia<minor>) pid holds open.'''
    held = []
    try:
        for fd in os.listdir('/proc/%d/fd' % pid):
            try:
                target = os.readlink('/proc/%d/fd/%s' % (pid, fd))
            except OSError:
                continue
            if re.fullmatch(r'/dev/nvidia[0-9]+', target):
                held.append(target)
    except FileNotFoundError:
        pass
    return sorted(held)


def gpu_minor(bdf):
    try:
        with open('/proc/driver/nvidia/gpus/%s/information' % bdf) as f:
            m = re.search(r'Device Minor:\s*(\d+)', f.read())
            return int(m.group(1)) if m else None
    except OSError:
        return None
