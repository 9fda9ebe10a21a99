#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# nvidia-ccctl against the real daemon: what it prints, its JSON, and its
# exit codes (0 success, 1 failure, 4 access denied).

import json
import os
import re
import signal

import harness
from harness import ERROR, MANAGER_IFACE, MANAGER_PATH, SET_MODE_ACTION


class CtlTest(harness.ServiceTestCase):

    def ctl(self, *args, as_nobody=False, expect=0):
        r = self.run_ccctl(list(args), as_nobody=as_nobody)
        if expect is not None:
            self.assertEqual(r.returncode, expect, 'nvidia-ccctl %s\nstdout:\n%s\nstderr:\n%s'
                             % (' '.join(args), r.stdout, r.stderr))
        return r

    def status_line(self, text, key):
        m = re.search(r'^\s*%s: (.*)$' % re.escape(key), text, re.MULTILINE)
        self.assertIsNotNone(m, 'no "%s:" line in:\n%s' % (key, text))
        return m.group(1)

    def device_lines(self, text):
        '''{bdf: [cells]} of the table rows.'''
        rows = {}
        for line in text.splitlines():
            cells = line.split()
            if cells and re.fullmatch(r'[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]', cells[0]):
                self.assertNotIn(cells[0], rows, 'listed twice')
                rows[cells[0]] = cells
        return rows

    def test_status(self):
        r = self.ctl('status')
        self.assertEqual(r.stderr, '')
        out = r.stdout
        self.assertEqual(self.status_line(out, 'Mode'), 'off')
        self.assertEqual(self.status_line(out, 'Mode state'), 'idle')
        self.assertEqual(self.status_line(out, 'Host TEE'), 'tdx')
        self.assertEqual(self.status_line(out, 'Default mode'), 'none')
        self.assertEqual(self.status_line(out, 'Version'), self.get(MANAGER_PATH, MANAGER_IFACE, 'Version'))
        self.assertNotRegex(out, r'(?m)^\s*Last error:')
        self.assertEqual(sorted(self.device_lines(out)), self.host.gpus())
        # "status" is the default command
        self.assertEqual(self.ctl().stdout, out)

        # A failure shows up in status.
        bad = self.host.gpus()[4]
        self.host.gpusim_set(bad, 'Inject', 'OffBus', 'true')
        self.ctl('set-mode', 'on', expect=1)
        out = self.ctl('status').stdout
        self.assertEqual(self.status_line(out, 'Mode state'), 'failed')
        self.assertIn(bad, self.status_line(out, 'Last error'))

    def test_list(self):
        self.set_mode('on', bdf=self.host.gpus()[6])
        out = self.ctl('list').stdout
        rows = self.device_lines(out)
        self.assertEqual(sorted(rows), self.host.gpus())
        for bdf, cells in rows.items():
            self.assertIn('gpu', cells)
            self.assertIn('hopper', cells)
            self.assertIn('nvidia', cells)
            self.assertIn(str(self.host.iommu_group(bdf)), cells)
            self.assertIn('on' if bdf == self.host.gpus()[6] else 'off', cells)
        on_rows = [b for b, cells in rows.items() if 'on' in cells]
        self.assertEqual(on_rows, [self.host.gpus()[6]])

    def test_json(self):
        status = json.loads(self.ctl('--json', 'status').stdout)
        manager = self.manager()
        for key in ('Version', 'HostTee', 'Mode', 'ModeState', 'CcCapable'):
            self.assertEqual(status[key], manager[key], key)
        self.assertIsNone(status['DefaultMode'])
        self.assertIsNone(status['LastError'])
        devices = status['Devices']
        self.assertEqual([d['Address'] for d in devices], self.host.gpus())
        for d in devices:
            props = self.gpu(d['Address'])
            self.assertEqual(d['DeviceId'], 0x2330)
            self.assertEqual(d['VendorId'], 0x10de)
            self.assertEqual(d['IommuGroup'], self.host.iommu_group(d['Address']))
            self.assertEqual(d['NumaNode'], self.host.numa_node(d['Address']))
            self.assertIsNone(d['VfioDevice'])
            for key in ('Name', 'Kind', 'Architecture', 'CcCapable', 'PpcieCapable', 'CcMode', 'PpcieMode',
                        'Driver', 'GroupMembers'):
                self.assertEqual(d[key], props[key], key)

        listed = json.loads(self.ctl('list', '--json').stdout)
        self.assertEqual(listed, devices)

        self.ctl('set-mode', 'devtools')
        status = json.loads(self.ctl('--json', 'status').stdout)
        self.assertEqual((status['Mode'], status['ModeState']), ('devtools', 'idle'))
        self.assertEqual({d['CcMode'] for d in status['Devices']}, {'devtools'})

    def test_set_mode_on(self):
        r = self.ctl('set-mode', 'on')
        manager = self.manager()
        self.assertEqual((manager['Mode'], manager['ModeState']), ('on', 'idle'))
        self.assert_drivers(self.host.gpus())
        # One GPU, with lspci's short address.
        target = self.host.gpus()[2]
        self.ctl('set-mode', 'off', '--gpu', target[5:])
        self.assertEqual(self.gpu(target)['CcMode'], 'off')
        self.assertEqual(self.manager()['Mode'], 'mixed')
        r = self.ctl('set-mode', 'on', '--gpu', '0000:ff:00.0', expect=1)
        self.assertIn('0000:ff:00.0', r.stderr)

    def test_set_mode_bogus(self):
        before = self.host.snapshot()
        daemon_msg = self.assert_dbus_error(ERROR + 'InvalidArgument', self.set_mode, 'bogus')
        r = self.ctl('set-mode', 'bogus', expect=1)
        self.assertIn(daemon_msg, r.stderr)
        self.assertIn('InvalidArgument', r.stderr)
        self.assertEqual(r.stdout, '')
        r = self.ctl('set-mode', 'ON', expect=1)
        self.assertIn('InvalidArgument', r.stderr)
        self.assertEqual(self.host.snapshot(), before)
        self.assertEqual(self.manager()['Mode'], 'off')
        # Usage errors are 2.
        self.ctl('set-mode', expect=2)
        self.ctl('no-such-command', expect=2)

    def test_access_denied(self):
        before = self.host.snapshot()
        r = self.ctl('--no-ask-password', 'set-mode', 'on', as_nobody=True, expect=4)
        self.assertIn(SET_MODE_ACTION, r.stderr)
        self.assertEqual(self.host.snapshot(), before)
        self.assertEqual(self.manager()['Mode'], 'off')
        # Reading is open to everyone.
        r = self.ctl('status', as_nobody=True)
        self.assertEqual(self.status_line(r.stdout, 'Mode'), 'off')
        self.polkit_set_allowed([SET_MODE_ACTION])
        self.ctl('--no-ask-password', 'set-mode', 'on', as_nobody=True)
        self.assertEqual(self.manager()['Mode'], 'on')

    def test_daemon_not_running(self):
        self.assertEqual(self.kill_daemon(signal.SIGTERM), 0)
        for args in (['status'], ['list'], ['set-mode', 'on'], ['--json', 'status']):
            r = self.ctl(*args, expect=None)
            self.assertNotIn(r.returncode, (0, 4), args)
            self.assertGreater(r.returncode, 0, 'killed by a signal: %r' % args)
            self.assertIn('not running', r.stderr, args)
            self.assertNotIn('Traceback', r.stderr)
        # No bus at all.
        env_bus = self.bus_address
        try:
            self.bus_address = 'unix:path=' + os.path.join(self.tmp, 'no-such-socket')
            r = self.ctl('status', expect=None)
        finally:
            self.bus_address = env_bus
        self.assertGreater(r.returncode, 0)
        self.assertNotEqual(r.returncode, 4)
        self.assertNotEqual(r.stderr.strip(), '')


if __name__ == '__main__':
    harness.main()
