"""`kurultai serve --tls-cert/--tls-key` serves HTTPS with Secure cookies, and its structured
logs never contain passwords, tokens or invitation secrets (issue #7)."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

from kurultai.logs import JsonFormatter, redact
from tests.api.conftest import free_port
from tests.nginx import self_signed


def test_redact_removes_secrets() -> None:
    line = 'GET /invite/abcDEF123_- HTTP/1.1 Authorization: Bearer tok.en-123 Cookie: kurultai_session=s3cret; x=1 {"password": "hunter22"} token=zzz'
    out = redact(line)
    for secret in ("abcDEF123_-", "tok.en-123", "s3cret", "hunter22", "zzz"):
        assert secret not in out
    assert out.count("[redacted]") == 5


def test_json_formatter_lines() -> None:
    import logging

    record = logging.LogRecord("kurultai", logging.INFO, __file__, 1, "login with password=%s", ("pw123",), None)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "info" and entry["logger"] == "kurultai" and "pw123" not in entry["message"]


def test_tls_serve_secure_cookies_and_clean_logs(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    env = {**os.environ, "KURULTAI_DATA_DIR": str(tmp_path / "data"), "KURULTAI_PORT": str(port)}
    env.pop("KURULTAI_DATABASE_URL", None)
    env.pop("KURULTAI_COOKIE_SECURE", None)
    cli = [sys.executable, "-m", "kurultai.cli"]
    demo = json.loads(subprocess.run([*cli, "demo", "--json", "--delegates", "1"], env=env, capture_output=True, text=True, check=True).stdout)
    invite_url = subprocess.run([*cli, "invite", "newcomer", "--assembly", str(demo["assembly"])], env=env, capture_output=True, text=True, check=True).stdout.strip()
    invite_token = invite_url.rsplit("/", 1)[1]
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([*cli, "serve", "--tls-cert", str(cert), "--tls-key", str(key)], env=env, stdout=log, stderr=log)
        try:
            url = f"https://127.0.0.1:{port}"
            with httpx.Client(verify=ssl.create_default_context(cafile=str(cert)), timeout=10) as client:
                for _ in range(150):
                    try:
                        if client.get(f"{url}/api/health").status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.2)
                else:
                    raise AssertionError(log_path.read_text())
                mod = demo["moderator"]
                token = client.post(f"{url}/api/auth/token", json=mod).json()["token"]
                assert client.get(f"{url}/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
                assert client.get(f"{url}/invite/{invite_token}").status_code == 200
                page = client.get(f"{url}/login")
                assert page.status_code == 200
                csrf = client.cookies.get("kurultai_csrf")
                r = client.post(f"{url}/login", data={"username": mod["username"], "password": mod["password"], "csrf_token": csrf, "next": "/"}, follow_redirects=False)
                assert r.status_code == 303
                cookie = r.headers["set-cookie"]
                assert "kurultai_session=" in cookie and "Secure" in cookie and "HttpOnly" in cookie
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    text = log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert any(entry["logger"] == "uvicorn.access" for entry in lines), text[:2000]
    for secret in (mod["password"], token, invite_token):
        assert secret not in text
