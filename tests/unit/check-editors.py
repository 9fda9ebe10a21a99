#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# The real containerd judges the containerd configuration the editors write
# (`containerd -c FILE config dump` parses it and prints what containerd
# makes of it), and Python's tomllib reads the edited Kata configuration.
# Debian 12 has containerd 1.6 only: the version-3 (containerd 2.x) forms
# are checked by the unit tests alone.
#
#   check-editors.py CONTAINERD-EDIT FIXTURES-DIR

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import unittest

EDIT = None
FIXTURES = None
CONTAINERD = shutil.which('containerd')
CRI = 'io.containerd.grpc.v1.cri'
NAME = 'kata-qemu-nvidia-gpu-snp'
KATA_CONFIG = '/opt/nvidia-gpu-operator/artifacts/runtimeclasses/' + NAME + '/configuration-qemu-nvidia-gpu-snp.toml'


def edit(args, data):
    """Runs containerd-edit; returns (exit status, stdout bytes, stderr text)."""
    p = subprocess.run([EDIT] + args, input=data, capture_output=True)
    return p.returncode, p.stdout, p.stderr.decode()


def edit_ok(args, data):
    rc, out, err = edit(args, data)
    if rc != 0:
        raise AssertionError('containerd-edit %s: exit %d: %s' % (' '.join(args), rc, err))
    return out


class Judge(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='check-editors-')

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def dump(self, data):
        """What containerd makes of a configuration, as a dict."""
        path = os.path.join(self.tmp, 'config.toml')
        with open(path, 'wb') as f:
            f.write(data)
        p = subprocess.run([CONTAINERD, '-c', path, 'config', 'dump'], capture_output=True)
        self.assertEqual(p.returncode, 0, 'containerd refuses the configuration: %s\n%s' %
                         (p.stderr.decode(), data.decode(errors='replace')))
        return tomllib.loads(p.stdout.decode())

    @staticmethod
    def runtimes(dump):
        return dump['plugins'][CRI]['containerd']['runtimes']

    def check_registration(self, base):
        before = self.dump(base)
        self.assertNotIn(NAME, self.runtimes(before))

        registered = edit_ok(['v2-register', NAME, KATA_CONFIG], base)
        after = self.dump(registered)
        kata = self.runtimes(after)[NAME]
        self.assertEqual(kata['runtime_type'], 'io.containerd.kata.v2')
        self.assertEqual(kata['options'], {'ConfigPath': KATA_CONFIG})
        self.assertEqual(kata['pod_annotations'], ['io.katacontainers.*'])
        self.assertIs(kata['privileged_without_host_devices'], True)

        # Everything else is what containerd read before: runc, nvidia, CNI...
        del self.runtimes(after)[NAME]
        self.assertEqual(after, before)
        self.assertIn('runc', self.runtimes(after))

        # Registering again replaces the block: one block, the new path.
        moved = KATA_CONFIG.replace('/configuration', '/v2/configuration')
        again = edit_ok(['v2-register', NAME, moved], registered)
        self.assertEqual(again.replace(b'\r\n', b'\n').count(b'# BEGIN nvidia-ccd runtime ' + NAME.encode() + b'\n'), 1)
        self.assertEqual(again.count(b'.runtimes.' + NAME.encode() + b']'), 1)
        self.assertEqual(self.runtimes(self.dump(again))[NAME]['options']['ConfigPath'], moved)
        self.assertEqual(edit_ok(['v2-register', NAME, moved], again), again)

        # Unregistering gives the original bytes back.
        self.assertEqual(edit_ok(['v2-unregister', NAME], again), base)
        return registered

    def test_default_config(self):
        """From `containerd config default`."""
        base = subprocess.run([CONTAINERD, 'config', 'default'], capture_output=True, check=True).stdout
        self.check_registration(base)

    def test_operator_config(self):
        """From a GPU Operator config with nvidia and runc runtimes."""
        with open(os.path.join(FIXTURES, 'containerd', 'operator-nvidia.toml'), 'rb') as f:
            base = f.read()
        registered = self.check_registration(base)
        runtimes = self.runtimes(self.dump(registered))
        self.assertEqual(runtimes['nvidia']['options']['BinaryName'],
                         '/usr/local/nvidia/toolkit/nvidia-container-runtime')
        self.assertEqual(runtimes['runc']['runtime_type'], 'io.containerd.runc.v2')
        self.assertEqual(self.dump(registered)['plugins'][CRI]['containerd']['default_runtime_name'], 'nvidia')

        # A second class next to the first; each comes out on its own.
        both = edit_ok(['v2-register', 'kata-qemu-nvidia-gpu', '/k/c.toml'], registered)
        self.assertEqual(set(self.runtimes(self.dump(both))),
                         {'nvidia', 'nvidia-cdi', 'runc', NAME, 'kata-qemu-nvidia-gpu'})
        first_gone = edit_ok(['v2-unregister', NAME], both)
        self.assertNotIn(NAME, self.runtimes(self.dump(first_gone)))
        self.assertEqual(edit_ok(['v2-unregister', 'kata-qemu-nvidia-gpu'], first_gone), base)

    def test_debian_config(self):
        """From Debian's /etc/containerd/config.toml: no runtime in the file,
        so containerd's built-in runc must be written out to survive."""
        with open(os.path.join(FIXTURES, 'containerd', 'debian-12.toml'), 'rb') as f:
            base = f.read()
        registered = self.check_registration(base)
        self.assertIn(b'# BEGIN nvidia-ccd runtime runc\n', registered)

    def test_other_shapes(self):
        """Files where the runtimes table is implicit, dotted or absent."""
        for base in [
            b'version = 2\n',
            b'version = 2',
            b'version = 2\r\n[plugins."io.containerd.grpc.v1.cri"]\r\n  sandbox_image = "p"\r\n',
            b'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\n'
            b'  runtimes.runc.runtime_type = "io.containerd.runc.v2"\n[grpc]\n  uid = 0\n',
            b'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n'
            b'  runtime_type = "io.containerd.runc.v2"\n# a comment\n\n[debug]\n  level = "info"\n',
        ]:
            with self.subTest(base=base):
                self.check_registration(base)

    def test_conflict_refused(self):
        """A runtime table of that name outside the block: refused, nothing written."""
        with open(os.path.join(FIXTURES, 'containerd', 'operator-nvidia.toml'), 'rb') as f:
            base = f.read()
        for conflict, line in [
            (base + b'\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.' + NAME.encode() + b']\n'
             b'  runtime_type = "io.containerd.kata.v2"\n', 48),
            (b'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  snapshotter = "overlayfs"\n'
             b'  runtimes.' + NAME.encode() + b'.runtime_type = "io.containerd.runc.v2"\n', 4),
        ]:
            with self.subTest(line=line):
                # containerd itself reads it: the refusal is the editor's.
                self.assertIn(NAME, self.runtimes(self.dump(conflict)))
                rc, out, err = edit(['v2-register', NAME, KATA_CONFIG], conflict)
                self.assertEqual(rc, 1)
                self.assertEqual(out, b'')
                self.assertEqual(err, 'InvalidArgument: line %d: runtime %s is already defined outside '
                                 "nvidia-ccd's managed block\n" % (line, NAME))

    def test_imports_pitfall(self):
        """containerd 1.x: an imported file's CRI section replaces the main
        file's, so a drop-in would lose runc; version 2 gets no imports."""
        base = subprocess.run([CONTAINERD, 'config', 'default'], capture_output=True, check=True).stdout
        dropin = os.path.join(self.tmp, 'kata.toml')
        with open(dropin, 'w') as f:
            f.write('version = 2\n[plugins."%s".containerd.runtimes.kata]\n'
                    '  runtime_type = "io.containerd.kata.v2"\n' % CRI)
        with_import = base.replace(b'imports = []', b'imports = ["%s"]' % dropin.encode())
        self.assertNotIn('runc', self.runtimes(self.dump(with_import)))

        rc, out, err = edit(['v3-add-import', dropin], base)
        self.assertEqual(rc, 1)
        self.assertEqual(out, b'')
        self.assertIn('version 2 (containerd 1.x) takes no drop-in', err)

    def test_kata_toml(self):
        """The edited Kata configuration reads as the original but for the paths."""
        with open(os.path.join(FIXTURES, 'kata', 'configuration-qemu-nvidia-gpu-snp.toml'), 'rb') as f:
            base = f.read()
        edited = edit_ok(['kata-toml', '/new/vmlinuz', '/new/kata.initrd', '/new/kata.image'], base)
        want = tomllib.loads(base.decode())
        want['hypervisor']['qemu']['kernel'] = '/new/vmlinuz'
        want['hypervisor']['qemu']['initrd'] = '/new/kata.initrd'
        self.assertNotIn('image', want['hypervisor']['qemu'])
        self.assertEqual(tomllib.loads(edited.decode()), want)


if __name__ == '__main__':
    if len(sys.argv) < 3:
        sys.exit('usage: check-editors.py CONTAINERD-EDIT FIXTURES-DIR')
    EDIT, FIXTURES = sys.argv[1], sys.argv[2]
    if not CONTAINERD:
        print('containerd not installed: skipped')
        sys.exit(77)
    unittest.main(argv=[sys.argv[0], '-v'] + sys.argv[3:])
