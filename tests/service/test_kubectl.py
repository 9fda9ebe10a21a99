#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# The proof of the kube-apiserver stand-in (kube_standin.py): the real
# kubectl, over TLS with a bearer token, must get, label, unlabel, list with
# selectors, watch and discover against it exactly as against a real server,
# and be refused the way a real server refuses.  The bridge's end-to-end
# tests are only as good as this stand-in.
#
# The kubectl is $KUBECTL, else the first on PATH.  Every case passes with
# the newest kubectl and with Debian 12's (kubernetes-client, 1.20), which
# asks the server differently (no aggregated discovery, validation against
# /openapi/v2 on the client); where their output differs by design, a case
# asserts what the version in use prints.  To run them against another:
#   KUBECTL=/path/to/kubectl meson test -C build service-kubectl-get_node ...
# or configure the build with -Dkubectl=/path/to/kubectl.

import json
import os
import re
import select
import ssl
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kube_standin  # noqa: E402

NODE = 'gpu-node-1'
TOKEN = 'standin-token-0123456789'
TIMEOUT = 60


def kubectl_path():
    return os.environ.get('KUBECTL') or shutil.which('kubectl')


def kubectl_minor(kubectl):
    '''The client's minor version: 20 for v1.20.2, 32 for "32+".'''
    r = subprocess.run([kubectl, 'version', '--client', '-o', 'json'], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=TIMEOUT, check=True)
    v = json.loads(r.stdout)['clientVersion']
    assert v['major'] == '1', v
    return int(re.match(r'\d+', v['minor']).group())


class KubectlTest(unittest.TestCase):
    AGGREGATED = True

    @classmethod
    def setUpClass(cls):
        cls.kubectl = kubectl_path()
        if not cls.kubectl:
            raise unittest.SkipTest('kubectl is not installed')
        cls.minor = kubectl_minor(cls.kubectl)
        cls.pki = tempfile.mkdtemp(prefix='kube-standin-pki-')
        kube_standin.make_pki(cls.pki, client_cn='admin', client_org='system:masters')

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='kube-standin-test-')
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.api = kube_standin.KubeStandin(tls_dir=self.pki, tokens=[TOKEN],
                                            aggregated_discovery=self.AGGREGATED)
        self.api.add_node(NODE, {'nvidia.com/cc.mode': 'on', 'node-role.kubernetes.io/worker': ''})
        self.api.start()
        self.addCleanup(self.api.stop)
        self.kubeconfig = kube_standin.write_kubeconfig(
            os.path.join(self.tmp, 'kubeconfig'), self.api.url,
            ca_file=os.path.join(self.pki, 'ca.crt'), token=TOKEN)

    def run_kubectl(self, *args, kubeconfig=None, check=True):
        env = dict(os.environ)
        env['HOME'] = self.tmp     # the discovery cache goes there
        env.pop('KUBECONFIG', None)
        cmd = [self.kubectl, '--kubeconfig', kubeconfig or self.kubeconfig] + list(args)
        r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=TIMEOUT)
        if check and r.returncode != 0:
            self.fail('%s: exit status %d\nstdout: %s\nstderr: %s'
                      % (' '.join(cmd), r.returncode, r.stdout, r.stderr))
        return r

    def table(self, text):
        '''kubectl's column output as a header list and rows of cells.'''
        lines = [l for l in text.splitlines() if l.strip()]
        return lines[0].split(), [re.split(r'\s{2,}|\s(?=\S)', l.strip()) for l in lines[1:]]

    def line_reader(self, proc):
        '''A function returning kubectl's next output line, with a deadline.'''
        buf = [b'']

        def read_line():
            # os.read, not the pipe's buffered reader: select() must see
            # whatever has not been consumed yet.
            deadline = time.monotonic() + TIMEOUT
            while b'\n' not in buf[0]:
                left = deadline - time.monotonic()
                self.assertGreater(left, 0, 'kubectl printed no line')
                r, _, _ = select.select([proc.stdout], [], [], left)
                if r:
                    chunk = os.read(proc.stdout.fileno(), 4096)
                    if not chunk:
                        self.fail('kubectl exited: %s' % proc.stderr.read().decode(errors='replace'))
                    buf[0] += chunk
            line, buf[0] = buf[0].split(b'\n', 1)
            return line.decode().rstrip()
        return read_line

    # -- get

    def test_get_node(self):
        r = self.run_kubectl('get', 'node')
        header, rows = self.table(r.stdout)
        self.assertEqual(header, ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION'])
        self.assertEqual(len(rows), 1, r.stdout)
        name, status, roles, age, version = r.stdout.splitlines()[1].split()
        self.assertEqual((name, status, roles, version), (NODE, 'Ready', 'worker', 'v1.32.4'))
        self.assertRegex(age, r'^\d+s$')
        self.assertEqual(r.stderr, '')
        # kubectl asked for server-side printing, and got it.
        lists = self.api.requests_matching('GET', '/api/v1/nodes')
        self.assertEqual(len(lists), 1)
        self.assertIn('as=Table', lists[0]['headers']['accept'])
        self.assertEqual(lists[0]['status'], 200)
        self.assertEqual(lists[0]['user'], 'system:serviceaccount:nvidia-cc-k8s-bridge:nvidia-cc-k8s-bridge')

    def test_get_node_by_name_wide(self):
        r = self.run_kubectl('get', 'node', NODE, '-o', 'wide')
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION', 'INTERNAL-IP',
                                            'EXTERNAL-IP', 'OS-IMAGE', 'KERNEL-VERSION', 'CONTAINER-RUNTIME'])
        self.assertIn('Debian GNU/Linux 12 (bookworm)', lines[1])
        self.assertIn('10.0.0.11', lines[1])
        self.assertIn('containerd://1.7.24', lines[1])

    def test_get_node_json(self):
        r = self.run_kubectl('get', 'node', NODE, '-o', 'json')
        node = json.loads(r.stdout)
        stored = self.api.node(NODE)
        self.assertEqual((node['kind'], node['apiVersion']), ('Node', 'v1'))
        self.assertEqual(node['metadata']['labels'], stored['metadata']['labels'])
        self.assertEqual(node['metadata']['labels']['nvidia.com/cc.mode'], 'on')
        self.assertEqual(node['metadata']['resourceVersion'], stored['metadata']['resourceVersion'])
        self.assertEqual(node['metadata']['uid'], stored['metadata']['uid'])
        # A plain object was asked for, not a Table.
        gets = self.api.requests_matching('GET', '/api/v1/nodes/' + NODE)
        self.assertEqual(gets[-1]['headers']['accept'], 'application/json')

    def test_get_missing_node(self):
        r = self.run_kubectl('get', 'node', 'no-such-node', check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn('Error from server (NotFound): nodes "no-such-node" not found', r.stderr)

    # -- label

    def test_label_overwrite(self):
        before = int(self.api.node(NODE)['metadata']['resourceVersion'])
        r = self.run_kubectl('label', 'node', NODE, 'nvidia.com/cc.mode=off', '--overwrite')
        self.assertEqual(r.stdout.strip(), 'node/%s labeled' % NODE)
        node = self.api.node(NODE)
        self.assertEqual(node['metadata']['labels']['nvidia.com/cc.mode'], 'off')
        self.assertGreater(int(node['metadata']['resourceVersion']), before)
        patch = self.api.requests_matching('PATCH', '/api/v1/nodes/' + NODE)
        self.assertEqual(len(patch), 1)
        self.assertEqual(patch[0]['headers']['content-type'], 'application/merge-patch+json')
        self.assertEqual(json.loads(patch[0]['body']), {'metadata': {'labels': {'nvidia.com/cc.mode': 'off'}}})
        self.assertEqual(patch[0]['query'].get('fieldManager'), 'kubectl-label')
        # What kubectl now reads back agrees.
        r = self.run_kubectl('get', 'node', NODE, '-o', 'jsonpath={.metadata.labels.nvidia\\.com/cc\\.mode}')
        self.assertEqual(r.stdout, 'off')

    def test_label_without_overwrite_refused(self):
        r = self.run_kubectl('label', 'node', NODE, 'nvidia.com/cc.mode=off', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("'nvidia.com/cc.mode' already has a value (on), and --overwrite is false", r.stderr)
        self.assertEqual(self.api.labels(NODE)['nvidia.com/cc.mode'], 'on')
        self.assertEqual(self.api.requests_matching('PATCH'), [])

    def test_label_remove(self):
        before = self.api.labels(NODE)
        r = self.run_kubectl('label', 'node', NODE, 'nvidia.com/cc.mode-')
        # Before 1.23 kubectl said "labeled" for a removal too.
        self.assertEqual(r.stdout.strip(), 'node/%s %s' % (NODE, 'unlabeled' if self.minor >= 23 else 'labeled'))
        after = self.api.labels(NODE)
        self.assertNotIn('nvidia.com/cc.mode', after)
        del before['nvidia.com/cc.mode']
        self.assertEqual(after, before)
        patch = self.api.requests_matching('PATCH', '/api/v1/nodes/' + NODE)
        self.assertEqual(json.loads(patch[0]['body']), {'metadata': {'labels': {'nvidia.com/cc.mode': None}}})

    def test_label_invalid_value(self):
        r = self.run_kubectl('label', 'node', NODE, 'nvidia.com/cc.mode=-bad-', '--overwrite', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('invalid label value', r.stderr)
        self.assertEqual(self.api.labels(NODE)['nvidia.com/cc.mode'], 'on')

    def test_label_invalid_value_server_side(self):
        # kubectl checks values itself; a raw patch reaches the server's check.
        path = '/api/v1/nodes/%s' % NODE
        with open(os.path.join(self.tmp, 'patch.json'), 'w') as f:
            json.dump({'metadata': {'labels': {'nvidia.com/cc.mode': 'not valid!'}}}, f)
        r = self.run_kubectl('patch', 'node', NODE, '--type', 'merge', '--patch-file',
                             os.path.join(self.tmp, 'patch.json'), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('Invalid value: "not valid!"', r.stderr)
        self.assertEqual(self.api.labels(NODE)['nvidia.com/cc.mode'], 'on')
        self.assertEqual(self.api.requests_matching('PATCH', path)[0]['status'], 422)

    def test_strategic_merge_patch(self):
        r = self.run_kubectl('patch', 'node', NODE, '-p',
                             '{"metadata":{"labels":{"nvidia.com/cc.mode":null,"a":"b"}},'
                             '"spec":{"taints":[{"key":"k","value":"v","effect":"NoSchedule"}]}}')
        self.assertEqual(r.stdout.strip(), 'node/%s patched' % NODE)
        node = self.api.node(NODE)
        self.assertNotIn('nvidia.com/cc.mode', node['metadata']['labels'])
        self.assertEqual(node['metadata']['labels']['a'], 'b')
        self.assertEqual(node['spec']['taints'], [{'key': 'k', 'value': 'v', 'effect': 'NoSchedule'}])
        patch = self.api.requests_matching('PATCH')[0]
        self.assertEqual(patch['headers']['content-type'], 'application/strategic-merge-patch+json')
        # The same patch again changes nothing: no new version.
        rv = node['metadata']['resourceVersion']
        self.run_kubectl('patch', 'node', NODE, '-p', '{"metadata":{"labels":{"a":"b"}}}')
        self.assertEqual(self.api.node(NODE)['metadata']['resourceVersion'], rv)

    # -- selectors, pods, watch

    def test_selectors(self):
        self.api.add_pod('gpu-operator', 'vfio-1', NODE, {'app': 'nvidia-vfio-manager'})
        self.api.add_pod('gpu-operator', 'vfio-2', 'other-node', {'app': 'nvidia-vfio-manager'})
        self.api.add_pod('default', 'web', NODE, {'app': 'web'})
        r = self.run_kubectl('get', 'pods', '-A', '--field-selector', 'spec.nodeName=' + NODE,
                             '-l', 'app in (nvidia-vfio-manager,nvidia-vgpu-manager)', '-o', 'name')
        self.assertEqual(r.stdout.split(), ['pod/vfio-1'])
        r = self.run_kubectl('get', 'pods', '-n', 'gpu-operator')
        header, rows = self.table(r.stdout)
        self.assertEqual(header, ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'])
        self.assertEqual([row[0] for row in rows], ['vfio-1', 'vfio-2'])
        self.assertEqual(r.stdout.splitlines()[1].split()[1:4], ['1/1', 'Running', '0'])
        r = self.run_kubectl('get', 'nodes', '-l', 'nvidia.com/cc.mode=off', check=False)
        self.assertEqual(r.stdout, '')
        self.assertIn('No resources found', r.stderr)
        r = self.run_kubectl('get', 'pods', '--field-selector', 'spec.bogus=1', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('field label not supported: spec.bogus', r.stderr)

    def test_create_and_delete_pod(self):
        manifest = os.path.join(self.tmp, 'pod.json')
        with open(manifest, 'w') as f:
            json.dump(dict(kube_standin.default_pod('sandbox', NODE, {'app': 'nvidia-sandbox-validator'}),
                           apiVersion='v1', kind='Pod'), f)
        r = self.run_kubectl('create', '-n', 'gpu-operator', '-f', manifest)
        self.assertEqual(r.stdout.strip(), 'pod/sandbox created')
        self.assertEqual([p['metadata']['name'] for p in self.api.pods('gpu-operator')], ['sandbox'])
        # The object was validated: by the server, when kubectl found
        # fieldValidation in the OpenAPI document, or else by kubectl
        # against the definitions of /openapi/v2 before it sent it.
        post = self.api.requests_matching('POST', '/api/v1/namespaces/gpu-operator/pods')
        self.assertEqual(len(post), 1)
        if 'fieldValidation' in post[0]['query']:
            self.assertEqual(post[0]['query']['fieldValidation'], 'Strict')
        else:
            v2 = self.api.requests_matching('GET', '/openapi/v2')
            self.assertEqual([q['status'] for q in v2], [200])
            self.assertIn('application/com.github.proto-openapi.spec.v2', v2[0]['headers']['accept'])
            self.assertLess(v2[0]['time'], post[0]['time'])
        r = self.run_kubectl('delete', 'pod', '-n', 'gpu-operator', 'sandbox', '--wait=false')
        self.assertEqual(r.stdout.strip(), 'pod "sandbox" deleted')
        self.assertEqual(self.api.pods('gpu-operator'), [])

    def test_create_unknown_field(self):
        manifest = os.path.join(self.tmp, 'pod.json')
        pod = dict(kube_standin.default_pod('sandbox', NODE), apiVersion='v1', kind='Pod', bogus=1)
        pod['metadata']['bogus2'] = 'x'
        with open(manifest, 'w') as f:
            json.dump(pod, f)
        # Refused whole: by the server (fieldValidation=Strict) or by kubectl
        # against /openapi/v2, each naming the fields.
        r = self.run_kubectl('create', '-n', 'gpu-operator', '-f', manifest, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn('unknown field "bogus"', r.stderr)
        self.assertIn('bogus2', r.stderr)
        self.assertEqual(self.api.pods('gpu-operator'), [])
        self.assertTrue(all(q['status'] == 400 for q in self.api.requests_matching('POST')))
        # Without validation it is created, less the fields its kind has not.
        r = self.run_kubectl('create', '--validate=false', '-n', 'gpu-operator', '-f', manifest)
        self.assertEqual(r.stdout.strip(), 'pod/sandbox created')
        post = self.api.requests_matching('POST')[-1]
        if 'fieldValidation' in post['query']:
            self.assertEqual(post['query']['fieldValidation'], 'Ignore')
        else:
            # The server's default is to warn.
            self.assertIn('Warning: unknown field "bogus"', r.stderr)
        created = self.api.pods('gpu-operator')
        self.assertEqual(len(created), 1)
        self.assertNotIn('bogus', created[0])
        self.assertNotIn('bogus2', created[0]['metadata'])
        self.assertEqual(created[0]['spec'], pod['spec'])

    # -- events

    def node_event(self, name, **fields):
        # The kubelet's convention for its Node's events: the name as the uid.
        ev = {'apiVersion': 'v1', 'kind': 'Event', 'metadata': {'name': name, 'namespace': 'default'},
              'involvedObject': {'apiVersion': 'v1', 'kind': 'Node', 'name': NODE, 'uid': NODE},
              'type': 'Warning', 'reason': 'CCModeFailed', 'message': 'Mode on not applied: a reason',
              'source': {'component': 'nvidia-cc-k8s-bridge', 'host': NODE},
              'firstTimestamp': kube_standin.now_rfc3339(), 'lastTimestamp': kube_standin.now_rfc3339(),
              'count': 1}
        ev.update(fields)
        path = os.path.join(self.tmp, name + '.json')
        with open(path, 'w') as f:
            json.dump(ev, f)
        return path

    def test_event_describe_node(self):
        r = self.run_kubectl('create', '-f', self.node_event('gpu-node-1.17f0a1b2c3d4e5f6'))
        self.assertEqual(r.stdout.strip(), 'event/gpu-node-1.17f0a1b2c3d4e5f6 created')
        # Repeats counted as client-go does: a merge patch of count and lastTimestamp.
        self.run_kubectl('patch', 'event', '-n', 'default', 'gpu-node-1.17f0a1b2c3d4e5f6', '--type', 'merge',
                         '-p', '{"count": 3, "lastTimestamp": "%s"}' % kube_standin.now_rfc3339())
        out = self.run_kubectl('describe', 'node', NODE).stdout
        events = out.split('\nEvents:', 1)[1].splitlines()
        self.assertEqual(events[1].split(), ['Type', 'Reason', 'Age', 'From', 'Message'])
        row = re.split(r'\s{2,}', events[3].strip())
        self.assertEqual(row[0:2], ['Warning', 'CCModeFailed'])
        self.assertRegex(row[2], r'^\d+s \(x3 over \d+s\)$')
        self.assertEqual(row[3:], ['nvidia-cc-k8s-bridge', 'Mode on not applied: a reason'])
        # kubectl looked for the node's events.
        lists = self.api.requests_matching('GET', '/api/v1/events')
        self.assertTrue(lists)
        self.assertIn('involvedObject.kind=Node', lists[0]['query']['fieldSelector'])
        r = self.run_kubectl('get', 'events', '-A')
        header, rows = self.table(r.stdout)
        self.assertEqual(header, ['NAMESPACE', 'LAST', 'SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'])
        self.assertIn('node/' + NODE, r.stdout)

    def test_event_refused(self):
        # A Node's event lives in "default" (or nowhere): elsewhere its
        # involvedObject's empty namespace does not match.
        r = self.run_kubectl('create', '-f', self.node_event('e1', metadata={'name': 'e1',
                                                                            'namespace': 'kube-system'}),
                             check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn('The Event "e1" is invalid: involvedObject.namespace: Invalid value: "": '
                      'does not match event.namespace', r.stderr)
        # Fields of the wrong type: kubectl 1.20 finds them in /openapi/v2,
        # a newer one leaves them to the server, whose decoding fails.
        e2 = self.node_event('e2', count='three')
        posts = len(self.api.requests_matching('POST'))
        r = self.run_kubectl('create', '-f', e2, check=False)
        self.assertEqual(r.returncode, 1)
        if len(self.api.requests_matching('POST')) == posts:
            self.assertIn('invalid type for io.k8s.api.core.v1.Event.count: got "string", expected "integer"',
                          r.stderr)
            r = self.run_kubectl('create', '--validate=false', '-f', e2, check=False)
            self.assertEqual(r.returncode, 1)
        self.assertIn('cannot unmarshal string into Go struct field Event.count of type int32', r.stderr)
        r = self.run_kubectl('create', '-f', self.node_event('e3', lastTimestamp='yesterday'), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn('parsing time "yesterday"', r.stderr)
        # An event with an eventTime is a new-style one and needs its fields.
        r = self.run_kubectl('create', '-f', self.node_event('e4', eventTime='2026-01-01T00:00:00.000000Z'),
                             check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn('reportingController: Required value', r.stderr)
        self.assertIn('action: Required value', r.stderr)
        self.assertEqual(self.api.events(), [])

    def test_watch(self):
        env = dict(os.environ, HOME=self.tmp)
        proc = subprocess.Popen([self.kubectl, '--kubeconfig', self.kubeconfig, 'get', 'node', NODE,
                                 '--watch', '--output-watch-events', '-o',
                                 'jsonpath={.type} {.object.metadata.labels.nvidia\\.com/cc\\.mode}{"\\n"}'],
                                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)
        read_line = self.line_reader(proc)
        self.assertEqual(read_line(), 'ADDED on')
        self.api.wait_for(lambda: self.api.open_watches('nodes'), TIMEOUT, 'the watch of kubectl')
        self.api.set_labels(NODE, {'nvidia.com/cc.mode': 'devtools'})
        self.assertEqual(read_line(), 'MODIFIED devtools')
        self.api.set_labels(NODE, {'nvidia.com/cc.mode': None})
        self.assertEqual(read_line(), 'MODIFIED')
        watch = self.api.requests_matching('GET', '/api/v1/nodes', watch=True)
        self.assertEqual(watch[0]['query'].get('fieldSelector'), 'metadata.name=' + NODE)
        self.assertIn('resourceVersion', watch[0]['query'])

    def test_watch_table(self):
        # Without -o, kubectl asks for Tables in the watch too.
        env = dict(os.environ, HOME=self.tmp)
        proc = subprocess.Popen([self.kubectl, '--kubeconfig', self.kubeconfig, 'get', 'nodes', '--watch'],
                                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)
        read_line = self.line_reader(proc)
        self.assertEqual(read_line().split(), ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION'])
        self.assertEqual(read_line().split()[:3], [NODE, 'Ready', 'worker'])
        self.api.wait_for(lambda: self.api.open_watches('nodes'), TIMEOUT, 'the watch of kubectl')
        self.api.set_labels(NODE, {'node-role.kubernetes.io/gpu': ''})
        self.assertEqual(read_line().split()[:3], [NODE, 'Ready', 'gpu,worker'])
        watch = self.api.requests_matching('GET', '/api/v1/nodes', watch=True)
        self.assertIn('as=Table', watch[0]['headers']['accept'])

    # -- custom resources (the GPU Operator's ClusterPolicy)

    def test_custom_resource_lifecycle(self):
        patch = '{"spec": {"ccManager": {"defaultMode": "on"}}}'
        policy = 'clusterpolicies.nvidia.com/cluster-policy'
        # No CRD: kubectl finds no such resource; the paths are unknown.
        r = self.run_kubectl('patch', policy, '--type', 'merge', '-p', patch, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('the server doesn\'t have a resource type "clusterpolicies"', r.stderr)
        r = self.run_kubectl('get', '--raw', '/apis/nvidia.com/v1/clusterpolicies', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('NotFound', r.stderr)
        # The CRD installed, the object not there yet: 404 for it alone.
        self.api.install_crd('clusterpolicies')
        r = self.run_kubectl('api-resources', '--api-group=nvidia.com')
        rows = {l.split()[0]: l.split() for l in r.stdout.splitlines()[1:]}
        self.assertEqual(rows['clusterpolicies'], ['clusterpolicies', 'nvidia.com/v1', 'false', 'ClusterPolicy'])
        r = self.run_kubectl('patch', policy, '--type', 'merge', '-p', patch, check=False)
        self.assertIn('clusterpolicies.nvidia.com "cluster-policy" not found', r.stderr)
        self.api.create_custom_object('clusterpolicies', {'metadata': {'name': 'cluster-policy'},
                                                          'spec': {'ccManager': {'defaultMode': 'off'}}})
        # kubectl patch's default, a strategic merge patch, is refused for a
        # custom resource; a merge patch goes through, a new generation.
        r = self.run_kubectl('patch', policy, '-p', patch, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('accepted media types include: application/json-patch+json, '
                      'application/merge-patch+json, application/apply-patch+yaml', r.stderr)
        before = self.api.custom_object('clusterpolicies', 'cluster-policy')
        r = self.run_kubectl('patch', policy, '--type', 'merge', '-p', patch)
        self.assertEqual(r.stdout.strip(), 'clusterpolicy.nvidia.com/cluster-policy patched')
        after = json.loads(self.run_kubectl('get', policy, '-o', 'json').stdout)
        self.assertEqual(after['apiVersion'], 'nvidia.com/v1')
        self.assertEqual(after['kind'], 'ClusterPolicy')
        self.assertEqual(after['spec']['ccManager']['defaultMode'], 'on')
        self.assertEqual(after['metadata']['generation'], before['metadata']['generation'] + 1)
        # A watch sees the changes; deleting the CRD ends it all.
        proc = subprocess.Popen([self.kubectl, '--kubeconfig', self.kubeconfig, 'get', policy, '--watch',
                                 '--output-watch-events', '-o',
                                 'jsonpath={.type} {.object.spec.ccManager.defaultMode}{"\\n"}'],
                                env=dict(os.environ, HOME=self.tmp), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)
        read_line = self.line_reader(proc)
        self.assertEqual(read_line(), 'ADDED on')
        self.api.wait_for(lambda: self.api.open_watches('clusterpolicies'), TIMEOUT, 'the watch of kubectl')
        self.api.patch_custom_object('clusterpolicies', 'cluster-policy', {'spec': {'ccManager': {'defaultMode': 'devtools'}}})
        self.assertEqual(read_line(), 'MODIFIED devtools')
        self.api.uninstall_crd('clusterpolicies')
        self.assertEqual(read_line(), 'DELETED devtools')
        r = self.run_kubectl('get', '--raw', '/apis/nvidia.com/v1/clusterpolicies/cluster-policy', check=False)
        self.assertIn('NotFound', r.stderr)

    def test_config_map(self):
        manifest = os.path.join(self.tmp, 'cm.yaml')
        with open(manifest, 'w') as f:
            f.write('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nvidia-cc-k8s-bridge\n'
                    '  namespace: default\ndata:\n  defaultMode: "on"\n')
        r = self.run_kubectl('apply', '-f', manifest)
        self.assertEqual(r.stdout.strip(), 'configmap/nvidia-cc-k8s-bridge created')
        header, rows = self.table(self.run_kubectl('get', 'configmaps', '-n', 'default').stdout)
        self.assertEqual(header, ['NAME', 'DATA', 'AGE'])
        self.assertEqual(rows[0][:2], ['nvidia-cc-k8s-bridge', '1'])
        self.run_kubectl('patch', 'configmap', 'nvidia-cc-k8s-bridge', '-n', 'default', '-p',
                         '{"data": {"defaultMode": "off"}}')
        self.assertEqual(self.api.config_map('default', 'nvidia-cc-k8s-bridge')['data'], {'defaultMode': 'off'})
        r = self.run_kubectl('patch', 'configmap', 'nvidia-cc-k8s-bridge', '-n', 'default', '-p',
                             '{"data": {"bad key": "x"}}', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('a valid config key must consist of alphanumeric characters', r.stderr)
        self.assertEqual(self.api.config_map('default', 'nvidia-cc-k8s-bridge')['data'], {'defaultMode': 'off'})

    # -- discovery and version

    def test_api_resources(self):
        r = self.run_kubectl('api-resources', '--api-group=')
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ['NAME', 'SHORTNAMES', 'APIVERSION', 'NAMESPACED', 'KIND'])
        rows = {l.split()[0]: l.split() for l in lines[1:]}
        self.assertEqual(rows['nodes'], ['nodes', 'no', 'v1', 'false', 'Node'])
        self.assertEqual(rows['pods'], ['pods', 'po', 'v1', 'true', 'Pod'])

    def test_version(self):
        r = self.run_kubectl('version', '-o', 'json')
        v = json.loads(r.stdout)
        self.assertEqual(v['serverVersion']['gitVersion'], 'v1.32.4')
        self.assertIn('clientVersion', v)

    # -- refusals

    def test_bad_token(self):
        bad = kube_standin.write_kubeconfig(os.path.join(self.tmp, 'bad'), self.api.url,
                                            ca_file=os.path.join(self.pki, 'ca.crt'), token='wrong')
        r = self.run_kubectl('get', 'node', kubeconfig=bad, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn('You must be logged in to the server', r.stderr)
        self.assertTrue(all(q['status'] == 401 for q in self.api.requests_matching()))

    def test_token_rotation(self):
        self.api.set_tokens(['rotated'])
        r = self.run_kubectl('get', 'node', check=False)
        self.assertIn('You must be logged in to the server', r.stderr)
        new = kube_standin.write_kubeconfig(os.path.join(self.tmp, 'new'), self.api.url,
                                            ca_file=os.path.join(self.pki, 'ca.crt'), token='rotated')
        self.assertIn(NODE, self.run_kubectl('get', 'node', kubeconfig=new).stdout)

    def test_anonymous_forbidden(self):
        # kubectl prompts for a password when the kubeconfig has no
        # credentials, so the anonymous client is urllib.
        ctx = ssl.create_default_context(cafile=os.path.join(self.pki, 'ca.crt'))
        with urllib.request.urlopen(self.api.url + '/version', context=ctx, timeout=TIMEOUT) as r:
            self.assertEqual(json.loads(r.read())['gitVersion'], 'v1.32.4')
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(self.api.url + '/api/v1/nodes/' + NODE, context=ctx, timeout=TIMEOUT)
        self.assertEqual(cm.exception.code, 403)
        status = json.loads(cm.exception.read())
        self.assertEqual((status['kind'], status['reason'], status['code']), ('Status', 'Forbidden', 403))
        self.assertIn('User "system:anonymous" cannot get resource "nodes"', status['message'])

    def test_client_certificate(self):
        kc = kube_standin.write_kubeconfig(os.path.join(self.tmp, 'cert'), self.api.url,
                                           ca_file=os.path.join(self.pki, 'ca.crt'),
                                           client_cert=os.path.join(self.pki, 'client.crt'),
                                           client_key=os.path.join(self.pki, 'client.key'))
        r = self.run_kubectl('get', 'node', NODE, '-o', 'name', kubeconfig=kc)
        self.assertEqual(r.stdout.strip(), 'node/' + NODE)
        self.assertEqual(self.api.requests_matching('GET', '/api/v1/nodes/' + NODE)[0]['user'], 'admin')

    def test_untrusted_server(self):
        kc = kube_standin.write_kubeconfig(os.path.join(self.tmp, 'noca'), self.api.url, token=TOKEN)
        r = self.run_kubectl('get', 'node', kubeconfig=kc, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn('certificate signed by unknown authority', r.stderr)
        self.assertEqual(self.api.requests_matching(), [])


class KubectlLegacyDiscoveryTest(KubectlTest):
    '''The same against a server without aggregated discovery: kubectl
    then reads /api, /apis and /api/v1.'''
    AGGREGATED = False

    def test_discovery_documents(self):
        self.run_kubectl('get', 'node')
        paths = [r['path'] for r in self.api.requests_matching('GET')]
        self.assertIn('/api/v1', paths)
        self.assertLess(paths.index('/api/v1'), paths.index('/api/v1/nodes'))


if __name__ == '__main__':
    unittest.main(verbosity=2)
