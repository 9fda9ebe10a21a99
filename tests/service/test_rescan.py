#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# Rescan: devices that appear in or vanish from the PCI tree come and go on
# the bus with InterfacesAdded/InterfacesRemoved.

import os
import signal
import stat

import harness
from harness import (ACCESS_DENIED, ERROR, BUS_NAME, GPU_IFACE, MANAGER_IFACE, MANAGER_PATH, OM_IFACE,
                     SET_MODE_ACTION, gpu_path)

NEW_BDF = '0000:ee:00.0'
CCM, CCD = 8, 6


class RescanTest(harness.ServiceTestCase):

    def rescan(self):
        return self.call(MANAGER_PATH, MANAGER_IFACE, 'Rescan')

    def om_signals(self, member, start):
        return [s[4] for s in self.signals_named(member, start)
                if s[1] == MANAGER_PATH and s[2] == OM_IFACE]

    def gpu_paths(self):
        return sorted(p for p, o in self.managed_objects().items() if GPU_IFACE in o)

    def test_rescan_added_and_removed(self):
        gpus = self.host.gpus()
        self.set_mode('on')

        # Nothing changed: nothing comes or goes.
        start = len(self.signals)
        self.assertEqual(self.rescan(), ())
        self.sync_daemon()
        self.assertEqual(self.om_signals('InterfacesAdded', start), [])
        self.assertEqual(self.om_signals('InterfacesRemoved', start), [])

        # A GPU appears, in CC mode off while the others are on.
        self.host.add_device_copy(gpus[0], NEW_BDF, 900)
        self.host.set_active_knobs(NEW_BDF, {CCM: 0, CCD: 0})
        start = len(self.signals)
        self.rescan()
        self.wait_until(lambda: self.om_signals('InterfacesAdded', start), 10, 'InterfacesAdded')
        added = self.om_signals('InterfacesAdded', start)
        self.assertEqual(len(added), 1, added)
        path, ifaces = added[0]
        self.assertEqual(path, gpu_path(NEW_BDF))
        self.assertIn(GPU_IFACE, ifaces)
        props = ifaces[GPU_IFACE]
        self.assertEqual((props['Address'], props['DeviceId'], props['Kind']), (NEW_BDF, 0x2330, 'gpu'))
        self.assertEqual((props['IommuGroup'], props['GroupMembers']), (900, [NEW_BDF]))
        self.assertEqual((props['Driver'], props['CcMode']), ('nvidia', 'off'))
        self.assertEqual(self.gpu_paths(), sorted(gpu_path(b) for b in gpus + [NEW_BDF]))
        self.assertEqual(self.gpu(NEW_BDF)['Address'], NEW_BDF)
        self.assertEqual(self.manager()['Mode'], 'mixed')

        # SetMode reaches the new GPU.
        self.set_mode('on')
        self.assertEqual(self.gpu(NEW_BDF)['CcMode'], 'on')
        self.assertEqual(self.manager()['Mode'], 'on')

        # Two GPUs vanish.
        gone = [gpus[2], NEW_BDF]
        for bdf in gone:
            self.host.remove_device(bdf)
        start = len(self.signals)
        self.rescan()
        self.wait_until(lambda: len(self.om_signals('InterfacesRemoved', start)) >= 2, 10, 'InterfacesRemoved')
        removed = self.om_signals('InterfacesRemoved', start)
        self.assertEqual(sorted(p for p, _ in removed), sorted(gpu_path(b) for b in gone))
        for path, ifaces in removed:
            self.assertIn(GPU_IFACE, ifaces, path)
        self.assertEqual(self.om_signals('InterfacesAdded', start), [])
        self.assertEqual(self.gpu_paths(), sorted(gpu_path(b) for b in gpus if b not in gone))
        self.assert_dbus_error('org.freedesktop.DBus.Error.UnknownObject', self.gpu, gpus[2])
        self.assertEqual(self.manager()['Mode'], 'on')

    def test_rescan_unauthorized(self):
        gpus = self.host.gpus()
        self.host.add_device_copy(gpus[0], NEW_BDF, 900)
        busctl = ['busctl', '--system', 'call', BUS_NAME, MANAGER_PATH, MANAGER_IFACE, 'Rescan']
        start = len(self.signals)
        r = self.run_as_nobody(['gdbus', 'call', '--system', '--dest', BUS_NAME, '--object-path',
                                MANAGER_PATH, '--method', MANAGER_IFACE + '.Rescan'])
        self.assertIn('GDBus.Error:' + ACCESS_DENIED, r.stderr)
        self.sync_daemon()
        self.assertEqual(self.om_signals('InterfacesAdded', start), [])
        self.assertEqual(len(self.gpu_paths()), 8)

        self.polkit_set_allowed([SET_MODE_ACTION])
        r = self.run_as_nobody(busctl)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_until(lambda: self.om_signals('InterfacesAdded', start), 10, 'InterfacesAdded')
        self.assertEqual(len(self.gpu_paths()), 9)


    def test_rescan_waits_off_the_event_loop(self):
        # An NVML helper that hangs until the test lets it go, once a flag
        # file exists (the start-up scan passes).  The rescan waits for it
        # on a worker: reads are answered, changes get Busy, and the reply
        # comes once the helper gives up.
        gate = os.path.join(self.tmp, 'gate')
        flag = os.path.join(self.tmp, 'hang')
        os.mkfifo(gate)
        helper = os.path.join(self.tmp, 'slow-nvml-helper')
        with open(helper, 'w') as f:
            f.write('#!/bin/sh\nif [ -e "%s" ]; then : > "%s.waiting"; read line < "%s"; fi\nexit 1\n'
                    % (flag, gate, gate))
        os.chmod(helper, stat.S_IRWXU)
        self.assertEqual(self.kill_daemon(signal.SIGTERM), 0)
        self.start_daemon(extra_env={'NVIDIA_CCD_NVML_LIBRARY': harness.env_path('FAKE_NVML_LIBRARY'),
                                     'NVIDIA_CCD_NVML_HELPER': helper})
        open(flag, 'w').close()
        pending = self.call_async(MANAGER_PATH, MANAGER_IFACE, 'Rescan')
        self.wait_until(lambda: os.path.exists(gate + '.waiting'), 10, 'the NVML helper to wait')
        self.assertEqual(self.manager()['ModeState'], 'idle')
        self.assertEqual(len(self.gpu_paths()), 8)
        message = self.assert_dbus_error(ERROR + 'Busy', self.set_mode, 'on')
        self.assertIn('rescan', message)
        self.assertFalse(pending['done'])
        with open(gate, 'w') as f:
            f.write('go\n')
        self.wait_reply(pending)
        self.assertNotIn('error', pending, pending.get('error'))
        self.set_mode('on')
        self.assertEqual(self.manager()['Mode'], 'on')


if __name__ == '__main__':
    harness.main()
