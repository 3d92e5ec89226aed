"""Live pages (issue #16): what an open live page costs the server while a vote and the floor run.

    .venv/bin/python bench/pages.py --live 2000                 # directly to `kurultai serve`
    .venv/bin/python bench/pages.py --live 2000 --proxy nginx   # behind nginx, as docs/operations.md shows

One `kurultai serve` process (SQLite, a fresh temporary data directory) with `kurultai demo`; the
chair opens the demo's election and `--voters` delegates register keys (bench/logins.py's
`setup_vote`). A load generator (its own process) casts signed ballots at `--rate` (20/s), each a
new revision of its voter's ballot, and keeps the speakers' timer running: every `--speak-every`
seconds a delegate asks for the floor on the item the live view shows and the chair gives it
(`POST /api/agenda/{iid}/speakers`, `/speakers/next`). Pages run in `--client-procs` other
processes on uvloop (REFETCH: `websockets` asyncio clients; LIVE: bench/wsclient.py's lean client,
as the fan-out and logins benchmarks use for their observers). Three phases, one after the other:

- IDLE (`--idle` s): the vote and the timer, no page: the cost the pages' figures are net of.
- REFETCH (`--baseline` pages, `--baseline-window` s): the page before issue #16, against today's
  server: GET the live page, open the socket with `?since=S` as a protocol client, and after each
  event (trailing debounce of 250 ms; a refresh asked for while one runs runs again once it ends,
  as `refreshRegions` did) GET the whole page again; for each tree head that changed, GET its
  consistency proof from the previous one (the old observer.js). The old page also fetched
  `chart.svg` for each new tree size; today's page has the chart inline, so its GET already pays
  for that render and the client does not fetch it.
- LIVE (`--live` pages, `--window` s): exactly what today's live page does: one GET of
  `/assemblies/{aid}/live` in its language (`--langs`, 60 % kk, 30 % ru, 10 % en), then the socket
  `?view=live&lang=L&since=S` (S: `<body data-seq>`), nothing else; on a close it reconnects with
  `since=` its last seq, as common.js does.

Per phase: the server's CPU (user + system from /proc, its own threads; the signature-check
workers apart), its RSS (sampled each second; VmHWM at the end), the clients', nginx's and the
machine's CPU. The cost of a page is the server's CPU in the phase minus IDLE's, per page per
minute; one core holds 60 s / that many pages. Each page records when it first showed a tree head
(the `<script class="sth-data">` JSON of the `live-votes` region of a `regions` frame, or of the
fetched page) of each size; the load generator records each ballot's receipt (`seq`, its leaf
index, and the time the 201 arrived). The delay of a ballot on a page is the first time the page
showed a head with `tree_size > seq` minus the receipt's time, for every ballot accepted in the
window and every page (after `--drain` s; a ballot not shown by then counts as missing).

Goals (issue #16, one process): at least 2,000 open pages per server core, p99 ≤ 1 s with 2,000
open pages, server RSS ≤ 1 GiB. Exits 1 when one is missed. The clients and the load generator
share the machine's cores with the server: the CPU table shows what they took.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import logins  # noqa: E402  (server, vote set-up, CPU accounting, child processes)
from bench.fanout import percentile, raise_nofile  # noqa: E402

GOAL_PAGES_PER_CORE = 2_000
GOAL_P99_S = 1.0
GOAL_PAGES_WORKERS = 5_000  # with serve --workers 2 on PostgreSQL and Redis
GOAL_RSS = 1 << 30
DEBOUNCE_S = 0.25  # the old observer.js: startView({delay: 250})

DATA_SEQ = re.compile(r'<body[^>]*\sdata-seq="(\d+)"')
HTML_LANG = re.compile(r'<html[^>]*\slang="([a-z]+)"')
STH = re.compile(r'<script type="application/json" class="sth-data" data-election="([^"]+)">(.*?)</script>', re.S)
EVENT_SEQ = re.compile(rb'^\{"seq":(\d+),')
REGIONS = b'{"type":"regions",'
REGIONS_KEY_END = b',"regions":'


def heads(html: str) -> dict[str, int]:
    """Election id -> tree size of each tree head a page (or a live-votes region) shows."""
    return {eid: int(json.loads(body)["signed"]["tree_size"]) for eid, body in STH.findall(html)}


def lang_cycle(mix: str) -> list[str]:
    """`kk:6,ru:3,en:1` -> the languages of ten consecutive pages, interleaved (smooth weighted
    round robin), so that a few pages already have the mix."""
    weights = {lang.strip(): int(w or 1) for lang, _, w in (part.partition(":") for part in mix.split(","))}
    current = dict.fromkeys(weights, 0)
    out: list[str] = []
    for _ in range(sum(weights.values())):
        for lang, w in weights.items():
            current[lang] += w
        pick = max(current, key=lambda k: current[k])
        current[pick] -= sum(weights.values())
        out.append(pick)
    return out


def control_lines(handlers: dict[str, Any]) -> Any:
    """A child's loop: each line `WORD [ARG]` on stdin calls handlers[WORD](ARG) and prints
    `RESULT {json}`; `STOP` (or EOF) ends."""

    async def run() -> None:
        loop = asyncio.get_running_loop()
        while True:
            word, _, arg = (await loop.run_in_executor(None, sys.stdin.readline)).strip().partition(" ")
            if word in ("STOP", ""):
                return
            print("RESULT " + json.dumps(handlers[word](arg)), flush=True)

    return run()


# -- pages ----------------------------------------------------------------------------------


class Page:
    """What one page showed: the first time it showed each larger tree head of the election."""

    __slots__ = ("sizes", "times")

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.times: list[float] = []

    def shows(self, size: int | None, t: float) -> None:
        if size is not None and (not self.sizes or size > self.sizes[-1]):
            self.sizes.append(size)
            self.times.append(t)

    def delays(self, ballots: list[list[float]], hist: Counter[int]) -> int:
        """Adds each ballot's delay (ms) to `hist`; returns how many the page never showed."""
        missing = 0
        for seq, received in ballots:
            i = bisect.bisect_right(self.sizes, seq)  # the first head with tree_size > seq
            if i == len(self.sizes):
                missing += 1
            else:
                hist[max(0, int((self.times[i] - received) * 1000))] += 1
        return missing


class Clients:
    """One process's pages, live or refetching, and what they received."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.a = args
        self.base = args.url
        self.ws_base = args.ws
        self.election = args.election
        self.path = f"/assemblies/{args.aid}/live"
        self.ssl = logins.client_ssl(args.cafile)
        self.pages: list[Page] = []
        self.opened: list[bool] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.parsed: dict[bytes, int | None] = {}  # a render's key -> its tree size (every page of a variant gets the same frame)
        self.c: Counter[str] = Counter()
        self.cpu0 = logins.own_cpu()
        self.stopping = False
        self.http: Any = None

    def regions_size(self, msg: bytes, lang: str) -> int | None:
        key = lang.encode() + msg[: msg.find(REGIONS_KEY_END)]
        if key not in self.parsed:
            if len(self.parsed) > 4096:
                self.parsed.clear()
            self.c["renders"] += 1
            frame = json.loads(msg)
            self.parsed[key] = heads(frame["regions"].get("live-votes", "")).get(self.election)
        return self.parsed[key]

    async def get_page(self, lang: str) -> str:
        r = await self.http.get(self.path, headers={"accept": "text/html", "accept-language": lang})
        self.c["gets"] += 1
        if r.status_code != 200:
            raise RuntimeError(f"GET {self.path}: {r.status_code}")
        got = HTML_LANG.search(r.text)
        if not got or got.group(1) != lang:
            raise RuntimeError(f"GET {self.path} with accept-language {lang}: the page is in {got.group(1) if got else '?'}")
        return r.text

    async def socket(self, query: str) -> Any:
        from websockets.asyncio.client import connect

        # As a browser: an Origin, no pings of its own (the server sends heartbeats).
        return await connect(f"{self.ws_base}/ws/assemblies/{self.a.aid}?{query}", origin=self.base, ssl=self.ssl, ping_interval=None, max_size=2**24, open_timeout=120)  # type: ignore[arg-type]

    async def live_page(self, page: Page, lang: str, ready: asyncio.Event) -> None:
        """Today's live page: one GET, then the pushed regions; a close reconnects with since=.

        The socket is bench/wsclient.py's lean client (a few µs a message, as in the fan-out and
        logins benchmarks): these processes stand in for thousands of devices on the server's own
        cores, and with the `websockets` library they took ~0.6 of the two cores at 5,000 pages.
        It sends no Origin, as any non-browser client; what the page shows is read the same way."""
        from bench.wsclient import Stats

        html = await self.get_page(lang)
        page.shows(heads(html).get(self.election), time.time())
        since = int(DATA_SEQ.search(html).group(1))  # type: ignore[union-attr]
        first = True
        stats = Stats(wait_first=False)

        def on_message(msg: bytes) -> None:
            nonlocal since
            now = time.time()
            self.c["frames"] += 1
            self.c["bytes"] += len(msg)
            if msg.startswith(REGIONS):
                self.c["regions"] += 1
                page.shows(self.regions_size(msg, lang), now)
            else:
                m = EVENT_SEQ.match(msg)
                if m:
                    since = max(since, int(m.group(1)))

        while not self.stopping:
            closed = asyncio.Event()
            try:
                await logins.connect_observer(
                    f"{self.ws_base}/ws/assemblies/{self.a.aid}?view=live&lang={lang}&since={since}", stats, self.ssl, done=lambda _, closed=closed: closed.set(), on_message=on_message
                )
            except (ConnectionError, OSError, TimeoutError) as exc:
                if first:
                    raise RuntimeError(f"the socket did not open: {exc!r}") from exc
                closed.set()
            else:
                if first:
                    first = False
                    self.c["open"] += 1
                    ready.set()
            await closed.wait()
            if self.stopping:
                return
            self.c["closed"] += 1
            await asyncio.sleep(0.5)

    async def refetch_page(self, page: Page, lang: str, ready: asyncio.Event) -> None:
        """The page before issue #16: every event makes it GET itself again (debounced), and
        each new tree head costs a consistency-proof request."""
        loop = asyncio.get_running_loop()
        verified: dict[str, int] = {}
        state: dict[str, Any] = {"timer": None, "task": None, "again": False}

        async def refresh() -> None:
            while True:
                state["again"] = False
                html = await self.get_page(lang)
                now = time.time()
                shown = heads(html)
                page.shows(shown.get(self.election), now)
                for eid, size in shown.items():
                    prev = verified.get(eid)
                    if prev and size > prev:
                        r = await self.http.get(f"/api/elections/{eid}/proof/consistency", params={"first": prev, "second": size})
                        self.c["proofs"] += 1
                        if r.status_code != 200:
                            self.c["proof_errors"] += 1
                    verified[eid] = max(size, prev or 0)
                if not state["again"]:
                    return

        async def guarded() -> None:
            try:
                await refresh()
            except Exception:  # counted; the next event refreshes again
                self.c["refresh_errors"] += 1

        def fire() -> None:
            if state["task"] is not None and not state["task"].done():
                state["again"] = True
                return
            state["task"] = loop.create_task(guarded())
            self.tasks.append(state["task"])

        html = await self.get_page(lang)
        shown = heads(html)
        page.shows(shown.get(self.election), time.time())
        verified.update(shown)
        since = int(DATA_SEQ.search(html).group(1))  # type: ignore[union-attr]
        ws = await self.socket(f"since={since}")
        self.c["open"] += 1
        ready.set()
        async for msg in ws:
            self.c["frames"] += 1
            self.c["bytes"] += len(msg)
            head = msg[:80]
            if '"type":"heartbeat"' in head or '"type":"pong"' in head:
                continue
            if state["timer"] is not None:
                state["timer"].cancel()
            state["timer"] = loop.call_later(DEBOUNCE_S, fire)

    async def run(self) -> None:
        import httpx

        raise_nofile()
        cycle = lang_cycle(self.a.langs)
        limits = httpx.Limits(max_connections=max(64, self.a.n if self.a.mode == "refetch" else 64))
        async with httpx.AsyncClient(base_url=self.base, verify=self.ssl or True, timeout=120, limits=limits) as self.http:
            gate = asyncio.Semaphore(32)
            failed: list[str] = []

            async def start(i: int) -> None:
                page = Page()
                self.pages.append(page)
                self.opened.append(False)
                lang = cycle[(self.a.offset + i) % len(cycle)]
                self.c["lang_" + lang] += 1
                ready = asyncio.Event()
                body = self.live_page if self.a.mode == "live" else self.refetch_page
                async with gate:  # at most 32 pages of this process loading at once, as arriving browsers
                    task = asyncio.create_task(body(page, lang, ready))
                    self.tasks.append(task)
                    done, _ = await asyncio.wait([task, asyncio.create_task(ready.wait())], return_when=asyncio.FIRST_COMPLETED)
                if task in done and task.exception() is not None:
                    failed.append(repr(task.exception()))
                else:
                    self.opened[i] = True

            await asyncio.gather(*(start(i) for i in range(self.a.n)))
            self.c["failed"] = len(failed)
            if failed:
                print(f"{len(failed)} pages failed to open, e.g. {failed[0]}", file=sys.stderr)
            print("READY", flush=True)
            self.cpu0 = logins.own_cpu()
            await control_lines({"MARK": self.mark, "DELAYS": self.delays})
            self.stopping = True
            for t in self.tasks:
                t.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    def mark(self, _: str) -> dict[str, Any]:
        now = logins.own_cpu()
        out = {**self.c, "cpu_s": now - self.cpu0}
        self.c = Counter({k: v for k, v in self.c.items() if k.startswith("lang_") or k in ("open", "failed")})
        self.cpu0 = now
        return out

    def delays(self, path: str) -> dict[str, Any]:
        ballots = json.loads(Path(path).read_text())
        hist: Counter[int] = Counter()
        opened = [p for p, ok in zip(self.pages, self.opened) if ok]  # a page that never opened shows nothing: counted as failed
        missing = sum(p.delays(ballots, hist) for p in opened)
        return {"hist": hist, "missing": missing, "pages": len(opened)}


class Browsers:
    """A few real Chromium live pages (Playwright, the system Chromium): a cross-check that the
    websocket clients behave as the pages do. Each page's tree size (its `script.sth-data`) is
    read every 50 ms; the first time a larger one shows is when the page showed it."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.a = args
        self.pages: list[Page] = []
        self.opened = 0
        self.errors: list[str] = []

    async def run(self) -> None:
        from playwright.async_api import async_playwright

        cycle = lang_cycle(self.a.langs)
        locales = {"kk": "kk-KZ", "ru": "ru-RU", "en": "en-US"}
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=os.environ.get("KURULTAI_CHROMIUM", "/usr/bin/chromium"))
            tabs = []
            for i in range(self.a.n):
                lang = cycle[i % len(cycle)]
                context = await browser.new_context(locale=locales.get(lang, "en-US"), ignore_https_errors=True, viewport={"width": 1920, "height": 1080})
                tab = await context.new_page()
                tab.on("pageerror", lambda exc: self.errors.append(str(exc)))
                await tab.goto(f"{self.a.url}/assemblies/{self.a.aid}/live", timeout=120_000)
                await tab.wait_for_selector("body[data-live=online]", timeout=120_000)
                page = Page()
                self.pages.append(page)
                tabs.append((tab, page))
                self.opened += 1
            script = f"() => {{ const el = document.querySelector('script.sth-data[data-election=\"{self.a.election}\"]'); return el ? JSON.parse(el.textContent).signed.tree_size : null; }}"

            async def watch() -> None:
                while True:
                    for tab, page in tabs:
                        page.shows(await tab.evaluate(script), time.time())
                    await asyncio.sleep(0.05)

            watcher = asyncio.create_task(watch())
            print("READY", flush=True)
            await control_lines({"MARK": self.mark, "DELAYS": self.delays})
            watcher.cancel()
            await browser.close()

    def mark(self, _: str) -> dict[str, Any]:
        return {"open": self.opened, "errors": self.errors[:3]}

    def delays(self, path: str) -> dict[str, Any]:
        ballots = json.loads(Path(path).read_text())
        hist: Counter[int] = Counter()
        missing = sum(p.delays(ballots, hist) for p in self.pages)
        return {"hist": hist, "missing": missing, "pages": len(self.pages)}


# -- load generator: ballots at a steady rate, the speakers' timer running ----------------------


async def run_load(base: str, cafile: str, spec_file: str, rate: float, speak_every: float) -> None:

    import httpx

    spec = json.loads(Path(spec_file).read_text())
    ballots = logins.BallotMaker(spec, seed=16)
    win: dict[str, Any] = {"statuses": Counter(), "lat": [], "ballots": [], "floor": Counter()}
    first: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    cpu = [logins.own_cpu()]
    item = spec["item"]

    async with httpx.AsyncClient(base_url=base, verify=logins.client_ssl(cafile) or True, timeout=60, limits=httpx.Limits(max_connections=16)) as c:

        async def cast(i: int) -> None:
            body = ballots.body(i)
            t0 = time.perf_counter()
            try:
                r = await c.post(f"/api/elections/{spec['election']}/ballots", content=body, headers={"content-type": "application/json"})
                status = r.status_code
                if status == 201:
                    win["ballots"].append([r.json()["seq"], time.time()])
            except httpx.HTTPError:
                status = 0
            win["lat"].append(time.perf_counter() - t0)
            win["statuses"][status] += 1
            if not first.done():
                first.set_result(status)

        async def pace() -> None:
            tasks: set[asyncio.Task[None]] = set()
            t0, i = time.monotonic(), 0
            while True:
                await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
                task = asyncio.create_task(cast(i))  # never waits for an answer: the rate holds
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                i += 1

        async def floor() -> None:
            """A delegate asks for the floor, the chair gives it: the timer restarts, always running."""
            k = 0
            while True:
                who = {"authorization": f"Bearer {spec['speakers'][k % len(spec['speakers'])]}"}
                chair = {"authorization": f"Bearer {spec['moderator']}"}
                r = await c.post(f"/api/agenda/{item}/speakers", json={"kind": "speech"}, headers=who)
                win["floor"][f"request {r.status_code}"] += 1
                r = await c.post(f"/api/agenda/{item}/speakers/next", json={}, headers=chair)
                win["floor"][f"next {r.status_code}"] += 1
                k += 1
                await asyncio.sleep(speak_every)

        tasks = [asyncio.create_task(pace()), asyncio.create_task(floor())]
        status = await first
        if status != 201:
            print(f"the first ballot was answered {status}", file=sys.stderr)
        print("READY", flush=True)

        def mark(_: str) -> dict[str, Any]:
            now = logins.own_cpu()
            lat = sorted(win["lat"])
            out = {
                "statuses": {str(k): v for k, v in win["statuses"].items()},
                "floor": dict(win["floor"]),
                "ballots": win["ballots"],
                "p99": lat[max(0, int(len(lat) * 0.99) - 1)] if lat else float("nan"),
                "cpu_s": now - cpu[0],
            }
            win.update(statuses=Counter(), lat=[], ballots=[], floor=Counter())
            cpu[0] = now
            return out

        await control_lines({"MARK": mark})
        for t in tasks:
            t.cancel()


# -- orchestration ----------------------------------------------------------------------------


class Child(logins.Child):
    """A child process of this script (READY, then `WORD` → `RESULT {json}`, `STOP`)."""

    def __init__(self, name: str, *args: str) -> None:
        self.name = name
        self.proc = subprocess.Popen([sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)

    def ask(self, word: str) -> dict[str, Any]:
        self.tell(word)
        return json.loads(self.expect("RESULT "))


def rss(pid: int, field: str = "VmRSS") -> int:
    """A process's memory field (bytes), summed over its descendants (a server with --workers)."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                total += int(line.split()[1]) * 1024
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += sum(rss(int(k), field) for k in (task / "children").read_text().split())
    except OSError:
        pass
    return total


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.a = args
        self.tmp = Path(tempfile.mkdtemp(prefix="kurultai-bench-pages-"))
        self.server: subprocess.Popen[str] | None = None
        self.nginx: Any = None
        self.load: Child | None = None
        self.children: list[Child] = []
        self.pg_name = ""
        self.redis_prefix = ""

    def start(self) -> None:
        import httpx

        from tests.serving import wait_healthy

        a = self.a
        port = logins.free_port()
        env = {**os.environ, "KURULTAI_DATA_DIR": str(self.tmp / "data"), "KURULTAI_PORT": str(port)}
        for name in ("KURULTAI_DATABASE_URL", "KURULTAI_REDIS_URL", "KURULTAI_TRUSTED_PROXIES"):
            env.pop(name, None)
        serve = [*logins.KURULTAI, "serve", "--no-access-log"]
        if a.workers > 1:  # docs/operations.md, "Several processes": PostgreSQL and Redis
            self.pg_name = f"kurultai_bench_pages_{os.getpid()}"
            from bench.crash import _pg

            asyncio.run(_pg(a.postgres, f'CREATE DATABASE "{self.pg_name}"'))
            self.redis_prefix = f"kurultai-bench-pages-{os.getpid()}:"
            env |= {"KURULTAI_DATABASE_URL": f"{a.postgres}/{self.pg_name}", "KURULTAI_REDIS_URL": a.redis, "KURULTAI_REDIS_PREFIX": self.redis_prefix}
            serve += ["--workers", str(a.workers)]
        if a.proxy == "nginx":
            from tests.nginx import Nginx

            self.nginx = Nginx(self.tmp / "nginx", port)
            env["KURULTAI_TRUSTED_PROXIES"] = "127.0.0.1"  # docs/operations.md, "Behind nginx"
        self.log = (self.tmp / "server.log").open("w")
        self.server = subprocess.Popen(serve, env=env, stdout=self.log, stderr=self.log, text=True, cwd=ROOT)
        direct = f"http://127.0.0.1:{port}"
        if not wait_healthy(direct, self.server, timeout=60):
            raise RuntimeError("the server did not start")
        out = subprocess.run([*logins.KURULTAI, "demo", "--delegates", str(a.voters + 4), "--json"], check=True, env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
        demo = json.loads(out.stdout)
        self.aid, self.election = demo["assembly"], str(demo["election"])
        spec_file = self.tmp / "load.json"
        logins.setup_vote(direct, demo, a.voters, spec_file)
        spec = json.loads(spec_file.read_text())
        with httpx.Client(base_url=direct, timeout=60) as c:
            spec["moderator"] = c.post("/api/auth/token", json=demo["moderator"]).json()["token"]
            spec["speakers"] = [c.post("/api/auth/token", json=cred).json()["token"] for cred in demo["delegates"][a.voters : a.voters + 4]]
            items = c.get(f"/api/assemblies/{self.aid}/agenda").json()
        spec["item"] = next(i["id"] for i in items if i["phase"] in ("debate", "amendments", "voting"))  # the item the live view shows (pages.pick_item)
        spec_file.write_text(json.dumps(spec))
        self.base, self.ws_base, self.cafile = direct, "ws" + direct[4:], ""
        if self.nginx is not None:
            self.nginx.__enter__()
            self.base, self.ws_base, self.cafile = self.nginx.url, "wss" + self.nginx.url[5:], str(self.nginx.cert)
        self.load = Child("load", "--role", "load", "--url", self.base, "--cafile", self.cafile, "--spec", str(spec_file), "--rate", str(a.rate), "--speak-every", str(a.speak_every))
        self.load.expect("READY")
        print(
            f"server {direct} (pid {self.server.pid}), {a.proxy}; assembly {self.aid}, election {self.election}, item {spec['item']} on the floor; {a.voters} voters at {a.rate:g} ballots/s",
            flush=True,
        )

    def snapshot(self) -> dict[str, Any]:
        assert self.server is not None
        s = logins.server_cpu(self.server.pid)
        if self.a.workers > 1:  # the processes serving are the master's children: count the tree
            s = {"loop": float("nan"), "threads": logins.tree_cpu(self.server.pid), "workers": float("nan")}
        return {
            "t": time.monotonic(),
            "server": s["threads"] if self.a.workers > 1 else s["loop"] + s["threads"],
            "loop": s["loop"],
            "workers": s["workers"],
            "machine": logins.machine(),
            "nginx": logins.tree_cpu(self.nginx.proc.pid) if self.nginx is not None and self.nginx.proc is not None else 0.0,
            "main": logins.own_cpu(),
        }

    def phase(self, name: str, mode: str | None, pages: int, seconds: float) -> dict[str, Any]:
        """Open `pages` pages (in `mode`), let them settle, measure `seconds`, close them."""
        assert self.load is not None and self.server is not None
        a = self.a
        clients: list[Child] = []
        t0 = time.monotonic()
        if mode:
            procs = max(1, min(a.client_procs, pages))
            offset = 0
            for i in range(procs):
                n = pages // procs + (1 if i < pages % procs else 0)
                clients.append(
                    Child(
                        f"{mode}{i}",
                        *("--role", "pages", "--mode", mode, "--url", self.base, "--ws", self.ws_base, "--cafile", self.cafile),
                        *("--aid", str(self.aid), "--election", self.election, "--n", str(n), "--offset", str(offset), "--langs", a.langs),
                    )
                )
                offset += n
            for c in clients:
                c.expect("READY")
        browsers = None
        if mode == "live" and a.browsers:
            browsers = Child("browsers", *("--role", "browsers", "--url", self.base, "--aid", str(self.aid), "--election", self.election, "--n", str(a.browsers), "--langs", a.langs))
            browsers.expect("READY")
        connect_s = time.monotonic() - t0
        time.sleep(a.settle)
        for c in clients:
            c.ask("MARK")
        self.load.ask("MARK")
        s0 = self.snapshot()
        rss_max = 0
        while time.monotonic() < s0["t"] + seconds:
            rss_max = max(rss_max, rss(self.server.pid))
            time.sleep(min(1.0, max(0.0, s0["t"] + seconds - time.monotonic())))
        s1 = self.snapshot()
        load = self.load.ask("MARK")
        got = [c.ask("MARK") for c in clients]
        time.sleep(a.drain)
        ballots = self.tmp / f"ballots-{name}.json"
        ballots.write_text(json.dumps(load["ballots"]))
        hist: Counter[int] = Counter()
        missing = 0
        for c in clients:
            d = c.ask(f"DELAYS {ballots}")
            hist.update({int(k): v for k, v in d["hist"].items()})
            missing += d["missing"]
        for c in clients:
            c.stop()
        chromium: dict[str, Any] = {}
        if browsers is not None:
            d = browsers.ask(f"DELAYS {ballots}")
            bh = Counter({int(k): v for k, v in d["hist"].items()})
            chromium = {
                "pages": d["pages"],
                "missing": d["missing"],
                "p50": percentile(bh, 0.50),
                "p99": percentile(bh, 0.99),
                "max": max(bh) / 1000 if bh else float("nan"),
                "errors": browsers.ask("MARK")["errors"],
            }
            browsers.stop()
        secs = s1["t"] - s0["t"]
        total = Counter[str]()
        for g in got:
            total.update({k: v for k, v in g.items() if isinstance(v, (int, float))})
        m0, m1 = s0["machine"], s1["machine"]
        ours = (s1["server"] - s0["server"]) + (s1["workers"] - s0["workers"]) + (s1["nginx"] - s0["nginx"]) + total["cpu_s"] + load["cpu_s"] + (s1["main"] - s0["main"])
        return {
            "name": name,
            "pages": pages,
            "open": total["open"],
            "failed": total["failed"],
            "closed": total["closed"],
            "connect_s": connect_s,
            "seconds": secs,
            "server": (s1["server"] - s0["server"]) / secs,
            "loop": (s1["loop"] - s0["loop"]) / secs,
            "workers": (s1["workers"] - s0["workers"]) / secs,
            "nginx": (s1["nginx"] - s0["nginx"]) / secs,
            "clients": total["cpu_s"] / secs,
            "load": load["cpu_s"] / secs,
            "others": max(0.0, (m1["busy"] - m0["busy"]) - ours) / secs,
            "busy": (m1["busy"] - m0["busy"]) / max(1e-9, m1["total"] - m0["total"]),
            "rss": rss_max,
            "ballots": load["statuses"],
            "ballot_p99": load["p99"],
            "floor": load["floor"],
            "accepted": len(load["ballots"]),
            "delays": sum(hist.values()),
            "missing": missing,
            "p50": percentile(hist, 0.50),
            "p99": percentile(hist, 0.99),
            "max": max(hist) / 1000 if hist else float("nan"),
            "frames": total["frames"] / max(1, total["open"]) / secs,
            "regions": total["regions"] / max(1, total["open"]) / secs,
            "kib": total["bytes"] / 1024 / max(1, total["open"]) / secs,
            "gets": total["gets"],
            "proofs": total["proofs"],
            "renders": max((g.get("renders", 0) for g in got), default=0),
            "langs": {k[5:]: v for k, v in total.items() if k.startswith("lang_")},
            "chromium": chromium,
        }

    def run(self) -> list[dict[str, Any]]:
        a = self.a
        self.start()
        time.sleep(a.warmup)
        rows = [self.phase("IDLE", None, 0, a.idle)]
        print(f"IDLE done: server {rows[-1]['server']:.3f} cores", flush=True)
        if a.baseline:
            rows.append(self.phase("REFETCH", "refetch", a.baseline, a.baseline_window))
            print(f"REFETCH done: {a.baseline} pages, server {rows[-1]['server']:.3f} cores", flush=True)
        rows.append(self.phase("LIVE", "live", a.live, a.window))
        rows[-1]["hwm"] = rss(self.server.pid, "VmHWM") if self.server else 0
        return rows

    def close(self) -> None:
        for c in [*self.children, *([self.load] if self.load else [])]:
            try:
                c.stop()
            except Exception:
                pass
        if self.nginx is not None and self.nginx.proc is not None:
            self.nginx.__exit__(None, None, None)
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGINT)
            try:
                self.server.wait(30)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        if self.pg_name:
            from bench.crash import _pg

            asyncio.run(_pg(self.a.postgres, f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'))
        if self.redis_prefix:
            import redis

            r = redis.Redis.from_url(self.a.redis)
            for key in r.scan_iter(match=self.redis_prefix + "*"):
                r.delete(key)
            r.close()
        if self.a.keep:
            print(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def ms(s: float) -> str:
    return "–" if math.isnan(s) else f"{s * 1000:.0f} ms"


def report(a: argparse.Namespace, rows: list[dict[str, Any]]) -> bool:
    idle = rows[0]
    live = rows[-1]
    print()
    print(
        f"{os.cpu_count()} cores, {'behind nginx (TLS)' if a.proxy == 'nginx' else 'direct (no proxy)'}; {'one `kurultai serve` process on SQLite' if a.workers == 1 else f'`kurultai serve --workers {a.workers}` on PostgreSQL and Redis (server CPU: all its processes)'}; {a.voters} voters at {a.rate:g} ballots/s, "
        f"the floor changes every {a.speak_every:g} s; pages in {a.client_procs} client processes, languages {a.langs}"
    )
    print()
    print(
        "| phase | pages (open / failed / reconnects) | s | server CPU (cores) | net of IDLE | CPU s per page per minute | pages per core | frames / page / s (regions) | KiB / page / s | GETs (proofs) | delay p50 | p99 | max | shown / missing | RSS max |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    per: dict[str, float] = {}
    for r in rows:
        net = r["server"] - idle["server"]
        cost = net * 60 / r["open"] if r["open"] else float("nan")  # per page that opened
        per[r["name"]] = cost
        held = 60 / cost if r["pages"] and cost > 0 else float("nan")
        print(
            f"| {r['name']} | {r['pages']:,} ({r['open']:,} / {r['failed']} / {r['closed']}) | {r['seconds']:.0f} | {r['server']:.3f} | {net:.3f} | "
            + ("–" if math.isnan(cost) else f"{cost:.4f}")
            + f" | {'–' if math.isnan(held) else f'{held:,.0f}'} | {r['frames']:.1f} ({r['regions']:.1f}) | {r['kib']:.1f} | {r['gets']:,} ({r['proofs']:,}) "
            f"| {ms(r['p50'])} | {ms(r['p99'])} | {ms(r['max'])} | {r['delays']:,} / {r['missing']:,} | {r['rss'] / 2**20:.0f} MiB |"
        )
    print()
    print("CPU (cores busy on average; the machine has " + str(os.cpu_count()) + ")")
    print("| phase | server | its event loop | signature workers | nginx | page clients | load generator | other processes | machine busy |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['server']:.3f} | {r['loop']:.3f} | {r['workers']:.3f} | {r['nginx']:.3f} | {r['clients']:.3f} | {r['load']:.3f} | {r['others']:.3f} | {r['busy'] * 100:.0f} % |")
    print()
    for r in rows:
        print(
            f"{r['name']}: ballots {r['ballots']} (accepted {r['accepted']}), ballot answer p99 {ms(r['ballot_p99'])}; floor {r['floor']}; "
            f"renders received by one client process {r['renders']}; languages {r['langs']}; connect {r['connect_s']:.1f} s"
        )
    if live.get("chromium"):
        c = live["chromium"]
        print(
            f"Chromium cross-check: {c['pages']} real live pages (read every 50 ms) during LIVE: delay p50 {ms(c['p50'])}, p99 {ms(c['p99'])}, max {ms(c['max'])}, "
            f"{c['missing']} not shown; page errors: {c['errors'] or 'none'}"
        )
    if "REFETCH" in per and per["LIVE"] > 0:
        print(f"CPU s per page per minute: refetching pages (before #16) {per['REFETCH']:.4f}, live pages {per['LIVE']:.4f}: {per['REFETCH'] / per['LIVE']:.0f} × less")
    held = 60 / per["LIVE"] if per["LIVE"] > 0 else float("inf")
    ok_core = held >= GOAL_PAGES_PER_CORE and live["open"] > 0
    want_pages = GOAL_PAGES_PER_CORE if a.workers == 1 else GOAL_PAGES_WORKERS
    ok_p99 = live["p99"] <= GOAL_P99_S and live["missing"] == 0 and live["open"] >= want_pages
    ok_rss = max(live["rss"], live.get("hwm", 0)) <= GOAL_RSS
    print(f"{'PASS' if ok_core else 'FAIL'}  pages per server core ≥ {GOAL_PAGES_PER_CORE:,}: {held:,.0f} (net of IDLE)")
    print(
        f"{'PASS' if ok_p99 else 'FAIL'}  p99 receipt → page shows a covering tree head ≤ {GOAL_P99_S:g} s with ≥ {want_pages:,} pages: {ms(live['p99'])} with {live['open']:,} pages"
        + (f", {live['missing']} not shown" if live["missing"] else "")
    )
    print(f"{'PASS' if ok_rss else 'FAIL'}  server RSS ≤ 1 GiB: max {live['rss'] / 2**20:.0f} MiB in LIVE, VmHWM {live.get('hwm', 0) / 2**20:.0f} MiB")
    worst = max(r["others"] for r in rows)
    if worst > 0.2:
        print(f"note: other processes on this machine used up to {worst:.2f} cores in a phase; the delays include their contention")
    return ok_core and ok_p99 and ok_rss


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--live", type=int, default=0, help="live mode: this many live pages (issue #16); see bench/pages_live.py")
    ap.add_argument("--proxy", choices=["none", "nginx"], default="none", help="live mode: pages and load through nginx configured from docs/operations.md")
    ap.add_argument("--window", type=float, default=60.0, help="live mode: seconds measured with the live pages (default 60)")
    ap.add_argument("--baseline", type=int, default=20, help="live mode: refetching pages (the behaviour before #16) measured first; 0: none (default 20)")
    ap.add_argument("--baseline-window", type=float, default=30.0, help="live mode: seconds measured with the refetching pages (default 30)")
    ap.add_argument("--idle", type=float, default=20.0, help="live mode: seconds measured with no page (default 20)")
    ap.add_argument("--warmup", type=float, default=5.0, help="live mode: seconds of vote before IDLE (default 5)")
    ap.add_argument("--settle", type=float, default=5.0, help="live mode: seconds between the pages' opening and the window (default 5)")
    ap.add_argument("--drain", type=float, default=3.0, help="live mode: seconds after the window for the last ballots to show (default 3)")
    ap.add_argument("--rate", type=float, default=20.0, help="live mode: ballots per second (default 20)")
    ap.add_argument("--voters", type=int, default=50, help="live mode: delegates who vote (default 50; at most 60 ballots a minute each)")
    ap.add_argument("--speak-every", type=float, default=10.0, help="live mode: seconds between two speakers (default 10)")
    ap.add_argument("--langs", default="kk:6,ru:3,en:1", help="live mode: the pages' languages and weights (default kk:6,ru:3,en:1)")
    ap.add_argument("--client-procs", type=int, default=2, help="live mode: processes the pages are spread over (default 2)")
    ap.add_argument("--keep", action="store_true", help="live mode: keep the temporary directory (server.log, data)")
    ap.add_argument("--browsers", type=int, default=3, help="live mode: real Chromium live pages opened beside the clients in LIVE, as a cross-check (default 3; 0: none)")
    ap.add_argument(
        "--workers", type=int, default=1, help="live mode: serve --workers N on PostgreSQL and Redis (a fresh database and key prefix, dropped after); goal 5,000 pages at p99 ≤ 1 s with 2"
    )
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432", help="live mode with --workers: the PostgreSQL server")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="live mode with --workers: the Redis server")


def main(args: argparse.Namespace) -> int:
    if args.rate / max(args.voters, 1) * 60 > 60:
        raise SystemExit("each voter may cast at most 60 ballots a minute: --rate ≤ --voters")
    raise_nofile()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bench = Bench(args)
    try:
        rows = bench.run()
    except Exception:
        try:
            print("server log (last lines):\n" + "".join((bench.tmp / "server.log").read_text().splitlines(True)[-30:]), file=sys.stderr)
        except OSError:
            pass
        raise
    finally:
        bench.close()
    return 0 if report(args, rows) else 1


def child() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", choices=["load", "pages", "browsers"], required=True)
    ap.add_argument("--mode", choices=["live", "refetch"], default="live")
    ap.add_argument("--url", default="")
    ap.add_argument("--ws", default="")
    ap.add_argument("--cafile", default="")
    ap.add_argument("--spec", default="")
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--speak-every", type=float, default=10.0)
    ap.add_argument("--aid", type=int, default=0)
    ap.add_argument("--election", default="")
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--langs", default="kk:6,ru:3,en:1")
    a = ap.parse_args()
    if a.role == "load":
        asyncio.run(run_load(a.url, a.cafile, a.spec, a.rate, a.speak_every))
        return 0
    if a.role == "browsers":
        asyncio.run(Browsers(a).run())
        return 0
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(Clients(a).run())
    return 0


if __name__ == "__main__":
    sys.exit(child())
