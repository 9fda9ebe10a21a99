# SPDX-License-Identifier: MIT
#
# Service-test harness: every test gets a private system-type dbus-daemon,
# python-dbusmock's polkitd on it, a fake host tree from nvidia-ccd-fakehost,
# a private state directory and the real nvidia-ccd with --simulate.
# Readiness is always an event (the bus address line, NameOwnerChanged,
# READY=1 on NOTIFY_SOCKET, inotify), never a sleep.  The daemon's log is
# shown only when a test fails.
#
# Run with /usr/bin/python3 (Debian's python3-dbusmock and python3-gi).
# Environment, set by tests/service/meson.build:
#   NVIDIA_CCD           the daemon binary
#   NVIDIA_CCCTL         the CLI
#   NVIDIA_CCD_FAKEHOST  the fake-host builder
#   NVIDIA_CCD_SRCDIR    the source tree (for dbus/*.xml)
#   NVIDIA_CCD_WRAPPER   optional command prefix for the daemon (e.g. valgrind)
#   FAKE_NVML_LIBRARY    the stand-in NVML of tests/fakenvml

import configparser
import ctypes
import os
import select
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest

import gi
gi.require_version('Gio', '2.0')
gi.require_version('GLib', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

BUS_NAME = 'org.nvidia.ConfidentialCompute'
MANAGER_PATH = '/org/nvidia/ConfidentialCompute'
GPU_PATH_PREFIX = MANAGER_PATH + '/gpu'
MANAGER_IFACE = BUS_NAME + '.Manager'
GPU_IFACE = BUS_NAME + '.Gpu'
ERROR = BUS_NAME + '.Error.'
ACCESS_DENIED = 'org.freedesktop.DBus.Error.AccessDenied'
PROPS_IFACE = 'org.freedesktop.DBus.Properties'
OM_IFACE = 'org.freedesktop.DBus.ObjectManager'
SET_MODE_ACTION = 'org.nvidia.ConfidentialCompute.set-mode'
ALL_ACTIONS = [SET_MODE_ACTION,
               'org.nvidia.ConfidentialCompute.manage-vfio',
               'org.nvidia.ConfidentialCompute.manage-artifacts']
POLKIT_NAME = 'org.freedesktop.PolicyKit1'
POLKIT_PATH = '/org/freedesktop/PolicyKit1/Authority'
MOCK_IFACE = 'org.freedesktop.DBus.Mock'
NVIDIA_VENDOR = 0x10de

START_TIMEOUT = 60       # s; ASan/valgrind builds start slowly
CALL_TIMEOUT_MS = 90000  # a switch with an FSP timeout takes several seconds

BUS_CONFIG = '''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
'''


def env_path(name):
    value = os.environ.get(name)
    if not value:
        raise unittest.SkipTest('%s is not set (run through meson test)' % name)
    return value


def sd_bus_path_encode(prefix, external_id):
    '''What sd_bus_path_encode() does: escape all but [A-Za-z0-9] as _XX,
    a leading digit too, "" as "_".'''
    if external_id == '':
        return prefix + '/_'
    out = []
    for i, c in enumerate(external_id):
        if c.isascii() and (c.isalpha() or (c.isdigit() and i > 0)):
            out.append(c)
        else:
            out.extend('_%02x' % b for b in c.encode())
    return prefix + '/' + ''.join(out)


def gpu_path(bdf):
    return sd_bus_path_encode(GPU_PATH_PREFIX, bdf)


# ---------------------------------------------------------------- key files

def keyfile_read(path):
    '''A GKeyFile as {group: {key: value}} (values unparsed).'''
    cp = configparser.RawConfigParser(delimiters=('=',), comment_prefixes=('#',),
                                      strict=False, interpolation=None)
    cp.optionxform = str
    with open(path) as f:
        cp.read_file(f)
    return {s: dict(cp.items(s)) for s in cp.sections()}


def keyfile_set(path, group, key, value):
    '''Sets group/key in a GKeyFile, keeping every other line as it is.'''
    with open(path) as f:
        lines = f.read().splitlines()
    out, cur, done, seen_group = [], None, False, False
    for line in lines:
        s = line.strip()
        if s.startswith('[') and s.endswith(']'):
            if cur == group and not done:
                out.append('%s=%s' % (key, value))
                done = True
            cur = s[1:-1]
            seen_group = seen_group or cur == group
        elif cur == group and not done and '=' in s and s.split('=', 1)[0].strip() == key:
            out.append('%s=%s' % (key, value))
            done = True
            continue
        out.append(line)
    if not done:
        if not seen_group:
            out.append('[%s]' % group)
        out.append('%s=%s' % (key, value))
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.write('\n'.join(out) + '\n')
    os.rename(tmp, path)


def parse_knobs(value):
    '''"8:1;6:0;" -> {8: 1, 6: 0}'''
    knobs = {}
    for item in value.split(';'):
        item = item.strip()
        if item:
            k, v = item.split(':', 1)
            knobs[int(k, 0)] = int(v, 0)
    return knobs


def format_knobs(knobs):
    return ';'.join('%d:%d' % kv for kv in sorted(knobs.items()))


# ---------------------------------------------------------------- inotify

class Inotify:
    IN_MODIFY = 0x2
    IN_CLOSE_WRITE = 0x8
    IN_MOVED_FROM = 0x40
    IN_MOVED_TO = 0x80
    IN_CREATE = 0x100
    IN_DELETE = 0x200

    _libc = ctypes.CDLL(None, use_errno=True)

    def __init__(self):
        self.fd = self._libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self.fd < 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))

    def watch(self, path, mask):
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(path), ctypes.c_uint32(mask))
        if wd < 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e), path)
        return wd

    def drain(self):
        try:
            while os.read(self.fd, 65536):
                pass
        except BlockingIOError:
            pass

    def close(self):
        os.close(self.fd)


# ---------------------------------------------------------------- fake host

def relative_link(target, link):
    '''Makes link point at target, spelled relative to the link's
    directory as sysfs spells its links.'''
    start = os.path.realpath(os.path.dirname(link))
    os.symlink(os.path.relpath(os.path.realpath(target), start), link)


class FakeHost:
    '''A tree made by nvidia-ccd-fakehost, laid out as the kernel's: each
    device a directory under sys/devices/pci<domain>:<bus>/, reached
    through the link sys/bus/pci/devices/<bdf>.'''

    def __init__(self, root):
        self.root = root
        self.devices_dir = os.path.join(root, 'sys/bus/pci/devices')

    def dev_dir(self, bdf):
        '''The bus's entry for the device (a link to its directory).'''
        return os.path.join(self.devices_dir, bdf)

    def real_dir(self, bdf):
        '''The device's own directory, under sys/devices.'''
        return os.path.realpath(self.dev_dir(bdf))

    def add_device_copy(self, source, bdf, group):
        '''Hot-adds a device as the kernel would show it: a copy of source's
        directory at sys/devices/pci<domain>:<bus>/<bdf> with the bus's link
        to it, in IOMMU group group (-1: none), bound to source's driver.'''
        domain, bus = bdf.split(':')[:2]
        dst = os.path.join(self.root, 'sys/devices', 'pci%s:%s' % (domain, bus), bdf)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copytree(self.real_dir(source), dst, symlinks=True)
        relative_link(dst, self.dev_dir(bdf))
        for name in ('driver', 'iommu_group', 'subsystem'):
            if os.path.lexists(os.path.join(dst, name)):
                os.unlink(os.path.join(dst, name))
        relative_link(os.path.join(self.root, 'sys/bus/pci'), os.path.join(dst, 'subsystem'))
        with open(os.path.join(dst, 'uevent')) as f:
            uevent = f.read().replace(source, bdf)
        with open(os.path.join(dst, 'uevent'), 'w') as f:
            f.write(uevent)
        if group >= 0:
            gdir = os.path.join(self.root, 'sys/kernel/iommu_groups/%d' % group)
            os.makedirs(os.path.join(gdir, 'devices'), exist_ok=True)
            with open(os.path.join(gdir, 'type'), 'w') as f:
                f.write('DMA\n')
            relative_link(gdir, os.path.join(dst, 'iommu_group'))
            relative_link(dst, os.path.join(gdir, 'devices', bdf))
        driver = self.driver(source)
        if driver:
            ddir = os.path.join(self.root, 'sys/bus/pci/drivers', driver)
            relative_link(ddir, os.path.join(dst, 'driver'))
            relative_link(dst, os.path.join(ddir, bdf))

    def remove_device(self, bdf):
        '''Hot-removes a device: its directory and every link to it.'''
        driver = self.driver(bdf)
        group = self.iommu_group(bdf)
        real = self.real_dir(bdf)
        if driver:
            os.unlink(os.path.join(self.root, 'sys/bus/pci/drivers', driver, bdf))
        if group >= 0:
            os.unlink(os.path.join(self.root, 'sys/kernel/iommu_groups/%d/devices' % group, bdf))
        os.unlink(self.dev_dir(bdf))
        shutil.rmtree(real)

    def _read_hex(self, bdf, attr):
        with open(os.path.join(self.dev_dir(bdf), attr)) as f:
            return int(f.read().strip(), 16)

    def all_bdfs(self):
        return sorted(os.listdir(self.devices_dir))

    def nvidia_devices(self, classes):
        out = []
        for bdf in self.all_bdfs():
            try:
                if self._read_hex(bdf, 'vendor') != NVIDIA_VENDOR:
                    continue
                if (self._read_hex(bdf, 'class') >> 8) in classes:
                    out.append(bdf)
            except FileNotFoundError:
                continue
        return out

    def gpus(self):
        return self.nvidia_devices((0x0300, 0x0302))

    def nvswitches(self):
        return self.nvidia_devices((0x0680,))

    def device_id(self, bdf):
        return self._read_hex(bdf, 'device')

    def driver(self, bdf):
        link = os.path.join(self.dev_dir(bdf), 'driver')
        try:
            return os.path.basename(os.readlink(link))
        except FileNotFoundError:
            return None

    def drivers(self):
        return {bdf: self.driver(bdf) for bdf in self.all_bdfs()}

    def iommu_group(self, bdf):
        try:
            return int(os.path.basename(os.readlink(os.path.join(self.dev_dir(bdf), 'iommu_group'))))
        except FileNotFoundError:
            return -1

    def numa_node(self, bdf):
        try:
            with open(os.path.join(self.dev_dir(bdf), 'numa_node')) as f:
                return int(f.read().strip())
        except FileNotFoundError:
            return -1

    def gpusim_path(self, bdf):
        return os.path.join(self.dev_dir(bdf), 'gpusim.ini')

    def gpusim(self, bdf):
        return keyfile_read(self.gpusim_path(bdf))

    def gpusim_set(self, bdf, group, key, value):
        keyfile_set(self.gpusim_path(bdf), group, key, value)

    def active_knobs(self, bdf):
        return parse_knobs(self.gpusim(bdf).get('Knobs', {}).get('Active', ''))

    def set_active_knobs(self, bdf, changes):
        '''Changes some active knobs, as if the GPU had booted with them.'''
        knobs = self.active_knobs(bdf)
        knobs.update(changes)
        self.gpusim_set(bdf, 'Knobs', 'Active', format_knobs(knobs))

    # -- processes holding devices (fake-procs.c's layout)

    def nvidia_node(self, bdf):
        '''"/dev/nvidia<minor>" of a GPU, from the fake driver's information file.'''
        path = os.path.join(self.root, 'proc/driver/nvidia/gpus', bdf, 'information')
        with open(path) as f:
            for line in f:
                if line.startswith('Device Minor:'):
                    return '/dev/nvidia%d' % int(line.split(':', 1)[1])
        raise AssertionError('%s has no "Device Minor:" line' % path)

    def add_holder(self, pid, comm, node):
        '''A fake process: /proc/<pid>/comm, cmdline and a /proc/<pid>/fd/<n>
        link to node (a host path such as /dev/nvidia0) under the root.'''
        proc = os.path.join(self.root, 'proc', str(pid))
        os.makedirs(os.path.join(proc, 'fd'), exist_ok=True)
        # As the kernel keeps them: comm cut to 15 bytes, the whole program
        # name in cmdline.
        with open(os.path.join(proc, 'comm'), 'w') as f:
            f.write(comm[:15] + '\n')
        with open(os.path.join(proc, 'cmdline'), 'w') as f:
            f.write('/usr/bin/%s\0' % comm)
        fd = 3
        while os.path.lexists(os.path.join(proc, 'fd', str(fd))):
            fd += 1
        os.symlink(os.path.join(self.root, node.lstrip('/')), os.path.join(proc, 'fd', str(fd)))

    def hold_gpu(self, pid, comm, bdf):
        self.add_holder(pid, comm, self.nvidia_node(bdf))

    def remove_holder(self, pid):
        shutil.rmtree(os.path.join(self.root, 'proc', str(pid)))

    def unbind_fifo(self, bdf):
        return os.path.join(self.dev_dir(bdf), 'sim_unbind_fifo')

    def block_unbind(self, bdf):
        '''The next unbind of bdf blocks in the simulated kernel until
        release_unbind() (kernel-sim.c's sim_unbind_fifo).'''
        os.mkfifo(self.unbind_fifo(bdf), 0o600)

    def unbind_blocked(self, bdf):
        '''Whether the simulated kernel waits in an unbind of bdf now: a
        FIFO opens for writing without blocking only when it has a reader.'''
        try:
            fd = os.open(self.unbind_fifo(bdf), os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return False
        os.close(fd)
        return True

    def release_unbind(self, bdf):
        fd = os.open(self.unbind_fifo(bdf), os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, b'x')
        finally:
            os.close(fd)

    def snapshot(self):
        '''Every gpusim.ini's bytes and every device's driver.'''
        files = {}
        for bdf in self.all_bdfs():
            p = self.gpusim_path(bdf)
            if os.path.exists(p):
                with open(p, 'rb') as f:
                    files[bdf] = f.read()
        return {'gpusim': files, 'drivers': self.drivers()}


def tree_snapshot(root):
    '''Every entry under root: its type, mode, inode and modification time,
    and a file's bytes or a link's target.  A file rewritten with the same
    bytes (or replaced by rename) differs in its inode or time.'''
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            entry = (stat.S_IFMT(st.st_mode), st.st_mode, st.st_ino, st.st_mtime_ns, st.st_size)
            if stat.S_ISLNK(st.st_mode):
                entry += (os.readlink(path),)
            elif stat.S_ISREG(st.st_mode):
                with open(path, 'rb') as f:
                    entry += (f.read(),)
            out[os.path.relpath(path, root)] = entry
    return out


# ---------------------------------------------------------------- processes

class Process:
    '''A child with its output in a log file and a pidfd to wait on.'''

    def __init__(self, args, log_path, env=None, name=None, pass_fds=()):
        self.name = name or os.path.basename(args[0])
        self.log_path = log_path
        self.log = open(log_path, 'ab')
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, pass_fds=pass_fds,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.pidfd = os.pidfd_open(self.proc.pid)
        self.expected_exit = False

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def returncode(self):
        return self.proc.poll()

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout=30):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def close(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1
        self.log.close()


def describe_status(rc):
    if rc is None:
        return 'running'
    if rc < 0:
        try:
            return 'killed by %s' % signal.Signals(-rc).name
        except ValueError:
            return 'killed by signal %d' % -rc
    return 'exit status %d' % rc


# ---------------------------------------------------------------- test case

class ServiceTestCase(unittest.TestCase):
    '''Base class: a private bus with a polkit mock per test.  Subclasses
    call make_host() and start_daemon() (setUp does the default 8-GPU host
    unless AUTO_START is False).'''

    AUTO_START = True
    HOST_ARGS = ['--gpus', '8', '--boot-ms', '50', '--tee', 'tdx']

    @classmethod
    def setUpClass(cls):
        cls.daemon_bin = env_path('NVIDIA_CCD')
        cls.fakehost_bin = env_path('NVIDIA_CCD_FAKEHOST')
        cls.srcdir = env_path('NVIDIA_CCD_SRCDIR')
        cls.ccctl_bin = os.environ.get('NVIDIA_CCCTL', '')
        cls.wrapper = shlex.split(os.environ.get('NVIDIA_CCD_WRAPPER', ''))
        cls.is_root = os.geteuid() == 0

    # -- setup / teardown

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='nvidia-ccd-test-')
        # The bus socket must be reachable by an unprivileged test client.
        os.chmod(self.tmp, 0o755)
        self.state_dir = os.path.join(self.tmp, 'state')
        os.mkdir(self.state_dir, 0o700)
        self.daemon_log = os.path.join(self.tmp, 'nvidia-ccd.log')
        self.daemon = None
        self.daemons = []
        self.host = None
        self.conn = None
        self.signals = []
        self._notify_n = 0
        self._sub_ids = []
        self.addCleanup(self._teardown_all)
        self.start_bus()
        self.start_polkit()
        if self.AUTO_START:
            self.make_host(self.HOST_ARGS)
            self.start_daemon()

    def _teardown_all(self):
        problems = []
        if self.daemon is not None:
            problems += self._stop_daemon_checked()
        for d in self.daemons:
            d.close()
        if self.conn is not None:
            for sid in self._sub_ids:
                self.conn.signal_unsubscribe(sid)
            self.conn.close_sync(None)
            self.conn = None
        for p in (getattr(self, 'polkit', None), getattr(self, 'bus', None)):
            if p is not None:
                p.signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    pass
                p.close()
        if problems:
            self.fail('; '.join(problems))

    def _stop_daemon_checked(self):
        '''SIGTERM must give exit status 0 (an ASan report or leak aborts
        with another status); a daemon that died on its own is a crash.'''
        d, self.daemon = self.daemon, None
        problems = []
        rc = d.returncode()
        if rc is not None and not d.expected_exit:
            problems.append('nvidia-ccd died during the test (%s)' % describe_status(rc))
        elif rc is None:
            d.signal(signal.SIGTERM)
            try:
                rc = d.wait(60)
            except subprocess.TimeoutExpired:
                problems.append('nvidia-ccd did not exit within 60 s of SIGTERM')
                rc = 0
            if rc != 0:
                problems.append('nvidia-ccd: %s after SIGTERM' % describe_status(rc))
        d.close()
        return problems

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors) + len(getattr(result, 'unexpectedSuccesses', []))
        try:
            return super().run(result)
        finally:
            after = len(result.failures) + len(result.errors) + len(getattr(result, 'unexpectedSuccesses', []))
            tmp = getattr(self, 'tmp', None)
            if tmp:
                if after > before:
                    self._dump_logs()
                shutil.rmtree(tmp, ignore_errors=True)

    def _dump_logs(self):
        for name in ('nvidia-ccd.log', 'polkitd.log', 'dbus-daemon.log'):
            p = os.path.join(self.tmp, name)
            if not os.path.exists(p) or os.path.getsize(p) == 0:
                continue
            with open(p, errors='replace') as f:
                text = f.read()
            sys.stderr.write('\n----- %s (%s) -----\n%s----- end of %s -----\n'
                             % (name, self.id(), text if text.endswith('\n') else text + '\n', name))
        sys.stderr.flush()

    # -- event waiting (no sleeps: GLib main loop with a deadline, woken by
    #    D-Bus traffic and by the daemon's pidfd)

    def wait_until(self, pred, timeout, what, watch=None):
        '''Iterates the main loop until pred() holds.  Fails on the deadline,
        and as soon as a watched process (default: the daemon, unless its
        exit is expected) exits with pred() still false.'''
        ctx = GLib.MainContext.default()
        if pred():
            return
        if watch is None:
            watch = [self.daemon] if self.daemon is not None and not self.daemon.expected_exit else []
        watch = [p for p in watch if p.alive()]
        fired = {}

        def flag(key):
            def cb(*_):
                fired[key] = True
                return GLib.SOURCE_REMOVE
            return cb

        since = len(self.signals)
        sources = {'timeout': GLib.timeout_add(int(timeout * 1000), flag('timeout'))}
        for p in watch:
            sources[p] = GLib.unix_fd_add_full(GLib.PRIORITY_DEFAULT, p.pidfd, GLib.IOCondition.IN, flag(p))
        try:
            while not pred():
                if 'timeout' in fired:
                    self.fail('timed out after %g s waiting for %s' % (timeout, what))
                for p in watch:
                    if p in fired:
                        # What it sent before exiting is dispatched first.
                        # The exit may be seen before the bus forwarded
                        # its last messages: the bus announces the name
                        # lost only after them.
                        if p is self.daemon:
                            self._wait_name_lost(BUS_NAME, since)
                        while ctx.iteration(False):
                            pass
                        if pred():
                            return
                        self.fail('%s exited (%s) while waiting for %s'
                                  % (p.name, describe_status(p.proc.wait()), what))
                ctx.iteration(True)
        finally:
            for key, sid in sources.items():
                if key not in fired:
                    GLib.source_remove(sid)

    def _wait_name_lost(self, name, since, timeout=5):
        '''Iterates the main loop until the bus announced that name has
        no owner (since self.signals[since]), or for timeout seconds.'''
        ctx = GLib.MainContext.default()
        fired = []
        sid = GLib.timeout_add(int(timeout * 1000), lambda: fired.append(True) or GLib.SOURCE_REMOVE)
        try:
            while not fired and not any(s[3] == 'NameOwnerChanged' and s[4][0] == name and not s[4][2]
                                        for s in self.signals[since:]):
                ctx.iteration(True)
        finally:
            if not fired:
                GLib.source_remove(sid)

    def sync_daemon(self):
        '''A round trip to the daemon: whatever it emitted before is
        received and dispatched when this returns.'''
        self.call(MANAGER_PATH, 'org.freedesktop.DBus.Peer', 'Ping', timeout_ms=10000)
        self.dispatch_pending()

    def dispatch_pending(self):
        ctx = GLib.MainContext.default()
        while ctx.iteration(False):
            pass

    def wait_fd(self, fd, timeout, what):
        '''select() on fd (and the daemon's pidfd) with a deadline.'''
        deadline = time.monotonic() + timeout
        while True:
            fds = [fd]
            if self.daemon is not None and self.daemon.alive() and not self.daemon.expected_exit:
                fds.append(self.daemon.pidfd)
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail('timed out after %g s waiting for %s' % (timeout, what))
            r, _, _ = select.select(fds, [], [], left)
            if fd in r:
                return
            if self.daemon is not None and self.daemon.pidfd in r and not self.daemon.alive():
                self.fail('nvidia-ccd exited (%s) while waiting for %s'
                          % (describe_status(self.daemon.returncode()), what))

    def daemon_log_text(self):
        with open(self.daemon_log, errors='replace') as f:
            return f.read()

    def wait_log(self, needle, timeout=30):
        '''Waits (inotify on the log file) until the daemon's log contains
        needle; returns the log.'''
        ino = Inotify()
        try:
            ino.watch(self.daemon_log, Inotify.IN_MODIFY)
            deadline = time.monotonic() + timeout
            while needle not in self.daemon_log_text():
                self.wait_fd(ino.fd, max(deadline - time.monotonic(), 0.001), '"%s" in the daemon log' % needle)
                ino.drain()
        finally:
            ino.close()
        return self.daemon_log_text()

    def snapshot_all(self):
        '''The whole fake tree and the state directory.'''
        return {'root': tree_snapshot(self.host.root), 'state': tree_snapshot(self.state_dir)}

    # -- bus and polkit

    def bus_config(self, sock):
        '''The private bus's configuration (a subclass may use another policy).'''
        return BUS_CONFIG.format(socket=sock)

    def bus_command(self, conf, fd):
        '''The dbus-daemon command line (a subclass may wrap it).'''
        return ['dbus-daemon', '--config-file=' + conf, '--nofork', '--print-address=%d' % fd]

    def start_bus(self):
        sock = os.path.join(self.tmp, 'system_bus_socket')
        conf = os.path.join(self.tmp, 'bus.conf')
        with open(conf, 'w') as f:
            f.write(self.bus_config(sock))
        r, w = os.pipe()
        self.bus = None
        try:
            self.bus = Process(self.bus_command(conf, w),
                               os.path.join(self.tmp, 'dbus-daemon.log'), name='dbus-daemon', pass_fds=(w,))
            os.close(w)
            w = -1
            line = b''
            deadline = time.monotonic() + START_TIMEOUT
            while not line.endswith(b'\n'):
                left = deadline - time.monotonic()
                rr, _, _ = select.select([r, self.bus.pidfd], [], [], max(left, 0))
                if r in rr:
                    chunk = os.read(r, 4096)
                    if not chunk:
                        break
                    line += chunk
                elif self.bus.pidfd in rr or left <= 0:
                    break
            if not line.endswith(b'\n'):
                self.fail('dbus-daemon did not print its address (%s)' % describe_status(self.bus.returncode()))
        finally:
            os.close(r)
            if w >= 0:
                os.close(w)
        self.bus_address = line.decode().strip()
        self.conn = Gio.DBusConnection.new_for_address_sync(
            self.bus_address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None, None)
        self.conn.set_exit_on_close(False)
        self._sub_ids.append(self.conn.signal_subscribe(
            None, None, None, None, None, Gio.DBusSignalFlags.NONE, self._on_signal))

    def _on_signal(self, conn, sender, path, iface, member, params):
        self.signals.append((sender, path, iface, member, params.unpack()))

    def client_env(self):
        env = dict(os.environ)
        env['DBUS_SYSTEM_BUS_ADDRESS'] = self.bus_address
        env.pop('DBUS_SESSION_BUS_ADDRESS', None)
        env.pop('NOTIFY_SOCKET', None)
        return env

    def name_has_owner(self, name):
        return self.conn.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                                   'NameHasOwner', GLib.Variant('(s)', (name,)), None,
                                   Gio.DBusCallFlags.NONE, 5000, None).unpack()[0]

    def start_polkit(self):
        self.polkit = None
        start = len(self.signals)
        self.polkit = Process(['/usr/bin/python3', '-m', 'dbusmock', '--system', '-t', 'polkitd'],
                              os.path.join(self.tmp, 'polkitd.log'), env=self.client_env(), name='polkitd')
        polkit = self.polkit

        def owned():
            if any(s[3] == 'NameOwnerChanged' and s[4][0] == POLKIT_NAME and s[4][2]
                   for s in self.signals[start:]):
                return True
            return False

        if not self.name_has_owner(POLKIT_NAME):
            self.wait_until(owned, START_TIMEOUT, 'the polkitd mock on the bus', watch=[polkit])

    def polkit_set_allowed(self, actions):
        self.conn.call_sync(POLKIT_NAME, POLKIT_PATH, MOCK_IFACE, 'SetAllowed',
                            GLib.Variant('(as)', (actions,)), None, Gio.DBusCallFlags.NONE, 5000, None)

    # -- fake host and daemon

    def make_host(self, args=None):
        root = os.path.join(self.tmp, 'root')
        if os.path.exists(root):
            shutil.rmtree(root)
        cmd = [self.fakehost_bin, root] + list(args if args is not None else self.HOST_ARGS)
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            self.fail('%s failed (%d):\n%s' % (' '.join(cmd), r.returncode, r.stdout))
        self.host = FakeHost(root)
        return self.host

    def write_config(self, text):
        path = os.path.join(self.tmp, 'nvidia-ccd.conf')
        with open(path, 'w') as f:
            f.write(text)
        return path

    def start_daemon(self, config_text='', extra_args=(), wait_ready=True, extra_env=None, keep_notify=False):
        '''keep_notify: leave the NOTIFY_SOCKET open as self.notify_sock
        (non-blocking; read it with notify_messages()), without waiting.'''
        assert self.host is not None
        assert self.daemon is None or not self.daemon.alive()
        if self.daemon is not None:
            self.daemons.append(self.daemon)
            self.daemon = None
        config = os.path.join(self.tmp, 'nvidia-ccd.conf')
        if config_text is not None:
            self.write_config(config_text)
        self._notify_n += 1
        notify_path = os.path.join(self.tmp, 'notify-%d' % self._notify_n)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.bind(notify_path)
            env = self.client_env()
            env['NOTIFY_SOCKET'] = notify_path
            env['STATE_DIRECTORY'] = self.state_dir
            env.pop('WATCHDOG_USEC', None)
            env.pop('WATCHDOG_PID', None)
            env.update(extra_env or {})
            args = self.wrapper + [self.daemon_bin, '--bus', self.bus_address,
                                   '--sysfs-root', self.host.root, '--simulate',
                                   '--log-target', 'console', '--config', config] + list(extra_args)
            with open(self.daemon_log, 'ab') as f:
                f.write(('$ %s\n' % ' '.join(args)).encode())
            self.daemon = Process(args, self.daemon_log, env=env, name='nvidia-ccd')
            if keep_notify:
                # The daemon sends to the path: it stays until the test ends.
                sock.setblocking(False)
                self.notify_sock, sock = sock, None
                self.addCleanup(os.unlink, notify_path)
                self.addCleanup(self.notify_sock.close)
            elif wait_ready:
                self.wait_ready(sock)
        finally:
            if sock is not None:
                sock.close()
                os.unlink(notify_path)
        return self.daemon

    def notify_messages(self):
        '''The sd_notify() datagrams that arrived on self.notify_sock.'''
        out = []
        while True:
            try:
                out.append(self.notify_sock.recv(4096).decode(errors='replace'))
            except BlockingIOError:
                return out

    def wait_ready(self, sock):
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            self.wait_fd(sock.fileno(), max(deadline - time.monotonic(), 0.001), 'READY=1 from nvidia-ccd')
            msg = sock.recv(4096).decode(errors='replace')
            if 'READY=1' in msg.split('\n'):
                return

    def restart_on_host(self, host_args, config_text=''):
        '''Stops the daemon (which must exit 0), builds a new fake host and
        starts the daemon on it.'''
        if self.daemon is not None:
            self.assertEqual(self.kill_daemon(signal.SIGTERM), 0, 'exit status after SIGTERM')
        self.make_host(host_args)
        return self.start_daemon(config_text)

    def kill_daemon(self, sig=signal.SIGKILL):
        d = self.daemon
        d.expected_exit = True
        d.signal(sig)
        rc = d.wait(60)
        self.daemons.append(d)
        self.daemon = None
        return rc

    # -- D-Bus calls

    def call(self, path, iface, method, sig=None, args=(), timeout_ms=CALL_TIMEOUT_MS, fds=None):
        '''fds: descriptors sent with the call; an "h" argument is an index
        into this list.'''
        params = GLib.Variant('(%s)' % sig, tuple(args)) if sig is not None else None
        if fds is not None:
            r, _ = self.conn.call_with_unix_fd_list_sync(BUS_NAME, path, iface, method, params, None,
                                                         Gio.DBusCallFlags.NONE, timeout_ms,
                                                         Gio.UnixFDList.new_from_array(list(fds)), None)
        else:
            r = self.conn.call_sync(BUS_NAME, path, iface, method, params, None,
                                    Gio.DBusCallFlags.NONE, timeout_ms, None)
        return r.unpack() if r is not None else ()

    def call_async(self, path, iface, method, sig=None, args=(), timeout_ms=CALL_TIMEOUT_MS, fds=None):
        '''Returns a dict filled with 'reply' or 'error' when the reply comes.'''
        pending = {'done': False}
        params = GLib.Variant('(%s)' % sig, tuple(args)) if sig is not None else None

        def done(conn, res):
            try:
                if fds is not None:
                    pending['reply'] = conn.call_with_unix_fd_list_finish(res)[0].unpack()
                else:
                    pending['reply'] = conn.call_finish(res).unpack()
            except GLib.Error as e:
                pending['error'] = e
            pending['done'] = True
            pending['at'] = time.monotonic()

        if fds is not None:
            self.conn.call_with_unix_fd_list(BUS_NAME, path, iface, method, params, None, Gio.DBusCallFlags.NONE,
                                             timeout_ms, Gio.UnixFDList.new_from_array(list(fds)), None, done)
        else:
            self.conn.call(BUS_NAME, path, iface, method, params, None, Gio.DBusCallFlags.NONE,
                           timeout_ms, None, done)
        return pending

    def wait_reply(self, pending, timeout=CALL_TIMEOUT_MS / 1000):
        self.wait_until(lambda: pending['done'], timeout, 'a method reply')
        return pending

    def assert_dbus_error(self, name, func, *args, **kwargs):
        '''Runs func, which must raise the D-Bus error name; returns the message.'''
        try:
            func(*args, **kwargs)
        except GLib.Error as e:
            return self.assert_error_is(e, name)
        self.fail('expected %s, the call succeeded' % name)

    def assert_error_is(self, e, name):
        remote = Gio.DBusError.get_remote_error(e)
        message = e.message
        prefix = 'GDBus.Error:%s: ' % remote
        if remote and message.startswith(prefix):
            message = message[len(prefix):]
        self.assertEqual(remote, name, 'error %s: %s' % (remote, message))
        return message

    def set_mode(self, mode, bdf=None, **kw):
        if bdf is None:
            return self.call(MANAGER_PATH, MANAGER_IFACE, 'SetMode', 's', (mode,), **kw)
        return self.call(gpu_path(bdf), GPU_IFACE, 'SetMode', 's', (mode,), **kw)

    def set_mode_async(self, mode, bdf=None):
        if bdf is None:
            return self.call_async(MANAGER_PATH, MANAGER_IFACE, 'SetMode', 's', (mode,))
        return self.call_async(gpu_path(bdf), GPU_IFACE, 'SetMode', 's', (mode,))

    def get_all(self, path, iface, timeout_ms=10000):
        return self.call(path, PROPS_IFACE, 'GetAll', 's', (iface,), timeout_ms=timeout_ms)[0]

    def get(self, path, iface, name):
        return self.call(path, PROPS_IFACE, 'Get', 'ss', (iface, name), timeout_ms=10000)[0]

    def manager(self):
        return self.get_all(MANAGER_PATH, MANAGER_IFACE)

    def gpu(self, bdf):
        return self.get_all(gpu_path(bdf), GPU_IFACE)

    def managed_objects(self):
        return self.call(MANAGER_PATH, OM_IFACE, 'GetManagedObjects', timeout_ms=10000)[0]

    def introspect(self, path):
        return self.call(path, 'org.freedesktop.DBus.Introspectable', 'Introspect', timeout_ms=10000)[0]

    def prop_changes(self, path, iface, name, since=0):
        '''Values of name seen in PropertiesChanged on path since signal index since
        (an invalidation reads as None).'''
        out = []
        for sender, spath, siface, member, args in self.signals[since:]:
            if spath != path or siface != PROPS_IFACE or member != 'PropertiesChanged' or args[0] != iface:
                continue
            if name in args[1]:
                out.append(args[1][name])
            elif name in args[2]:
                out.append(None)
        return out

    def wait_property(self, path, iface, name, value, timeout=60):
        '''Waits until the property reads value: either Get says so, or a
        later PropertiesChanged does (the subscription predates the Get).'''
        self.dispatch_pending()
        start = len(self.signals)
        current = [self.get(path, iface, name)]

        def check():
            if current[0] == value:
                return True
            for v in self.prop_changes(path, iface, name, start):
                if v is None:
                    v = self.get(path, iface, name)
                current[0] = v
                if v == value:
                    return True
            return False
        self.wait_until(check, timeout, '%s.%s == %r (last seen %r)'
                        % (iface.split('.')[-1], name, value, current[0]))

    def wait_manager(self, name, value, timeout=60):
        self.wait_property(MANAGER_PATH, MANAGER_IFACE, name, value, timeout)

    def signals_named(self, member, since=0):
        return [s for s in self.signals[since:] if s[3] == member]

    # -- clients as another user

    def run_as_nobody(self, args):
        if not self.is_root:
            self.skipTest('needs root to run a client as nobody')
        cmd = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--'] + list(args)
        return subprocess.run(cmd, env=self.client_env(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)

    def run_ccctl(self, args, as_nobody=False):
        if not self.ccctl_bin:
            self.skipTest('NVIDIA_CCCTL is not set')
        cmd = [self.ccctl_bin] + list(args)
        if as_nobody:
            return self.run_as_nobody(cmd)
        return subprocess.run(cmd, env=self.client_env(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)

    # -- assertions on the host

    def assert_drivers(self, bdfs, driver='nvidia'):
        for bdf in bdfs:
            self.assertEqual(self.host.driver(bdf), driver, '%s driver in sysfs' % bdf)


def main():
    unittest.main(verbosity=2)
