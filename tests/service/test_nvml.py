#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# Where the daemon reads the CC mode: through NVML (the stand-in library of
# tests/fakenvml) for a GPU bound to nvidia, through BAR0 (the simulator)
# otherwise, each answer logged with its source; and NVML is initialised
# only for the length of a scan.

import os
import re

import harness
from harness import GPU_IFACE, MANAGER_IFACE, MANAGER_PATH, SET_MODE_ACTION, gpu_path

VFIO_ACTION = 'org.nvidia.ConfidentialCompute.manage-vfio'
GPU0, GPU1 = '0000:18:00.0', '0000:2a:00.0'


class NvmlTest(harness.ServiceTestCase):

    AUTO_START = False

    def setUp(self):
        super().setUp()
        self.fake_nvml = harness.env_path('FAKE_NVML_LIBRARY')
        self.nvml_state = os.path.join(self.tmp, 'fake-nvml.state')
        self.nvml_log = os.path.join(self.tmp, 'fake-nvml.log')
        # Every simulated BAR0 says on, so an "off" can only come from NVML.
        self.make_host(['--gpus', '2', '--boot-ms', '50', '--mode', 'on'])

    def set_nvml(self, **values):
        with open(self.nvml_state, 'w') as f:
            for key, value in values.items():
                f.write('%s=%s\n' % (key, value))
            f.write('log=%s\n' % self.nvml_log)

    def nvml_calls(self):
        try:
            with open(self.nvml_log) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def start(self):
        return self.start_daemon(extra_args=['--debug'], extra_env={
            'NVIDIA_CCD_NVML_LIBRARY': self.fake_nvml, 'FAKE_NVML_STATE': self.nvml_state})

    def log_text(self):
        with open(self.daemon_log, errors='replace') as f:
            return f.read()

    def mode_lines(self, bdf):
        '''The mode events logged for bdf (console: message, then fields).'''
        return [line for line in self.log_text().splitlines()
                if 'CC_GPU=%s ' % bdf in line and 'CC_MODE_SOURCE=' in line]

    def assert_session_ended(self):
        calls = self.nvml_calls()
        self.assertEqual(calls.count('init'), calls.count('shutdown'), calls)

    def test_mode_from_nvml_and_bar0(self):
        # NVML knows the first GPU only, as when the driver cannot open the
        # second (CC on): that one falls back to BAR0.
        self.set_nvml(devices=GPU0, environment=0, cc_feature=0, devtools=0, gpus_caps=1, multi_gpu=0)
        self.start()
        self.assertEqual(self.gpu(GPU0)['CcMode'], 'off')
        self.assertEqual(self.gpu(GPU0)['PpcieMode'], 'off')
        self.assertEqual(self.gpu(GPU1)['CcMode'], 'on')
        self.assertEqual(self.manager()['Mode'], 'mixed')

        self.assertEqual(len(self.mode_lines(GPU0)), 1, self.log_text())
        line = self.mode_lines(GPU0)[0]
        self.assertIn('%s: CC mode off, PPCIe off, read through NVML' % GPU0, line)
        self.assertIn('CC_MODE=off', line)
        self.assertIn('CC_MODE_SOURCE=nvml', line)
        line = self.mode_lines(GPU1)[0]
        self.assertIn('read through BAR0', line)
        self.assertIn('CC_MODE_SOURCE=bar0', line)
        # The debug lines: NVML's raw answer, and why GPU1 went to BAR0.
        text = self.log_text()
        self.assertRegex(text, r'%s: NVML \(%s\): environment 0, ccFeature 0, devToolsMode 0, '
                               r'multiGpuMode 0, gpusCaps 1' % (re.escape(GPU0), re.escape(self.fake_nvml)))
        self.assertIn('%s: NVML cannot tell the CC mode (NVML does not know %s), reading BAR0' % (GPU1, GPU1),
                      text)
        # One session, over before the daemon was ready.
        calls = self.nvml_calls()
        self.assertEqual(calls.count('init'), 1, calls)
        self.assert_session_ended()

        # On vfio-pci the GPU is read through BAR0: after a bind and a
        # rescan it reads the simulator's "on", and NVML is not asked.
        self.polkit_set_allowed([VFIO_ACTION, SET_MODE_ACTION])
        self.call(MANAGER_PATH, MANAGER_IFACE, 'BindVfio', 'as', ([GPU0],))
        start = len(self.signals)
        self.call(MANAGER_PATH, MANAGER_IFACE, 'Rescan')
        self.sync_daemon()
        self.assertEqual(self.gpu(GPU0)['Driver'], 'vfio-pci')
        self.assertEqual(self.gpu(GPU0)['CcMode'], 'on')
        self.assertIn('on', self.prop_changes(gpu_path(GPU0), GPU_IFACE, 'CcMode', start))
        self.assertIn('CC_MODE_SOURCE=bar0', self.mode_lines(GPU0)[-1])
        calls = self.nvml_calls()
        self.assertEqual(calls.count('handle %s' % GPU0), 1, calls)
        self.assertEqual(calls.count('init'), 2, calls)
        self.assert_session_ended()

    def test_nvml_unavailable(self):
        # nvmlInit_v2 fails (the driver not loaded): BAR0 answers for all,
        # and the reason is in the debug log.
        self.set_nvml(init=9, devices=','.join((GPU0, GPU1)))
        self.start()
        self.assertEqual(self.gpu(GPU0)['CcMode'], 'on')
        self.assertEqual(self.gpu(GPU1)['CcMode'], 'on')
        for bdf in (GPU0, GPU1):
            self.assertIn('CC_MODE_SOURCE=bar0', self.mode_lines(bdf)[0])
        self.assertIn('NVML not used: nvmlInit_v2 failed: Driver Not Loaded (9)', self.log_text())
        # Tried once per scan, not once per GPU; no shutdown without init.
        self.assertEqual(self.nvml_calls(), ['init'])


if __name__ == '__main__':
    harness.main()
