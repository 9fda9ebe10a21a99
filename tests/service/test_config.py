#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# The configuration file: the default mode applied at start, its fallback to
# "off" on a host without a TEE, and a bad value refused at start.  The
# command line: --simulate refused on the real root.

import os
import signal
import subprocess

import harness
from harness import MANAGER_IFACE, MANAGER_PATH

CCM = 8


class ConfigTest(harness.ServiceTestCase):
    AUTO_START = False

    def test_default_mode_applied_at_start(self):
        self.make_host(['--gpus', '8', '--boot-ms', '50', '--tee', 'tdx', '--mode', 'off'])
        start = len(self.signals)
        self.start_daemon('[Mode]\nDefault=on\n')
        manager = self.manager()
        self.assertEqual((manager['DefaultMode'], manager['HostTee']), ('on', 'tdx'))
        # No call was made: the daemon switches on its own and says so.
        self.wait_until(lambda: 'on' in self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'Mode', start),
                        60, 'PropertiesChanged Mode=on')
        # The signal, not just the value: a late one must not be taken for
        # the restarted daemon's.
        self.wait_until(lambda: 'idle' in self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'ModeState', start),
                        60, 'PropertiesChanged ModeState=idle')
        manager = self.manager()
        self.assertEqual((manager['Mode'], manager['LastError']), ('on', ''))
        for bdf in self.host.gpus():
            self.assertEqual(self.gpu(bdf)['CcMode'], 'on', bdf)
            self.assertEqual(self.host.active_knobs(bdf).get(CCM), 1, bdf)
        self.assert_drivers(self.host.gpus())

        # A restart finds the GPUs in the default mode and leaves them alone.
        self.assertEqual(self.kill_daemon(signal.SIGTERM), 0)
        before = self.host.snapshot()
        start = len(self.signals)
        self.start_daemon('[Mode]\nDefault=on\n')
        manager = self.manager()
        self.assertEqual((manager['Mode'], manager['ModeState']), ('on', 'idle'))
        self.assertEqual(self.host.snapshot(), before, 'GPUs already in the default mode were touched')
        self.sync_daemon()
        self.assertEqual(self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'ModeState', start), [])

    def start_and_watch_readiness(self, config):
        '''Starts the daemon; returns once it owns its name, with the
        notifications sent so far.'''
        self.start_daemon(config, keep_notify=True)
        self.wait_until(lambda: self.name_has_owner(harness.BUS_NAME), harness.START_TIMEOUT,
                        'nvidia-ccd on the bus', watch=[self.daemon])
        return self.notify_messages()

    def wait_ready_sent(self, sent):
        '''Waits for READY=1; returns every notification, in order.'''
        while not any('READY=1' in m.split('\n') for m in sent):
            self.wait_fd(self.notify_sock.fileno(), 60, 'READY=1 from nvidia-ccd')
            sent += self.notify_messages()
        return sent

    def test_ready_after_default_mode(self):
        # Slow boots, so that the switch is seen running.
        self.make_host(['--gpus', '4', '--boot-ms', '1500', '--tee', 'tdx', '--mode', 'off'])
        sent = self.start_and_watch_readiness('[Mode]\nDefault=on\n')
        # On the bus, switching, reads answered; not ready yet.
        manager = self.manager()
        self.assertEqual((manager['ModeState'], manager['Mode']), ('switching', 'off'))
        sent += self.notify_messages()
        self.assertNotIn('READY=1', '\n'.join(sent).split('\n'), 'READY=1 before the default mode was applied')
        self.assertIn('STATUS=Applying the default mode on: switching 4 devices', '\n'.join(sent).split('\n'))
        # Other changes wait: Busy.
        self.assert_dbus_error(harness.ERROR + 'Busy', self.set_mode, 'off')

        sent = self.wait_ready_sent(sent)
        # READY=1 comes with every GPU in the mode, and after the status
        # saying so.
        manager = self.manager()
        self.assertEqual((manager['ModeState'], manager['Mode'], manager['LastError']), ('idle', 'on', ''))
        for bdf in self.host.gpus():
            self.assertEqual(self.host.active_knobs(bdf).get(CCM), 1, bdf)
        lines = '\n'.join(sent).split('\n')
        self.assertLess(lines.index('STATUS=Mode on set on 4 devices'), lines.index('READY=1'))

    def test_ready_after_failed_default_mode(self):
        self.make_host(['--gpus', '4', '--boot-ms', '50', '--tee', 'tdx', '--mode', 'off'])
        bad = self.host.gpus()[1]
        self.host.gpusim_set(bad, 'Inject', 'OffBus', 'true')
        sent = self.wait_ready_sent(self.start_and_watch_readiness('[Mode]\nDefault=on\n'))
        # Ready all the same (a failed start would only be retried, with
        # more resets); the failure is in the properties and the status.
        manager = self.manager()
        self.assertEqual(manager['ModeState'], 'failed')
        self.assertIn(bad, manager['LastError'])
        status = [l for m in sent for l in m.split('\n') if l.startswith('STATUS=')]
        self.assertTrue(status[-1].startswith('STATUS=Switch to mode on failed: '), status)
        self.assertTrue(self.daemon.alive())

    def test_ready_at_once_without_switch(self):
        self.make_host(['--gpus', '2', '--boot-ms', '50', '--tee', 'tdx', '--mode', 'on'])
        sent = self.wait_ready_sent(self.start_and_watch_readiness('[Mode]\nDefault=on\n'))
        self.assertIn('READY=1\nSTATUS=Managing 2 devices', sent)
        self.assertEqual(self.manager()['ModeState'], 'idle')

    def test_default_mode_falls_back_without_tee(self):
        # GPUs left on by someone; on is configured, but the host has no TEE.
        self.make_host(['--gpus', '8', '--boot-ms', '50', '--tee', 'none', '--mode', 'on'])
        start = len(self.signals)
        self.start_daemon('[Mode]\nDefault=on\n')
        manager = self.manager()
        self.assertEqual((manager['DefaultMode'], manager['HostTee']), ('off', 'none'))
        self.wait_until(lambda: 'off' in self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'Mode', start),
                        60, 'PropertiesChanged Mode=off')
        self.wait_manager('ModeState', 'idle')
        self.assertEqual(self.manager()['Mode'], 'off')
        for bdf in self.host.gpus():
            self.assertEqual(self.gpu(bdf)['CcMode'], 'off', bdf)
            self.assertEqual(self.host.active_knobs(bdf).get(CCM), 0, bdf)
        self.assert_drivers(self.host.gpus())

        # devtools falls back the same way; ppcie is kept.
        self.assertEqual(self.kill_daemon(signal.SIGTERM), 0)
        self.start_daemon('[Mode]\nDefault=devtools\n')
        self.assertEqual(self.get(MANAGER_PATH, MANAGER_IFACE, 'DefaultMode'), 'off')
        self.assertEqual(self.kill_daemon(signal.SIGTERM), 0)
        self.start_daemon('[Mode]\nDefault=off\n')
        self.assertEqual(self.get(MANAGER_PATH, MANAGER_IFACE, 'DefaultMode'), 'off')

    def test_no_default_leaves_gpus_alone(self):
        self.make_host(['--gpus', '8', '--boot-ms', '50', '--tee', 'none', '--mode', 'on'])
        before = self.host.snapshot()
        start = len(self.signals)
        self.start_daemon('')
        manager = self.manager()
        self.assertEqual((manager['DefaultMode'], manager['Mode'], manager['ModeState']), ('', 'on', 'idle'))
        self.assertEqual(self.host.snapshot(), before)
        self.sync_daemon()
        self.assertEqual(self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'ModeState', start), [])

    def test_bad_config_refused(self):
        self.make_host(['--gpus', '2', '--boot-ms', '50', '--tee', 'tdx'])
        self.start_daemon('[Mode]\nDefault=enabled\n', wait_ready=False)
        rc = self.daemon.wait(60)
        self.daemon.expected_exit = True
        self.assertNotEqual(rc, 0)
        self.assertGreater(rc, 0, 'a clean exit, not a crash')
        with open(self.daemon_log) as f:
            log = f.read()
        self.assertIn('Default', log)
        self.assertIn('enabled', log)
        self.assertFalse(self.name_has_owner(harness.BUS_NAME))

    def test_simulate_refuses_real_root(self):
        '''--simulate plays the kernel by writing into the tree: on the real
        root that would be the kernel's own /sys.  Refused before anything
        is read or written, with an error that says why.'''
        config = self.write_config('')
        env = self.client_env()
        env['STATE_DIRECTORY'] = self.state_dir
        for root_args in ([], ['--sysfs-root', '/'], ['--sysfs-root', '/tmp/..']):
            with self.subTest(root=root_args):
                args = self.wrapper + [self.daemon_bin, '--bus', self.bus_address, '--simulate',
                                       '--log-target', 'console', '--config', config] + root_args
                r = subprocess.run(args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, timeout=60)
                self.assertGreater(r.returncode, 0, r.stdout)
                self.assertIn('--simulate', r.stdout)
                self.assertIn('--sysfs-root', r.stdout)
                self.assertFalse(self.name_has_owner(harness.BUS_NAME))
        self.assertEqual(os.listdir(self.state_dir), [])


if __name__ == '__main__':
    harness.main()
