#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# Kata artifact installation end to end: the real daemon on a private bus,
# the real docker-registry (registry.py) serving ORAS-style artifacts over
# TLS with htpasswd (or plain HTTP), and the real containerd judging every
# configuration written (`containerd -c FILE config dump`).  Every refusal
# is checked to leave the artifacts directory, containerd's configuration
# and the state directory exactly as they were.

import datetime
import hashlib
import json
import os
import shutil
import stat
import subprocess
import threading
import tomllib

from gi.repository import GLib

import harness
from harness import ACCESS_DENIED, BUS_NAME, ERROR, MANAGER_IFACE, MANAGER_PATH, sd_bus_path_encode
from registry import Registry

RC_IFACE = BUS_NAME + '.RuntimeClass'
RC_PREFIX = MANAGER_PATH + '/runtime_class'
NAME = 'kata-qemu-nvidia-gpu-snp'
TOML_TITLE = 'configuration-qemu-nvidia-gpu-snp.toml'
KERNEL = 'vmlinuz-6.12.8-nvidia-gpu-confidential'
INITRD = 'kata-ubuntu-noble-nvidia-gpu-confidential.initrd'
SBOM = 'dpkg.sbom.list'
CRI = 'io.containerd.grpc.v1.cri'
REPO = 'nvidia/kata-artifacts'


def rc_path(name):
    return sd_bus_path_encode(RC_PREFIX, name)


class FileArg:
    '''An option whose value is a file sent as a descriptor (type h),
    opened by the test, the caller, when the call is made.'''

    def __init__(self, path, flags=os.O_RDONLY):
        self.path = path
        self.flags = flags

    def open(self):
        return os.open(self.path, self.flags | os.O_CLOEXEC)


def with_fds(options):
    '''The options with each FileArg opened: (options, descriptors), the
    "h" values indexing the descriptors (which the call's list then owns).'''
    out, fds = {}, []
    for k, v in options.items():
        if isinstance(v, FileArg):
            fds.append(v.open())
            v = GLib.Variant('h', len(fds) - 1)
        out[k] = v
    return out, fds


class KataTest(harness.ServiceTestCase):
    AUTO_START = False

    def setUp(self):
        super().setUp()
        self.artifacts = os.path.join(self.tmp, 'artifacts')
        self.etc = os.path.join(self.tmp, 'etc', 'containerd')
        self.containerd = os.path.join(self.etc, 'config.toml')
        os.makedirs(self.etc)
        with open(os.path.join(self.srcdir, 'tests/fixtures/kata', TOML_TITLE), 'rb') as f:
            self.toml = f.read()
        self.use_containerd_default()
        self.registries = []
        self.make_host(['--gpus', '1', '--tee', 'sev-snp'])
        self.start_daemon(self.config_text())

    def tearDown(self):
        for r in self.registries:
            r.stop()

    def config_text(self):
        return '[Kata]\nArtifactsDir=%s\nContainerdConfig=%s\n' % (self.artifacts, self.containerd)

    # -- containerd

    def use_containerd_default(self):
        r = subprocess.run(['containerd', 'config', 'default'], stdout=subprocess.PIPE, check=True)
        self.write_containerd(r.stdout)

    def use_containerd_operator(self):
        with open(os.path.join(self.srcdir, 'tests/fixtures/containerd/operator-nvidia.toml'), 'rb') as f:
            self.write_containerd(f.read())

    def write_containerd(self, data):
        with open(self.containerd, 'wb') as f:
            f.write(data)
        os.chmod(self.containerd, 0o640)
        self.containerd_original = data

    def containerd_dump(self):
        '''containerd's own reading of the file written: it must load.'''
        r = subprocess.run(['containerd', '-c', self.containerd, 'config', 'dump'], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        self.assertEqual(r.returncode, 0, 'containerd refuses %s:\n%s' % (self.containerd, r.stderr.decode()))
        return tomllib.loads(r.stdout.decode())

    def runtimes(self):
        return self.containerd_dump()['plugins'][CRI]['containerd']['runtimes']

    def assert_registered(self, name, config_path):
        runtimes = self.runtimes()
        self.assertIn(name, runtimes)
        rt = runtimes[name]
        self.assertEqual(rt['runtime_type'], 'io.containerd.kata.v2')
        self.assertEqual(rt['privileged_without_host_devices'], True)
        self.assertEqual(rt['pod_annotations'], ['io.katacontainers.*'])
        self.assertEqual(rt['options']['ConfigPath'], config_path)
        self.assertIn('runc', runtimes, 'runc must survive')
        return runtimes

    # -- registry and artifacts

    def registry(self, **kw):
        d = os.path.join(self.tmp, 'registry-%d' % len(self.registries))
        os.makedirs(d)
        reg = Registry(d, **kw)
        self.registries.append(reg)
        reg.start()
        return reg

    def files(self, version=1, kernel=KERNEL, big=0):
        files = [
            (TOML_TITLE, self.toml),
            (kernel, ('kernel %d ' % version).encode() * 4096),
            (INITRD, ('initrd %d ' % version).encode() * 8192),
            (SBOM, ('ii  nvidia-driver 550.90.%02d amd64\n' % version).encode()),
        ]
        if big:
            path = os.path.join(self.tmp, 'big-%d.image' % version)
            with open(path, 'wb') as f:
                for _ in range(big // (1 << 20)):
                    f.write(os.urandom(1 << 20))
            files.append(('rootfs.image', {'path': path}))
        return files

    def secure_registry(self):
        reg = self.registry(tls=True, auth='htpasswd')
        self.secret = reg.write_docker_config(os.path.join(self.tmp, 'pull-secret.json'))
        return reg

    def options(self, reg, **extra):
        opts = {}
        if reg.tls:
            opts['ca-file-fd'] = FileArg(reg.ca_file)
        if reg.auth:
            opts['pull-secret-fd'] = FileArg(self.secret)
        if not reg.tls:
            opts['plain-http'] = GLib.Variant('b', True)
        for k, v in extra.items():
            opts[k.replace('_', '-')] = v
        return opts

    def install(self, name, reference, options, **kw):
        options, fds = with_fds(options)
        path = self.call(MANAGER_PATH, MANAGER_IFACE, 'InstallKataArtifacts', 'ssa{sv}',
                         (name, reference, options), fds=fds, **kw)[0]
        # The signals sent before the reply.
        self.dispatch_pending()
        return path

    def install_async(self, name, reference, options):
        options, fds = with_fds(options)
        return self.call_async(MANAGER_PATH, MANAGER_IFACE, 'InstallKataArtifacts', 'ssa{sv}',
                               (name, reference, options), fds=fds)

    def remove(self, name):
        r = self.call(MANAGER_PATH, MANAGER_IFACE, 'RemoveKataArtifacts', 's', (name,))
        self.dispatch_pending()
        return r

    def install_v1(self, reg, **kw):
        art = reg.push_artifact(REPO, 'v1', self.files(1))
        path = self.install(NAME, reg.ref(REPO, 'v1'), self.options(reg), **kw)
        return art, path

    # -- what is on disk

    def snapshot(self):
        '''Every file and directory under the artifacts directory, the
        containerd directory and the state directory, with modes and
        contents: equal snapshots mean nothing was written.'''
        out = {}
        for top in (self.artifacts, os.path.join(self.tmp, 'etc'), self.state_dir):
            for root, dirs, files in os.walk(top):
                for n in dirs:
                    p = os.path.join(root, n)
                    out[p] = ('dir', os.lstat(p).st_mode)
                for n in files:
                    p = os.path.join(root, n)
                    with open(p, 'rb') as f:
                        out[p] = ('file', os.lstat(p).st_mode, hashlib.sha256(f.read()).hexdigest())
        return out

    def staging_dirs(self):
        if not os.path.isdir(self.artifacts):
            return []
        return [n for n in os.listdir(self.artifacts) if n.startswith('.staging-')]

    def assert_refused(self, error, func, *args, contains=None):
        before = self.snapshot()
        message = self.assert_dbus_error(error, func, *args)
        if contains:
            self.assertIn(contains, message)
        self.assertEqual(self.snapshot(), before, 'a refused install changed files')
        self.assertEqual(self.staging_dirs(), [])
        self.assertEqual(self.manager()['ArtifactsProgress'], ('', 0, 0))
        return message

    def assert_installed(self, path, art, files, name=NAME):
        self.assertEqual(path, rc_path(name))
        directory = os.path.join(self.artifacts, name)
        props = self.get_all(path, RC_IFACE)
        self.assertEqual(props['Name'], name)
        self.assertEqual(props['Digest'], art.digest)
        self.assertEqual(props['Directory'], directory)
        self.assertEqual(props['Files'], [t for t, _ in files])
        self.assertEqual(props['ContainerdHandler'], name)
        self.assertGreater(props['InstalledAt'], 0)
        self.assertEqual(sorted(os.listdir(directory)), sorted(t for t, _ in files))
        for title, content in files:
            if title == TOML_TITLE or isinstance(content, dict):
                continue
            with open(os.path.join(directory, title), 'rb') as f:
                self.assertEqual(f.read(), content, title)
        with open(os.path.join(directory, TOML_TITLE), 'rb') as f:
            toml = f.read().decode()
        kernel = [t for t, _ in files if t.startswith('vmlinuz')][0]
        self.assertIn('kernel = "%s"' % os.path.join(directory, kernel), toml)
        self.assertIn(os.path.join(directory, INITRD), toml)
        self.assertNotIn('vmlinuz-nvidia-gpu-confidential.container', toml)
        # The rest of the Kata configuration is as it was.
        self.assertIn('kernel_params = "nvrc.smi.srs=1 kernel=/ignored image=x agent.log=debug"', toml)
        self.assertIn('# image = "/opt/kata/share/kata-containers/kata-containers-nvidia-gpu-confidential.img"',
                      toml)
        parsed = tomllib.loads(toml)
        self.assertEqual(parsed['hypervisor']['qemu']['kernel'], os.path.join(directory, kernel))
        self.assertEqual(parsed['hypervisor']['qemu']['initrd'], os.path.join(directory, INITRD))
        return props

    # -------------------------------------------------------------- cases

    def test_install(self):
        reg = self.secure_registry()
        start = len(self.signals)
        art, path = self.install_v1(reg)
        self.assert_installed(path, art, self.files(1))
        self.assert_registered(NAME, os.path.join(self.artifacts, NAME, TOML_TITLE))
        self.assertEqual(os.stat(self.containerd).st_mode & 0o7777, 0o640)
        self.assertEqual(self.staging_dirs(), [])
        added = [s for s in self.signals_named('InterfacesAdded', start) if s[4][0] == path]
        self.assertEqual(len(added), 1)
        self.assertIn(RC_IFACE, added[0][4][1])
        self.assertIn(path, self.managed_objects())
        # Progress was published and is back to idle.
        progress = self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'ArtifactsProgress', start)
        self.assertIn(NAME, [p[0] for p in progress if p])
        self.assertEqual(progress[-1], ('', 0, 0))
        self.assertEqual(self.manager()['ArtifactsProgress'], ('', 0, 0))

    def test_install_operator_config(self):
        self.use_containerd_operator()
        reg = self.secure_registry()
        art, path = self.install_v1(reg)
        runtimes = self.assert_registered(NAME, os.path.join(self.artifacts, NAME, TOML_TITLE))
        self.assertIn('nvidia', runtimes)
        self.assertEqual(runtimes['nvidia']['options']['BinaryName'],
                         '/usr/local/nvidia/toolkit/nvidia-container-runtime')
        dump = self.containerd_dump()
        self.assertEqual(dump['plugins'][CRI]['containerd']['default_runtime_name'], 'nvidia')
        # Every line of the file is still there, in order.
        with open(self.containerd, 'rb') as f:
            lines = iter(f.read().splitlines())
        for line in self.containerd_original.splitlines():
            self.assertIn(line, lines)

    def test_reinstall_new_tag(self):
        reg = self.secure_registry()
        art1, path = self.install_v1(reg)
        new_kernel = 'vmlinuz-6.12.9-nvidia-gpu-confidential'
        files2 = self.files(2, kernel=new_kernel)
        art2 = reg.push_artifact(REPO, 'v2', files2)
        start = len(self.signals)
        path2 = self.install(NAME, reg.ref(REPO, 'v2'), self.options(reg))
        self.assertEqual(path2, path)
        props = self.assert_installed(path, art2, files2)
        self.assertNotEqual(props['Digest'], art1.digest)
        self.assertFalse(os.path.exists(os.path.join(self.artifacts, NAME, KERNEL)))
        self.assertEqual(props['Reference'], reg.ref(REPO, 'v2'))
        self.assertIn(art2.digest, self.prop_changes(path, RC_IFACE, 'Digest', start))
        self.assertEqual([s for s in self.signals_named('InterfacesAdded', start) if s[4][0] == path], [])
        self.assert_registered(NAME, os.path.join(self.artifacts, NAME, TOML_TITLE))
        self.assertEqual(self.staging_dirs(), [])

    def test_remove(self):
        self.use_containerd_operator()
        reg = self.secure_registry()
        _, path = self.install_v1(reg)
        start = len(self.signals)
        self.remove(NAME)
        self.assertFalse(os.path.exists(os.path.join(self.artifacts, NAME)))
        with open(self.containerd, 'rb') as f:
            self.assertEqual(f.read(), self.containerd_original, 'containerd config not restored byte for byte')
        self.assertEqual(os.stat(self.containerd).st_mode & 0o7777, 0o640)
        self.assertNotIn(NAME, self.runtimes())
        self.assertNotIn(path, self.managed_objects())
        removed = [s for s in self.signals_named('InterfacesRemoved', start) if s[4][0] == path]
        self.assertEqual(len(removed), 1)
        self.assertEqual(os.listdir(os.path.join(self.state_dir, 'runtime-classes')), [])
        self.assert_dbus_error(ERROR + 'NotFound', self.remove, NAME)

    def test_install_wrong_password(self):
        reg = self.secure_registry()
        reg.push_artifact(REPO, 'v1', self.files(1))
        reg.write_docker_config(self.secret, user='puller', password='not-the-password')
        self.assert_refused(ERROR + 'RegistryError', self.install, NAME, reg.ref(REPO, 'v1'), self.options(reg))

    def test_install_missing_pull_secret(self):
        reg = self.secure_registry()
        reg.push_artifact(REPO, 'v1', self.files(1))
        opts = self.options(reg)
        del opts['pull-secret-fd']
        msg = self.assert_refused(ERROR + 'RegistryError', self.install, NAME, reg.ref(REPO, 'v1'), opts)
        self.assertIn('no pull secret', msg)

    def test_install_tampered_blob(self):
        reg = self.secure_registry()
        self.install_v1(reg)
        art2 = reg.push_artifact(REPO, 'v2', self.files(2, kernel='vmlinuz-6.12.9'))
        tampered = [l for l in art2.layers if l['title'] == INITRD][0]
        reg.tamper_blob(tampered['digest'])
        msg = self.assert_refused(ERROR + 'DigestMismatch', self.install, NAME, reg.ref(REPO, 'v2'),
                                  self.options(reg))
        self.assertIn(INITRD, msg)

    def refused_titles(self, files, contains):
        reg = self.secure_registry()
        self.install_v1(reg)
        reg.push_artifact(REPO, 'bad', files)
        self.assert_refused(ERROR + 'InvalidArgument', self.install, NAME, reg.ref(REPO, 'bad'),
                            self.options(reg), contains=contains)

    def test_traversal_title(self):
        self.refused_titles(self.files(2) + [('../../../etc/cron.d/evil', b'* * * * * root sh\n')], "'/'")

    def test_missing_title(self):
        self.refused_titles(self.files(2) + [(None, b'untitled')], 'no title')

    def test_duplicate_titles(self):
        self.refused_titles(self.files(2) + [(SBOM, b'another sbom\n')], 'same title')

    def test_bad_runtime_class_name(self):
        reg = self.secure_registry()
        reg.push_artifact(REPO, 'v1', self.files(1))
        for bad in ('Kata_GPU', '-kata', 'kata/..', ''):
            self.assert_refused(ERROR + 'InvalidArgument', self.install, bad, reg.ref(REPO, 'v1'),
                                self.options(reg), contains='DNS-1123')
        self.assert_refused(ERROR + 'InvalidArgument', self.remove, '../x', contains='DNS-1123')

    def test_bad_options(self):
        reg = self.secure_registry()
        reg.push_artifact(REPO, 'v1', self.files(1))
        ref = reg.ref(REPO, 'v1')
        self.assert_refused(ERROR + 'InvalidArgument', self.install, NAME, ref,
                            self.options(reg, bogus=GLib.Variant('b', True)), contains='"bogus"')
        self.assert_refused(ERROR + 'InvalidArgument', self.install, NAME, ref,
                            self.options(reg, plain_http=GLib.Variant('s', 'yes')), contains='"plain-http"')
        self.assert_refused(ERROR + 'InvalidArgument', self.install, NAME, ref,
                            self.options(reg, ca_file=GLib.Variant('s', 'relative.pem')), contains='ca-file')

    def test_plain_http_not_loopback(self):
        self.assert_refused(ERROR + 'InvalidArgument', self.install, NAME,
                            'registry.example.com:5000/kata/artifacts:v1',
                            {'plain-http': GLib.Variant('b', True)}, contains='loopback')

    def test_install_plain_http(self):
        reg = self.registry(tls=False)
        art, path = self.install_v1(reg)
        self.assert_installed(path, art, self.files(1))

    def test_install_registry_killed(self):
        reg = self.secure_registry()
        self.install_v1(reg)
        before = self.snapshot()
        files = self.files(2, big=256 << 20)
        reg.push_artifact(REPO, 'big', files)
        start = len(self.signals)
        pending = self.install_async(NAME, reg.ref(REPO, 'big'), self.options(reg))

        def pulling():
            return any(p and p[0] == NAME and p[1] > 0
                       for p in self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'ArtifactsProgress', start))
        self.wait_until(pulling, 60, 'the pull under way')
        reg.kill()
        self.wait_reply(pending, timeout=300)
        self.assertIn('error', pending)
        remote = GLib.Error.__str__(pending['error'])
        self.assertTrue(ERROR + 'RegistryError' in remote or ERROR + 'Timeout' in remote, remote)
        self.assertEqual(self.snapshot(), before, 'a failed pull changed files')
        self.assertEqual(self.staging_dirs(), [])

    def test_toml_refused(self):
        reg = self.secure_registry()
        self.install_v1(reg)
        bad = self.toml.replace(
            b'kernel = "/opt/kata/share/kata-containers/vmlinuz-nvidia-gpu-confidential.container"',
            b'kernel = """\n/opt/kata/vmlinuz"""')
        self.assertNotEqual(bad, self.toml)
        files = [(TOML_TITLE, bad)] + self.files(2)[1:]
        reg.push_artifact(REPO, 'bad', files)
        self.assert_refused(ERROR + 'InvalidArgument', self.install, NAME, reg.ref(REPO, 'bad'),
                            self.options(reg), contains=TOML_TITLE)

    def test_containerd_conflict(self):
        with open(os.path.join(self.srcdir, 'tests/fixtures/containerd/operator-nvidia.toml'), 'rb') as f:
            text = f.read()
        text += ('\n[plugins."%s".containerd.runtimes.%s]\n  runtime_type = "io.containerd.kata.v2"\n'
                 % (CRI, NAME)).encode()
        self.write_containerd(text)
        self.containerd_dump()
        reg = self.secure_registry()
        reg.push_artifact(REPO, 'v1', self.files(1))
        self.assert_refused(ERROR + 'InvalidArgument', self.install, NAME, reg.ref(REPO, 'v1'),
                            self.options(reg), contains=self.containerd)

    def test_unauthorized(self):
        reg = self.secure_registry()
        reg.push_artifact(REPO, 'v1', self.files(1))
        before = self.snapshot()
        r = self.run_as_nobody(['busctl', '--system', 'call', BUS_NAME, MANAGER_PATH, MANAGER_IFACE,
                                'InstallKataArtifacts', 'ssa{sv}', NAME, reg.ref(REPO, 'v1'), '1',
                                'plain-http', 'b', 'false'])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('access denied', r.stderr.lower())
        r = self.run_as_nobody(['gdbus', 'call', '--system', '--dest', BUS_NAME, '--object-path', MANAGER_PATH,
                                '--method', MANAGER_IFACE + '.RemoveKataArtifacts', NAME])
        self.assertIn('GDBus.Error:' + ACCESS_DENIED, r.stderr)
        self.assertEqual(self.snapshot(), before)
        # Reading needs no authorization.
        r = self.run_as_nobody(['busctl', '--system', 'get-property', BUS_NAME, MANAGER_PATH, MANAGER_IFACE,
                                'ArtifactsProgress'])
        self.assertEqual((r.returncode, r.stdout.strip()), (0, '(stt) "" 0 0'), r.stderr)

    def test_busy_during_pull(self):
        reg = self.secure_registry()
        reg.push_artifact(REPO, 'v1', self.files(1))
        files = self.files(2, big=128 << 20)
        art = reg.push_artifact(REPO, 'big', files)
        start = len(self.signals)
        pending = self.install_async(NAME, reg.ref(REPO, 'big'), self.options(reg))

        def pulling():
            return any(p and p[0] == NAME
                       for p in self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'ArtifactsProgress', start))
        self.wait_until(pulling, 60, 'the pull under way')
        self.assert_dbus_error(ERROR + 'Busy', self.install, 'kata-other', reg.ref(REPO, 'v1'), self.options(reg))
        self.assert_dbus_error(ERROR + 'Busy', self.remove, NAME)
        self.assert_dbus_error(ERROR + 'Busy', self.set_mode, 'on')
        # Reads are answered meanwhile.
        self.assertEqual(self.manager()['ArtifactsProgress'][0], NAME)
        self.wait_reply(pending, timeout=300)
        self.assertNotIn('error', pending, pending.get('error'))
        self.assert_installed(pending['reply'][0], art, files)
        progress = [p for p in self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'ArtifactsProgress', start) if p]
        dones = [p[1] for p in progress if p[0] == NAME]
        self.assertEqual(dones, sorted(dones), 'progress goes forward')
        self.assertTrue(any(p[2] >= 128 << 20 for p in progress), progress)

    # -- the file work runs off the event loop

    def hold_containerd_config(self):
        '''Puts a FIFO where containerd's configuration was: the daemon's
        worker, reading it, waits in open() for a writer that only
        release_containerd_config() provides, so the install's or removal's
        file work is held for as long as the test needs.'''
        saved = os.path.join(self.tmp, 'config.toml.saved')
        os.rename(self.containerd, saved)
        os.mkfifo(self.containerd, 0o640)
        self.addCleanup(self.unblock_fifo)
        return saved

    def unblock_fifo(self):
        '''After a failure: lets a reader still waiting on the FIFO go, so
        the daemon can stop.'''
        if not stat.S_ISFIFO(os.lstat(self.containerd).st_mode):
            return
        try:
            os.close(os.open(self.containerd, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass

    def release_containerd_config(self, pending, saved):
        '''Opens the FIFO's write end (returning once the worker opened the
        other) and closes it; the worker then refuses the FIFO.  Puts the
        real file back once the call replied.'''
        opener = threading.Thread(target=lambda: os.close(os.open(self.containerd, os.O_WRONLY)), daemon=True)
        opener.start()
        self.wait_reply(pending, timeout=300)
        opener.join(60)
        self.assertFalse(opener.is_alive(), 'the daemon never opened containerd\'s configuration')
        os.unlink(self.containerd)
        os.rename(saved, self.containerd)
        self.assertIn('error', pending)
        message = self.assert_error_is(pending['error'], ERROR + 'HostNotReady')
        self.assertIn(self.containerd + ' is not a regular file', message)

    def test_reads_during_install_commit(self):
        reg = self.secure_registry()
        art1, path = self.install_v1(reg)
        before = self.snapshot()
        # Big enough that the pull is still running when the FIFO goes in:
        # the checks before the pull must see the real file.
        reg.push_artifact(REPO, 'v2', self.files(2, big=128 << 20))
        start = len(self.signals)
        pending = self.install_async(NAME, reg.ref(REPO, 'v2'), self.options(reg))

        def pull_started():
            return any(p and p[0] == NAME
                       for p in self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'ArtifactsProgress', start))
        self.wait_until(pull_started, 60, 'the pull under way')
        saved = self.hold_containerd_config()

        def pull_ended():
            progress = self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'ArtifactsProgress', start)
            names = [p[0] for p in progress if p]
            return NAME in names and progress[-1] == ('', 0, 0)
        # The progress back at rest while the call has not replied: the pull
        # is over and the commit runs, held by the FIFO until released.
        self.wait_until(pull_ended, 120, 'the end of the pull')
        self.assertFalse(pending['done'], pending)
        manager = self.manager()
        self.assertEqual(manager['ArtifactsProgress'], ('', 0, 0))
        self.assertEqual(manager['ModeState'], 'idle')
        self.assertEqual(self.get_all(path, RC_IFACE)['Digest'], art1.digest)
        self.assertIn(path, self.managed_objects())
        self.assert_dbus_error(ERROR + 'Busy', self.install, 'kata-other', reg.ref(REPO, 'v1'), self.options(reg))
        self.assert_dbus_error(ERROR + 'Busy', self.remove, NAME)
        self.assert_dbus_error(ERROR + 'Busy', self.set_mode, 'on')
        self.assertFalse(pending['done'], pending)

        self.release_containerd_config(pending, saved)
        # Refused like any other: the previous version intact, nothing staged.
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(self.staging_dirs(), [])
        self.assertEqual(self.get_all(path, RC_IFACE)['Digest'], art1.digest)
        # And the daemon takes the next request.
        reg.push_artifact(REPO, 'v3', self.files(3))
        self.install(NAME, reg.ref(REPO, 'v3'), self.options(reg))
        self.assertNotEqual(self.get_all(path, RC_IFACE)['Digest'], art1.digest)

    def test_reads_during_checks(self):
        # The checks before the pull read containerd's configuration on a
        # worker thread too: held there by a FIFO, the daemon answers reads,
        # refuses other changes with Busy, and pulls nothing.
        reg = self.secure_registry()
        reg.push_artifact(REPO, 'v1', self.files(1))
        before = self.snapshot()
        saved = self.hold_containerd_config()
        start = len(self.signals)
        pending = self.install_async(NAME, reg.ref(REPO, 'v1'), self.options(reg))
        self.assert_dbus_error(ERROR + 'Busy', self.remove, NAME)
        self.assert_dbus_error(ERROR + 'Busy', self.set_mode, 'on')
        self.assertEqual(self.manager()['ArtifactsProgress'], ('', 0, 0))
        self.assertFalse(pending['done'], pending)
        self.release_containerd_config(pending, saved)
        self.assertEqual(self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'ArtifactsProgress', start), [],
                         'a pull was started')
        self.assertEqual(self.registry_gets(reg), [])
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(self.staging_dirs(), [])

    def test_reads_during_remove(self):
        reg = self.secure_registry()
        art, path = self.install_v1(reg)
        before = self.snapshot()
        saved = self.hold_containerd_config()
        pending = self.call_async(MANAGER_PATH, MANAGER_IFACE, 'RemoveKataArtifacts', 's', (NAME,))
        # Busy: the first removal's job holds (its worker waits on the FIFO).
        self.assert_dbus_error(ERROR + 'Busy', self.remove, NAME)
        self.assertEqual(self.manager()['ArtifactsProgress'], ('', 0, 0))
        self.assertEqual(self.get_all(path, RC_IFACE)['Digest'], art.digest)
        self.assertIn(path, self.managed_objects())
        self.assertFalse(pending['done'], pending)

        self.release_containerd_config(pending, saved)
        self.assertEqual(self.snapshot(), before)
        self.assertIn(path, self.managed_objects())
        start = len(self.signals)
        self.remove(NAME)
        self.assertNotIn(path, self.managed_objects())
        self.assertFalse(os.path.exists(os.path.join(self.artifacts, NAME)))
        removed = [s for s in self.signals_named('InterfacesRemoved', start) if s[4][0] == path]
        self.assertEqual(len(removed), 1)

    def test_restart_reexports(self):
        reg = self.secure_registry()
        art, path = self.install_v1(reg)
        props = self.get_all(path, RC_IFACE)
        # A crash mid-install leaves a staging directory; the next start removes it.
        stale = os.path.join(self.artifacts, '.staging-%s-XXXXXX' % NAME, 'blobs')
        os.makedirs(stale)
        self.assertEqual(self.kill_daemon(), -9)
        self.start_daemon(self.config_text())
        self.assertEqual(self.get_all(path, RC_IFACE), props)
        self.assertIn(path, self.managed_objects())
        self.assertEqual(self.staging_dirs(), [])
        self.remove(NAME)
        self.assertNotIn(path, self.managed_objects())

    def test_ctl_install_remove(self):
        reg = self.secure_registry()
        art = reg.push_artifact(REPO, 'v1', self.files(1))
        r = self.run_ccctl(['install-artifacts', NAME, reg.ref(REPO, 'v1'), '--pull-secret', self.secret,
                            '--ca-file', reg.ca_file])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, 'Installed runtime class %s (%s)\n' % (NAME, rc_path(NAME)))
        self.assert_installed(rc_path(NAME), art, self.files(1))
        # Refusals: a bad name is a usage error (2) in the daemon's words;
        # nobody is denied with 4; the daemon's own refusals are 1.
        r = self.run_ccctl(['install-artifacts', 'Bad_Name', reg.ref(REPO, 'v1')])
        self.assertEqual(r.returncode, 2)
        self.assertIn('Runtime class name "Bad_Name" is not a DNS-1123 label', r.stderr)
        r = self.run_ccctl(['remove-artifacts', NAME], as_nobody=True)
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn('manage-artifacts', r.stderr)
        r = self.run_ccctl(['remove-artifacts', NAME])
        self.assertEqual((r.returncode, r.stdout), (0, 'Removed runtime class %s\n' % NAME), r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.artifacts, NAME)))
        r = self.run_ccctl(['remove-artifacts', NAME])
        self.assertEqual(r.returncode, 1)
        self.assertIn('NotFound', r.stderr)

    def test_ctl_status_runtime_classes(self):
        reg = self.secure_registry()
        r = self.run_ccctl(['status'])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.endswith('\n\nNo runtime classes.\n'), r.stdout)
        self.assertEqual(json.loads(self.run_ccctl(['--json', 'status']).stdout)['RuntimeClasses'], [])

        art, path = self.install_v1(reg)
        other = 'kata-qemu-nvidia-gpu-tdx'
        self.install(other, reg.ref(REPO, 'v1'), self.options(reg, register_containerd=GLib.Variant('b', False)))
        os.environ['TZ'] = 'UTC'
        try:
            r = self.run_ccctl(['status'])
        finally:
            del os.environ['TZ']
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        header = lines.index([l for l in lines if l.startswith('RUNTIME CLASS')][0])
        self.assertEqual(lines[header].split(), ['RUNTIME', 'CLASS', 'REFERENCE', 'DIGEST', 'INSTALLED'])
        rows = [l.split() for l in lines[header + 1:]]
        self.assertEqual([row[0] for row in rows], [NAME, other])
        for row, name in zip(rows, (NAME, other)):
            props = self.get_all(rc_path(name), RC_IFACE)
            installed = datetime.datetime.fromtimestamp(props['InstalledAt'] // 10**6, datetime.timezone.utc)
            self.assertEqual(row, [name, reg.ref(REPO, 'v1'), art.digest[:len('sha256:') + 12],
                                   installed.strftime('%Y-%m-%d'), installed.strftime('%H:%M:%S'), 'UTC'])

        # JSON: the RuntimeClass properties as the bus has them; a handler
        # of "" (not registered) stays "".
        status = json.loads(self.run_ccctl(['--json', 'status']).stdout)
        self.assertEqual([c['Name'] for c in status['RuntimeClasses']], [NAME, other])
        self.assertEqual([c['ContainerdHandler'] for c in status['RuntimeClasses']], [NAME, ''])
        for c in status['RuntimeClasses']:
            self.assertEqual(c, self.get_all(rc_path(c['Name']), RC_IFACE))


    # -- preconditions, checked before anything is pulled

    def registry_gets(self, reg):
        '''The GET requests the registry answered (its log at level info).'''
        return [l for l in reg.log().splitlines() if 'http.request.method=GET' in l]

    def test_containerd_missing_refused_before_pull(self):
        reg = self.secure_registry()
        reg.push_artifact(REPO, 'big', self.files(1, big=64 << 20))
        os.unlink(self.containerd)
        start = len(self.signals)
        msg = self.assert_refused(ERROR + 'HostNotReady', self.install, NAME, reg.ref(REPO, 'big'),
                                  self.options(reg), contains=self.containerd + ' does not exist')
        self.assertIn('without registering', msg)
        self.assertNotIn('register-containerd', msg)
        # Nothing was pulled: no progress, not one GET at the registry.
        self.assertEqual(self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'ArtifactsProgress', start), [])
        self.assertEqual(self.registry_gets(reg), [])
        self.assertFalse(os.path.exists(self.artifacts), 'the artifacts directory was made for a refused install')
        # Without registration the same install goes through.
        path = self.install(NAME, reg.ref(REPO, 'big'),
                            self.options(reg, register_containerd=GLib.Variant('b', False)))
        self.assertEqual(self.get_all(path, RC_IFACE)['ContainerdHandler'], '')
        # The registry's log does show a pull's GETs.
        self.assertTrue(any('/blobs/sha256:' in l for l in self.registry_gets(reg)), reg.log()[-2000:])

    def test_containerd_conflict_refused_before_pull(self):
        with open(os.path.join(self.srcdir, 'tests/fixtures/containerd/operator-nvidia.toml'), 'rb') as f:
            text = f.read()
        text += ('\n[plugins."%s".containerd.runtimes.%s]\n  runtime_type = "io.containerd.kata.v2"\n'
                 % (CRI, NAME)).encode()
        self.write_containerd(text)
        reg = self.secure_registry()
        reg.push_artifact(REPO, 'v1', self.files(1))
        self.assert_refused(ERROR + 'InvalidArgument', self.install, NAME, reg.ref(REPO, 'v1'),
                            self.options(reg), contains=self.containerd)
        self.assertEqual(self.registry_gets(reg), [])

    def restart_with_fetch_helper(self, path):
        saved = os.environ.get('NVIDIA_CCD_FETCH')
        os.environ['NVIDIA_CCD_FETCH'] = path
        try:
            self.assertEqual(self.kill_daemon(harness.signal.SIGTERM), 0)
            self.start_daemon(self.config_text())
        finally:
            os.environ['NVIDIA_CCD_FETCH'] = saved

    def test_fetch_helper_missing(self):
        reg = self.registry(tls=False)
        reg.push_artifact(REPO, 'v1', self.files(1))
        missing = os.path.join(self.tmp, 'no-such-helper')
        self.restart_with_fetch_helper(missing)
        msg = self.assert_refused(ERROR + 'HostNotReady', self.install, NAME, reg.ref(REPO, 'v1'),
                                  self.options(reg))
        self.assertIn('cannot run the fetch helper %s: No such file or directory (ENOENT)' % missing, msg)

        # Not executable: the same, with EACCES.
        with open(missing, 'w') as f:
            f.write('#!/bin/sh\n')
        os.chmod(missing, 0o644)
        msg = self.assert_refused(ERROR + 'HostNotReady', self.install, NAME, reg.ref(REPO, 'v1'),
                                  self.options(reg))
        self.assertIn('cannot run the fetch helper %s: Permission denied (EACCES)' % missing, msg)

        # Executable, but execv() refuses it after the fork: reported by the
        # child, with the errno.
        with open(missing, 'wb') as f:
            f.write(b'\x7fELF not really\n')
        os.chmod(missing, 0o755)
        msg = self.assert_refused(ERROR + 'HostNotReady', self.install, NAME, reg.ref(REPO, 'v1'),
                                  self.options(reg))
        self.assertIn('cannot run the fetch helper %s: Exec format error (ENOEXEC)' % missing, msg)
        self.assertEqual(self.registry_gets(reg), [])

    # -- the pull secret and the CA bundle: descriptors, or files in the
    #    configuration's directory

    def test_path_options_in_config_dir(self):
        # The configuration file is in self.tmp: paths there are opened by
        # the daemon, as /etc/nvidia-ccd would be.
        reg = self.secure_registry()
        art = reg.push_artifact(REPO, 'v1', self.files(1))
        self.assertEqual(os.path.dirname(self.secret), self.tmp)
        ca = os.path.join(self.tmp, 'registry-ca.pem')
        shutil.copy(reg.ca_file, ca)
        path = self.install(NAME, reg.ref(REPO, 'v1'), {'pull-secret': GLib.Variant('s', self.secret),
                                                        'ca-file': GLib.Variant('s', ca)})
        self.assert_installed(path, art, self.files(1))

    def test_path_options_elsewhere_refused(self):
        reg = self.secure_registry()
        ref = reg.ref(REPO, 'v1')
        reg.push_artifact(REPO, 'v1', self.files(1))
        # Subdirectories of it are in it; nothing else is, whatever the
        # daemon itself could read.
        for option, value in (('pull-secret', '/root/.docker/config.json'),
                              ('pull-secret', self.tmp + '/../' + os.path.basename(self.tmp) + '/pull-secret.json'),
                              ('pull-secret', self.tmp + '/./pull-secret.json'),
                              ('pull-secret', self.tmp + '//pull-secret.json'),
                              ('pull-secret', self.tmp),
                              ('pull-secret', self.tmp + '-other/pull-secret.json'),
                              ('ca-file', '/etc/ssl/certs/ca-certificates.crt'),
                              ('ca-file', 'relative.pem')):
            opts = self.options(reg)
            del opts[option + '-fd']
            opts[option] = GLib.Variant('s', value)
            msg = self.assert_refused(ERROR + 'InvalidArgument', self.install, NAME, ref, opts,
                                      contains='Option %s: "%s"' % (option, value))
            self.assertIn('is not a file in %s/' % self.tmp, msg)
            self.assertIn(option + '-fd', msg)
        # A path that is in the directory but is not there, or not a file.
        os.mkfifo(os.path.join(self.tmp, 'fifo.json'))
        for value, why in ((os.path.join(self.tmp, 'missing.json'), 'No such file or directory'),
                           (os.path.join(self.tmp, 'fifo.json'), 'is not a regular file')):
            opts = self.options(reg)
            del opts['pull-secret-fd']
            opts['pull-secret'] = GLib.Variant('s', value)
            self.assert_refused(ERROR + 'InvalidArgument', self.install, NAME, ref, opts, contains=why)

    def test_fd_options_refused(self):
        reg = self.secure_registry()
        ref = reg.ref(REPO, 'v1')
        reg.push_artifact(REPO, 'v1', self.files(1))
        big = os.path.join(self.tmp, 'big.json')
        with open(big, 'wb') as f:
            f.truncate((1 << 20) + 1)
        fifo = os.path.join(self.tmp, 'secret.fifo')
        os.mkfifo(fifo)
        for arg, why in ((FileArg(self.tmp, os.O_RDONLY | os.O_DIRECTORY), 'the file descriptor is not of a regular file'),
                         (FileArg(fifo, os.O_RDONLY | os.O_NONBLOCK), 'the file descriptor is not of a regular file'),
                         (FileArg(self.secret, os.O_WRONLY), 'the file descriptor is not open for reading'),
                         (FileArg(self.secret, os.O_PATH), 'the file descriptor is not open for reading'),
                         (FileArg(big), 'the file is larger than 1048576 bytes')):
            opts = self.options(reg)
            opts['pull-secret-fd'] = arg
            self.assert_refused(ERROR + 'InvalidArgument', self.install, NAME, ref, opts,
                                contains='Option pull-secret-fd: ' + why)
        opts = self.options(reg)
        opts['pull-secret'] = GLib.Variant('s', self.secret)
        self.assert_refused(ERROR + 'InvalidArgument', self.install, NAME, ref, opts, contains='exclude each other')
        opts = self.options(reg)
        opts['ca-file-fd'] = GLib.Variant('s', reg.ca_file)
        self.assert_refused(ERROR + 'InvalidArgument', self.install, NAME, ref, opts,
                            contains='must be a file descriptor (h)')
        # The descriptor's offset is the caller's business: read from the start.
        opts = self.options(reg)
        fd = os.open(self.secret, os.O_RDONLY | os.O_CLOEXEC)
        os.lseek(fd, 0, os.SEEK_END)
        opts['pull-secret-fd'] = GLib.Variant('h', 0)
        ca = FileArg(reg.ca_file).open()
        opts['ca-file-fd'] = GLib.Variant('h', 1)
        path = self.call(MANAGER_PATH, MANAGER_IFACE, 'InstallKataArtifacts', 'ssa{sv}', (NAME, ref, opts),
                         fds=[fd, ca])[0]
        self.assertEqual(path, rc_path(NAME))

    def test_ctl_reads_files_with_callers_rights(self):
        reg = self.secure_registry()
        ref = reg.ref(REPO, 'v1')
        art = reg.push_artifact(REPO, 'v1', self.files(1))
        self.polkit_set_allowed(harness.ALL_ACTIONS)
        before = self.snapshot()
        # Root's file, 0600: nobody cannot read it, so neither can the
        # daemon on nobody's behalf; the daemon is never asked.
        os.chmod(self.secret, 0o600)
        r = self.run_ccctl(['install-artifacts', NAME, ref, '--pull-secret', self.secret, '--ca-file', reg.ca_file],
                           as_nobody=True)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn('--pull-secret %s: Permission denied' % self.secret, r.stderr)
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(self.registry_gets(reg), [])
        # nobody's own copies, outside the configuration's directory: fine.
        home = os.path.join(self.tmp, 'nobody')
        os.mkdir(home, 0o700)
        secret, ca = os.path.join(home, 'config.json'), os.path.join(home, 'ca.pem')
        shutil.copy(self.secret, secret)
        shutil.copy(reg.ca_file, ca)
        for p in (home, secret, ca):
            os.chown(p, 65534, 65534)
        os.chmod(secret, 0o600)
        r = self.run_ccctl(['install-artifacts', NAME, ref, '--pull-secret', secret, '--ca-file', ca],
                           as_nobody=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_installed(rc_path(NAME), art, self.files(1))
        # A directory, or a file larger than the daemon takes, is refused by
        # the CLI, before any call.
        r = self.run_ccctl(['install-artifacts', 'kata-other', ref, '--pull-secret', home])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn('--pull-secret %s: not a regular file' % home, r.stderr)
        big = os.path.join(self.tmp, 'big.json')
        with open(big, 'wb') as f:
            f.truncate((1 << 20) + 1)
        r = self.run_ccctl(['--json', 'install-artifacts', 'kata-other', ref, '--pull-secret', big])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn('--pull-secret %s: larger than 1048576 bytes' % big, r.stderr)
        self.assertIn('larger than 1048576 bytes', json.loads(r.stdout)['error']['message'])
        self.assertNotIn('kata-other', os.listdir(self.artifacts))


if __name__ == '__main__':
    harness.main()
