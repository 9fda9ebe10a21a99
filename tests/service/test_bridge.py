#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# nvidia-cc-k8s-bridge end to end: a private bus, the real nvidia-ccd on a
# simulated host, the polkit mock, the kube-apiserver stand-in
# (kube_standin.py, over TLS with a token file) and the real bridge.  The
# node's labels are changed with the real kubectl or through the stand-in;
# every wait is on observable state (the stand-in's condition variable,
# which the exit of the bridge or the daemon also wakes; bus replies;
# NOTIFY_SOCKET), with a deadline.

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import harness
import kube_standin
from harness import MANAGER_IFACE, MANAGER_PATH

NODE = 'gpu-node-1'
MODE = 'nvidia.com/cc.mode'
MODE_STATE = 'nvidia.com/cc.mode.state'
READY_STATE = 'nvidia.com/cc.ready.state'
PAUSED = 'paused-for-cc-mode-change'
NAMESPACE = 'gpu-operator'
TIMEOUT = 60
CCM = 8


class BridgeTestCase(harness.ServiceTestCase):
    HOST_ARGS = ['--gpus', '2', '--boot-ms', '0', '--tee', 'tdx']
    NODE_LABELS = {}
    # Today's Operator's profile: nvidia.com/cc.mode.state is the mode
    # applied; None: the bridge's default (success or failed).
    MODE_STATE_FORMAT = 'mode'
    # Its device plugin profile: the single Kata-mode resource, and the
    # daemon's CDI spec of that kind; None: the defaults (one resource per
    # GPU model, CdiKind=per-model).
    RESOURCE_NAME = 'nvidia.com/pgpu'
    DAEMON_CONFIG = '[Vfio]\nCdiKind=nvidia.com/pgpu\n'
    # A directory under the case's own: the device plugin serves there.
    DEVICE_PLUGIN_DIR = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bridge_bin = harness.env_path('NVIDIA_CC_K8S_BRIDGE')
        cls.kubectl_bin = os.environ.get('KUBECTL') or shutil.which('kubectl')
        cls.pki = tempfile.mkdtemp(prefix='kube-standin-pki-')
        # Readable by a bridge that runs as another user.
        os.chmod(cls.pki, 0o755)
        kube_standin.make_pki(cls.pki)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.bridge = None
        self.bridges = []
        self.bridge_log = os.path.join(self.tmp, 'nvidia-cc-k8s-bridge.log')
        self.token = 'token-0'
        self.token_file = os.path.join(self.tmp, 'token')
        self.write_token(self.token)
        self.api = kube_standin.KubeStandin(tls_dir=self.pki, tokens=[self.token])
        self.api.add_node(NODE, self.NODE_LABELS)
        self.api.add_node('other-node', {MODE: 'off'})
        self.api.start()
        self.addCleanup(self.api.stop)
        self.kubeconfig = kube_standin.write_kubeconfig(
            os.path.join(self.tmp, 'kubeconfig'), self.api.url,
            ca_file=os.path.join(self.pki, 'ca.crt'), token_file=self.token_file)
        self.readiness = os.path.join(self.tmp, 'validations', '.cc-manager-ctr-ready')
        self.bridge_state = os.path.join(self.tmp, 'bridge-state')
        self.liveness = os.path.join(self.tmp, 'run', 'alive')
        self.addCleanup(self._stop_bridges)
        self._poke_daemon()

    # -- processes

    def _watch_exit(self, proc):
        '''Wakes the stand-in's waiters when proc exits.'''
        def run():
            import select
            try:
                select.select([proc.pidfd], [], [])
            except (OSError, ValueError):
                pass
            self.api.poke()
        threading.Thread(target=run, daemon=True).start()

    def _poke_daemon(self):
        if self.daemon is not None:
            self._watch_exit(self.daemon)

    def start_daemon(self, config_text='', *args, **kwargs):
        if config_text == '' and self.DAEMON_CONFIG:
            config_text = self.DAEMON_CONFIG
        d = super().start_daemon(config_text, *args, **kwargs)
        if getattr(self, 'api', None) is not None:
            self._watch_exit(d)
        return d

    def write_token(self, token):
        # As the kubelet rotates a projected token: a new file renamed over.
        tmp = self.token_file + '.new'
        with open(tmp, 'w') as f:
            f.write(token + '\n')
        os.rename(tmp, self.token_file)

    def start_bridge(self, extra_args=(), env_extra=None, wait_ready=True, user=None):
        '''Starts the bridge; as root, or as user (uid, gid) when given, with
        its files made reachable for that user.'''
        assert self.bridge is None or not self.bridge.alive()
        if self.bridge is not None:
            self.bridges.append(self.bridge)
        notify_path = os.path.join(self.tmp, 'bridge-notify-%d' % len(self.bridges))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.bind(notify_path)
            wrapper = list(self.wrapper)
            if user is not None:
                if not self.is_root:
                    self.skipTest('needs root to run the bridge as uid %d' % user[0])
                wrapper += ['setpriv', '--reuid=%d' % user[0], '--regid=%d' % user[1], '--clear-groups', '--']
                os.chmod(notify_path, 0o777)
                os.chmod(self.kubeconfig, 0o644)
                for d in (self.bridge_state, os.path.dirname(self.readiness), os.path.dirname(self.liveness)):
                    os.makedirs(d, exist_ok=True)
                    os.chown(d, user[0], user[1])
            env = self.client_env()
            for k in ('KUBECONFIG', 'NODE_NAME', 'DEFAULT_CC_MODE', 'EVICT_OPERATOR_COMPONENTS',
                      'OPERATOR_NAMESPACE', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT',
                      'STATE_DIRECTORY'):
                env.pop(k, None)
            env['NOTIFY_SOCKET'] = notify_path
            env['NODE_NAME'] = NODE
            env['OPERATOR_NAMESPACE'] = NAMESPACE
            env.update(env_extra or {})
            args = wrapper + [self.bridge_bin, '--kubeconfig', self.kubeconfig,
                              '--bus', self.bus_address, '--readiness-file', self.readiness,
                              '--state-dir', self.bridge_state, '--liveness-file', self.liveness,
                              '--log-target', 'console', '--debug', '--retry-max', '1']
            args += self.device_plugin_args()
            if self.MODE_STATE_FORMAT:
                args.append('--mode-state-format=' + self.MODE_STATE_FORMAT)
            args += list(extra_args)
            with open(self.bridge_log, 'ab') as f:
                f.write(('$ %s\n' % ' '.join(args)).encode())
            self.bridge = harness.Process(args, self.bridge_log, env=env, name='nvidia-cc-k8s-bridge')
            self._watch_exit(self.bridge)
            if wait_ready:
                self.wait_bridge_ready(sock)
        finally:
            sock.close()
            os.unlink(notify_path)
        return self.bridge

    def device_plugin_args(self):
        '''The device plugin's arguments; none is served unless a test asks.'''
        if self.DEVICE_PLUGIN_DIR:
            args = ['--device-plugin-dir', os.path.join(self.tmp, self.DEVICE_PLUGIN_DIR)]
            if self.RESOURCE_NAME:
                args += ['--resource-name', self.RESOURCE_NAME]
            return args
        return ['--no-device-plugin']

    def wait_bridge_ready(self, sock):
        import select
        deadline = time.monotonic() + harness.START_TIMEOUT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail('no READY=1 from the bridge')
            r, _, _ = select.select([sock, self.bridge.pidfd], [], [], left)
            if sock in r:
                if 'READY=1' in sock.recv(4096).decode(errors='replace').split('\n'):
                    return
            elif r:
                self.fail('the bridge exited (%s) before READY=1'
                          % harness.describe_status(self.bridge.returncode()))

    def stop_bridge(self, sig=signal.SIGTERM):
        b = self.bridge
        b.expected_exit = True
        b.signal(sig)
        rc = b.wait(60)
        self.bridges.append(b)
        self.bridge = None
        return rc

    def _stop_bridges(self):
        problems = []
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
        if problems:
            self.fail('; '.join(problems))

    def _dump_logs(self):
        super()._dump_logs()
        if os.path.exists(self.bridge_log):
            with open(self.bridge_log, errors='replace') as f:
                text = f.read()
            import sys
            sys.stderr.write('\n----- nvidia-cc-k8s-bridge.log (%s) -----\n%s----- end -----\n' % (self.id(), text))

    # -- waiting on the node

    def alive(self):
        for p in (self.bridge, self.daemon):
            if p is not None and not p.expected_exit and not p.alive():
                return False
        return True

    def wait_labels(self, pred, what, timeout=TIMEOUT):
        try:
            return self.api.wait_labels(NODE, pred, timeout, what, alive=self.alive)
        except (TimeoutError, RuntimeError) as e:
            self.fail(str(e))

    def wait_state(self, state, ready=None, timeout=TIMEOUT):
        if ready is None:
            ready = {'on': 'true', 'ppcie': 'true', 'off': 'false'}.get(state, '')
        return self.wait_labels(lambda l: l.get(MODE_STATE) == state and l.get(READY_STATE) == ready,
                                '%s=%s and %s=%s' % (MODE_STATE, state, READY_STATE, ready), timeout)

    def kubectl(self, *args, check=True):
        if not self.kubectl_bin:
            self.skipTest('kubectl is not installed')
        # kubectl authenticates with its own copy of the token.
        kc = kube_standin.write_kubeconfig(os.path.join(self.tmp, 'kubectl-config'), self.api.url,
                                           ca_file=os.path.join(self.pki, 'ca.crt'), token=self.token)
        r = subprocess.run([self.kubectl_bin, '--kubeconfig', kc] + list(args),
                           env=dict(os.environ, HOME=self.tmp), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=TIMEOUT)
        if check:
            self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def kubectl_label(self, *labels):
        return self.kubectl('label', 'node', NODE, '--overwrite', *labels).stdout

    def node_events(self, reason=None):
        '''The Events about the node, as kubectl describe finds them.'''
        evs = [e for e in self.api.events(None, 'involvedObject.kind=Node,involvedObject.name=' + NODE)]
        return [e for e in evs if reason is None or e['reason'] == reason]

    def wait_event(self, reason, what=None, count=1):
        self.api.wait_for(lambda: any(e.get('count', 1) >= count for e in self.node_events(reason)),
                          TIMEOUT, what or 'a %s event' % reason, alive=self.alive)
        return self.node_events(reason)[0]

    def describe_events(self):
        '''The Events section of kubectl describe node: (type, reason, age, from, message) rows.'''
        out = self.kubectl('describe', 'node', NODE).stdout
        self.assertIn('\nEvents:', out)
        section = out.split('\nEvents:', 1)[1]
        lines = [l for l in section.splitlines()[1:] if l.strip() and not l.strip().startswith('----')]
        rows = []
        for l in lines[1:] if lines and lines[0].split()[:2] == ['Type', 'Reason'] else lines:
            rows.append(re.split(r'\s{2,}', l.strip(), maxsplit=4))
        return out, rows

    def set_mode_label(self, value):
        self.api.set_labels(NODE, {MODE: value})

    # -- the host

    def assert_gpus(self, mode):
        manager = self.manager()
        self.assertEqual((manager['Mode'], manager['ModeState']), (mode, 'idle'))
        for bdf in self.host.gpus():
            self.assertEqual(self.gpu(bdf)['CcMode'], mode, bdf)
            if mode in ('on', 'off'):
                self.assertEqual(self.host.active_knobs(bdf).get(CCM, 0), 1 if mode == 'on' else 0, bdf)

    def set_mode_calls(self):
        '''SetMode calls the daemon logged (one "asking nvidia-ccd" line per
        attempt in the bridge's log is the bridge's side).'''
        with open(self.bridge_log, errors='replace') as f:
            return [l for l in f if 'asking nvidia-ccd for mode' in l]

    def readiness_text(self):
        try:
            with open(self.readiness) as f:
                return f.read()
        except FileNotFoundError:
            return None


class BridgeTest(BridgeTestCase):

    def test_label_switches(self):
        self.start_bridge(['--default-mode', 'off'])
        self.wait_state('off')
        self.assert_gpus('off')
        out = self.kubectl_label(MODE + '=on')
        self.assertEqual(out.strip(), 'node/%s labeled' % NODE)
        labels = self.wait_state('on')
        self.assertEqual(labels[MODE], 'on')
        self.assert_gpus('on')
        self.assertEqual(self.readiness_text(), 'on\n')
        # Back to off with a label removal? No: removal means the default.
        self.kubectl_label(MODE + '=off')
        self.wait_state('off')
        self.assert_gpus('off')
        # The state labels were written with merge patches on the node.
        patches = self.api.requests_matching('PATCH', '/api/v1/nodes/' + NODE)
        self.assertTrue(patches)
        for p in patches:
            self.assertIn(p['headers']['content-type'], ('application/merge-patch+json',
                                                         'application/strategic-merge-patch+json'))
            self.assertEqual(p['status'], 200)
        # The watch is the one the issue asks for.
        watches = self.api.requests_matching('GET', '/api/v1/nodes', watch=True)
        self.assertTrue(watches)
        q = watches[0]['query']
        self.assertEqual(q.get('fieldSelector'), 'metadata.name=' + NODE)
        self.assertEqual(q.get('allowWatchBookmarks'), 'true')
        self.assertTrue(q.get('timeoutSeconds'))
        self.assertTrue(q.get('resourceVersion'))

    def test_default_mode_without_label(self):
        self.assertNotIn(MODE, self.api.labels(NODE))
        self.start_bridge(env_extra={'DEFAULT_CC_MODE': 'on'})
        self.wait_state('on')
        self.assert_gpus('on')
        self.assertNotIn(MODE, self.api.labels(NODE), 'the desired label is the cluster\'s, not the bridge\'s')
        # An empty label is the default too: nothing to do.
        calls = len(self.set_mode_calls())
        self.set_mode_label('')
        self.kubectl_label(MODE + '=devtools')
        self.wait_state('devtools')
        self.assertEqual(len(self.set_mode_calls()), calls + 1, 'the empty label caused no switch')
        self.assert_gpus('devtools')

    def test_bad_value(self):
        self.start_bridge(['--default-mode', 'off'])
        self.wait_state('off')
        self.sync_daemon()
        before = self.host.snapshot()
        calls = len(self.set_mode_calls())
        start = len(self.signals)
        self.kubectl_label(MODE + '=bogus')
        labels = self.wait_state('failed', ready='')
        self.assertEqual(labels[MODE], 'bogus')
        self.assertIsNone(self.readiness_text(), 'no readiness after a failure')
        self.sync_daemon()
        self.assertEqual(self.host.snapshot(), before, 'the GPUs were touched')
        self.assertEqual(len(self.set_mode_calls()), calls, 'SetMode was called for a bad value')
        self.assertEqual(self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'ModeState', start), [])
        with open(self.bridge_log, errors='replace') as f:
            self.assertIn('bogus', f.read())
        # A good value afterwards works.
        self.kubectl_label(MODE + '=on')
        self.wait_state('on')
        self.assert_gpus('on')

    def test_hardware_failure_then_retry(self):
        bad = self.host.gpus()[1]
        self.host.gpusim_set(bad, 'Inject', 'FspTimeout', 'response')
        self.set_mode_label('on')
        self.start_bridge(['--default-mode', 'off'])
        self.wait_state('failed', ready='')
        self.assertIsNone(self.readiness_text(), 'readiness written after a failed switch')
        self.assertEqual(self.manager()['ModeState'], 'failed')
        with open(self.bridge_log, errors='replace') as f:
            self.assertIn(bad, f.read(), 'the bridge logs the daemon\'s error')
        # The fault clears; the retry (while the label still asks) succeeds.
        self.host.gpusim_set(bad, 'Inject', 'FspTimeout', 'none')
        self.wait_state('on', timeout=120)
        self.assert_gpus('on')
        self.assertEqual(self.readiness_text(), 'on\n')
        self.assertGreaterEqual(len(self.set_mode_calls()), 2)

    def test_readiness_only_after_success(self):
        self.set_mode_label('bogus')
        self.start_bridge(['--default-mode', 'off'])
        self.wait_state('failed', ready='')
        self.assertIsNone(self.readiness_text())
        # Only the workload's file, which says nothing of the mode.
        self.assertFalse(os.path.exists(os.path.dirname(self.readiness))
                         and set(os.listdir(os.path.dirname(self.readiness))) - {'workload-type'})
        self.set_mode_label('on')
        self.wait_state('on')
        self.assertEqual(self.readiness_text(), 'on\n')

    def test_sigterm(self):
        self.start_bridge(['--default-mode', 'on'])
        self.wait_state('on')
        self.assertEqual(self.stop_bridge(signal.SIGTERM), 0)
        with open(self.bridge_log, errors='replace') as f:
            self.assertIn('exiting', f.read())
        # Nothing left open on the stand-in.
        self.api.wait_for(lambda: not self.api.open_watches(), TIMEOUT, 'the watch to close')


class BridgeEvictionTest(BridgeTestCase):
    NODE_LABELS = {
        'nvidia.com/gpu.deploy.vfio-manager': 'true',
        'nvidia.com/gpu.deploy.sandbox-device-plugin': 'true',
        'nvidia.com/gpu.deploy.sandbox-validator': 'custom',
        'nvidia.com/gpu.deploy.vgpu-manager': 'false',
        'nvidia.com/gpu.deploy.cc-manager': 'true',
    }
    EXPECT_PAUSED = {
        'nvidia.com/gpu.deploy.vfio-manager': PAUSED,
        'nvidia.com/gpu.deploy.sandbox-device-plugin': PAUSED,
        'nvidia.com/gpu.deploy.sandbox-validator': 'custom_' + PAUSED,
        'nvidia.com/gpu.deploy.vgpu-manager': 'false',
        'nvidia.com/gpu.deploy.cc-manager': 'true',
    }

    def add_operands(self):
        self.api.add_pod(NAMESPACE, 'vfio-manager-x', NODE, {'app': 'nvidia-vfio-manager'})
        self.api.add_pod(NAMESPACE, 'device-plugin-x', NODE, {'app': 'nvidia-sandbox-device-plugin-daemonset'})
        # Neither of these holds the switch up.
        self.api.add_pod(NAMESPACE, 'vfio-manager-y', 'other-node', {'app': 'nvidia-vfio-manager'})
        self.api.add_pod(NAMESPACE, 'web', NODE, {'app': 'web'})

    def paused(self, labels):
        return all(labels.get(k) == v for k, v in self.EXPECT_PAUSED.items())

    def restored(self, labels):
        return all(labels.get(k) == v for k, v in self.NODE_LABELS.items())

    def test_eviction(self):
        self.start_bridge(['--default-mode', 'off'])
        self.wait_state('off')
        self.add_operands()
        self.kubectl_label(MODE + '=on')
        self.wait_labels(self.paused, 'the operand labels paused')
        # The switch waits for the operand pods of this node.
        self.api.wait_for(lambda: self.api.requests_matching('GET', '/api/v1/(namespaces/%s/)?pods' % NAMESPACE,
                                                               watch=True), TIMEOUT, 'a watch of the pods')
        self.sync_daemon()
        self.assert_gpus('off')
        # From the pause on, nothing claims the node is in either mode.
        labels = self.api.labels(NODE)
        self.assertEqual((labels.get(MODE_STATE), labels.get(READY_STATE)), ('switching', ''))
        self.assertIsNone(self.readiness_text(), 'the readiness file of mode off during the switch')
        pod_reqs = self.api.requests_matching('GET', '/api/v1/(namespaces/%s/)?pods' % NAMESPACE)
        self.assertTrue(all('spec.nodeName=' + NODE in r['query'].get('fieldSelector', '') for r in pod_reqs),
                        [r['query'] for r in pod_reqs])
        self.api.delete_pod(NAMESPACE, 'vfio-manager-x')
        self.sync_daemon()
        self.assert_gpus('off')    # one operand is still there
        self.api.delete_pod(NAMESPACE, 'device-plugin-x')
        labels = self.wait_labels(lambda l: l.get(MODE_STATE) == 'on' and self.restored(l),
                                  'the switch and the operand labels restored')
        self.assertEqual(labels[READY_STATE], 'true')
        self.assert_gpus('on')
        self.assertEqual(self.readiness_text(), 'on\n')
        self.assertEqual(len(self.api.pods(NAMESPACE, 'spec.nodeName=' + NODE)), 1, 'the web pod stays')
        # kubectl describe node tells what was paused, and that it is back.
        self.wait_event('CCModeApplied')
        out, rows = self.describe_events()
        by_reason = {r[1]: r for r in rows}
        self.assertEqual(by_reason['OperandsPaused'][0], 'Normal')
        for k, v in self.NODE_LABELS.items():
            if self.EXPECT_PAUSED[k] != v:
                self.assertIn('%s=%s' % (k, v), by_reason['OperandsPaused'][4])
        self.assertIn('mode on', by_reason['OperandsPaused'][4])
        self.assertEqual(by_reason['OperandsRestored'][0], 'Normal')
        self.assertEqual(by_reason['CCModeApplied'][0], 'Normal')
        self.assertEqual(by_reason['CCModeApplied'][3], 'nvidia-cc-k8s-bridge')

    def test_no_eviction_when_disabled(self):
        self.add_operands()
        self.start_bridge(['--default-mode', 'on'], env_extra={'EVICT_OPERATOR_COMPONENTS': 'false'})
        labels = self.wait_state('on')
        self.assertTrue(self.restored(labels))
        self.assertEqual(self.api.requests_matching('GET', '/api/v1/.*pods'), [])
        patches = [json.loads(r['body']) for r in self.api.requests_matching('PATCH')]
        self.assertFalse(any(PAUSED in json.dumps(p) for p in patches), patches)

    def test_crash_while_paused(self):
        self.add_operands()
        self.set_mode_label('on')
        self.start_bridge(['--default-mode', 'off'])
        self.wait_labels(self.paused, 'the operand labels paused')
        self.stop_bridge(signal.SIGKILL)
        self.assertTrue(self.paused(self.api.labels(NODE)), 'still paused after the crash')
        self.assert_gpus('off')
        self.api.delete_pod(NAMESPACE, 'vfio-manager-x')
        self.api.delete_pod(NAMESPACE, 'device-plugin-x')
        self.start_bridge(['--default-mode', 'off'])
        labels = self.wait_labels(lambda l: l.get(MODE_STATE) == 'on' and self.restored(l),
                                  'the restarted bridge restores the labels and switches')
        self.assertEqual(labels[READY_STATE], 'true')
        self.assert_gpus('on')

    def test_no_eviction_when_mode_applied(self):
        # The host is already in the mode asked for (a restarted bridge, a
        # host configured at boot): nothing to switch, so the operands must
        # keep running.
        self.add_operands()
        self.start_bridge(['--default-mode', 'off'])
        labels = self.wait_labels(lambda l: l.get(MODE_STATE) == 'off' or self.paused(l),
                                  'the state label or a pause')
        self.assertEqual(labels.get(MODE_STATE), 'off', 'the operands were paused for no switch')
        self.assertTrue(self.restored(labels))

    def test_eviction_timeout(self):
        self.start_bridge(['--default-mode', 'off', '--eviction-timeout', '1'])
        self.wait_state('off')
        self.add_operands()
        self.set_mode_label('on')
        # The pods never go: the attempt fails, the labels come back, the
        # GPUs stay as they were.
        labels = self.wait_labels(lambda l: l.get(MODE_STATE) == 'failed' and self.restored(l),
                                  'failed and the labels restored')
        self.assertEqual(labels[READY_STATE], '')
        self.sync_daemon()
        self.assert_gpus('off')


class BridgeRecoveryTest(BridgeTestCase):

    def wait_watch_count(self, n, what):
        self.api.wait_for(lambda: len(self.api.requests_matching('GET', '/api/v1/nodes', watch=True)) >= n
                          and self.api.open_watches('nodes'), TIMEOUT, what, alive=self.alive)
        return self.api.requests_matching('GET', '/api/v1/nodes', watch=True)

    def test_watch_dropped(self):
        self.start_bridge(['--default-mode', 'off'])
        self.wait_state('off')
        first = self.wait_watch_count(1, 'the first watch')
        n = len(first)
        gets = len(self.api.requests_matching('GET', '/api/v1/nodes(/%s)?' % NODE, watch=False))
        self.assertGreater(self.api.drop_watches('nodes'), 0)
        watches = self.wait_watch_count(n + 1, 'a new watch after the drop')
        # It resumes where it was (at least where its first watch began; the
        # events of its own last patch may not have reached it), no relist.
        self.assertGreaterEqual(int(watches[-1]['query']['resourceVersion']),
                                int(first[-1]['query']['resourceVersion']))
        self.assertEqual(len(self.api.requests_matching('GET', '/api/v1/nodes(/%s)?' % NODE, watch=False)), gets)
        self.set_mode_label('on')
        self.wait_state('on')
        self.assert_gpus('on')

    def test_watch_gone_event(self):
        self.start_bridge(['--default-mode', 'off'])
        self.wait_state('off')
        n = len(self.wait_watch_count(1, 'the first watch'))
        # A change it cannot see (stopped), then the history compacted and
        # the connection lost: the version it resumes from is too old.
        self.bridge.signal(signal.SIGSTOP)
        try:
            self.set_mode_label('on')
            self.api.compact()
            self.api.drop_watches('nodes')
        finally:
            self.bridge.signal(signal.SIGCONT)
        self.wait_state('on')
        self.assert_gpus('on')
        self.assertGreater(len(self.api.requests_matching('GET', '/api/v1/nodes', watch=True)), n)
        # 410 came as an ERROR event, and the bridge read the node again.
        gets = [r for r in self.api.requests_matching('GET', '/api/v1/nodes(/%s)?' % NODE, watch=False)]
        self.assertGreaterEqual(len(gets), 2, 'the node was not read again after 410')

    def test_watch_gone_status(self):
        self.start_bridge(['--default-mode', 'off'])
        self.wait_state('off')
        self.wait_watch_count(1, 'the first watch')
        self.api.inject_watch_gone('nodes', how='http')
        self.api.inject_watch_gone('nodes', how='event')
        gets = len(self.api.requests_matching('GET', '/api/v1/nodes(/%s)?' % NODE, watch=False))
        self.api.drop_watches('nodes')
        self.set_mode_label('on')
        self.wait_state('on')
        # The label may reach the bridge through the first relist, before
        # the second 410 comes: wait for both relists rather than count now.
        self.api.wait_for(lambda: len(self.api.requests_matching('GET', '/api/v1/nodes(/%s)?' % NODE,
                                                                 watch=False)) >= gets + 2,
                          TIMEOUT, 'a relist after each 410', alive=self.alive)
        self.assert_gpus('on')

    def test_bookmarks(self):
        self.start_bridge(['--default-mode', 'off'])
        self.wait_state('off')
        n = len(self.wait_watch_count(1, 'the first watch'))
        # Other nodes change: the bridge's watch sees nothing but bookmarks.
        for i in range(3):
            self.api.patch_node('other-node', {'metadata': {'labels': {'x': str(i)}}})
        rv = int(self.api.node('other-node')['metadata']['resourceVersion'])
        self.assertTrue(self.api.send_bookmarks())
        self.api.compact()          # anything before the bookmark is gone
        self.api.drop_watches('nodes')
        watches = self.wait_watch_count(n + 1, 'a new watch')
        self.assertGreaterEqual(int(watches[-1]['query']['resourceVersion']), rv,
                                'the bridge resumed from before the bookmark')
        gets = self.api.requests_matching('GET', '/api/v1/nodes(/%s)?' % NODE, watch=False)
        self.assertEqual(len(gets), 1, 'a relist was needed despite the bookmark')

    def test_daemon_restart(self):
        self.start_bridge(['--default-mode', 'on'])
        self.wait_state('on')
        self.kill_daemon(signal.SIGTERM)
        self.set_mode_label('off')
        # Whatever it writes meanwhile, it does not claim "off".
        self.assertNotEqual(self.api.labels(NODE).get(MODE_STATE), 'off')
        self.start_daemon()
        self.wait_state('off')
        self.assert_gpus('off')

    def test_host_side_change(self):
        self.start_bridge(['--default-mode', 'on'])
        self.wait_state('on')
        r = self.run_ccctl(['set-mode', 'devtools'])
        self.assertEqual(r.returncode, 0, r.stderr)
        labels = self.wait_state('devtools')
        # The desired label is the cluster's: the bridge reports, and does
        # not switch back on its own.
        self.assertNotIn(MODE, labels)
        self.sync_daemon()
        self.assert_gpus('devtools')

    def test_token_rotated(self):
        self.start_bridge(['--default-mode', 'off'])
        self.wait_state('off')
        self.write_token('token-1')
        self.token = 'token-1'
        self.api.set_tokens(['token-1'])
        self.api.drop_watches()
        self.set_mode_label('on')
        self.wait_state('on')
        self.assert_gpus('on')
        since = [i for i, r in enumerate(self.api.requests_matching()) if r['headers'].get('authorization')]
        last = self.api.requests_matching()[since[-1]]
        self.assertEqual(last['headers']['authorization'], 'Bearer token-1')
        self.assertIn(last['status'], (200, 201))


if __name__ == '__main__':
    harness.main()
