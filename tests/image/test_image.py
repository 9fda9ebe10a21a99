#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# The container image built from Containerfile, run the way the DaemonSet
# runs it: podman, the host's network, a read-only root, no capabilities,
# no new privileges, the image's own user (uid 64721), and the DaemonSet's
# host paths mounted (the system bus socket, the validations, state and
# kubelet device plugin directories) with its init container run first
# (the script in deploy/kubernetes/daemonset.yaml, in the same image, as
# root without capabilities).  Around it, as in the service tests: a
# private bus with Debian's system bus policy and the user that
# systemd-sysusers makes of the project's sysusers.d entry (test_bridge_bus),
# the real nvidia-ccd on a simulated host, the polkit mock, the
# kube-apiserver stand-in over TLS (the kubeconfig mounted, certificates
# and token in it as kubectl config view --flatten writes them) and the
# kubelet stand-in.
#
# tests/image/run builds the image and runs this with
# NVIDIA_CCD_TEST_IMAGE set to it.

import json
import os
import resource
import select
import signal
import stat
import subprocess
import sys
import threading

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'service'))

import harness  # noqa: E402
import kube_standin  # noqa: E402
import kubelet_standin  # noqa: E402
from test_bridge import MODE, MODE_STATE, NAMESPACE, NODE, READY_STATE, TIMEOUT  # noqa: E402
from test_devplugin import model_resource  # noqa: E402
from test_bridge_bus import UID, SystemBusTestCase  # noqa: E402

WORKLOAD = 'nvidia.com/gpu.workload.config'

# The DaemonSet's mounts: host directory (under the test's) -> container.
MOUNTS = {
    'validations': '/run/nvidia/validations',
    'bridge-state': '/var/lib/nvidia-cc-k8s-bridge',
    'device-plugins': '/var/lib/kubelet/device-plugins',
}
KUBECONFIG = '/etc/nvidia-cc-k8s-bridge/kubeconfig'


def ulimit_args():
    '''Limits within this process's own: podman raises RLIMIT_NOFILE and
    RLIMIT_NPROC by default, which a root without CAP_SYS_RESOURCE (in a
    container itself) may not do, and the container does not start.'''
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return ['--ulimit', 'nofile=%d:%d' % (soft, hard), '--ulimit', 'nproc=4096:4096']


class ImageTest(SystemBusTestCase):
    SYSUSERS = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.image = harness.env_path('NVIDIA_CCD_TEST_IMAGE')
        kubelet_standin.stubs()
        with open(os.path.join(cls.srcdir, 'deploy/kubernetes/daemonset.yaml')) as f:
            spec = yaml.safe_load(f)['spec']['template']['spec']
        cls.pod_env = {e['name']: e['value'] for e in spec['containers'][0]['env'] if 'value' in e}
        init = spec['initContainers'][0]
        cls.init_command = init['command']

    def setUp(self):
        self.container = 'nvidia-cc-k8s-bridge-test-%d' % os.getpid()
        self.podman_quiet('rm', '--force', '--time', '0', self.container)
        # Runs last, after the bridge's own stop: a container that a failed
        # test left goes.
        self.addCleanup(self.podman_quiet, 'rm', '--force', '--time', '0', self.container)
        super().setUp()
        for d in MOUNTS:
            os.makedirs(os.path.join(self.tmp, d), exist_ok=True)
        self.plugin_dir = os.path.join(self.tmp, 'device-plugins')
        self.kubelet = kubelet_standin.KubeletStandin(self.plugin_dir)
        self.kubelet.start()
        self.addCleanup(self.kubelet.stop)
        # Flattened, as deploy/README.md tells users to write it; readable
        # by the image's user, which the mount keeps.
        with open(os.path.join(self.pki, 'ca.crt'), 'rb') as f:
            ca = f.read()
        self.image_kubeconfig = kube_standin.write_kubeconfig(
            os.path.join(self.tmp, 'image-kubeconfig'), self.api.url, ca_data=ca, token=self.token)
        os.chmod(self.image_kubeconfig, 0o644)

    def podman(self, *args, check=True):
        r = subprocess.run(['podman'] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=300)
        if check:
            self.assertEqual(r.returncode, 0, 'podman %s: %s' % (' '.join(args), r.stderr))
        return r

    def podman_quiet(self, *args):
        subprocess.run(['podman'] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=300)

    def volumes(self):
        bus_socket = self.bus_address.split('unix:path=', 1)[1].split(',', 1)[0]
        args = ['--volume', '%s:/run/dbus/system_bus_socket' % bus_socket]
        for d, target in MOUNTS.items():
            args += ['--volume', '%s:%s' % (os.path.join(self.tmp, d), target)]
        return args

    def run_init_container(self):
        '''The DaemonSet's init container: root, no capabilities, read-only.'''
        r = self.podman('run', '--rm', '--network', 'none', '--read-only', '--cap-drop', 'all', *ulimit_args(),
                        '--security-opt', 'no-new-privileges', '--user', '0:0',
                        *self.volumes(), '--entrypoint', self.init_command[0], self.image,
                        *self.init_command[1:], check=False)
        self.assertEqual(r.returncode, 0, 'the init container: %s%s' % (r.stdout, r.stderr))

    def start_image_bridge(self):
        '''podman run in the foreground: its exit status is the bridge's,
        and SIGTERM to it reaches the bridge (--sig-proxy).'''
        assert self.bridge is None
        env = dict(self.pod_env, NODE_NAME=NODE)
        self.assertEqual(env.get('OPERATOR_NAMESPACE'), NAMESPACE)
        args = ['podman', 'run', '--rm', '--name', self.container, '--network', 'host',
                '--read-only', '--cap-drop', 'all', '--security-opt', 'no-new-privileges', *ulimit_args(),
                # The DaemonSet's emptyDir for the liveness file.
                '--tmpfs', '/run/nvidia-cc-k8s-bridge:rw,mode=0777,size=1m',
                '--volume', '%s:%s:ro' % (self.image_kubeconfig, KUBECONFIG)] + self.volumes()
        # The DaemonSet's runtime-class ConfigMap, as a mount of a
        # directory, here with no class (the service tier installs them).
        rc_file = env.get('RUNTIME_CLASSES_FILE')
        if rc_file:
            rc_dir = os.path.join(self.tmp, 'runtime-classes')
            os.makedirs(rc_dir, exist_ok=True)
            with open(os.path.join(rc_dir, os.path.basename(rc_file)), 'w') as f:
                f.write('runtimeClasses: []\n')
            args += ['--volume', '%s:%s:ro' % (rc_dir, os.path.dirname(rc_file))]
        for k, v in sorted(env.items()):
            args += ['--env', '%s=%s' % (k, v)]
        args += [self.image, '--kubeconfig', KUBECONFIG, '--log-target', 'console', '--debug']
        with open(self.bridge_log, 'ab') as f:
            f.write(('$ %s\n' % ' '.join(args)).encode())
        self.bridge = harness.Process(args, self.bridge_log, env=self.client_env(), name='podman run')
        self._watch_exit(self.bridge)
        self.kubelet_watch(self.bridge)
        return self.bridge

    def kubelet_watch(self, proc):
        '''Wakes the kubelet stand-in's waiters when proc exits.'''
        def run():
            try:
                select.select([proc.pidfd], [], [])
            except (OSError, ValueError):
                pass
            self.kubelet.poke()
        threading.Thread(target=run, daemon=True).start()

    def wait_kubelet(self, pred, what):
        try:
            return self.kubelet.wait(pred, TIMEOUT, what, alive=self.alive)
        except (TimeoutError, RuntimeError) as e:
            self.fail(str(e))

    def bridge_log_text(self):
        with open(self.bridge_log, errors='replace') as f:
            return f.read()

    def probe(self, *command):
        '''A probe as kubelet runs it: a command in the running container.'''
        return self.podman('exec', self.container, *command, check=False).returncode

    # -- cases

    def test_image_metadata(self):
        config = self.podman('image', 'inspect', '--format', '{{json .Config}}', self.image).stdout
        config = json.loads(config)
        self.assertEqual(config['User'], '%d:%d' % (UID, UID))
        self.assertEqual(config['Entrypoint'], ['/usr/bin/nvidia-cc-k8s-bridge'])
        # The runtime stage holds the bridge and its libraries, no compiler.
        r = self.podman('run', '--rm', '--network', 'none', *ulimit_args(), '--entrypoint', '/bin/sh', self.image, '-c',
                        'nvidia-cc-k8s-bridge --version; command -v gcc cc meson || true', check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.split('\n')
        self.assertRegex(lines[0], r'\d+\.\d+')
        self.assertEqual([l for l in lines[1:] if l.strip()], [], 'build tools in the runtime image')

    def test_label_round_trip_and_device_plugin(self):
        self.polkit_set_allowed(harness.ALL_ACTIONS)
        self.run_init_container()
        self.start_image_bridge()

        # The DaemonSet's defaults are the Operator's 2023 page's profile:
        # cc.mode.state success or failed, one resource per GPU model, and
        # the workload label binding the GPUs to VFIO.
        self.set_mode_label('on')
        labels = self.wait_labels(lambda l: l.get(MODE_STATE) == 'success' and l.get(READY_STATE) == 'true',
                                  'cc.mode.state=success and cc.ready.state=true')
        self.assert_gpus('on')
        self.assertEqual(self.readiness_text(), 'on\n')
        self.assertEqual(self.probe('test', '-f', '/run/nvidia/validations/.cc-manager-ctr-ready'), 0,
                         'the readiness probe')
        # The liveness probe: the bridge touches its file in the emptyDir
        # from its first turn, with the watch of the node working.
        self.assertEqual(self.probe('nvidia-cc-k8s-bridge', '--check-liveness'), 0, 'the liveness probe')

        # The device plugin: registered with the kubelet stand-in through the
        # mounted directory, its socket made by the image's user.
        gpus = self.host.gpus()
        resource = model_resource(self.gpu(gpus[0])['Name'], self.host.device_id(gpus[0]))
        endpoint = 'nvidia-cc-%s.sock' % resource.replace('/', '-')
        reg = self.wait_kubelet(lambda: next((r for r in self.kubelet.registrations
                                              if r['resource_name'] == resource), None),
                                'a registration of %s' % resource)
        self.assertEqual(reg['endpoint'], endpoint)
        self.assertIsNone(reg['problem'])
        st = os.stat(os.path.join(self.plugin_dir, endpoint))
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(st.st_uid, UID, 'the plugin socket is the image user\'s')
        # The workload label binds the GPUs to VFIO through nvidia-ccd; they
        # are advertised, one device per IOMMU group.
        self.api.set_labels(NODE, {WORKLOAD: 'vm-passthrough'})
        expected = sorted(str(self.host.iommu_group(b)) for b in gpus)

        def listed():
            p = self.kubelet.plugins.get(resource)
            if p is None or not p.lists:
                return False
            last = p.lists[-1][1]
            return (sorted(d['ID'] for d in last) == expected
                    and all(d['health'] == 'Healthy' for d in last))
        self.wait_kubelet(listed, '%s devices %s, healthy' % (resource, expected))

        # And back: mode off and the container workload, by the same
        # container.
        self.api.set_labels(NODE, {MODE: 'off', WORKLOAD: 'container'})
        self.wait_labels(lambda l: l.get(MODE_STATE) == 'success' and l.get(READY_STATE) == 'false',
                         'cc.mode.state=success and cc.ready.state=false')
        self.assert_gpus('off')
        self.api.wait_for(lambda: [self.host.driver(b) for b in gpus] == ['nvidia'] * len(gpus), TIMEOUT,
                          'the GPUs back on nvidia')

        # SIGTERM reaches the bridge through podman; it exits cleanly.
        self.assertEqual(self.stop_bridge(signal.SIGTERM), 0)
        self.assertIn('exiting', self.bridge_log_text())
        self.api.wait_for(lambda: not self.api.open_watches(), TIMEOUT, 'the watch to close')


if __name__ == '__main__':
    harness.main()
