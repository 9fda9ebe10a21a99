#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# Failures and recovery: a daemon killed in the middle of a switch finishes
# it at the next start; injected hardware faults give the documented errors
# and state; a GPU left half-switched is repaired by the next SetMode.

import os
import select
import signal
import time

import harness
from harness import ERROR, MANAGER_IFACE, MANAGER_PATH, Inotify

INTENT = 'mode-switch.intent'
CCM, CCD = 8, 6


class RecoveryTest(harness.ServiceTestCase):
    HOST_ARGS = ['--gpus', '8', '--boot-ms', '1500', '--tee', 'tdx']

    @property
    def intent_path(self):
        return os.path.join(self.state_dir, INTENT)

    def wait_inotify(self, ino, pred, timeout, what):
        '''Checks pred() after each inotify event (the watch predates the
        first check, so no event is lost).'''
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail('timed out after %g s waiting for %s' % (timeout, what))
            fds = [ino.fd]
            if self.daemon is not None and self.daemon.alive():
                fds.append(self.daemon.pidfd)
            r, _, _ = select.select(fds, [], [], left)
            if ino.fd in r:
                ino.drain()
            elif r:
                if pred():
                    return
                self.fail('nvidia-ccd exited (%s) while waiting for %s'
                          % (harness.describe_status(self.daemon.returncode()), what))

    def wait_for_intent(self):
        ino = Inotify()
        try:
            ino.watch(self.state_dir, Inotify.IN_CLOSE_WRITE | Inotify.IN_MOVED_TO)
            self.wait_inotify(ino, lambda: os.path.exists(self.intent_path), 30,
                              'the intent file %s' % self.intent_path)
        finally:
            ino.close()

    def wait_for_reset(self, before):
        '''Waits until some GPU's simulator records a reset after before
        ({bdf: ResetAtUs}).'''
        ino = Inotify()

        def reset_seen():
            for bdf, t in before.items():
                try:
                    if self.host.gpusim(bdf)['State']['ResetAtUs'] != t:
                        return True
                except (FileNotFoundError, KeyError):
                    continue
            return False
        try:
            for bdf in before:
                ino.watch(self.host.dev_dir(bdf), Inotify.IN_CLOSE_WRITE | Inotify.IN_MOVED_TO)
            self.wait_inotify(ino, reset_seen, 30, 'a GPU reset')
        finally:
            ino.close()

    def reset_times(self):
        return {bdf: self.host.gpusim(bdf)['State']['ResetAtUs'] for bdf in self.host.gpus()}

    def assert_recovered(self, mode):
        self.start_daemon()
        self.wait_manager('ModeState', 'idle', timeout=60)
        manager = self.manager()
        self.assertEqual((manager['Mode'], manager['ModeState'], manager['LastError']), (mode, 'idle', ''))
        self.assertFalse(os.path.exists(self.intent_path), 'the intent file is removed when the switch is done')
        for bdf in self.host.gpus():
            props = self.gpu(bdf)
            self.assertEqual((props['CcMode'], props['Driver']), (mode, 'nvidia'), bdf)
            self.assertEqual(self.host.active_knobs(bdf).get(CCM, 0), 1 if mode == 'on' else 0, bdf)
        self.assert_drivers(self.host.gpus())

    def test_restart_after_kill_at_intent(self):
        self.assertFalse(os.path.exists(self.intent_path))
        pending = self.set_mode_async('on')
        self.wait_for_intent()
        self.kill_daemon()
        self.assertFalse(pending['done'] and 'reply' in pending, 'the switch was not interrupted')
        self.assertTrue(os.path.exists(self.intent_path))
        self.assert_recovered('on')

    def test_restart_after_kill_during_reset(self):
        before = self.reset_times()
        pending = self.set_mode_async('on')
        self.wait_for_intent()
        self.wait_for_reset(before)
        self.kill_daemon()
        self.assertFalse(pending['done'] and 'reply' in pending, 'the switch was not interrupted')
        self.assertTrue(os.path.exists(self.intent_path))
        # Killed between the reset and the rebind: some GPUs have no driver.
        self.assertIn(None, [self.host.driver(b) for b in self.host.gpus()])
        self.assert_recovered('on')

    def test_fsp_timeout(self):
        self.restart_on_host(['--gpus', '8', '--boot-ms', '50', '--tee', 'tdx'])
        gpus = self.host.gpus()
        bad = gpus[5]
        self.host.gpusim_set(bad, 'Inject', 'FspTimeout', 'response')
        msg = self.assert_dbus_error(ERROR + 'Timeout', self.set_mode, 'on')
        self.assertIn(bad, msg)
        manager = self.manager()
        self.assertEqual(manager['ModeState'], 'failed')
        self.assertIn(bad, manager['LastError'])
        self.assertIn('FSP', manager['LastError'])
        for other in gpus:
            if other != bad:
                self.assertNotIn(other, manager['LastError'])
        # The GPU that failed keeps its mode and gets its driver back.
        self.assertIn(self.gpu(bad)['CcMode'], ('off', 'unknown'))
        self.assertEqual(self.host.active_knobs(bad).get(CCM, 0), 0)
        self.assertNotEqual(manager['Mode'], 'on')
        self.assertEqual(self.host.driver(bad), 'nvidia')
        self.assertFalse(os.path.exists(self.intent_path))
        # The failure event names the device and the kind of error.
        with open(self.daemon_log, errors='replace') as f:
            failed = [l for l in f if 'CC_MODE=on' in l and 'failed' in l]
        self.assertTrue(failed, 'no failure event in the log')
        self.assertIn('CC_ERROR=Timeout', failed[-1])
        self.assertIn('CC_GPU=' + bad, failed[-1])

        # Once the firmware answers again, the same call succeeds and clears
        # the failure.
        start = len(self.signals)
        self.host.gpusim_set(bad, 'Inject', 'FspTimeout', 'none')
        self.set_mode('on')
        manager = self.manager()
        self.assertEqual((manager['Mode'], manager['ModeState'], manager['LastError']), ('on', 'idle', ''))
        self.wait_until(lambda: '' in self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'LastError', start),
                        10, 'PropertiesChanged LastError=""')
        self.assert_drivers(gpus)

    def test_gpu_off_bus(self):
        self.restart_on_host(['--gpus', '8', '--boot-ms', '50', '--tee', 'tdx'])
        gpus = self.host.gpus()
        bad = gpus[2]
        self.host.gpusim_set(bad, 'Inject', 'OffBus', 'true')
        msg = self.assert_dbus_error(ERROR + 'HardwareFailure', self.set_mode, 'on')
        self.assertIn(bad, msg)
        manager = self.manager()
        self.assertEqual(manager['ModeState'], 'failed')
        self.assertIn(bad, manager['LastError'])
        self.assertNotEqual(manager['Mode'], 'on')
        # A single-GPU call on it fails the same way.
        msg = self.assert_dbus_error(ERROR + 'HardwareFailure', self.set_mode, 'on', bdf=bad)
        self.assertIn(bad, msg)
        # A call on a healthy GPU works and clears the failed state.
        self.set_mode('on', bdf=gpus[0])
        manager = self.manager()
        self.assertEqual((manager['ModeState'], manager['LastError']), ('idle', ''))
        self.assertEqual(self.gpu(gpus[0])['CcMode'], 'on')

    def test_stuck_invalid_repaired(self):
        self.assertEqual(self.kill_daemon(signal.SIGTERM), 0)
        self.make_host(['--gpus', '8', '--boot-ms', '50', '--tee', 'tdx'])
        gpus = self.host.gpus()
        stuck = gpus[1]
        # CCM=0 with CCD=1 active is the half-done state 2.
        self.host.set_active_knobs(stuck, {CCM: 0, CCD: 1})
        self.start_daemon()
        self.assertEqual(self.gpu(stuck)['CcMode'], 'invalid')
        self.assertEqual(self.gpu(gpus[0])['CcMode'], 'off')
        self.assertEqual(self.manager()['Mode'], 'unknown')

        self.set_mode('on')
        manager = self.manager()
        self.assertEqual((manager['Mode'], manager['ModeState'], manager['LastError']), ('on', 'idle', ''))
        self.assertEqual(self.gpu(stuck)['CcMode'], 'on')
        knobs = self.host.active_knobs(stuck)
        self.assertEqual((knobs.get(CCM), knobs.get(CCD)), (1, 0))
        self.assert_drivers(gpus)


if __name__ == '__main__':
    harness.main()
