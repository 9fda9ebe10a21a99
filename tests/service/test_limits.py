#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# What an unprivileged caller can make the daemon do before polkit answers:
# arguments are checked against their limits (arrays of 256 elements,
# strings of 4096 bytes) before a call waits for polkit, arrays are read
# element by element, and the event loop keeps answering meanwhile.

import json
import os
import select
import signal
import subprocess

import harness
from harness import ERROR, MANAGER_IFACE, MANAGER_PATH

INVALID = ERROR + 'InvalidArgument'
LIMITS = 'org.freedesktop.DBus.Error.LimitsExceeded'


class LimitsTest(harness.ServiceTestCase):
    HOST_ARGS = ['--gpus', '2', '--boot-ms', '50', '--tee', 'tdx']

    def client(self, method, sig, expr, timeout=30, count=1, as_nobody=True, path=MANAGER_PATH,
               iface=MANAGER_IFACE):
        '''Calls through bus_client.py; returns its outcomes.'''
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'bus_client.py')
        args = ['/usr/bin/python3', script, path, iface, method, sig, expr, str(timeout), str(count)]
        if as_nobody:
            r = self.run_as_nobody(args)
        else:
            r = subprocess.run(args, env=self.client_env(), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(line) for line in r.stdout.splitlines()]

    def assert_invalid_fast(self, outcome, contains, seconds=15):
        self.assertEqual(outcome['error'], INVALID, outcome)
        self.assertIn(contains, outcome['message'])
        self.assertLess(outcome['seconds'], seconds, outcome)

    def test_huge_array_before_authorization(self):
        # 500000 one-character strings, 4 MB: sd_bus_message_read_strv()
        # takes most of a minute on it; the daemon must refuse it at once.
        for method in ('BindVfio', 'UnbindVfio'):
            with self.subTest(method=method):
                out = self.client(method, 'as', "(['x'] * 500000,)", timeout=20)
                self.assert_invalid_fast(out[0], 'more than 256 elements')
        # Nothing was bound, and the daemon answers.
        self.assertEqual(self.manager()['ModeState'], 'idle')
        for gpu in self.host.gpus():
            self.assertEqual(self.host.driver(gpu), 'nvidia')

    def test_array_cap(self):
        # Root, so authorized: 256 addresses are read (and refused for what
        # they are), 257 are not read at all.
        msg = self.assert_dbus_error(INVALID, self.call, MANAGER_PATH, MANAGER_IFACE, 'BindVfio', 'as',
                                     (['0000:%02x:00.0' % (i % 256) for i in range(257)],))
        self.assertIn('more than 256 elements', msg)
        msg = self.assert_dbus_error(ERROR + 'NotFound', self.call, MANAGER_PATH, MANAGER_IFACE, 'BindVfio',
                                     'as', (['0000:%02x:00.0' % (i % 256) for i in range(256)],))
        self.assertIn('No PCI device', msg)

    def test_long_strings_before_authorization(self):
        big = "('kata-qemu', 'registry.example.com/' + 'a' * (1 << 20), {})"
        out = self.client('InstallKataArtifacts', 'ssa{sv}', big)
        self.assert_invalid_fast(out[0], 'longer than 4096 bytes')
        out = self.client('SetMode', 's', "('o' * (1 << 20),)")
        self.assert_invalid_fast(out[0], 'longer than 4096 bytes')
        out = self.client('RemoveKataArtifacts', 's', "('k' * 8192,)")
        self.assert_invalid_fast(out[0], 'longer than 4096 bytes')
        # Options: a dictionary is an array too, and a variant may not hide a
        # long value or deep nesting.
        out = self.client('InstallKataArtifacts', 'ssa{sv}',
                          "('kata-qemu', 'localhost:5000/a:1', "
                          "{'k%d' % i: GLib.Variant('b', True) for i in range(300)})")
        self.assert_invalid_fast(out[0], 'more than 256 elements')
        out = self.client('InstallKataArtifacts', 'ssa{sv}',
                          "('kata-qemu', 'localhost:5000/a:1', "
                          "{'ca-file': GLib.Variant('v', GLib.Variant('v', GLib.Variant('v', "
                          "GLib.Variant('v', GLib.Variant('s', '/x')))))})")
        self.assert_invalid_fast(out[0], 'nested deeper than 4')

    def start_clients(self, n_clients, calls_each):
        '''n_clients processes as nobody, each sending calls_each SetMode
        calls at once; returns the processes.'''
        if not self.is_root:
            self.skipTest('needs root to run a client as nobody')
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'bus_client.py')
        procs = []
        for _ in range(n_clients):
            p = subprocess.Popen(['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--',
                                  '/usr/bin/python3', script, MANAGER_PATH, MANAGER_IFACE, 'SetMode', 's',
                                  "('on',)", '120', str(calls_each)],
                                 env=self.client_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
            self.addCleanup(p.wait)
            self.addCleanup(p.kill)
            procs.append(p)
        return procs

    def wait_any(self, fds, timeout, what):
        '''The first of fds with something to read (select, with a deadline).'''
        r, _, _ = select.select(fds, [], [], timeout)
        if not r:
            self.fail('timed out after %g s waiting for %s' % (timeout, what))
        return r[0]

    def read_outcomes(self, proc, n):
        out = []
        for _ in range(n):
            line = proc.stdout.readline()
            self.assertTrue(line, 'the client ended early')
            out.append(json.loads(line))
        return out

    def test_pending_checks_capped(self):
        # polkit stops answering: calls pile up waiting for it.  Past 8
        # from one caller, and 64 from all, they are refused at once.
        self.polkit.signal(signal.SIGSTOP)
        self.addCleanup(self.polkit.signal, signal.SIGCONT)
        first = self.start_clients(1, 20)[0]
        refused = self.read_outcomes(first, 12)
        for o in refused:
            self.assertEqual(o['error'], LIMITS, o)
            self.assertIn('8 calls of yours are waiting for authorization', o['message'])
        # Eight more callers, 58 calls: 56 fill the 64, two are refused
        # outright, whichever order they come in.
        others = self.start_clients(7, 8) + self.start_clients(1, 2)
        limited, seen = [], {p.stdout.fileno(): b'' for p in others}
        while len(limited) < 2:
            fd = self.wait_any(list(seen), 30, 'the refusals past 64 calls')
            # Raw reads: nothing waits unseen in a file object's buffer.
            seen[fd] += os.read(fd, 65536)
            *lines, seen[fd] = seen[fd].split(b'\n')
            limited += [json.loads(line) for line in lines]
        for o in limited:
            self.assertEqual(o['error'], LIMITS, o)
            self.assertIn('64 calls are waiting for authorization', o['message'])
        # The daemon answers meanwhile, and once polkit does, every parked
        # call gets its answer.
        self.assertEqual(self.manager()['ModeState'], 'idle')
        self.polkit.signal(signal.SIGCONT)
        for o in self.read_outcomes(first, 8):
            self.assertEqual(o['error'], harness.ACCESS_DENIED, o)
        outcomes = []
        for p in others:
            rest = seen[p.stdout.fileno()] + p.communicate(timeout=120)[0]
            outcomes += [json.loads(line) for line in rest.splitlines()]
        self.assertEqual([o['error'] for o in outcomes], [harness.ACCESS_DENIED] * 56)
        # And it takes calls again.
        r = self.run_as_nobody(['busctl', '--system', 'call', harness.BUS_NAME, MANAGER_PATH, MANAGER_IFACE,
                                'SetMode', 's', 'on'])
        self.assertIn('access denied', r.stderr.lower())

    def test_reference_limit_when_authorized(self):
        # Root: the reference is read with its own limit (1024), named.
        msg = self.assert_dbus_error(INVALID, self.call, MANAGER_PATH, MANAGER_IFACE, 'InstallKataArtifacts',
                                     'ssa{sv}', ('kata-qemu', 'localhost:5000/' + 'a' * 2000, {}))
        self.assertIn('reference is longer than 1024 bytes', msg)
        msg = self.assert_dbus_error(INVALID, self.call, MANAGER_PATH, MANAGER_IFACE, 'SetMode', 's',
                                     ('x' * 100,))
        self.assertIn('mode is longer than 32 bytes', msg)
        self.assertNotIn('x' * 100, msg)


if __name__ == '__main__':
    harness.main()
