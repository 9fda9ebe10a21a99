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


class TodayProfileStateTest(BridgeTestCase):
    MODE_STATE_FORMAT = 'mode'

    def test_mode_written(self):
        self.start_bridge(['--default-mode', 'off'])
        self.wait_state('off', 'false')
        self.kubectl_label(MODE + '=on')
        self.wait_state('on', 'true')
        self.kubectl_label(MODE + '=sideways')
        self.wait_state('failed', '')


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
