#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# The workload role of nvidia-cc-k8s-bridge: nvidia.com/gpu.workload.config
# becomes BindVfio/UnbindVfio of the real nvidia-ccd on a simulated host,
# the vfio-manager label pauses it, the validation files follow the GPUs'
# drivers, a GPU in use is told on the Node and tried again, a mode change
# and a workload change that come together run in the Operator's order,
# the device plugin offers devices only once the mode is verified, and
# nvidia.com/cc.capable follows the daemon.  Same set-up as test_bridge.py
# (a private bus, the polkit mock, the kube-apiserver stand-in, the real
# kubectl) plus, where devices are offered, the kubelet stand-in, and for
# the seed's walkthrough the runtime classes' set-up of
# test_bridge_rtclass.py (a real docker-registry, the real containerd).  Every
# wait is on observable state: the stand-ins' condition variables, bus
# properties, the bridge's log through inotify.

import json
import os
import threading
import time

import harness
import kubelet_standin
from harness import GPU_IFACE, MANAGER_IFACE, MANAGER_PATH, gpu_path
from test_bridge import BridgeTestCase, MODE, MODE_STATE, NAMESPACE, NODE, PAUSED, TIMEOUT
from test_bridge_rtclass import FILE, GPU, SECRET, SECRET_NAMESPACE, SNP, RuntimeClassTestCase
from test_kata import KERNEL

WORKLOAD = 'nvidia.com/gpu.workload.config'
VFIO_MANAGER = 'nvidia.com/gpu.deploy.vfio-manager'
DEVICE_PLUGIN = 'nvidia.com/gpu.deploy.sandbox-device-plugin'
CAPABLE = 'nvidia.com/cc.capable'
PGPU = 'nvidia.com/pgpu'


class WorkloadTestCase(BridgeTestCase):

    def setUp(self):
        super().setUp()
        self.validations = os.path.dirname(self.readiness)

    # -- the node's files

    def validation(self, name):
        try:
            with open(os.path.join(self.validations, name)) as f:
                return f.read()
        except FileNotFoundError:
            return None

    def wait_validation(self, name, value, timeout=TIMEOUT):
        '''Waits (inotify on the directory) until the validation file name
        reads value, None: until it is absent.  The files are the bridge's
        own: no request to the API server tells of them, so the stand-in's
        condition variable would sleep through the change.'''
        ino = harness.Inotify()
        watched = False
        changes = (harness.Inotify.IN_CREATE | harness.Inotify.IN_DELETE | harness.Inotify.IN_MOVED_TO |
                   harness.Inotify.IN_MOVED_FROM | harness.Inotify.IN_CLOSE_WRITE)
        try:
            # The bridge makes the directory: its parent tells when.
            ino.watch(os.path.dirname(self.validations), harness.Inotify.IN_CREATE)
            deadline = time.monotonic() + timeout
            while True:
                if not watched and os.path.isdir(self.validations):
                    ino.watch(self.validations, changes)
                    watched = True
                if self.validation(name) == value:
                    return
                self.assertTrue(self.alive(), 'the bridge died waiting for %s' % name)
                self.wait_fd(ino.fd, max(deadline - time.monotonic(), 0.001), '%s to read %r' % (name, value))
                ino.drain()
        finally:
            ino.close()

    # -- the host

    def drivers(self):
        return [self.host.driver(b) for b in self.host.gpus()]

    def wait_drivers(self, driver):
        for bdf in self.host.gpus():
            self.wait_property(gpu_path(bdf), GPU_IFACE, 'Driver', driver, timeout=TIMEOUT)

    def bridge_log_text(self):
        with open(self.bridge_log, errors='replace') as f:
            return f.read()

    def wait_bridge_log(self, needle, timeout=TIMEOUT):
        '''Waits (inotify on the log file) until the bridge's log has needle.'''
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

    def vfio_calls(self):
        return [l for l in self.bridge_log_text().splitlines() if 'asking nvidia-ccd to ' in l]

    def event_count(self, reason):
        return sum(e.get('count', 1) for e in self.node_events(reason))


class BridgeWorkloadTest(WorkloadTestCase):

    def test_passthrough_and_back(self):
        self.start_bridge()
        # The default workload (container) on GPUs that are: nothing to do.
        self.wait_validation('workload-type', 'container\n')
        self.assertIsNone(self.validation('vfio-pci-ready'))
        self.assertEqual(self.vfio_calls(), [])

        out = self.kubectl_label(WORKLOAD + '=vm-passthrough')
        self.assertEqual(out.strip(), 'node/%s labeled' % NODE)
        self.wait_event('VfioBound')
        self.assertEqual(self.drivers(), ['vfio-pci'] * 2)
        self.assertEqual(self.validation('workload-type'), 'vm-passthrough\n')
        self.assertEqual(self.validation('vfio-pci-ready'), '')
        for bdf in self.host.gpus():
            self.assertEqual(self.gpu(bdf)['Driver'], 'vfio-pci')
        self.assertIn('Workload vm-passthrough applied', self.bridge_log_text())

        # The label removed: the default, container, gives the GPUs back.
        self.kubectl_label(WORKLOAD + '-')
        self.wait_event('VfioUnbound')
        self.assertEqual(self.drivers(), ['nvidia'] * 2)
        self.assertEqual(self.validation('workload-type'), 'container\n')
        self.assertIsNone(self.validation('vfio-pci-ready'), 'vfio-pci-ready stays after the unbind')
        self.assertEqual(len(self.vfio_calls()), 2, self.vfio_calls())

    def test_default_workload_option(self):
        self.start_bridge(['--default-workload', 'vm-passthrough'])
        self.wait_event('VfioBound')
        self.assertEqual(self.drivers(), ['vfio-pci'] * 2)
        self.assertNotIn(WORKLOAD, self.api.labels(NODE), 'the workload label is the cluster\'s')
        self.assertEqual(self.validation('vfio-pci-ready'), '')

    def test_vfio_ready_follows_the_drivers(self):
        self.kubectl_label(WORKLOAD + '=vm-passthrough')
        self.start_bridge()
        self.wait_event('VfioBound')
        self.assertEqual(self.validation('vfio-pci-ready'), '')
        # The mode role has reported: the end of its attempt, which makes
        # the workload role look at the GPUs again, is behind us.
        self.wait_state('off')
        # One GPU goes back on the host: not every GPU is on VFIO any more.
        gpu = self.host.gpus()[0]
        r = self.run_ccctl(['unbind-vfio', gpu])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_validation('vfio-pci-ready', None)
        self.assertEqual(self.validation('workload-type'), 'vm-passthrough\n')
        r = self.run_ccctl(['bind-vfio', gpu])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_validation('vfio-pci-ready', '')

    def test_vm_vgpu_not_handled(self):
        self.start_bridge()
        self.wait_validation('workload-type', 'container\n')
        self.sync_daemon()
        before = self.host.snapshot()
        self.kubectl_label(WORKLOAD + '=vm-vgpu')
        ev = self.wait_event('WorkloadNotHandled')
        self.assertEqual(ev['type'], 'Warning')
        self.assertIn('vm-vgpu is not handled', ev['message'])
        self.assertEqual(self.validation('workload-type'), 'vm-vgpu\n')
        self.sync_daemon()
        self.assertEqual(self.host.snapshot(), before, 'the GPUs were touched')
        self.assertEqual(self.vfio_calls(), [])

    def test_bad_workload(self):
        self.start_bridge()
        self.wait_validation('workload-type', 'container\n')
        self.sync_daemon()
        before = self.host.snapshot()
        self.kubectl_label(WORKLOAD + '=vm-passthru')
        ev = self.wait_event('InvalidWorkload')
        self.assertIn('"vm-passthru" is not one of container, vm-passthrough, vm-vgpu', ev['message'])
        self.assertEqual(self.validation('workload-type'), 'container\n', 'a bad value was written')
        self.sync_daemon()
        self.assertEqual(self.host.snapshot(), before)
        self.assertEqual(self.vfio_calls(), [])
        # A good value afterwards works.
        self.kubectl_label(WORKLOAD + '=vm-passthrough')
        self.wait_event('VfioBound')
        self.assertEqual(self.drivers(), ['vfio-pci'] * 2)

    def test_bad_default_workload(self):
        self.start_bridge(['--default-workload', 'vm'], wait_ready=False)
        self.assertNotEqual(self.bridge.wait(30), 0)
        self.bridge.expected_exit = True
        self.assertIn('default workload "vm" is not one of container, vm-passthrough, vm-vgpu',
                      self.bridge_log_text())

    def test_vfio_manager_paused(self):
        self.api.set_labels(NODE, {VFIO_MANAGER: 'false', WORKLOAD: 'vm-passthrough'})
        self.start_bridge()
        ev = self.wait_event('VfioPaused')
        self.assertIn(VFIO_MANAGER + '=false', ev['message'])
        self.sync_daemon()
        self.assertEqual(self.drivers(), ['nvidia'] * 2)
        self.assertEqual(self.vfio_calls(), [])
        # A pause of another's (the Operator's cc-manager) holds it too.
        self.kubectl_label(VFIO_MANAGER + '=' + PAUSED)
        self.api.wait_for(lambda: any(PAUSED in e['message'] for e in self.node_events('VfioPaused')),
                          TIMEOUT, 'the second pause told', alive=self.alive)
        self.assertEqual(self.drivers(), ['nvidia'] * 2)
        # Back: it binds.
        self.kubectl_label(VFIO_MANAGER + '=true')
        self.wait_event('VfioBound')
        self.assertEqual(self.drivers(), ['vfio-pci'] * 2)
        self.assertEqual(len(self.vfio_calls()), 1)

    def test_gpu_in_use_retried(self):
        gpus = self.host.gpus()
        self.host.hold_gpu(4321, 'python3', gpus[1])
        self.kubectl_label(WORKLOAD + '=vm-passthrough')
        self.start_bridge()
        # Told on the Node, naming the holder, and tried again.
        ev = self.wait_event('GPUInUse', count=2)
        self.assertEqual(ev['type'], 'Warning')
        self.assertIn('%s is in use by python3 (pid 4321)' % gpus[1], ev['message'])
        self.assertIn('nothing was changed', ev['message'])
        self.assertEqual(self.drivers(), ['nvidia'] * 2, 'a GPU was taken while one was held')
        self.assertIsNone(self.validation('vfio-pci-ready'))
        log = self.bridge_log_text()
        self.assertIn('Workload vm-passthrough could not be applied', log)
        self.assertIn('trying workload vm-passthrough again in', log)
        _, rows = self.describe_events()
        self.assertIn('GPUInUse', [r[1] for r in rows])
        # The holder goes: the next try binds.
        self.host.remove_holder(4321)
        self.wait_event('VfioBound')
        self.assertEqual(self.drivers(), ['vfio-pci'] * 2)
        self.assertEqual(self.validation('vfio-pci-ready'), '')

    def test_vm_holds_group_on_unbind(self):
        self.kubectl_label(WORKLOAD + '=vm-passthrough')
        self.start_bridge()
        self.wait_event('VfioBound')
        gpu = self.host.gpus()[0]
        group = self.host.iommu_group(gpu)
        self.host.add_holder(4242, 'qemu-system-x86', '/dev/vfio/%d' % group)
        self.kubectl_label(WORKLOAD + '=container')
        ev = self.wait_event('GPUInUse')
        self.assertIn('%s is in use by qemu-system-x86 (pid 4242)' % gpu, ev['message'])
        self.assertIn('Workload container waits', ev['message'])
        self.assertEqual(self.drivers(), ['vfio-pci'] * 2, 'a GPU was taken from a running VM')
        self.assertEqual(self.validation('vfio-pci-ready'), '')
        self.host.remove_holder(4242)
        self.wait_event('VfioUnbound')
        self.assertEqual(self.drivers(), ['nvidia'] * 2)
        self.assertIsNone(self.validation('vfio-pci-ready'))

    def test_daemon_restart_binds_again(self):
        self.kubectl_label(WORKLOAD + '=vm-passthrough')
        self.start_bridge()
        self.wait_event('VfioBound')
        # A new host (a reboot): the GPUs are on nvidia again; the bridge
        # sees the daemon come back and binds them again.
        self.restart_on_host(self.HOST_ARGS)
        self.wait_event('VfioBound', count=2)
        self.assertEqual(self.drivers(), ['vfio-pci'] * 2)
        self.wait_validation('vfio-pci-ready', '')


class BridgeWorkloadOrderTest(WorkloadTestCase):
    NODE_LABELS = {VFIO_MANAGER: 'true', DEVICE_PLUGIN: 'true'}

    def log_index(self, needle, start=0):
        log = self.bridge_log_text()
        i = log.find(needle, start)
        self.assertGreaterEqual(i, 0, 'not in the log: %r' % needle)
        return i

    def test_mode_waits_for_a_vfio_call(self):
        gpu = self.host.gpus()[0]
        self.host.block_unbind(gpu)
        self.start_bridge()
        self.kubectl_label(WORKLOAD + '=vm-passthrough')
        self.wait_bridge_log('asking nvidia-ccd to bind')
        self.set_mode_label('on')
        log = self.wait_bridge_log('the node asks for mode on')
        self.assertNotIn('asking nvidia-ccd for mode', log, 'a switch began during the bind')
        self.assertEqual(self.manager()['Mode'], 'off')
        # The kernel lets go (the open waits for the daemon to be in the
        # unbind): the bind ends, then the switch begins.
        released = []

        def release():
            fd = os.open(self.host.unbind_fifo(gpu), os.O_WRONLY)
            try:
                os.write(fd, b'x')
                released.append(True)
            finally:
                os.close(fd)
        t = threading.Thread(target=release, daemon=True)
        t.start()
        t.join(TIMEOUT)
        self.assertTrue(released, 'the daemon never waited in the unbind')
        self.wait_state('on')
        self.wait_event('VfioBound')
        self.assert_gpus('on')
        self.assertEqual(self.drivers(), ['vfio-pci'] * 2)
        bound = self.log_index('Workload vm-passthrough applied')
        self.log_index('asking nvidia-ccd for mode on', bound)

    def test_mode_and_workload_together(self):
        self.start_bridge(['--default-mode', 'off'])
        self.wait_state('off')
        self.api.add_pod(NAMESPACE, 'vfio-manager-x', NODE, {'app': 'nvidia-vfio-manager'})
        # One change of the node: both labels.
        self.api.set_labels(NODE, {MODE: 'on', WORKLOAD: 'vm-passthrough'})
        self.wait_labels(lambda l: l.get(VFIO_MANAGER) == PAUSED, 'the operands paused')
        # Nothing bound while the operands leave.
        self.sync_daemon()
        self.assertEqual(self.drivers(), ['nvidia'] * 2)
        self.assertEqual(self.vfio_calls(), [])
        self.api.delete_pod(NAMESPACE, 'vfio-manager-x')
        self.wait_labels(lambda l: l.get(MODE_STATE) == 'on' and l.get(VFIO_MANAGER) == 'true'
                         and l.get(DEVICE_PLUGIN) == 'true', 'mode on and the operands restored')
        self.wait_event('VfioBound')
        self.assert_gpus('on')
        self.assertEqual(self.drivers(), ['vfio-pci'] * 2)
        # The Operator's order: pause, switch, bind, restore.
        paused = self.log_index('pausing ' + VFIO_MANAGER)
        switching = self.log_index('asking nvidia-ccd for mode on', paused)
        bound = self.log_index('asking nvidia-ccd to bind', switching)
        self.log_index('restoring 2 operand label(s)', bound)
        # The daemon verified the mode before it bound anything.
        daemon = self.daemon_log_text()
        verified = daemon.find('mode on set and verified')
        self.assertGreaterEqual(verified, 0, daemon)
        self.assertGreater(daemon.find('bound to vfio-pci'), verified, daemon)

        # The mode again, with the GPUs on VFIO: the daemon switches them
        # there and gives them back to vfio-pci; nothing is bound again.
        calls = len(self.vfio_calls())
        self.set_mode_label('off')
        self.wait_state('off')
        self.assert_gpus('off')
        self.assertEqual(self.drivers(), ['vfio-pci'] * 2)
        self.wait_validation('vfio-pci-ready', '')
        self.assertEqual(len(self.vfio_calls()), calls)


class DevicesTestCase(WorkloadTestCase):
    '''With the device plugin and the kubelet stand-in.'''
    DEVICE_PLUGIN_DIR = 'device-plugins'

    def setUp(self):
        super().setUp()
        kubelet_standin.stubs()
        self.plugin_dir = os.path.join(self.tmp, self.DEVICE_PLUGIN_DIR)
        os.mkdir(self.plugin_dir)
        self.kubelet = kubelet_standin.KubeletStandin(self.plugin_dir)
        self.kubelet.start()
        self.addCleanup(self.kubelet.stop)

    def last_list(self):
        p = self.kubelet.plugins.get(PGPU)
        return p.lists[-1][1] if p is not None and p.lists else None

    def wait_list(self, pred, what):
        def check():
            l = self.last_list()
            return l is not None and pred(l)
        try:
            self.kubelet.wait(check, TIMEOUT, what, alive=self.alive)
        except (TimeoutError, RuntimeError) as e:
            self.fail('%s; last list %r' % (e, self.last_list()))
        return self.last_list()


class BridgeWorkloadDevicesTest(DevicesTestCase):
    NODE_LABELS = {VFIO_MANAGER: 'true', WORKLOAD: 'vm-passthrough'}

    def test_devices_only_once_mode_verified(self):
        self.api.add_pod(NAMESPACE, 'vfio-manager-x', NODE, {'app': 'nvidia-vfio-manager'})
        self.set_mode_label('on')
        self.start_bridge(['--default-mode', 'off'])
        self.wait_labels(lambda l: l.get(VFIO_MANAGER) == PAUSED, 'the operands paused')
        # Registered, and nothing offered while the mode is switching.
        self.wait_list(lambda l: l == [], 'an empty list')
        self.api.delete_pod(NAMESPACE, 'vfio-manager-x')
        devices = self.wait_list(lambda l: len(l) == 2, 'two devices')
        self.assertEqual([d['health'] for d in devices], ['Healthy'] * 2)
        # The state label is a PATCH of its own, under way beside the bind.
        self.wait_labels(lambda l: l.get(MODE_STATE) == 'on', MODE_STATE + '=on')
        self.assertEqual(self.drivers(), ['vfio-pci'] * 2)
        # Every list sent carried devices only once the mode was on.
        lists = [l for _, l in self.kubelet.plugins[PGPU].lists]
        first = next(i for i, l in enumerate(lists) if l)
        self.assertTrue(all(l for l in lists[first:]), lists)

        # A switch withdraws them until the new mode is verified.
        self.set_mode_label('devtools')
        self.wait_state('devtools')
        self.wait_list(lambda l: len(l) == 2, 'the devices back')
        lists = [l for _, l in self.kubelet.plugins[PGPU].lists]
        self.assertIn([], lists[first:], 'the devices were not withdrawn during the switch')


class BridgeGateTest(WorkloadTestCase, RuntimeClassTestCase):
    '''nvidia-ccd runs one state-changing call at a time and answers Busy
    to another: the bridge's roles take turns instead of failing.  The
    daemon is held in the middle of a call by an unbind the simulated
    kernel blocks, while another role's call comes.'''

    def hold_in_unbind(self, gpu):
        '''The next unbind of gpu blocks in the simulated kernel.  Returns
        (entered, release): entered is set once the daemon waits in it (a
        FIFO opens for writing only when its reader has opened it), and
        release() lets the unbind go on.'''
        self.host.block_unbind(gpu)
        entered, go = threading.Event(), threading.Event()

        def hold():
            fd = os.open(self.host.unbind_fifo(gpu), os.O_WRONLY)
            try:
                entered.set()
                go.wait(TIMEOUT)
                os.write(fd, b'x')
            finally:
                os.close(fd)
        t = threading.Thread(target=hold, daemon=True)
        t.start()
        self.addCleanup(go.set)

        def release():
            go.set()
            t.join(TIMEOUT)
            self.assertFalse(t.is_alive(), 'the daemon never waited in the unbind')
        return entered, release

    def wait_bridge_log_any(self, needles):
        '''Waits until one of needles is in the bridge's log; returns it.'''
        found = []

        def check():
            text = self.bridge_log_text()
            found[:] = [n for n in needles if n in text]
            return found
        ino = harness.Inotify()
        try:
            ino.watch(self.bridge_log, harness.Inotify.IN_MODIFY)
            deadline = time.monotonic() + TIMEOUT
            while not check():
                self.wait_fd(ino.fd, max(deadline - time.monotonic(), 0.001), 'one of %r in the bridge log' % needles)
                ino.drain()
        finally:
            ino.close()
        return found[0]

    def warnings(self):
        return [(e['reason'], e['message']) for e in self.node_events() if e['type'] == 'Warning']

    def test_mode_and_runtime_class_together(self):
        art, ref = self.push('v1')
        self.add_pull_secret()
        self.write_file('runtimeClasses: []\n')
        self.start()
        self.wait_labels(lambda l: l.get(MODE_STATE) == 'off', 'the mode reported')
        entered, release = self.hold_in_unbind(self.host.gpus()[0])
        self.set_mode_label('on')
        self.assertTrue(entered.wait(TIMEOUT), 'the switch never reached the unbind')
        # The switch runs in nvidia-ccd: the file asks for a class now.
        self.write_file([self.entry(GPU, ref)])
        seen = self.wait_bridge_log_any(["InstallKataArtifacts waits for the bridge's SetMode to end",
                                         'could not be installed'])
        self.assertIn('waits', seen, self.bridge_log_text())
        self.assertEqual(self.installed(), {}, 'installed during the switch')
        release()
        self.wait_state('on')
        self.wait_events('RuntimeClassInstalled', 1)
        self.assert_gpus('on')
        self.assertEqual(sorted(self.installed()), [GPU])
        self.assert_registered(GPU)
        self.assertEqual(self.warnings(), [])
        # nvidia-ccd pulled once the switch was over.
        daemon = self.daemon_log_text()
        verified = daemon.find('mode on set and verified')
        self.assertGreaterEqual(verified, 0, daemon)
        self.assertGreater(daemon.find('Pulling %s for runtime class %s' % (ref, GPU)), verified, daemon)

    def test_removal_and_unbind_together(self):
        art, ref = self.push('v1')
        self.add_pull_secret()
        self.write_file([self.entry(GPU, ref)])
        self.kubectl_label(WORKLOAD + '=vm-passthrough')
        self.start()
        self.wait_event('VfioBound')
        self.wait_events('RuntimeClassInstalled', 1)
        entered, release = self.hold_in_unbind(self.host.gpus()[0])
        self.kubectl_label(WORKLOAD + '=container')
        self.assertTrue(entered.wait(TIMEOUT), 'UnbindVfio never reached the unbind')
        # UnbindVfio runs in nvidia-ccd: the class leaves the file now.
        self.write_file('runtimeClasses: []\n')
        seen = self.wait_bridge_log_any(["RemoveKataArtifacts waits for the bridge's UnbindVfio to end",
                                         'could not be removed'])
        self.assertIn('waits', seen, self.bridge_log_text())
        release()
        self.wait_event('VfioUnbound')
        self.wait_events('RuntimeClassRemoved', 1)
        self.assertEqual(self.drivers(), ['nvidia'] * 2)
        self.assertEqual(self.installed(), {})
        self.assertEqual(self.record(), [])
        self.assertEqual(self.warnings(), [])
        self.assertEqual(self.node_events('GPUInUse'), [])


class BridgeCapableTest(WorkloadTestCase):
    HOST_ARGS = ['--gpus', '2', '--boot-ms', '0', '--tee', 'tdx', '--add-gpu', '0x2b85:0x030000']

    def wait_capable(self, value):
        return self.wait_labels(lambda l: l.get(CAPABLE) == value, '%s=%s' % (CAPABLE, value))

    def test_capable_follows_daemon(self):
        # An RTX 5090 beside the H100s: not every GPU is capable.
        self.assertFalse(self.manager()['CcCapable'])
        self.start_bridge()
        self.wait_capable('false')
        # It leaves; a rescan tells (PropertiesChanged).
        extra = [b for b in self.host.gpus() if self.host.device_id(b) == 0x2b85]
        self.assertEqual(len(extra), 1)
        self.host.remove_device(extra[0])
        self.call(MANAGER_PATH, MANAGER_IFACE, 'Rescan')
        self.wait_manager('CcCapable', True)
        self.wait_capable('true')
        # Someone else's value is put right.
        self.kubectl_label(CAPABLE + '=false')
        self.wait_capable('true')
        # A host without a TEE: the daemon restarted on it says none.
        self.restart_on_host(['--gpus', '2', '--boot-ms', '0', '--tee', 'none'])
        self.assertEqual(self.manager()['HostTee'], 'none')
        self.wait_capable('false')

    def test_capable_with_tee(self):
        self.restart_on_host(['--gpus', '2', '--boot-ms', '0', '--tee', 'sev-snp'])
        self.start_bridge()
        self.wait_capable('true')

    def test_no_workload_role(self):
        self.start_bridge(['--no-workload'])
        self.set_mode_label('on')
        self.wait_state('on')
        self.assertNotIn(CAPABLE, self.api.labels(NODE))
        self.assertIsNone(self.validation('workload-type'))



class BridgeWalkthroughTest(DevicesTestCase, RuntimeClassTestCase):
    '''The seed's walkthrough (the GPU Operator's confidential-containers
    page), end to end on one node: a simulated 8xH100 host with TDX, the
    operands the Operator deploys on a vm-passthrough node, the device
    plugin before kubelet, and the runtime classes of kata-manager: the
    ConfigMap of deploy/kubernetes applied with its artifacts in a real
    docker-registry, the RuntimeClass objects of deploy/kubernetes, the
    real containerd judging the configuration nvidia-ccd writes.'''
    HOST_ARGS = ['--gpus', '8', '--boot-ms', '0', '--tee', 'tdx']
    NODE_LABELS = {VFIO_MANAGER: 'true', DEVICE_PLUGIN: 'true',
                   'nvidia.com/gpu.deploy.sandbox-validator': 'true'}
    CONFIGMAP = 'nvidia-cc-k8s-bridge-runtime-classes'

    def seed_runtime_classes(self, refs):
        '''The runtime-class ConfigMap of deploy/kubernetes (the Operator's
        kata-manager classes), each url put at its artifacts in the test's
        registry (nvcr.io is not reachable) with the pull secret it needs;
        written where kubectl apply can take it.'''
        import yaml
        with open(os.path.join(self.srcdir, 'deploy/kubernetes/runtime-classes-configmap.yaml')) as f:
            cm = yaml.safe_load(f)
        config = yaml.safe_load(cm['data'][FILE])
        self.assertEqual(sorted(c['name'] for c in config['runtimeClasses']), sorted(refs))
        for c in config['runtimeClasses']:
            c['artifacts'] = {'url': refs[c['name']], 'pullSecret': SECRET}
        cm['data'][FILE] = yaml.safe_dump(config)
        path = os.path.join(self.tmp, 'runtime-classes-configmap.yaml')
        with open(path, 'w') as f:
            yaml.safe_dump(cm, f)
        return path

    def project_configmap(self):
        '''The kubelet's part: the ConfigMap as the API server has it,
        written into the bridge's volume.'''
        r = self.kubectl('get', 'configmap', '-n', SECRET_NAMESPACE, self.CONFIGMAP, '-o', 'json')
        self.write_file(json.loads(r.stdout)['data'][FILE])

    def resolve_cdi(self, qualified):
        '''As containerd's CDI cache: exactly one device of that kind and
        name in the specs on disk; returns its device nodes.'''
        import glob
        import yaml
        kind, name = qualified.split('=', 1)
        found = []
        for path in glob.glob(os.path.join(self.host.root, 'var/run/cdi/*.yaml')):
            with open(path) as f:
                spec = yaml.safe_load(f)
            if spec['kind'] != kind:
                continue
            found += [[n['path'] for n in d['containerEdits']['deviceNodes']]
                      for d in spec['devices'] if d['name'] == name]
        self.assertEqual(len(found), 1, '%s resolves to exactly one device (%r)' % (qualified, found))
        return found[0]

    def test_walkthrough(self):
        gpus = self.host.gpus()
        self.assertEqual(len(gpus), 8)
        self.api.add_pod(NAMESPACE, 'vfio-manager-x', NODE, {'app': 'nvidia-vfio-manager'})
        # The artifacts in the registry, its pull secret in the bridge's
        # namespace, the runtime-class file as deployed (no class yet).
        refs = {}
        for name, version in ((GPU, 1), (SNP, 2)):
            art, refs[name] = self.push(name, version)
        self.add_pull_secret()
        self.write_file('runtimeClasses: []\n')
        self.start()
        self.wait_labels(lambda l: l.get(CAPABLE) == 'true', CAPABLE + '=true')
        self.wait_list(lambda l: l == [], 'the plugin registered, no device yet')

        # As the page does it: the workload label (the CcRuntime's node
        # selector), which vfio-manager's part follows at once.
        self.kubectl_label(WORKLOAD + '=vm-passthrough')
        self.wait_event('VfioBound')
        self.assertEqual(self.drivers(), ['vfio-pci'] * 8)

        # The Operator installed with kata-manager: its runtime classes
        # (the ConfigMap applied; the kubelet updates the volume) and their
        # RuntimeClass objects; and at once the mode, on the node.  nvidia-ccd
        # runs one of these at a time: the bridge's roles take turns.
        out = self.kubectl('apply', '-n', SECRET_NAMESPACE, '-f', self.seed_runtime_classes(refs)).stdout
        self.assertEqual(out.strip(), 'configmap/%s created' % self.CONFIGMAP)
        self.project_configmap()
        self.kubectl('apply', '-f', os.path.join(self.srcdir, 'deploy/kubernetes/runtimeclasses.yaml'))
        self.kubectl_label(MODE + '=on')
        self.wait_labels(lambda l: l.get(VFIO_MANAGER) == PAUSED, 'the operands paused')
        self.api.delete_pod(NAMESPACE, 'vfio-manager-x')
        # The page's verification: both classes available, the artifacts
        # on the host.  kata-qemu-nvidia-gpu for every node,
        # kata-qemu-nvidia-gpu-snp for one labelled cc.capable (by the
        # bridge itself); pulled, and registered in containerd.
        self.wait_events('RuntimeClassInstalled', 2)
        installed = self.installed()
        self.assertEqual(sorted(installed), [GPU, SNP])
        for name in (GPU, SNP):
            self.assertEqual(installed[name]['Reference'], refs[name])
            self.assert_registered(name)
            files = dict(self.files(1 if name == GPU else 2))
            self.assertEqual(sorted(os.listdir(os.path.join(self.artifacts, name))), sorted(files))
            with open(os.path.join(self.artifacts, name, KERNEL), 'rb') as f:
                self.assertEqual(f.read(), files[KERNEL], 'the kernel of ' + name)
        self.assertEqual(self.record(), [GPU, SNP])
        # The cluster side: handler = name, as kubectl get runtimeclass shows.
        out = self.kubectl('get', 'runtimeclass', '-l', 'nvidia.com/kata-runtime-class=true',
                           '-o', 'jsonpath={range .items[*]}{.metadata.name}={.handler} {end}').stdout
        self.assertEqual(sorted(out.split()), sorted('%s=%s' % (n, n) for n in (GPU, SNP)))

        # The mode, switched beside them.
        labels = self.wait_labels(lambda l: l.get(MODE_STATE) == 'on' and l.get(VFIO_MANAGER) == 'true',
                                  'mode on and the operands restored')
        self.assertEqual(labels['nvidia.com/cc.ready.state'], 'true')
        self.assertEqual(labels['nvidia.com/gpu.deploy.sandbox-validator'], 'true')
        self.assertEqual(labels[CAPABLE], 'true')
        devices = self.wait_list(lambda l: len(l) == 8 and all(d['health'] == 'Healthy' for d in l),
                                 '8 healthy devices')
        self.assert_gpus('on')
        self.assertEqual(self.drivers(), ['vfio-pci'] * 8)
        self.assertEqual(self.validation('workload-type'), 'vm-passthrough\n')
        self.assertEqual(self.validation('vfio-pci-ready'), '')
        self.assertEqual(self.readiness_text(), 'on\n')
        for reason in ('OperandsPaused', 'OperandsRestored', 'CCModeApplied'):
            self.wait_event(reason)
        self.assertEqual(sorted(int(d['ID']) for d in devices), sorted(self.host.iommu_group(b) for b in gpus))
        # The classes are still there, the mode switched beside them.
        self.assertEqual(sorted(self.installed()), [GPU, SNP])
        self.assert_registered(SNP)

        # A pod gets one GPU: kubelet's Allocate, resolved as Kata does.
        plugin = self.kubelet.plugins[PGPU]
        one = devices[0]['ID']
        resp = plugin.allocate([[one]])
        c = resp.container_responses[0]
        self.assertEqual([d.name for d in c.cdi_devices], ['%s=%s' % (PGPU, one)])
        nodes = self.resolve_cdi(c.cdi_devices[0].name)
        self.assertIn('/dev/vfio/' + one, nodes)
        self.assertEqual(sorted(d.host_path for d in c.devices), ['/dev/vfio/' + one, '/dev/vfio/vfio'])

        # And back: mode off, workload container.
        self.kubectl_label(MODE + '=off', WORKLOAD + '=container')
        self.wait_state('off')
        self.wait_list(lambda l: l == [], 'the devices withdrawn')
        self.wait_event('VfioUnbound')
        self.assert_gpus('off')
        self.assertEqual(self.drivers(), ['nvidia'] * 8)
        self.assertIsNone(self.validation('vfio-pci-ready'))
        self.assertEqual(self.validation('workload-type'), 'container\n')
        # The runtime classes do not depend on the mode: they stay.
        self.assertEqual(sorted(self.installed()), [GPU, SNP])
        self.assertEqual(self.events_of('RuntimeClassRemoved'), 0)
        self.assert_registered(SNP)
        # Taken out of the ConfigMap: removed from the node and containerd.
        self.kubectl('patch', 'configmap', '-n', SECRET_NAMESPACE, self.CONFIGMAP, '--type', 'merge',
                     '-p', json.dumps({'data': {FILE: 'runtimeClasses: []\n'}}))
        self.project_configmap()
        self.wait_events('RuntimeClassRemoved', 2)
        self.assertEqual(self.installed(), {})
        runtimes = self.runtimes()
        self.assertNotIn(GPU, runtimes)
        self.assertNotIn(SNP, runtimes)
        self.assertFalse(os.path.exists(os.path.join(self.artifacts, SNP)))
        self.assertEqual(self.record(), [])
        # Every step went through the first time.
        self.assertEqual([(e['reason'], e['message']) for e in self.node_events() if e['type'] != 'Normal'], [])


if __name__ == '__main__':
    harness.main()
