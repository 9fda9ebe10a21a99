# SPDX-License-Identifier: MIT
"""A real docker-registry on loopback for the tests: TLS with a CA and a
server certificate made by the openssl CLI, htpasswd Basic auth, Bearer
token auth, or plain HTTP; artifacts pushed through the HTTP API the way
ORAS pushes them (one layer per file, titled); and ways to break it (tamper
with a blob on disk, kill it mid-pull).

    with Registry(workdir, tls=True, auth="htpasswd") as reg:
        art = reg.push_artifact("kata/artifacts", "v1", [("vmlinuz", b"...")])
        pull_secret = reg.write_docker_config(path)

Readiness is the registry's own "listening on ADDRESS" log line, which it
prints once its socket listens; the port is chosen by the kernel (":0") and
read from that line.
"""

import base64
import hashlib
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
TITLE = "org.opencontainers.image.title"
# What `oras push --artifact-type` gives; ORAS 1.1 and later.
DEFAULT_ARTIFACT_TYPE = "application/vnd.nvidia.kata.artifacts.v1"

READY_TIMEOUT = 30


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _run(args, **kw):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def make_ca_and_server_cert(directory, names=("127.0.0.1", "localhost")):
    """A CA and a server certificate it signed for the names (IP addresses
    and DNS names), with the openssl CLI.  Returns (ca.pem, cert, key)."""
    os.makedirs(directory, exist_ok=True)
    ca_key = os.path.join(directory, "ca.key")
    ca = os.path.join(directory, "ca.pem")
    key = os.path.join(directory, "server.key")
    csr = os.path.join(directory, "server.csr")
    cert = os.path.join(directory, "server.pem")
    ext = os.path.join(directory, "server.ext")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _run(["openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
          "-subj", "/CN=nvidia-ccd test CA",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    _run(["openssl", "req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"])
    alt = ",".join(("IP:" if re.fullmatch(r"[0-9.]+|[0-9a-f:]+", n) else "DNS:") + n for n in names)
    with open(ext, "w") as f:
        f.write(f"subjectAltName={alt}\nextendedKeyUsage=serverAuth\n"
                "keyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n")
    _run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
          "-out", cert, "-days", "2", "-extfile", ext])
    return ca, cert, key


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """A token service for the registry's `auth: token`: checks Basic
    credentials (or lets anonymous pulls through when allowed) and issues a
    JWT signed RS256 with a key made by openssl, its certificate in the
    x5c header and in the registry's rootcertbundle."""

    def __init__(self, directory, users, cert, key, service, issuer, anonymous_pull=False):
        self.directory = directory
        self.users = dict(users)
        self.service = service
        self.issuer = issuer
        self.anonymous_pull = anonymous_pull
        self.signing_key = os.path.join(directory, "token.key")
        self.signing_cert = os.path.join(directory, "token.pem")
        _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
              "-keyout", self.signing_key, "-out", self.signing_cert, "-days", "2",
              "-subj", "/CN=nvidia-ccd test token issuer"])
        der = subprocess.run(["openssl", "x509", "-in", self.signing_cert, "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self._x5c = base64.b64encode(der).decode()
        self.requests = []

        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server._handle(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.realm = f"https://127.0.0.1:{self.port}/token"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def token(self, subject, access):
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service, "exp": now + 600,
                  "nbf": now - 60, "iat": now, "jti": secrets.token_hex(8), "access": access}
        signing_input = (_b64url(json.dumps(header).encode()) + "." +
                         _b64url(json.dumps(claims).encode())).encode()
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.signing_key],
                             input=signing_input, check=True, capture_output=True).stdout
        return signing_input.decode() + "." + _b64url(sig)

    def _handle(self, h):
        url = urllib.parse.urlparse(h.path)
        q = urllib.parse.parse_qs(url.query)
        user = None
        auth = h.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                u, p = None, None
            if self.users.get(u) != p:
                self.requests.append(("denied", q))
                h.send_response(401)
                h.send_header("Content-Type", "application/json")
                h.end_headers()
                h.wfile.write(b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}')
                return
            user = u
        elif not self.anonymous_pull:
            self.requests.append(("anonymous-denied", q))
            h.send_response(401)
            h.end_headers()
            return
        access = []
        for scope in q.get("scope", []):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = actions.split(",")
            allowed = [a for a in wanted if a == "pull" or (user and a == "push")]
            access.append({"type": kind, "name": name, "actions": allowed})
        self.requests.append((user or "anonymous", q))
        body = json.dumps({"token": self.token(user or "", access), "expires_in": 600}).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Artifact:
    def __init__(self, repository, reference, digest, manifest, layers, media_type):
        self.repository = repository
        self.reference = reference      # tag or digest it was pushed under
        self.digest = digest            # of the manifest
        self.manifest = manifest        # bytes
        self.layers = layers            # [{"digest", "size", "title", "media_type"}]
        self.media_type = media_type


class Registry:
    """docker-registry serve on 127.0.0.1, port chosen by the kernel.

    tls: serve HTTPS with a certificate signed by self.ca_file.
    auth: None, "htpasswd" (Basic, needs tls) or "token" (Bearer from a
    TokenServer; anonymous pulls allowed when anonymous_pull)."""

    def __init__(self, workdir, tls=True, auth=None, users=None, anonymous_pull=False):
        self.workdir = os.path.abspath(workdir)
        self.tls = tls
        self.auth = auth
        self.users = users if users is not None else {"puller": "s3cret-Pa55"}
        self.anonymous_pull = anonymous_pull
        self.data_dir = os.path.join(self.workdir, "data")
        self.log_path = os.path.join(self.workdir, "registry.log")
        self.ca_file = self.cert = self.key = None
        self.token_server = None
        self.proc = None
        self.port = None
        self._log_thread = None
        os.makedirs(self.data_dir, exist_ok=True)

    # ---------------------------------------------------------- lifecycle

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def authority(self):
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self):
        return f"{'https' if self.tls else 'http'}://{self.authority}"

    def ref(self, repository, tag_or_digest):
        sep = "@" if tag_or_digest.startswith("sha256:") else ":"
        return f"{self.authority}/{repository}{sep}{tag_or_digest}"

    def _config(self):
        lines = [
            "version: 0.1",
            "log:",
            "  level: info",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.data_dir}",
            "  delete:",
            "    enabled: true",
            "  maintenance:",
            "    uploadpurging:",
            "      enabled: false",
            "http:",
            "  addr: 127.0.0.1:0",
            f"  secret: {secrets.token_hex(16)}",
        ]
        if self.tls:
            lines += ["  tls:", f"    certificate: {self.cert}", f"    key: {self.key}"]
        if self.auth == "htpasswd":
            htpasswd = os.path.join(self.workdir, "htpasswd")
            first = True
            for user, password in self.users.items():
                _run(["htpasswd", "-B", "-b"] + (["-c"] if first else []) + [htpasswd, user, password])
                first = False
            lines += ["auth:", "  htpasswd:", "    realm: nvidia-ccd-test", f"    path: {htpasswd}"]
        elif self.auth == "token":
            ts = self.token_server
            lines += ["auth:", "  token:", f"    realm: {ts.realm}", f"    service: {ts.service}",
                      f"    issuer: {ts.issuer}", f"    rootcertbundle: {ts.signing_cert}"]
        elif self.auth is not None:
            raise ValueError(f"unknown auth {self.auth!r}")
        return "\n".join(lines) + "\n"

    def start(self):
        if self.tls or self.auth == "token":
            self.ca_file, self.cert, self.key = make_ca_and_server_cert(os.path.join(self.workdir, "pki"))
        if self.auth == "token":
            self.token_server = TokenServer(os.path.join(self.workdir, "pki"), self.users, self.cert,
                                            self.key, service="nvidia-ccd-test-registry",
                                            issuer="nvidia-ccd-test-issuer",
                                            anonymous_pull=self.anonymous_pull)
        config = os.path.join(self.workdir, "config.yml")
        with open(config, "w") as f:
            f.write(self._config())
        self._start_process(config)

    def _start_process(self, config):
        self.proc = subprocess.Popen(["docker-registry", "serve", config], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        ready = threading.Event()
        log = open(self.log_path, "a")

        def pump():
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                m = re.search(r'msg="listening on ([0-9.]+):([0-9]+)[,"]', line)
                if m and not ready.is_set():
                    self.port = int(m.group(2))
                    ready.set()
            log.close()
            ready.set()

        self._log_thread = threading.Thread(target=pump, daemon=True)
        self._log_thread.start()
        # The line comes once the socket listens, or the pipe ends when it dies.
        if not ready.wait(READY_TIMEOUT) or self.port is None:
            self.stop()
            raise RuntimeError(f"docker-registry did not start; see {self.log_path}:\n" + self.log())

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def kill(self):
        """SIGKILL, and wait until it is gone: a registry that dies."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            if self._log_thread:
                self._log_thread.join(5)
            self.proc.stdout.close()
            self.proc = None
        if self.token_server:
            self.token_server.close()
            self.token_server = None

    # ---------------------------------------------------------- client side

    def docker_config(self, user=None, password=None, style="auth", authority=None):
        """A docker config JSON (the .dockerconfigjson of a pull secret)."""
        if user is None:
            user, password = next(iter(self.users.items()))
        key = authority or self.authority
        if style == "auth":
            entry = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
        else:
            entry = {"username": user, "password": password}
        return json.dumps({"auths": {key: entry}})

    def write_docker_config(self, path, **kw):
        with open(path, "w") as f:
            f.write(self.docker_config(**kw))
        os.chmod(path, 0o600)
        return path

    def _ssl_context(self):
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=self.ca_file)

    def _authorization(self, repository):
        user, password = next(iter(self.users.items()))
        if self.auth == "htpasswd":
            return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if self.auth == "token":
            access = [{"type": "repository", "name": repository, "actions": ["pull", "push"]}]
            return "Bearer " + self.token_server.token(user, access)
        return None

    def request(self, method, path, data=None, headers=None, repository=None, length=None):
        url = path if path.startswith("http") else self.base_url + path
        req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
        auth = self._authorization(repository) if repository else None
        if auth:
            req.add_header("Authorization", auth)
        if length is not None:
            req.add_header("Content-Length", str(length))
        with urllib.request.urlopen(req, context=self._ssl_context(), timeout=120) as resp:
            return resp.status, dict(resp.headers), resp.read()

    def push_blob(self, repository, data=None, path=None):
        """Pushes bytes (or a file, streamed) in one PUT; returns the digest."""
        if path is not None:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            digest, size = "sha256:" + h.hexdigest(), os.path.getsize(path)
        else:
            digest, size = sha256_digest(data), len(data)
        try:
            status, _, _ = self.request("HEAD", f"/v2/{repository}/blobs/{digest}", repository=repository)
            if status == 200:
                return digest, size
        except urllib.error.HTTPError:
            pass
        _, headers, _ = self.request("POST", f"/v2/{repository}/blobs/uploads/", data=b"",
                                     repository=repository)
        location = headers["Location"]
        if location.startswith("/"):
            location = self.base_url + location
        sep = "&" if "?" in location else "?"
        url = location + sep + "digest=" + urllib.parse.quote(digest)
        hdrs = {"Content-Type": "application/octet-stream"}
        if path is not None:
            with open(path, "rb") as f:
                self.request("PUT", url, data=f, headers=hdrs, repository=repository, length=size)
        else:
            self.request("PUT", url, data=data, headers=hdrs, repository=repository)
        return digest, size

    def push_manifest(self, repository, reference, body, media_type):
        self.request("PUT", f"/v2/{repository}/manifests/{reference}", data=body,
                     headers={"Content-Type": media_type}, repository=repository)
        return sha256_digest(body)

    def push_artifact(self, repository, tag, files, artifact_type=DEFAULT_ARTIFACT_TYPE,
                      layer_media_type=OCI_LAYER, docker=False):
        """Pushes files as ORAS does: one layer per file, titled with the
        org.opencontainers.image.title annotation, the empty config, and the
        artifact type.  files: [(title or None, bytes | {"path": FILE})].
        Returns an Artifact."""
        layers = []
        for title, content in files:
            if isinstance(content, dict):
                digest, size = self.push_blob(repository, path=content["path"])
            else:
                digest, size = self.push_blob(repository, data=content)
            d = {"mediaType": layer_media_type, "digest": digest, "size": size}
            if title is not None:
                d["annotations"] = {TITLE: title}
            layers.append(d)
        config_digest, config_size = self.push_blob(repository, data=b"{}")
        if docker:
            manifest = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                   "digest": config_digest, "size": config_size},
                        "layers": layers}
            media_type = DOCKER_MANIFEST
        else:
            manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
                        "config": {"mediaType": OCI_EMPTY, "digest": config_digest, "size": config_size},
                        "layers": layers,
                        "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}}
            media_type = OCI_MANIFEST
        body = json.dumps(manifest, indent=2).encode()
        digest = self.push_manifest(repository, tag, body, media_type)
        return Artifact(repository, tag, digest, body,
                        [{"digest": l["digest"], "size": l["size"], "media_type": l["mediaType"],
                          "title": l.get("annotations", {}).get(TITLE)} for l in layers],
                        media_type)

    def push_index(self, repository, tag, entries):
        """An OCI index; entries: [(Artifact, {"os": .., "architecture": ..})]."""
        manifests = [{"mediaType": a.media_type, "digest": a.digest, "size": len(a.manifest),
                      "platform": platform} for a, platform in entries]
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}).encode()
        return self.push_manifest(repository, tag, body, OCI_INDEX)

    # ---------------------------------------------------------- breaking it

    def blob_path(self, digest):
        hexd = digest.split(":", 1)[1]
        return os.path.join(self.data_dir, "docker/registry/v2/blobs/sha256", hexd[:2], hexd, "data")

    def tamper_blob(self, digest):
        """Flips a byte of the stored blob; the size stays, the digest does not."""
        path = self.blob_path(digest)
        with open(path, "r+b") as f:
            b = f.read(1)
            f.seek(0)
            f.write(bytes([(b[0] if b else 0) ^ 0xFF]))

    def tamper_manifest(self, digest, old, new):
        """Rewrites bytes of a stored manifest (same length, still JSON):
        the registry then serves content that is not what the digest says."""
        assert len(old) == len(new)
        path = self.blob_path(digest)
        with open(path, "rb") as f:
            data = f.read()
        assert old in data
        with open(path, "wb") as f:
            f.write(data.replace(old, new, 1))


def which(program):
    return shutil.which(program) is not None
