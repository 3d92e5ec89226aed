"""`kurultai serve --uds` behind nginx, as docs/operations.md documents it ("Behind nginx"): the
server on a Unix socket, nginx in front (TLS), the client's forwarded address and scheme
believed from the socket's peers; a socket left by a killed server taken over, a live one refused."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from kurultai.settings import Settings
from tests.api.conftest import KURULTAI, run
from tests.nginx import Nginx, socket_dir
from tests.serving import wait_healthy


@pytest.fixture
def sock(tmp_path: Path) -> Iterator[Path]:
    directory = socket_dir()
    try:
        yield directory / "kurultai.sock"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def serve(env: dict[str, str], uds: Path, log: Path) -> subprocess.Popen[str]:
    with log.open("a") as out:
        proc = subprocess.Popen([*KURULTAI, "serve", "--uds", str(uds)], env=env, stdout=out, stderr=out, text=True)
    if not wait_healthy("http://kurultai", proc, uds=str(uds)):
        proc.kill()
        proc.wait()
        raise AssertionError(f"server did not start: {log.read_text()}")
    return proc


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    env = {**os.environ, "KURULTAI_DATA_DIR": str(settings.data_dir), **extra}
    env.pop("KURULTAI_TRUSTED_PROXIES", None)  # a Unix socket's peers need no name
    env.pop("KURULTAI_REDIS_URL", None)
    if settings.database_url:
        env["KURULTAI_DATABASE_URL"] = settings.database_url
    return env


async def test_behind_nginx_on_a_unix_socket(settings: Settings, sock: Path, tmp_path: Path) -> None:
    if settings.uses_postgres:
        from tests.conftest import reset_postgres

        assert settings.database_url
        await reset_postgres(settings.database_url)
    env = environment(settings, KURULTAI_BALLOT_CLIENT_RATE="3")
    run(env, "migrate")
    run(env, "demo", "--delegates", "3", "--json")
    server = serve(env, sock, tmp_path / "server.log")
    try:
        with Nginx(tmp_path / "nginx", sock) as proxy:
            # The forwarded address is believed: the ballot limit per address (3 a minute here,
            # counted before any check) stops one client and not the next.
            async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address="127.0.0.21", verify=proxy.verify()), timeout=30) as first:
                codes = [(await first.post(f"{proxy.url}/api/elections/1/ballots", content=b"{}")).status_code for _ in range(4)]
            assert codes[:3] == [400] * 3 and codes[3] == 429, codes
            async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address="127.0.0.22", verify=proxy.verify()), timeout=30) as second:
                assert (await second.post(f"{proxy.url}/api/elections/1/ballots", content=b"{}")).status_code == 400
                # ... and so is the scheme: the answer is marked for HTTPS only.
                r = await second.get(f"{proxy.url}/api/server-key")
                assert r.status_code == 200 and r.headers["strict-transport-security"] == "max-age=63072000"
            # A browser's live socket through nginx and the Unix socket.
            ws_url = proxy.url.replace("https://", "wss://") + "/ws/assemblies/1"
            async with websockets.connect(ws_url, origin=proxy.url, ssl=proxy.verify(), open_timeout=10) as ws:
                first_frame = await asyncio.wait_for(ws.recv(), 10)
            assert '"snapshot"' in str(first_frame)
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_a_socket_left_by_a_killed_server_is_taken_over_and_a_live_one_refused(settings: Settings, sock: Path, tmp_path: Path) -> None:
    env = environment(settings)
    run(env, "migrate")
    server = serve(env, sock, tmp_path / "server.log")
    try:
        second = run(env, "serve", "--uds", str(sock), check=False)
        assert second.returncode == 2 and "a server is already serving on it" in second.stderr, second.stderr
        assert run(env, "serve", "--uds", str(sock), "--port", "8123", check=False).returncode == 2
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=20)
    assert sock.exists()  # left behind by the killed server
    again = serve(env, sock, tmp_path / "server.log")
    again.terminate()
    again.wait(timeout=20)
    sock.unlink(missing_ok=True)
    sock.write_text("not a socket")
    refused = run(env, "serve", "--uds", str(sock), check=False)
    assert refused.returncode == 2 and "not a socket" in refused.stderr, refused.stderr
