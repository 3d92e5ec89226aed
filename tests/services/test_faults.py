"""Faults with several processes, and websocket abuse (issue #7; docs/reliability.md).

1. Two `kurultai serve` instances share one PostgreSQL database, one Redis and the data
   directory's server key. Voters cast ballots through both; observers watch instance A by
   websocket. A is killed with SIGKILL mid-vote: the observers reconnect to B with
   `since=<last seq received>` and end with every seq 1..N exactly once, and every ballot that got
   a receipt is on the board.
2. The same pair on a Redis server of the test's own, which the test kills and restarts during a
   vote: the API keeps answering, every observer catches up from the event log, the hub
   re-subscribes and the publisher publishes again.
3. One server (SQLite) with a thousand idle websocket connections: garbage, oversize frames and
   floods close only the offender, with its documented code, while a normal client keeps
   receiving every event in order with a low delay.

Tests 1 and 2 need PostgreSQL (KURULTAI_TEST_PG) and Redis (KURULTAI_TEST_REDIS for test 1,
the `redis-server` program for test 2); without CI they are skipped when one is missing, under
CI=true they fail.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.conftest import PG_SERVER, pg_url, service_unavailable
from tests.reliability.crash import fetch_board
from tests.reliability.server import Server, cli, free_port, seed, server_env

REDIS_URL = os.environ.get("KURULTAI_TEST_REDIS", "redis://127.0.0.1:6379/0")
UNLIMITED = {"KURULTAI_BALLOT_RATE": "100000000", "KURULTAI_BALLOT_CLIENT_RATE": "100000000"}
CONTROL = ("heartbeat", "pong")


unavailable = service_unavailable


# -- fixtures: a PostgreSQL database, a Redis of our own ------------------------------------------


async def _pg(sql: str, *args: Any, db: str = "postgres") -> Any:
    conn = await asyncpg.connect(pg_url(db), timeout=5)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


@pytest.fixture
def pg_db() -> Iterator[str]:
    """The name of a fresh PostgreSQL database, dropped afterwards."""
    name = f"kurultai_faults_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError) as exc:
        unavailable("PostgreSQL", str(exc))
    yield name
    asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def last_event_seq(db: str, aid: int) -> int:
    return int(asyncio.run(_pg("SELECT last_event_seq FROM assembly WHERE id = $1", aid, db=db)))


class OwnRedis:
    """A throwaway `redis-server` on a free port, which the test may kill and start again."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            unavailable("redis-server", "not on PATH")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([exe, "--port", str(self.port), "--save", "", "--appendonly", "no", "--daemonize", "no", "--bind", "127.0.0.1"], stdout=log, stderr=log)
        import redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(self.url, socket_timeout=1).ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    r = OwnRedis(tmp_path / "redis.log")
    r.start()
    try:
        yield r
    finally:
        r.kill()


def stop_cleanly(server: Server, timeout: float = 15) -> float:
    """SIGTERM; the server must exit by itself (a dead publisher would hang its shutdown)."""
    assert server.proc is not None
    t = time.monotonic()
    server.proc.terminate()
    try:
        server.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        server.kill()
        raise AssertionError(f"the server did not stop within {timeout} s of SIGTERM: {server.log_path.read_text()[-3000:]}") from None
    server.proc = None
    return time.monotonic() - t


# -- clients: observers and voters ------------------------------------------------------------------


@dataclass
class Observer:
    """A websocket client that resumes with `since=<last seq received>` wherever it reconnects."""

    name: str
    events: list[dict[str, Any]] = field(default_factory=list)  # every event frame, duplicates kept
    connections: list[list[int]] = field(default_factory=list)  # the seqs of each connection
    delays: list[float] = field(default_factory=list)  # arrival − event ts, seconds
    arrivals: list[float] = field(default_factory=list)  # time.monotonic() at arrival
    last: int = 0
    snapshots: int = 0

    async def run(self, url_for: Callable[[int], str], kwargs: dict[str, Any] | None = None) -> None:
        """Runs until cancelled; `url_for(attempt)` picks the server for each connection."""
        attempt = 0
        while True:
            url = url_for(attempt)
            attempt += 1
            try:
                async with websockets.connect(f"{url}?since={self.last}", open_timeout=5, **(kwargs or {})) as ws:
                    seqs: list[int] = []
                    self.connections.append(seqs)
                    async for raw in ws:
                        frame = json.loads(raw)
                        if frame["type"] in CONTROL:
                            continue
                        if frame["type"] == "snapshot":
                            self.snapshots += 1
                            continue
                        now = time.time()
                        self.delays.append(now - _ts(frame["ts"]))
                        self.arrivals.append(time.monotonic())
                        self.events.append(frame)
                        seqs.append(frame["seq"])
                        self.last = max(self.last, frame["seq"])
            except (ConnectionClosed, OSError, asyncio.TimeoutError, websockets.InvalidHandshake):
                pass
            await asyncio.sleep(0.1)

    def first_arrival(self, seq: int) -> float:
        return min(t for e, t in zip(self.events, self.arrivals) if e["seq"] == seq)

    def check_complete(self, n: int, start: int = 0) -> int:
        """Every seq start+1..n exactly once after dedup by seq, each connection in order; returns the
        number of duplicates seen."""
        by_seq: dict[int, dict[str, Any]] = {}
        dups = 0
        for e in self.events:
            if e["seq"] in by_seq:
                dups += 1
                assert by_seq[e["seq"]] == e, f"{self.name}: seq {e['seq']} arrived twice with different content"
            by_seq[e["seq"]] = e
        missing = sorted(set(range(start + 1, n + 1)) - set(by_seq))
        assert not missing, f"{self.name}: {len(missing)} seqs missing, first {missing[:10]}"
        assert max(by_seq) == n, f"{self.name}: seqs beyond {n}: {max(by_seq)}"
        for seqs in self.connections:
            assert seqs == sorted(set(seqs)), f"{self.name}: a connection sent seqs out of order or twice"
        assert self.snapshots == 0, f"{self.name}: got a snapshot instead of a replay"
        return dups


def _ts(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


async def wait_until(pred: Callable[[], bool], timeout: float, what: str) -> float:
    t = time.monotonic()
    while not pred():
        if time.monotonic() - t > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - t


@dataclass
class Tally:
    receipts: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[float, str]] = field(default_factory=list)  # (time, what)
    successes: list[tuple[float, str]] = field(default_factory=list)

    def count(self, what: str, ok: bool, detail: str) -> None:
        (self.successes if ok else self.failures).append((time.monotonic(), what))
        self.statuses[detail] = self.statuses.get(detail, 0) + 1


async def cast_ballots(info: dict[str, Any], voters: list[dict[str, Any]], url_for: Callable[[int], str], stop: asyncio.Event, tally: Tally, seed_value: int) -> None:
    """One client connection voting for `voters` in turn (rising revisions) until `stop`.
    `url_for(failures)` picks the server: a client whose server died moves on."""
    from voting.core.keys import Signer, sign_object
    from voting.core.signed import digest

    election = info["election_envelope"]
    edigest = digest(election["signed"])
    options = [o["id"] for o in election["signed"]["options"]]
    mine = [(v["key_id"], Signer.from_private_bytes(bytes.fromhex(v["private_key"]))) for v in voters]
    revision = {kid: 0 for kid, _ in mine}
    rng = random.Random(seed_value)
    failures = 0
    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=1)) as http:
        i = 0
        while not stop.is_set():
            kid, signer = mine[i % len(mine)]
            i += 1
            revision[kid] += 1
            signed = {
                "v": 1,
                "type": "ballot",
                "election": str(info["election"]),
                "election_digest": edigest,
                "voter": kid,
                "revision": revision[kid],
                "ranking": rng.sample(options, rng.randint(0, len(options))),
                "nonce": base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode(),
            }
            try:
                r = await http.post(f"{url_for(failures)}/api/elections/{info['election']}/ballots", json=sign_object(signer, signed))
            except httpx.HTTPError as exc:
                failures += 1
                tally.count("ballot", False, type(exc).__name__)
                await asyncio.sleep(0.1)
                continue
            tally.count("ballot", r.status_code in (200, 201), str(r.status_code))
            if r.status_code in (200, 201):
                body = r.json()
                tally.receipts.append({"seq": body["seq"], "leaf_hash": body["leaf_hash"]})


def check_board(url: str, eid: str, receipts: list[dict[str, Any]]) -> int:
    with httpx.Client(timeout=60) as http:
        size = http.get(f"{url}/api/elections/{eid}/sth").json()["signed"]["tree_size"]
        entries = fetch_board(http, url, eid, size)
    assert [e["seq"] for e in entries] == list(range(size)), "the board has a gap or a repeat"
    for r in receipts:
        assert r["seq"] < size, f"receipt for seq {r['seq']} but the board has {size} leaves"
        assert entries[r["seq"]]["leaf_hash"] == r["leaf_hash"], f"seq {r['seq']} holds another leaf than its receipt"
    return size


def two_instances(tmp_path: Path, db: str, redis_url: str, prefix: str, **extra: str) -> tuple[Server, Server, dict[str, Any]]:
    """Migrate, seed (60 voters, an open election) and start instances A and B."""
    data = tmp_path / "data"
    common = {"KURULTAI_REDIS_URL": redis_url, "KURULTAI_REDIS_PREFIX": prefix, "KURULTAI_WS_HEARTBEAT_S": "1", **UNLIMITED, **extra}
    env_a = server_env(data, free_port(), f"{PG_SERVER}/{db}", **common)
    env_b = {**env_a, "KURULTAI_PORT": str(free_port())}
    cli(env_a, "migrate")
    info = seed(env_a, 60)
    a, b = Server(env_a, tmp_path / "a.log"), Server(env_b, tmp_path / "b.log")
    a.start()
    try:
        b.start()
    except BaseException:
        a.kill()
        raise
    return a, b, info


def ws_url(server: Server, aid: int) -> str:
    return server.url.replace("http://", "ws://") + f"/ws/assemblies/{aid}"


# -- 1. kill one worker during a live vote ----------------------------------------------------------


@pytest.mark.postgres
def test_kill_one_worker_mid_vote_observers_resume_on_the_other(tmp_path: Path, pg_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        unavailable("Redis", str(exc))
    a, b, info = two_instances(tmp_path, pg_db, REDIS_URL, f"kurultai-faults-{uuid.uuid4().hex[:8]}:")
    aid, eid = info["assembly"], str(info["election"])
    try:
        figures = asyncio.run(_kill_mid_vote(a, b, info, pg_db))
        assert last_event_seq(pg_db, aid) == figures["n"]
        figures["board"] = check_board(b.url, eid, figures.pop("receipts"))
    finally:
        a.kill()
        b.stop()
    with capsys.disabled():
        print(f"\nkill one worker: {json.dumps(figures)}")


async def _kill_mid_vote(a: Server, b: Server, info: dict[str, Any], db: str) -> dict[str, Any]:
    aid = info["assembly"]
    urls = [ws_url(a, aid), ws_url(b, aid)]
    observers = [Observer(f"observer{i}") for i in range(4)]
    obs_tasks = [asyncio.create_task(o.run(lambda attempt: urls[min(attempt, 1)])) for o in observers]
    await wait_until(lambda: all(o.connections for o in observers), 10, "observers to connect to A")
    stop = asyncio.Event()
    tally = Tally()
    killed = asyncio.Event()
    voters = info["voters"]

    def via_a_then_b(failures: int) -> str:
        return b.url if killed.is_set() or failures else a.url

    clients = 8
    vote_tasks = [asyncio.create_task(cast_ballots(info, voters[i::clients], via_a_then_b if i % 2 == 0 else (lambda _f: b.url), stop, tally, i)) for i in range(clients)]
    await asyncio.sleep(4)
    before = len(tally.receipts)
    seen_before = [o.last for o in observers]
    await asyncio.to_thread(a.kill)  # SIGKILL, mid-vote
    killed.set()
    t_kill = time.monotonic()
    reconnected = await wait_until(lambda: all(len(o.connections) >= 2 for o in observers), 10, "observers to reconnect to B")
    await asyncio.sleep(4)
    stop.set()
    await asyncio.gather(*vote_tasks)
    r = httpx.post(f"{b.url}/api/elections/{info['election']}/close", headers={"Authorization": f"Bearer {info['tokens']['moderator']}"}, timeout=60)
    assert r.status_code == 200, r.text
    t_close = time.monotonic()
    n = await settled_last_seq(db, aid)
    await wait_until(lambda: all(o.last >= n for o in observers), 10, f"observers to reach seq {n}")
    caught_up = max(o.first_arrival(n) for o in observers) - t_close
    await asyncio.sleep(1.5)  # let any stray duplicate arrive before checking
    for t in obs_tasks:
        t.cancel()
    await asyncio.gather(*obs_tasks, return_exceptions=True)
    dups = [o.check_complete(n) for o in observers]
    assert all(e["type"] == "election.closed" for e in observers[0].events if e["type"] == "election.closed")
    assert any(e["type"] == "election.closed" for e in observers[0].events)
    return {
        "n": n,
        "observers": len(observers),
        "seq_at_kill": seen_before,
        "receipts_before_kill": before,
        "receipts": tally.receipts,
        "receipts_total": len(tally.receipts),
        "ballot_answers": tally.statuses,
        "reconnect_s": round(reconnected, 2),
        "caught_up_s_after_close": round(caught_up, 2),
        "duplicates_dropped": dups,
        "kill_to_end_s": round(time.monotonic() - t_kill, 1),
    }


async def settled_last_seq(db: str, aid: int, quiet: float = 1.0) -> int:
    """The assembly's last_event_seq once it has not changed for `quiet` seconds."""
    last = -1
    while True:
        n = int(await _pg("SELECT last_event_seq FROM assembly WHERE id = $1", aid, db=db))
        if n == last:
            return n
        last = n
        await asyncio.sleep(quiet)


# -- 2. restart Redis during a vote -------------------------------------------------------------------


@pytest.mark.postgres
def test_restart_redis_mid_vote_service_continues_and_observers_catch_up(tmp_path: Path, pg_db: str, own_redis: OwnRedis, capsys: pytest.CaptureFixture[str]) -> None:
    prefix = "kurultai-faults:"
    a, b, info = two_instances(tmp_path, pg_db, own_redis.url, prefix)
    try:
        figures = asyncio.run(_restart_redis(a, b, info, own_redis, pg_db, f"{prefix}assembly.{info['assembly']}"))
        figures["board"] = check_board(b.url, str(info["election"]), figures.pop("receipts"))
        figures["stop_s"] = [round(stop_cleanly(s), 2) for s in (a, b)]
    finally:
        a.kill()
        b.kill()
    with capsys.disabled():
        print(f"\nrestart Redis: {json.dumps(figures)}")


async def act(info: dict[str, Any], url: str, stop: asyncio.Event, tally: Tally) -> None:
    """Speakers and comments through the API, as a delegate, until `stop`."""
    auth = {"Authorization": f"Bearer {info['tokens']['delegate']}"}
    async with httpx.AsyncClient(base_url=url, timeout=10, headers=auth) as http:
        n = 0
        while not stop.is_set():
            n += 1
            calls: list[tuple[str, str, str, dict[str, Any] | None]] = [
                ("comment", "POST", f"/api/assemblies/{info['assembly']}/comments", {"provision": info["provision"], "stance": "for", "text": f"Comment {n}"}),
                ("speaker", "POST", f"/api/agenda/{info['item']}/speakers", {"kind": "speech"}),
            ]
            for what, method, path, body in calls:
                try:
                    r = await http.request(method, path, json=body)
                except httpx.HTTPError as exc:
                    tally.count(what, False, type(exc).__name__)
                    continue
                tally.count(what, r.status_code in (200, 201), f"{what} {r.status_code}")
                if what == "speaker" and r.status_code == 201:
                    sid = r.json()["queue"][-1]["id"]
                    try:
                        w = await http.post(f"/api/speakers/{sid}/withdraw")
                        tally.count("speaker", w.status_code == 200, f"withdraw {w.status_code}")
                    except httpx.HTTPError as exc:
                        tally.count("speaker", False, type(exc).__name__)
            await asyncio.sleep(0.05)


async def _restart_redis(a: Server, b: Server, info: dict[str, Any], own: OwnRedis, db: str, channel: str) -> dict[str, Any]:
    import redis.asyncio

    aid = info["assembly"]
    observers = [Observer(f"observer{i}") for i in range(4)]
    url_a = ws_url(a, aid)
    obs_tasks = [asyncio.create_task(o.run(lambda _attempt: url_a)) for o in observers]
    await wait_until(lambda: all(o.connections for o in observers), 10, "observers to connect to A")
    stop = asyncio.Event()
    tally = Tally()
    voters = info["voters"]
    tasks = [asyncio.create_task(cast_ballots(info, voters[i::4], lambda _f: b.url, stop, tally, i)) for i in range(4)]
    tasks.append(asyncio.create_task(act(info, b.url, stop, tally)))
    await asyncio.sleep(3)
    await asyncio.to_thread(own.kill)
    t_down = time.monotonic()
    await asyncio.sleep(1.0)  # Redis is down for a second
    await asyncio.to_thread(own.start)
    t_up = time.monotonic()
    # the hub of A subscribes again, and B's publisher publishes again
    probe = redis.asyncio.Redis.from_url(own.url)
    try:

        async def subscribed() -> bool:
            return int(dict(await probe.pubsub_numsub(channel))[channel.encode()]) >= 1

        t = time.monotonic()
        while not await subscribed():
            assert time.monotonic() - t < 10, "instance A never subscribed to the assembly's channel again after Redis came back"
            await asyncio.sleep(0.1)
        resubscribed = time.monotonic() - t_up
        sub = probe.pubsub()
        await sub.subscribe(channel)
        got = None
        t = time.monotonic()
        while got is None or got["type"] != "message":
            assert time.monotonic() - t < 10, "no event published on Redis after it came back"
            got = await sub.get_message(timeout=1)
        republished = time.monotonic() - t_up
        await sub.aclose()
    finally:
        await probe.aclose()
    await asyncio.sleep(3)
    stop.set()
    await asyncio.gather(*tasks)
    t_stop = time.monotonic()
    n = await settled_last_seq(db, aid)
    await wait_until(lambda: all(o.last >= n for o in observers), 10, f"observers to reach seq {n}")
    caught_up = max(o.first_arrival(n) for o in observers) - t_stop
    await asyncio.sleep(1.5)
    for task in obs_tasks:
        task.cancel()
    await asyncio.gather(*obs_tasks, return_exceptions=True)
    dups = [o.check_complete(n) for o in observers]
    during = [f for f in tally.failures if f[0] >= t_down]
    for what in ("ballot", "comment", "speaker"):
        assert any(t >= t_up for t, w in tally.successes if w == what), f"no {what} succeeded after Redis came back: {tally.statuses}"
    assert len(tally.failures) <= 20, f"too many failed API calls: {tally.statuses}"
    # the observers' delay after Redis is back (live through pub/sub, not at the next heartbeat)
    after = [d for o in observers for d, t in zip(o.delays, o.arrivals) if t > t_up + 1]
    return {
        "n": n,
        "observers": len(observers),
        "api_calls_ok": len(tally.successes),
        "api_calls_failed": len(tally.failures),
        "failed_during_restart": len(during),
        "answers": tally.statuses,
        "receipts": tally.receipts,
        "receipts_total": len(tally.receipts),
        "resubscribed_s": round(resubscribed, 2),
        "republished_s": round(republished, 2),
        "caught_up_s": round(caught_up, 2),
        "duplicates": dups,
        "delay_after_restart_ms": {"median": round(statistics.median(after) * 1000), "max": round(max(after) * 1000)} if after else None,
        "reconnects": [len(o.connections) - 1 for o in observers],
    }


# -- 3. websocket abuse on one server -----------------------------------------------------------------

IDLE = int(os.environ.get("KURULTAI_ABUSE_IDLE", "1000"))
ABUSE_ROUNDS = int(os.environ.get("KURULTAI_ABUSE_ROUNDS", "10"))
#: offender: (what it sends, the close code it must get)
OFFENDERS: dict[str, tuple[list[str | bytes], int]] = {
    "garbage": (["this is not JSON {"], 4400),
    "binary": ([b"\x00\x01\x02 binary"], 4400),
    "unknown type": (['{"type":"subscribe","channel":"everything"}'], 4400),
    "no type": (['{"ping":1}'], 4400),
    "oversize 5 KB": (["x" * 5_000], 1009),
    "oversize 1 MB": (['{"type":"ping","pad":"' + "x" * 1_000_000 + '"}'], 1009),
    "flood": (['{"type":"ping"}'] * 300, 4429),
}


def raise_nofile(want: int) -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return soft, hard


@pytest.mark.slow
def test_websocket_abuse_closes_only_the_offender(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = raise_nofile(2 * IDLE + 1024)  # the server process inherits it
    try:
        env = server_env(tmp_path / "data", free_port(), None, KURULTAI_WS_HEARTBEAT_S="5", **UNLIMITED)
        cli(env, "migrate")
        info = seed(env, 0, open_election=False)
        server = Server(env, tmp_path / "server.log")
        server.start()
        try:
            figures = asyncio.run(_abuse(server, info))
        finally:
            server.stop()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, old)
    with capsys.disabled():
        print(f"\nwebsocket abuse: {json.dumps(figures)}")


async def close_code_after(url: str, frames: list[str | bytes]) -> tuple[int | None, str]:
    async with websockets.connect(url, open_timeout=10, max_size=None, ping_interval=None) as ws:
        try:
            for f in frames:
                await ws.send(f)
            async with asyncio.timeout(10):
                while True:
                    await ws.recv()
        except ConnectionClosed as exc:
            return (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (None, "no close frame")
    raise AssertionError("unreachable")


async def _abuse(server: Server, info: dict[str, Any]) -> dict[str, Any]:
    aid = info["assembly"]
    url = ws_url(server, aid)
    auth = {"Authorization": f"Bearer {info['tokens']['admin']}"}
    http = httpx.AsyncClient(base_url=server.url, timeout=10, headers=auth)
    start = await asyncio.to_thread(_last_seq_via_snapshot, url)
    clients = [Observer(f"client{i}", last=start) for i in range(3)]
    tasks = [asyncio.create_task(c.run(lambda _a: url)) for c in clients]
    await wait_until(lambda: all(c.connections for c in clients), 10, "the normal clients to connect")
    stop = asyncio.Event()
    posted = 0

    async def emit() -> None:  # 10 events a second, each an agenda item
        nonlocal posted
        while not stop.is_set():
            r = await http.post(f"/api/assemblies/{aid}/agenda", json={"title": f"Item {posted}"})
            assert r.status_code == 201, r.text
            posted += 1
            await asyncio.sleep(0.1)

    emitter = asyncio.create_task(emit())
    t0 = time.monotonic()
    idle: list[Any] = []
    for _ in range(0, IDLE, 100):  # open the idle connections in batches of 100
        batch = [websockets.connect(f"{url}?since={start}", open_timeout=30, ping_interval=None, compression=None, max_queue=None) for _ in range(100)]
        idle += await asyncio.gather(*batch)
    opened_s = time.monotonic() - t0
    metrics = (await http.get("/metrics")).text
    gauge = next(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("kurultai_websocket_connections"))
    assert gauge >= IDLE + len(clients)
    # the offenders, five of each kind at once, in several rounds while the events flow
    t1 = time.monotonic()
    got: dict[str, list[int | None]] = {}
    for _round in range(ABUSE_ROUNDS):
        kinds = [k for k in OFFENDERS for _ in range(5)]
        codes = await asyncio.gather(*(close_code_after(f"{url}?since={start}", OFFENDERS[k][0]) for k in kinds))
        for k, (code, reason) in zip(kinds, codes):
            got.setdefault(k, []).append(code)
            assert code == OFFENDERS[k][1], f"{k}: closed with {code} {reason!r}, want {OFFENDERS[k][1]}"
        await asyncio.sleep(1)
    abuse_s = time.monotonic() - t1
    await asyncio.sleep(2)
    stop.set()
    await emitter
    await http.aclose()
    n = start + posted
    await wait_until(lambda: all(c.last >= n for c in clients), 10, f"the normal clients to reach seq {n}")
    await asyncio.sleep(0.5)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for c in clients:
        c.check_complete(n, start=start)
        assert len(c.connections) == 1, f"{c.name} was disconnected"
    # every idle connection is still open and holds every event, in order
    t2 = time.monotonic()
    for ws in idle:
        seqs = []
        while not seqs or seqs[-1] < n:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if frame["type"] not in CONTROL:
                seqs.append(frame["seq"])
        assert seqs == list(range(start + 1, n + 1))
    drained_s = time.monotonic() - t2
    await asyncio.gather(*(ws.close() for ws in idle))
    delays = sorted(d for c in clients for d in c.delays)
    p95 = delays[int(len(delays) * 0.95)]
    assert p95 < 1.0 and delays[-1] < 3.0, f"event delay p95 {p95:.3f} s, max {delays[-1]:.3f} s"
    return {
        "idle_connections": len(idle),
        "connections_gauge": gauge,
        "open_idle_s": round(opened_s, 1),
        "events": posted,
        "offenders": {k: f"{len(v)} x {v[0]}" for k, v in got.items()},
        "abuse_s": round(abuse_s, 2),
        "drain_idle_s": round(drained_s, 1),
        "delay_ms": {"median": round(statistics.median(delays) * 1000), "p95": round(p95 * 1000), "max": round(delays[-1] * 1000)},
    }


def _last_seq_via_snapshot(url: str) -> int:
    """The seq of a fresh snapshot from `url`."""
    from websockets.sync.client import connect

    with connect(url, open_timeout=5) as ws:
        frame = json.loads(ws.recv(timeout=10))
        assert frame["type"] == "snapshot"
        return int(frame["seq"])
