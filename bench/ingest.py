"""Ballot ingestion over HTTP: accepted ballots/s into one server process on SQLite.

Method (issue #4): a roll of 10,000 voters; the ballots are signed before the measurement by
this process; a load generator in another process sends them over keep-alive HTTP/1.1
connections (bare asyncio protocols, so the client costs little CPU); the server is
`kurultai serve` in its own process. The baseline, measured in the same run, is the bare
single-core Ed25519 verification rate of `cryptography`. Goal: accepted/s >= 0.5 x that rate.
Reports p50/p99 latency per ballot too.

The load runs in rounds (3 by default), each in an election of its own (on its own provision,
with the same roll), in which every voter casts a first ballot. Each round has its own baseline,
the mean of a measurement just before and one just after it, because this kind of machine's
speed drifts by ±20 % within a minute; the result is the median round.

    .venv/bin/python bench/ingest.py [--voters 10000] [--connections 256] [--rounds 3] [--quick] [--proxy nginx] [--workers N]

`--proxy nginx` measures the deployment docs/operations.md documents: nginx (Debian's package,
`apt-get install -y nginx`) in front, configured exactly as that document shows (tests/nginx.py
reads the configuration from it), TLS from the load generator to nginx, and the server started
with `KURULTAI_TRUSTED_PROXIES=127.0.0.1`. nginx shares the machine's cores with the server and
the load generator. Goal there (issue #15): >= 0.30 x the bare verify rate.

`--workers N` (N >= 2) measures `kurultai serve --workers N` on PostgreSQL with Redis, as
docs/operations.md ("Several processes") documents: a fresh database on `--postgres` and a fresh
key prefix on `--redis`, both dropped after. The server's CPU is then that of all its processes
together (the per-thread split is not shown). Goal (issue #15), with `--proxy nginx`: >= 0.40 x
the bare verify rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def verify_rate(seconds: float = 1.5) -> float:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pub = key.public_key()
    msg = b"x" * 300
    sig = key.sign(msg)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            pub.verify(sig, msg)
        n += 200
    return n / (time.perf_counter() - start)


async def setup(data_dir: Path, voters: int, rounds: int, database_url: str | None = None) -> list[tuple[int, list[bytes]]]:
    """Create an assembly with `voters` approved delegates and an open election per round, each
    on its own provision; sign one ballot per voter in each."""
    import os as _os

    from deliberation import agenda, assemblies, draft
    from deliberation.context import Ctx
    from deliberation.tables import Membership, User
    from kurultai.db import Database
    from kurultai.settings import Settings
    from voting import elections
    from voting.core.encoding import b64u_encode
    from voting.core.keys import Signer, sign_object
    from voting.server_key import load_or_create
    from voting.tables import DelegateKey

    settings = Settings(data_dir=data_dir, database_url=database_url)
    db = Database(settings)
    await db.migrate()
    await db.start()
    ctx = Ctx(db=db, clock=lambda: int(time.time() * 1000))
    a = await assemblies.create_assembly(ctx, "bench", title="Bench")
    p = await draft.add_provision(ctx, a["id"], "bench", number="1", kind="article", title="", text="Text.", after=None)
    item = await agenda.create_item(ctx, a["id"], "bench", title="Item", provisions=[p["id"]])
    for phase in ("debate", "amendments", "voting"):
        await agenda.set_phase(ctx, item["id"], "bench", phase)
    signers = [Signer.generate() for _ in range(voters)]

    async def bulk(tx: object) -> None:
        for start in range(0, voters, 400):
            chunk = range(start, min(voters, start + 400))
            await User.insert(*[User(username=f"v{i:05d}", display_name="") for i in chunk])
        ids = {r["username"]: r["id"] for r in await User.select(User.id, User.username)}
        for start in range(0, voters, 400):
            chunk = range(start, min(voters, start + 400))
            await Membership.insert(*[Membership(assembly=a["id"], user=ids[f"v{i:05d}"], role="delegate") for i in chunk])
            await DelegateKey.insert(
                *[DelegateKey(assembly=a["id"], user=ids[f"v{i:05d}"], key_id=signers[i].key_id, public_key=b64u_encode(signers[i].public_key_raw), status="approved") for i in chunk]
            )

    await ctx.write(bulk)
    from voting.core.signed import digest

    per_round = []
    for round_ in range(rounds):
        if round_:  # the first round's provision and item are the ones above
            p = await draft.add_provision(ctx, a["id"], "bench", number=str(round_ + 1), kind="article", title="", text="Text.", after=None)
            item = await agenda.create_item(ctx, a["id"], "bench", title=f"Item {round_ + 1}", provisions=[p["id"]])
            for phase in ("debate", "amendments", "voting"):
                await agenda.set_phase(ctx, item["id"], "bench", phase)
        e = await elections.create_election(ctx, item["id"], "bench", {"kind": "amendments", "provision": p["id"], "method": "schulze"})
        opened = await elections.open_election(ctx, load_or_create(data_dir), int(e["id"]), "bench")
        d = digest(opened["election"]["signed"])
        bodies = []
        for s in signers:
            signed = {"v": 1, "type": "ballot", "election": e["id"], "election_digest": d, "voter": s.key_id, "revision": 1, "ranking": ["status_quo"], "nonce": b64u_encode(_os.urandom(16))}
            bodies.append(json.dumps(sign_object(s, signed), separators=(",", ":")).encode())
        per_round.append((int(e["id"]), bodies))
    await db.stop()
    return per_round


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection of the load generator, as a bare protocol: it sends the
    next ballot when the previous answer is complete and records its latency and status.

    Why not asyncio streams: the load generator shares the server's two cores, and with
    `StreamReader.readline` per header line each ballot cost it ~70–90 µs of CPU on a slow
    machine, taken from the server. Here an answer is parsed from the buffer with two searches
    (status line, `content-length`), a few µs."""

    def __init__(self, head: bytes, bodies: list[bytes], latencies: list[float], statuses: dict[int, int], done: asyncio.Future[None]) -> None:
        self.head = head
        self.bodies = bodies
        self.next = 0
        self.latencies = latencies
        self.statuses = statuses
        self.done = done
        self.buffer = b""
        self.t0 = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        if self.next == len(self.bodies):
            self.transport.close()
            if not self.done.done():
                self.done.set_result(None)
            return
        body = self.bodies[self.next]
        self.next += 1
        self.t0 = time.perf_counter()
        self.transport.write(self.head % len(body) + body)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        header = self.buffer[:end].lower()
        at = header.find(b"\r\ncontent-length:")
        length = int(header[at + 17 : header.find(b"\r\n", at + 2) if header.find(b"\r\n", at + 2) > 0 else None]) if at >= 0 else 0
        if len(self.buffer) < end + 4 + length:
            return
        self.latencies.append(time.perf_counter() - self.t0)
        code = int(header[9:12])
        self.statuses[code] = self.statuses.get(code, 0) + 1
        self.buffer = self.buffer[end + 4 + length :]
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError(f"the server closed the connection after {self.next} of {len(self.bodies)} ballots"))


async def _client(port: int, path: str, bodies: list[bytes], latencies: list[float], statuses: dict[int, int], tls: Any = None) -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    head = f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n".encode()
    await loop.create_connection(lambda: _Connection(head, bodies, latencies, statuses, done), "127.0.0.1", port, ssl=tls)
    await done


def load_generator(port: int, path: str, bodies: list[bytes], connections: int, out: "mp.Queue[object]", cafile: str | None = None) -> None:
    async def main() -> None:
        import ssl

        tls = ssl.create_default_context(cafile=cafile) if cafile else None
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        share = [bodies[i::connections] for i in range(connections)]
        t0 = time.perf_counter()
        await asyncio.gather(*(_client(port, path, part, latencies, statuses, tls) for part in share))
        elapsed = time.perf_counter() - t0
        cpu = os.times()
        lat = sorted(latencies)
        p50, p99 = statistics.median(lat), lat[int(len(lat) * 0.99) - 1]
        out.put({"elapsed": elapsed, "p50": p50, "p99": p99, "statuses": statuses, "client_cpu": cpu.user + cpu.system})

    asyncio.run(main())


def python_load(port: int, path: str, bodies: list[bytes], connections: int, cafile: str | None, filler: str) -> dict[str, Any]:
    """The ballots sent by `load_generator` in a forked process (`--client python`)."""
    out: mp.Queue[object] = mp.Queue()
    gen = mp.get_context("fork").Process(target=load_generator, args=(port, path, bodies, connections, out, cafile))
    gen.start()
    report = out.get(timeout=600)
    gen.join()
    assert isinstance(report, dict)
    return report


def wrk_load(port: int, path: str, bodies: list[bytes], connections: int, cafile: str | None, filler: str) -> dict[str, Any]:
    """The ballots sent by wrk (`--client wrk`, Debian's package), with bench/ingest.lua: one
    thread, as many keep-alive connections, each ballot once, to whichever connection is free
    (the Python generator deals them out in advance); a connection with none left waits. wrk's
    CPU is its own (the children's resource usage around it)."""
    with tempfile.NamedTemporaryFile("wb", suffix=".bodies") as f:
        for body in bodies:
            assert b"\n" not in body
            f.write(body + b"\n")
        f.flush()
        url = f"{'https' if cafile else 'http'}://127.0.0.1:{port}"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        # wrk runs for its -d duration whatever its threads do: its thread says when it has
        # every answer, and is then interrupted (SIGINT ends wrk's wait and prints its results).
        wrk = subprocess.Popen(
            ["wrk", "-t1", f"-c{connections}", "-d600s", "--timeout", "60s", "-s", str(ROOT / "bench" / "ingest.lua"), url, "--", f.name, path, filler, "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert wrk.stdout is not None
            seen = []
            for line in wrk.stdout:
                seen.append(line)
                if line.startswith("KURULTAI-WRK-DONE"):
                    wrk.send_signal(signal.SIGINT)
                    break
            rest, errors = wrk.communicate(timeout=60)
        finally:
            if wrk.poll() is None:
                wrk.kill()
                wrk.wait()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = "".join(seen) + rest
    line = next((line for line in output.splitlines() if line.startswith("KURULTAI-WRK ")), None)
    if wrk.returncode != 0 or line is None:
        raise RuntimeError(f"wrk exited with {wrk.returncode} and no result:\n{output}\n{errors}")
    got = json.loads(line.split(" ", 1)[1])
    if got["errors"]:
        raise RuntimeError(f"wrk saw {got['errors']} socket errors or timeouts:\n{output}")
    if got["elapsed_us"] <= 0 or sum(got["statuses"].values()) != len(bodies):
        raise RuntimeError(f"wrk did not have an answer to every ballot ({got['statuses']} of {len(bodies)}):\n{output}")
    return {
        "elapsed": got["elapsed_us"] / 1e6,
        "p50": got["p50_us"] / 1e6,
        "p99": got["p99_us"] / 1e6,
        "statuses": {int(code): n for code, n in got["statuses"].items()},
        "client_cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
    }


CLIENTS = {"python": python_load, "wrk": wrk_load}


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) per thread name of a process, from /proc, and of its child
    processes (the signature-check workers) under "workers"."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    children: list[str] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            name = (task / "comm").read_text().strip()
            children += (task / "children").read_text().split()
        except OSError:
            continue
        key = "main" if task.name == str(pid) else name
        out[key] = out.get(key, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    for child in children:
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out["workers"] = out.get("workers", 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: Other programs that work for each ballot, whose CPU a round reports per ballot.
SERVICES = ("nginx", "postgres", "redis-server")


def service_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds of each process named in SERVICES, by pid (a pid seen only at the end of a
    round counts from zero; one that ended during the round is left out, never subtracted)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[str, float]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            head, rest = (proc / "stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        name = head.split("(", 1)[1]
        if name in SERVICES:
            fields = rest.split()
            out[int(proc.name)] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return out


def run_round(port: int, path: str, bodies: list[bytes], connections: int, server_pid: int, cafile: str | None = None, workers: int = 1, client: str = "python") -> dict[str, Any]:
    """One round: the baseline just before, the load, the baseline just after."""
    before = verify_rate(1.0)
    from bench.logins import machine, tree_cpu

    cpu_before = thread_cpu(server_pid) if workers == 1 else {"all": tree_cpu(server_pid)}
    services_before = service_cpu()
    busy_before, t_before = machine()["busy"], time.perf_counter()
    report = CLIENTS[client](port, path, bodies, connections, cafile, path.removesuffix("/ballots") + "/sth")
    cpu_after = thread_cpu(server_pid) if workers == 1 else {"all": tree_cpu(server_pid)}
    busy = (machine()["busy"] - busy_before) / (time.perf_counter() - t_before)
    services = dict.fromkeys(SERVICES, 0.0)
    for pid, (name, spent) in service_cpu().items():
        earlier = services_before.get(pid)
        services[name] += spent - (earlier[1] if earlier and earlier[0] == name else 0.0)
    after = verify_rate(1.0)
    accepted = report["statuses"].get(201, 0)
    rate = accepted / report["elapsed"]
    cpu = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
    main_cpu, worker_cpu = cpu.get("main", 0.0), cpu.get("workers", 0.0)
    per = 1e6 / max(accepted, 1)
    return {
        "before": before,
        "after": after,
        "base": (before + after) / 2,
        "sent": len(bodies),
        "accepted": accepted,
        "statuses": report["statuses"],
        "rate": rate,
        "ratio": rate / ((before + after) / 2),
        "p50": report["p50"] * 1000,
        "p99": report["p99"] * 1000,
        "loop_us": main_cpu * per,
        "threads_us": (sum(cpu.values()) - main_cpu - worker_cpu) * per,
        "workers_us": worker_cpu * per,
        "client_us": report["client_cpu"] / max(len(bodies), 1) * 1e6,
        "cpu": cpu,
        "services_us": {name: services[name] * per for name in SERVICES},
        "busy_cores": busy,
    }


def cleanup(data_dir: Path, args: argparse.Namespace, pg_name: str, redis_prefix: str) -> None:
    """Remove what the run made; a step that fails is reported, not raised over the run's own error."""
    shutil.rmtree(data_dir, ignore_errors=True)
    try:
        if pg_name:
            from bench.crash import _pg

            asyncio.run(_pg(args.postgres, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
    except Exception as exc:  # noqa: BLE001 - the results still print
        print(f"cleanup: could not drop the database {pg_name}: {exc}", file=sys.stderr)
    try:
        if redis_prefix:
            import redis

            r = redis.Redis.from_url(args.redis, socket_timeout=5)
            try:
                for key in r.scan_iter(match=redis_prefix + "*"):
                    r.delete(key)
            finally:
                r.close()
    except Exception as exc:  # noqa: BLE001
        print(f"cleanup: could not delete the Redis keys {redis_prefix}*: {exc}", file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voters", type=int, default=10_000)
    ap.add_argument("--connections", type=int, default=256, help="keep-alive connections of the load generator (default 256: enough to keep the server busy)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of one ballot per voter, each in a new election; the median round is the result")
    ap.add_argument("--quick", action="store_true", help="1,000 voters, for a smoke run")
    ap.add_argument("--proxy", choices=["nginx"], default=None, help="send the ballots through nginx configured as docs/operations.md shows (TLS)")
    ap.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default="python",
        help="the load generator: python (asyncio protocols in a forked process) or wrk (Debian's package, bench/ingest.lua)",
    )
    ap.add_argument("--workers", type=int, default=1, help="serve --workers N on PostgreSQL and Redis (a fresh database and key prefix, dropped after)")
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432", help="with --workers: the PostgreSQL server")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="with --workers: the Redis server")
    args = ap.parse_args()
    voters = 1000 if args.quick else args.voters
    rounds = max(1, args.rounds)

    data_dir = Path(tempfile.mkdtemp(prefix="kurultai-bench-"))
    results: list[dict[str, Any]] = []
    pg_name = redis_prefix = ""
    try:
        # The load generator stands in for 10,000 devices from one address: lift the per-address
        # limit (20,000 ballots a minute by default), which the rounds would otherwise reach.
        env = {"KURULTAI_BALLOT_CLIENT_RATE": "100000000", **os.environ, "KURULTAI_DATA_DIR": str(data_dir)}
        for name in ("KURULTAI_DATABASE_URL", "KURULTAI_REDIS_URL", "KURULTAI_TRUSTED_PROXIES"):
            env.pop(name, None)
        database_url = None
        if args.workers > 1:  # docs/operations.md, "Several processes": PostgreSQL and Redis
            from bench.crash import _pg

            pg_name, redis_prefix = f"kurultai_bench_ingest_{os.getpid()}", f"kurultai-bench-ingest-{os.getpid()}:"
            asyncio.run(_pg(args.postgres, f'CREATE DATABASE "{pg_name}"'))
            database_url = f"{args.postgres}/{pg_name}"
            env |= {"KURULTAI_DATABASE_URL": database_url, "KURULTAI_REDIS_URL": args.redis, "KURULTAI_REDIS_PREFIX": redis_prefix}
        per_round = asyncio.run(setup(data_dir, voters, rounds, database_url))
        port = free_port()
        env["KURULTAI_PORT"] = str(port)
        if args.proxy:
            env["KURULTAI_TRUSTED_PROXIES"] = "127.0.0.1"
        cmd = [
            sys.executable,
            os.environ.get("BENCH_SERVER", "-m"),
            *([] if os.environ.get("BENCH_SERVER") else ["kurultai.cli"]),
            "serve",
            *os.environ.get("BENCH_SERVE_ARGS", "--no-access-log").split(),
            *(["--workers", str(args.workers)] if args.workers > 1 else []),
        ]
        server = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=None if os.environ.get("BENCH_SERVER") else subprocess.DEVNULL)
        try:
            deadline = time.time() + 60
            while time.time() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            # Warm up: the first request for an election loads its state (the roll) into memory.
            import urllib.request

            for eid, _bodies in per_round:  # a new connection each, so that with --workers each worker likely loads it (the kernel picks)
                for _ in range(4 * args.workers - 3):
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/elections/{eid}/tally", timeout=60).read()
            profiler = None
            if os.environ.get("BENCH_PROFILE"):  # py-spy attached for the measured part only
                profiler = subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "py-spy"),
                        "record",
                        "--pid",
                        str(server.pid),
                        *os.environ.get("BENCH_PROFILE_ARGS", "").split(),
                        "-o",
                        os.environ["BENCH_PROFILE"],
                        "-f",
                        os.environ.get("BENCH_PROFILE_FORMAT", "speedscope"),
                    ],
                    stdout=subprocess.DEVNULL,
                )
                time.sleep(1)
            if args.proxy:
                from tests.nginx import Nginx

                with Nginx(data_dir / "nginx", port) as proxy:
                    for eid, bodies in per_round:
                        results.append(run_round(proxy.port, f"/api/elections/{eid}/ballots", bodies, args.connections, server.pid, str(proxy.cert), args.workers, args.client))
            else:
                for eid, bodies in per_round:
                    results.append(run_round(port, f"/api/elections/{eid}/ballots", bodies, args.connections, server.pid, None, args.workers, args.client))
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(timeout=60)
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:  # its workers must not outlive the database below
                subprocess.run(["pkill", "-KILL", "-P", str(server.pid)], check=False)
                server.kill()
                server.wait()
    finally:
        cleanup(data_dir, args, pg_name, redis_prefix)

    serving = "one `kurultai serve` process on SQLite" if args.workers == 1 else f"`kurultai serve --workers {args.workers}` on PostgreSQL and Redis"
    print(
        f"{serving}, {'behind nginx (TLS)' if args.proxy else 'direct'}; {voters:,} voters on the roll, {args.connections} connections ({args.client} load generator), {rounds} rounds (each: every voter's first ballot in a new election)"
    )
    cpu_columns = "loop, threads, workers" if args.workers == 1 else "all its processes"
    print(f"round  bare verify/s (before, after)   accepted/s   ratio   p50 / p99 ms    server CPU µs/ballot: {cpu_columns}   client µs")
    for i, r in enumerate(results, start=1):
        print(
            f"{i:5d}  {r['base']:7,.0f} ({r['before']:,.0f}, {r['after']:,.0f})   {r['rate']:10,.0f}   {r['ratio']:5.2f}   {r['p50']:5.1f} / {r['p99']:5.1f}"
            + (f"    {r['loop_us']:5.0f}, {r['threads_us']:4.0f}, {r['workers_us']:4.0f}" if args.workers == 1 else f"    {r['threads_us']:5.0f}")
            + f"   {r['client_us']:5.0f}"
            + ("" if r["accepted"] == r["sent"] else f"   accepted {r['accepted']:,} of {r['sent']:,}: {r['statuses']}")
        )
        others = ", ".join(f"{name} {spent:.0f}" for name, spent in r["services_us"].items() if spent >= 1)
        print(f"       machine: {r['busy_cores']:.2f} of {os.cpu_count()} cores busy; other programs' CPU µs/ballot: {others or 'none'}")
        if os.environ.get("BENCH_THREADS"):
            for name, spent in sorted(r["cpu"].items()):
                if spent > 0.01:
                    print(f"         {name:28s} {spent / max(r['accepted'], 1) * 1e6:6.0f} µs/ballot")
    ratio = statistics.median(r["ratio"] for r in results)
    goal = (0.40 if args.workers > 1 else 0.30) if args.proxy else 0.5
    print(f"median accepted ballots/s = {ratio:.2f} x the bare single-core verify rate (goal >= {goal}{' behind nginx' if args.proxy else ''})")
    return 0 if ratio >= goal and all(r["accepted"] == r["sent"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
