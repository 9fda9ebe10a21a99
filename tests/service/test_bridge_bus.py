#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# The bridge's DaemonSet uid (64721) against a bus run the way Debian runs
# the system bus: the policy of /usr/share/dbus-1/system.conf, nvidia-ccd's
# own policy file (dbus/), and polkitd's part for the polkit mock.
# dbus-daemon drops a connection whose uid it cannot resolve to a user, so
# what the host's passwd holds decides; each case gives dbus-daemon its own
# /etc/passwd and /etc/group in a mount namespace (the host's files, without
# any user of that uid, and for the second case with what systemd-sysusers
# makes of systemd/nvidia-cc-k8s-bridge.sysusers), so that the result does
# not depend on the machine the tests run on.  Root is needed for that, and
# to run the bridge as the uid; without it the cases skip, saying so.

import os
import shutil
import subprocess
import unittest
import xml.etree.ElementTree as ET

import harness
from test_bridge import BridgeTestCase, MODE, MODE_STATE, NODE

SYSTEM_CONF = '/usr/share/dbus-1/system.conf'
UID = 64721
SYSUSERS = 'systemd/nvidia-cc-k8s-bridge.sysusers'

# polkitd's policy (its own file lets its user own the name); the mock runs
# as root.
POLKIT_POLICY = '''
  <policy user="root">
    <allow own="org.freedesktop.PolicyKit1"/>
  </policy>
  <policy context="default">
    <allow send_destination="org.freedesktop.PolicyKit1"/>
  </policy>
'''


def system_bus_config(sock, srcdir):
    '''system.conf's policy, without what makes it the host's bus (its
    socket, pid file, user, syslog, service helper, other packages' files).'''
    root = ET.parse(SYSTEM_CONF).getroot()
    for el in list(root):
        if el.tag in ('user', 'fork', 'pidfile', 'syslog', 'listen', 'servicehelper',
                      'standard_system_servicedirs', 'includedir', 'include', 'servicedir'):
            root.remove(el)
    text = ET.tostring(root, encoding='unicode')
    extra = '<listen>unix:path=%s</listen>\n<include>%s</include>\n%s' % (
        sock, os.path.join(srcdir, 'dbus/org.nvidia.ConfidentialCompute.conf'), POLKIT_POLICY)
    return ('<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"\n'
            ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n'
            + text.replace('</busconfig>', extra + '</busconfig>'))


class SystemBusTestCase(BridgeTestCase):
    SYSUSERS = False     # give dbus-daemon the user of the sysusers.d entry

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if os.geteuid() != 0:
            raise unittest.SkipTest('needs root: dbus-daemon gets its own /etc/passwd in a mount namespace, '
                                    'and the bridge runs as uid %d' % UID)
        if not os.path.exists(SYSTEM_CONF):
            raise unittest.SkipTest('no %s (dbus-daemon\'s system bus policy) on this host' % SYSTEM_CONF)
        r = subprocess.run(['unshare', '--mount', '--propagation', 'private', 'true'], capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise unittest.SkipTest('cannot make a mount namespace here (unshare: %s)' % r.stderr.strip())
        if cls.SYSUSERS and not shutil.which('systemd-sysusers'):
            raise unittest.SkipTest('systemd-sysusers is not installed')

    def user_files(self):
        '''The passwd and group dbus-daemon sees.'''
        root = os.path.join(self.tmp, 'users')
        os.makedirs(os.path.join(root, 'etc'))
        for name in ('passwd', 'group'):
            with open('/etc/' + name) as f:
                lines = [l for l in f if not (l.split(':') + ['', ''])[2] == str(UID)]
            with open(os.path.join(root, 'etc', name), 'w') as f:
                f.writelines(lines)
        if self.SYSUSERS:
            r = subprocess.run(['systemd-sysusers', '--root=' + root, os.path.join(self.srcdir, SYSUSERS)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                self.fail('systemd-sysusers: %s' % r.stderr)
        return os.path.join(root, 'etc', 'passwd'), os.path.join(root, 'etc', 'group')

    def bus_config(self, sock):
        return system_bus_config(sock, self.srcdir)

    def bus_command(self, conf, fd):
        passwd, group = self.user_files()
        self.users = {}
        with open(passwd) as f:
            for line in f:
                p = line.split(':')
                self.users[int(p[2])] = p[0]
        return ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-ec',
                'mount --bind "$1" /etc/passwd; mount --bind "$2" /etc/group; shift 2; exec "$@"', 'sh',
                passwd, group] + super().bus_command(conf, fd)


class BridgeBusRefusedTest(SystemBusTestCase):

    def test_bus_refuses_unknown_uid(self):
        self.assertNotIn(UID, self.users)
        os.makedirs(os.path.dirname(self.readiness))
        with open(self.readiness, 'w') as f:
            f.write('on\n')
        self.set_mode_label('on')
        bridge = self.start_bridge(user=(UID, UID), wait_ready=False)
        bridge.expected_exit = True
        self.assertEqual(bridge.wait(harness.START_TIMEOUT), 1)
        with open(self.bridge_log, errors='replace') as f:
            log = f.read()
        self.assertIn('closed the connection of uid %d' % UID, log)
        self.assertIn('sysusers.d/nvidia-cc-k8s-bridge.conf', log)
        # The reason is on the Node, for kubectl describe node.
        ev = self.node_events('SystemBusRefused')
        self.assertEqual(len(ev), 1, log)
        self.assertEqual(ev[0]['type'], 'Warning')
        self.assertIn('no user on the host', ev[0]['message'])
        out, rows = self.describe_events()
        self.assertTrue(any(r[:2] == ['Warning', 'SystemBusRefused'] for r in rows), out)
        # Nothing is claimed about the node.
        self.assertIsNone(self.readiness_text())
        self.assertNotIn(MODE_STATE, self.api.labels(NODE))
        self.assert_gpus('off')


class BridgeBusUserTest(SystemBusTestCase):
    SYSUSERS = True

    def test_sysusers_user_accepted(self):
        self.assertEqual(self.users.get(UID), 'nvidia-cc-k8s-bridge')
        self.polkit_set_allowed([harness.SET_MODE_ACTION])
        self.set_mode_label('on')
        self.start_bridge(user=(UID, UID))
        labels = self.wait_state('on')
        self.assertEqual(labels[MODE], 'on')
        self.assert_gpus('on')
        self.assertEqual(self.readiness_text(), 'on\n')
        self.assertEqual(self.node_events('SystemBusRefused'), [])


if __name__ == '__main__':
    harness.main()
