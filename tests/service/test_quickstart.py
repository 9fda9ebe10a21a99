#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# The Kubernetes quick start of deploy/README.md, run as written: the shell
# block under its marker, line by line, in a copy of the repository, with
# the real kubectl against the kube-apiserver stand-in (kube_standin.py) on
# a cluster whose default Pod Security level is baseline, as hardened
# clusters have it.  The podman lines are left out (they need a registry
# and an image build); every other line runs as it is.  What each step
# leaves on the cluster is checked: the objects, the image kubelet would
# pull, the nodes the DaemonSet's pods fit, no Pod Security warning.

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kube_standin  # noqa: E402

TOKEN = 'quickstart-token'
TIMEOUT = 60
MARKER = 'tests/service/test_quickstart.py runs this block'
NAMESPACE = 'nvidia-cc-k8s-bridge'
CREATED = ['namespace/nvidia-cc-k8s-bridge',
           'serviceaccount/nvidia-cc-k8s-bridge',
           'role.rbac.authorization.k8s.io/nvidia-cc-k8s-bridge-pull-secrets',
           'clusterrole.rbac.authorization.k8s.io/nvidia-cc-k8s-bridge',
           'rolebinding.rbac.authorization.k8s.io/nvidia-cc-k8s-bridge-pull-secrets',
           'clusterrolebinding.rbac.authorization.k8s.io/nvidia-cc-k8s-bridge',
           'configmap/nvidia-cc-k8s-bridge-runtime-classes',
           'daemonset.apps/nvidia-cc-k8s-bridge',
           'runtimeclass.node.k8s.io/kata-qemu-nvidia-gpu',
           'runtimeclass.node.k8s.io/kata-qemu-nvidia-gpu-snp']


def quick_start_block(readme):
    '''The lines of the fenced block after the marker.'''
    with open(readme, encoding='utf-8') as f:
        text = f.read()
    i = text.find(MARKER)
    if i < 0:
        raise AssertionError('%s: no quick start marker' % readme)
    m = re.search(r'```sh\n(.*?)\n```', text[i:], re.S)
    if not m:
        raise AssertionError('%s: no ```sh block after the marker' % readme)
    return [l for l in m.group(1).splitlines() if l.strip() and not l.lstrip().startswith('#')]


class QuickStartTest(unittest.TestCase):

    def assert_applied(self, stdout, verb):
        '''kubectl apply -k told each object, the Namespace first as every
        kubectl's kustomize orders it; the order of the two RuntimeClasses
        differs between versions.'''
        lines = stdout.splitlines()
        expected = ['%s %s' % (o, verb) for o in CREATED]
        self.assertEqual(lines[:1], expected[:1])
        self.assertEqual(sorted(lines), sorted(expected))

    @classmethod
    def setUpClass(cls):
        cls.kubectl = os.environ.get('KUBECTL') or shutil.which('kubectl')
        if not cls.kubectl:
            raise unittest.SkipTest('kubectl is not installed')
        cls.srcdir = os.environ.get('NVIDIA_CCD_SRCDIR') or os.path.abspath(
            os.path.join(os.path.dirname(__file__), '..', '..'))
        cls.pki = tempfile.mkdtemp(prefix='kube-standin-pki-')
        kube_standin.make_pki(cls.pki)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='quickstart-')
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.api = kube_standin.KubeStandin(tls_dir=self.pki, tokens=[TOKEN], pod_security_default='baseline')
        self.api.add_node('gpu-node-1', {'node-role.kubernetes.io/worker': ''})
        self.api.add_node('gpu-node-2', {'nvidia.com/gpu.deploy.cc-manager': 'true'})
        self.api.add_node('cpu-node-1', {})
        self.api.start()
        self.addCleanup(self.api.stop)
        self.kubeconfig = kube_standin.write_kubeconfig(
            os.path.join(self.tmp, 'kubeconfig'), self.api.url,
            ca_file=os.path.join(self.pki, 'ca.crt'), token=TOKEN)
        # The repository as a reader has it (the part the block touches).
        self.repo = os.path.join(self.tmp, 'repo')
        os.mkdir(self.repo)
        shutil.copytree(os.path.join(self.srcdir, 'deploy'), os.path.join(self.repo, 'deploy'))
        shutil.copy(os.path.join(self.srcdir, 'Containerfile'), self.repo)
        bindir = os.path.join(self.tmp, 'bin')
        os.mkdir(bindir)
        os.symlink(os.path.abspath(self.kubectl), os.path.join(bindir, 'kubectl'))
        self.env = dict(os.environ, KUBECONFIG=self.kubeconfig, HOME=self.tmp,
                        PATH=bindir + os.pathsep + os.environ.get('PATH', '/usr/bin:/bin'))
        self.assignments = []

    def run_line(self, line):
        '''One line of the block in bash, after the block's assignments so far.'''
        if re.fullmatch(r'[A-Z_][A-Z0-9_]*=\S*', line.strip()):
            self.assignments.append(line.strip())
            return None
        script = '\n'.join(['set -eu'] + self.assignments + [line])
        r = subprocess.run(['bash', '-c', script], cwd=self.repo, env=self.env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, '%s\nstdout: %s\nstderr: %s' % (line, r.stdout, r.stderr))
        return r

    def daemonset(self):
        return self.api.daemonset(NAMESPACE, 'nvidia-cc-k8s-bridge')

    def desired(self):
        return self.daemonset()['status']['desiredNumberScheduled']

    def test_quick_start(self):
        lines = quick_start_block(os.path.join(self.srcdir, 'deploy/README.md'))
        runnable = [l for l in lines if not l.startswith('podman ')]
        self.assertEqual(len(lines) - len(runnable), 2, 'the build and the push')
        self.assertIn('kubectl apply -k deploy/kubernetes', runnable)
        registry = None
        for line in runnable:
            r = self.run_line(line)
            if r is None:
                registry = dict(a.split('=', 1) for a in self.assignments).get('REGISTRY')
                continue
            if line.startswith('kubectl apply -k'):
                self.assert_applied(r.stdout, 'created')
                # Not even a warning, on a cluster whose default is baseline.
                self.assertEqual(r.stderr, '')
                self.check_objects(registry)
                # Nothing labelled by the administrator yet: only the node
                # the GPU Operator marked for its cc-manager.
                self.assertEqual(self.desired(), 1)
            elif 'nvidia.com/cc.bridge.deploy=true' in line:
                self.assertEqual(r.stdout.strip(), 'node/gpu-node-1 labeled')
                self.assertEqual(self.desired(), 2)
                self.assertEqual(self.api.labels('gpu-node-1')['nvidia.com/cc.bridge.deploy'], 'true')
            elif 'nvidia.com/cc.mode=' in line:
                self.assertEqual(r.stdout.strip(), 'node/gpu-node-1 labeled')
                self.assertEqual(self.api.labels('gpu-node-1')['nvidia.com/cc.mode'], 'on')
        self.assertIsNotNone(registry, 'the block names the registry')

        # Applied again: nothing changes.
        r = self.run_line('kubectl apply -k deploy/kubernetes')
        self.assert_applied(r.stdout, 'unchanged')
        # What the administrator reads back.
        r = self.run_line('kubectl get daemonset -n %s' % NAMESPACE)
        header, row = r.stdout.splitlines()[0].split(), r.stdout.splitlines()[1].split()
        self.assertEqual(header[:3], ['NAME', 'DESIRED', 'CURRENT'])
        self.assertEqual(row[:2], ['nvidia-cc-k8s-bridge', '2'])

    def check_objects(self, registry):
        ds = self.daemonset()
        pod = ds['spec']['template']['spec']
        images = {c['image'] for c in pod['containers'] + pod['initContainers']}
        self.assertEqual(images, {'%s/nvidia-cc-k8s-bridge:0.1.0' % registry})
        for image in images:
            # A name whose first part is not a host is docker.io/library/...
            host = image.split('/', 1)[0]
            self.assertTrue('.' in host or ':' in host or host == 'localhost', image)
        self.assertEqual(ds['spec']['updateStrategy'],
                         {'type': 'RollingUpdate', 'rollingUpdate': {'maxUnavailable': 1, 'maxSurge': 0}})
        env = {e['name']: e for e in pod['containers'][0]['env']}
        self.assertEqual(env['DEFAULT_CC_MODE'].get('value', ''), '', 'a default mode resets every node at once')
        self.assertEqual(pod['containers'][0]['livenessProbe']['exec']['command'][:2],
                         ['nvidia-cc-k8s-bridge', '--check-liveness'])
        ns = self.api.store.get(kube_standin.RESOURCES['namespaces'], None, NAMESPACE)
        self.assertEqual(ns['metadata']['labels']['pod-security.kubernetes.io/enforce'], 'privileged')
        sa = self.api.store.get(kube_standin.RESOURCES['serviceaccounts'], NAMESPACE, 'nvidia-cc-k8s-bridge')
        self.assertEqual(pod['serviceAccountName'], sa['metadata']['name'])
        # The runtime classes: the objects, and the file the pod mounts.
        for name in ('kata-qemu-nvidia-gpu', 'kata-qemu-nvidia-gpu-snp'):
            rc = self.api.store.get(kube_standin.RESOURCES['runtimeclasses'], None, name)
            self.assertEqual(rc['handler'], name)
        cm = self.api.store.get(kube_standin.RESOURCES['configmaps'], NAMESPACE,
                                'nvidia-cc-k8s-bridge-runtime-classes')
        self.assertIn('runtimeClasses:', cm['data']['config.yaml'])
        self.assertIn({'name': 'runtime-classes', 'configMap': {'name': cm['metadata']['name']}},
                      [{k: v for k, v in vol.items() if k in ('name', 'configMap')} for vol in pod['volumes']])
        rb = self.api.store.get(kube_standin.RESOURCES['rolebindings'], NAMESPACE, 'nvidia-cc-k8s-bridge-pull-secrets')
        self.assertEqual(rb['subjects'], [{'kind': 'ServiceAccount', 'name': 'nvidia-cc-k8s-bridge',
                                           'namespace': NAMESPACE}])
        crb = self.api.store.get(kube_standin.RESOURCES['clusterrolebindings'], None, 'nvidia-cc-k8s-bridge')
        self.assertEqual(crb['subjects'], [{'kind': 'ServiceAccount', 'name': 'nvidia-cc-k8s-bridge',
                                            'namespace': NAMESPACE}])

    def test_pod_security_would_warn_without_the_namespace_labels(self):
        # The control: the same manifests with a namespace that does not
        # set the level get the warning a baseline cluster gives.
        path = os.path.join(self.repo, 'deploy/kubernetes/namespace.yaml')
        with open(path) as f:
            text = f.read()
        with open(path, 'w') as f:
            f.write(''.join(l for l in text.splitlines(True) if 'pod-security.kubernetes.io' not in l))
        r = self.run_line('kubectl apply -k deploy/kubernetes')
        self.assertIn('Warning: would violate PodSecurity "baseline:latest": hostPath volumes '
                      '(volumes "system-bus", "validations", "state", "device-plugins")', r.stderr)


if __name__ == '__main__':
    unittest.main(verbosity=2)
