#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# nvidia-cc-k8s-bridge --runtime-classes: a kata-manager runtime-class file,
# mounted as a ConfigMap volume is (a "..data" symbolic link renamed over on
# each update), turned into InstallKataArtifacts and RemoveKataArtifacts
# calls.  The real bridge and nvidia-ccd on a private bus, the
# kube-apiserver stand-in holding the node and the pull secrets, a real
# docker-registry over TLS with htpasswd holding the artifacts, and the real
# containerd judging the configuration the daemon writes.  Every wait is on
# an Event the bridge posts on the Node (the stand-in's condition variable).

import base64
import json
import os
import shutil
import subprocess
import tomllib

from gi.repository import GLib

import kube_standin
from registry import Registry
from test_bridge import BridgeTestCase, NODE
from test_kata import CRI, INITRD, KERNEL, REPO, RC_IFACE, SBOM, TOML_TITLE

GPU = 'kata-qemu-nvidia-gpu'
SNP = 'kata-qemu-nvidia-gpu-snp'
SELECT = 'example.com/kata'
SECRET = 'kata-artifacts-pull-secret'
SECRET_NAMESPACE = 'nvidia-cc-k8s-bridge'
FILE = 'config.yaml'
MANAGE_ARTIFACTS = 'org.nvidia.ConfidentialCompute.manage-artifacts'


class RuntimeClassTest(BridgeTestCase):
    AUTO_START = False
    NODE_LABELS = {SELECT: 'true'}

    def setUp(self):
        super().setUp()
        self.api.add_namespace(SECRET_NAMESPACE)
        # The pull secrets are looked for in the kubeconfig's namespace.
        kube_standin.write_kubeconfig(self.kubeconfig, self.api.url, ca_file=os.path.join(self.pki, 'ca.crt'),
                                      token_file=self.token_file, namespace=SECRET_NAMESPACE)
        self.artifacts = os.path.join(self.tmp, 'artifacts')
        etc = os.path.join(self.tmp, 'etc', 'containerd')
        os.makedirs(etc)
        self.containerd = os.path.join(etc, 'config.toml')
        default = subprocess.run(['containerd', 'config', 'default'], stdout=subprocess.PIPE, check=True).stdout
        with open(self.containerd, 'wb') as f:
            f.write(default)
        with open(os.path.join(self.srcdir, 'tests/fixtures/kata', TOML_TITLE), 'rb') as f:
            self.toml = f.read()
        self.make_host(self.HOST_ARGS)
        self.start_daemon('[Kata]\nArtifactsDir=%s\nContainerdConfig=%s\n' % (self.artifacts, self.containerd))
        self.reg = Registry(os.path.join(self.tmp, 'registry'), tls=True, auth='htpasswd')
        self.reg.start()
        self.addCleanup(self.reg.stop)
        self.config_dir = os.path.join(self.tmp, 'runtime-classes')
        os.makedirs(self.config_dir)
        self.updates = 0

    # -- the artifacts and the file

    def files(self, version):
        return [(TOML_TITLE, self.toml),
                (KERNEL, ('kernel %d ' % version).encode() * 4096),
                (INITRD, ('initrd %d ' % version).encode() * 8192),
                (SBOM, ('ii  nvidia-driver 550.90.%02d amd64\n' % version).encode())]

    def push(self, tag, version=1):
        '''An artifact in the registry: its reference pinned by digest.'''
        art = self.reg.push_artifact(REPO, tag, self.files(version))
        return art, self.reg.ref(REPO, art.digest)

    def add_pull_secret(self, name=SECRET):
        self.api.add_secret(SECRET_NAMESPACE, name, 'kubernetes.io/dockerconfigjson',
                            data={'.dockerconfigjson': base64.b64encode(self.reg.docker_config().encode()).decode()})

    def entry(self, name, url, selector=None, secret=SECRET):
        artifacts = {'url': url}
        if secret:
            artifacts['pullSecret'] = secret
        return {'name': name, 'nodeSelector': selector if selector is not None else {SELECT: 'true'},
                'artifacts': artifacts}

    def write_file(self, text):
        '''The file as the kubelet updates a ConfigMap volume: the data in a
        new directory, "..data" renamed over to point at it, the file a
        link through "..data".'''
        if not isinstance(text, str):
            text = json.dumps({'artifactsDir': '/opt/nvidia-gpu-operator/artifacts/runtimeclasses',
                               'runtimeClasses': text}, indent=2)
        self.updates += 1
        version = '..2026_12_02_00_00_%02d.%d' % (self.updates, os.getpid())
        os.mkdir(os.path.join(self.config_dir, version))
        with open(os.path.join(self.config_dir, version, FILE), 'w') as f:
            f.write(text)
        old = os.path.join(self.config_dir, '..data')
        previous = os.readlink(old) if os.path.islink(old) else None
        os.symlink(version, os.path.join(self.config_dir, '..data_tmp'))
        os.rename(os.path.join(self.config_dir, '..data_tmp'), old)
        link = os.path.join(self.config_dir, FILE)
        if not os.path.islink(link):
            os.symlink(os.path.join('..data', FILE), link)
        if previous:
            shutil.rmtree(os.path.join(self.config_dir, previous))

    def start(self, extra=()):
        return self.start_bridge(['--runtime-classes', os.path.join(self.config_dir, FILE),
                                  '--registry-ca-file', self.reg.ca_file] + list(extra))

    # -- what is installed

    def installed(self):
        '''name -> properties of nvidia-ccd's RuntimeClass objects.'''
        out = {}
        for path, ifaces in self.managed_objects().items():
            if RC_IFACE in ifaces:
                out[ifaces[RC_IFACE]['Name']] = ifaces[RC_IFACE]
        return out

    def runtimes(self):
        r = subprocess.run(['containerd', '-c', self.containerd, 'config', 'dump'], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return tomllib.loads(r.stdout.decode())['plugins'][CRI]['containerd']['runtimes']

    def record(self):
        try:
            with open(os.path.join(self.bridge_state, 'runtime-classes')) as f:
                return sorted(f.read().split())
        except FileNotFoundError:
            return []

    def events_of(self, reason):
        return sum(e.get('count', 1) for e in self.node_events(reason))

    def wait_events(self, reason, count):
        self.api.wait_for(lambda: self.events_of(reason) >= count, 60, '%d %s event(s)' % (count, reason),
                          alive=self.alive)

    def secret_reads(self):
        return self.api.requests_matching('GET', '/api/v1/namespaces/%s/secrets/.*' % SECRET_NAMESPACE)

    def assert_registered(self, name):
        rt = self.runtimes()[name]
        self.assertEqual(rt['runtime_type'], 'io.containerd.kata.v2')
        self.assertEqual(rt['options']['ConfigPath'], os.path.join(self.artifacts, name, TOML_TITLE))

    # -------------------------------------------------------------- cases

    def test_install_on_match_with_pull_secret(self):
        self.add_pull_secret()
        art, ref = self.push('v1')
        self.write_file([self.entry(SNP, ref),
                         self.entry(GPU, ref, selector={SELECT: 'true', 'example.com/other': 'true'})])
        self.start()
        self.wait_events('RuntimeClassInstalled', 1)
        props = self.installed()
        self.assertEqual(sorted(props), [SNP], 'the class whose selector does not match is not installed')
        self.assertEqual(props[SNP]['Digest'], art.digest)
        self.assertEqual(props[SNP]['Reference'], ref)
        self.assertEqual(sorted(os.listdir(os.path.join(self.artifacts, SNP))),
                         sorted(t for t, _ in self.files(1)))
        self.assert_registered(SNP)
        self.assertNotIn(GPU, self.runtimes())
        self.assertEqual(self.record(), [SNP])
        # The Secret was read from the kubeconfig's namespace, once.
        reads = self.secret_reads()
        self.assertEqual([r['path'] for r in reads], ['/api/v1/namespaces/%s/secrets/%s' % (SECRET_NAMESPACE, SECRET)])
        self.assertEqual(reads[0]['status'], 200)
        ev = self.node_events('RuntimeClassInstalled')[0]
        self.assertEqual(ev['type'], 'Normal')
        self.assertIn(SNP, ev['message'])

        # The node gets the other label: the second class now matches.
        self.kubectl_label('example.com/other=true')
        self.wait_events('RuntimeClassInstalled', 2)
        self.assertEqual(sorted(self.installed()), [GPU, SNP])
        self.assert_registered(GPU)
        # The first one was not pulled again: the same digest.
        self.assertEqual(self.installed()[SNP]['InstalledAt'], props[SNP]['InstalledAt'])
        # The label goes: the class the bridge installed goes too.
        self.kubectl('label', 'node', NODE, 'example.com/other-')
        self.wait_events('RuntimeClassRemoved', 1)
        self.assertEqual(sorted(self.installed()), [SNP])
        self.assertNotIn(GPU, self.runtimes())
        self.assertFalse(os.path.exists(os.path.join(self.artifacts, GPU)))
        self.assertEqual(self.record(), [SNP])

    def test_file_change_adds_and_removes(self):
        self.add_pull_secret()
        art1, ref1 = self.push('v1')
        self.write_file([self.entry(SNP, ref1)])
        self.start()
        self.wait_events('RuntimeClassInstalled', 1)
        # The file changes: SNP leaves, GPU comes.
        self.write_file([self.entry(GPU, ref1)])
        self.wait_events('RuntimeClassRemoved', 1)
        self.wait_events('RuntimeClassInstalled', 2)
        self.assertEqual(sorted(self.installed()), [GPU])
        self.assert_registered(GPU)
        self.assertNotIn(SNP, self.runtimes())
        self.assertEqual(self.record(), [GPU])
        removed = self.node_events('RuntimeClassRemoved')[0]
        self.assertIn(SNP, removed['message'])
        # An empty list removes what the bridge installed.
        self.write_file('runtimeClasses: []\n')
        self.wait_events('RuntimeClassRemoved', 2)
        self.assertEqual(self.installed(), {})
        self.assertEqual(self.record(), [])

    def test_only_own_classes_removed(self):
        art, ref = self.push('v1')
        self.add_pull_secret()
        # Installed on the host by its administrator, as nvidia-ccctl would.
        secret = os.path.join(self.tmp, 'pull-secret.json')
        self.reg.write_docker_config(secret)
        fds = [os.open(secret, os.O_RDONLY | os.O_CLOEXEC), os.open(self.reg.ca_file, os.O_RDONLY | os.O_CLOEXEC)]
        self.call('/org/nvidia/ConfidentialCompute', 'org.nvidia.ConfidentialCompute.Manager',
                  'InstallKataArtifacts', 'ssa{sv}',
                  ('kata-admin', ref, {'pull-secret-fd': GLib.Variant('h', 0), 'ca-file-fd': GLib.Variant('h', 1)}),
                  fds=fds, timeout_ms=120000)
        self.write_file([self.entry(SNP, ref)])
        self.start()
        self.wait_events('RuntimeClassInstalled', 1)
        self.write_file('runtimeClasses: []\n')
        self.wait_events('RuntimeClassRemoved', 1)
        self.assertEqual(sorted(self.installed()), ['kata-admin'], 'the administrator\'s class stays')
        self.assertIn('kata-admin', self.runtimes())

    def test_removed_on_the_host_installed_again(self):
        # The file still gives the node the class: removed by hand, it comes
        # back (pods are scheduled here by it).
        self.add_pull_secret()
        art, ref = self.push('v1')
        self.write_file([self.entry(SNP, ref)])
        self.start()
        self.wait_events('RuntimeClassInstalled', 1)
        self.call('/org/nvidia/ConfidentialCompute', 'org.nvidia.ConfidentialCompute.Manager',
                  'RemoveKataArtifacts', 's', (SNP,))
        self.wait_events('RuntimeClassInstalled', 2)
        self.assertEqual(self.installed()[SNP]['Digest'], art.digest)
        self.assert_registered(SNP)
        self.assertEqual(self.record(), [SNP])

    def test_digest_unchanged_no_repull(self):
        self.add_pull_secret()
        art1, ref1 = self.push('v1')
        self.write_file([self.entry(SNP, ref1)])
        self.start()
        self.wait_events('RuntimeClassInstalled', 1)
        first = self.installed()[SNP]
        reads = len(self.secret_reads())
        # A new bridge (a pod restarted), then a file that adds a class
        # after it: the class it keeps is not pulled again, the new one is.
        self.stop_bridge()
        self.write_file([self.entry(SNP, ref1), self.entry(GPU, ref1)])
        self.start()
        self.wait_events('RuntimeClassInstalled', 2)
        now = self.installed()
        self.assertEqual(now[SNP]['InstalledAt'], first['InstalledAt'], 'the same digest is not pulled again')
        self.assertEqual(len(self.secret_reads()), reads + 1, 'the secret read only for the new class')
        # Another digest: pulled again.
        art2, ref2 = self.push('v2', version=2)
        self.write_file([self.entry(SNP, ref2), self.entry(GPU, ref1)])
        self.wait_events('RuntimeClassInstalled', 3)
        now2 = self.installed()
        self.assertEqual(now2[SNP]['Digest'], art2.digest)
        self.assertGreater(now2[SNP]['InstalledAt'], first['InstalledAt'])
        self.assertEqual(now2[GPU]['InstalledAt'], now[GPU]['InstalledAt'])
        with open(os.path.join(self.artifacts, SNP, KERNEL), 'rb') as f:
            self.assertEqual(f.read(), self.files(2)[1][1])

    def test_failure_backoff_and_event(self):
        art, ref = self.push('v1')
        # The Secret does not exist yet: each attempt fails, is told, and
        # is tried again later (--retry-max 1: within a second or two).
        self.write_file([self.entry(SNP, ref)])
        self.start()
        self.wait_events('RuntimeClassInstallFailed', 2)
        ev = self.node_events('RuntimeClassInstallFailed')[0]
        self.assertEqual(ev['type'], 'Warning')
        self.assertIn('the pull secret %s/%s does not exist' % (SECRET_NAMESPACE, SECRET), ev['message'])
        self.assertIn('tried again with a growing delay', ev['message'])
        self.assertEqual(len(self.node_events('RuntimeClassInstallFailed')), 1, 'one Event, counted')
        self.assertEqual(self.installed(), {})
        with open(self.bridge_log, errors='replace') as f:
            self.assertIn('Runtime class %s could not be installed' % SNP, f.read())
        # A Secret the registry refuses (the wrong password): the daemon's
        # error is told.
        self.api.add_secret(SECRET_NAMESPACE, SECRET, 'kubernetes.io/dockerconfigjson', string_data={
            '.dockerconfigjson': self.reg.docker_config(user='puller', password='wrong')})
        self.api.wait_for(lambda: any('org.nvidia.ConfidentialCompute.Error.RegistryError: ' in e['message']
                                      for e in self.node_events('RuntimeClassInstallFailed')),
                          60, 'a failure from the registry', alive=self.alive)
        # The right Secret: the next retry installs.
        self.api.delete_secret(SECRET_NAMESPACE, SECRET)
        self.add_pull_secret()
        self.wait_events('RuntimeClassInstalled', 1)
        self.assertEqual(self.installed()[SNP]['Digest'], art.digest)

    def test_not_root_needs_the_rule(self):
        # As a user polkit does not authorize: each attempt is refused and
        # told with the remedy; once allowed, the retry installs.
        self.add_pull_secret()
        art, ref = self.push('v1')
        self.write_file([self.entry(SNP, ref)])
        self.start_bridge(['--runtime-classes', os.path.join(self.config_dir, FILE),
                           '--registry-ca-file', self.reg.ca_file], user=(65534, 65534))
        self.wait_events('RuntimeClassInstallFailed', 1)
        ev = self.node_events('RuntimeClassInstallFailed')[0]
        self.assertIn('polkit does not let the bridge (uid 65534) manage Kata artifacts', ev['message'])
        self.assertIn('org.nvidia.ConfidentialCompute.manage-artifacts', ev['message'])
        self.assertEqual(self.installed(), {})
        self.polkit_set_allowed([MANAGE_ARTIFACTS])
        self.wait_events('RuntimeClassInstalled', 1)
        self.assertEqual(self.installed()[SNP]['Digest'], art.digest)
        self.assertEqual(self.record(), [SNP])

    def apply_deploy_rbac(self):
        '''The RBAC objects of deploy/kubernetes in the stand-in, in the
        bridge's namespace as the kustomization puts them, and the stand-in
        enforcing them.'''
        import yaml
        kinds = {'ClusterRole': 'clusterroles', 'ClusterRoleBinding': 'clusterrolebindings',
                 'Role': 'roles', 'RoleBinding': 'rolebindings'}
        d = os.path.join(self.srcdir, 'deploy/kubernetes')
        n = 0
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name)) as f:
                for o in yaml.safe_load_all(f):
                    if not o or o.get('kind') not in kinds:
                        continue
                    res = kube_standin.RESOURCES[kinds[o['kind']]]
                    for sj in o.get('subjects') or []:
                        sj.setdefault('namespace', SECRET_NAMESPACE)
                    self.api.store.create(res, SECRET_NAMESPACE if res.namespaced else None, o)
                    n += 1
        self.assertEqual(n, 4)
        self.api.rbac = True

    def test_deploy_rbac_exact(self):
        # With only what deploy/kubernetes grants: the named pull secret is
        # read, another Secret is refused, and the bridge says what to do.
        self.apply_deploy_rbac()
        self.add_pull_secret()
        self.add_pull_secret('another-secret')
        art, ref = self.push('v1')
        self.write_file([self.entry(SNP, ref), self.entry(GPU, ref, secret='another-secret')])
        self.start()
        self.wait_events('RuntimeClassInstalled', 1)
        self.wait_events('RuntimeClassInstallFailed', 1)
        self.assertEqual(sorted(self.installed()), [SNP])
        ev = self.node_events('RuntimeClassInstallFailed')[0]
        self.assertIn('does not let the bridge read the pull secret %s/another-secret (HTTP 403)' % SECRET_NAMESPACE,
                      ev['message'])
        self.assertIn("the bridge's Role must grant get on it", ev['message'])
        refused = [r for r in self.secret_reads() if r['path'].endswith('/another-secret')]
        self.assertTrue(refused)
        self.assertEqual({r['status'] for r in refused}, {403})
        # Everything else the bridge asked for was granted by the ClusterRole.
        others = [r for r in self.api.requests_matching() if '/secrets/' not in r['path']]
        self.assertTrue(others)
        self.assertEqual([r for r in others if r['status'] == 403], [])

    def test_bad_file_changes_nothing(self):
        self.add_pull_secret()
        art, ref = self.push('v1')
        self.write_file([self.entry(SNP, ref)])
        self.start()
        self.wait_events('RuntimeClassInstalled', 1)
        before = self.installed()
        # A misspelt key: refused, naming it; what is installed stays.
        self.write_file('runtimeClasses:\n  - name: %s\n    nodeselector: {}\n    artifacts: {url: "%s"}\n'
                        % (GPU, ref))
        self.wait_events('RuntimeClassFileInvalid', 1)
        ev = self.node_events('RuntimeClassFileInvalid')[0]
        self.assertEqual(ev['type'], 'Warning')
        self.assertIn('runtimeClasses[0]: unknown key "nodeselector"', ev['message'])
        self.assertIn('stay as they are', ev['message'])
        # Not YAML at all.
        self.write_file('runtimeClasses: [\n')
        self.wait_events('RuntimeClassFileInvalid', 2)
        self.assertIn('YAML error at line', self.node_events('RuntimeClassFileInvalid')[-1]['message']
                      if len(self.node_events('RuntimeClassFileInvalid')) > 1 else
                      self.node_events('RuntimeClassFileInvalid')[0]['message'])
        self.assertEqual(self.installed(), before)
        self.assertEqual(self.record(), [SNP])
        self.assertEqual(self.events_of('RuntimeClassRemoved'), 0)
        # Fixed: it is read again, and the new class installed.
        self.write_file([self.entry(SNP, ref), self.entry(GPU, ref)])
        self.wait_events('RuntimeClassInstalled', 2)
        self.assertEqual(sorted(self.installed()), [GPU, SNP])
        self.assertEqual(self.installed()[SNP]['InstalledAt'], before[SNP]['InstalledAt'])

    def test_bad_file_at_start(self):
        self.write_file('artifactsDir: relative/dir\nruntimeClasses: []\n')
        self.start()
        self.wait_events('RuntimeClassFileInvalid', 1)
        self.assertIn('artifactsDir: "relative/dir" is not an absolute path',
                      self.node_events('RuntimeClassFileInvalid')[0]['message'])
        self.assertTrue(self.bridge.alive(), 'the other roles go on')
        self.assertEqual(self.installed(), {})

    def test_needs_api_server(self):
        r = subprocess.run([self.bridge_bin, '--runtime-classes', '/nonexistent', '--bus', self.bus_address,
                            '--log-target', 'console'],
                           env={k: v for k, v in os.environ.items() if k not in ('KUBECONFIG', 'KUBERNETES_SERVICE_HOST')},
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn('--runtime-classes needs the API server', r.stderr)


if __name__ == '__main__':
    import unittest
    unittest.main(verbosity=2)
