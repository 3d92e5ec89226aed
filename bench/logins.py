"""A hall logs in during a vote (issue #14): 500 logins from one address while ballots stream in
and 200 observers watch.

    .venv/bin/python bench/logins.py                 # directly to `kurultai serve`
    .venv/bin/python bench/logins.py --proxy nginx   # behind nginx, as docs/operations.md shows

One `kurultai serve` process (SQLite, a fresh temporary data directory, the access log on, as
documented) and `kurultai demo --delegates 500`. Before the measurement, `--voters` delegates (50)
log in, register Ed25519 keys, the chair approves them and opens the demo's election (Schulze,
live). Then, in separate processes:

- a producer casts signed ballots at `--rate` (20/s) round-robin over the voters, each a new
  revision of its voter's ballot (a random ranking), so the coalesced live events
  (`election.turnout`, `tally.updated`, `sth.updated`, at most every 250 ms each) keep flowing;
- `--observers` (200) anonymous websockets on /ws/assemblies/{id} over `--observer-procs` (2)
  processes, with bench/wsclient.py's lean client (TLS through nginx); each records, per event,
  receipt time − the event's `ts` (ms resolution).

After `--warmup` seconds, two phases of `--phase` seconds (30) each:

- QUIET: the vote and the observers only;
- WAVE: the same, and the 500 delegates log in (`POST /api/auth/token` with username and
  password) from one client process, one address, `--concurrency` (50) at a time over keep-alive
  connections. If the logins take longer than the phase, the phase lasts until the last one is
  answered.

Per phase it reports the event loop's lag as the server measures it (`/metrics`, read directly
from the server: `kurultai_event_loop_lag_seconds`, a timer due every 20 ms, diffed between the
phase's start and end: the largest non-empty bucket, the samples above 50 ms; and the gauge
`kurultai_event_loop_lag_max_seconds`, the largest since start, with whether it rose in the
phase), the observers' event delay p50/p99/max, the producer's ballots (accepted, refused,
latency), logins/s and the answers that were not 200, and where the CPU went: the server's
event-loop thread, its other threads (argon2's pool, SQLite) and worker processes, the clients,
nginx, the machine's busy and steal share, the event-loop thread's time waiting for a core
(/proc/<pid>/task/<pid>/schedstat) and the CPU pressure (/proc/pressure/cpu). The WAVE phase is
also shown split at the last login's answer ("logins" and "after").

Goals (issue #14): no event-loop lag above 50 ms during the wave; observers' event delay p99
during the wave ≤ 1.5 × the quiet phase's. It exits 1 when a goal is missed or a login is not
answered 200. Never part of the test run.

The clients stand in for other devices but share the server's cores here, and so does whatever
else runs on the machine ("other processes" in the CPU table): the figures mean something only
when that column is near 0. For diagnosis, `--loop-nice N` sets the nice value of the server's
event-loop thread alone, `--argon2-nice N` that of its argon2 thread and `--clients-nice N` that
of the client processes (none is how `kurultai serve` runs); `--password-threads N` sets KURULTAI_PASSWORD_THREADS; with
`BENCH_PROFILE=FILE` py-spy (`BENCH_PYSPY`, else the venv's) records the server while the logins
run (`BENCH_PROFILE_FORMAT`, default raw; `BENCH_PROFILE_ARGS`, e.g. `--threads --idle`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fanout import percentile, raise_nofile  # noqa: E402  (shared with the fan-out benchmark)

GOAL_LAG_S = 0.05
GOAL_P99_RATIO = 1.5
#: What the lean client looks for: the `ts` right after an event's `type` string. Event frames
#: are `{"seq":N,"type":"T","ts":"...","data":...}`; heartbeats and snapshots put `ts` after
#: the (numeric) seq, so they do not match.
EVENT_MARK = b'","ts":"'
KURULTAI = [sys.executable, "-m", "kurultai.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def client_ssl(cafile: str) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=cafile) if cafile else None


async def control(on_mark: Any) -> None:
    """A child's loop: each `MARK` on stdin prints `RESULT {json}` of the window that ends; `STOP` ends."""
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if line == "MARK":
            print("RESULT " + json.dumps(on_mark()), flush=True)
        elif line in ("STOP", ""):
            return


def own_cpu() -> float:
    t = os.times()
    return t.user + t.system


# -- observers ----------------------------------------------------------------------------


async def connect_observer(url: str, stats: Any, ctx: ssl.SSLContext | None, done: Any = None, on_message: Any = None) -> Any:
    """bench/wsclient.py's lean client, over TLS for wss:// (nginx). `done`, `on_message`: see
    `LeanClient`."""
    from urllib.parse import urlsplit

    from bench.wsclient import LeanClient, upgrade_request

    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    _, _, request = upgrade_request(("ws" + url[3:]) if secure else url)
    host, port = parts.hostname or "127.0.0.1", parts.port or (443 if secure else 80)
    loop = asyncio.get_running_loop()
    _, proto = await asyncio.wait_for(loop.create_connection(lambda: LeanClient(stats, request, done, on_message), host, port, ssl=ctx, server_hostname=host if secure else None), 60)
    await asyncio.wait_for(asyncio.shield(proto.handshake), 60)
    return proto


async def run_observers(url: str, n: int, cafile: str) -> None:
    from bench.wsclient import Stats

    raise_nofile()
    ctx = client_ssl(cafile)
    stats = Stats(wait_first=True, event_mark=EVENT_MARK)  # open once the snapshot is in
    conns: list[Any] = []
    gate = asyncio.Semaphore(32)

    async def one() -> None:
        try:
            async with gate:
                conns.append(await connect_observer(url, stats, ctx))
        except Exception as exc:  # reported as `failed`
            print(f"observer failed to connect: {exc!r}", file=sys.stderr)
            stats.failed += 1

    await asyncio.gather(*(one() for _ in range(n)))
    deadline = time.monotonic() + 60
    while stats.open + stats.failed + stats.closed < n and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    print("READY", flush=True)
    cpu = [own_cpu()]

    def mark() -> dict[str, Any]:
        now = own_cpu()
        out = {"hist": stats.hist, "events": stats.events, "open": stats.open, "closed": stats.closed, "failed": stats.failed, "cpu_s": now - cpu[0]}
        stats.hist, stats.events, cpu[0] = Counter(), 0, now
        return out

    await control(mark)
    stats.stopping = True
    for c in conns:
        c.close()
    await asyncio.sleep(0.2)


# -- ballot producer ----------------------------------------------------------------------


class BallotMaker:
    """Signed ballot bodies for the set-up's voters (`spec`: keys, election, digest, options),
    round-robin, each a new revision of its voter's ballot with a random ranking."""

    def __init__(self, spec: dict[str, Any], seed: int) -> None:
        from voting.core.keys import Signer

        self.spec = spec
        self.signers = [Signer.from_private_bytes(bytes.fromhex(k)) for k in spec["keys"]]
        self.revisions = [0] * len(self.signers)
        self.rng = random.Random(seed)

    def body(self, i: int) -> str:
        from voting.core.encoding import b64u_encode
        from voting.core.keys import sign_object

        v = i % len(self.signers)
        self.revisions[v] += 1
        options = self.spec["options"]
        signed = {
            "v": 1,
            "type": "ballot",
            "election": self.spec["election"],
            "election_digest": self.spec["digest"],
            "voter": self.signers[v].key_id,
            "revision": self.revisions[v],
            "ranking": self.rng.sample(options, self.rng.randint(1, len(options))),
            "nonce": b64u_encode(os.urandom(16)),
        }
        return json.dumps(sign_object(self.signers[v], signed), separators=(",", ":"))


async def run_producer(base: str, cafile: str, spec_file: str, rate: float) -> None:
    import httpx

    spec = json.loads(Path(spec_file).read_text())
    ballots = BallotMaker(spec, seed=14)
    path = f"{base}/api/elections/{spec['election']}/ballots"
    win: dict[str, Any] = {"statuses": Counter(), "lat": []}
    first: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    cpu = [own_cpu()]

    async with httpx.AsyncClient(verify=client_ssl(cafile) or True, timeout=60, limits=httpx.Limits(max_connections=16)) as client:

        async def cast(i: int) -> None:
            body = ballots.body(i)
            t0 = time.perf_counter()
            try:
                r = await client.post(path, content=body, headers={"content-type": "application/json"})
                status = r.status_code
            except httpx.HTTPError:
                status = 0
            win["lat"].append(time.perf_counter() - t0)
            win["statuses"][status] += 1
            if not first.done():
                first.set_result(status)

        async def pace() -> None:
            tasks: set[asyncio.Task[None]] = set()
            t0 = time.monotonic()
            i = 0
            while True:
                await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
                task = asyncio.create_task(cast(i))  # never waits for an answer: the rate holds
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                i += 1

        pacer = asyncio.create_task(pace())
        status = await first
        if status != 201:
            print(f"the first ballot was answered {status}", file=sys.stderr)
        print("READY", flush=True)

        def mark() -> dict[str, Any]:
            now = own_cpu()
            lat = sorted(win["lat"])
            out = {
                "statuses": {str(k): v for k, v in win["statuses"].items()},
                "p50": lat[len(lat) // 2] if lat else float("nan"),
                "p99": lat[max(0, int(len(lat) * 0.99) - 1)] if lat else float("nan"),
                "cpu_s": now - cpu[0],
            }
            win["statuses"], win["lat"], cpu[0] = Counter(), [], now
            return out

        await control(mark)
        pacer.cancel()


# -- the server and what it spends ----------------------------------------------------------


def _stat(path: str) -> list[str]:
    return Path(path).read_text().rsplit(")", 1)[1].split()


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and all its descendants that are alive."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        fields = _stat(f"/proc/{pid}/stat")
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0
    kids: list[str] = []
    for task in tasks:  # a thread ending meanwhile costs only its own list of children
        try:
            kids += (task / "children").read_text().split()
        except OSError:
            pass
    return (int(fields[11]) + int(fields[12])) / tick + sum(tree_cpu(int(k)) for k in kids)


def server_cpu(pid: int) -> dict[str, Any]:
    """The server: its event-loop thread (CPU, and time spent runnable but waiting for a core),
    its other threads (the argon2 pool, SQLite's, including those that have ended), each live
    thread's own CPU (by id), and its worker processes (signature checks)."""
    tick = os.sysconf("SC_CLK_TCK")
    proc = _stat(f"/proc/{pid}/stat")
    main = _stat(f"/proc/{pid}/task/{pid}/stat")
    _run_ns, wait_ns, _ = (int(x) for x in Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split())
    process = (int(proc[11]) + int(proc[12])) / tick
    loop = (int(main[11]) + int(main[12])) / tick
    per_thread: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        if task.name != str(pid):
            try:
                f = _stat(str(task / "stat"))
            except OSError:
                continue
            per_thread[task.name] = (int(f[11]) + int(f[12])) / tick
    return {"loop": loop, "threads": process - loop, "workers": tree_cpu(pid) - process, "loop_wait": wait_ns / 1e9, "per_thread": per_thread}


def machine() -> dict[str, float]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    total = sum(fields[:8]) / tick  # user nice system idle iowait irq softirq steal
    idle = (fields[3] + fields[4]) / tick
    out = {"total": total, "busy": total - idle - fields[7] / tick, "steal": fields[7] / tick}
    try:
        m = re.search(r"some avg10=\S+ avg60=\S+ avg300=\S+ total=(\d+)", Path("/proc/pressure/cpu").read_text())
        out["pressure"] = int(m.group(1)) / 1e6 if m else float("nan")
    except OSError:
        out["pressure"] = float("nan")
    return out


LAG = "kurultai_event_loop_lag_seconds"


def scrape(metrics_url: str) -> dict[str, Any]:
    import httpx

    text = httpx.get(metrics_url, timeout=30).text
    buckets: dict[float, float] = {}
    for m in re.finditer(LAG + r'_bucket\{le="([^"]+)"\} (\S+)', text):
        buckets[float(m.group(1))] = float(m.group(2))
    count = re.search("^" + LAG + r"_count (\S+)$", text, re.MULTILINE)
    total = re.search("^" + LAG + r"_sum (\S+)$", text, re.MULTILINE)
    gauge = re.search(r"^kurultai_event_loop_lag_max_seconds (\S+)$", text, re.MULTILINE)
    if not buckets or not count or not total or not gauge:
        raise RuntimeError(f"{metrics_url} has no {LAG} histogram or max gauge")
    return {"buckets": buckets, "count": float(count.group(1)), "sum": float(total.group(1)), "max": float(gauge.group(1))}


def lag_between(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The loop-lag samples taken between two scrapes: per bucket, the largest non-empty one."""
    bounds = sorted(b["buckets"])
    per: dict[float, float] = {}
    below = 0.0
    for le in bounds:
        cum = b["buckets"][le] - a["buckets"].get(le, 0.0)
        per[le] = cum - below
        below = cum
    largest = max((le for le in bounds if per[le] > 0), default=0.0)
    finite = [le for le in bounds if le != float("inf")]
    prev = max((le for le in finite if le < largest), default=0.0)
    over_goal = sum(v for le, v in per.items() if le > GOAL_LAG_S)
    samples = b["count"] - a["count"]
    return {
        "samples": samples,
        "mean": (b["sum"] - a["sum"]) / samples if samples else float("nan"),
        "largest": largest,
        "largest_from": prev,
        "over_goal": over_goal,
        "max_gauge": b["max"],
        "gauge_rose": b["max"] > a["max"],
        "per": per,
    }


# -- orchestration ------------------------------------------------------------------------


class Child:
    """A child process of this script that speaks READY / MARK → RESULT / STOP."""

    def __init__(self, name: str, *args: str, nice: int = 0) -> None:
        self.name = name
        prefix = ["nice", "-n", str(nice)] if nice else []  # nice(1) execs: the pid stays the client's
        self.proc = subprocess.Popen([*prefix, sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)

    def expect(self, prefix: str) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith(prefix):
            raise RuntimeError(f"{self.name}: expected {prefix!r}, got {line!r} (exit code {self.proc.poll()})")
        return line[len(prefix) :].strip()

    def tell(self, word: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()

    def mark(self) -> dict[str, Any]:
        self.tell("MARK")
        return json.loads(self.expect("RESULT "))

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.tell("STOP")
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def setup_vote(url: str, demo: dict[str, Any], voters: int, spec_file: Path) -> None:
    """`voters` delegates register keys, the chair approves them and opens the demo's election;
    the producer's spec (election, digest, options, the voters' private keys) goes to a 0600 file."""
    import httpx

    from voting.core.keys import Signer
    from voting.core.signed import digest

    with httpx.Client(base_url=url, timeout=60) as c:

        def call(method: str, path: str, token: str | None = None, body: Any = None) -> Any:
            r = c.request(method, path, json=body, headers={"authorization": f"Bearer {token}"} if token else {})
            if r.status_code >= 300:
                raise RuntimeError(f"{method} {path}: {r.status_code} {r.text}")
            return r.json() if r.content else None

        mod = call("POST", "/api/auth/token", body=demo["moderator"])["token"]
        signers = []
        for cred in demo["delegates"][:voters]:
            token = call("POST", "/api/auth/token", body=cred)["token"]
            s = Signer.generate()
            key = call("POST", "/api/me/keys", token, {"assembly": demo["assembly"], "public_key": s.public_key_b64u})
            call("POST", f"/api/assemblies/{demo['assembly']}/keys/{key['key_id']}/approve", mod)
            signers.append(s)
        opened = call("POST", f"/api/elections/{demo['election']}/open", mod)
    election = opened["election"]["signed"]
    spec = {"election": str(demo["election"]), "digest": digest(election), "options": [o["id"] for o in election["options"]], "keys": [s.private_bytes().hex() for s in signers]}
    spec_file.touch(mode=0o600)
    spec_file.write_text(json.dumps(spec))


async def run_logins(base: str, cafile: str, logins_file: str, concurrency: int) -> None:
    """Waits for `GO`, then every delegate logs in once from this process (one address),
    `concurrency` at a time over keep-alive connections; prints `RESULT {json}`."""
    import httpx

    logins = json.loads(Path(logins_file).read_text())
    loop = asyncio.get_running_loop()
    print("READY", flush=True)
    if (await loop.run_in_executor(None, sys.stdin.readline)).strip() != "GO":
        return
    cpu0 = own_cpu()
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    codes: Counter[int] = Counter()
    async with httpx.AsyncClient(verify=client_ssl(cafile) or True, timeout=300, limits=httpx.Limits(max_connections=concurrency)) as c:

        async def one(login: dict[str, str]) -> None:
            async with gate:
                t0 = time.perf_counter()
                try:
                    code = (await c.post(f"{base}/api/auth/token", json={"username": login["username"], "password": login["password"]})).status_code
                except httpx.HTTPError:
                    code = 0
                latencies.append(time.perf_counter() - t0)
                codes[code] += 1

        started = time.monotonic()
        await asyncio.gather(*(one(login) for login in logins))
        seconds = time.monotonic() - started
    latencies.sort()
    out = {
        "seconds": seconds,
        "codes": {str(k): v for k, v in codes.items()},
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)],
        "max": latencies[-1],
        "cpu_s": own_cpu() - cpu0,
    }
    print("RESULT " + json.dumps(out), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # STOP


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="kurultai-bench-logins-"))
        self.server: subprocess.Popen[str] | None = None
        self.log: Any = None
        self.nginx: Any = None
        self.children: list[Child] = []  # marked at each phase boundary
        self.logins: Child | None = None

    # One snapshot of everything at a phase boundary.
    def snapshot(self) -> dict[str, Any]:
        assert self.server is not None
        return {
            "t": time.monotonic(),
            "lag": scrape(self.metrics_url),
            "server": server_cpu(self.server.pid),
            "machine": machine(),
            "nginx": tree_cpu(self.nginx.proc.pid) if self.nginx is not None and self.nginx.proc is not None else 0.0,
            "main": own_cpu(),
            "load": os.getloadavg()[0],
        }

    def mark(self) -> dict[str, Any]:
        snap = self.snapshot()
        snap["children"] = {c.name: c.mark() for c in self.children}
        return snap

    def start(self) -> dict[str, Any]:
        a = self.args
        port = free_port()
        env = {**os.environ, "KURULTAI_DATA_DIR": str(self.tmp / "data"), "KURULTAI_PORT": str(port)}
        for name in ("KURULTAI_DATABASE_URL", "KURULTAI_REDIS_URL", "KURULTAI_TRUSTED_PROXIES"):
            env.pop(name, None)
        if a.proxy == "nginx":
            env["KURULTAI_TRUSTED_PROXIES"] = "127.0.0.1"  # docs/operations.md, "Behind nginx"
        if a.password_threads:
            env["KURULTAI_PASSWORD_THREADS"] = str(a.password_threads)
        self.log = (self.tmp / "server.log").open("w")
        self.server = subprocess.Popen([*KURULTAI, "serve"], env=env, stdout=self.log, stderr=self.log, text=True, cwd=ROOT)
        self.direct = f"http://127.0.0.1:{port}"
        self.metrics_url = f"{self.direct}/metrics"
        from tests.serving import wait_healthy

        if not wait_healthy(self.direct, self.server, timeout=60):
            raise RuntimeError("the server did not start")
        print(f"server {self.direct} (pid {self.server.pid}), data in {self.tmp / 'data'}; creating the demo with {a.delegates} delegates…", flush=True)
        t0 = time.monotonic()
        out = subprocess.run([*KURULTAI, "demo", "--delegates", str(a.delegates), "--json"], check=False, env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
        if out.returncode != 0:
            raise RuntimeError(f"kurultai demo: {out.stdout} {out.stderr}")
        demo = json.loads(out.stdout)
        logins_file = self.tmp / "logins.json"
        logins_file.touch(mode=0o600)
        logins_file.write_text(json.dumps(demo["delegates"]))
        print(f"demo: assembly {demo['assembly']}, election {demo['election']}, {len(demo['delegates'])} delegates ({time.monotonic() - t0:.0f} s)", flush=True)
        spec = self.tmp / "producer.json"
        setup_vote(self.direct, demo, a.voters, spec)
        if a.argon2_nice:
            # The argon2 pool's thread is the busiest thread but the loop after the voters' logins
            # (Python 3.11 does not name OS threads); it keeps the value for the whole run.
            threads = server_cpu(self.server.pid)["per_thread"]
            tid, spent = max(threads.items(), key=lambda kv: kv[1])
            if spent < 0.5 * a.voters * 0.02:
                raise RuntimeError(f"no thread looks like the argon2 pool's (busiest {tid}: {spent:.2f} s)")
            os.setpriority(os.PRIO_PROCESS, int(tid), a.argon2_nice)
            print(f"the server's argon2 thread ({tid}, {spent:.1f} s so far) runs at nice {a.argon2_nice}", flush=True)
        if a.loop_nice:
            # Linux: PRIO_PROCESS with a thread id sets that thread's nice value only. The argon2
            # pool's thread already exists (the voters logged in) and keeps nice 0.
            os.setpriority(os.PRIO_PROCESS, self.server.pid, a.loop_nice)
            print(f"the server's event-loop thread runs at nice {a.loop_nice}", flush=True)
        self.base, self.ws_base, self.cafile = self.direct, f"ws://127.0.0.1:{port}", ""
        if a.proxy == "nginx":
            from tests.nginx import Nginx

            self.nginx = Nginx(self.tmp / "nginx", port).__enter__()
            self.base, self.ws_base, self.cafile = self.nginx.url, "wss" + self.nginx.url[5:], str(self.nginx.cert)
        self.setup_lag = scrape(self.metrics_url)["max"]
        print(f"election open, {a.voters} voters; clients go to {self.base}" + (f" (at nice {a.clients_nice})" if a.clients_nice else ""), flush=True)
        nice = a.clients_nice
        self.children.append(Child("producer", "--role", "producer", "--url", self.base, "--cafile", self.cafile, "--spec", str(spec), "--rate", str(a.rate), nice=nice))
        self.children[-1].expect("READY")
        procs = max(1, a.observer_procs)
        for i in range(procs):
            n = a.observers // procs + (1 if i < a.observers % procs else 0)
            url = f"{self.ws_base}/ws/assemblies/{demo['assembly']}"
            self.children.append(Child(f"observers{i}", "--role", "observers", "--url", url, "--n", str(n), "--cafile", self.cafile, nice=nice))
        for c in self.children[1:]:
            c.expect("READY")
        self.logins = Child("logins", "--role", "logins", "--url", self.base, "--cafile", self.cafile, "--spec", str(logins_file), "--concurrency", str(a.concurrency), nice=nice)
        self.logins.expect("READY")
        self.connect_lag = scrape(self.metrics_url)["max"]
        return demo

    def run(self) -> dict[str, Any]:
        a = self.args
        demo = self.start()
        assert self.logins is not None
        print(f"{a.observers} observers connected; warm-up {a.warmup:.0f} s, then QUIET {a.phase:.0f} s, then WAVE {a.phase:.0f} s", flush=True)
        time.sleep(a.warmup)
        s0 = self.mark()  # the warm-up ends
        time.sleep(a.phase)
        s1 = self.mark()  # QUIET ends, WAVE begins
        profiler = None
        if os.environ.get("BENCH_PROFILE"):  # py-spy on the server while the logins run (as in bench/ingest.py)
            spy = os.environ.get("BENCH_PYSPY") or str(Path(sys.executable).parent / "py-spy")
            out = os.environ["BENCH_PROFILE"]
            fmt = os.environ.get("BENCH_PROFILE_FORMAT", "raw")
            profiler = subprocess.Popen([spy, "record", "--pid", str(self.server.pid), *os.environ.get("BENCH_PROFILE_ARGS", "").split(), "-o", out, "-f", fmt], stdout=subprocess.DEVNULL)
        self.logins.tell("GO")
        wave = json.loads(self.logins.expect("RESULT "))
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(60)
        s2 = self.mark()  # the last login is answered
        rest = s1["t"] + a.phase - time.monotonic()
        if rest > 0:
            time.sleep(rest)
        s3 = self.mark()  # WAVE ends
        return {"demo": demo, "snaps": [s0, s1, s2, s3], "wave": wave, "setup_lag": self.setup_lag, "connect_lag": self.connect_lag}

    def close(self) -> None:
        for c in [*self.children, *([self.logins] if self.logins else [])]:
            try:
                c.stop()
            except Exception:
                pass
        if self.nginx is not None:
            self.nginx.__exit__(None, None, None)
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGINT)
            try:
                self.server.wait(20)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        if self.log is not None:
            self.log.close()
        if self.args.keep:
            print(f"kept {self.tmp} (server.log, data/)")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def server_log_tail(self) -> str:
        try:
            return "".join((self.tmp / "server.log").read_text().splitlines(True)[-30:])
        except OSError:
            return ""


# -- report -------------------------------------------------------------------------------


def window(a: dict[str, Any], b: dict[str, Any], child_results: list[dict[str, Any]], login_cpu: float = 0.0) -> dict[str, Any]:
    """Figures between snapshots a and b; `child_results` are the children's windows that make it
    up, `login_cpu` the login client's CPU seconds in it."""
    seconds = b["t"] - a["t"]
    hist: Counter[int] = Counter()
    observer_cpu = producer_cpu = 0.0
    statuses: Counter[str] = Counter()
    ballot_p99 = 0.0
    closed = 0
    for results in child_results:
        for name, r in results.items():
            if name.startswith("observers"):
                hist.update({int(k): v for k, v in r["hist"].items()})
                observer_cpu += r["cpu_s"]
                closed = max(closed, r["closed"])
            else:
                producer_cpu += r["cpu_s"]
                statuses.update(r["statuses"])
                ballot_p99 = max(ballot_p99, r["p99"])
    sa, sb, ma, mb = a["server"], b["server"], a["machine"], b["machine"]
    total = mb["total"] - ma["total"]
    busiest = max((cpu - sa["per_thread"].get(tid, 0.0) for tid, cpu in sb["per_thread"].items()), default=0.0)
    cpu = {
        "loop": (sb["loop"] - sa["loop"]) / seconds,
        "threads": (sb["threads"] - sa["threads"]) / seconds,
        "busiest": busiest / seconds,
        "workers": max(0.0, sb["workers"] - sa["workers"]) / seconds,  # alive ones: a recycled worker takes its CPU along
        "observers": observer_cpu / seconds,
        "producer": producer_cpu / seconds,
        "nginx": (b["nginx"] - a["nginx"]) / seconds,
        "client": (b["main"] - a["main"] + login_cpu) / seconds,
    }
    ours = sum(v for k, v in cpu.items() if k != "busiest")
    cpu["others"] = max(0.0, (mb["busy"] - ma["busy"]) / seconds - ours)
    return {
        "seconds": seconds,
        "lag": lag_between(a["lag"], b["lag"]),
        "events": sum(hist.values()),
        "p50": percentile(hist, 0.50),
        "p99": percentile(hist, 0.99),
        "max": max(hist) / 1000 if hist else float("nan"),
        "closed": closed,
        "ballots": statuses,
        "ballot_p99": ballot_p99,
        "cpu": cpu,
        "loop_wait": (sb["loop_wait"] - sa["loop_wait"]) / seconds,
        "busy": (mb["busy"] - ma["busy"]) / total if total else float("nan"),
        "steal": (mb["steal"] - ma["steal"]) / total if total else float("nan"),
        "pressure": (mb["pressure"] - ma["pressure"]) / seconds,
        "load": b["load"],
    }


def ms(s: float) -> str:
    return "–" if math.isnan(s) else f"{s * 1000:.0f} ms"


def report(args: argparse.Namespace, out: dict[str, Any]) -> bool:
    s0, s1, s2, s3 = out["snaps"]
    wave_login = out["wave"]
    quiet = window(s0, s1, [s1["children"]])
    logins = window(s1, s2, [s2["children"]], wave_login["cpu_s"])
    after = window(s2, s3, [s3["children"]]) if s3["t"] - s2["t"] > 0.5 else None
    wave = window(s1, s3, [s2["children"], s3["children"]], wave_login["cpu_s"])
    rows = [("QUIET", quiet), ("WAVE", wave), ("  logins", logins)] + ([("  after", after)] if after else [])
    n = sum(wave_login["codes"].values())
    not_ok = n - wave_login["codes"].get("200", 0)
    print()
    extra = (
        (f", KURULTAI_PASSWORD_THREADS={args.password_threads}" if args.password_threads else "")
        + (f", event-loop thread at nice {args.loop_nice}" if args.loop_nice else "")
        + (f", argon2 thread at nice {args.argon2_nice}" if args.argon2_nice else "")
        + (f", clients at nice {args.clients_nice}" if args.clients_nice else "")
    )
    print(
        f"{os.cpu_count()} cores, {args.proxy if args.proxy != 'none' else 'direct (no proxy)'}{extra}; {args.observers} observers, {args.voters} voters at {args.rate:g} ballots/s, "
        f"{n} logins {args.concurrency} at a time from one address"
    )
    print(
        f"logins: {n} in {wave_login['seconds']:.1f} s = {n / wave_login['seconds']:.1f}/s; latency p50 {ms(wave_login['p50'])}, p99 {ms(wave_login['p99'])}, max {ms(wave_login['max'])}; "
        f"not 200: {not_ok}" + (f" {dict(wave_login['codes'])}" if not_ok else "")
    )
    print(f"largest event-loop lag before the phases: {ms(out['setup_lag'])} (demo, voters' logins and keys, opening the election), {ms(out['connect_lag'])} once the observers had connected")
    print()
    print("| phase | s | loop lag: largest bucket | samples > 50 ms | mean | max gauge (rose?) | events | delay p50 | delay p99 | delay max | ballots (non-201) | ballot p99 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, w in rows:
        lag = w["lag"]
        bucket = "> 2 s" if lag["largest"] == float("inf") else f"{ms(lag['largest_from'])}–{ms(lag['largest'])}" if lag["largest"] else "–"
        refused = sum(v for k, v in w["ballots"].items() if k != "201")
        print(
            f"| {name} | {w['seconds']:.1f} | {bucket} | {lag['over_goal']:.0f} of {lag['samples']:.0f} | {lag['mean'] * 1000:.1f} ms | {ms(lag['max_gauge'])} ({'yes' if lag['gauge_rose'] else 'no'}) "
            f"| {w['events']:,} | {ms(w['p50'])} | {ms(w['p99'])} | {ms(w['max'])} | {sum(w['ballots'].values())} ({refused}) | {ms(w['ballot_p99'])} |"
        )
    print()
    print("CPU (cores busy on average; 2 = both cores)")
    print(
        "| phase | server loop thread | its runqueue wait | server other threads (busiest: argon2) | sig workers | observers | producer | logins client | nginx | other processes | machine busy | steal | CPU pressure (some) | load avg 1 min |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, w in rows:
        c = w["cpu"]
        print(
            f"| {name} | {c['loop']:.2f} | {w['loop_wait'] * 100:.0f} % | {c['threads']:.2f} ({c['busiest']:.2f}) | {c['workers']:.2f} | {c['observers']:.2f} | {c['producer']:.2f} | {c['client']:.2f} | {c['nginx']:.2f} "
            f"| {c['others']:.2f} | {w['busy'] * 100:.0f} % | {w['steal'] * 100:.0f} % | {w['pressure'] * 100:.0f} % | {w['load']:.2f} |"
        )
    print()
    print("loop-lag samples per bucket (upper bound: count), per phase")
    for name, w in rows:
        per = ", ".join(f"{'+Inf' if le == float('inf') else f'{le * 1000:g}ms'}: {v:.0f}" for le, v in w["lag"]["per"].items() if v)
        print(f"  {name.strip():7s} {per}")
    print()
    lag_ok = wave["lag"]["over_goal"] == 0 and not (wave["lag"]["gauge_rose"] and wave["lag"]["max_gauge"] > GOAL_LAG_S)
    q99 = max(quiet["p99"], 0.001)  # ms resolution: a sub-millisecond quiet p99 counts as 1 ms
    ratio = wave["p99"] / q99
    ratio_logins = logins["p99"] / q99
    delay_ok = ratio <= GOAL_P99_RATIO
    wave_lag = "> 2 s" if wave["lag"]["largest"] == float("inf") else f"≤ {ms(wave['lag']['largest'])}"
    print(
        f"{'PASS' if lag_ok else 'FAIL'}  event-loop lag during the wave ≤ {GOAL_LAG_S * 1000:.0f} ms: largest sample {wave_lag} "
        f"({wave['lag']['over_goal']:.0f} of {wave['lag']['samples']:.0f} samples above 50 ms; max gauge {ms(wave['lag']['max_gauge'])}, {'set during the wave' if wave['lag']['gauge_rose'] else 'from earlier'})"
    )
    print(
        f"{'PASS' if delay_ok else 'FAIL'}  event delay p99 wave / quiet ≤ {GOAL_P99_RATIO}: {ms(wave['p99'])} / {ms(quiet['p99'])} = {ratio:.2f} "
        f"(while the logins ran: {ms(logins['p99'])}, {ratio_logins:.2f})"
    )
    print(f"{'PASS' if not not_ok else 'FAIL'}  every login answered 200: {n - not_ok} of {n}")
    if max(w["cpu"]["others"] for _, w in rows) > 0.2:
        print(f"note: other processes on this machine used up to {max(w['cpu']['others'] for _, w in rows):.2f} cores during a phase; the figures include their contention")
    closed = max(w["closed"] for _, w in rows)
    if closed:
        print(f"note: {closed} observer sockets were closed by the server")
    return lag_ok and delay_ok and not not_ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--proxy", choices=["none", "nginx"], default="none", help="nginx: logins, ballots and observers go through nginx configured from docs/operations.md (tests/nginx.py)")
    ap.add_argument("--phase", type=float, default=30.0, help="seconds of each phase, QUIET and WAVE (default 30)")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds of vote and observers before QUIET (default 5)")
    ap.add_argument("--delegates", type=int, default=500, help="delegates in the demo, each logs in once in the wave (default 500)")
    ap.add_argument("--concurrency", type=int, default=50, help="logins in flight at once (default 50)")
    ap.add_argument("--voters", type=int, default=50, help="delegates with keys who cast ballots (default 50)")
    ap.add_argument("--rate", type=float, default=20.0, help="ballots per second (default 20; the per-key limit is 60 a minute)")
    ap.add_argument("--observers", type=int, default=200, help="observer websockets (default 200)")
    ap.add_argument("--observer-procs", type=int, default=2, help="processes the observers are spread over (default 2)")
    ap.add_argument("--password-threads", type=int, default=0, help="KURULTAI_PASSWORD_THREADS for the server (default: unset, one less than the cores)")
    ap.add_argument("--loop-nice", type=int, default=0, help="diagnosis: set the nice value of the server's event-loop thread only (negative needs root)")
    ap.add_argument("--argon2-nice", type=int, default=0, help="diagnosis: set the nice value of the server's argon2 thread (with the default one thread)")
    ap.add_argument("--clients-nice", type=int, default=0, help="diagnosis: run the client processes (observers, producer, logins), which stand in for other devices, at this nice value")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (server log, data)")
    ap.add_argument("--role", choices=["main", "producer", "observers", "logins"], default="main", help=argparse.SUPPRESS)
    ap.add_argument("--url", default="", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--cafile", default="", help=argparse.SUPPRESS)
    ap.add_argument("--spec", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "producer":
        asyncio.run(run_producer(args.url, args.cafile, args.spec, args.rate))
        return 0
    if args.role == "logins":
        asyncio.run(run_logins(args.url, args.cafile, args.spec, args.concurrency))
        return 0
    if args.role == "observers":
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        asyncio.run(run_observers(args.url, args.n, args.cafile))
        return 0
    if args.voters > args.delegates or args.rate / max(args.voters, 1) * 60 > 60:
        ap.error("--voters must be ≤ --delegates, and each voter may cast at most 60 ballots a minute (--rate ≤ --voters)")
    raise_nofile()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up as on Ctrl-C
    bench = Bench(args)
    try:
        out = bench.run()
    except Exception:
        tail = bench.server_log_tail()
        if tail:
            print("server log (last lines):\n" + tail, file=sys.stderr)
        raise
    finally:
        bench.close()
    return 0 if report(args, out) else 1


if __name__ == "__main__":
    sys.exit(main())
