"""nginx configured exactly as docs/operations.md shows ("Behind nginx"), for tests and benchmarks.

The configuration is read from the document, not copied: the first ```nginx block. Only what
must differ on a test machine is replaced: the ports, the certificate (a self-signed one made
here) and the upstream's port. The rest, every `proxy_set_header` included, is the document's.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "operations.md"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def documented_config() -> str:
    m = re.search(r"```nginx\n(.*?)```", DOCS.read_text(), re.S)
    assert m, "docs/operations.md has no nginx block"
    return m.group(1)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Nginx:
    """`with Nginx(directory, upstream_port) as proxy:` serves `proxy.url` (https) in front of
    http://127.0.0.1:upstream_port; `proxy.verify()` verifies it."""

    def __init__(self, directory: Path, upstream_port: int, *, workers: int = 1) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cert, self.key = self_signed(self.dir)
        self.port = _free_port()
        self.plain_port = _free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        server = documented_config()
        replaced = {
            r"listen 443 ssl( http2)?;": f"listen 127.0.0.1:{self.port} ssl http2;",
            r"listen 80;": f"listen 127.0.0.1:{self.plain_port};",
            r"ssl_certificate\s+\S+;": f"ssl_certificate {self.cert};",
            r"ssl_certificate_key\s+\S+;": f"ssl_certificate_key {self.key};",
            r"server 127\.0\.0\.1:8000;": f"server 127.0.0.1:{upstream_port};",
        }
        for pattern, value in replaced.items():
            server, n = re.subn(pattern, value, server)
            assert n == 1, f"docs/operations.md's nginx block: {pattern!r} found {n} times"
        temp = self.dir / "temp"
        temp.mkdir(exist_ok=True)
        self.config = self.dir / "nginx.conf"
        self.config.write_text(
            f"worker_processes {workers};\n"
            f"pid {self.dir / 'nginx.pid'};\n"
            f"error_log {self.dir / 'error.log'} warn;\n"
            "daemon off;\n"
            "events { worker_connections 16384; }\n"
            "http {\n"
            "  access_log off;\n" + "".join(f"  {kind}_temp_path {temp / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")) + server + "}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def verify(self) -> ssl.SSLContext:
        """What an HTTPS client verifies the proxy with (`httpx.AsyncClient(verify=...)`)."""
        return ssl.create_default_context(cafile=str(self.cert))

    def __enter__(self) -> Nginx:
        check = subprocess.run([NGINX, "-t", "-c", str(self.config), "-p", str(self.dir)], capture_output=True, text=True)
        assert check.returncode == 0, f"nginx -t: {check.stderr}"
        self.proc = subprocess.Popen([NGINX, "-c", str(self.config), "-p", str(self.dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.__exit__()
        raise AssertionError(f"nginx did not start: {(self.dir / 'error.log').read_text() if (self.dir / 'error.log').exists() else ''}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
