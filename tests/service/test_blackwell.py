#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# Blackwell hosts: an HGX B200 (8 x 0x2901) and an RTX PRO 6000 Blackwell
# Server Edition host (0x2bb5, GB202) switched over the simulated MNOC
# mailbox with the CCM/CCD knob set; ppcie refused; a consumer RTX 5090 and
# an unknown Blackwell id present but not CC-capable; and every injected
# Blackwell fault giving a named error and ModeState "failed".

import harness
from harness import ERROR, MANAGER_IFACE, MANAGER_PATH, gpu_path

# knob ids of docs/hardware.md
CCD, CCM, BAR0_FIREWALL = 6, 8, 10

B200_HOST = ['--gpus', '0', '--blackwell', '8', '--boot-ms', '50', '--tee', 'tdx']
RTX_PRO_HOST = ['--gpus', '0', '--blackwell', '2', '--blackwell-id', '0x2bb5', '--boot-ms', '50', '--tee', 'tdx']
SMALL_B200_HOST = ['--gpus', '0', '--blackwell', '2', '--boot-ms', '50', '--tee', 'tdx']


class BlackwellTest(harness.ServiceTestCase):
    HOST_ARGS = B200_HOST

    def assert_switched(self, mode, gpus, before):
        '''before: {bdf: active knobs before the switch}.'''
        manager = self.manager()
        self.assertEqual((manager['Mode'], manager['ModeState'], manager['LastError']), (mode, 'idle', ''))
        for bdf in gpus:
            props = self.gpu(bdf)
            self.assertEqual(props['CcMode'], mode, bdf)
            self.assertEqual(props['PpcieMode'], 'unknown', bdf)
            knobs = self.host.active_knobs(bdf)
            self.assertEqual((knobs.get(CCM), knobs.get(CCD)), (1 if mode == 'on' else 0, 0), bdf)
            # The Blackwell set is CCM and CCD (and 2 and 4, already 0): the
            # BAR0 firewall setting, PPCIe and knob 34 are never written.
            others = {k: v for k, v in knobs.items() if k not in (CCM, CCD)}
            self.assertEqual(others, {k: v for k, v in before[bdf].items() if k not in (CCM, CCD)}, bdf)
            self.assertEqual(knobs.get(BAR0_FIREWALL), 2, bdf)
            self.assertEqual(self.host.gpusim(bdf)['Knobs']['Pending'], '', bdf)
        self.assert_drivers(gpus)

    def test_set_mode_on_b200(self):
        gpus = self.host.gpus()
        self.assertEqual(len(gpus), 8)
        for bdf in gpus:
            props = self.gpu(bdf)
            self.assertEqual((props['DeviceId'], props['Architecture'], props['CcCapable'], props['PpcieCapable']),
                             (0x2901, 'blackwell', True, False), bdf)
            self.assertEqual((props['CcMode'], props['NvlinkEncryption'], props['Bar0Firewall']),
                             ('off', 'off', 'off'), bdf)
        self.assertIs(self.manager()['CcCapable'], True)

        before = {b: self.host.active_knobs(b) for b in gpus}
        start = len(self.signals)
        self.assertEqual(self.set_mode('on'), ())
        self.assert_switched('on', gpus, before)
        for bdf in gpus:
            # CC on with the BAR0 firewall setting on: 0x590 bit 2.
            self.assertEqual(self.gpu(bdf)['Bar0Firewall'], 'on', bdf)
            self.wait_until(lambda: 'on' in self.prop_changes(gpu_path(bdf), harness.GPU_IFACE, 'Bar0Firewall',
                                                               start), 10, '%s: Bar0Firewall changed' % bdf)
        self.assertEqual(self.set_mode('off'), ())
        self.assert_switched('off', gpus, before)
        self.assertEqual({self.gpu(b)['Bar0Firewall'] for b in gpus}, {'off'})

    def test_nvlink_encryption_reported(self):
        gpus = self.host.gpus()
        self.host.gpusim_set(gpus[3], 'Device', 'NvlinkEncryption', 'true')
        self.call(MANAGER_PATH, MANAGER_IFACE, 'Rescan', '', ())
        self.assertEqual(self.gpu(gpus[3])['NvlinkEncryption'], 'on')
        self.assertEqual(self.gpu(gpus[2])['NvlinkEncryption'], 'off')

    def test_set_mode_on_rtx_pro_6000(self):
        self.restart_on_host(RTX_PRO_HOST)
        gpus = self.host.gpus()
        self.assertEqual(len(gpus), 2)
        for bdf in gpus:
            props = self.gpu(bdf)
            self.assertEqual((props['DeviceId'], props['Architecture'], props['CcCapable']),
                             (0x2bb5, 'blackwell', True), bdf)
            # GB202: boot complete at 0xad00bc, the firewall in a VSEC.
            self.assertEqual(self.host.gpusim(bdf)['Device']['Chip'], 'gb202')
        before = {b: self.host.active_knobs(b) for b in gpus}
        self.set_mode('on')
        self.assert_switched('on', gpus, before)
        self.set_mode('devtools')
        for bdf in gpus:
            self.assertEqual(self.gpu(bdf)['CcMode'], 'devtools', bdf)
            self.assertEqual((self.host.active_knobs(bdf).get(CCM), self.host.active_knobs(bdf).get(CCD)), (1, 1))

    def test_ppcie_refused(self):
        gpu = self.host.gpus()[0]
        before = self.host.snapshot()
        for bdf in (None, gpu):
            msg = self.assert_dbus_error(ERROR + 'NotCapable', self.set_mode, 'ppcie', bdf=bdf)
            self.assertIn('NVLink encryption', msg)
            self.assertIn('use on', msg)
        self.assertEqual(self.host.snapshot(), before)
        manager = self.manager()
        # Refused before anything was touched: not a failed switch.
        self.assertEqual((manager['Mode'], manager['ModeState'], manager['LastError']), ('off', 'idle', ''))

    def test_consumer_and_unknown_not_capable(self):
        # Two B200s, an RTX 5090 (consumer GB202) and an id of the Blackwell
        # range no table knows.
        self.restart_on_host(SMALL_B200_HOST + ['--add-gpu', '0x2b85:0x030000', '--add-gpu', '0x2a10'])
        gpus = self.host.gpus()
        by_id = {self.host.device_id(b): b for b in gpus}
        rtx5090, unknown = by_id[0x2b85], by_id[0x2a10]
        b200s = [b for b in gpus if self.host.device_id(b) == 0x2901]
        self.assertEqual(len(b200s), 2)
        for bdf in (rtx5090, unknown):
            props = self.gpu(bdf)
            self.assertEqual((props['Architecture'], props['CcCapable'], props['CcMode']),
                             ('blackwell', False, 'unknown'), bdf)
        # Not every GPU is CC-capable, so the host is not.
        self.assertIs(self.manager()['CcCapable'], False)
        with open(self.daemon_log, errors='replace') as f:
            log = f.read()
        self.assertIn('%s: Blackwell device 0x2a10' % unknown, log)
        self.assertIn('CcCapableDeviceIds', log)

        before = self.host.snapshot()
        knobs = {b: self.host.active_knobs(b) for b in b200s}
        self.set_mode('on')
        self.assert_switched('on', b200s, knobs)
        after = self.host.snapshot()
        for bdf in (rtx5090, unknown):
            self.assertEqual(after['gpusim'][bdf], before['gpusim'][bdf], '%s was touched' % bdf)
            self.assertEqual(self.gpu(bdf)['CcMode'], 'unknown')
        msg = self.assert_dbus_error(ERROR + 'NotCapable', self.set_mode, 'on', bdf=rtx5090)
        self.assertIn(rtx5090, msg)

        # The configuration's list replaces the table.
        self.restart_on_host(SMALL_B200_HOST + ['--add-gpu', '0x2a10'],
                             '[Devices]\nCcCapableDeviceIds=0x2a10\n')
        by_id = {self.host.device_id(b): b for b in self.host.gpus()}
        self.assertIs(self.gpu(by_id[0x2a10])['CcCapable'], True)
        self.assertIs(self.gpu(by_id[0x2901])['CcCapable'], False)

    # -- injected faults: a named error, ModeState "failed", LastError

    def assert_fault(self, inject, error, expected, host=SMALL_B200_HOST):
        self.restart_on_host(host)
        gpus = self.host.gpus()
        bad = gpus[1]
        for key, value in inject:
            self.host.gpusim_set(bad, 'Inject', key, value)
        msg = self.assert_dbus_error(ERROR + error, self.set_mode, 'on')
        self.assertIn(bad, msg)
        self.assertIn(expected, msg)
        manager = self.manager()
        self.assertEqual(manager['ModeState'], 'failed')
        self.assertIn(expected, manager['LastError'])
        self.assertNotIn(gpus[0], manager['LastError'])
        self.assertEqual(self.host.driver(bad), 'nvidia', 'the failed GPU gets its driver back')
        return msg

    def test_fault_mailbox_error(self):
        msg = self.assert_fault([('MnocError', 'receive'), ('MnocErrorOn', 'write:8')],
                                'HardwareFailure', 'FSP mailbox error after the write of knob 8')
        self.assertRegex(msg, r'^[0-9a-f:.]+: FSP mailbox error after the write of knob 8 \(0x8f1f84 = ')

    def test_fault_mailbox_error_in_answer(self):
        self.assert_fault([('MnocError', 'send')], 'HardwareFailure', 'FSP mailbox error in the answer to')

    def test_fault_firewall_never_drops(self):
        self.assert_fault([('FirewallStuck', 'true')], 'Timeout', 'BAR firewall still up after 15 s')

    def test_fault_inband_denied(self):
        self.assert_fault([('InbandDenied', 'true')], 'NotCapable', 'can only be set out of band')

    def test_fault_recovery_mode(self):
        self.assert_fault([('RecoveryMode', 'true')], 'HardwareFailure', 'recovery mode')

    def test_fault_security_fault(self):
        self.assert_fault([('SecurityFault', 'true')], 'HardwareFailure', 'security fault')

    def test_fault_gb202_mailbox_timeout(self):
        # GB202 through the same mailbox: an FSP that takes no message.
        self.assert_fault([('FspTimeout', 'queue')], 'Timeout', 'FSP mailbox not ready after 5 s',
                          host=RTX_PRO_HOST)


if __name__ == '__main__':
    harness.main()
