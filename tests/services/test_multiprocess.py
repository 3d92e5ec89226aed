"""Several `kurultai serve` processes sharing PostgreSQL, Redis and the data directory.

An observer's websocket is on one process while the actions go through the HTTP API of the
other: every event arrives once, in seq order, without gaps. Needs the PostgreSQL server
(KURULTAI_TEST_PG) and Redis (KURULTAI_TEST_REDIS, default redis://127.0.0.1:6379/0); without CI
the test is skipped when one is missing, under CI=true it fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from pathlib import Path

import asyncpg
import httpx
import pytest
import websockets

from tests.conftest import PG_SERVER, pg_url, service_unavailable
from tests.serving import wait_healthy

pytestmark = pytest.mark.postgres

REDIS_URL = os.environ.get("KURULTAI_TEST_REDIS", "redis://127.0.0.1:6379/0")
KURULTAI = [sys.executable, "-m", "kurultai.cli"]


unavailable = service_unavailable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _pg(sql: str) -> None:
    conn = await asyncpg.connect(pg_url("postgres"), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def shared_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL database, a Redis namespace and a data directory, removed afterwards."""
    import redis

    name = f"kurultai_mp_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError) as exc:
        unavailable("PostgreSQL", str(exc))
    prefix = f"kurultai-test-{uuid.uuid4().hex[:8]}:"
    r = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        try:
            r.ping()
        except redis.RedisError as exc:
            unavailable("Redis", str(exc))
        env = {
            **os.environ,
            "KURULTAI_DATABASE_URL": f"{PG_SERVER}/{name}",
            "KURULTAI_REDIS_URL": REDIS_URL,
            "KURULTAI_REDIS_PREFIX": prefix,
            "KURULTAI_DATA_DIR": str(tmp_path / "data"),
            "KURULTAI_WS_HEARTBEAT_S": "1",
        }
        yield env
    finally:
        for key in r.scan_iter(match=f"{prefix}*"):
            r.delete(key)
        r.close()
        asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def start_server(env: dict[str, str], port: int, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*KURULTAI, "serve", "--port", str(port), *extra], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_started(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if not wait_healthy(f"http://127.0.0.1:{port}", proc, timeout):
        exited = proc.poll() is not None
        raise AssertionError(f"server on port {port} {'exited' if exited else 'did not start'}: {proc.stderr.read().decode() if exited and proc.stderr else ''}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()


async def observe_and_act(port_ws: int, port_api: int, actions: int) -> list[dict[str, object]]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port_api}", timeout=30) as api:
        token = (await api.post("/api/auth/token", json={"username": "admin", "password": "correct horse battery"})).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        r = await api.post("/api/assemblies", json={"title": "Two processes"}, headers=auth)
        assert r.status_code == 201, r.text
        aid = r.json()["id"]
        async with websockets.connect(f"ws://127.0.0.1:{port_ws}/ws/assemblies/{aid}") as ws:
            snap = json.loads(await ws.recv())
            assert snap["type"] == "snapshot"
            start = snap["seq"]

            async def act(n: int) -> None:
                r = await api.post(f"/api/assemblies/{aid}/agenda", json={"title": f"Item {n}"}, headers=auth)
                assert r.status_code == 201, r.text

            await asyncio.gather(*(act(n) for n in range(actions)))
            frames: list[dict[str, object]] = []
            async with asyncio.timeout(20):
                while len(frames) < actions:
                    frame = json.loads(await ws.recv())
                    if frame["type"] != "heartbeat":
                        frames.append(frame)
            assert [f["seq"] for f in frames] == list(range(start + 1, start + actions + 1))
            return frames


@pytest.mark.parametrize("layout", ["two-instances", "workers"])
def test_events_from_any_process_reach_every_client_in_order(shared_env: dict[str, str], layout: str) -> None:
    add = subprocess.run([*KURULTAI, "user", "add", "admin", "--admin"], input=b"correct horse battery\n", env=shared_env, capture_output=True)
    assert add.returncode == 0, add.stderr.decode()
    ports = [free_port(), free_port()]
    if layout == "two-instances":  # two separate instances, as behind a load balancer
        procs = [start_server(shared_env, p) for p in ports]
    else:  # one instance with two workers on one port: websocket and API land on either
        ports = [ports[0], ports[0]]
        procs = [start_server(shared_env, ports[0], "--workers", "2")]
    try:
        for p, proc in zip(ports, procs):
            wait_started(p, proc)
        frames = asyncio.run(observe_and_act(ports[0], ports[1], 40))
        assert {f["type"] for f in frames} == {"agenda.updated"}
        assert sorted(f["data"]["item"]["title"] for f in frames) == sorted(f"Item {n}" for n in range(40))  # type: ignore[index]
    finally:
        for proc in procs:
            stop(proc)


@pytest.mark.parametrize(
    "env_changes,missing",
    [({}, "KURULTAI_DATABASE_URL (PostgreSQL) and KURULTAI_REDIS_URL (Redis)"), ({"KURULTAI_DATABASE_URL": "postgres://u@127.0.0.1:1/x"}, "KURULTAI_REDIS_URL (Redis)")],
    ids=["neither", "no-redis"],
)
def test_workers_refuse_without_postgres_and_redis(tmp_path: Path, env_changes: dict[str, str], missing: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KURULTAI_DATABASE_URL", "KURULTAI_REDIS_URL")}
    env.update({"KURULTAI_DATA_DIR": str(tmp_path), **env_changes})
    out = subprocess.run([*KURULTAI, "serve", "--workers", "2", "--port", str(free_port())], env=env, capture_output=True, timeout=30)
    assert out.returncode == 2
    lines = out.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "--workers 2 needs PostgreSQL and Redis" in lines[0] and missing in lines[0]


@asynccontextmanager
async def redis_keys() -> AsyncIterator[tuple[str, Any]]:
    """(a fresh key prefix, a Redis client); the prefix's keys are deleted afterwards."""
    import redis.asyncio

    prefix = f"kurultai-test-{uuid.uuid4().hex[:8]}:"
    probe = redis.asyncio.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        try:
            await probe.ping()
        except (redis.RedisError, OSError) as exc:
            unavailable("Redis", str(exc))
        yield prefix, probe
    finally:
        try:
            async for key in probe.scan_iter(match=f"{prefix}*"):
                await probe.delete(key)
        except (redis.RedisError, OSError):
            pass
        await probe.aclose()


async def test_login_throttle_in_redis_is_shared_between_processes() -> None:
    """Two throttles on one Redis (as two processes would have) count the same failures."""
    from kurultai.settings import Settings
    from kurultai.web.throttle import LoginThrottle, Throttled

    async with redis_keys() as (prefix, probe):
        settings = Settings(redis_url=REDIS_URL, redis_prefix=prefix, login_failures=3)
        a, b = LoginThrottle(settings, b"k" * 32), LoginThrottle(settings, b"k" * 32)
        try:
            for throttle in (a, b, a):
                await throttle.failed(await throttle.begin_login("10.0.0.1", "chair", None))
            with pytest.raises(Throttled) as caught:
                await b.begin_login("10.0.0.1", "chair", None)
            assert 1 <= caught.value.retry_after <= 15 * 60 + 1
            await a.succeeded(await a.begin_login("10.0.0.2", "chair", None))  # another address
            keys = sorted([k.decode() async for k in probe.scan_iter(match=f"{prefix}throttle:*")])
            assert keys and all(k.startswith(f"{prefix}throttle:") for k in keys), keys
        finally:
            await a.close()
            await b.close()


def test_ballot_limits_in_redis_are_shared_between_instances(shared_env: dict[str, str]) -> None:
    """With Redis configured, two `kurultai serve` processes count one client's ballots together,
    and the ballot limit's keys are apart from the login limit's (the same address is a key of
    both). Two processes, as deployed: two apps in one process would share Piccolo's tables."""
    import redis

    env = {**shared_env, "KURULTAI_BALLOT_CLIENT_RATE": "3", "KURULTAI_LOGIN_ADDRESS_FAILURES": "2"}
    ports = [free_port(), free_port()]
    procs = [start_server(env, port) for port in ports]
    try:
        for port, proc in zip(ports, procs):
            wait_started(port, proc)
        a, b = (f"http://127.0.0.1:{port}" for port in ports)
        with httpx.Client(timeout=10) as http:
            for base, name in ((a, "nobody"), (b, "no-one")):  # two failed logins from this address use up its limit
                r = http.post(f"{base}/api/auth/token", json={"username": name, "password": "wrong-password"})
                assert r.status_code == 401
            answers = []
            for base in (a, b, a, b):
                r = http.post(f"{base}/api/elections/1/ballots", content=b"{")
                answers.append((r.status_code, r.json()["error"]))
            assert answers == [(400, "malformed_ballot")] * 3 + [(429, "rate_limited")], answers
            r = http.post(f"{a}/api/auth/token", json={"username": "nobody-else", "password": "wrong-password"})
            assert r.status_code == 429
    finally:
        for proc in procs:
            stop(proc)
    prefix = env["KURULTAI_REDIS_PREFIX"]
    probe = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        keys = sorted(k.decode() for k in probe.scan_iter(match=f"{prefix}*"))
    finally:
        probe.close()
    assert any(k.startswith(f"{prefix}ballot-client:") for k in keys) and any(k.startswith(f"{prefix}throttle:") for k in keys), keys


async def test_redis_limiter_counts_in_process_while_redis_is_down() -> None:
    """A Redis outage must not fail requests: the limit falls back to this process's window."""
    from kurultai.web.auth import RedisRateLimiter
    from kurultai.settings import Settings
    from kurultai.web.throttle import LoginThrottle, Throttled

    limiter = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0", "kurultai-test-down:", 2, 60.0)  # nothing listens
    throttle = LoginThrottle(Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", login_failures=2), b"k" * 32)
    try:
        assert [await limiter.hit("ip:1") for _ in range(3)] == [True, True, False]
        assert 1 <= await limiter.retry_after("ip:1") <= 61 and await limiter.hit("ip:2") is True
        for _ in range(2):
            await throttle.failed(await throttle.begin_login("10.0.0.1", "chair", None))
        with pytest.raises(Throttled):
            await throttle.begin_login("10.0.0.1", "chair", None)
    finally:
        await limiter.close()
        await throttle.close()


def _count_script_calls(limiter: Any) -> list[int]:
    """Count the calls of the window's script this limiter queues (its own client only: other
    tests' servers use the same Redis at the same time)."""
    calls = [0]
    client = limiter._client()
    pipeline = client.pipeline

    def counting_pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = pipeline(*args, **kwargs)
        evalsha = pipe.evalsha

        def counted(*call: Any) -> Any:
            calls[0] += 1
            return evalsha(*call)

        pipe.evalsha = counted
        return pipe

    client.pipeline = counting_pipeline
    return calls


async def test_redis_limiter_sends_concurrent_hits_together_and_counts_each() -> None:
    """Hits that arrive together go to Redis in one call of the window's script, which counts
    each one in arrival order: of 60 concurrent hits on a key with a limit of 25, the first 25 pass (and two
    limiters, as two processes, share the count). A Redis that forgot the window's script (a
    restart, SCRIPT FLUSH) is given it again, and nothing is counted twice."""
    from kurultai.web.auth import RedisRateLimiter

    async with redis_keys() as (prefix, probe):
        a, b = RedisRateLimiter(REDIS_URL, prefix, 25, 60.0), RedisRateLimiter(REDIS_URL, prefix, 25, 60.0)
        try:
            before = (await probe.info("stats"))["total_connections_received"]
            calls = _count_script_calls(a)
            answers = await asyncio.gather(*(a.hit("ip:1") for _ in range(60)))
            assert answers == [True] * 25 + [False] * 35
            assert calls[0] <= 2  # the first hit alone, the 59 that waited in one call
            assert await probe.zcard(f"{prefix}ratelimit:ip:1") == 25
            assert await b.hit("ip:1") is False and await b.hit("ip:2") is True
            assert (await probe.info("stats"))["total_connections_received"] - before <= 3  # one connection each, not one per hit
            await probe.script_flush()
            assert await asyncio.gather(*(b.hit("ip:3") for _ in range(30))) == [True] * 25 + [False] * 5
            assert await probe.zcard(f"{prefix}ratelimit:ip:3") == 25 and not a._degraded and not b._degraded
            # more hits than one call takes (auth.WINDOW_CALL_MAX): split into calls, still in order
            keys = [f"many:{i % 7}" for i in range(700)]
            answers = await asyncio.gather(*(a.hit(k) for k in keys))
            for k in set(keys):
                assert [ok for key, ok in zip(keys, answers) if key == k] == [True] * 25 + [False] * (keys.count(k) - 25), k
        finally:
            await a.close()
            await b.close()


async def test_redis_limiter_never_leaves_a_hit_waiting() -> None:
    """A sender cancelled before it ran, a close while a round trip is in flight, and a call that
    Redis refuses (a key of the wrong type) each end the hits they concern: cancelled, or counted
    in this process for that hit alone; later hits are counted in Redis as usual."""
    from kurultai.web.auth import RedisRateLimiter

    async with redis_keys() as (prefix, probe):
        a = RedisRateLimiter(REDIS_URL, prefix, 3, 60.0)
        try:
            first = asyncio.create_task(a.hit("ip:1"))
            await asyncio.sleep(0)  # the hit is waiting and its sender is created, not yet run
            assert a._sending is not None
            a._sending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(first, 5)
            assert await asyncio.wait_for(a.hit("ip:1"), 5) is True and await probe.zcard(f"{prefix}ratelimit:ip:1") == 1

            await probe.set(f"{prefix}ratelimit:ip:wrong", "not a sorted set")  # WRONGTYPE for this key's calls only
            answers = await asyncio.gather(*(a.hit(k) for k in ("ip:wrong", "ip:2", "ip:wrong", "ip:2", "ip:wrong", "ip:wrong")))
            assert answers == [True, True, True, True, True, False]  # ip:wrong counted here (3 a minute), ip:2 in Redis
            assert await probe.zcard(f"{prefix}ratelimit:ip:2") == 2

            pending = [asyncio.create_task(a.hit("ip:3")) for _ in range(5)]
            await asyncio.sleep(0)
            await a.close()
            done = await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 5)
            assert all(isinstance(r, asyncio.CancelledError) or r is True for r in done), done
        finally:
            await a.close()
