#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# SetMode on the Manager and on Gpu objects: the outcome on the bus and in
# the simulated hardware, argument validation, authorization and the one
# switch at a time rule.

import os
import signal
import time

import harness
from harness import (ACCESS_DENIED, BUS_NAME, ERROR, GPU_IFACE, MANAGER_IFACE, MANAGER_PATH,
                     SET_MODE_ACTION, gpu_path)

# knob ids of docs/hardware.md
CCM, CCD, BAR0_DECOUPLER = 8, 6, 10

# (CcMode, PpcieMode) of a Hopper GPU after each mode, and its CCM/CCD knobs
EXPECTED = {
    'on': ('on', 'off', {CCM: 1, CCD: 0, BAR0_DECOUPLER: 2}),
    'off': ('off', 'off', {CCM: 0, CCD: 0, BAR0_DECOUPLER: 0}),
    'devtools': ('devtools', 'off', {CCM: 1, CCD: 1, BAR0_DECOUPLER: 0}),
    'ppcie': ('off', 'on', {CCM: 0, CCD: 0}),
}

BAD_MODES = ['ON', 'On', '', 'enabled', 'on ', ' on', 'on\n', 'of', 'offf', 'mixed', 'unknown',
             'none', 'invalid', 'switching', 'dev-tools', 'DEVTOOLS', 'ppcie ', 'on;off', 'on\x01']


class ModeTest(harness.ServiceTestCase):
    HOST_ARGS = ['--gpus', '8', '--nvswitches', '4', '--boot-ms', '50', '--tee', 'tdx']

    def assert_all_in_mode(self, mode, switch_drivers):
        cc, ppcie, knobs = EXPECTED[mode]
        manager = self.manager()
        self.assertEqual(manager['Mode'], mode)
        self.assertEqual(manager['ModeState'], 'idle')
        self.assertEqual(manager['LastError'], '')
        for bdf in self.host.gpus():
            props = self.gpu(bdf)
            self.assertEqual((props['CcMode'], props['PpcieMode']), (cc, ppcie), bdf)
            self.assertEqual(props['Driver'], 'nvidia', bdf)
            active = self.host.active_knobs(bdf)
            self.assertEqual({k: active.get(k, 0) for k in knobs}, knobs, '%s active knobs' % bdf)
        self.assert_drivers(self.host.gpus(), 'nvidia')
        for bdf in self.host.nvswitches():
            props = self.gpu(bdf)
            self.assertEqual(props['PpcieMode'], ppcie, bdf)
            self.assertEqual(self.host.driver(bdf), switch_drivers[bdf], bdf)
            self.assertEqual(props['Driver'], switch_drivers[bdf] or '', bdf)

    def test_set_mode_all(self):
        gpus, switches = self.host.gpus(), self.host.nvswitches()
        self.assertEqual((len(gpus), len(switches)), (8, 4))
        switch_drivers = {b: self.host.driver(b) for b in switches}
        self.assertEqual(self.manager()['Mode'], 'off')
        for mode in ('on', 'off', 'devtools', 'ppcie', 'on', 'off'):
            with self.subTest(mode=mode):
                start = len(self.signals)
                self.assertEqual(self.set_mode(mode), ())
                self.assert_all_in_mode(mode, switch_drivers)
                # The change was announced: ModeState went through
                # "switching" back to "idle", and Mode took the new value.
                self.wait_until(lambda: mode in self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'Mode', start),
                                10, 'PropertiesChanged Mode=%s' % mode)
                self.wait_until(lambda: self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'ModeState', start)[-1:]
                                == ['idle'], 10, 'PropertiesChanged ModeState=idle')
                states = self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'ModeState', start)
                self.assertEqual(states[0], 'switching', states)
                # and so did each GPU's CcMode (or PpcieMode)
                for bdf in gpus:
                    self.wait_until(lambda: (self.prop_changes(gpu_path(bdf), GPU_IFACE, 'CcMode', start) +
                                             self.prop_changes(gpu_path(bdf), GPU_IFACE, 'PpcieMode', start)),
                                    10, '%s: PropertiesChanged for its mode' % bdf)

    def test_set_mode_on_kernel_layout(self):
        '''The tree as the kernel lays it out, each GPU behind a root port and
        a PCIe switch: SetMode("on") unbinds, resets and binds back through
        the links.  On such a tree the simulated kernel once dropped the
        writes, and the call failed with "mode is off after reset, expected on".'''
        self.restart_on_host(['--gpus', '8', '--bridges', '--boot-ms', '50', '--tee', 'tdx'])
        gpus = self.host.gpus()
        self.assertEqual(len(gpus), 8)
        before = {}
        for bdf in gpus:
            bus = int(bdf.split(':')[1], 16)
            path = ['sys/devices/pci0000:%02x' % (bus - 3), '0000:%02x:01.0' % (bus - 3),
                    '0000:%02x:00.0' % (bus - 2), '0000:%02x:00.0' % (bus - 1), bdf]
            self.assertTrue(os.path.islink(self.host.dev_dir(bdf)), bdf)
            self.assertEqual(os.path.relpath(self.host.real_dir(bdf), self.host.root), '/'.join(path))
            self.assertEqual(os.readlink(os.path.join(self.host.dev_dir(bdf), 'driver')),
                             '../../../../../../bus/pci/drivers/nvidia')
            before[bdf] = self.host.gpusim(bdf)['State'].get('ResetAtUs')
        self.assertEqual(self.set_mode('on'), ())
        manager = self.manager()
        self.assertEqual((manager['Mode'], manager['ModeState'], manager['LastError']), ('on', 'idle', ''))
        for bdf in gpus:
            self.assertEqual(self.gpu(bdf)['CcMode'], 'on', bdf)
            self.assertEqual(self.host.active_knobs(bdf).get(CCM), 1, bdf)
            self.assertNotEqual(self.host.gpusim(bdf)['State'].get('ResetAtUs'), before[bdf], bdf)
        self.assert_drivers(gpus, 'nvidia')

    def test_set_mode_on_snapshot(self):
        '''The GPU of each real host's snapshot as a fake host, with no
        simulator state, as a tree made by hand: its state is made from its
        device id, and SetMode("on") then "off" go through.'''
        for name, device_id in (('h100-sxm5-host.txt', 0x2330), ('h200-sxm-host.txt', 0x2335)):
            with self.subTest(snapshot=name):
                fixture = os.path.join(self.srcdir, 'tests/fixtures', name)
                self.restart_on_host(['--gpus', '0', '--fixture', fixture, '--fixture-no-gpusim',
                                      '--tee', 'tdx'])
                self.assertEqual(self.host.gpus(), ['0000:00:06.0'])
                self.assertEqual(os.readlink(self.host.dev_dir('0000:00:06.0')),
                                 '../../../devices/pci0000:00/0000:00:06.0')
                props = self.gpu('0000:00:06.0')
                self.assertEqual((props['DeviceId'], props['CcCapable'], props['CcMode'], props['Driver']),
                                 (device_id, True, 'off', 'nvidia'))
                for mode in ('on', 'off'):
                    self.assertEqual(self.set_mode(mode), ())
                    self.assertEqual(self.gpu('0000:00:06.0')['CcMode'], mode)
                    self.assertEqual(self.manager()['Mode'], mode)
                self.assertEqual(self.host.gpusim('0000:00:06.0')['Device']['Model'], 'hopper')
                self.assert_drivers(['0000:00:06.0'], 'nvidia')

    def test_set_mode_one_gpu(self):
        gpus = self.host.gpus()
        target = gpus[3]
        others = [b for b in gpus if b != target]
        before = self.host.snapshot()
        self.assertEqual(self.set_mode('on', bdf=target), ())
        self.assertEqual(self.gpu(target)['CcMode'], 'on')
        self.assertEqual(self.host.active_knobs(target).get(CCM), 1)
        self.assertEqual(self.host.driver(target), 'nvidia')
        after = self.host.snapshot()
        for bdf in others:
            self.assertEqual(self.gpu(bdf)['CcMode'], 'off', bdf)
            self.assertEqual(after['gpusim'][bdf], before['gpusim'][bdf], '%s gpusim.ini untouched' % bdf)
        self.assertEqual(after['drivers'], before['drivers'])
        manager = self.manager()
        self.assertEqual(manager['Mode'], 'mixed')
        self.assertEqual(manager['ModeState'], 'idle')
        # The Manager then brings the rest along.
        self.set_mode('on')
        self.assertEqual(self.manager()['Mode'], 'on')
        self.assertEqual({self.gpu(b)['CcMode'] for b in gpus}, {'on'})
        # Back to off on that one GPU.
        self.set_mode('off', bdf=target)
        self.assertEqual(self.gpu(target)['CcMode'], 'off')
        self.assertEqual(self.manager()['Mode'], 'mixed')

    def test_set_mode_same_mode_is_noop(self):
        before = self.host.snapshot()
        self.set_mode('off')
        self.assertEqual(self.host.snapshot(), before, 'a GPU already off was touched')
        self.set_mode('on')
        before = self.host.snapshot()
        self.set_mode('on')
        self.assertEqual(self.host.snapshot(), before, 'a GPU already on was touched')
        self.assertEqual(self.manager()['ModeState'], 'idle')

    def assert_nothing_changes(self, action):
        before_host = self.host.snapshot()
        before_mgr = self.manager()
        before_gpus = {b: self.gpu(b) for b in self.host.gpus()}
        self.sync_daemon()
        start = len(self.signals)
        action()
        self.assertEqual(self.host.snapshot(), before_host)
        self.assertEqual(self.manager(), before_mgr)
        self.assertEqual({b: self.gpu(b) for b in self.host.gpus()}, before_gpus)
        self.sync_daemon()
        changed = [s for s in self.signals_named('PropertiesChanged', start)]
        self.assertEqual(changed, [], 'properties changed')

    def test_bad_mode_rejected(self):
        gpu = self.host.gpus()[0]

        def try_all():
            for mode in BAD_MODES:
                with self.subTest(mode=mode):
                    msg = self.assert_dbus_error(ERROR + 'InvalidArgument', self.set_mode, mode)
                    self.assertTrue(msg, 'the error has a message')
                    self.assert_dbus_error(ERROR + 'InvalidArgument', self.set_mode, mode, bdf=gpu)
            # wrong signature
            self.assert_dbus_error('org.freedesktop.DBus.Error.InvalidArgs', self.call,
                                   MANAGER_PATH, MANAGER_IFACE, 'SetMode', 'u', (1,))
            self.assert_dbus_error('org.freedesktop.DBus.Error.InvalidArgs', self.call,
                                   MANAGER_PATH, MANAGER_IFACE, 'SetMode', 'ss', ('on', 'on'))
        self.assert_nothing_changes(try_all)

        # Also when the GPUs are not off.
        self.set_mode('devtools')
        self.assert_nothing_changes(try_all)

    def test_gpu_refuses_ppcie(self):
        gpu = self.host.gpus()[0]
        switch = self.host.nvswitches()[0]

        def try_ppcie():
            msg = self.assert_dbus_error(ERROR + 'InvalidArgument', self.set_mode, 'ppcie', bdf=gpu)
            self.assertIn('ppcie', msg.lower())
            self.assert_dbus_error(ERROR + 'InvalidArgument', self.set_mode, 'ppcie', bdf=switch)
            # An NVSwitch has no CC mode of its own.
            self.assert_dbus_error(ERROR + 'NotCapable', self.set_mode, 'on', bdf=switch)
            # A device that is not there
            self.assert_dbus_error('org.freedesktop.DBus.Error.UnknownObject', self.set_mode,
                                   'on', bdf='0000:ff:1f.7')
        self.assert_nothing_changes(try_ppcie)

    def gdbus_set_mode(self, mode):
        return self.run_as_nobody(['gdbus', 'call', '--system', '--timeout', '60',
                                   '--dest', BUS_NAME, '--object-path', MANAGER_PATH,
                                   '--method', MANAGER_IFACE + '.SetMode', "'%s'" % mode])

    def test_unauthorized_caller(self):
        gpu = self.host.gpus()[0]

        def denied():
            r = self.gdbus_set_mode('on')
            self.assertNotEqual(r.returncode, 0)
            self.assertIn('GDBus.Error:' + ACCESS_DENIED, r.stderr)
            r = self.run_as_nobody(['gdbus', 'call', '--system', '--dest', BUS_NAME,
                                    '--object-path', gpu_path(gpu),
                                    '--method', GPU_IFACE + '.SetMode', "'on'"])
            self.assertIn('GDBus.Error:' + ACCESS_DENIED, r.stderr)
            r = self.run_as_nobody(['gdbus', 'call', '--system', '--dest', BUS_NAME,
                                    '--object-path', MANAGER_PATH, '--method', MANAGER_IFACE + '.Rescan'])
            self.assertIn('GDBus.Error:' + ACCESS_DENIED, r.stderr)
            r = self.run_as_nobody(['busctl', '--system', 'call', BUS_NAME, MANAGER_PATH,
                                    MANAGER_IFACE, 'SetMode', 's', 'on'])
            self.assertNotEqual(r.returncode, 0)
        self.assert_nothing_changes(denied)

        # Reading needs no authorization.
        r = self.run_as_nobody(['busctl', '--system', 'get-property', BUS_NAME, MANAGER_PATH,
                                MANAGER_IFACE, 'Mode'])
        self.assertEqual((r.returncode, r.stdout.strip()), (0, 's "off"'), r.stderr)

        # Allowing another action does not help.
        self.polkit_set_allowed(['org.nvidia.ConfidentialCompute.manage-vfio'])
        self.assert_nothing_changes(lambda: self.assertIn(ACCESS_DENIED, self.gdbus_set_mode('on').stderr))

        # A bad argument from an unauthorized caller is still denied (or
        # refused), never applied.
        self.polkit_set_allowed([])
        r = self.gdbus_set_mode('ON')
        self.assertNotEqual(r.returncode, 0)

        self.polkit_set_allowed([SET_MODE_ACTION])
        r = self.gdbus_set_mode('on')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), '()')
        manager = self.manager()
        self.assertEqual((manager['Mode'], manager['ModeState']), ('on', 'idle'))
        self.assert_drivers(self.host.gpus())
        r = self.gdbus_set_mode('bogus')
        self.assertIn('GDBus.Error:' + ERROR + 'InvalidArgument', r.stderr)

    def test_no_polkit_means_denied(self):
        self.polkit.expected_exit = True
        self.polkit.signal(signal.SIGTERM)
        self.polkit.wait(30)
        self.wait_until(lambda: not self.name_has_owner(harness.POLKIT_NAME), 30, 'polkitd to leave the bus')

        def denied():
            r = self.gdbus_set_mode('on')
            self.assertIn('GDBus.Error:' + ACCESS_DENIED, r.stderr)
            self.assertIn('polkit is not available', r.stderr)
        self.assert_nothing_changes(denied)

        # Root needs no polkit.
        self.set_mode('on')
        self.assertEqual(self.manager()['Mode'], 'on')

    def start_slow_switch(self, mode='on'):
        '''Starts SetMode(mode) on a host whose GPUs boot in 1.5 s and returns
        once ModeState reads "switching".'''
        pending = self.set_mode_async(mode)
        self.wait_manager('ModeState', 'switching', timeout=30)
        self.assertFalse(pending['done'], 'the switch finished before it could be observed: %r' % pending)
        return pending

    def test_concurrent_call_busy(self):
        self.restart_on_host(['--gpus', '8', '--boot-ms', '1500', '--tee', 'tdx'])
        gpu = self.host.gpus()[0]
        pending = self.start_slow_switch('on')
        self.assert_dbus_error(ERROR + 'Busy', self.set_mode, 'off')
        self.assert_dbus_error(ERROR + 'Busy', self.set_mode, 'on')
        self.assert_dbus_error(ERROR + 'Busy', self.set_mode, 'devtools', bdf=gpu)
        self.assert_dbus_error(ERROR + 'Busy', self.call, MANAGER_PATH, MANAGER_IFACE, 'Rescan')
        # Validation comes first: a bad mode is InvalidArgument even now.
        self.assert_dbus_error(ERROR + 'InvalidArgument', self.set_mode, 'bogus')
        self.wait_reply(pending)
        self.assertNotIn('error', pending, pending.get('error'))
        manager = self.manager()
        self.assertEqual((manager['Mode'], manager['ModeState'], manager['LastError']), ('on', 'idle', ''))
        self.assert_drivers(self.host.gpus())
        # Not busy any more.
        self.set_mode('off')
        self.assertEqual(self.manager()['Mode'], 'off')

    def test_sigterm_during_switch(self):
        '''SIGTERM while a switch runs: the switch finishes, its caller gets
        the reply, and only then does the daemon exit, with status 0.'''
        self.restart_on_host(['--gpus', '2', '--boot-ms', '1500', '--tee', 'tdx'])
        pending = self.start_slow_switch('on')
        d = self.daemon
        d.expected_exit = True
        d.signal(signal.SIGTERM)
        # A daemon that exited first would leave the call with NoReply.
        self.wait_reply(pending)
        self.assertNotIn('error', pending, pending.get('error'))
        self.assertEqual(d.wait(60), 0, 'exit status after SIGTERM')
        self.daemons.append(d)
        self.daemon = None
        self.assert_drivers(self.host.gpus())
        # The switch ended: nothing is left for the next start to finish.
        self.assertFalse(os.path.exists(os.path.join(self.state_dir, 'mode-switch.intent')))

    def test_properties_during_switch(self):
        self.restart_on_host(['--gpus', '8', '--boot-ms', '1500', '--tee', 'tdx'])
        gpu = self.host.gpus()[0]
        pending = self.start_slow_switch('on')
        # Reads are answered while the switch runs: the daemon reports
        # "switching" in them, which it can only do before the switch ends.
        for _ in range(5):
            t0 = time.monotonic()
            manager = self.manager()
            props = self.gpu(gpu)
            objects = self.managed_objects()
            elapsed = time.monotonic() - t0
            self.assertEqual(manager['ModeState'], 'switching')
            self.assertEqual(objects[gpu_path(gpu)][GPU_IFACE]['Address'], gpu)
            self.assertEqual(props['Address'], gpu)
            self.assertLess(elapsed, 1.5, 'three reads took longer than a GPU boot')
        self.wait_reply(pending)
        self.assertNotIn('error', pending)
        self.assertEqual(self.manager()['ModeState'], 'idle')


if __name__ == '__main__':
    harness.main()
