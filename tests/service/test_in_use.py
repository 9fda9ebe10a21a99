#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# A GPU in use is never unbound: SetMode, BindVfio and UnbindVfio refuse
# with Busy, naming each process that holds a device they would take from
# its driver, and touch nothing.  A write to unbind that blocks anyway (a
# holder that came after the check; here the simulated kernel's
# sim_unbind_fifo) ends the operation with Timeout after
# [Devices] SysfsWriteTimeoutSec, with the bus answering throughout.

import os
import re
import time

import harness
from harness import ERROR, GPU_IFACE, MANAGER_IFACE, MANAGER_PATH, gpu_path

TIMEOUT_CONFIG = '[Devices]\nSysfsWriteTimeoutSec=1\n'


class InUseTest(harness.ServiceTestCase):
    HOST_ARGS = ['--gpus', '4', '--audio', '--boot-ms', '50', '--tee', 'tdx']

    def bind(self, addresses=()):
        return self.call(MANAGER_PATH, MANAGER_IFACE, 'BindVfio', 'as', (list(addresses),))

    def unbind(self, addresses=()):
        return self.call(MANAGER_PATH, MANAGER_IFACE, 'UnbindVfio', 'as', (list(addresses),))

    def assert_refused(self, expected, func, *args):
        '''func fails with Busy and exactly the message expected, and leaves
        the fake tree, the state directory, the properties and the signals
        as they were.'''
        before = self.snapshot_all()
        before_gpus = {b: self.gpu(b) for b in self.host.gpus()}
        before_mode = self.manager()['Mode']
        self.sync_daemon()
        start = len(self.signals)
        t0 = time.monotonic()
        msg = self.assert_dbus_error(ERROR + 'Busy', func, *args)
        elapsed = time.monotonic() - t0
        self.assertEqual(msg, expected)
        self.assertEqual(self.snapshot_all(), before, 'a refused call changed the tree or the state directory')
        self.assertEqual({b: self.gpu(b) for b in self.host.gpus()}, before_gpus)
        self.assertEqual(self.manager()['Mode'], before_mode)
        self.sync_daemon()
        changed = {(s[1], tuple(sorted(s[4][1]))) for s in self.signals_named('PropertiesChanged', start)
                   if s[1] != MANAGER_PATH}
        self.assertEqual(changed, set(), 'device properties changed')
        return elapsed

    def test_set_mode_refused_when_held(self):
        gpus = self.host.gpus()
        self.host.hold_gpu(1234, 'nvidia-persistenced', gpus[1])
        self.host.hold_gpu(5678, 'python3', gpus[1])
        self.host.hold_gpu(5678, 'python3', gpus[1])  # a second fd of the same process
        expected = '%s is in use by nvidia-persistenced (pid 1234) and python3 (pid 5678)' % gpus[1]
        self.assert_refused(expected, self.set_mode, 'on')
        manager = self.manager()
        self.assertEqual((manager['Mode'], manager['ModeState'], manager['LastError']), ('off', 'idle', expected))
        self.assertIn('Switch to mode on refused, nothing changed: ' + expected, self.daemon_log_text())

        # Every device held is named, in address order.
        self.host.hold_gpu(4321, 'dcgm', gpus[3])
        self.assert_refused(expected + '; %s is in use by dcgm (pid 4321)' % gpus[3], self.set_mode, 'devtools')
        self.host.remove_holder(4321)

        # The device alone through its Gpu object, and another one that
        # nobody holds, which switches.
        self.assert_refused(expected, self.set_mode, 'on', gpus[1])
        self.set_mode('on', gpus[0])
        self.assertEqual(self.gpu(gpus[0])['CcMode'], 'on')
        self.assertEqual(self.host.driver(gpus[0]), 'nvidia')
        self.assertEqual(self.manager()['LastError'], '')

        # A holder of a GPU already in the mode does not matter: that GPU
        # is not unbound.
        self.host.hold_gpu(999, 'cuda-job', gpus[0])
        self.host.remove_holder(1234)
        self.host.remove_holder(5678)
        self.set_mode('on')
        self.assertEqual(self.manager()['Mode'], 'on')
        self.assert_drivers(gpus, 'nvidia')

    def test_bind_vfio_refused_when_held(self):
        gpus = self.host.gpus()
        self.host.hold_gpu(5678, 'python3', gpus[2])
        expected = '%s is in use by python3 (pid 5678)' % gpus[2]
        self.assert_refused(expected, self.bind)
        self.assert_refused(expected, self.bind, [gpus[2]])
        self.assertIn('VFIO bind refused, nothing changed: ' + expected, self.daemon_log_text())
        # Another group binds.
        self.bind([gpus[0]])
        self.assertEqual(self.host.driver(gpus[0]), 'vfio-pci')
        self.assertEqual(self.host.driver(gpus[2]), 'nvidia')

    def test_unbind_vfio_refused_when_vm_holds_group(self):
        gpu = self.host.gpus()[0]
        audio = gpu[:-1] + '1'
        group = self.host.iommu_group(gpu)
        self.bind([gpu])
        self.host.add_holder(4242, 'qemu-system-x86', '/dev/vfio/%d' % group)
        who = 'qemu-system-x86 (pid 4242)'
        self.assert_refused('%s is in use by %s; %s is in use by %s' % (gpu, who, audio, who), self.unbind, [gpu])
        self.assertEqual(self.host.driver(gpu), 'vfio-pci')
        # The VM is gone: the group goes back.
        self.host.remove_holder(4242)
        self.unbind([gpu])
        self.assertEqual((self.host.driver(gpu), self.host.driver(audio)), ('nvidia', 'snd_hda_intel'))

    def stuck_thread(self, log):
        m = re.search(r'Thread (\d+) \(sysfs-write\) is stuck writing "([^"]*)" to (\S+):', log)
        self.assertIsNotNone(m, 'the journal names the stuck thread')
        return int(m.group(1)), m.group(2), m.group(3)

    def test_blocked_unbind_times_out(self):
        self.restart_on_host(self.HOST_ARGS, TIMEOUT_CONFIG)
        gpus = self.host.gpus()
        stuck = gpus[2]
        self.host.block_unbind(stuck)
        before_sim = self.host.gpusim(stuck)

        t0 = time.monotonic()
        pending = self.set_mode_async('on')
        self.wait_manager('ModeState', 'switching', timeout=30)
        # The bus answers while the worker waits on the kernel (and after
        # the reply, below, with the write still blocked).
        t = time.monotonic()
        self.assertEqual(self.manager()['ModeState'], 'switching')
        self.assertEqual(self.gpu(stuck)['Address'], stuck)
        self.assertLess(time.monotonic() - t, 0.5, 'property reads took longer than 0.5 s')
        self.assertFalse(pending['done'])
        self.wait_reply(pending, 30)
        elapsed = pending['at'] - t0
        self.assertIn('error', pending, 'SetMode succeeded with an unbind blocked')
        msg = self.assert_error_is(pending['error'], ERROR + 'Timeout')
        self.assertTrue(msg.startswith('%s: unbind from nvidia did not return within 1 s' % stuck), msg)
        self.assertGreaterEqual(elapsed, 1.0)
        self.assertLess(elapsed, 10.0)

        manager = self.manager()
        self.assertEqual((manager['ModeState'], manager['LastError']), ('failed', msg))
        # The write is still blocked in the (simulated) kernel, on a thread
        # of the daemon that the journal names.
        self.assertTrue(self.host.unbind_blocked(stuck))
        tid, value, path = self.stuck_thread(self.daemon_log_text())
        self.assertEqual(value, stuck)
        self.assertTrue(path.endswith('/sys/bus/pci/devices/%s/driver/unbind' % stuck), path)
        self.assertTrue(os.path.exists('/proc/%d/task/%d' % (self.daemon.pid, tid)), 'thread %d is gone' % tid)
        # The other GPUs are back on their driver, and can be switched.
        for bdf in gpus:
            if bdf != stuck:
                self.assertEqual(self.host.driver(bdf), 'nvidia', bdf)
        self.set_mode('on', gpus[0])
        self.assertEqual(self.gpu(gpus[0])['CcMode'], 'on')
        # The stuck device fails at once instead of blocking one more thread.
        t = time.monotonic()
        msg = self.assert_dbus_error(ERROR + 'Timeout', self.set_mode, 'on', stuck)
        self.assertLess(time.monotonic() - t, 1.0)
        self.assertTrue(msg.startswith('%s: cannot take it from its driver: an earlier write for the device has been '
                                       'blocked in the kernel' % stuck), msg)
        self.assertEqual(self.gpu(stuck)['CcMode'], 'off')
        self.assertEqual(self.host.gpusim(stuck), before_sim, 'the simulator of a device still locked was touched')
        self.assertEqual(self.manager()['ModeState'], 'failed')

        # The holder goes away: the write returns and the device is free.
        self.host.release_unbind(stuck)
        self.wait_log('Thread %d: writing "%s" to %s returned after' % (tid, stuck, path))
        self.assertFalse(os.path.exists(self.host.unbind_fifo(stuck)))
        self.assertIsNone(self.host.driver(stuck), 'the kernel finished the unbind')
        # The next switch binds it to the driver it was taken from.
        self.set_mode('on')
        manager = self.manager()
        self.assertEqual((manager['Mode'], manager['ModeState'], manager['LastError']), ('on', 'idle', ''))
        self.assert_drivers(gpus, 'nvidia')
        self.assertEqual(self.gpu(stuck)['Driver'], 'nvidia')

    def test_blocked_bind_vfio_times_out(self):
        self.restart_on_host(self.HOST_ARGS, TIMEOUT_CONFIG)
        gpus = self.host.gpus()
        self.host.block_unbind(gpus[1])
        t0 = time.monotonic()
        msg = self.assert_dbus_error(ERROR + 'Timeout', self.bind, gpus[:2])
        self.assertLess(time.monotonic() - t0, 10.0)
        self.assertTrue(msg.startswith('%s: unbind from nvidia did not return within 1 s' % gpus[1]), msg)
        # The first group was given back; the stuck device stays as the
        # kernel left it, recorded for the next start.
        self.assertEqual(self.host.driver(gpus[0]), 'nvidia')
        self.assertEqual(self.host.driver(gpus[0][:-1] + '1'), 'snd_hda_intel')
        self.assertEqual(self.manager()['Mode'], 'off')
        self.host.release_unbind(gpus[1])
        self.wait_log('returned after')


if __name__ == '__main__':
    harness.main()
