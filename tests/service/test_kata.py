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
import fcntl
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
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
                    st = os.lstat(p)
                    if not stat.S_ISREG(st.st_mode):
                        out[p] = ('other', st.st_mode)
                        continue
                    with open(p, 'rb') as f:
                        out[p] = ('file', st.st_mode, hashlib.sha256(f.read()).hexdigest())
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

    def test_terminal_escape_title(self):
        # A registry's title with terminal escapes is refused, and reaches
        # neither the bus nor nvidia-ccctl's terminal raw.
        title = 'x\x1b]0;owned\x07\x1b[2J'
        reg = self.secure_registry()
        reg.push_artifact(REPO, 'bad', self.files(1) + [(title, b'payload')])
        msg = self.assert_refused(ERROR + 'InvalidArgument', self.install, NAME, reg.ref(REPO, 'bad'),
                                  self.options(reg))
        self.assertIn('has a title with a control character', msg)
        self.assertIn('"x\\x1b]0;owned\\x07\\x1b[2J"', msg)
        self.assertNotIn('\x1b', msg)
        r = self.run_ccctl(['install-artifacts', NAME, reg.ref(REPO, 'bad'), '--pull-secret', self.secret,
                            '--ca-file', reg.ca_file])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn('x\\x1b]0;owned', r.stderr)
        self.assertFalse(any(ord(c) < 0x20 and c != '\n' for c in r.stderr), repr(r.stderr))

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

    def test_hostile_configuration(self):
        # The publisher of the artifact picks what the Kata shim runs as
        # root: each such key is refused, naming it and its line.
        reg = self.secure_registry()
        self.install_v1(reg)
        cases = [
            (b'path = "/opt/kata/bin/qemu-system-x86_64-snp-experimental"', b'path = "/bin/sh"',
             'hypervisor.qemu.path: "/bin/sh"'),
            (b'valid_hypervisor_paths = ["/opt/kata/bin/qemu-system-x86_64-snp-experimental"]',
             b'valid_hypervisor_paths = ["/bin/*"]', 'hypervisor.qemu.valid_hypervisor_paths: "/bin/*"'),
            (b'virtio_fs_daemon = "/opt/kata/libexec/virtiofsd"', b'virtio_fs_daemon = "/bin/sh"',
             'hypervisor.qemu.virtio_fs_daemon: "/bin/sh"'),
            (b'virtio_fs_extra_args = ["--thread-pool-size=1", "--announce-submounts"]',
             b'virtio_fs_extra_args = ["-c", "touch /tmp/owned"]', 'hypervisor.qemu.virtio_fs_extra_args: "-c"'),
        ]
        lines = self.toml.split(b'\n')
        for old, new, contains in cases:
            with self.subTest(key=contains):
                line = [i + 1 for i, l in enumerate(lines) if l.startswith(old)][0]
                bad = self.toml.replace(old, new)
                self.assertNotEqual(bad, self.toml)
                reg.push_artifact(REPO, 'bad', [(TOML_TITLE, bad)] + self.files(2)[1:])
                msg = self.assert_refused(ERROR + 'InvalidArgument', self.install, NAME, reg.ref(REPO, 'bad'),
                                          self.options(reg))
                self.assertIn('%s: line %d: %s' % (TOML_TITLE, line, contains), msg)

    def test_allowed_host_paths(self):
        # The administrator's allow-list replaces Kata's own locations.
        self.kill_daemon(signal.SIGTERM)
        self.start_daemon(self.config_text() + 'AllowedHostPaths=/usr/local/kata,/opt/kata/share,/dev/urandom,'
                          '/dev/random\n'
                          'AllowedExtraArgs=--thread-pool-size=*,--announce-submounts\n')
        reg = self.secure_registry()
        toml = self.toml.replace(b'/opt/kata/bin/', b'/usr/local/kata/bin/')
        toml = toml.replace(b'/opt/kata/libexec/', b'/usr/local/kata/libexec/')
        files = [(TOML_TITLE, toml)] + self.files(1)[1:]
        art = reg.push_artifact(REPO, 'v1', files)
        path = self.install(NAME, reg.ref(REPO, 'v1'), self.options(reg))
        self.assertEqual(self.get_all(path, RC_IFACE)['Digest'], art.digest)
        # Kata's default location is no longer allowed.
        reg.push_artifact(REPO, 'v2', self.files(2))
        msg = self.assert_refused(ERROR + 'InvalidArgument', self.install, NAME, reg.ref(REPO, 'v2'),
                                  self.options(reg))
        self.assertIn('"/opt/kata/bin/qemu-system-x86_64-snp-experimental" is neither in the install directory '
                      'nor under an allowed host path', msg)

    def test_unpinned_reference_warned(self):
        reg = self.secure_registry()
        art, _ = self.install_v1(reg)
        pinned = reg.ref(REPO, art.digest)
        self.install(NAME, pinned, self.options(reg))
        with open(self.daemon_log, errors='replace') as f:
            log = f.read()
        self.assertIn('%s is not pinned by digest' % reg.ref(REPO, 'v1'), log)
        self.assertNotIn('%s is not pinned' % pinned, log)

    # -- the registry helper

    def with_helper(self, script, config=''):
        '''Restarts the daemon with a stand-in for nvidia-ccd-fetch: a
        Python script, run as the daemon runs the real one.'''
        path = os.path.join(self.tmp, 'fake-fetch')
        with open(path, 'w') as f:
            f.write('#!/usr/bin/python3\n' + script)
        os.chmod(path, 0o755)
        self.kill_daemon(signal.SIGTERM)
        saved = os.environ.get('NVIDIA_CCD_FETCH')
        os.environ['NVIDIA_CCD_FETCH'] = path
        try:
            self.start_daemon(self.config_text() + config)
        finally:
            os.environ['NVIDIA_CCD_FETCH'] = saved
        return path

    # A helper that reports some progress and then hangs, as behind a
    # registry that stopped sending.
    HANGING_HELPER = '''
import json, time
print(json.dumps({'progress': {'done': 1, 'total': 100}}), flush=True)
time.sleep(3600)
'''

    def helper_running(self, path):
        for pid in os.listdir('/proc'):
            try:
                with open('/proc/%s/cmdline' % pid, 'rb') as f:
                    if path.encode() in f.read():
                        return True
            except (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError):
                continue
        return False

    def wait_pulling(self, start):
        def pulling():
            return any(p and p[0] == NAME and p[1] > 0
                       for p in self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'ArtifactsProgress', start))
        self.wait_until(pulling, 60, 'the pull under way')

    def test_pull_timeout(self):
        helper = self.with_helper(self.HANGING_HELPER, 'PullTimeout=2s\n')
        msg = self.assert_refused(ERROR + 'Timeout', self.install, NAME, 'localhost:5000/kata/a:1',
                                  {'plain-http': GLib.Variant('b', True)})
        self.assertEqual(msg, 'The pull of localhost:5000/kata/a:1 did not finish within 2 s ([Kata] PullTimeout=)')
        self.assertFalse(self.helper_running(helper), 'the helper was not stopped')

    def test_pull_cancelled_by_sigterm(self):
        helper = self.with_helper(self.HANGING_HELPER)
        start = len(self.signals)
        pending = self.install_async(NAME, 'localhost:5000/kata/a:1', {'plain-http': GLib.Variant('b', True)})
        self.wait_pulling(start)
        self.assertTrue(self.helper_running(helper))
        self.daemon.signal(signal.SIGTERM)
        self.wait_reply(pending, timeout=30)
        self.assertIn('error', pending)
        msg = self.assert_error_is(pending['error'], ERROR + 'Busy')
        self.assertIn('stopping', msg)
        self.assertEqual(self.kill_daemon(signal.SIGTERM), 0)
        self.assertFalse(self.helper_running(helper))
        self.assertEqual(self.staging_dirs(), [])

    def test_pull_cancelled_when_caller_leaves(self):
        helper = self.with_helper(self.HANGING_HELPER)
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'bus_client.py')
        start = len(self.signals)
        client = subprocess.Popen(['/usr/bin/python3', script, MANAGER_PATH, MANAGER_IFACE, 'InstallKataArtifacts',
                                   'ssa{sv}', "('%s', 'localhost:5000/kata/a:1', {'plain-http': GLib.Variant('b', True)})"
                                   % NAME, '600'], env=self.client_env(), stdout=subprocess.DEVNULL)
        self.addCleanup(client.wait)
        self.addCleanup(client.kill)
        self.wait_pulling(start)
        client.kill()
        self.wait_until(lambda: self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'ArtifactsProgress', start)[-1]
                        == ('', 0, 0), 30, 'the pull stopped')
        # The job's last word, once the staging directory is gone.
        self.wait_log('Kata artifacts of localhost:5000/kata/a:1 for runtime class %s not installed: '
                      'the caller left the bus' % NAME)
        self.assertFalse(self.helper_running(helper))
        self.assertEqual(self.staging_dirs(), [])
        # The daemon is free again.
        self.assert_dbus_error(ERROR + 'NotFound', self.remove, NAME)

    def wait_log(self, text, timeout=30):
        '''Waits until the daemon's log has text (inotify on the log).'''
        ino = harness.Inotify()
        try:
            ino.watch(self.daemon_log, harness.Inotify.IN_MODIFY)
            while True:
                with open(self.daemon_log, errors='replace') as f:
                    if text in f.read():
                        return
                self.wait_fd(ino.fd, timeout, 'the log line %r' % text)
                ino.drain()
        finally:
            ino.close()

    def test_helper_unprivileged(self):
        # The helper runs as its own user (the tests: nobody), with no
        # supplementary groups, writing only into the directory it is
        # handed as a descriptor, which its user owns meanwhile.
        self.with_helper('''
import json, os, sys
st = os.fstat(int(sys.argv[sys.argv.index('--output-dir-fd') + 1]))
ids = 'uid=%s gid=%s groups=%s dir=%d/%o args=%s' % (
    os.getresuid(), os.getresgid(), os.getgroups(), st.st_uid, st.st_mode & 0o7777,
    [a for a in sys.argv[1:] if a.startswith('--')])
print(json.dumps({'error': {'kind': 'RegistryError', 'message': ids}}))
''')
        import pwd
        nobody = pwd.getpwnam('nobody')
        msg = self.assert_refused(ERROR + 'RegistryError', self.install, NAME, 'localhost:5000/kata/a:1',
                                  {'plain-http': GLib.Variant('b', True)})
        self.assertEqual(msg, 'uid=(%d, %d, %d) gid=(%d, %d, %d) groups=[] dir=%d/700 '
                         "args=['--reference', '--output-dir-fd', '--plain-http']"
                         % ((nobody.pw_uid,) * 3 + (nobody.pw_gid,) * 3 + (nobody.pw_uid,)))

    def test_helper_reads_handed_files(self):
        # The pull secret and CA bundle the caller passes as descriptors
        # reach the unprivileged helper as descriptors: it reads root's
        # 0600 files it could not open, and is given no path.
        secret = os.path.join(self.tmp, 'root-secret.json')
        self.with_helper('''
import json, os, sys
def read(opt):
    fd = int(sys.argv[sys.argv.index(opt) + 1])
    return os.pread(fd, 100, 0).decode()
try:
    open(%r).close()
    by_path = 'readable by path'
except PermissionError:
    by_path = 'not readable by path'
msg = 'secret=%%s ca=%%s %%s args=%%s' %% (read('--pull-secret-fd'), read('--ca-fd'), by_path,
                                       [a for a in sys.argv[1:] if a.startswith('--')])
print(json.dumps({'error': {'kind': 'RegistryError', 'message': msg}}))
''' % secret)
        ca = os.path.join(self.tmp, 'root-ca.pem')
        for path, text in ((secret, '{"auths":{}}'), (ca, 'PEM')):
            with open(path, 'w') as f:
                f.write(text)
            os.chmod(path, 0o600)
        opts = {'plain-http': GLib.Variant('b', True), 'pull-secret-fd': GLib.Variant('h', 0),
                'ca-file-fd': GLib.Variant('h', 1)}
        fds = [FileArg(secret).open(), FileArg(ca).open()]
        msg = self.assert_refused(ERROR + 'RegistryError',
                                  lambda: self.call(MANAGER_PATH, MANAGER_IFACE, 'InstallKataArtifacts', 'ssa{sv}',
                                                    (NAME, 'localhost:5000/kata/a:1', opts), fds=fds))
        self.assertEqual(msg, 'secret={"auths":{}} ca=PEM not readable by path '
                         "args=['--reference', '--output-dir-fd', '--pull-secret-fd', '--ca-fd', '--plain-http']")

    def test_report_nested_too_deeply(self):
        # What the helper writes is read by a bounded reader: a line of a
        # million '[' is an invalid report, not a crash.
        self.with_helper('''
import sys
sys.stdout.write('[' * (1 << 20) + '\\n')
''')
        msg = self.assert_refused('org.freedesktop.DBus.Error.Failed', self.install, NAME,
                                  'localhost:5000/kata/a:1', {'plain-http': GLib.Variant('b', True)})
        self.assertIn('invalid report', msg)
        self.assertEqual(self.manager()['ModeState'], 'idle')

    def test_installed_files_owned_by_root(self):
        reg = self.secure_registry()
        self.install_v1(reg)
        directory = os.path.join(self.artifacts, NAME)
        for name in os.listdir(directory):
            st = os.lstat(os.path.join(directory, name))
            self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o7777), (0, 0, 0o644), name)

    # -- where the files go

    def unsafe_artifacts_dir(self, artifacts, contains):
        '''Restarts the daemon with ArtifactsDir=artifacts; an install is
        refused naming the problem, and nothing is created.'''
        self.kill_daemon(signal.SIGTERM)
        self.artifacts = artifacts
        self.start_daemon(self.config_text())
        with open(self.daemon_log, errors='replace') as f:
            self.assertIn(contains, f.read(), 'the problem is logged at start')
        reg = self.secure_registry()
        reg.push_artifact(REPO, 'v1', self.files(1))
        before = self.snapshot()
        msg = self.assert_dbus_error(ERROR + 'HostNotReady', self.install, NAME, reg.ref(REPO, 'v1'),
                                     self.options(reg))
        self.assertIn(contains, msg)
        self.assertEqual(self.snapshot(), before)
        self.assertNotIn(rc_path(NAME), self.managed_objects())
        return msg

    def test_artifacts_parent_writable(self):
        parent = os.path.join(self.tmp, 'shared')
        os.mkdir(parent)
        os.chmod(parent, 0o777)
        os.makedirs(os.path.join(parent, 'artifacts', NAME))
        msg = self.unsafe_artifacts_dir(os.path.join(parent, 'artifacts'),
                                        '%s is writable by group or others (mode 0777)' % parent)
        self.assertTrue(msg.startswith('ArtifactsDir: '), msg)

    def test_artifacts_dir_symlink(self):
        real = os.path.join(self.tmp, 'real')
        os.mkdir(real)
        os.symlink(real, os.path.join(self.tmp, 'link'))
        self.unsafe_artifacts_dir(os.path.join(self.tmp, 'link', 'artifacts'),
                                  '%s is a symbolic link' % os.path.join(self.tmp, 'link'))
        self.assertEqual(os.listdir(real), [])

    def test_artifacts_dir_owned_by_other(self):
        import pwd
        other = os.path.join(self.tmp, 'other')
        os.mkdir(other, 0o755)
        os.chown(other, pwd.getpwnam('nobody').pw_uid, -1)
        self.unsafe_artifacts_dir(os.path.join(other, 'artifacts'),
                                  '%s belongs to uid %d, not root' % (other, pwd.getpwnam('nobody').pw_uid))

    def test_artifacts_dir_sticky_ancestor(self):
        # A world-writable ancestor with the sticky bit (as /tmp) is
        # accepted: nobody else can replace what is ours in it.
        parent = os.path.join(self.tmp, 'sticky')
        os.mkdir(parent)
        os.chmod(parent, 0o1777)
        self.kill_daemon(signal.SIGTERM)
        self.artifacts = os.path.join(parent, 'artifacts')
        self.start_daemon(self.config_text())
        reg = self.secure_registry()
        art, path = self.install_v1(reg)
        self.assert_installed(path, art, self.files(1))
        self.assertEqual(os.stat(self.artifacts).st_mode & 0o7777, 0o755)

    # -- containerd's restart through systemd

    SYSTEMD = 'org.freedesktop.systemd1'
    SYSTEMD_PATH = '/org/freedesktop/systemd1'
    JOB = '/org/freedesktop/systemd1/job/42'

    def start_systemd(self, restart_code):
        '''python-dbusmock's systemd on the test bus, with TryRestartUnit
        running restart_code (which sets ret, the job path).'''
        start = len(self.signals)
        mock = harness.Process(['/usr/bin/python3', '-m', 'dbusmock', '--system', '-t', 'systemd'],
                               os.path.join(self.tmp, 'systemd.log'), env=self.client_env(), name='systemd')
        self.addCleanup(mock.close)
        self.wait_until(lambda: any(s[3] == 'NameOwnerChanged' and s[4][0] == self.SYSTEMD and s[4][2]
                                    for s in self.signals[start:]), 60, 'the systemd mock', watch=[mock])
        self.conn.call_sync(self.SYSTEMD, self.SYSTEMD_PATH, 'org.freedesktop.DBus.Mock', 'AddMethod',
                            GLib.Variant('(sssss)', (self.SYSTEMD + '.Manager', 'TryRestartUnit', 'ss', 'o',
                                                     restart_code)), None, 0, 5000, None)
        return mock

    def job_removed(self, result, destination=None, sender_conn=None):
        '''JobRemoved for our job: from the mock (genuine, broadcast), or
        from this test's own connection to the daemon (forged).'''
        args = GLib.Variant('(uoss)', (42, self.JOB, 'containerd.service', result))
        if sender_conn is None:
            self.conn.call_sync(self.SYSTEMD, self.SYSTEMD_PATH, 'org.freedesktop.DBus.Mock', 'EmitSignal',
                                GLib.Variant('(sssav)', (self.SYSTEMD + '.Manager', 'JobRemoved', 'uoss',
                                                         [GLib.Variant('u', 42), GLib.Variant('o', self.JOB),
                                                          GLib.Variant('s', 'containerd.service'),
                                                          GLib.Variant('s', result)])),
                                None, 0, 5000, None)
        else:
            sender_conn.emit_signal(destination, self.SYSTEMD_PATH, self.SYSTEMD + '.Manager', 'JobRemoved', args)
            sender_conn.flush_sync(None)

    def test_restart_forged_job_removed(self):
        # Anyone on the bus can send the daemon a JobRemoved; only systemd's
        # counts, before the reply naming the job (the mock sleeps) and after.
        # The mock emits Answered once its reply is out: anything sent after
        # that reaches the daemon after the reply.
        self.start_systemd('import time\n'
                           'from gi.repository import GLib\n'
                           'time.sleep(2)\n'
                           'GLib.idle_add(lambda mock=self: mock.EmitSignal("%s.Manager", "Answered", "", []))\n'
                           'ret = "%s"\n' % (self.SYSTEMD, self.JOB))
        reg = self.secure_registry()
        reg.push_artifact(REPO, 'v1', self.files(1))
        daemon_name = self.conn.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                                          'GetNameOwner', GLib.Variant('(s)', (BUS_NAME,)), None, 0, 5000,
                                          None).unpack()[0]
        start = len(self.signals)
        pending = self.install_async(NAME, reg.ref(REPO, 'v1'), self.options(reg, restart_containerd=GLib.Variant('b', True)))
        self.wait_until(lambda: any(s[3] == 'MethodCalled' and s[4][0] == 'TryRestartUnit'
                                    for s in self.signals[start:]), 60, 'the restart asked of systemd')
        # While systemd has not answered: an early result, forged.
        self.job_removed('failed', daemon_name, self.conn)
        self.sync_daemon()
        self.assertFalse(pending['done'], pending)
        # After the answer, forged again, then the real one.
        self.wait_until(lambda: pending['done'] or any(s[3] == 'Answered' for s in self.signals[start:]), 30,
                        'systemd\'s answer')
        self.job_removed('failed', daemon_name, self.conn)
        self.sync_daemon()
        self.assertFalse(pending['done'], pending)
        self.job_removed('done')
        self.wait_reply(pending, timeout=60)
        self.assertNotIn('error', pending, pending.get('error'))
        self.assertEqual(pending['reply'][0], rc_path(NAME))

    def test_restart_wait_ends_on_sigterm(self):
        # systemd never reports the job: SIGTERM ends the wait, not the
        # install, and the daemon exits.
        self.start_systemd('ret = "%s"' % self.JOB)
        reg = self.secure_registry()
        reg.push_artifact(REPO, 'v1', self.files(1))
        start = len(self.signals)
        pending = self.install_async(NAME, reg.ref(REPO, 'v1'),
                                     self.options(reg, restart_containerd=GLib.Variant('b', True)))
        self.wait_until(lambda: any(s[3] == 'MethodCalled' and s[4][0] == 'TryRestartUnit'
                                    for s in self.signals[start:]), 60, 'the restart asked of systemd')
        self.daemon.signal(signal.SIGTERM)
        self.wait_reply(pending, timeout=30)
        msg = self.assert_error_is(pending['error'], ERROR + 'Busy')
        self.assertIn('not waited for', msg)
        self.assertEqual(self.kill_daemon(signal.SIGTERM), 0)
        self.assertTrue(os.path.isdir(os.path.join(self.artifacts, NAME)))
        self.start_daemon(self.config_text())
        self.assertIn(rc_path(NAME), self.managed_objects())

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
        '''Takes a write lease on containerd's configuration: the daemon's
        worker, opening it, waits until release_containerd_config() gives
        the lease up (or the kernel's lease-break-time, 45 s, passes), so
        the install's or removal's file work is held for as long as the
        test needs.  The kernel tells the holder (SIGIO) when the file is
        opened.  The test must not open the file itself meanwhile.'''
        fd = os.open(self.containerd, os.O_RDONLY | os.O_CLOEXEC)
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        handler = signal.signal(signal.SIGIO, lambda *_: None)
        wakeup = signal.set_wakeup_fd(w)
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
        self.lease = {'fd': fd, 'r': r, 'w': w, 'handler': handler, 'wakeup': wakeup}
        self.addCleanup(self.release_containerd_config)

    def wait_containerd_config_opened(self):
        self.wait_fd(self.lease['r'], 120, "the daemon's worker opening containerd's configuration")

    def release_containerd_config(self):
        lease, self.lease = getattr(self, 'lease', None), None
        if not lease:
            return
        fcntl.fcntl(lease['fd'], fcntl.F_SETLEASE, fcntl.F_UNLCK)
        os.close(lease['fd'])
        signal.set_wakeup_fd(lease['wakeup'])
        signal.signal(signal.SIGIO, lease['handler'])
        os.close(lease['r'])
        os.close(lease['w'])

    def test_reads_during_install_commit(self):
        reg = self.secure_registry()
        art1, path = self.install_v1(reg)
        # Big enough that the pull is still running when the lease is taken:
        # the checks before the pull read containerd's configuration freely.
        files2 = self.files(2, big=128 << 20)
        art2 = reg.push_artifact(REPO, 'v2', files2)
        start = len(self.signals)
        pending = self.install_async(NAME, reg.ref(REPO, 'v2'), self.options(reg))

        def pull_started():
            return any(p and p[0] == NAME
                       for p in self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'ArtifactsProgress', start))
        self.wait_until(pull_started, 60, 'the pull under way')
        self.hold_containerd_config()
        # The pull is over and the commit runs, held at containerd's
        # configuration until released; the loop answers meanwhile.
        self.wait_containerd_config_opened()
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

        self.release_containerd_config()
        self.wait_reply(pending, timeout=300)
        self.assertNotIn('error', pending, pending.get('error'))
        self.dispatch_pending()
        self.assert_installed(path, art2, files2)
        self.assertEqual(self.staging_dirs(), [])

    def test_reads_during_checks(self):
        # The checks before the pull read containerd's configuration on a
        # worker thread too: held there by the lease, the daemon answers
        # reads, refuses other changes with Busy, and pulls nothing.
        reg = self.secure_registry()
        art = reg.push_artifact(REPO, 'v1', self.files(1))
        start = len(self.signals)
        self.hold_containerd_config()
        pending = self.install_async(NAME, reg.ref(REPO, 'v1'), self.options(reg))
        self.wait_containerd_config_opened()
        self.assert_dbus_error(ERROR + 'Busy', self.remove, NAME)
        self.assert_dbus_error(ERROR + 'Busy', self.set_mode, 'on')
        self.assertEqual(self.manager()['ArtifactsProgress'], ('', 0, 0))
        self.assertFalse(pending['done'], pending)
        self.assertEqual(self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'ArtifactsProgress', start), [],
                         'a pull was started')
        self.assertEqual(self.registry_gets(reg), [])
        self.assertEqual(self.staging_dirs(), [])

        self.release_containerd_config()
        self.wait_reply(pending, timeout=300)
        self.assertNotIn('error', pending, pending.get('error'))
        self.dispatch_pending()
        self.assert_installed(rc_path(NAME), art, self.files(1))

    def test_caller_leaves_during_checks(self):
        # A caller that leaves while the checks before the pull run stops
        # the install there: nothing is pulled, nothing is left.
        reg = self.registry(tls=False)
        reg.push_artifact(REPO, 'v1', self.files(1))
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'bus_client.py')
        start = len(self.signals)
        self.hold_containerd_config()
        client = subprocess.Popen(['/usr/bin/python3', script, MANAGER_PATH, MANAGER_IFACE, 'InstallKataArtifacts',
                                   'ssa{sv}', "('%s', '%s', {'plain-http': GLib.Variant('b', True)})"
                                   % (NAME, reg.ref(REPO, 'v1')), '600'],
                                  env=self.client_env(), stdout=subprocess.DEVNULL)
        self.addCleanup(client.wait)
        self.addCleanup(client.kill)
        self.wait_containerd_config_opened()
        client.kill()
        client.wait()
        # The daemon hears of it while its worker still waits.
        self.wait_log('stopped before its pull: the caller left the bus')
        self.release_containerd_config()
        self.wait_log('Kata artifacts of %s for runtime class %s not installed: the caller left the bus'
                      % (reg.ref(REPO, 'v1'), NAME))
        self.assertEqual(self.prop_changes(MANAGER_PATH, MANAGER_IFACE, 'ArtifactsProgress', start), [],
                         'a pull was started')
        self.assertEqual(self.registry_gets(reg), [])
        self.assertEqual(self.staging_dirs(), [])
        self.assert_dbus_error(ERROR + 'NotFound', self.remove, NAME)

    def test_reads_during_remove(self):
        reg = self.secure_registry()
        art, path = self.install_v1(reg)
        self.hold_containerd_config()
        pending = self.call_async(MANAGER_PATH, MANAGER_IFACE, 'RemoveKataArtifacts', 's', (NAME,))
        self.wait_containerd_config_opened()
        # Busy: the first removal's job holds (its worker waits on the lease).
        self.assert_dbus_error(ERROR + 'Busy', self.remove, NAME)
        self.assertEqual(self.manager()['ArtifactsProgress'], ('', 0, 0))
        self.assertEqual(self.get_all(path, RC_IFACE)['Digest'], art.digest)
        self.assertIn(path, self.managed_objects())
        self.assertFalse(pending['done'], pending)

        start = len(self.signals)
        self.release_containerd_config()
        self.wait_reply(pending, timeout=300)
        self.assertNotIn('error', pending, pending.get('error'))
        self.dispatch_pending()
        self.assertNotIn(path, self.managed_objects())
        self.assertFalse(os.path.exists(os.path.join(self.artifacts, NAME)))
        removed = [s for s in self.signals_named('InterfacesRemoved', start) if s[4][0] == path]
        self.assertEqual(len(removed), 1)

    def test_containerd_config_fifo(self):
        # A FIFO (or a link to one) is refused at once, not waited on.
        reg = self.secure_registry()
        self.install_v1(reg)
        reg.push_artifact(REPO, 'v2', self.files(2))
        saved = os.path.join(self.tmp, 'config.toml.saved')
        os.rename(self.containerd, saved)
        os.mkfifo(self.containerd, 0o640)
        msg = self.assert_refused(ERROR + 'HostNotReady', self.install, NAME, reg.ref(REPO, 'v2'), self.options(reg))
        self.assertIn(self.containerd + ' is not a regular file', msg)
        msg = self.assert_refused(ERROR + 'HostNotReady', self.remove, NAME)
        self.assertIn(self.containerd + ' is not a regular file', msg)
        os.unlink(self.containerd)
        os.rename(saved, self.containerd)

    def test_containerd_config_symlink(self):
        # A symbolic link would be replaced by a regular file, and what it
        # points to never updated: refused, naming its target.
        real = os.path.join(self.tmp, 'etc', 'containerd-real.toml')
        os.rename(self.containerd, real)
        os.symlink(real, self.containerd)
        reg = self.secure_registry()
        reg.push_artifact(REPO, 'v1', self.files(1))
        msg = self.assert_refused(ERROR + 'HostNotReady', self.install, NAME, reg.ref(REPO, 'v1'), self.options(reg))
        self.assertEqual(msg, '%s is a symbolic link to %s; nvidia-ccd edits only regular files: set [Kata] '
                         'ContainerdConfig= to the file itself' % (self.containerd, real))
        self.assertTrue(os.path.islink(self.containerd))
        with open(real, 'rb') as f:
            self.assertEqual(f.read(), self.containerd_original)
        # Named directly, the file itself is edited.
        self.kill_daemon(signal.SIGTERM)
        self.containerd = real
        self.start_daemon(self.config_text())
        self.install(NAME, reg.ref(REPO, 'v1'), self.options(reg))
        self.assert_registered(NAME, os.path.join(self.artifacts, NAME, TOML_TITLE))

    def test_daemon_config_fifo(self):
        # nvidia-ccd.conf as a FIFO: the daemon says so and exits, at once.
        self.kill_daemon(signal.SIGTERM)
        fifo = os.path.join(self.tmp, 'nvidia-ccd.conf')
        os.unlink(fifo)
        os.mkfifo(fifo)
        d = self.start_daemon(config_text=None, wait_ready=False)
        d.expected_exit = True
        self.assertNotEqual(d.wait(30), 0)
        with open(self.daemon_log, errors='replace') as f:
            self.assertIn('%s: not a regular file' % fifo, f.read())

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
