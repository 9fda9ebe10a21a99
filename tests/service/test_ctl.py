#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# nvidia-ccctl against the real daemon: what it prints, its JSON, and its
# exit codes (0 success, 1 failure, 4 access denied).

import fcntl
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import termios
import threading
import time

from gi.repository import Gio, GLib

import harness
from harness import ERROR, MANAGER_IFACE, MANAGER_PATH, SET_MODE_ACTION

# How pkttyagent registers: with options (a fallback agent) or without.
REGISTER_AGENT = ('RegisterAuthenticationAgent', 'RegisterAuthenticationAgentWithOptions')

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
        # Empty strings stay strings.
        self.assertEqual(status['DefaultMode'], '')
        self.assertEqual(status['LastError'], '')
        devices = status['Devices']
        self.assertEqual([d['Address'] for d in devices], self.host.gpus())
        for d in devices:
            props = self.gpu(d['Address'])
            self.assertEqual(d['DeviceId'], 0x2330)
            self.assertEqual(d['VendorId'], 0x10de)
            self.assertEqual(d['IommuGroup'], self.host.iommu_group(d['Address']))
            self.assertEqual(d['NumaNode'], self.host.numa_node(d['Address']))
            self.assertEqual((d['VfioDevice'], d['VfioCdev']), ('', ''))
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
        # An invalid argument is a usage error, 2, with the daemon's words,
        # and the daemon is not asked.
        start = len(self.signals)
        r = self.ctl('set-mode', 'bogus', expect=2)
        self.assertIn(daemon_msg, r.stderr)
        self.assertEqual(r.stdout, '')
        r = self.ctl('set-mode', 'ON', expect=2)
        self.assertIn('Unknown mode "ON"', r.stderr)
        r = self.ctl('set-mode', 'ppcie', '--gpu', self.host.gpus()[0], expect=2)
        self.assertIn('--gpu cannot be used with ppcie', r.stderr)
        self.assertNotIn("Manager's SetMode", r.stderr)
        self.assertEqual(self.host.snapshot(), before)
        self.assertEqual(self.manager()['Mode'], 'off')
        self.sync_daemon()
        self.assertEqual(self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'ModeState', start), [])
        # Usage errors are 2.
        self.ctl('set-mode', expect=2)
        self.ctl('no-such-command', expect=2)

    def test_bad_address_every_verb(self):
        before = self.host.snapshot()
        lines = set()
        for args in (['bind-vfio', '3a:0.0'], ['unbind-vfio', self.host.gpus()[0], '3a:0.0'],
                     ['set-mode', 'on', '--gpu', '3a:0.0'], ['--json', 'bind-vfio', '3a:0.0']):
            r = self.ctl(*args, expect=2)
            self.assertEqual(r.stdout, '', args)
            lines.add(r.stderr.splitlines()[0])
        # One message, whichever command got the address.
        self.assertEqual(lines, {'nvidia-ccctl: Invalid PCI address "3a:0.0": expected BUS:DEVICE.FUNCTION as lspci '
                                 'prints it (3a:00.0) or DOMAIN:BUS:DEVICE.FUNCTION (0000:3a:00.0)'})
        self.assertEqual(self.host.snapshot(), before)
        # A well-formed address of no device: the daemon's answer, exit 1.
        r = self.ctl('bind-vfio', '0000:ff:00.0', expect=1)
        self.assertIn('0000:ff:00.0', r.stderr)
        r = self.ctl('set-mode', 'on', '--gpu', 'ff:00.0', expect=1)
        self.assertIn('0000:ff:00.0', r.stderr)

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

    def test_json_modes(self):
        short = self.ctl('--json', 'status').stdout
        self.assertEqual(short.count('\n'), 1)
        self.assertEqual(self.ctl('--json=short', 'status').stdout, short)
        pretty = self.ctl('status', '--json=pretty').stdout
        # As systemd's tools indent it.
        self.assertTrue(pretty.startswith('{\n\t"Version" : "'), pretty[:40])
        self.assertEqual(json.loads(pretty), json.loads(short))
        self.assertEqual(self.ctl('--json=pretty', '--json=off', 'status').stdout, self.ctl('status').stdout)
        self.ctl('--json=yaml', 'status', expect=2)
        # Strings stay strings, empty ones too, as the bus has them.
        status = json.loads(short)
        self.assertEqual((status['DefaultMode'], status['LastError']), ('', ''))
        for d in status['Devices']:
            props = self.gpu(d['Address'])
            for key in ('Driver', 'VfioDevice', 'VfioCdev'):
                self.assertEqual(d[key], props[key], key)
                self.assertIsInstance(d[key], str)

    def test_json_errors_every_verb(self):
        # A failure the daemon reports, as an error object.
        r = self.ctl('--json', 'set-mode', 'on', '--gpu', 'ff:00.0', expect=1)
        err = json.loads(r.stdout)['error']
        self.assertEqual(err['name'], 'org.freedesktop.DBus.Error.UnknownObject')
        r = self.ctl('--json', 'remove-artifacts', 'kata-none', expect=1)
        self.assertEqual(json.loads(r.stdout)['error']['name'], ERROR + 'NotFound')
        # Every command, the daemon gone.
        self.assertEqual(self.kill_daemon(signal.SIGTERM), 0)
        for args in (['status'], ['list'], ['set-mode', 'on'], ['bind-vfio'], ['unbind-vfio', '65:00.0'],
                     ['install-artifacts', 'kata', '127.0.0.1:5000/kata:1', '--plain-http'],
                     ['remove-artifacts', 'kata']):
            r = self.ctl('--json', *args, expect=1)
            err = json.loads(r.stdout)['error']
            self.assertEqual(err['name'], 'org.freedesktop.DBus.Error.ServiceUnknown', args)
            self.assertIn('not running', r.stderr, args)

    def test_success_reports(self):
        gpus = self.host.gpus()
        r = self.ctl('set-mode', 'on', '--gpu', gpus[1][5:])
        self.assertEqual(r.stdout, 'Switched 1 device to mode on: %s\n' % gpus[1])
        r = self.ctl('set-mode', 'on')
        self.assertEqual(r.stdout, 'Switched 7 devices to mode on: %s\n1 device was already in mode on: %s\n'
                         % (' '.join(g for g in gpus if g != gpus[1]), gpus[1]))
        r = self.ctl('set-mode', 'on')
        self.assertEqual(r.stdout, '8 devices were already in mode on: %s\n' % ' '.join(gpus))
        # -q: nothing.
        r = self.ctl('-q', 'set-mode', 'off')
        self.assertEqual((r.stdout, r.stderr), ('', ''))
        self.assertEqual(self.manager()['Mode'], 'off')

    def test_bus_missing_vs_not_running(self):
        # No bus at all: said as such, not as a missing service.
        env_bus = self.bus_address
        missing = os.path.join(self.tmp, 'no-such-socket')
        try:
            self.bus_address = 'unix:path=' + missing
            r = self.ctl('status', expect=1)
            rj = self.ctl('--json', 'list', expect=1)
        finally:
            self.bus_address = env_bus
        self.assertEqual(r.stderr, 'Cannot connect to the system bus (unix:path=%s): No such file or directory '
                         '(is the D-Bus daemon running?)\n' % missing)
        self.assertNotIn('nvidia-ccd is not running', r.stderr)
        self.assertIn('Cannot connect to the system bus', json.loads(rj.stdout)['error']['message'])
        # The bus, without the service.
        self.assertEqual(self.kill_daemon(signal.SIGTERM), 0)
        r = self.ctl('status', expect=1)
        self.assertEqual(r.stderr, 'nvidia-ccd is not running: org.nvidia.ConfidentialCompute is not on the bus '
                         '(see systemctl status nvidia-ccd)\n')

    def test_no_legend(self):
        out = self.ctl('list').stdout
        bare = self.ctl('list', '--no-legend').stdout
        self.assertTrue(out.startswith('ADDRESS '))
        self.assertFalse(bare.startswith('ADDRESS'))
        self.assertEqual(sorted(l.split()[0] for l in bare.splitlines()), self.host.gpus())
        self.assertEqual([l.split() for l in bare.splitlines()], [l.split() for l in out.splitlines()[1:]])
        status = self.ctl('status', '--no-legend').stdout
        self.assertNotIn('ADDRESS', status)
        self.assertNotIn('No runtime classes.', status)
        self.assertIn('Mode: off', status)

    def run_on_terminal(self, args, env, as_nobody=False, timeout=60):
        '''nvidia-ccctl ARGS on a new pseudo-terminal, its controlling
        terminal: (exit status, what it wrote to the terminal, pid).'''
        cmd = [self.ccctl_bin] + list(args)
        if as_nobody:
            cmd = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--'] + cmd
        pid, master = os.forkpty()
        if pid == 0:
            try:
                os.execvpe(cmd[0], cmd, env)
            finally:
                os._exit(127)
        # A terminal of some size, as a pager expects one.
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack('HHHH', 50, 200, 0, 0))
        out = b''
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                self.assertGreater(left, 0, 'nvidia-ccctl on a terminal did not end: %r' % out)
                r, _, _ = select.select([master], [], [], left)
                try:
                    chunk = os.read(master, 4096)
                except OSError:     # EIO: the terminal's other side is gone
                    break
                if not chunk:
                    break
                out += chunk
        finally:
            os.close(master)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), out.decode(errors='replace').replace('\r\n', '\n'), pid

    def test_pager(self):
        env = self.client_env()
        env['SYSTEMD_PAGER'] = 'sed s/^/PAGED:/'
        env.pop('PAGER', None)
        rc, out, _ = self.run_on_terminal(['list'], env)
        self.assertEqual(rc, 0, out)
        lines = out.splitlines()
        self.assertTrue(lines and all(l.startswith('PAGED:') for l in lines), out)
        rc, out, _ = self.run_on_terminal(['--no-pager', 'list'], env)
        self.assertEqual(rc, 0, out)
        self.assertNotIn('PAGED:', out)
        self.assertTrue(out.startswith('ADDRESS'), out)
        # cat means none; and piped output is never paged.
        env['SYSTEMD_PAGER'] = 'cat'
        self.assertNotIn('PAGED:', self.run_on_terminal(['list'], env)[1])
        self.assertNotIn('PAGED:', self.ctl('list').stdout)

    def fake_ssh(self, exit_status=None):
        '''An ssh on PATH that runs the remote side, systemd-stdio-bridge,
        on the test's bus, and records its arguments.'''
        bindir = os.path.join(self.tmp, 'bin')
        os.makedirs(bindir, exist_ok=True)
        self.ssh_log = os.path.join(self.tmp, 'ssh-args')
        bridge = shutil.which('systemd-stdio-bridge') or '/usr/lib/systemd/systemd-stdio-bridge'
        with open(os.path.join(bindir, 'ssh'), 'w') as f:
            f.write('#!/bin/sh\nprintf "%%s\\n" "$@" > %s\n' % self.ssh_log)
            if exit_status is not None:
                f.write('echo "ssh: connect to host: Connection refused" >&2\nexit %d\n' % exit_status)
            else:
                f.write('exec %s --bus-path=%s\n' % (bridge, self.bus_address))
        os.chmod(os.path.join(bindir, 'ssh'), 0o755)
        env = self.client_env()
        env['PATH'] = bindir + ':' + env['PATH']
        return env

    def test_remote_host(self):
        env = self.fake_ssh()
        r = subprocess.run([self.ccctl_bin, '-H', 'admin@gpu-node-1', 'status'], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.status_line(r.stdout, 'Mode'), 'off')
        with open(self.ssh_log) as f:
            args = f.read().split()
        self.assertIn('admin@gpu-node-1', args)
        self.assertEqual(args[-1], 'systemd-stdio-bridge')
        # A change over it too.
        r = subprocess.run([self.ccctl_bin, '--host=admin@gpu-node-1', 'set-mode', 'on'], env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.manager()['Mode'], 'on')
        # ssh failing: the bus is missing, not the service.
        env = self.fake_ssh(exit_status=255)
        r = subprocess.run([self.ccctl_bin, '-H', 'admin@gpu-node-1', 'status'], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn('admin@gpu-node-1', r.stderr)
        self.assertNotIn('nvidia-ccd is not running', r.stderr)

    # -- polkit: the daemon's reason, and a password agent on a terminal

    def test_polkit_reason_shown(self):
        r = self.ctl('--no-ask-password', 'set-mode', 'on', as_nobody=True, expect=4)
        lines = r.stderr.splitlines()
        self.assertEqual(lines[0], 'not authorized to set the mode (polkit action %s): polkit does not authorize '
                         '%s for this user' % (SET_MODE_ACTION, SET_MODE_ACTION))
        self.assertIn('without --no-ask-password to be asked for a password', lines[1])
        r = self.ctl('--json', '--no-ask-password', 'bind-vfio', as_nobody=True, expect=4)
        self.assertEqual(json.loads(r.stdout)['error']['name'], harness.ACCESS_DENIED)

        # No polkitd: said so, with what to install; no hint about asking.
        self.polkit.expected_exit = True
        self.polkit.signal(signal.SIGTERM)
        self.polkit.wait(30)
        self.wait_until(lambda: not self.name_has_owner(harness.POLKIT_NAME), 30, 'polkitd to leave the bus')
        r = self.ctl('--no-ask-password', 'set-mode', 'on', as_nobody=True, expect=4)
        self.assertEqual(r.stderr, 'not authorized to set the mode (polkit action %s): polkit is not available: '
                         'org.freedesktop.PolicyKit1 is not on the bus (install polkitd); until it is, only root '
                         'may make changes\n' % SET_MODE_ACTION)
        self.assertEqual(self.manager()['Mode'], 'off')

    def start_monitor(self):
        '''busctl monitor on the test's bus; returns the list its JSON
        messages are appended to, as they come.'''
        if not self.is_root:
            self.skipTest('busctl monitor needs root')
        proc = subprocess.Popen(['busctl', '--address=' + self.bus_address, '--json=short', 'monitor'],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (proc.kill(), proc.wait(), proc.stdout.close(), proc.stderr.close()))
        # It says so once it is a monitor.
        r, _, _ = select.select([proc.stderr], [], [], harness.START_TIMEOUT)
        self.assertTrue(r and 'Monitoring' in proc.stderr.readline(), 'busctl monitor did not start')
        seen = []

        def pump():
            for line in proc.stdout:
                if line.startswith('{'):
                    seen.append(json.loads(line))
        threading.Thread(target=pump, daemon=True).start()
        return seen

    def monitor_sync(self, seen):
        '''Returns once the monitor has shown everything sent before.'''
        self._marker = getattr(self, '_marker', 0) + 1
        marker = 'org.example.Marker%d' % self._marker
        self.name_has_owner(marker)
        deadline = time.monotonic() + 30
        while not any(m.get('member') == 'NameHasOwner' and m['payload']['data'] == [marker] for m in seen):
            self.assertLess(time.monotonic(), deadline, 'busctl monitor fell silent')
            select.select([], [], [], 0.01)
        return len(seen)

    def test_polkit_agent_on_terminal(self):
        if not os.path.exists('/usr/bin/pkttyagent'):
            self.skipTest('pkttyagent is not installed (Debian: polkitd)')
        # The template has no RegisterAuthenticationAgentWithOptions, which
        # pkttyagent calls for a fallback agent; the mock records it.
        self.conn.call_sync(harness.POLKIT_NAME, harness.POLKIT_PATH, harness.MOCK_IFACE, 'AddMethod',
                            GLib.Variant('(sssss)', ('org.freedesktop.PolicyKit1.Authority',
                                                     'RegisterAuthenticationAgentWithOptions',
                                                     '(sa{sv})ssa{sv}', '', '')),
                            None, Gio.DBusCallFlags.NONE, 5000, None)
        seen = self.start_monitor()
        env = self.client_env()

        def run(args, as_nobody=True):
            start = self.monitor_sync(seen)
            rc, out, pid = self.run_on_terminal(args, env, as_nobody=as_nobody)
            end = self.monitor_sync(seen)
            msgs = seen[start:end]
            return (rc, out, pid, [m for m in msgs if m.get('member') in REGISTER_AGENT],
                    [m for m in msgs if m.get('member') == 'SetMode' and m['type'] == 'method_call'],
                    [m for m in msgs if m.get('member') == 'CheckAuthorization' and m['type'] == 'method_call'],
                    msgs)

        # On a terminal, as a user: the agent registers for this very
        # process before the call, the call allows interactive
        # authorization, and the daemon asks polkit with AllowUserInteraction.
        rc, out, pid, reg, calls, checks, msgs = run(['set-mode', 'on'])
        self.assertEqual(rc, 4, out)
        self.assertEqual(len(reg), 1, out)
        subject = reg[0]['payload']['data'][0]
        self.assertEqual(subject[0], 'unix-process')
        self.assertEqual(subject[1]['pid']['data'], pid)
        # A fallback (options given), as systemctl's, only in a logind
        # session (this process's, which the command inherits): polkitd
        # asks no fallback agent for a caller outside one.
        with open('/proc/self/cgroup') as f:
            in_session = re.search(r'/session-[^/]+\.scope(/|$)', f.read(), re.M) is not None
        if in_session:
            self.assertEqual(reg[0]['member'], 'RegisterAuthenticationAgentWithOptions')
            self.assertEqual(reg[0]['payload']['data'][3]['fallback']['data'], True)
        else:
            self.assertEqual(reg[0]['member'], 'RegisterAuthenticationAgent')
        self.assertEqual(len(calls), 1)
        self.assertLess(msgs.index(reg[0]), msgs.index(calls[0]))
        self.assertTrue(calls[0]['flags'] & 0x4, 'no ALLOW_INTERACTIVE_AUTHORIZATION flag: %r' % calls[0])
        self.assertEqual(checks[-1]['payload']['data'][3], 1, 'CheckAuthorization without AllowUserInteraction')
        self.assertIn('polkit does not authorize', out)
        # And it is gone with the command.
        agent = reg[0]['sender']
        self.wait_until(lambda: not self.name_has_owner(agent), 30, 'the agent to leave the bus')

        # --no-ask-password: no agent, no interaction.
        rc, out, pid, reg, calls, checks, _ = run(['--no-ask-password', 'set-mode', 'on'])
        self.assertEqual(rc, 4, out)
        self.assertEqual(reg, [])
        self.assertFalse(calls[0]['flags'] & 0x4)
        self.assertEqual(checks[-1]['payload']['data'][3], 0)
        self.assertIn('without --no-ask-password to be asked for a password', out)

        # Reads need no agent.
        rc, out, pid, reg, calls, checks, _ = run(['--no-pager', 'status'])
        self.assertEqual((rc, reg), (0, []), out)

        # Root needs none: it passes without polkit.
        rc, out, pid, reg, calls, checks, _ = run(['set-mode', 'on'], as_nobody=False)
        self.assertEqual((rc, reg, checks), (0, [], []), out)
        self.assertEqual(self.manager()['Mode'], 'on')

        # Not on a terminal: nobody to answer, no agent.
        start = self.monitor_sync(seen)
        self.ctl('set-mode', 'off', as_nobody=True, expect=4)
        msgs = seen[start:self.monitor_sync(seen)]
        self.assertEqual([m for m in msgs if m.get('member') in REGISTER_AGENT], [])

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
