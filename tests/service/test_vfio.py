#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# VFIO binding on the bus: whole IOMMU groups bound and given back through
# busctl, gdbus and nvidia-ccctl; properties and PropertiesChanged; bad
# requests refused with nothing changed on disk; rollback of a failed bind;
# a daemon killed in the middle of a bind finishes cleanly at the next start.

import os
import re
import signal
import subprocess

import harness
from harness import (ACCESS_DENIED, ERROR, GPU_IFACE, MANAGER_IFACE, MANAGER_PATH,
                     Inotify, gpu_path)

VFIO_ACTION = 'org.nvidia.ConfidentialCompute.manage-vfio'
RECORD = 'vfio-bindings'
CDI = 'var/run/cdi/nvidia.com-pgpu.yaml'


class VfioTest(harness.ServiceTestCase):
    HOST_ARGS = ['--gpus', '2', '--audio', '--boot-ms', '50', '--tee', 'tdx']

    def start_daemon(self, config_text='', *args, **kwargs):
        # The single resource's CDI spec (named by ID only) is the one these
        # cases read; the per-model default is the device plugin cases'.
        if config_text == '':
            config_text = '[Vfio]\nCdiKind=nvidia.com/pgpu\n'
        return super().start_daemon(config_text, *args, **kwargs)

    # -- helpers

    @property
    def record_path(self):
        return os.path.join(self.state_dir, RECORD)

    @property
    def cdi_path(self):
        return os.path.join(self.host.root, CDI)

    def bind(self, addresses=(), **kw):
        return self.call(MANAGER_PATH, MANAGER_IFACE, 'BindVfio', 'as', (list(addresses),), **kw)

    def unbind(self, addresses=(), **kw):
        return self.call(MANAGER_PATH, MANAGER_IFACE, 'UnbindVfio', 'as', (list(addresses),), **kw)

    def functions(self, gpu):
        '''The GPU and its audio function.'''
        return [gpu, gpu[:-1] + '1']

    def disk_state(self):
        '''Everything a VFIO request may change on disk.'''
        state = {'drivers': self.host.drivers(), 'overrides': {}, 'files': {}}
        for bdf in self.host.all_bdfs():
            with open(os.path.join(self.host.dev_dir(bdf), 'driver_override')) as f:
                state['overrides'][bdf] = f.read()
        for path in (self.record_path, self.cdi_path):
            state['files'][path] = None
            if os.path.exists(path):
                with open(path) as f:
                    state['files'][path] = f.read()
        vfio = os.path.join(self.host.root, 'dev/vfio')
        state['dev'] = sorted(os.listdir(vfio))
        return state

    def cdi_text(self):
        with open(self.cdi_path) as f:
            return f.read()

    def assert_nothing_changes(self, action):
        '''action() leaves the disk, the properties and the signals as they were.'''
        before_disk = self.disk_state()
        before_gpus = {b: self.gpu(b) for b in self.host.gpus()}
        self.sync_daemon()
        start = len(self.signals)
        action()
        self.assertEqual(self.disk_state(), before_disk)
        self.assertEqual({b: self.gpu(b) for b in self.host.gpus()}, before_gpus)
        self.sync_daemon()
        self.assertEqual(self.signals_named('PropertiesChanged', start), [], 'properties changed')

    def assert_original(self):
        '''Every device on the driver the fake host gave it, nothing left over.'''
        for gpu in self.host.gpus():
            self.assertEqual(self.host.driver(gpu), 'nvidia', gpu)
            self.assertEqual(self.host.driver(self.functions(gpu)[1]), 'snd_hda_intel')
            props = self.gpu(gpu)
            self.assertEqual((props['Driver'], props['VfioDevice'], props['VfioCdev']), ('nvidia', '', ''), gpu)
        state = self.disk_state()
        self.assertEqual(set(state['overrides'].values()), {'(null)\n'})
        self.assertEqual(state['files'], {self.record_path: None, self.cdi_path: None})
        self.assertEqual(state['dev'], ['vfio'])

    def write_attr(self, bdf, name, value):
        with open(os.path.join(self.host.dev_dir(bdf), name), 'w') as f:
            f.write(value)

    def gdbus(self, path, method, *args, as_nobody=False):
        cmd = ['gdbus', 'call', '--system', '--timeout', '60', '--dest', harness.BUS_NAME,
               '--object-path', path, '--method', method] + list(args)
        if as_nobody:
            return self.run_as_nobody(cmd)
        return subprocess.run(cmd, env=self.client_env(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)

    def busctl(self, *args):
        return subprocess.run(['busctl', '--system'] + list(args), env=self.client_env(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)

    def wait_driver_gone(self, bdf, timeout=30):
        '''Waits (inotify on the device directory) until bdf has no driver.'''
        ino = Inotify()
        try:
            ino.watch(self.host.dev_dir(bdf), Inotify.IN_DELETE | Inotify.IN_CREATE)
            self.wait_fd_until(ino, lambda: self.host.driver(bdf) is None, timeout,
                               '%s to be unbound' % bdf)
        finally:
            ino.close()

    def wait_fd_until(self, ino, pred, timeout, what):
        import time
        deadline = time.monotonic() + timeout
        while not pred():
            self.wait_fd(ino.fd, max(deadline - time.monotonic(), 0.001), what)
            ino.drain()

    def start_slow_bind(self, slow_bdf, addresses=()):
        '''BindVfio with the bind of slow_bdf taking 3 s; returns once
        slow_bdf has been taken from its driver (the bind is under way).'''
        self.write_attr(slow_bdf, 'sim_bind_delay_ms', '3000')
        pending = self.call_async(MANAGER_PATH, MANAGER_IFACE, 'BindVfio', 'as', (list(addresses),))
        self.wait_driver_gone(slow_bdf)
        self.assertFalse(pending['done'], 'the bind finished before it could be observed: %r' % pending)
        return pending

    # -- cases

    def test_bind_unbind_all(self):
        gpus = self.host.gpus()
        groups = [self.host.iommu_group(g) for g in gpus]
        since = len(self.signals)
        self.bind()
        for gpu, group in zip(gpus, groups):
            for bdf in self.functions(gpu):
                self.assertEqual(self.host.driver(bdf), 'vfio-pci', bdf)
            props = self.gpu(gpu)
            self.assertEqual(props['Driver'], 'vfio-pci')
            self.assertEqual(props['VfioDevice'], '/dev/vfio/%d' % group)
            self.assertEqual(props['VfioCdev'], '')
            self.assertEqual(props['GroupMembers'], self.functions(gpu))
            self.assertTrue(os.path.exists(os.path.join(self.host.root, 'dev/vfio/%d' % group)))
        self.sync_daemon()
        self.assertIn('vfio-pci', self.prop_changes(gpu_path(gpus[0]), GPU_IFACE, 'Driver', since))
        self.assertIn('/dev/vfio/%d' % groups[0], self.prop_changes(gpu_path(gpus[0]), GPU_IFACE, 'VfioDevice', since))
        cdi = self.cdi_text()
        self.assertIn('kind: nvidia.com/pgpu', cdi)
        # Named by the group, as the device plugin names them, and only so.
        self.assertEqual(re.findall(r'name: "([^"]*)"', cdi), [str(g) for g in sorted(groups)])
        for group in groups:
            self.assertIn('path: /dev/vfio/%d' % group, cdi)
        self.assertIn('path: /dev/vfio/vfio', cdi)
        record = harness.keyfile_read(self.record_path)
        self.assertEqual(record['Device %s' % gpus[0]]['PreviousDriver'], 'nvidia')
        self.assertEqual(record['Device %s' % self.functions(gpus[0])[1]]['PreviousDriver'], 'snd_hda_intel')

        # Idempotent: a second bind changes nothing.
        before = self.disk_state()
        self.bind()
        self.assertEqual(self.disk_state(), before)

        since = len(self.signals)
        self.unbind()
        for gpu in gpus:
            self.assertEqual(self.host.driver(gpu), 'nvidia')
            self.assertEqual(self.host.driver(self.functions(gpu)[1]), 'snd_hda_intel')
            self.assertEqual(self.gpu(gpu)['Driver'], 'nvidia')
            self.assertEqual(self.gpu(gpu)['VfioDevice'], '')
        self.sync_daemon()
        self.assertIn('nvidia', self.prop_changes(gpu_path(gpus[0]), GPU_IFACE, 'Driver', since))
        self.assertFalse(os.path.exists(self.cdi_path), 'the CDI spec is removed when nothing is bound')
        self.assertFalse(os.path.exists(self.record_path))
        overrides = self.disk_state()['overrides']
        self.assertEqual(set(overrides.values()), {'(null)\n'})
        before = self.disk_state()
        self.unbind()
        self.assertEqual(self.disk_state(), before)

    def test_gpu_methods_busctl_gdbus(self):
        gpu, other = self.host.gpus()
        # Gpu.BindVfio through busctl: that group only.
        r = self.busctl('call', harness.BUS_NAME, gpu_path(gpu), GPU_IFACE, 'BindVfio')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.host.driver(gpu), 'vfio-pci')
        self.assertEqual(self.host.driver(self.functions(gpu)[1]), 'vfio-pci')
        self.assertEqual(self.host.driver(other), 'nvidia')
        r = self.busctl('get-property', harness.BUS_NAME, gpu_path(gpu), GPU_IFACE, 'Driver')
        self.assertEqual(r.stdout.strip(), 's "vfio-pci"')
        # Manager.BindVfio through gdbus, with an address list.
        r = self.gdbus(MANAGER_PATH, MANAGER_IFACE + '.BindVfio', "['%s']" % other)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.host.driver(other), 'vfio-pci')
        r = self.gdbus(gpu_path(other), GPU_IFACE + '.UnbindVfio')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.host.driver(other), 'nvidia')
        r = self.busctl('call', harness.BUS_NAME, MANAGER_PATH, MANAGER_IFACE, 'UnbindVfio', 'as', '1', gpu)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_original()

    def test_ctl_bind_unbind(self):
        gpu = self.host.gpus()[0]
        audio = self.functions(gpu)[1]
        group = self.host.iommu_group(gpu)
        r = self.run_ccctl(['--no-ask-password', 'bind-vfio', gpu[5:]])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.host.driver(gpu), 'vfio-pci')
        # It says what it took: the whole group, every function.
        self.assertEqual(r.stdout, 'Bound IOMMU group %d to VFIO (/dev/vfio/%d): %s (vfio-pci) %s\n'
                         % (group, group, gpu, audio))
        r = self.run_ccctl(['bind-vfio', gpu])
        self.assertEqual(r.stdout, 'IOMMU group %d was bound to VFIO already (/dev/vfio/%d): %s (vfio-pci) %s\n'
                         % (group, group, gpu, audio))
        r = self.run_ccctl(['--json', 'bind-vfio'])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"vfio-pci"', r.stdout)
        self.assertEqual([self.host.driver(g) for g in self.host.gpus()], ['vfio-pci'] * 2)
        r = self.run_ccctl(['unbind-vfio'])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_original()
        self.assertIn('Gave IOMMU group %d back: %s (nvidia) %s\n' % (group, gpu, audio), r.stdout)

        def refused():
            r = self.run_ccctl(['bind-vfio', '0000:99:00.0'])
            self.assertEqual(r.returncode, 1)
            self.assertIn('Failed to bind to VFIO', r.stderr)
            self.assertIn('No PCI device 0000:99:00.0', r.stderr)
            r = self.run_ccctl(['unbind-vfio', 'bogus'])
            self.assertEqual(r.returncode, 2)
            self.assertIn('Invalid PCI address "bogus"', r.stderr)
            r = self.run_ccctl(['bind-vfio', ''])
            self.assertEqual(r.returncode, 2)
            r = self.run_ccctl(['--no-ask-password', 'bind-vfio'], as_nobody=True)
            self.assertEqual(r.returncode, 4)
            self.assertIn(VFIO_ACTION, r.stderr)
        self.assert_nothing_changes(refused)

    def test_bad_addresses(self):
        gpu = self.host.gpus()[0]
        audio = self.functions(gpu)[1]
        bind = lambda *a: self.bind(list(a))  # noqa: E731
        unbind = lambda *a: self.unbind(list(a))  # noqa: E731

        def refused():
            for call in (bind, unbind):
                msg = self.assert_dbus_error(ERROR + 'InvalidArgument', call, gpu, '18:00.0')
                self.assertIn('"18:00.0" is not a PCI address', msg)
                msg = self.assert_dbus_error(ERROR + 'InvalidArgument', call, '../../../../etc/passwd')
                self.assertIn('is not a PCI address', msg)
                msg = self.assert_dbus_error(ERROR + 'NotFound', call, gpu, '0000:99:00.0')
                self.assertEqual(msg, 'No PCI device 0000:99:00.0 on this host')
                msg = self.assert_dbus_error(ERROR + 'InvalidArgument', call, audio)
                self.assertIn('%s (10de:22ba, class 040300) is not an NVIDIA GPU' % audio, msg)
        self.assert_nothing_changes(refused)

    def test_not_nvidia_and_foreign_group(self):
        self.restart_on_host(['--gpus', '2', '--foreign-in-group', '--boot-ms', '50'])
        gpu, other = self.host.gpus()
        nic = [b for b in self.host.all_bdfs() if self.host.driver(b) == 'mlx5_core'][0]

        def refused():
            msg = self.assert_dbus_error(ERROR + 'InvalidArgument', self.bind, [nic])
            self.assertIn('%s (15b3:1021, class 020000) is not an NVIDIA GPU' % nic, msg)
            msg = self.assert_dbus_error(ERROR + 'NotCapable', self.bind, [])
            self.assertIn(nic, msg)
            self.assertIn('mlx5_core', msg)
            msg = self.assert_dbus_error(ERROR + 'NotCapable', self.call, gpu_path(gpu), GPU_IFACE, 'BindVfio')
            self.assertIn(nic, msg)
            # Naming the other GPU too changes nothing: all or nothing.
            self.assert_dbus_error(ERROR + 'NotCapable', self.bind, [other, gpu])
        self.assert_nothing_changes(refused)
        with open(self.daemon_log) as f:
            self.assertIn('VFIO bind refused', f.read())
        # The other GPU's group is its own.
        self.bind([other])
        self.assertEqual(self.host.driver(other), 'vfio-pci')
        self.assertEqual(self.host.driver(nic), 'mlx5_core')

    def test_no_iommu(self):
        self.restart_on_host(['--gpus', '2', '--no-iommu', '--boot-ms', '50'])

        def refused():
            msg = self.assert_dbus_error(ERROR + 'HostNotReady', self.bind, [])
            self.assertIn('intel_iommu=on', msg)
            self.assertIn('amd_iommu=on', msg)
            self.assertIn('VT-d', msg)
            self.unbind([])  # nothing bound, nothing to do
        self.assert_nothing_changes(refused)

    def test_vfio_unauthorized(self):
        gpu = self.host.gpus()[0]

        def denied():
            r = self.gdbus(MANAGER_PATH, MANAGER_IFACE + '.BindVfio', '[]', as_nobody=True)
            self.assertIn('GDBus.Error:' + ACCESS_DENIED, r.stderr)
            r = self.gdbus(gpu_path(gpu), GPU_IFACE + '.BindVfio', as_nobody=True)
            self.assertIn('GDBus.Error:' + ACCESS_DENIED, r.stderr)
            r = self.gdbus(gpu_path(gpu), GPU_IFACE + '.UnbindVfio', as_nobody=True)
            self.assertIn('GDBus.Error:' + ACCESS_DENIED, r.stderr)
            # Another action does not help.
            self.polkit_set_allowed([harness.SET_MODE_ACTION])
            r = self.gdbus(MANAGER_PATH, MANAGER_IFACE + '.BindVfio', '[]', as_nobody=True)
            self.assertIn('GDBus.Error:' + ACCESS_DENIED, r.stderr)
        self.assert_nothing_changes(denied)
        self.polkit_set_allowed([VFIO_ACTION])
        r = self.gdbus(gpu_path(gpu), GPU_IFACE + '.BindVfio', as_nobody=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.host.driver(gpu), 'vfio-pci')

    def test_rollback_names_device_and_errno(self):
        gpus = self.host.gpus()
        bad = self.functions(gpus[1])[1]
        self.write_attr(bad, 'sim_bind_errno', '22')
        since = len(self.signals)
        msg = self.assert_dbus_error(ERROR + 'HardwareFailure', self.bind, [])
        self.assertIn('%s: cannot bind to vfio-pci: Invalid argument (EINVAL)' % bad, msg)
        self.assertIn('rolled back', msg)
        self.assert_original()
        self.sync_daemon()
        # The first group was bound and given back within the request: its
        # properties end where they began, so none changed.
        self.assertEqual(self.prop_changes(gpu_path(gpus[0]), GPU_IFACE, 'Driver', since), [])
        with open(self.daemon_log) as f:
            self.assertIn('VFIO bind failed', f.read())

    def test_iommufd(self):
        self.restart_on_host(['--gpus', '2', '--audio', '--iommufd', '--boot-ms', '50'])
        gpu = self.host.gpus()[1]
        self.bind([gpu])
        props = self.gpu(gpu)
        self.assertEqual(props['VfioDevice'], '/dev/vfio/%d' % self.host.iommu_group(gpu))
        self.assertEqual(props['VfioCdev'], '/dev/vfio/devices/vfio0')
        self.assertTrue(os.path.exists(os.path.join(self.host.root, 'dev/vfio/devices/vfio0')))
        cdi = self.cdi_text()
        # Named by its vfioN number alone; the nodes of both functions, not
        # the group node.
        self.assertEqual(re.findall(r'name: "([^"]*)"', cdi), ['0'])
        self.assertIn('path: /dev/vfio/devices/vfio0', cdi)
        self.assertIn('path: /dev/vfio/devices/vfio1', cdi)
        self.assertNotIn('path: /dev/vfio/%d' % self.host.iommu_group(gpu), cdi)
        self.assertIn('path: /dev/iommu', cdi)
        self.unbind([])
        self.assertEqual(self.gpu(gpu)['VfioCdev'], '')
        self.assertFalse(os.path.exists(self.cdi_path))

    def test_busy(self):
        gpus = self.host.gpus()
        # A bind under way: every other mutating call is Busy, reads answer.
        pending = self.start_slow_bind(gpus[1])
        self.assert_dbus_error(ERROR + 'Busy', self.bind, [])
        self.assert_dbus_error(ERROR + 'Busy', self.unbind, [])
        self.assert_dbus_error(ERROR + 'Busy', self.set_mode, 'on')
        self.assertEqual(self.gpu(gpus[0])['Address'], gpus[0])
        self.wait_reply(pending)
        self.assertNotIn('error', pending, pending.get('error'))
        self.assertEqual([self.host.driver(g) for g in gpus], ['vfio-pci'] * 2)
        self.unbind([])
        self.assert_original()

    def test_busy_during_mode_switch(self):
        self.restart_on_host(['--gpus', '2', '--audio', '--boot-ms', '1500', '--tee', 'tdx'])
        pending = self.set_mode_async('on')
        self.wait_manager('ModeState', 'switching', timeout=30)
        self.assertFalse(pending['done'])
        msg = self.assert_dbus_error(ERROR + 'Busy', self.bind, [])
        self.assertIn('mode on', msg)
        self.assert_dbus_error(ERROR + 'Busy', self.call, gpu_path(self.host.gpus()[0]), GPU_IFACE, 'UnbindVfio')
        self.assertFalse(os.path.exists(self.record_path))
        self.wait_reply(pending)
        self.assertNotIn('error', pending, pending.get('error'))
        self.bind([])
        self.assertEqual(self.host.driver(self.host.gpus()[0]), 'vfio-pci')

    def test_killed_mid_bind_restart(self):
        gpus = self.host.gpus()
        pending = self.start_slow_bind(gpus[1])
        self.kill_daemon(signal.SIGKILL)
        self.assertFalse(pending['done'] and 'reply' in pending, 'the bind was not interrupted')
        # Half done: the first group bound, the second GPU taken from nvidia.
        self.assertEqual(self.host.driver(gpus[0]), 'vfio-pci')
        self.assertIsNone(self.host.driver(gpus[1]))
        record = harness.keyfile_read(self.record_path)
        self.assertEqual(record['Device %s' % gpus[1]]['State'], 'binding')
        self.write_attr(gpus[1], 'sim_bind_delay_ms', '0')

        self.start_daemon()
        self.assert_original()
        with open(self.daemon_log) as f:
            self.assertIn('was interrupted', f.read())
        # And it works again.
        self.bind([])
        self.assertEqual([self.host.driver(g) for g in gpus], ['vfio-pci'] * 2)

    def test_restart_keeps_bindings(self):
        gpu = self.host.gpus()[0]
        self.bind([gpu])
        self.assertEqual(self.kill_daemon(signal.SIGTERM), 0)
        self.start_daemon()
        self.assertEqual(self.gpu(gpu)['Driver'], 'vfio-pci')
        self.assertIn('name: "%d"' % self.host.iommu_group(gpu), self.cdi_text())
        # The record survived: the unbind gives the audio function back to
        # snd_hda_intel, not to whatever the kernel would pick.
        self.unbind([])
        self.assert_original()


if __name__ == '__main__':
    harness.main()
