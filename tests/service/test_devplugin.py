#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# The kubelet device plugin of nvidia-cc-k8s-bridge, end to end: a private
# bus, the real nvidia-ccd on a simulated 8-GPU host, the polkit mock, the
# kubelet stand-in (kubelet_standin.py: Python grpcio, stubs generated from
# the bridge's own deviceplugin.proto) and the real bridge with no API
# server.  GPUs are bound and unbound through the daemon (nvidia-ccctl and
# BindVfio), kubelet's view is what the stand-in received, field by field,
# and every CDI name Allocate gives is resolved in the daemon's spec on
# disk, parsed as YAML.  Every wait is on the stand-in's condition
# variable (which the exit of the bridge or the daemon also wakes), bus
# replies or NOTIFY_SOCKET, with a deadline.

import glob
import os
import re
import select
import signal
import socket
import stat
import threading
import time

import grpc
import yaml

import harness
import kubelet_standin
from harness import GPU_IFACE, MANAGER_IFACE, MANAGER_PATH, gpu_path

PGPU = 'nvidia.com/pgpu'
ENDPOINT = 'nvidia-cc-nvidia.com-pgpu.sock'
TIMEOUT = 60


def file_id(path):
    '''Which file is at path: a new one may get the inode number of one
    removed before it, not its change time too.'''
    st = os.stat(path)
    return (st.st_ino, st.st_ctime_ns)


def model_resource(name, device_id):
    '''The sandbox device plugin's rule, written again for the tests.'''
    out = []
    space = False
    for c in name:
        if c.isspace():
            if not space:
                out.append('_')
            space = True
            continue
        space = False
        if c in '/.':
            out.append('_')
        elif c.isascii() and (c.isalnum() or c in '_-'):
            out.append(c.upper())
    s = ''.join(out)
    if not re.match(r'^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$', s):
        s = '%04x' % device_id
    return 'nvidia.com/' + s


class DevicePluginTestCase(harness.ServiceTestCase):
    HOST_ARGS = ['--gpus', '8', '--boot-ms', '0', '--tee', 'tdx']
    # Today's Operator's profile: the single Kata-mode resource, and the
    # daemon's CDI spec of that kind.  The page's profile (one resource per
    # model, the defaults) sets both to None.
    RESOURCE_ARGS = ['--resource-name', 'nvidia.com/pgpu']
    DAEMON_CONFIG = '[Vfio]\nCdiKind=nvidia.com/pgpu\n'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bridge_bin = harness.env_path('NVIDIA_CC_K8S_BRIDGE')
        kubelet_standin.stubs()

    def setUp(self):
        super().setUp()
        self.bridge = None
        self.bridges = []
        self.bridge_log = os.path.join(self.tmp, 'nvidia-cc-k8s-bridge.log')
        self.plugin_dir = os.path.join(self.tmp, 'device-plugins')
        os.mkdir(self.plugin_dir)
        self.kubelet = kubelet_standin.KubeletStandin(self.plugin_dir)
        self.kubelet.start()
        self.addCleanup(self.kubelet.stop)
        self.addCleanup(self._stop_bridges)
        if self.daemon is not None:
            self._watch_exit(self.daemon)

    # -- processes

    def _watch_exit(self, proc):
        def run():
            try:
                select.select([proc.pidfd], [], [])
            except (OSError, ValueError):
                pass
            self.kubelet.poke()
        threading.Thread(target=run, daemon=True).start()

    def start_daemon(self, config_text='', *args, **kwargs):
        if config_text == '' and self.DAEMON_CONFIG:
            config_text = self.DAEMON_CONFIG
        d = super().start_daemon(config_text, *args, **kwargs)
        if getattr(self, 'kubelet', None) is not None:
            self._watch_exit(d)
        return d

    def start_bridge(self, extra_args=(), env_extra=None, wait_ready=True):
        assert self.bridge is None or not self.bridge.alive()
        if self.bridge is not None:
            self.bridges.append(self.bridge)
        notify_path = os.path.join(self.tmp, 'bridge-notify-%d' % len(self.bridges))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.bind(notify_path)
            env = self.client_env()
            for k in ('KUBECONFIG', 'NODE_NAME', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT',
                      'STATE_DIRECTORY', 'P_GPU_ALIAS', 'DEFAULT_CC_MODE'):
                env.pop(k, None)
            env['NOTIFY_SOCKET'] = notify_path
            env.update(env_extra or {})
            args = self.wrapper + [self.bridge_bin, '--bus', self.bus_address,
                                   '--device-plugin-dir', self.plugin_dir,
                                   '--state-dir', os.path.join(self.tmp, 'bridge-state'),
                                   '--log-target', 'console', '--debug']
            if self.RESOURCE_ARGS and not any(a.startswith('--resource-name') for a in extra_args) \
                    and 'P_GPU_ALIAS' not in (env_extra or {}):
                args += self.RESOURCE_ARGS
            args += list(extra_args)
            with open(self.bridge_log, 'ab') as f:
                f.write(('$ %s\n' % ' '.join(args)).encode())
            self.bridge = harness.Process(args, self.bridge_log, env=env, name='nvidia-cc-k8s-bridge')
            self._watch_exit(self.bridge)
            if wait_ready:
                deadline = time.monotonic() + harness.START_TIMEOUT
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self.fail('no READY=1 from the bridge')
                    r, _, _ = select.select([sock, self.bridge.pidfd], [], [], left)
                    if sock in r:
                        if 'READY=1' in sock.recv(4096).decode(errors='replace').split('\n'):
                            break
                    elif r:
                        self.fail('the bridge exited (%s) before READY=1'
                                  % harness.describe_status(self.bridge.returncode()))
        finally:
            sock.close()
            os.unlink(notify_path)
        return self.bridge

    def stop_bridge(self, sig=signal.SIGTERM):
        b, self.bridge = self.bridge, None
        b.expected_exit = True
        b.signal(sig)
        rc = b.wait(60)
        self.bridges.append(b)
        return rc

    def _stop_bridges(self):
        problems = []
        # What the stand-in saw until now counts; a registration that the
        # bridge's exit cuts short does not.
        violations = list(self.kubelet.violations)
        self.kubelet.stopped_generation = self.kubelet.generation
        if self.bridge is not None:
            b, self.bridge = self.bridge, None
            rc = b.returncode()
            if rc is not None and not b.expected_exit:
                problems.append('the bridge died during the test (%s)' % harness.describe_status(rc))
            elif rc is None:
                b.signal(signal.SIGTERM)
                rc = b.wait(60)
                if rc != 0:
                    problems.append('the bridge: %s after SIGTERM' % harness.describe_status(rc))
            b.close()
        for b in self.bridges:
            b.close()
        if violations:
            problems.append('the kubelet stand-in saw: ' + '; '.join(violations))
        if problems:
            self.fail('; '.join(problems))

    def _dump_logs(self):
        super()._dump_logs()
        if os.path.exists(self.bridge_log):
            with open(self.bridge_log, errors='replace') as f:
                text = f.read()
            import sys
            sys.stderr.write('\n----- nvidia-cc-k8s-bridge.log (%s) -----\n%s----- end -----\n' % (self.id(), text))

    def alive(self):
        for p in (self.bridge, self.daemon):
            if p is not None and not p.expected_exit and not p.alive():
                return False
        return True

    def bridge_log_text(self):
        with open(self.bridge_log, errors='replace') as f:
            return f.read()

    def wait_bridge_log(self, needle, timeout=30):
        '''Waits (inotify on the log file) until the bridge's log contains
        needle; returns the log.'''
        ino = harness.Inotify()
        try:
            ino.watch(self.bridge_log, harness.Inotify.IN_MODIFY)
            deadline = time.monotonic() + timeout
            while needle not in self.bridge_log_text():
                self.wait_fd(ino.fd, max(deadline - time.monotonic(), 0.001), '"%s" in the bridge log' % needle)
                ino.drain()
        finally:
            ino.close()
        return self.bridge_log_text()

    # -- the host and the daemon

    def bind(self, bdfs=()):
        return self.call(MANAGER_PATH, MANAGER_IFACE, 'BindVfio', 'as', (list(bdfs),))

    def unbind(self, bdfs=()):
        return self.call(MANAGER_PATH, MANAGER_IFACE, 'UnbindVfio', 'as', (list(bdfs),))

    def ccctl(self, *args):
        r = self.run_ccctl(['--no-ask-password'] + list(args))
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def expected(self, bdfs, health='Healthy'):
        '''kubelet's view of these GPUs on the legacy VFIO layout: one
        device each, named by its IOMMU group, on its NUMA node.'''
        out = []
        for bdf in bdfs:
            numa = self.host.numa_node(bdf)
            out.append({'ID': str(self.host.iommu_group(bdf)), 'health': health,
                        'numa': [numa] if numa >= 0 else None})
        return sorted(out, key=lambda d: int(d['ID']))

    # -- kubelet's side

    def wait(self, pred, what, timeout=TIMEOUT):
        try:
            return self.kubelet.wait(pred, timeout, what, alive=self.alive)
        except (TimeoutError, RuntimeError) as e:
            self.fail(str(e))

    def registrations(self, resource=PGPU):
        return [r for r in self.kubelet.registrations if r['resource_name'] == resource]

    def wait_registered(self, resource=PGPU, count=1):
        self.wait(lambda: len(self.registrations(resource)) >= count,
                  '%d registration(s) of %s' % (count, resource))
        return self.registrations(resource)[count - 1]

    def plugin(self, resource=PGPU):
        '''The stand-in's connection to the plugin, once it has the options
        and a first list.'''
        return self.wait(lambda: (resource in self.kubelet.plugins
                                  and self.kubelet.plugins[resource].options is not None
                                  and self.kubelet.plugins[resource].lists
                                  and self.kubelet.plugins[resource]),
                         'kubelet connected to the %s plugin' % resource)

    def wait_list(self, expected, resource=PGPU, what=None):
        '''Waits until the last list the plugin sent is expected.'''
        def check():
            p = self.kubelet.plugins.get(resource)
            return p is not None and p.lists and p.lists[-1][1] == expected
        last = []

        def pred():
            p = self.kubelet.plugins.get(resource)
            if p is not None and p.lists:
                last[:] = [p.lists[-1][1]]
            return check()
        try:
            self.kubelet.wait(pred, TIMEOUT, what or 'the device list', alive=self.alive)
        except (TimeoutError, RuntimeError) as e:
            self.fail('%s; expected %r, last list %r' % (e, expected, last[0] if last else None))
        return self.kubelet.plugins[resource]

    # -- CDI

    def cdi_specs(self):
        specs = {}
        for path in glob.glob(os.path.join(self.host.root, 'var/run/cdi/*.yaml')):
            with open(path) as f:
                specs[path] = yaml.safe_load(f)
        return specs

    def resolve_cdi(self, qualified):
        '''A CDI name as containerd's CDI cache resolves it: exactly one
        device of that kind and name in the specs on disk; returns the
        device nodes it brings (its own, then the spec's).'''
        kind, name = qualified.split('=', 1)
        found = []
        for path, spec in self.cdi_specs().items():
            self.assertEqual(spec['cdiVersion'], '0.5.0', path)
            if spec['kind'] != kind:
                continue
            for dev in spec['devices']:
                if dev['name'] == name:
                    found.append([n['path'] for n in dev['containerEdits']['deviceNodes']]
                                 + [n['path'] for n in spec.get('containerEdits', {}).get('deviceNodes', [])])
        self.assertEqual(len(found), 1, '%s resolves to exactly one device (%r)' % (qualified, found))
        return found[0]

    def spec_names(self, kind=PGPU):
        path = os.path.join(self.host.root, 'var/run/cdi', kind.replace('/', '-') + '.yaml')
        with open(path) as f:
            spec = yaml.safe_load(f)
        self.assertEqual(spec['kind'], kind)
        return sorted(d['name'] for d in spec['devices'])

    def assert_allocation(self, response, containers):
        '''containers: per container, the (ID, nodes) it asked for.'''
        self.assertEqual(len(response.container_responses), len(containers))
        for resp, wanted in zip(response.container_responses, containers):
            nodes = []
            for _, n in wanted:
                nodes += [x for x in n if x not in nodes]
            self.assertEqual([(d.container_path, d.host_path, d.permissions) for d in resp.devices],
                             [(n, n, 'mrw') for n in nodes])
            self.assertEqual([c.name for c in resp.cdi_devices], ['%s=%s' % (PGPU, i) for i, _ in wanted])
            self.assertEqual(dict(resp.envs), {})
            self.assertEqual(list(resp.mounts), [])
            self.assertEqual(dict(resp.annotations), {})
            for (i, n), cdi in zip(wanted, resp.cdi_devices):
                # The CDI name brings the same nodes as the device specs.
                self.assertEqual(sorted(set(self.resolve_cdi(cdi.name))), sorted(set(n)), cdi.name)


class DevicePluginTest(DevicePluginTestCase):

    def test_register(self):
        self.start_bridge()
        reg = self.wait_registered()
        self.assertIsNone(reg['problem'])
        self.assertEqual(reg['version'], 'v1beta1')
        self.assertEqual(reg['endpoint'], ENDPOINT)
        self.assertEqual(reg['resource_name'], PGPU)
        self.assertTrue(reg['has_options'])
        self.assertEqual(reg['options'], {'pre_start_required': False, 'get_preferred_allocation_available': True})
        st = os.stat(os.path.join(self.plugin_dir, ENDPOINT))
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        p = self.plugin()
        self.assertEqual(p.options, reg['options'])
        # Nothing bound: the resource with no device.
        self.assertEqual(p.lists[-1][1], [])
        self.assertEqual(p.pre_start(['1']).ByteSize(), 0)
        # One registration, one resource: no NVSwitch on this host.
        self.assertEqual([r['resource_name'] for r in self.kubelet.registrations], [PGPU])
        # Logged once kubelet's answer is read, which may come after the
        # stand-in recorded the registration.
        self.wait_bridge_log('registered with kubelet')

    def test_devices(self):
        gpus = self.host.gpus()
        self.assertEqual(len(gpus), 8)
        self.bind()
        self.start_bridge()
        self.wait_registered()
        p = self.wait_list(self.expected(gpus))
        devices = p.lists[-1][1]
        self.assertEqual(len({d['ID'] for d in devices}), 8)
        self.assertEqual(sorted(d['numa'][0] for d in devices), [0, 0, 0, 0, 1, 1, 1, 1])
        # The IDs are the daemon's groups, and the spec names exactly them.
        self.assertEqual(sorted(d['ID'] for d in devices),
                         sorted(str(self.gpu(b)['IommuGroup']) for b in gpus))
        self.assertEqual(self.spec_names(), sorted(d['ID'] for d in devices))

    def test_bind_unbind(self):
        gpus = self.host.gpus()
        self.start_bridge()
        self.wait_registered()
        self.wait_list([])
        self.ccctl('bind-vfio', gpus[2])
        self.wait_list(self.expected([gpus[2]]), what='the first bound GPU')
        self.ccctl('bind-vfio', gpus[5], gpus[6])
        self.wait_list(self.expected([gpus[2], gpus[5], gpus[6]]), what='three bound GPUs')
        self.ccctl('unbind-vfio', gpus[5])
        self.wait_list(self.expected([gpus[2], gpus[6]]), what='one GPU unbound')
        self.ccctl('unbind-vfio')
        self.wait_list([], what='every GPU unbound')
        self.assertEqual(self.cdi_specs(), {}, 'the spec goes when nothing is bound')
        # The stream stayed open throughout: no second registration.
        self.assertEqual(len(self.registrations()), 1)
        self.assertIsNone(self.kubelet.plugins[PGPU].ended)

    def test_allocate_one(self):
        gpus = self.host.gpus()
        self.bind(gpus[:4])
        self.start_bridge()
        self.wait_registered()
        p = self.wait_list(self.expected(gpus[:4]))
        g = str(self.host.iommu_group(gpus[1]))
        resp = p.allocate([[g]])
        self.assert_allocation(resp, [[(g, ['/dev/vfio/vfio', '/dev/vfio/' + g])]])
        for path in ('/dev/vfio/vfio', '/dev/vfio/' + g):
            self.assertTrue(os.path.exists(os.path.join(self.host.root, path.lstrip('/'))), path)
        # Preferred: the one asked for, then its NUMA node's.
        ids = [d['ID'] for d in p.lists[-1][1]]
        pref = p.preferred(ids, [g], 2)
        self.assertEqual(len(pref.container_responses), 1)
        chosen = list(pref.container_responses[0].deviceIDs)
        self.assertEqual(chosen[0], g)
        self.assertEqual(len(chosen), 2)
        self.assertEqual({self.host.numa_node(b) for b in gpus if str(self.host.iommu_group(b)) in chosen}, {0})

    def test_allocate_two(self):
        gpus = self.host.gpus()
        self.bind()
        self.start_bridge()
        self.wait_registered()
        p = self.wait_list(self.expected(gpus))
        a, b = str(self.host.iommu_group(gpus[0])), str(self.host.iommu_group(gpus[7]))
        resp = p.allocate([[a, b]])
        self.assert_allocation(resp, [[(a, ['/dev/vfio/vfio', '/dev/vfio/' + a]),
                                       (b, ['/dev/vfio/vfio', '/dev/vfio/' + b])]])
        # Two containers of one pod, one device each.
        c = str(self.host.iommu_group(gpus[3]))
        resp = p.allocate([[a], [c]])
        self.assert_allocation(resp, [[(a, ['/dev/vfio/vfio', '/dev/vfio/' + a])],
                                      [(c, ['/dev/vfio/vfio', '/dev/vfio/' + c])]])
        # Preferred for two from everything: one NUMA node.
        pref = p.preferred([d['ID'] for d in p.lists[-1][1]], [], 2)
        chosen = list(pref.container_responses[0].deviceIDs)
        self.assertEqual(len(chosen), 2)
        nodes = {self.host.numa_node(g) for g in gpus if str(self.host.iommu_group(g)) in chosen}
        self.assertEqual(len(nodes), 1)

    def test_unknown_id(self):
        gpus = self.host.gpus()
        self.bind(gpus[:1])
        self.start_bridge()
        self.wait_registered()
        p = self.wait_list(self.expected(gpus[:1]))
        g = str(self.host.iommu_group(gpus[0]))
        unbound = str(self.host.iommu_group(gpus[1]))
        for ids, missing in (([g, '9999'], '9999'), ([unbound], unbound), (['vfio0'], 'vfio0')):
            with self.assertRaises(grpc.RpcError) as cm:
                p.allocate([ids])
            self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)
            self.assertEqual(cm.exception.details(), '%s has no device "%s"' % (PGPU, missing))
        # The same ID twice in one container.
        with self.assertRaises(grpc.RpcError) as cm:
            p.allocate([[g, g]])
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn('"%s"' % g, cm.exception.details())
        # The plugin still serves.
        self.assert_allocation(p.allocate([[g]]), [[(g, ['/dev/vfio/vfio', '/dev/vfio/' + g])]])
        self.assertIn('Allocate refused', self.bridge_log_text())

    def test_kubelet_restart(self):
        gpus = self.host.gpus()
        self.bind(gpus[:2])
        self.start_bridge()
        first = self.wait_registered()
        self.wait_list(self.expected(gpus[:2]))
        sock = os.path.join(self.plugin_dir, ENDPOINT)
        ino = file_id(sock)
        self.kubelet.restart()
        # A new registration, on the new kubelet.sock, for a socket served
        # again (the old one was deleted).
        second = self.wait(lambda: next((r for r in self.registrations()
                                         if r['generation'] == self.kubelet.generation), None),
                           'a registration with the restarted kubelet')
        self.assertIsNone(second['problem'])
        self.assertEqual(second['endpoint'], first['endpoint'])
        self.assertNotEqual(file_id(sock), ino, 'the socket was served again')
        self.assertIn('%s was removed; serving again' % sock, self.bridge_log_text())
        p = self.wait_list(self.expected(gpus[:2]), what='the list on the new connection')
        self.assertEqual(p.registration['generation'], self.kubelet.generation)
        # And it follows changes as before.
        self.ccctl('bind-vfio', gpus[2])
        self.wait_list(self.expected(gpus[:3]))

    def test_kubelet_socket_only(self):
        '''A kubelet.sock made again with the plugin's socket left in place
        (a kubelet that keeps the sockets): registered again, same socket.'''
        self.start_bridge()
        self.wait_registered()
        sock = os.path.join(self.plugin_dir, ENDPOINT)
        ino = file_id(sock)
        self.kubelet.stop()  # grpc removes kubelet.sock
        self.assertFalse(os.path.exists(os.path.join(self.plugin_dir, 'kubelet.sock')))
        self.kubelet.start()
        self.wait_registered(count=2)
        self.assertEqual(file_id(sock), ino, 'the same socket')
        self.assertNotIn('serving again', self.bridge_log_text())
        self.wait_list([])

    def test_daemon_restart(self):
        gpus = self.host.gpus()
        self.bind(gpus[:3])
        self.start_bridge()
        self.wait_registered()
        p = self.wait_list(self.expected(gpus[:3]))
        self.assertEqual(self.kill_daemon(signal.SIGTERM), 0)
        self.wait_list(self.expected(gpus[:3], health='Unhealthy'), what='every device unhealthy')
        g = str(self.host.iommu_group(gpus[0]))
        with self.assertRaises(grpc.RpcError) as cm:
            p.allocate([[g]])
        self.assertEqual(cm.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        self.assertEqual(cm.exception.details(), 'device "%s" of %s is unhealthy' % (g, PGPU))
        self.start_daemon()
        self.wait_list(self.expected(gpus[:3]), what='healthy again')
        self.assertEqual(len(self.registrations()), 1, 'the daemon\'s restart is no reason to register again')
        self.assert_allocation(p.allocate([[g]]), [[(g, ['/dev/vfio/vfio', '/dev/vfio/' + g])]])

    def test_sigterm(self):
        self.start_bridge()
        self.wait_registered()
        p = self.plugin()
        sock = os.path.join(self.plugin_dir, ENDPOINT)
        self.assertTrue(os.path.exists(sock))
        self.assertEqual(self.stop_bridge(), 0)
        self.assertFalse(os.path.exists(sock), 'the socket is removed at exit')
        self.wait(lambda: p.ended is not None, 'the ListAndWatch stream to end')
        self.assertTrue(os.path.exists(os.path.join(self.plugin_dir, 'kubelet.sock')), 'kubelet.sock is kubelet\'s')

    def test_disabled(self):
        '''--no-device-plugin: no socket; without an API server there is
        nothing left to do, and it says so.'''
        self.start_bridge(['--no-device-plugin'], wait_ready=False)
        rc = self.bridge.wait(60)
        self.bridge.expected_exit = True
        self.assertNotEqual(rc, 0)
        self.assertIn('no API server', self.bridge_log_text())
        self.assertEqual(sorted(os.listdir(self.plugin_dir)), ['kubelet.sock'])
        self.assertEqual(self.kubelet.registrations, [])


class DevicePluginIommufdTest(DevicePluginTestCase):
    HOST_ARGS = ['--gpus', '8', '--audio', '--iommufd', '--boot-ms', '0', '--tee', 'tdx']

    def test_iommufd(self):
        self.assertTrue(os.path.exists(os.path.join(self.host.root, 'dev/iommu')))
        gpus = self.host.gpus()
        self.bind(gpus[:2])
        self.start_bridge()
        self.wait_registered()
        expected, nodes = [], {}
        for bdf in gpus[:2]:
            props = self.gpu(bdf)
            cdev = props['VfioCdev']
            self.assertRegex(cdev, r'^/dev/vfio/devices/vfio[0-9]+$')
            n = cdev[len('/dev/vfio/devices/vfio'):]
            # The GPU's own node and its audio function's, from sysfs.
            audio = bdf[:-1] + '1'
            audio_dev = os.listdir(os.path.join(self.host.dev_dir(audio), 'vfio-dev'))
            self.assertEqual(len(audio_dev), 1)
            self.assertEqual(props['GroupVfioCdevs'], [cdev, '/dev/vfio/devices/' + audio_dev[0]])
            nodes[n] = props['GroupVfioCdevs'] + ['/dev/iommu']
            expected.append({'ID': n, 'health': 'Healthy', 'numa': [self.host.numa_node(bdf)]})
        expected.sort(key=lambda d: int(d['ID']))
        p = self.wait_list(expected)
        self.assertNotEqual(sorted(nodes), sorted(str(self.host.iommu_group(b)) for b in gpus[:2]),
                            'the IDs are vfioN numbers, not groups')
        self.assertEqual(self.spec_names(), sorted(nodes))
        ids = sorted(nodes, key=int)
        resp = p.allocate([ids])
        self.assert_allocation(resp, [[(i, nodes[i]) for i in ids]])
        # Never both layouts: no group node, no /dev/vfio/vfio.
        paths = [d.host_path for d in resp.container_responses[0].devices]
        self.assertFalse([x for x in paths if re.match(r'^/dev/vfio/([0-9]+|vfio)$', x)], paths)
        for path in paths:
            self.assertTrue(os.path.exists(os.path.join(self.host.root, path.lstrip('/'))), path)
        self.unbind()
        self.wait_list([])


class DevicePluginPerModelTest(DevicePluginTestCase):
    # Two H100s pci.ids names, one B200 it does not (0x2901, too new for
    # it): the daemon's built-in table names it, so it gets a model resource
    # of its own, never a bare device id.
    HOST_ARGS = ['--gpus', '2', '--blackwell', '1', '--boot-ms', '0', '--tee', 'tdx']

    def test_per_model(self):
        # The daemon's CDI kinds follow the same rule (nvidia-ccd.conf).
        self.kill_daemon(signal.SIGTERM)
        self.start_daemon('[Vfio]\nCdiKind=per-model\n')
        gpus = self.host.gpus()
        self.assertEqual(len(gpus), 3)
        h100, b200 = gpus[:2], gpus[2]
        names = {b: self.gpu(b)['Name'] for b in gpus}
        self.assertEqual(names[b200], 'GB100 [B200]', 'the built-in name of a part pci.ids lacks')
        self.assertNotEqual(names[h100[0]], '')
        h100_resource = model_resource(names[h100[0]], 0x2330)
        b200_resource = model_resource(names[b200], 0x2901)
        self.assertEqual(b200_resource, 'nvidia.com/GB100_B200')
        self.bind()
        self.start_bridge(env_extra={'P_GPU_ALIAS': ''})
        reg_h100 = self.wait_registered(h100_resource)
        reg_b200 = self.wait_registered(b200_resource)
        self.assertNotIn(PGPU, [r['resource_name'] for r in self.kubelet.registrations])
        self.assertNotEqual(reg_h100['endpoint'], reg_b200['endpoint'])
        for reg in (reg_h100, reg_b200):
            self.assertIsNone(reg['problem'])
            self.assertTrue(os.path.exists(os.path.join(self.plugin_dir, reg['endpoint'])))
        p = self.wait_list(self.expected(h100), resource=h100_resource)
        q = self.wait_list(self.expected([b200]), resource=b200_resource)

        # The H100s: CDI names of their own kind, resolved in its spec.
        g = str(self.host.iommu_group(h100[1]))
        resp = p.allocate([[g]])
        self.assertEqual([c.name for c in resp.container_responses[0].cdi_devices], ['%s=%s' % (h100_resource, g)])
        self.assertEqual(sorted(set(self.resolve_cdi('%s=%s' % (h100_resource, g)))),
                         ['/dev/vfio/' + g, '/dev/vfio/vfio'])
        self.assertEqual(self.spec_names(h100_resource), sorted(str(self.host.iommu_group(b)) for b in h100))
        # The B200: the same, under its own kind.
        b = str(self.host.iommu_group(b200))
        resp = q.allocate([[b]])
        self.assertEqual([c.name for c in resp.container_responses[0].cdi_devices], ['%s=%s' % (b200_resource, b)])
        self.assertEqual(sorted(set(self.resolve_cdi('%s=%s' % (b200_resource, b)))),
                         ['/dev/vfio/' + b, '/dev/vfio/vfio'])
        # And by index, in PCI address order, whatever the model.
        self.assertEqual(self.spec_names(PGPU), ['0', '1', '2'])
        self.assertEqual(self.resolve_cdi(PGPU + '=2'), self.resolve_cdi('%s=%s' % (b200_resource, b)))
        self.assertEqual(self.resolve_cdi(PGPU + '=1'), self.resolve_cdi('%s=%s' % (h100_resource, g)))

class PageProfileDevicePluginTest(DevicePluginTestCase):
    '''The defaults, as the Operator's 2023 page shows them: one resource per
    GPU model (nvidia.com/GH100_H100_PCIE on an H100 PCIe, 10de:2331), its
    CDI spec naming each device by its plugin ID, and the nvidia.com/pgpu
    spec naming the GPUs by index for the page's pod annotation.'''
    HOST_ARGS = ['--gpus', '0', '--add-gpu', '2331', '--add-gpu', '2331', '--boot-ms', '0', '--tee', 'sev-snp']
    RESOURCE_ARGS = None
    DAEMON_CONFIG = None
    RESOURCE = 'nvidia.com/GH100_H100_PCIE'

    def test_per_model_by_default(self):
        gpus = sorted(self.host.gpus())
        self.assertEqual(len(gpus), 2)
        for b in gpus:
            self.assertEqual(self.gpu(b)['Name'], 'GH100 [H100 PCIe]')
            self.assertEqual(model_resource(self.gpu(b)['Name'], 0x2331), self.RESOURCE)
        self.bind()
        self.start_bridge()
        reg = self.wait_registered(self.RESOURCE)
        self.assertIsNone(reg['problem'])
        self.assertEqual(reg['endpoint'], 'nvidia-cc-nvidia.com-GH100_H100_PCIE.sock')
        self.assertEqual(self.registrations(PGPU), [])
        p = self.wait_list(self.expected(gpus), resource=self.RESOURCE)
        # Allocate gives the CDI name of the resource's own kind, named by
        # the plugin's ID, which resolves to the GPU allocated.
        g = str(self.host.iommu_group(gpus[1]))
        resp = p.allocate([[g]])
        self.assertEqual([c.name for c in resp.container_responses[0].cdi_devices], ['%s=%s' % (self.RESOURCE, g)])
        self.assertEqual(sorted(set(self.resolve_cdi('%s=%s' % (self.RESOURCE, g)))),
                         ['/dev/vfio/' + g, '/dev/vfio/vfio'])
        self.assertEqual(self.spec_names(self.RESOURCE), sorted(str(self.host.iommu_group(b)) for b in gpus))
        # The page's annotation: nvidia.com/pgpu=N, the N-th GPU in PCI
        # address order, the same device nodes.
        self.assertEqual(self.spec_names(PGPU), ['0', '1'])
        for i, b in enumerate(gpus):
            self.assertEqual(self.resolve_cdi('%s=%d' % (PGPU, i)),
                             self.resolve_cdi('%s=%d' % (self.RESOURCE, self.host.iommu_group(b))))

    def test_single_resource_when_asked(self):
        # Today's Operator's profile on the same host: nvidia.com/pgpu, its
        # spec named by plugin IDs only (index names would collide).
        self.kill_daemon(signal.SIGTERM)
        self.start_daemon('[Vfio]\nCdiKind=nvidia.com/pgpu\n')
        gpus = sorted(self.host.gpus())
        self.bind()
        self.start_bridge(['--resource-name', PGPU])
        self.wait_list(self.expected(gpus), resource=PGPU)
        self.assertEqual(self.registrations(self.RESOURCE), [])
        self.assertEqual(self.spec_names(PGPU), sorted(str(self.host.iommu_group(b)) for b in gpus))
        self.assertFalse(os.path.exists(os.path.join(self.host.root, 'var/run/cdi/nvidia.com-GH100_H100_PCIE.yaml')))


if __name__ == '__main__':
    harness.main()
