"""A hall logs in through a real `kurultai serve` (SQLite and PostgreSQL), directly and behind
nginx configured as docs/operations.md shows; loopback gives each client its own address
(127.0.0.2, 127.0.0.3, ...). The limits are the defaults (docs/operations.md, "Logins")."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from kurultai.web.throttle import DEVICE_COOKIE
from tests.api.conftest import KURULTAI
from tests.nginx import Nginx

PASSWORD = "the chair's own password"


@pytest.fixture
def server_env() -> dict[str, str]:
    return {"KURULTAI_TRUSTED_PROXIES": "127.0.0.1"}  # nginx, on the same machine


def cli(env: dict[str, str], *args: str, stdin: str = "") -> str:
    proc = subprocess.run([*KURULTAI, *args], env=env, input=stdin, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"kurultai {' '.join(args)}: {proc.stdout} {proc.stderr}"
    return proc.stdout


def at(address: str, **kw: Any) -> httpx.AsyncClient:
    """A client whose connections come from `address`."""
    verify = kw.pop("verify", True)
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=address, verify=verify), timeout=60, **kw)


async def log_in(c: httpx.AsyncClient, url: str, username: str, password: str, **extra: Any) -> httpx.Response:
    return await c.post(f"{url}/api/auth/token", json={"username": username, "password": password, **extra})


async def hall(url: str, logins: list[dict[str, str]], address: str, verify: Any = True) -> tuple[float, list[int]]:
    """Every delegate logs in from `address`, 50 at a time; (seconds, status codes)."""
    gate = asyncio.Semaphore(50)
    async with at(address, verify=verify, limits=httpx.Limits(max_connections=50)) as c:

        async def one(login: dict[str, str]) -> int:
            async with gate:
                return (await log_in(c, url, login["username"], login["password"])).status_code

        started = time.monotonic()
        codes = await asyncio.gather(*(one(login) for login in logins))
        return time.monotonic() - started, list(codes)


@pytest.mark.slow
async def test_a_hall_of_500_logs_in_from_one_address_directly_and_behind_nginx(server: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    url, env = server
    started = time.monotonic()
    demo = json.loads(cli(env, "demo", "--delegates", "500", "--json"))
    print(f"demo of 500: {time.monotonic() - started:.1f} s")
    logins = demo["delegates"] if "delegates" in demo else demo["logins"]
    logins = [login for login in logins if login["username"].startswith("delegate")]
    assert len(logins) == 500
    seconds, codes = await hall(url, logins, "127.0.0.9")
    print(f"500 logins directly: {seconds:.1f} s")
    assert codes == [200] * 500 and seconds < 60, (seconds, sorted(set(codes)))
    port = int(url.rsplit(":", 1)[1])
    with Nginx(tmp_path / "nginx", port) as proxy:
        seconds, codes = await hall(proxy.url, logins, "127.0.0.10", verify=proxy.verify())
        print(f"500 logins behind nginx: {seconds:.1f} s")
        assert codes == [200] * 500 and seconds < 60, (seconds, sorted(set(codes)))


async def test_guessing_is_stopped_and_the_owner_still_gets_in(server: tuple[str, dict[str, str]]) -> None:
    url, env = server
    cli(env, "user", "add", "chair", stdin=PASSWORD + "\n")
    async with at("127.0.0.2") as laptop, at("127.0.0.3") as guesser:
        r = await log_in(laptop, url, "chair", PASSWORD)
        assert r.status_code == 200 and r.cookies.get(DEVICE_COOKIE)
        device = r.json()["device_token"]
        for n in range(10):  # one address guesses one password: stopped by the 11th failure
            r = await log_in(guesser, url, "chair", f"guess number {n}")
            assert r.status_code == 401, (n, r.text)
        r = await log_in(guesser, url, "chair", "guess number 10")
        assert r.status_code == 429 and r.json()["error"] == "rate_limited" and int(r.headers["retry-after"]) > 60
        # ... many addresses guess on: the username slows down for new devices
        refused_at = None
        for n in range(4, 80):
            async with at(f"127.0.1.{n}") as bot:
                r = await log_in(bot, url, "chair", f"bot guess {n}")
            if r.status_code == 429:
                refused_at = n
                break
            assert r.status_code == 401
        assert refused_at is not None and refused_at == 4 + 50 - 10, refused_at  # 50 failures in all
        async with at("127.0.2.1") as new_device:
            assert (await log_in(new_device, url, "chair", PASSWORD)).status_code == 429
        # the owner's laptop (its cookie) and a client that sends its device token get in
        assert (await log_in(laptop, url, "chair", PASSWORD)).status_code == 200
        async with at("127.0.2.2") as client:
            r = await log_in(client, url, "chair", PASSWORD, device_token=device)
            assert r.status_code == 200


async def test_invitation_guessing_is_stopped_per_address(server: tuple[str, dict[str, str]]) -> None:
    url, env = server
    demo = json.loads(cli(env, "demo", "--delegates", "0", "--json"))
    link = cli(env, "invite", "newcomer", "--assembly", str(demo["assembly"]), "--base-url", url).strip()
    token = link.rsplit("/", 1)[1]
    async with at("127.0.0.4") as guesser, at("127.0.0.5") as invitee:
        for n in range(300):
            r = await guesser.post(f"{url}/api/auth/invite", json={"token": f"guess-{n}", "password": PASSWORD})
            assert r.status_code == 400, (n, r.text)
        r = await guesser.post(f"{url}/api/auth/invite", json={"token": token, "password": PASSWORD})
        assert r.status_code == 429 and "retry-after" in r.headers
        page = await guesser.get(f"{url}/invite/{token}")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf
        r = await guesser.post(f"{url}/invite/{token}", data={"password": PASSWORD, "csrf_token": csrf.group(1)})
        assert r.status_code == 429 and "text/html" in r.headers["content-type"]
        r = await invitee.post(f"{url}/api/auth/invite", json={"token": token, "password": PASSWORD})
        assert r.status_code == 200 and r.json()["username"] == "newcomer"
        assert (await log_in(invitee, url, "newcomer", PASSWORD)).status_code == 200


async def test_behind_nginx_each_client_is_its_own_address_and_cookies_are_secure(server: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    url, env = server
    cli(env, "user", "add", "chair", stdin=PASSWORD + "\n")
    port = int(url.rsplit(":", 1)[1])
    with Nginx(tmp_path / "nginx", port) as proxy:
        async with at("127.0.0.6", verify=proxy.verify()) as guesser, at("127.0.0.7", verify=proxy.verify()) as chair:
            for n in range(10):
                assert (await log_in(guesser, proxy.url, "chair", f"guess {n}")).status_code == 401
            assert (await log_in(guesser, proxy.url, "chair", PASSWORD)).status_code == 429
            r = await log_in(chair, proxy.url, "chair", PASSWORD)  # the same proxy, another client
            assert r.status_code == 200
            assert r.headers["strict-transport-security"] == "max-age=63072000"
            device = [h for h in r.headers.get_list("set-cookie") if h.startswith(f"{DEVICE_COOKIE}=")]
            assert device and "secure" in device[0].lower()
            page = await chair.get(f"{proxy.url}/login")
            assert page.status_code == 200 and all("secure" in h.lower() for h in page.headers.get_list("set-cookie"))
        # A browser's live socket through nginx, on a port other than 443: the Host nginx passes
        # keeps the port, so the same-origin check lets the page's own origin in (and no other).
        ws_url = proxy.url.replace("https://", "wss://") + "/ws/assemblies/1"
        async with websockets.connect(ws_url, origin=proxy.url, ssl=proxy.verify(), open_timeout=10) as ws:
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)  # no assembly 1 here: accepted, then closed 4404
            assert ws.close_code == 4404
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            await websockets.connect(ws_url, origin="https://elsewhere.example", ssl=proxy.verify(), open_timeout=10)
        assert refused.value.response.status_code == 403
    # Directly, a client's own X-Forwarded-* headers are ignored: 127.0.0.8 is no trusted proxy.
    async with at("127.0.0.8") as spoofer:
        for n in range(10):
            r = await spoofer.post(f"{url}/api/auth/token", json={"username": "chair", "password": f"spoof {n}"}, headers={"x-forwarded-for": f"10.9.9.{n}", "x-forwarded-proto": "https"})
            assert r.status_code == 401 and "strict-transport-security" not in r.headers
        r = await spoofer.post(f"{url}/api/auth/token", json={"username": "chair", "password": "spoof"}, headers={"x-forwarded-for": "10.9.9.99"})
        assert r.status_code == 429


def upstream_connections(port: int) -> dict[str, int]:
    """Kernel TCP sockets with `port` at either end (the server's side or nginx's), by state (Linux /proc)."""
    states = {"01": "established", "06": "time_wait", "08": "close_wait"}
    seen: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if port in (int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16)) and fields[3] in states:
                seen[states[fields[3]]] = seen.get(states[fields[3]], 0) + 1
    return seen


async def test_nginx_keeps_its_connections_to_the_server_alive(server: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    """docs/operations.md's `upstream` block with `keepalive`: forty requests, one after another,
    reuse nginx's connection to the server instead of opening (and closing) one each. Opening a
    connection per request cost nearly half of the ballot throughput behind nginx
    (docs/benchmarks.md)."""
    url, _ = server
    port = int(url.rsplit(":", 1)[1])
    with Nginx(tmp_path / "nginx", port) as proxy:
        before = upstream_connections(port).get("time_wait", 0)
        async with at("127.0.0.11", verify=proxy.verify()) as c:
            for _ in range(40):
                assert (await c.get(f"{proxy.url}/api/health")).status_code == 200
            after = upstream_connections(port)
        assert after.get("established", 0) >= 1, after
        assert after.get("time_wait", 0) - before < 5, (before, after)  # one closed connection per request without keepalive
