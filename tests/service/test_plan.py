#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# PlanSetMode and PlanBindVfio: per device, what SetMode and BindVfio would
# do, with the driver, the processes holding it and the reason, on the bus
# and through nvidia-ccctl --dry-run (table and JSON).  A plan changes
# nothing: the whole fake tree and the state directory are compared before
# and after.

import json

import harness
from harness import ACCESS_DENIED, ERROR, GPU_IFACE, MANAGER_IFACE, MANAGER_PATH, SET_MODE_ACTION

VFIO_ACTION = 'org.nvidia.ConfidentialCompute.manage-vfio'
# GPUs (class 03) get the variant driver, their audio functions vfio-pci.
GPU_ALIAS = 'vfio_pci:v000010DEd*sv*sd*bc03sc*i* nvgrace_gpu_vfio_pci'


class PlanTest(harness.ServiceTestCase):
    HOST_ARGS = ['--gpus', '4', '--audio', '--boot-ms', '50', '--tee', 'tdx', '--modules-alias', GPU_ALIAS]

    def plan_set_mode(self, mode):
        return self.call(MANAGER_PATH, MANAGER_IFACE, 'PlanSetMode', 's', (mode,))[0]

    def plan_bind(self, addresses=()):
        return self.call(MANAGER_PATH, MANAGER_IFACE, 'PlanBindVfio', 'as', (list(addresses),))[0]

    def unchanged(self, func, *args):
        '''Runs func; the tree, the state directory, the properties and the
        signals are as they were.  Returns what func returned.'''
        before = self.snapshot_all()
        before_props = (self.manager(), {b: self.gpu(b) for b in self.host.gpus()})
        self.sync_daemon()
        start = len(self.signals)
        result = func(*args)
        self.assertEqual(self.snapshot_all(), before, 'a plan changed the tree or the state directory')
        self.assertEqual((self.manager(), {b: self.gpu(b) for b in self.host.gpus()}), before_props)
        self.sync_daemon()
        self.assertEqual(self.signals_named('PropertiesChanged', start), [], 'a plan changed properties')
        return result

    def test_plan_set_mode(self):
        gpus = self.host.gpus()
        self.set_mode('on', gpus[3])
        self.host.hold_gpu(1234, 'nvidia-persistenced', gpus[1])
        self.host.hold_gpu(5678, 'python3', gpus[1])

        steps = self.unchanged(self.plan_set_mode, 'on')
        self.assertEqual([s['Device'] for s in steps], gpus)
        self.assertEqual([s['Action'] for s in steps], ['switch', 'refuse', 'switch', 'skip'])
        for s in steps:
            self.assertEqual(set(s), {'Device', 'Action', 'Driver', 'Holders', 'Reason'}, s)
            self.assertEqual(s['Driver'], 'nvidia')
        self.assertEqual(steps[0]['Holders'], [])
        self.assertEqual(steps[0]['Reason'], 'off now; unbind from nvidia, set on, reset, bind back to nvidia')
        self.assertEqual(steps[1]['Holders'], [(1234, 'nvidia-persistenced'), (5678, 'python3')])
        self.assertEqual(steps[1]['Reason'], 'in use by nvidia-persistenced (pid 1234) and python3 (pid 5678): '
                                             'nvidia cannot let go of it while they hold it open')
        self.assertEqual(steps[3]['Reason'], 'already on')
        # What the plan says is what SetMode does.
        msg = self.assert_dbus_error(ERROR + 'Busy', self.set_mode, 'on')
        self.assertIn('%s is in use by nvidia-persistenced (pid 1234) and python3 (pid 5678)' % gpus[1], msg)

        # Back to off: the held GPU is already off, so its holders do not matter.
        steps = self.unchanged(self.plan_set_mode, 'off')
        self.assertEqual([s['Action'] for s in steps], ['skip', 'skip', 'skip', 'switch'])
        self.assertEqual(steps[1]['Holders'], [])
        self.assertEqual(steps[3]['Reason'], 'on now; unbind from nvidia, set off, reset, bind back to nvidia')
        self.set_mode('off')
        self.assertEqual(self.manager()['Mode'], 'off')

        # The request is checked as SetMode checks it.
        self.assert_dbus_error(ERROR + 'InvalidArgument', self.plan_set_mode, 'ON')
        self.assert_dbus_error('org.freedesktop.DBus.Error.InvalidArgs', self.call, MANAGER_PATH, MANAGER_IFACE,
                               'PlanSetMode', 'u', (1,))

    def test_plan_bind_vfio(self):
        gpus = self.host.gpus()
        self.host.hold_gpu(5678, 'python3', gpus[0])
        steps = self.unchanged(self.plan_bind)
        self.assertEqual(len(steps), 8)
        for i, gpu in enumerate(gpus):
            group = self.host.iommu_group(gpu)
            audio = gpu[:-1] + '1'
            g, a = steps[2 * i], steps[2 * i + 1]
            self.assertEqual((g['Device'], a['Device']), (gpu, audio))
            for s in (g, a):
                self.assertEqual(set(s), {'Device', 'Action', 'Driver', 'Holders', 'Reason', 'Group', 'Members',
                                          'VfioDriver'}, s)
                self.assertEqual(s['Group'], group)
                self.assertEqual(s['Members'], [gpu, audio])
            self.assertEqual((g['Driver'], g['VfioDriver']), ('nvidia', 'nvgrace_gpu_vfio_pci'))
            self.assertEqual((a['Driver'], a['VfioDriver']), ('snd_hda_intel', 'vfio-pci'))
            self.assertEqual(a['Action'], 'bind')
            self.assertEqual(a['Reason'], 'in the group: unbind from snd_hda_intel, bind to vfio-pci (module vfio_pci)')
        self.assertEqual((steps[0]['Action'], steps[0]['Holders']), ('refuse', [(5678, 'python3')]))
        self.assertEqual((steps[2]['Action'], steps[2]['Holders']), ('bind', []))
        self.assertEqual(steps[2]['Reason'], 'unbind from nvidia, bind to nvgrace_gpu_vfio_pci (module nvgrace_gpu_vfio_pci)')
        self.assert_dbus_error(ERROR + 'Busy', self.call, MANAGER_PATH, MANAGER_IFACE, 'BindVfio', 'as', ([],))

        # A group already bound is skipped, with the driver it has.
        self.call(MANAGER_PATH, MANAGER_IFACE, 'BindVfio', 'as', ([gpus[2]],))
        steps = self.unchanged(self.plan_bind, [gpus[2]])
        self.assertEqual([(s['Device'], s['Action'], s['Driver'], s['VfioDriver']) for s in steps],
                         [(gpus[2], 'skip', 'nvgrace_gpu_vfio_pci', 'nvgrace_gpu_vfio_pci'),
                          (gpus[2][:-1] + '1', 'skip', 'vfio-pci', 'vfio-pci')])
        self.assertEqual(steps[0]['Reason'], 'already bound to nvgrace_gpu_vfio_pci')

        # The request is checked as BindVfio checks it.
        self.assert_dbus_error(ERROR + 'InvalidArgument', self.plan_bind, ['65:00.0'])
        self.assert_dbus_error(ERROR + 'NotFound', self.plan_bind, ['0000:99:00.0'])
        self.assert_dbus_error(ERROR + 'InvalidArgument', self.plan_bind, [gpus[1][:-1] + '1'])

    def gdbus_as_nobody(self, method, arg):
        return self.run_as_nobody(['gdbus', 'call', '--system', '--dest', harness.BUS_NAME,
                                   '--object-path', MANAGER_PATH, '--method', MANAGER_IFACE + '.' + method, arg])

    def test_plan_needs_the_operations_action(self):
        '''A plan names other users' processes: it takes the operation's
        polkit action, like the operation (root passes without polkit).'''
        self.polkit_set_allowed([VFIO_ACTION])
        r = self.gdbus_as_nobody('PlanSetMode', 'on')
        self.assertIn('GDBus.Error:' + ACCESS_DENIED, r.stderr)
        r = self.gdbus_as_nobody('PlanBindVfio', '[]')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count("'Device'"), 8)
        self.polkit_set_allowed([SET_MODE_ACTION])
        r = self.gdbus_as_nobody('PlanBindVfio', '[]')
        self.assertIn('GDBus.Error:' + ACCESS_DENIED, r.stderr)
        r = self.gdbus_as_nobody('PlanSetMode', 'on')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count("'Device'"), 4)

    def test_plan_while_busy(self):
        '''Plans run beside a switch, which is not disturbed.'''
        self.restart_on_host(['--gpus', '4', '--boot-ms', '1500', '--tee', 'tdx'])
        pending = self.set_mode_async('on')
        self.wait_manager('ModeState', 'switching', timeout=30)
        steps = self.plan_bind()
        self.assertEqual(len(steps), 4)
        self.assertFalse(pending['done'])
        self.wait_reply(pending)
        self.assertNotIn('error', pending)
        self.assertEqual(self.manager()['Mode'], 'on')

    def ccctl(self, *args):
        r = self.run_ccctl(list(args))
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_ctl_dry_run(self):
        gpus = self.host.gpus()
        self.host.hold_gpu(1234, 'nvidia-persistenced', gpus[1])

        text = self.unchanged(self.ccctl, 'set-mode', 'on', '--dry-run')
        lines = text.splitlines()
        self.assertEqual(lines[0].split(), ['DEVICE', 'ACTION', 'DRIVER', 'HOLDERS', 'REASON'])
        self.assertEqual(lines[1].split()[:4], [gpus[0], 'switch', 'nvidia', '-'])
        self.assertEqual(lines[2].split()[:5], [gpus[1], 'refuse', 'nvidia', 'nvidia-persistenced', '(1234)'])
        self.assertEqual(lines[-1], 'set-mode on would be refused: 1 device in use. Nothing was changed.')

        plan = json.loads(self.unchanged(self.ccctl, 'set-mode', 'on', '--dry-run', '--json'))
        bus = self.plan_set_mode('on')
        self.assertEqual([(p['Device'], p['Action'], p['Driver'], p['Reason']) for p in plan],
                         [(s['Device'], s['Action'], s['Driver'], s['Reason']) for s in bus])
        self.assertEqual(plan[1]['Holders'], [{'Pid': 1234, 'Command': 'nvidia-persistenced'}])

        text = self.unchanged(self.ccctl, 'bind-vfio', gpus[2][5:], '--dry-run')
        lines = text.splitlines()
        self.assertEqual(lines[0].split(), ['DEVICE', 'GROUP', 'ACTION', 'DRIVER', 'VFIO', 'DRIVER', 'HOLDERS',
                                            'REASON'])
        group = str(self.host.iommu_group(gpus[2]))
        self.assertEqual(lines[1].split()[:6], [gpus[2], group, 'bind', 'nvidia', 'nvgrace_gpu_vfio_pci', '-'])
        self.assertEqual(lines[2].split()[:6], [gpus[2][:-1] + '1', group, 'bind', 'snd_hda_intel', 'vfio-pci', '-'])
        self.assertEqual(lines[-1], 'bind-vfio would bind 2 devices and leave 0 as they are. Nothing was changed.')
        plan = json.loads(self.unchanged(self.ccctl, 'bind-vfio', '--dry-run', '--json', gpus[2]))
        self.assertEqual([(p['Device'], p['Group'], p['Members'], p['VfioDriver']) for p in plan],
                         [(b, int(group), [gpus[2], gpus[2][:-1] + '1'], d)
                          for b, d in ((gpus[2], 'nvgrace_gpu_vfio_pci'), (gpus[2][:-1] + '1', 'vfio-pci'))])

        # --dry-run belongs to set-mode and bind-vfio, and previews every GPU.
        for args in (['unbind-vfio', '--dry-run'], ['set-mode', 'on', '--gpu', gpus[0], '--dry-run'],
                     ['status', '--dry-run']):
            r = self.run_ccctl(args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn('--dry-run', r.stderr)
        # A bad mode is refused by nvidia-ccctl itself, as a usage error,
        # with the daemon's words (cc-names.h), before any call.
        r = self.run_ccctl(['set-mode', 'bogus', '--dry-run'])
        self.assertEqual(r.returncode, 2)
        self.assertIn('Unknown mode "bogus"', r.stderr)


if __name__ == '__main__':
    harness.main()
