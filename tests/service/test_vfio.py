#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# VFIO binding on the bus: whole IOMMU groups bound and given back through
# busctl, gdbus and nvidia-ccctl; properties and PropertiesChanged; bad
# requests refused with nothing changed on disk; rollback of a failed bind;
# a daemon killed in the middle of a bind finishes cleanly at the next start.

import os
import signal
import subprocess

import harness
from harness import (ACCESS_DENIED, ERROR, GPU_IFACE, MANAGER_IFACE, MANAGER_PATH,
                     Inotify, gpu_path)

VFIO_ACTION = 'org.nvidia.ConfidentialCompute.manage-vfio'
RECORD = 'vfio-bindings'
CDI = 'var/run/cdi/nvidia-ccd.yaml'


class VfioTest(harness.ServiceTestCase):
    HOST_ARGS = ['--gpus', '2', '--audio', '--boot-ms', '50', '--tee', 'tdx']

    # -- helpers

    @property
    def record_path(self):
        return os.path.join(self.state_dir, RECORD)

    @property
    def cdi_path(self):
        return os.path.join(self.host.root, CDI)

    def bind(self, addresses=(), **kw):
        return self.call(MANAGER_PATH, MANAGER_IFACE, 'BindVfio', 'as', (list(addresses),), **kw)

    def unbind(self, addresses=(), **kw):
        return self.call(MANAGER_PATH, MANAGER_IFACE, 'UnbindVfio', 'as', (list(addresses),), **kw)

    def functions(self, gpu):
        '''The GPU and its audio function.'''
        return [gpu, gpu[:-1] + '1']

    def disk_state(self):
        '''Everything a VFIO request may change on disk.'''
        state = {'drivers': self.host.drivers(), 'overrides': {}, 'files': {}}
        for bdf in self.host.all_bdfs():
            with open(os.path.join(self.host.dev_dir(bdf), 'driver_override')) as f:
                state['overrides'][bdf] = f.read()
        for path in (self.record_path, self.cdi_path):
            state['files'][path] = None
            if os.path.exists(path):
                with open(path) as f:
                    state['files'][path] = f.read()
        vfio = os.path.join(self.host.root, 'dev/vfio')
        state['dev'] = sorted(os.listdir(vfio))
        return state

    def cdi_text(self):
        with open(self.cdi_path) as f:
            return f.read()

    # -- cases

    def test_bind_unbind_all(self):
        gpus = self.host.gpus()
        groups = [self.host.iommu_group(g) for g in gpus]
        since = len(self.signals)
        self.bind()
        for gpu, group in zip(gpus, groups):
            for bdf in self.functions(gpu):
                self.assertEqual(self.host.driver(bdf), 'vfio-pci', bdf)
            props = self.gpu(gpu)
            self.assertEqual(props['Driver'], 'vfio-pci')
            self.assertEqual(props['VfioDevice'], '/dev/vfio/%d' % group)
            self.assertEqual(props['VfioCdev'], '')
            self.assertEqual(props['GroupMembers'], self.functions(gpu))
            self.assertTrue(os.path.exists(os.path.join(self.host.root, 'dev/vfio/%d' % group)))
        self.sync_daemon()
        self.assertIn('vfio-pci', self.prop_changes(gpu_path(gpus[0]), GPU_IFACE, 'Driver', since))
        self.assertIn('/dev/vfio/%d' % groups[0], self.prop_changes(gpu_path(gpus[0]), GPU_IFACE, 'VfioDevice', since))
        cdi = self.cdi_text()
        self.assertIn('kind: nvidia.com/pgpu', cdi)
        for i, group in enumerate(groups):
            self.assertIn('name: "%d"' % i, cdi)
            self.assertIn('path: /dev/vfio/%d' % group, cdi)
        self.assertIn('path: /dev/vfio/vfio', cdi)
        record = harness.keyfile_read(self.record_path)
        self.assertEqual(record['Device %s' % gpus[0]]['PreviousDriver'], 'nvidia')
        self.assertEqual(record['Device %s' % self.functions(gpus[0])[1]]['PreviousDriver'], 'snd_hda_intel')

        # Idempotent: a second bind changes nothing.
        before = self.disk_state()
        self.bind()
        self.assertEqual(self.disk_state(), before)

        since = len(self.signals)
        self.unbind()
        for gpu in gpus:
            self.assertEqual(self.host.driver(gpu), 'nvidia')
            self.assertEqual(self.host.driver(self.functions(gpu)[1]), 'snd_hda_intel')
            self.assertEqual(self.gpu(gpu)['Driver'], 'nvidia')
            self.assertEqual(self.gpu(gpu)['VfioDevice'], '')
        self.sync_daemon()
        self.assertIn('nvidia', self.prop_changes(gpu_path(gpus[0]), GPU_IFACE, 'Driver', since))
        self.assertFalse(os.path.exists(self.cdi_path), 'the CDI spec is removed when nothing is bound')
        self.assertFalse(os.path.exists(self.record_path))
        overrides = self.disk_state()['overrides']
        self.assertEqual(set(overrides.values()), {'(null)\n'})
        before = self.disk_state()
        self.unbind()
        self.assertEqual(self.disk_state(), before)


if __name__ == '__main__':
    harness.main()
