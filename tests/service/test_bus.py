#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# The bus surface: introspection against dbus/*.xml, the object tree, the
# properties of each Gpu object, and a clean exit on SIGTERM.

import os
import socket
import subprocess
import signal
import xml.etree.ElementTree as ET

import harness
from harness import (GPU_IFACE, MANAGER_IFACE, MANAGER_PATH, OM_IFACE, gpu_path)


def interface_members(xml_text, iface_name):
    '''{('method'|'signal'|'property', name): description} for one
    interface: argument types and directions, property type and access.
    Argument names and annotations are documentation, not contract.'''
    root = ET.fromstring(xml_text)
    ifaces = [i for i in root.findall('interface') if i.get('name') == iface_name]
    if len(ifaces) != 1:
        raise AssertionError('%d <interface name="%s"> elements' % (len(ifaces), iface_name))
    members = {}
    for el in ifaces[0]:
        if el.tag == 'method':
            members[('method', el.get('name'))] = tuple(
                (a.get('direction', 'in'), a.get('type')) for a in el.findall('arg'))
        elif el.tag == 'signal':
            members[('signal', el.get('name'))] = tuple(a.get('type') for a in el.findall('arg'))
        elif el.tag == 'property':
            members[('property', el.get('name'))] = (el.get('type'), el.get('access'))
    return members


class BusTest(harness.ServiceTestCase):

    def xml_file(self, iface):
        with open(os.path.join(self.srcdir, 'dbus', iface + '.xml')) as f:
            return f.read()

    def assert_introspection(self, path, iface):
        documented = interface_members(self.xml_file(iface), iface)
        live = interface_members(self.introspect(path), iface)
        self.assertTrue(documented, 'dbus/%s.xml documents no member' % iface)
        missing = sorted(set(documented) - set(live))
        extra = sorted(set(live) - set(documented))
        self.assertEqual(missing, [], 'documented but not on the bus')
        self.assertEqual(extra, [], 'on the bus but not documented')
        for key in sorted(documented):
            self.assertEqual(live[key], documented[key], '%s %s' % key)

    def test_introspect_manager(self):
        self.assert_introspection(MANAGER_PATH, MANAGER_IFACE)
        node = ET.fromstring(self.introspect(MANAGER_PATH))
        ifaces = {i.get('name') for i in node.findall('interface')}
        self.assertIn(OM_IFACE, ifaces)
        self.assertIn('org.freedesktop.DBus.Properties', ifaces)

    def test_introspect_gpu(self):
        bdf = self.host.gpus()[0]
        self.assert_introspection(gpu_path(bdf), GPU_IFACE)
        # The gpu/ node lists one child per device.
        node = ET.fromstring(self.introspect(harness.GPU_PATH_PREFIX))
        children = sorted(n.get('name') for n in node.findall('node'))
        expected = sorted(gpu_path(b).rsplit('/', 1)[1] for b in self.host.gpus() + self.host.nvswitches())
        self.assertEqual(children, expected)

    def test_managed_objects(self):
        objects = self.managed_objects()
        gpus = self.host.gpus()
        self.assertEqual(len(gpus), 8, 'the fake host has 8 GPUs')
        self.assertEqual(self.host.nvswitches(), [])

        # The object manager lists the objects below it, not itself.
        self.assertNotIn(MANAGER_PATH, objects)
        manager = self.manager()
        self.assertEqual(manager['Mode'], 'off')
        self.assertEqual(manager['ModeState'], 'idle')
        self.assertEqual(manager['LastError'], '')
        self.assertEqual(manager['HostTee'], 'tdx')
        self.assertEqual(manager['DefaultMode'], '')
        self.assertIs(manager['CcCapable'], True)
        self.assertRegex(manager['Version'], r'^\d+\.\d+\.\d+')

        gpu_objects = {p: o[GPU_IFACE] for p, o in objects.items() if GPU_IFACE in o}
        self.assertEqual(sorted(gpu_objects), sorted(gpu_path(b) for b in gpus))
        groups = set()
        for bdf in gpus:
            props = gpu_objects[gpu_path(bdf)]
            self.assertEqual(props['Address'], bdf)
            self.assertEqual(props['VendorId'], 0x10de)
            self.assertEqual(props['DeviceId'], 0x2330)
            self.assertEqual(props['Kind'], 'gpu')
            self.assertEqual(props['Architecture'], 'hopper')
            self.assertIs(props['CcCapable'], True)
            self.assertIs(props['PpcieCapable'], True)
            self.assertEqual(props['CcMode'], 'off')
            self.assertEqual(props['PpcieMode'], 'off')
            # Blackwell's 0x590 bits; a Hopper GPU has neither.
            self.assertEqual(props['NvlinkEncryption'], 'unknown')
            self.assertEqual(props['Bar0Firewall'], 'unknown')
            self.assertEqual(props['Driver'], 'nvidia')
            self.assertEqual(props['IommuGroup'], self.host.iommu_group(bdf))
            self.assertGreaterEqual(props['IommuGroup'], 0)
            self.assertIn(bdf, props['GroupMembers'])
            self.assertEqual(props['GroupMembers'], sorted(props['GroupMembers']))
            self.assertEqual(props['NumaNode'], self.host.numa_node(bdf))
            self.assertIn('H100', props['Name'])
            groups.add(props['IommuGroup'])
        self.assertEqual(len(groups), 8, 'each GPU has its own IOMMU group')

    def test_gpu_properties_follow_sysfs(self):
        # A second host with NVSwitches, no IOMMU and a Blackwell GPU.
        self.restart_on_host(['--gpus', '4', '--nvswitches', '2', '--blackwell', '1',
                              '--boot-ms', '50', '--no-iommu', '--tee', 'sev-snp'])
        objects = self.managed_objects()
        self.assertEqual(self.manager()['HostTee'], 'sev-snp')
        gpus, switches = self.host.gpus(), self.host.nvswitches()
        self.assertEqual(len(switches), 2)
        kinds = {}
        for bdf in gpus + switches:
            props = objects[gpu_path(bdf)][GPU_IFACE]
            self.assertEqual(props['Address'], bdf)
            self.assertEqual(props['DeviceId'], self.host.device_id(bdf))
            self.assertEqual(props['IommuGroup'], -1)
            self.assertEqual(props['GroupMembers'], [])
            self.assertEqual(props['VfioDevice'], '')
            kinds.setdefault(props['Kind'], []).append(props)
        self.assertEqual(len(kinds['nvswitch']), 2)
        for props in kinds['nvswitch']:
            self.assertIs(props['PpcieCapable'], True)
            self.assertEqual(props['Architecture'], 'hopper')
        archs = sorted(p['Architecture'] for p in kinds['gpu'])
        self.assertEqual(archs.count('blackwell'), 1)
        self.assertEqual(archs.count('hopper'), len(gpus) - 1)
        for props in kinds['gpu']:
            self.assertIs(props['CcCapable'], True)
            self.assertIs(props['PpcieCapable'], props['Architecture'] == 'hopper')
            blackwell = props['Architecture'] == 'blackwell'
            self.assertEqual(props['PpcieMode'], 'unknown' if blackwell else 'off')
            self.assertEqual(props['NvlinkEncryption'], 'off' if blackwell else 'unknown')
            self.assertEqual(props['Bar0Firewall'], 'off' if blackwell else 'unknown')

    def test_sigterm_exit_status(self):
        start = len(self.signals)
        self.assertEqual(self.kill_daemon(signal.SIGTERM), 0, 'exit status after SIGTERM')
        self.wait_until(lambda: any(s[4][0] == harness.BUS_NAME and s[4][2] == ''
                                    for s in self.signals_named('NameOwnerChanged', start)),
                        30, 'the bus name to be released')
        self.assertFalse(self.name_has_owner(harness.BUS_NAME))
        # SIGINT too
        self.start_daemon()
        self.assertEqual(self.kill_daemon(signal.SIGINT), 0, 'exit status after SIGINT')

    def test_second_instance_refused(self):
        notify_path = os.path.join(self.tmp, 'notify-second')
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        sock.bind(notify_path)
        env = self.client_env()
        env['NOTIFY_SOCKET'] = notify_path
        env['STATE_DIRECTORY'] = os.path.join(self.tmp, 'state-second')
        r = subprocess.run(self.wrapper + [self.daemon_bin, '--bus', self.bus_address,
                                           '--sysfs-root', self.host.root, '--simulate',
                                           '--log-target', 'console'],
                           env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        sock.setblocking(False)
        messages = []
        while True:
            try:
                messages.append(sock.recv(4096).decode(errors='replace'))
            except BlockingIOError:
                break
        sock.close()
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn('another instance owns it', r.stdout)
        self.assertFalse(any('READY=1' in m.split('\n') for m in messages), messages)
        # The first instance still serves.
        self.assertEqual(self.get(MANAGER_PATH, MANAGER_IFACE, 'ModeState'), 'idle')


if __name__ == '__main__':
    harness.main()
