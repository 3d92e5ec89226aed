"""Soak: mixed load from delegates, moderators and observers for a long time (issue #7).

A `kurultai serve` process (SQLite) runs a demo assembly with an open election. For `--minutes`
(30 by default; `--minutes 5` is the short run): delegates re-cast ballots, comment and request
the floor; the moderator gives the floor and runs the timer; observers stay connected to the
websocket and measure each event's delay (the event's `ts` to its receipt). Every 10 s the
server's RSS is sampled. Goals: RSS grows by at most 10 % from the first sample after warm-up to
the last, no request errors (5xx, or unexpected 4xx), no websocket closed by the server, and the
event delay p99 stays within 1 s.

    .venv/bin/python bench/soak.py [--minutes 30] [--observers 50] [--delegates 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voting.core.encoding import b64u_encode  # noqa: E402
from voting.core.keys import Signer, sign_object  # noqa: E402
from voting.core.signed import digest  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Stats:
    def __init__(self) -> None:
        self.delays: list[float] = []
        self.errors: list[str] = []
        self.requests = 0
        self.events = 0
        self.closes = 0


async def observer(url: str, aid: int, stats: Stats, stop: asyncio.Event) -> None:
    since = None
    while not stop.is_set():
        q = f"?since={since}" if since is not None else ""
        try:
            async with websockets.connect(f"{url.replace('http', 'ws')}/ws/assemblies/{aid}{q}", max_size=2**24, origin=url) as ws:
                while not stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=1)
                    except asyncio.TimeoutError:
                        continue
                    frame = json.loads(raw)
                    if "seq" in frame and frame.get("type") not in ("heartbeat", "pong"):
                        since = frame["seq"]
                    if frame.get("type") not in ("snapshot", "heartbeat", "pong") and "ts" in frame:
                        ts = datetime.fromisoformat(frame["ts"].replace("Z", "+00:00")).timestamp()
                        stats.delays.append(time.time() - ts)
                        stats.events += 1
        except websockets.ConnectionClosed as exc:
            if not stop.is_set():
                stats.closes += 1
                stats.errors.append(f"websocket closed by the server: {exc.rcvd.code if exc.rcvd else '?'}")
        except OSError as exc:
            if not stop.is_set():
                stats.errors.append(f"websocket: {exc}")
                await asyncio.sleep(1)


async def call(client: httpx.AsyncClient, stats: Stats, method: str, path: str, ok: tuple[int, ...] = (200, 201), **kw: Any) -> Any:
    stats.requests += 1
    r = await client.request(method, path, **kw)
    if r.status_code not in ok:
        stats.errors.append(f"{method} {path}: {r.status_code} {r.text[:200]}")
        return None
    return r.json() if r.content else None


async def main_async(args: argparse.Namespace) -> int:
    data = Path(tempfile.mkdtemp(prefix="kurultai-soak-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "KURULTAI_DATA_DIR": str(data), "KURULTAI_PORT": str(port)}
    demo = json.loads(subprocess.run([sys.executable, "-m", "kurultai.cli", "demo", "--json", "--delegates", str(args.delegates)], env=env, capture_output=True, text=True, check=True).stdout)
    server = subprocess.Popen([sys.executable, "-m", "kurultai.cli", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stats = Stats()
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            for _ in range(100):
                try:
                    if (await c.get("/api/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.2)
            aid, eid = demo["assembly"], demo["election"]
            mod = (await c.post("/api/auth/token", json=demo["moderator"])).json()["token"]
            mh = {"Authorization": f"Bearer {mod}"}
            delegates = []
            for cred in demo["delegates"]:
                token = (await c.post("/api/auth/token", json=cred)).json()["token"]
                signer = Signer.generate()
                h = {"Authorization": f"Bearer {token}"}
                await call(c, stats, "POST", "/api/me/keys", json={"assembly": aid, "public_key": b64u_encode(signer.public_key_raw)}, headers=h)
                await call(c, stats, "POST", f"/api/assemblies/{aid}/keys/{signer.key_id}/approve", headers=mh)
                delegates.append((h, signer))
            election = (await call(c, stats, "POST", f"/api/elections/{eid}/open", headers=mh))["election"]
            options = [o["id"] for o in election["signed"]["options"]]
            item = (await call(c, stats, "GET", f"/api/assemblies/{aid}/agenda"))[1]["id"]  # the item in debate
            provision = (await call(c, stats, "GET", f"/api/agenda/{item}"))["provisions"][0]

            stop = asyncio.Event()
            watchers = [asyncio.create_task(observer(url, aid, stats, stop)) for _ in range(args.observers)]
            revisions = {s.key_id: 0 for _, s in delegates}

            async def delegate_loop(h: dict[str, str], signer: Signer) -> None:
                while not stop.is_set():
                    action = random.random()
                    if action < 0.6:
                        revisions[signer.key_id] += 1
                        ranking = random.sample(options, k=random.randint(0, len(options)))
                        signed = {
                            "v": 1,
                            "type": "ballot",
                            "election": eid,
                            "election_digest": digest(election["signed"]),
                            "voter": signer.key_id,
                            "revision": revisions[signer.key_id],
                            "ranking": ranking,
                            "nonce": b64u_encode(os.urandom(16)),
                        }
                        await call(c, stats, "POST", f"/api/elections/{eid}/ballots", json=sign_object(signer, signed))
                    elif action < 0.8:
                        await call(c, stats, "POST", f"/api/assemblies/{aid}/comments", headers=h, json={"provision": provision, "stance": "neutral", "text": "soak comment"})
                    else:
                        await call(c, stats, "POST", f"/api/agenda/{item}/speakers", headers=h, json={"kind": "speech"}, ok=(201, 409))
                    await asyncio.sleep(random.uniform(0.5, 1.5))

            async def moderator_loop() -> None:
                while not stop.is_set():
                    await call(c, stats, "POST", f"/api/agenda/{item}/speakers/next", headers=mh, json={}, ok=(200, 409))
                    await asyncio.sleep(1)
                    await call(c, stats, "POST", f"/api/agenda/{item}/timer", headers=mh, json={"action": "pause"}, ok=(200, 409))
                    await call(c, stats, "POST", f"/api/agenda/{item}/timer", headers=mh, json={"action": "resume"}, ok=(200, 409))
                    await asyncio.sleep(1)

            workers = [asyncio.create_task(delegate_loop(h, s)) for h, s in delegates] + [asyncio.create_task(moderator_loop())]
            samples: list[tuple[float, int]] = []
            t0 = time.time()
            while time.time() - t0 < args.minutes * 60:
                await asyncio.sleep(10)
                samples.append((time.time() - t0, rss_kib(server.pid)))
                print(f"  t={samples[-1][0]:6.0f}s rss={samples[-1][1] / 1024:7.1f} MiB requests={stats.requests} events={stats.events} errors={len(stats.errors)}", flush=True)
            stop.set()
            await asyncio.gather(*workers, *watchers, return_exceptions=True)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)

    warm = [s for s in samples if s[0] >= min(60, args.minutes * 60 / 5)] or samples
    growth = (warm[-1][1] - warm[0][1]) / warm[0][1] if warm and warm[0][1] else 0.0
    delays = sorted(stats.delays) or [0.0]
    p50, p99 = statistics.median(delays), delays[max(0, int(len(delays) * 0.99) - 1)]
    print(f"duration {args.minutes} min, {args.delegates} delegates, {args.observers} observers")
    print(f"requests {stats.requests}, events delivered {stats.events}, errors {len(stats.errors)}, server closes {stats.closes}")
    print(f"RSS after warm-up {warm[0][1] / 1024:.1f} MiB -> end {warm[-1][1] / 1024:.1f} MiB: growth {growth:+.1%} (goal <= +10%)")
    print(f"event delay p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms (goal p99 <= 1000 ms)")
    for e in stats.errors[:10]:
        print("  error:", e)
    return 0 if growth <= 0.10 and not stats.errors and p99 <= 1.0 else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--observers", type=int, default=50)
    ap.add_argument("--delegates", type=int, default=20)
    return asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
