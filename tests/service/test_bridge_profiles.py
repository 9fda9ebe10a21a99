#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# The bridge's two profiles: the default, as the GPU Operator's 2023
# "Confidential Containers and Kata" page shows it (nvidia.com/cc.mode.state
# success or failed), and today's Operator's (--mode-state-format=mode, the
# mode applied).  The real bridge, the real nvidia-ccd on a simulated host,
# the API-server stand-in; the label changed with the real kubectl.

import subprocess

import harness
from test_bridge import BridgeTestCase, MODE, MODE_STATE, NODE, READY_STATE


class PageProfileStateTest(BridgeTestCase):
    MODE_STATE_FORMAT = None

    def test_success_and_failed(self):
        self.start_bridge(['--default-mode', 'off'])
        self.wait_state('success', 'false')
        self.assert_gpus('off')
        self.kubectl_label(MODE + '=on')
        labels = self.wait_state('success', 'true')
        self.assertEqual(labels[MODE], 'on')
        self.assert_gpus('on')
        self.assertEqual(self.readiness_text(), 'on\n')
        self.kubectl_label(MODE + '=sideways')
        self.wait_state('failed', '')
        self.assert_gpus('on')

    def test_host_in_another_mode_is_failed(self):
        self.start_bridge(['--default-mode', 'on'])
        self.wait_state('success', 'true')
        r = self.run_ccctl(['set-mode', 'devtools'])
        self.assertEqual(r.returncode, 0, r.stderr)
        # The node asks for on and is in devtools: no success, whatever
        # the mode; ready.state still follows the mode.
        labels = self.wait_state('failed', '')
        self.assertNotIn(MODE, labels)

    def test_environment_gives_the_mode_format(self):
        self.start_bridge(['--default-mode', 'devtools'], env_extra={'CC_MODE_STATE_FORMAT': 'mode'})
        self.wait_state('devtools', '')
        self.assert_gpus('devtools')


# The real server's refusal of a strategic merge patch of a custom resource.
CR_PATCH_REFUSED = ('the body of the request was in an unknown format - accepted media types include: '
                    'application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml')
CLUSTER_POLICY = 'clusterpolicies.nvidia.com/cluster-policy'
CONFIG_MAP_NS = 'nvidia-cc-k8s-bridge'
CONFIG_MAP = 'nvidia-cc-k8s-bridge'


class ClusterDefaultTest(BridgeTestCase):
    '''The cluster-wide default: the ClusterPolicy's spec.ccManager.defaultMode
    where its CRD is installed, else the bridge's ConfigMap, else
    --default-mode; the node's label wins over each.'''
    MODE_STATE_FORMAT = None

    def install_cluster_policy(self, default_mode):
        self.api.install_crd('clusterpolicies')
        self.api.create_custom_object('clusterpolicies', {
            'metadata': {'name': 'cluster-policy'},
            'spec': {'ccManager': {'enabled': True, 'defaultMode': default_mode}}})

    def asked_modes(self):
        return [l.rsplit('mode', 1)[1].strip() for l in self.set_mode_calls()]

    def test_cluster_policy_default_followed_live(self):
        self.install_cluster_policy('off')
        # The ClusterPolicy wins over the bridge's own default, from the start.
        self.start_bridge(['--default-mode', 'devtools'])
        self.wait_state('success', 'false')
        self.assert_gpus('off')
        # The page's command, as the page has it: the real server refuses a
        # strategic merge patch of a custom resource.
        patch = '{"spec": {"ccManager": {"defaultMode": "on"}}}'
        r = self.kubectl('patch', CLUSTER_POLICY, '-p', patch, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(CR_PATCH_REFUSED, r.stderr)
        self.assertEqual(self.api.custom_object('clusterpolicies', 'cluster-policy')
                         ['spec']['ccManager']['defaultMode'], 'off')
        # As a merge patch it goes through, and the node follows, live.
        r = self.kubectl('patch', CLUSTER_POLICY, '--type', 'merge', '-p', patch)
        self.assertEqual(r.stdout.strip(), 'clusterpolicy.nvidia.com/cluster-policy patched')
        self.wait_state('success', 'true')
        self.assert_gpus('on')
        self.assertNotIn(MODE, self.api.labels(NODE))
        # The node's label wins over the cluster default.
        self.kubectl_label(MODE + '=devtools')
        self.wait_state('success', '')
        self.assert_gpus('devtools')
        self.kubectl('patch', CLUSTER_POLICY, '--type', 'merge', '-p',
                     '{"spec": {"ccManager": {"defaultMode": "off"}}}')
        self.kubectl('label', 'node', NODE, MODE + '-')
        self.wait_state('success', 'false')
        self.assert_gpus('off')
        # The host starts in off: no switch for it, and none to the
        # bridge's own default (devtools) before the ClusterPolicy was read.
        self.assertEqual(self.asked_modes(), ['on', 'devtools', 'off'])
        # Its watch is the one on cluster-policy alone.
        watches = self.api.requests_matching('GET', '/apis/nvidia.com/v1/clusterpolicies', watch=True)
        self.assertTrue(watches)
        self.assertEqual(watches[0]['query'].get('fieldSelector'), 'metadata.name=cluster-policy')
        # The ConfigMap is not looked at where the Operator is.
        self.assertFalse(self.api.requests_matching('GET', '/api/v1/namespaces/%s/configmaps' % CONFIG_MAP_NS))

    def test_cluster_policy_without_default_gives_default_mode(self):
        self.api.install_crd('clusterpolicies')
        self.api.create_custom_object('clusterpolicies', {'metadata': {'name': 'cluster-policy'},
                                                          'spec': {'ccManager': {'enabled': True}}})
        self.start_bridge(['--default-mode', 'devtools'])
        self.wait_state('success', '')
        self.assert_gpus('devtools')
        self.api.patch_custom_object('clusterpolicies', 'cluster-policy',
                                     {'spec': {'ccManager': {'defaultMode': 'on'}}})
        self.wait_state('success', 'true')
        self.assert_gpus('on')

    def apply_config_map(self, mode):
        manifest = ('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\n'
                    'data:\n  defaultMode: "%s"\n' % (CONFIG_MAP, CONFIG_MAP_NS, mode))
        path = self.tmp + '/configmap.yaml'
        with open(path, 'w') as f:
            f.write(manifest)
        return self.kubectl('apply', '-f', path).stdout

    def test_config_map_without_the_crd(self):
        self.api.add_namespace(CONFIG_MAP_NS)
        # No CRD: clusterpolicies.nvidia.com is unknown to the server.
        r = self.kubectl('get', 'clusterpolicies.nvidia.com', check=False)
        self.assertIn('the server doesn\'t have a resource type "clusterpolicies"', r.stderr)
        self.start_bridge(['--default-mode', 'off'])
        self.wait_state('success', 'false')
        self.assert_gpus('off')
        self.assertEqual(self.apply_config_map('on').strip(), 'configmap/%s created' % CONFIG_MAP)
        self.wait_state('success', 'true')
        self.assert_gpus('on')
        self.kubectl('patch', 'configmap', CONFIG_MAP, '-n', CONFIG_MAP_NS, '-p',
                     '{"data": {"defaultMode": "devtools"}}')
        self.wait_state('success', '')
        self.assert_gpus('devtools')
        # Without the ConfigMap, the bridge's own default again.
        self.kubectl('delete', 'configmap', CONFIG_MAP, '-n', CONFIG_MAP_NS)
        self.wait_state('success', 'false')
        self.assert_gpus('off')
        self.assertEqual(self.asked_modes(), ['on', 'devtools', 'off'])

    def test_refused_reads_give_default_mode(self):
        # A ClusterRole without the two rules (one from before them): both
        # reads refused, as RBAC refuses them; the bridge's own default,
        # not a wait for ever.
        forbidden = 'clusterpolicies.nvidia.com is forbidden: User "system:serviceaccount:x:y" cannot list'
        self.api.fail_next('GET', '/apis/nvidia.com/v1/clusterpolicies', 403, forbidden, count=1000)
        self.api.fail_next('GET', '/api/v1/namespaces/%s/configmaps' % CONFIG_MAP_NS, 403,
                           'configmaps is forbidden', count=1000)
        self.start_bridge(['--default-mode', 'devtools'])
        self.wait_state('success', '')
        self.assert_gpus('devtools')
        with open(self.bridge_log) as f:
            log = f.read()
        self.assertIn('may not list clusterpolicies.nvidia.com (HTTP 403', log)
        self.assertIn('may not list ConfigMap %s/%s (HTTP 403' % (CONFIG_MAP_NS, CONFIG_MAP), log)

    def test_config_map_elsewhere_and_bad_value(self):
        self.api.set_config_map('gpu-operator', 'cc-default', {'defaultMode': 'sideways'})
        self.start_bridge(['--cluster-default-config-map', 'gpu-operator/cc-default'])
        labels = self.wait_state('failed', '')
        self.assertNotIn(MODE, labels)
        self.assertEqual(self.set_mode_calls(), [])
        self.api.set_config_map('gpu-operator', 'cc-default', {'defaultMode': 'on'})
        self.wait_state('success', 'true')
        self.assert_gpus('on')


class TodayProfileStateTest(BridgeTestCase):
    MODE_STATE_FORMAT = 'mode'

    def test_mode_written(self):
        self.start_bridge(['--default-mode', 'off'])
        self.wait_state('off', 'false')
        self.kubectl_label(MODE + '=on')
        self.wait_state('on', 'true')
        self.kubectl_label(MODE + '=sideways')
        self.wait_state('failed', '')


GPU_PRESENT = 'nvidia.com/gpu.present'


class GpuPresentTest(BridgeTestCase):

    def test_present(self):
        self.assertNotIn(GPU_PRESENT, self.api.labels(NODE))
        self.start_bridge(['--default-mode', 'on'])
        self.wait_labels(lambda l: l.get(GPU_PRESENT) == 'true', GPU_PRESENT + '=true')
        # The page's selector finds the node, with the real kubectl.
        out = self.kubectl('get', 'nodes', '-l', GPU_PRESENT, '-o', 'name').stdout
        self.assertEqual(out.split(), ['node/' + NODE])


class NoGpuPresentTest(BridgeTestCase):
    HOST_ARGS = ['--gpus', '0', '--boot-ms', '0', '--tee', 'tdx']

    def test_absent(self):
        self.start_bridge()
        self.wait_labels(lambda l: l.get(GPU_PRESENT) == 'false', GPU_PRESENT + '=false')
        out = self.kubectl('get', 'nodes', '-l', GPU_PRESENT + '=true', '-o', 'name').stdout
        self.assertEqual(out.split(), [])


class ModeStateFormatArgumentTest(BridgeTestCase):

    def run_bridge(self, args, env_extra=None):
        env = self.client_env()
        env.pop('CC_MODE_STATE_FORMAT', None)
        env.update(env_extra or {})
        return subprocess.run([self.bridge_bin, '--kubeconfig', self.kubeconfig, '--node-name', NODE,
                               '--bus', self.bus_address, '--log-target', 'console', '--no-device-plugin',
                               '--readiness-file', self.readiness, '--state-dir', self.bridge_state,
                               '--liveness-file', self.liveness] + args,
                              env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=60)

    def test_bad_config_map_refused(self):
        for value in ('no-slash', '/name', 'ns/', 'a/b/c'):
            r = self.run_bridge(['--cluster-default-config-map', value])
            self.assertEqual(r.returncode, 1, value)
            self.assertIn('ConfigMap "%s" is not NAMESPACE/NAME' % value, r.stderr)
        self.assertNotIn(MODE_STATE, self.api.labels(NODE))

    def test_bad_format_refused(self):
        labels = self.api.labels(NODE)
        r = self.run_bridge(['--mode-state-format=modes'])
        self.assertEqual(r.returncode, 1)
        self.assertIn('mode state format "modes" is not success or mode', r.stderr)
        r = self.run_bridge([], env_extra={'CC_MODE_STATE_FORMAT': 'Success'})
        self.assertEqual(r.returncode, 1)
        self.assertIn('"Success" is not success or mode', r.stderr)
        # Nothing changed on the node.
        self.assertEqual(self.api.labels(NODE), labels)
        self.assertNotIn(MODE_STATE, labels)
        self.assertNotIn(READY_STATE, labels)


if __name__ == '__main__':
    harness.main()
