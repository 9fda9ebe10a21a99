# SPDX-License-Identifier: MIT
"""Fetch-level tests: pulls through the library and nvidia-ccd-fetch (by
way of oci-pull-tool) from a real docker-registry on loopback."""

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from registry import Registry, sha256_digest  # noqa: E402

TOOL = os.environ.get("OCI_PULL_TOOL")
FETCH = os.environ.get("NVIDIA_CCD_FETCH")

KATA_TOML = b"""# Kata Containers configuration for NVIDIA GPUs with SEV-SNP
[hypervisor.qemu]
path = "/opt/kata/bin/qemu-system-x86_64"
kernel = "/opt/kata/share/kata-containers/vmlinuz.container"
initrd = "/opt/kata/share/kata-containers/kata-containers-initrd.img"
# image = "/opt/kata/share/kata-containers/kata-containers.img"
firmware = "/opt/kata/share/ovmf/AMDSEV.fd"
kernel_params = "nvrc.smi.srs=1"

[agent.kata]
dial_timeout = 90

[runtime]
internetworking_model = "tcfilter"
"""


def artifact_files(big=0):
    files = [
        ("configuration-qemu-nvidia-gpu-snp.toml", KATA_TOML),
        ("vmlinuz", os.urandom(512 * 1024)),
        ("initrd.img", os.urandom(2 * 1024 * 1024)),
        ("dpkg.sbom.list", b"ii  nvidia-driver 550.90.07 amd64\n"),
    ]
    if big:
        files.append(("rootfs.img", os.urandom(big)))
    return files


class FetchTest(unittest.TestCase):
    def setUp(self):
        if not TOOL or not FETCH:
            self.fail("OCI_PULL_TOOL and NVIDIA_CCD_FETCH must name the built programs")
        self.workdir = tempfile.mkdtemp(prefix="nvidia-ccd-fetch-test-")
        self.out = os.path.join(self.workdir, "out")
        os.mkdir(self.out)
        self.registries = []

    def tearDown(self):
        for r in self.registries:
            r.stop()
        if self.failed_reason():
            for r in self.registries:
                sys.stderr.write(f"--- {r.log_path}\n{r.log()[-4000:]}\n")
        shutil.rmtree(self.workdir, ignore_errors=True)

    def failed_reason(self):
        outcome = getattr(self, "_outcome", None)
        return outcome is not None and not getattr(outcome, "success", True)

    def registry(self, **kw):
        d = tempfile.mkdtemp(dir=self.workdir, prefix="registry-")
        reg = Registry(d, **kw)
        self.registries.append(reg)
        reg.start()
        return reg

    def args(self, reference, reg=None, pull_secret=None, plain_http=False, extra=()):
        a = [TOOL, "--helper", FETCH, "--reference", reference, "--output-dir", self.out]
        if reg is not None and reg.tls:
            a += ["--ca-file", reg.ca_file]
        if pull_secret:
            a += ["--pull-secret", pull_secret]
        if plain_http:
            a.append("--plain-http")
        return a + list(extra)

    def pull(self, *args, **kw):
        p = subprocess.run(self.args(*args, **kw), capture_output=True, text=True, timeout=120)
        lines = p.stdout.splitlines()
        self.assertTrue(lines, f"no output; stderr: {p.stderr}")
        outcome = json.loads(lines[-1])
        progress = [tuple(int(x) for x in l.split()[1:]) for l in lines[:-1] if l.startswith("progress ")]
        if "result" in outcome:
            self.assertEqual(p.returncode, 0, p.stderr)
        else:
            self.assertEqual(p.returncode, 1, p.stderr)
        return outcome, progress

    def assert_pulled(self, outcome, artifact):
        self.assertIn("result", outcome, outcome)
        res = outcome["result"]
        self.assertEqual([(l["digest"], l["size"], l["title"]) for l in res["layers"]],
                         [(l["digest"], l["size"], l["title"]) for l in artifact.layers])
        for l in res["layers"]:
            self.assertEqual(l["path"], os.path.join(self.out, l["digest"].split(":")[1]))
            with open(l["path"], "rb") as f:
                self.assertEqual(sha256_digest(f.read()), l["digest"])
        # Only the verified files: no temporaries left behind.
        self.assertEqual(sorted(os.listdir(self.out)),
                         sorted({l["digest"].split(":")[1] for l in artifact.layers}))
        return res

    def assert_error(self, outcome, kind, *words):
        self.assertIn("error", outcome, outcome)
        self.assertEqual(outcome["error"]["kind"], kind, outcome)
        for w in words:
            self.assertIn(w, outcome["error"]["message"])
        return outcome["error"]["message"]

    # ------------------------------------------------------------------ cases

    def test_tls_basic_auth(self):
        reg = self.registry(tls=True, auth="htpasswd")
        art = reg.push_artifact("nvidia/kata-artifacts", "v1", artifact_files())
        secret = reg.write_docker_config(os.path.join(self.workdir, "config.json"))
        outcome, progress = self.pull(reg.ref("nvidia/kata-artifacts", "v1"), reg, pull_secret=secret)
        res = self.assert_pulled(outcome, art)
        self.assertEqual(res["manifest"], art.digest)
        total = sum(l["size"] for l in art.layers)
        self.assertTrue(progress, "no progress reported")
        self.assertEqual(progress[-1], (total, total))
        self.assertTrue(all(d <= t for d, t in progress))

    def test_tls_basic_auth_username_password(self):
        reg = self.registry(tls=True, auth="htpasswd")
        art = reg.push_artifact("kata", "v1", artifact_files())
        secret = reg.write_docker_config(os.path.join(self.workdir, "config.json"), style="fields",
                                         authority="https://" + reg.authority + "/v1/")
        outcome, _ = self.pull(reg.ref("kata", "v1"), reg, pull_secret=secret)
        self.assert_pulled(outcome, art)

    def test_plain_http_loopback(self):
        reg = self.registry(tls=False)
        art = reg.push_artifact("kata/artifacts", "latest", artifact_files(), docker=True)
        outcome, _ = self.pull(f"{reg.authority}/kata/artifacts", plain_http=True)
        self.assert_pulled(outcome, art)
        # "localhost" is pinned to 127.0.0.1.
        shutil.rmtree(self.out)
        os.mkdir(self.out)
        outcome, _ = self.pull(f"localhost:{reg.port}/kata/artifacts:latest", plain_http=True)
        self.assert_pulled(outcome, art)

    def test_plain_http_refused_for_remote_host(self):
        # A listener where the reference points: it must see no connection.
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        port = lst.getsockname()[1]
        try:
            for ref in (f"registry.example.com:{port}/kata:v1", f"10.0.0.1:{port}/kata:v1",
                        f"127.0.0.1.example.com:{port}/kata:v1"):
                outcome, _ = self.pull(ref, plain_http=True)
                self.assert_error(outcome, "InvalidArgument", "plain HTTP", "loopback")
            r, _, _ = select.select([lst], [], [], 0)
            self.assertEqual(r, [], "a connection was made")
        finally:
            lst.close()
        self.assertEqual(os.listdir(self.out), [])

    def test_wrong_password(self):
        reg = self.registry(tls=True, auth="htpasswd")
        reg.push_artifact("kata", "v1", artifact_files())
        secret = reg.write_docker_config(os.path.join(self.workdir, "config.json"),
                                         user="puller", password="not-the-password")
        outcome, _ = self.pull(reg.ref("kata", "v1"), reg, pull_secret=secret)
        msg = self.assert_error(outcome, "RegistryError", reg.authority, "refused", "puller", "password")
        self.assertNotIn("not-the-password", msg)
        self.assertEqual(os.listdir(self.out), [])

    def test_missing_pull_secret(self):
        reg = self.registry(tls=True, auth="htpasswd")
        reg.push_artifact("kata", "v1", artifact_files())
        outcome, _ = self.pull(reg.ref("kata", "v1"), reg)
        self.assert_error(outcome, "RegistryError", reg.authority, "no pull secret was given")
        # A pull secret for another registry.
        secret = reg.write_docker_config(os.path.join(self.workdir, "config.json"), authority="other:5000")
        outcome, _ = self.pull(reg.ref("kata", "v1"), reg, pull_secret=secret)
        self.assert_error(outcome, "RegistryError", "the pull secret has no entry for it")
        self.assertEqual(os.listdir(self.out), [])

    def test_untrusted_certificate(self):
        reg = self.registry(tls=True)
        reg.push_artifact("kata", "v1", artifact_files())
        outcome, _ = self.pull(reg.ref("kata", "v1"))     # the system store only
        self.assert_error(outcome, "RegistryError", "certificate")

    def test_tampered_blob(self):
        reg = self.registry(tls=True)
        art = reg.push_artifact("kata", "v1", artifact_files())
        victim = art.layers[2]
        reg.tamper_blob(victim["digest"])
        outcome, _ = self.pull(reg.ref("kata", "v1"), reg)
        self.assert_error(outcome, "DigestMismatch", "layer 3", '"initrd.img"', victim["digest"])
        # Nothing for it, and nothing else either: no file is claimed verified.
        self.assertEqual(os.listdir(self.out), [])

    def test_pinned_digest_mismatch(self):
        reg = self.registry(tls=False)
        a1 = reg.push_artifact("kata", "v1", artifact_files())
        reg.push_artifact("kata", "v2", artifact_files())
        # Right manifest by digest: fine.
        outcome, _ = self.pull(reg.ref("kata", a1.digest), plain_http=True)
        self.assert_pulled(outcome, a1)
        shutil.rmtree(self.out)
        os.mkdir(self.out)
        # The tag now names other content than the pinned digest.
        wrong = "sha256:" + "0" * 64
        outcome, _ = self.pull(f"{reg.authority}/kata:v2@{a1.digest}", plain_http=True)
        self.assert_pulled(outcome, a1)    # by digest, the tag is informative only
        shutil.rmtree(self.out)
        os.mkdir(self.out)
        # Unknown digest.
        outcome, _ = self.pull(f"{reg.authority}/kata@{wrong}", plain_http=True)
        self.assert_error(outcome, "RegistryError", "not found")
        # A registry that answers with other bytes than the pinned digest's.
        reg.tamper_manifest(a1.digest, b"2024-01-01", b"2024-01-02")
        outcome, _ = self.pull(reg.ref("kata", a1.digest), plain_http=True)
        self.assert_error(outcome, "DigestMismatch", a1.digest, "pinned")
        self.assertEqual(os.listdir(self.out), [])

    def test_index_selects_linux_amd64(self):
        reg = self.registry(tls=True)
        arm = reg.push_artifact("kata", "arm64", [("vmlinuz", b"arm kernel")])
        amd = reg.push_artifact("kata", "amd64", artifact_files())
        index = reg.push_index("kata", "multi", [
            (arm, {"os": "linux", "architecture": "arm64"}),
            (amd, {"os": "linux", "architecture": "amd64"}),
        ])
        outcome, _ = self.pull(reg.ref("kata", "multi"), reg)
        res = self.assert_pulled(outcome, amd)
        self.assertEqual(res["manifest"], index)
        shutil.rmtree(self.out)
        os.mkdir(self.out)
        reg.push_index("kata", "armonly", [(arm, {"os": "linux", "architecture": "arm64"})])
        outcome, _ = self.pull(reg.ref("kata", "armonly"), reg)
        self.assert_error(outcome, "RegistryError", "linux/amd64", "linux/arm64")

    def test_registry_killed_mid_pull(self):
        reg = self.registry(tls=False)
        reg.push_artifact("kata", "big", artifact_files(big=256 * 1024 * 1024))
        proc = subprocess.Popen(self.args(reg.ref("kata", "big"), plain_http=True),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        killed = False
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("progress ") and not killed:
                reg.kill()     # the manifest is in, the layers are coming
                killed = True
        proc.wait(120)
        proc.stdout.close()
        proc.stderr.close()
        self.assertTrue(killed, lines)
        outcome = json.loads(lines[-1])
        self.assertEqual(proc.returncode, 1, lines)
        self.assert_error(outcome, "RegistryError", reg.authority)
        self.assertEqual(os.listdir(self.out), [])

    def test_bearer_token(self):
        reg = self.registry(tls=True, auth="token")
        art = reg.push_artifact("nvidia/kata", "v1", artifact_files())
        secret = reg.write_docker_config(os.path.join(self.workdir, "config.json"))
        outcome, _ = self.pull(reg.ref("nvidia/kata", "v1"), reg, pull_secret=secret)
        self.assert_pulled(outcome, art)
        who, query = reg.token_server.requests[-1]
        self.assertEqual(who, "puller")
        self.assertEqual(query["scope"], ["repository:nvidia/kata:pull"])
        self.assertEqual(query["service"], ["nvidia-ccd-test-registry"])
        # A wrong password at the token service.
        shutil.rmtree(self.out)
        os.mkdir(self.out)
        secret = reg.write_docker_config(os.path.join(self.workdir, "bad.json"), user="puller", password="x")
        outcome, _ = self.pull(reg.ref("nvidia/kata", "v1"), reg, pull_secret=secret)
        self.assert_error(outcome, "RegistryError", "token service", "refused")

    def test_bearer_token_anonymous(self):
        reg = self.registry(tls=True, auth="token", anonymous_pull=True)
        art = reg.push_artifact("public/kata", "v1", artifact_files())
        outcome, _ = self.pull(reg.ref("public/kata", "v1"), reg)
        self.assert_pulled(outcome, art)
        self.assertEqual(reg.token_server.requests[-1][0], "anonymous")

    def test_size_limit(self):
        reg = self.registry(tls=False)
        art = reg.push_artifact("kata", "v1", artifact_files())
        total = sum(l["size"] for l in art.layers)
        outcome, _ = self.pull(reg.ref("kata", "v1"), plain_http=True,
                               extra=["--max-total-bytes", str(total - 1)])
        self.assert_error(outcome, "RegistryError", "more than the limit")
        self.assertEqual(os.listdir(self.out), [])

    def test_bad_reference(self):
        for ref in ("kata:v1", "127.0.0.1:5000/Kata:v1", "127.0.0.1:99999/kata", "127.0.0.1/kata@sha256:abc",
                    "127.0.0.1/kata:-v1", "127.0.0.1//kata", ""):
            outcome, _ = self.pull(ref, plain_http=True)
            self.assert_error(outcome, "InvalidArgument", "reference")

    def serve(self, status, body):
        """A stand-in registry on loopback that answers every GET with
        status and body (JSON); returns its authority."""
        import http.server

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return "127.0.0.1:%d" % server.server_address[1]

    def test_error_text_cut_in_utf8(self):
        # The registry's message is cut at a byte count, here in the middle
        # of a three-byte character: it still reaches the caller, escaped,
        # not as an unreadable report.
        authority = self.serve(404, {"errors": [{"code": "NAME_UNKNOWN", "message": "\u20ac" * 200}]})
        outcome, _ = self.pull(authority + "/kata:v1", plain_http=True)
        message = self.assert_error(outcome, "RegistryError", "is not an OCI registry", "HTTP 404 (NAME_UNKNOWN: ")
        self.assertIn("\u20ac" * 10, message)
        self.assertRegex(message, r"\\xe2(\\x82)?\)$")

    def test_error_text_with_terminal_escapes(self):
        authority = self.serve(404, {"errors": [{"code": "X\u001b]0;owned\u0007", "message": "\u001b[2J"}]})
        outcome, _ = self.pull(authority + "/kata:v1", plain_http=True)
        message = self.assert_error(outcome, "RegistryError", "HTTP 404 (X\\x1b]0;owned\\x07: \\x1b[2J)")
        self.assertNotIn("\x1b", message)


if __name__ == "__main__":
    unittest.main()
