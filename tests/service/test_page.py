#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# The GPU Operator's "Confidential Containers and Kata" page (2023), followed
# to the letter with nvidia-ccd and nvidia-cc-k8s-bridge in the place of the
# Operator's operands: its commands, in its order, with the real kubectl and
# jq against the API-server stand-in, the real lspci on the simulated host's
# tree, the real ls on the artifacts directory; each output compared with
# what the page prints.  The host: one H100 PCIe (10de:2331) and SEV-SNP, a
# node the page's pod fits.  The kubelet stand-in keeps the Node's
# allocatable as kubelet does, and allocates the page's pod as kubelet
# would.
#
# Two walks: the page's own, where the bridge binds the GPU from the
# workload label, installs the runtime classes from its kata-manager-format
# list and deploy/'s RuntimeClasses are applied; and the same walk with the
# artifacts installed by hand through nvidia-ccd (what nvidia-ccctl
# install-artifacts does), for a bridge run without runtime classes.  The
# first says what it lacks and skips where the bridge has no runtime
# classes (a build without them).

import glob
import json
import os
import re
import shutil
import subprocess
import unittest

import yaml
from gi.repository import GLib

import harness
import kube_standin
import kubelet_standin
from harness import MANAGER_IFACE, MANAGER_PATH
from registry import Registry
from test_bridge import BridgeTestCase, MODE, NODE

RUNTIME_CLASS = 'kata-qemu-nvidia-gpu-snp'
ARTIFACTS = 'opt/nvidia-gpu-operator/artifacts/runtimeclasses'
RESOURCE = 'nvidia.com/GH100_H100_PCIE'
WORKLOAD = 'nvidia.com/gpu.workload.config'
# The real server's refusal of a strategic merge patch of a custom resource.
CR_PATCH_REFUSED = ('the body of the request was in an unknown format - accepted media types include: '
                    'application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml')
CLUSTER_POLICY = 'clusterpolicies.nvidia.com/cluster-policy'

# The page's artifact listing, and the files of an artifact with those titles.
PAGE_ARTIFACT_FILES = [
    '5.19.2.tar.gz',
    'config-5.19.2-109-nvidia-gpu-sev',
    'configuration-kata-qemu-nvidia-gpu-snp.toml',
    'dpkg.sbom.list',
    'kata-ubuntu-jammy-nvidia-gpu.initrd',
    'vmlinuz-5.19.2-109-nvidia-gpu-sev',
]

# The page's pod, as the page writes it.
PAGE_POD = '''apiVersion: v1
kind: Pod
metadata:
  name: cuda-vectoradd-coco
  annotations:
    cdi.k8s.io/gpu: "nvidia.com/pgpu=0"
    io.katacontainers.config.hypervisor.default_memory: "16384"
spec:
  runtimeClassName: kata-qemu-nvidia-gpu-snp
  restartPolicy: OnFailure
  containers:
  - name: cuda-vectoradd
    image: "nvcr.io/nvidia/k8s/cuda-sample:vectoradd-cuda11.7.1-ubuntu20.04"
    resources:
      limits:
        "nvidia.com/GH100_H100_PCIE": 1
'''

# The page's commands, verbatim.
PAGE_MODE_STATE_JQ = ('.items[0].metadata.labels | with_entries(select(.key | '
                      'startswith("nvidia.com/cc.mode.state)))')
PAGE_ALLOCATABLE_JQ = ('.items[0].status.allocatable |\n'
                       '    with_entries(select(.key | startswith("nvidia.com/"))) |\n'
                       '    with_entries(select(.value != "0"))')
PAGE_DEFAULT_PATCH = '{"spec": {"ccManager": {"defaultMode": "on"}}}'


def bridge_help():
    r = subprocess.run([harness.env_path('NVIDIA_CC_K8S_BRIDGE'), '--help'], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=30)
    return r.stdout


def deploy_runtime_classes(srcdir):
    '''The RuntimeClass objects deploy/ ships, by file.'''
    out = {}
    for path in sorted(glob.glob(os.path.join(srcdir, 'deploy', 'kubernetes', '*.yaml'))):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if isinstance(doc, dict) and doc.get('kind') == 'RuntimeClass':
                    out.setdefault(path, []).append(doc)
    return out


class PageTestCase(BridgeTestCase):
    HOST_ARGS = ['--gpus', '0', '--add-gpu', '2331', '--boot-ms', '0', '--tee', 'sev-snp']
    # The page's profile: the bridge's and nvidia-ccd's defaults.
    MODE_STATE_FORMAT = None
    RESOURCE_NAME = None
    DAEMON_CONFIG = None
    DEVICE_PLUGIN_DIR = 'device-plugins'

    def setUp(self):
        self.registries = []
        super().setUp()
        self.plugin_dir = os.path.join(self.tmp, 'device-plugins')
        os.makedirs(self.plugin_dir, exist_ok=True)
        kubelet_standin.stubs()
        self.kubelet = kubelet_standin.KubeletStandin(self.plugin_dir, api=self.api, node=NODE)
        self.kubelet.start()
        self.addCleanup(self.kubelet.stop)
        self.jq_bin = shutil.which('jq')
        self.lspci_bin = shutil.which('lspci')
        if not self.jq_bin or not self.lspci_bin:
            self.skipTest('jq and lspci are needed')

    def tearDown(self):
        for r in self.registries:
            r.stop()
        super().tearDown()

    # -- the host

    def artifacts_root(self):
        return os.path.join(self.tmp, ARTIFACTS)

    def start_daemon(self, config_text='', *args, **kwargs):
        if config_text == '':
            containerd = os.path.join(self.tmp, 'etc', 'containerd', 'config.toml')
            if not os.path.exists(containerd):
                os.makedirs(os.path.dirname(containerd), exist_ok=True)
                r = subprocess.run(['containerd', 'config', 'default'], stdout=subprocess.PIPE, check=True)
                with open(containerd, 'wb') as f:
                    f.write(r.stdout)
            config_text = '[Kata]\nArtifactsDir=%s\nContainerdConfig=%s\n' % (self.artifacts_root(), containerd)
        return super().start_daemon(config_text, *args, **kwargs)

    def registry(self, tls):
        d = os.path.join(self.tmp, 'registry-%d' % len(self.registries))
        os.makedirs(d)
        reg = Registry(d, tls=tls)
        self.registries.append(reg)
        reg.start()
        return reg

    def push_page_artifact(self, reg):
        '''An artifact with the page's titles; its Kata configuration names
        the page's kernel and initrd.'''
        with open(os.path.join(self.srcdir, 'tests/fixtures/kata/configuration-qemu-nvidia-gpu-snp.toml')) as f:
            toml = f.read()
        toml = re.sub(r'(?m)^kernel = .*$', 'kernel = "/opt/kata/share/kata-containers/%s"'
                      % PAGE_ARTIFACT_FILES[5], toml)
        toml = re.sub(r'(?m)^initrd = .*$', "initrd = '/opt/kata/share/kata-containers/%s'"
                      % PAGE_ARTIFACT_FILES[4], toml)
        contents = {
            '5.19.2.tar.gz': b'\x1f\x8b' + b'modules ' * 512,
            'config-5.19.2-109-nvidia-gpu-sev': b'CONFIG_AMD_MEM_ENCRYPT=y\n' * 64,
            'configuration-kata-qemu-nvidia-gpu-snp.toml': toml.encode(),
            'dpkg.sbom.list': b'ii  nvidia-driver 535.86.05 amd64\n',
            'kata-ubuntu-jammy-nvidia-gpu.initrd': b'initrd ' * 8192,
            'vmlinuz-5.19.2-109-nvidia-gpu-sev': b'kernel ' * 4096,
        }
        reg.push_artifact('nvidia/kata-artifacts', 'v0.1.0', [(t, contents[t]) for t in PAGE_ARTIFACT_FILES])
        return reg.ref('nvidia/kata-artifacts', 'v0.1.0')

    # -- commands as the page types them

    def sh(self, args, stdin=None, check=True):
        r = subprocess.run(args, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60, env=dict(os.environ, HOME=self.tmp))
        if check:
            self.assertEqual(r.returncode, 0, '%s: %s' % (' '.join(args), r.stderr))
        return r

    def kubectl_jq(self, kubectl_args, program, check=True):
        '''kubectl ... -o json | jq PROGRAM'''
        out = self.kubectl(*kubectl_args).stdout
        return self.sh([self.jq_bin, program], stdin=out, check=check)

    def lspci(self):
        return self.sh([self.lspci_bin, '-nnk', '-d', '10de:',
                        '-O', 'sysfs.path=' + os.path.join(self.host.root, 'sys/bus/pci')]).stdout

    # -- kubelet

    def allocate_pod(self, pod):
        '''What kubelet does for the pod's container: devices of the
        resource its limits name, from the plugin's healthy ones, through
        Allocate; the CDI names the runtime gets.'''
        limits = pod['spec']['containers'][0]['resources']['limits']
        (resource, count), = limits.items()
        plugin = self.kubelet.wait(lambda: resource in self.kubelet.plugins and self.kubelet.plugins[resource].lists
                                   and self.kubelet.plugins[resource], 60, 'the %s plugin' % resource,
                                   alive=self.alive)
        healthy = [d['ID'] for d in plugin.lists[-1][1] if d['health'] == 'Healthy']
        self.assertGreaterEqual(len(healthy), int(count))
        resp = plugin.allocate([healthy[:int(count)]])
        return healthy[:int(count)], [c.name for c in resp.container_responses[0].cdi_devices]

    def resolve_cdi(self, qualified):
        '''As containerd's CDI cache resolves a name: one device of that
        kind and name in the specs on disk; its nodes and the spec's.'''
        kind, name = qualified.split('=', 1)
        found = []
        for path in glob.glob(os.path.join(self.host.root, 'var/run/cdi/*.yaml')):
            with open(path) as f:
                spec = yaml.safe_load(f)
            if spec.get('kind') != kind:
                continue
            for d in spec.get('devices', []):
                if d.get('name') == name:
                    nodes = [n['path'] for n in d['containerEdits']['deviceNodes']]
                    nodes += [n['path'] for n in spec.get('containerEdits', {}).get('deviceNodes', [])]
                    found.append(nodes)
        self.assertEqual(len(found), 1, '%s resolves to exactly one device (%r)' % (qualified, found))
        return found[0]

    # -- the walk

    def walk(self, by_bridge):
        '''The page, in its order.  by_bridge: the runtime-class list
        installs the artifacts (else done through nvidia-ccd, as
        nvidia-ccctl does) and deploy/'s RuntimeClasses are listed.'''
        gpu, = self.host.gpus()
        # The bridge's pulls trust a CA; the daemon's by hand use plain
        # HTTP on loopback.
        reg = self.registry(tls=by_bridge)
        ref = self.push_page_artifact(reg)
        self.api.add_namespace('nvidia-cc-k8s-bridge')
        # The Operator's ClusterPolicy, as the page installs it: ccManager's
        # defaultMode "off", the page's default.
        self.api.install_crd('clusterpolicies')
        self.api.create_custom_object('clusterpolicies', {
            'metadata': {'name': 'cluster-policy'},
            'spec': {'ccManager': {'enabled': True, 'defaultMode': 'off'}}})

        extra = []
        if by_bridge:
            rc_file = os.path.join(self.tmp, 'runtime-classes.yaml')
            with open(rc_file, 'w') as f:
                yaml.safe_dump({'artifactsDir': '/' + ARTIFACTS, 'runtimeClasses': [
                    {'name': RUNTIME_CLASS, 'nodeSelector': {}, 'artifacts': {'url': ref}}]}, f)
            extra = ['--runtime-classes', rc_file, '--registry-ca-file', reg.ca_file]
        self.start_bridge(extra)
        self.wait_state('success', 'false')
        if not by_bridge:
            # As kata-manager does on its start, before the page's steps.
            self.call(MANAGER_PATH, MANAGER_IFACE, 'InstallKataArtifacts', 'ssa{sv}',
                      (RUNTIME_CLASS, ref, {'plain-http': GLib.Variant('b', True)}),
                      timeout_ms=120000)

        # "Label the nodes to run virtual machines in containers."
        out = self.kubectl('label', 'node', NODE, WORKLOAD + '=vm-passthrough').stdout
        self.assertEqual(out.strip(), 'node/%s labeled' % NODE)
        self.api.wait_for(lambda: self.host.drivers().get(gpu) == 'vfio-pci', 60,
                          'the GPU on vfio-pci', alive=self.alive)

        # "Verify that the kata-qemu-nvidia-gpu and kata-qemu-nvidia-gpu-snp
        # runtime classes are available" (deploy/'s objects applied).
        if by_bridge:
            for path in deploy_runtime_classes(self.srcdir):
                self.kubectl('apply', '-f', path)
            out = self.kubectl('get', 'runtimeclass').stdout.splitlines()
            self.assertEqual(out[0].split(), ['NAME', 'HANDLER', 'AGE'])
            rows = {l.split()[0]: l.split()[1] for l in out[1:]}
            for name in ('kata-qemu-nvidia-gpu', 'kata-qemu-nvidia-gpu-snp'):
                self.assertEqual(rows.get(name), name, 'handler of %s' % name)

        # "Confirm that the host uses the vfio-pci device driver for GPUs."
        out = self.lspci().splitlines()
        self.assertRegex(out[0], r'^[0-9a-f]{2}:00\.0 3D controller \[0302\]: NVIDIA Corporation '
                                 r'GH100 \[H100 PCIe\] \[10de:2331\] \(rev [0-9a-f]{2}\)$')
        self.assertRegex(out[1], r'^\tSubsystem: NVIDIA Corporation .* \[10de:[0-9a-f]{4}\]$')
        self.assertEqual(out[2], '\tKernel driver in use: vfio-pci')

        # "Confirm that NVIDIA Kata Manager installed the
        # kata-qemu-nvidia-gpu-snp runtime class files."
        if by_bridge:
            self.api.wait_for(lambda: os.path.exists(os.path.join(self.artifacts_root(), RUNTIME_CLASS,
                                                                  PAGE_ARTIFACT_FILES[2])),
                              120, 'the runtime class installed', alive=self.alive)
        out = self.sh(['ls', '-1', os.path.join(self.artifacts_root(), RUNTIME_CLASS) + '/']).stdout
        self.assertEqual(out.splitlines()[:len(PAGE_ARTIFACT_FILES)], PAGE_ARTIFACT_FILES)

        # "Setting a Node-Level Mode", then "Verifying a Mode Change".
        self.kubectl('label', 'node', NODE, MODE + '=on', '--overwrite')
        self.wait_state('success', 'true')
        self.assert_gpus('on')
        # The page's jq, verbatim, has an unterminated string, and its
        # kubectl get node prints a Node, not a list.
        r = self.kubectl_jq(['get', 'node', NODE, '-o', 'json'], PAGE_MODE_STATE_JQ, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('compile error', r.stderr)
        # With the quote closed, on the list of that one node:
        fixed = PAGE_MODE_STATE_JQ.replace('state)))', 'state")))')
        r = self.kubectl_jq(['get', 'nodes', '--field-selector', 'metadata.name=' + NODE, '-o', 'json'], fixed)
        self.assertEqual(json.loads(r.stdout), {'nvidia.com/cc.mode.state': 'success'})

        # "Setting a Cluster-Wide Default Mode", on the node once its own
        # label is gone.
        self.kubectl('label', 'node', NODE, MODE + '-')
        self.wait_state('success', 'false')
        self.assert_gpus('off')
        r = self.kubectl('patch', CLUSTER_POLICY, '-p', PAGE_DEFAULT_PATCH, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(CR_PATCH_REFUSED, r.stderr)
        r = self.kubectl('patch', CLUSTER_POLICY, '--type', 'merge', '-p', PAGE_DEFAULT_PATCH)
        self.assertEqual(r.stdout.strip(), 'clusterpolicy.nvidia.com/cluster-policy patched')
        self.wait_state('success', 'true')
        self.assert_gpus('on')
        self.assertNotIn(MODE, self.api.labels(NODE))

        # "Determine the passthrough GPU resource names."
        self.api.wait_for(lambda: self.api.node(NODE)['status']['allocatable'].get(RESOURCE) == '1', 60,
                          'kubelet\'s allocatable', alive=self.alive)
        r = self.kubectl_jq(['get', 'nodes', '-l', 'nvidia.com/gpu.present', '-o', 'json'], PAGE_ALLOCATABLE_JQ)
        self.assertEqual(r.stdout, '{\n  "nvidia.com/GH100_H100_PCIE": "1"\n}\n')

        # "Create the pod": kubectl apply -f cuda-vectoradd-coco.yaml.
        pod_file = os.path.join(self.tmp, 'cuda-vectoradd-coco.yaml')
        with open(pod_file, 'w') as f:
            f.write(PAGE_POD)
        out = self.kubectl('apply', '-f', pod_file).stdout
        self.assertEqual(out.strip(), 'pod/cuda-vectoradd-coco created')
        pod = self.api.store.get(kube_standin.RESOURCES['pods'], 'default', 'cuda-vectoradd-coco')
        self.assertEqual(pod['spec']['runtimeClassName'], RUNTIME_CLASS)
        # Allocated as kubelet would: the CDI name resolves on disk, and the
        # pod's annotation names the same GPU.
        ids, names = self.allocate_pod(pod)
        self.assertEqual(ids, [str(self.host.iommu_group(gpu))])
        self.assertEqual(names, ['%s=%s' % (RESOURCE, ids[0])])
        allocated = self.resolve_cdi(names[0])
        annotated = self.resolve_cdi(pod['metadata']['annotations']['cdi.k8s.io/gpu'])
        self.assertEqual(annotated, allocated)
        self.assertIn('/dev/vfio/%d' % self.host.iommu_group(gpu), allocated)


class PageTest(PageTestCase):

    def test_page(self):
        missing = []
        text = bridge_help()
        if '--runtime-classes' not in text:
            missing.append('--runtime-classes (the runtime classes)')
        if 'runtimeclasses' not in kube_standin.RESOURCES and 'runtimeclasses' not in getattr(
                kube_standin, 'CUSTOM_RESOURCES', {}):
            missing.append('RuntimeClasses in the API-server stand-in')
        if not deploy_runtime_classes(self.srcdir):
            missing.append('RuntimeClass objects in deploy/')
        if missing:
            self.skipTest('the bridge lacks: ' + ', '.join(missing))
        self.walk(by_bridge=True)

    def test_page_artifacts_by_hand(self):
        self.walk(by_bridge=False)


if __name__ == '__main__':
    harness.main()
