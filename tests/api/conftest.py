"""A real `kurultai serve` process on the test's database, and helpers to drive it and its CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kurultai.settings import Settings
from tests.serving import wait_healthy

KURULTAI = [sys.executable, "-m", "kurultai.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(env: dict[str, str], *args: str, check: bool = True, password: str | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**env, **({"KURULTAI_PASSWORD": password} if password else {})}
    proc = subprocess.run([*KURULTAI, *args], env=full_env, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"kurultai {' '.join(args)} exited {proc.returncode}: {proc.stdout} {proc.stderr}")
    return proc


def api(url: str, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
    r = httpx.request(method, f"{url}{path}", json=body, headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=30)
    assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
    return r.json() if r.content else None


@pytest.fixture
def server_env() -> dict[str, str]:
    """Extra environment for the server and the CLI (a test module may override this fixture)."""
    return {}


@pytest.fixture
def server(settings: Settings, tmp_path: Path, server_env: dict[str, str]) -> Iterator[tuple[str, dict[str, str]]]:
    """(base URL, environment for `run`) of a `kurultai serve` process on the test's database."""
    if settings.uses_postgres:
        import asyncio

        from tests.conftest import reset_postgres

        assert settings.database_url
        asyncio.run(reset_postgres(settings.database_url))
    port = free_port()
    env = {**os.environ, "KURULTAI_DATA_DIR": str(settings.data_dir), "KURULTAI_PORT": str(port), **server_env}
    if settings.database_url:
        env["KURULTAI_DATABASE_URL"] = settings.database_url
    env.pop("KURULTAI_REDIS_URL", None)
    run(env, "migrate")
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([*KURULTAI, "serve"], env=env, stdout=log, stderr=log, text=True)
    url = f"http://127.0.0.1:{port}"
    if not wait_healthy(url, proc):
        proc.kill()
        proc.wait()
        log.close()
        raise AssertionError(f"server did not start: {(tmp_path / 'server.log').read_text()}")
    try:
        yield url, env
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
