#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# The deployment of nvidia-cc-k8s-bridge says what the bridge needs and no
# more: every manifest in deploy/kubernetes parses; RBAC grants exactly
# nodes get/list/watch/patch, pods list/watch and events create/patch; the
# namespace is the bridge's own, at the privileged Pod Security level; the
# DaemonSet selects nodes by our label or the Operator's cc-manager label,
# takes NODE_NAME from the downward API, has no default mode, rolls one node
# at a time, mounts the system bus socket where sd-bus looks for it and the
# readiness and state directories the bridge uses by default (read from
# src/bridge/main.c) and the kubelet's device plugin directory (read from
# src/bridge/devplugin.h), probes the readiness and the liveness files, runs
# without root, privilege escalation, capabilities or a writable root file
# system; the uid is the same in the DaemonSet, its init container, the
# Containerfile, the sysusers.d entry, the bridge's message about it and the
# polkit rule, which grants set-mode and manage-artifacts and nothing else
# (no VFIO); the pull secrets of the runtime-class ConfigMap are exactly the
# Secrets a namespaced Role lets the bridge get (and nothing else); the
# RuntimeClass objects are the seed's two, handler = name, scheduled on the
# bridge's labels, each one a class of the ConfigMap; the ConfigMap is
# mounted whole (a subPath mount never updates) where the DaemonSet's
# RUNTIME_CLASSES_FILE points; the init container
# gives that uid the device plugin directory and kubelet.sock, now and after
# a kubelet restart (a default ACL entry); the Containerfile builds with
# protobuf-c and nghttp2 and ships their libraries.  The kustomization lists
# every manifest and names a registry in its image, and `kubectl kustomize`
# (offline) builds it into the ten objects.
#
#   check-deploy.py SOURCE_DIR
#
# kubectl: $KUBECTL, else the first on PATH; without one that step is
# skipped and said so.
#
# Applying them to an API server is tests/service/test_quickstart.py's part.

import os
import re
import shutil
import subprocess
import sys
import unittest

import yaml

SRC = None
KINDS = ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet', 'Namespace', 'Role', 'RoleBinding',
         'RuntimeClass', 'RuntimeClass', 'ServiceAccount']

SYSTEM_BUS_SOCKET = '/run/dbus/system_bus_socket'  # sd-bus's default
MANAGE_VFIO = 'org.nvidia.ConfidentialCompute.manage-vfio'
SET_MODE = 'org.nvidia.ConfidentialCompute.set-mode'
MANAGE_ARTIFACTS = 'org.nvidia.ConfidentialCompute.manage-artifacts'
SEED_CLASSES = ['kata-qemu-nvidia-gpu', 'kata-qemu-nvidia-gpu-snp']
# The labels the bridge writes, which RuntimeClass scheduling may name.
BRIDGE_LABELS = {'nvidia.com/cc.capable', 'nvidia.com/cc.ready.state', 'nvidia.com/cc.mode.state'}
NAMESPACE = 'nvidia-cc-k8s-bridge'
OUR_LABEL = 'nvidia.com/cc.bridge.deploy'
OPERATOR_LABEL = 'nvidia.com/gpu.deploy.cc-manager'


def read(path):
    with open(os.path.join(SRC, path), encoding='utf-8') as f:
        return f.read()


def c_define(path, name):
    m = re.search(r'^#define %s "([^"]+)"' % re.escape(name), read(path), re.M)
    if not m:
        raise AssertionError('%s: no #define %s' % (path, name))
    return m.group(1)


def c_define_int(path, name):
    m = re.search(r'^#define %s (\d+)$' % re.escape(name), read(path), re.M)
    if not m:
        raise AssertionError('%s: no #define %s' % (path, name))
    return m.group(1)


def load_manifests():
    d = os.path.join(SRC, 'deploy/kubernetes')
    docs = {}
    for name in sorted(os.listdir(d)):
        if not name.endswith('.yaml'):
            continue
        with open(os.path.join(d, name), encoding='utf-8') as f:
            objs = [o for o in yaml.safe_load_all(f) if o is not None]
        docs[name] = objs
    return docs


class DeployTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.files = load_manifests()
        cls.kustomization = cls.files.pop('kustomization.yaml')[0]
        cls.objects = {}
        cls.all_objects = []
        for name, objs in cls.files.items():
            for o in objs:
                for key in ('apiVersion', 'kind', 'metadata'):
                    if key not in o:
                        raise AssertionError('%s: an object without %s' % (name, key))
                cls.objects[o['kind']] = o
                cls.all_objects.append(o)
        cls.ds = cls.objects['DaemonSet']
        cls.pod = cls.ds['spec']['template']['spec']
        cls.containers = {c['name']: c for c in cls.pod['containers']}
        cls.bridge = cls.containers['nvidia-cc-k8s-bridge']
        cls.readiness_file = c_define('src/bridge/main.c', 'DEFAULT_READINESS_FILE')
        cls.state_dir = c_define('src/bridge/main.c', 'DEFAULT_STATE_DIR')
        cls.device_plugin_dir = c_define('src/bridge/devplugin.h', 'DEFAULT_DEVICE_PLUGIN_DIR')
        cls.liveness_file = c_define('src/bridge/main.c', 'DEFAULT_LIVENESS_FILE')

    def volume_at(self, container, mount_path, kind='hostPath'):
        '''The volume (of kind) mounted at mount_path in container.'''
        mounts = [m for m in container.get('volumeMounts', []) if m['mountPath'] == mount_path]
        self.assertEqual(len(mounts), 1, 'one mount at %s in %s' % (mount_path, container['name']))
        self.assertNotIn('subPath', mounts[0])
        vols = [v for v in self.pod['volumes'] if v['name'] == mounts[0]['name']]
        self.assertEqual(len(vols), 1)
        self.assertIn(kind, vols[0], '%s is a %s' % (mount_path, kind))
        return vols[0][kind], mounts[0]

    # ------------------------------------------------------------ set

    def test_kinds(self):
        self.assertEqual(sorted(o['kind'] for o in self.all_objects), KINDS)

    def test_kustomization_lists_every_manifest(self):
        self.assertEqual(sorted(self.kustomization['resources']), sorted(self.files))
        self.assertEqual(self.kustomization['namespace'], NAMESPACE)

    def test_namespace_is_privileged(self):
        ns = self.objects['Namespace']
        self.assertEqual(ns['metadata']['name'], NAMESPACE)
        labels = ns['metadata']['labels']
        for mode in ('enforce', 'audit', 'warn'):
            self.assertEqual(labels['pod-security.kubernetes.io/' + mode], 'privileged', mode)

    def test_image_names_a_registry(self):
        # An unqualified name is docker.io/library/NAME to a runtime.
        (image,) = self.kustomization['images']
        containers = self.pod['containers'] + self.pod['initContainers']
        self.assertEqual({c['image'] for c in containers}, {image['name']})
        host = image['newName'].split('/', 1)[0]
        self.assertIn('/', image['newName'])
        self.assertTrue('.' in host or ':' in host or host == 'localhost', image['newName'])
        self.assertTrue(image['newTag'])

    # ------------------------------------------------------------ RBAC

    def test_cluster_role_exact(self):
        rules = self.objects['ClusterRole']['rules']
        got = {}
        for rule in rules:
            self.assertEqual(len(rule['apiGroups']), 1)
            self.assertEqual(set(rule) - {'apiGroups', 'resources', 'verbs', 'resourceNames'}, set(),
                             'no nonResourceURLs')
            for res in rule['resources']:
                key = (rule['apiGroups'][0], res, tuple(rule.get('resourceNames', ())))
                got.setdefault(key, set()).update(rule['verbs'])
        # The cluster default: the ClusterPolicy and the ConfigMap the
        # bridge reads, by name, and nothing else of their kinds.
        self.assertEqual(got, {('', 'nodes', ()): {'get', 'list', 'watch', 'patch'},
                               ('', 'pods', ()): {'list', 'watch'},
                               ('', 'events', ()): {'create', 'patch'},
                               ('nvidia.com', 'clusterpolicies', ('cluster-policy',)): {'list', 'watch'},
                               ('', 'configmaps', (c_define('src/bridge/cluster-default.h',
                                                           'CLUSTER_DEFAULT_CONFIG_MAP_NAME'),)): {'list', 'watch'}})

    def test_binding(self):
        b = self.objects['ClusterRoleBinding']
        sa = self.objects['ServiceAccount']
        self.assertEqual(b['roleRef'], {'apiGroup': 'rbac.authorization.k8s.io', 'kind': 'ClusterRole',
                                        'name': self.objects['ClusterRole']['metadata']['name']})
        self.assertEqual(b['subjects'], [{'kind': 'ServiceAccount', 'name': sa['metadata']['name'],
                                          'namespace': self.kustomization['namespace']}])
        self.assertEqual(self.pod['serviceAccountName'], sa['metadata']['name'])

    # ------------------------------------------------------------ runtime classes

    def runtime_class_file(self):
        cm = self.objects['ConfigMap']
        self.assertEqual(list(cm['data']), ['config.yaml'])
        return yaml.safe_load(cm['data']['config.yaml'])

    def test_runtime_class_file(self):
        # kata-manager's format, as the bridge reads it (rtclass-file.h).
        f = self.runtime_class_file()
        self.assertEqual(set(f), {'artifactsDir', 'runtimeClasses'})
        self.assertEqual([c['name'] for c in f['runtimeClasses']], SEED_CLASSES)
        for c in f['runtimeClasses']:
            self.assertEqual(set(c), {'name', 'nodeSelector', 'artifacts'})
            self.assertEqual(set(c['artifacts']), {'url', 'pullSecret'})
            self.assertRegex(c['artifacts']['url'], r'^[a-z0-9.-]+(:[0-9]+)?/[^ ]+$')
            for k, v in c['nodeSelector'].items():
                self.assertIsInstance(v, str, '%s: %s must be a string' % (c['name'], k))

    def test_pull_secret_role_exact(self):
        # get on the named Secrets, in the bridge's namespace: no list, no
        # other Secret, nothing at the cluster scope.
        role = self.objects['Role']
        self.assertEqual(len(role['rules']), 1)
        rule = role['rules'][0]
        self.assertEqual(rule['apiGroups'], [''])
        self.assertEqual(rule['resources'], ['secrets'])
        self.assertEqual(rule['verbs'], ['get'])
        self.assertTrue(rule['resourceNames'])
        named = {c['artifacts']['pullSecret'] for c in self.runtime_class_file()['runtimeClasses']} - {''}
        self.assertLessEqual(named, set(rule['resourceNames']), 'every pull secret is one the Role names')
        binding = self.objects['RoleBinding']
        self.assertEqual(binding['roleRef'], {'apiGroup': 'rbac.authorization.k8s.io', 'kind': 'Role',
                                              'name': role['metadata']['name']})
        self.assertEqual(binding['subjects'], [{'kind': 'ServiceAccount',
                                                'name': self.objects['ServiceAccount']['metadata']['name']}])
        for o in self.all_objects:
            for r in o.get('rules', []) if o['kind'] == 'ClusterRole' else []:
                self.assertNotIn('secrets', r['resources'], 'no Secret at the cluster scope')

    def test_runtime_class_objects(self):
        rcs = [o for o in self.all_objects if o['kind'] == 'RuntimeClass']
        self.assertEqual(sorted(o['metadata']['name'] for o in rcs), SEED_CLASSES)
        for o in rcs:
            self.assertEqual(o['apiVersion'], 'node.k8s.io/v1')
            self.assertEqual(o['handler'], o['metadata']['name'])
            self.assertEqual(o['metadata']['labels']['nvidia.com/kata-runtime-class'], 'true')
            selector = o['scheduling']['nodeSelector']
            self.assertTrue(selector)
            self.assertLessEqual(set(selector), BRIDGE_LABELS, o['metadata']['name'])
        snp = [o for o in rcs if o['metadata']['name'].endswith('-snp')][0]
        self.assertEqual(snp['scheduling']['nodeSelector']['nvidia.com/cc.ready.state'], 'true')

    def test_runtime_class_file_mounted(self):
        env = {e['name']: e.get('value') for e in self.bridge['env']}
        path = env['RUNTIME_CLASSES_FILE']
        cm, mount = self.volume_at(self.bridge, os.path.dirname(path), kind='configMap')
        self.assertEqual(cm['name'], self.objects['ConfigMap']['metadata']['name'])
        self.assertTrue(mount.get('readOnly'))
        self.assertIn(os.path.basename(path), self.objects['ConfigMap']['data'])
        self.assertEqual(env['RESTART_CONTAINERD'], 'true')

    # ------------------------------------------------------------ DaemonSet

    def test_selector_and_tolerations(self):
        # Either label: ours, or the one the GPU Operator sets for cc-manager.
        self.assertNotIn('nodeSelector', self.pod)
        terms = self.pod['affinity']['nodeAffinity']['requiredDuringSchedulingIgnoredDuringExecution'][
            'nodeSelectorTerms']
        self.assertEqual(terms, [
            {'matchExpressions': [{'key': OUR_LABEL, 'operator': 'In', 'values': ['true']}]},
            {'matchExpressions': [{'key': OPERATOR_LABEL, 'operator': 'In', 'values': ['true']}]}])
        self.assertIn({'key': 'nvidia.com/gpu', 'operator': 'Exists', 'effect': 'NoSchedule'},
                      self.pod['tolerations'])
        labels = self.ds['spec']['template']['metadata']['labels']
        for k, v in self.ds['spec']['selector']['matchLabels'].items():
            self.assertEqual(labels.get(k), v, 'the selector matches the pod template')

    def test_env(self):
        env = {e['name']: e for e in self.bridge['env']}
        self.assertEqual(env['NODE_NAME']['valueFrom'], {'fieldRef': {'fieldPath': 'spec.nodeName'}})
        # The Operator's namespace, not this one.
        self.assertEqual(env['OPERATOR_NAMESPACE']['value'], 'gpu-operator')
        # No default: applying the DaemonSet must not switch every node at once.
        self.assertEqual(env['DEFAULT_CC_MODE']['value'], '')
        self.assertIn(env['EVICT_OPERATOR_COMPONENTS']['value'], ('true', 'false'))
        # The Operator's default workload: nothing bound to VFIO unless asked.
        self.assertEqual(env['DEFAULT_GPU_WORKLOAD_CONFIG']['value'], 'container')
        # sd-bus must use its default address, where the socket is mounted.
        self.assertNotIn('DBUS_SYSTEM_BUS_ADDRESS', env)

    def test_host_paths(self):
        host, _ = self.volume_at(self.bridge, SYSTEM_BUS_SOCKET)
        self.assertEqual(host, {'path': SYSTEM_BUS_SOCKET, 'type': 'Socket'})
        validations = os.path.dirname(self.readiness_file)
        self.assertEqual(validations, '/run/nvidia/validations')
        host, mount = self.volume_at(self.bridge, validations)
        self.assertEqual(host['path'], validations)
        self.assertFalse(mount.get('readOnly', False))
        host, mount = self.volume_at(self.bridge, self.state_dir)
        self.assertEqual(host['path'], self.state_dir)
        self.assertFalse(mount.get('readOnly', False))
        # The device plugin: the kubelet's directory, where kubelet made it.
        self.assertEqual(self.device_plugin_dir, '/var/lib/kubelet/device-plugins')
        host, mount = self.volume_at(self.bridge, self.device_plugin_dir)
        self.assertEqual(host, {'path': self.device_plugin_dir, 'type': 'Directory'})
        self.assertFalse(mount.get('readOnly', False))
        self.assertEqual(sum('hostPath' in v for v in self.pod['volumes']), 4, 'no other host path')
        # The liveness file, in memory.
        empty, _ = self.volume_at(self.bridge, os.path.dirname(self.liveness_file), 'emptyDir')
        self.assertEqual(empty['medium'], 'Memory')
        # And the runtime-class file (test_runtime_class_file_mounted).
        self.assertEqual(len(self.pod['volumes']), 6, 'no other volume')

    def test_device_plugin_env(self):
        env = {e['name']: e for e in self.bridge['env']}
        # The sandbox device plugin's alias, empty: one resource per GPU
        # model, as nvidia-ccd's CDI kinds are by default.
        self.assertEqual(env['P_GPU_ALIAS']['value'], '')
        self.assertEqual(env['CC_MODE_STATE_FORMAT']['value'], 'success')
        self.assertEqual(c_define('src/common/device-names.h', 'RESOURCE_PGPU'), 'nvidia.com/pgpu')

    def test_probes(self):
        probe = self.bridge['readinessProbe']
        self.assertEqual(probe['exec']['command'], ['test', '-f', self.readiness_file])
        # The default liveness file and age of the bridge's own check.
        probe = self.bridge['livenessProbe']
        self.assertEqual(probe['exec']['command'], ['nvidia-cc-k8s-bridge', '--check-liveness'])
        self.assertGreaterEqual(probe['periodSeconds'] * probe['failureThreshold'], 60)

    def test_update_strategy(self):
        self.assertEqual(self.ds['spec']['updateStrategy'],
                         {'type': 'RollingUpdate', 'rollingUpdate': {'maxUnavailable': 1}})

    def test_security_context(self):
        psc = self.pod['securityContext']
        self.assertIs(psc['runAsNonRoot'], True)
        self.assertGreater(psc['runAsUser'], 0)
        self.assertGreater(psc['runAsGroup'], 0)
        self.assertFalse(self.pod.get('hostNetwork') or self.pod.get('hostPID') or self.pod.get('hostIPC'))
        for c in self.pod['containers'] + self.pod.get('initContainers', []):
            sc = c['securityContext']
            self.assertIs(sc['allowPrivilegeEscalation'], False, c['name'])
            self.assertIs(sc['readOnlyRootFilesystem'], True, c['name'])
            self.assertEqual(sc['capabilities'], {'drop': ['ALL']}, c['name'])
            self.assertFalse(sc.get('privileged', False), c['name'])
            self.assertIn('limits', c['resources'], c['name'])
            self.assertIn('requests', c['resources'], c['name'])
        # The bridge itself never runs as root, whatever the pod says.
        self.assertNotIn('runAsUser', self.bridge['securityContext'])
        self.assertNotIn('runAsNonRoot', self.bridge['securityContext'])

    def test_init_container_prepares_the_writable_dirs(self):
        init = self.pod['initContainers']
        self.assertEqual(len(init), 1)
        script = ' '.join(init[0]['command'])
        uid = self.pod['securityContext']['runAsUser']
        self.assertIn('setfacl -m u:%d:rwx' % uid, script)
        for d in (os.path.dirname(self.readiness_file), self.state_dir):
            self.assertIn(d, script)
            self.volume_at(init[0], d)
        # The device plugin directory: an entry for now and a default entry
        # for what kubelet creates later (its kubelet.sock after a restart),
        # and the kubelet.sock there now.
        self.volume_at(init[0], self.device_plugin_dir)
        self.assertIn('d=%s' % self.device_plugin_dir, script)
        self.assertIn('setfacl -m u:%d:rwx -m d:u:%d:rwx "$d"' % (uid, uid), script)
        self.assertIn('setfacl -m u:%d:rw "$d/kubelet.sock"' % uid, script)

    def test_one_uid_everywhere(self):
        psc = self.pod['securityContext']
        uid, gid = psc['runAsUser'], psc['runAsGroup']
        rule = read('polkit/50-nvidia-cc-k8s-bridge.rules.example')
        code = '\n'.join(line for line in rule.splitlines() if not line.lstrip().startswith('//'))
        self.assertEqual(re.findall(r'subject\.user == "(\d+)"', code), [str(uid)])
        self.assertEqual(re.findall(r'action\.id == "([^"]+)"', code), [SET_MODE, MANAGE_VFIO, MANAGE_ARTIFACTS],
                         'the rule grants set-mode, manage-vfio and manage-artifacts, nothing else')
        self.assertNotIn('isInGroup', code)
        m = re.search(r'^USER (\d+):(\d+)$', read('Containerfile'), re.M)
        self.assertIsNotNone(m, 'Containerfile: USER uid:gid')
        self.assertEqual((int(m.group(1)), int(m.group(2))), (uid, gid))
        # The host's user of that uid (dbus-daemon refuses a uid it cannot
        # resolve), whose name the rule names too.
        entries = [l.split() for l in read('systemd/nvidia-cc-k8s-bridge.sysusers').splitlines()
                   if l.strip() and not l.startswith('#')]
        self.assertEqual([(e[0], e[1], e[2]) for e in entries], [('u', 'nvidia-cc-k8s-bridge', str(uid))])
        self.assertIn('subject.user == "nvidia-cc-k8s-bridge"', code)
        self.assertEqual(int(c_define_int('src/bridge/bus-check.h', 'BRIDGE_DAEMONSET_UID')), uid)
        self.assertIn('--uid %d' % uid, read('src/bridge/bus-check.c'))

    def test_containerfile_libraries(self):
        text = read('Containerfile')
        build, runtime = text.split('# ---------------------------------------------------------------- runtime')
        for pkg in ('libprotobuf-c-dev', 'protobuf-c-compiler', 'libnghttp2-dev'):
            self.assertRegex(build, r'\b%s\b' % re.escape(pkg))
        for pkg in ('libprotobuf-c1', 'libnghttp2-14'):
            self.assertRegex(runtime, r'\b%s\b' % re.escape(pkg))

    def test_rule_installed_with_the_docs(self):
        self.assertIn("'50-nvidia-cc-k8s-bridge.rules.example'", read('polkit/meson.build'))

    def test_sysusers_installed(self):
        build = read('systemd/meson.build')
        self.assertIn("install_data('nvidia-cc-k8s-bridge.sysusers'", build)
        self.assertIn("rename : 'nvidia-cc-k8s-bridge.conf'", build)
        self.assertIn('install_dir : sysusersdir', build)

    # ------------------------------------------------------------ kubectl

    def test_kubectl_kustomize(self):
        kubectl = os.environ.get('KUBECTL') or shutil.which('kubectl')
        if not kubectl:
            self.skipTest('no kubectl')
        # Offline: no kubeconfig, no server; kustomize needs none.
        env = dict(os.environ, KUBECONFIG='/dev/null', HOME='/nonexistent')
        out = subprocess.run([kubectl, 'kustomize', os.path.join(SRC, 'deploy/kubernetes')],
                             env=env, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=60).stdout
        objs = [o for o in yaml.safe_load_all(out) if o]
        self.assertEqual(sorted(o['kind'] for o in objs), KINDS)
        ns = self.kustomization['namespace']
        for o in objs:
            if o['kind'] in ('DaemonSet', 'ServiceAccount', 'ConfigMap', 'Role', 'RoleBinding'):
                self.assertEqual(o['metadata']['namespace'], ns)
            if o['kind'] == 'RuntimeClass':
                self.assertNotIn('namespace', o['metadata'])
            if o['kind'] in ('ClusterRoleBinding', 'RoleBinding'):
                self.assertEqual(o['subjects'][0]['namespace'], ns)
            if o['kind'] == 'DaemonSet':
                images = {c['image'] for c in o['spec']['template']['spec']['containers']
                          + o['spec']['template']['spec']['initContainers']}
                image = self.kustomization['images'][0]
                self.assertEqual(images, {'%s:%s' % (image['newName'], image['newTag'])})


if __name__ == '__main__':
    SRC = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
