"""Crash safety under load (issue #7), shared by tests/reliability/test_crash.py (short run) and
bench/crash.py (long run).

Client processes (`python -m tests.reliability.crash client CONFIG`) stream signed ballots at a
real `kurultai serve`; every receipt they get is appended to a file as soon as it arrives. The
driver kills the server with SIGKILL at random moments, restarts it, and after every restart checks:

- every ballot that got a receipt is on the board at its seq, with the same leaf hash (and the
  board's leaf hashes are the hashes of its leaves);
- every tree head handed out in a receipt has the root of the board's prefix of its size, and a
  sample of them (always the latest) is consistent with the current tree head by the server's
  consistency proof, checked with `verify_consistency`;
- every tree head published by a live event (`sth.updated`, replayed from the event log through
  the websocket as an observer reconnecting with `since=0` sees it) is a prefix of the board too;
  as is every live tally event's (`tally.updated`) tree size and root (issue #15: nothing is
  published before it is durable);
- the live tally equals a recount of the board (`compute_result`) at the tally's tree size.

After the last kill the election is closed and `kurultai verify` must pass.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.reliability.server import ROOT, Server, cli, free_port, seed, server_env


@dataclass
class Figures:
    kills: int = 0
    receipts_checked: int = 0
    tree_heads_checked: int = 0
    events_checked: int = 0
    consistency_proofs: int = 0
    tallies_checked: int = 0
    board_size: int = 0
    sent: int = 0  # ballots signed and sent, also while the server was down
    answered: int = 0  # ballots the server answered (any status): the load it took
    accepted: int = 0
    load_seconds: float = 0.0
    restart_seconds: list[float] = field(default_factory=list)

    @property
    def offered_per_s(self) -> float:
        """Answered ballots per second of the whole run, downtime included (a lower bound)."""
        return self.answered / self.load_seconds if self.load_seconds else 0.0

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.load_seconds if self.load_seconds else 0.0

    def summary(self) -> str:
        mean_restart = sum(self.restart_seconds) / len(self.restart_seconds) if self.restart_seconds else 0
        return (
            f"kills survived {self.kills}; ballots sent {self.sent}, answered {self.answered} ({self.offered_per_s:.0f}/s offered over {self.load_seconds:.0f} s), "
            f"receipts {self.accepted} ({self.accepted_per_s:.0f}/s); board {self.board_size} leaves; "
            f"receipt checks {self.receipts_checked}, tree heads {self.tree_heads_checked}, published events {self.events_checked}, "
            f"consistency proofs {self.consistency_proofs}, tallies {self.tallies_checked}; "
            f"mean restart {mean_restart:.2f} s"
        )


# -- the client processes ----------------------------------------------------------------------


async def _client(config: dict[str, Any]) -> None:
    from voting.core.keys import Signer, sign_object
    from voting.core.signed import digest

    election = config["election_envelope"]
    election_digest = digest(election["signed"])
    options = [o["id"] for o in election["signed"]["options"]]
    voters = [(v["key_id"], Signer.from_private_bytes(bytes.fromhex(v["private_key"]))) for v in config["voters"]]
    url = f"{config['url']}/api/elections/{config['election']}/ballots"
    stop = Path(config["stop_file"])
    out = open(config["receipts_file"], "a", buffering=1)  # noqa: SIM115 - one line per receipt, flushed
    sent = answered = accepted = 0
    rng = random.Random(config["seed"])
    concurrency = config["concurrency"]

    async def worker(mine: list[tuple[str, Any]]) -> None:
        nonlocal sent, answered, accepted
        revision = {kid: 0 for kid, _ in mine}
        async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=1)) as http:
            i = 0
            while not stop.exists():
                kid, signer = mine[i % len(mine)]
                i += 1
                revision[kid] += 1
                ranking = rng.sample(options, rng.randint(0, len(options)))
                nonce = __import__("base64").urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
                signed = {
                    "v": 1,
                    "type": "ballot",
                    "election": str(config["election"]),
                    "election_digest": election_digest,
                    "voter": kid,
                    "revision": revision[kid],
                    "ranking": ranking,
                    "nonce": nonce,
                }
                body = json.dumps(sign_object(signer, signed)).encode()
                sent += 1
                try:
                    r = await http.post(url, content=body, headers={"content-type": "application/json"})
                except httpx.HTTPError:
                    await asyncio.sleep(0.25)  # the server is down: a later revision follows
                    continue
                answered += 1
                if r.status_code in (200, 201):
                    receipt = r.json()
                    accepted += 1
                    out.write(json.dumps({"seq": receipt["seq"], "leaf_hash": receipt["leaf_hash"], "sth": receipt["sth"]["signed"]}) + "\n")
                elif r.status_code >= 500:
                    out.write(json.dumps({"error": r.status_code, "text": r.text[:200]}) + "\n")

    chunks = [voters[i::concurrency] for i in range(concurrency)]
    started = time.monotonic()
    await asyncio.gather(*(worker(c) for c in chunks if c))
    out.close()
    Path(config["stats_file"]).write_text(json.dumps({"sent": sent, "answered": answered, "accepted": accepted, "seconds": time.monotonic() - started}))


# -- the checks ------------------------------------------------------------------------------------


def read_receipts(paths: list[Path]) -> list[dict[str, Any]]:
    receipts = []
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue  # a line cut by the client's own end; its receipt was not complete
            if "error" in item:
                raise AssertionError(f"the server answered a ballot with {item['error']}: {item['text']}")
            receipts.append(item)
    return receipts


def fetch_board(http: httpx.Client, url: str, eid: str, size: int) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    while len(entries) < size:
        page = http.get(f"{url}/api/elections/{eid}/board", params={"start": len(entries), "end": size}).json()["entries"]
        assert page, f"the board stops at {len(entries)}, want {size} entries"
        entries.extend(page)
    return entries


def published_events(url: str, assembly: int) -> list[dict[str, Any]]:
    """Every event of the assembly's log written before this call, as an observer replaying it
    from the start receives it (the live events that follow are left for the next check)."""
    from datetime import UTC, datetime

    from websockets.sync.client import connect

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"  # the frames' `ts` format
    frames: list[dict[str, Any]] = []
    with connect(f"{url.replace('http', 'ws', 1)}/ws/assemblies/{assembly}?since=0", open_timeout=30, max_size=None) as ws:
        while True:
            try:
                frame = json.loads(ws.recv(timeout=2.0))
            except TimeoutError:
                return frames
            if frame.get("type") == "snapshot":
                raise AssertionError("the event log is longer than the replay window: raise KURULTAI_REPLAY_WINDOW")
            if frame.get("type") in ("heartbeat", "pong") or "data" not in frame:
                continue
            if frame["ts"] > now:
                return frames
            frames.append(frame)


def check(url: str, info: dict[str, Any], receipt_files: list[Path], figures: Figures, rng: random.Random) -> None:
    from voting.core.counting import WeightedBallot, compute_result
    from voting.core.encoding import jcs
    from voting.core.merkle import EMPTY_ROOT, CompactRange, leaf_hash, verify_consistency

    eid = str(info["election"])
    receipts = read_receipts(receipt_files)
    events = published_events(url, info["assembly"])  # first: all it holds was published before the board is read
    with httpx.Client(timeout=60) as http:
        tally = http.get(f"{url}/api/elections/{eid}/tally").json()
        sth = http.get(f"{url}/api/elections/{eid}/sth").json()["signed"]
        size, root = sth["tree_size"], sth["root_hash"]
        assert size >= tally["tree_size"], (size, tally["tree_size"])
        entries = fetch_board(http, url, eid, size)
        assert [e["seq"] for e in entries] == list(range(size)), "the board has a gap or a repeat"
        hashes = [bytes.fromhex(e["leaf_hash"]) for e in entries]
        for e, h in zip(entries, hashes):
            assert leaf_hash(jcs(e["leaf"])) == h, f"leaf {e['seq']} does not hash to its leaf hash"
        # the root of every prefix a receipt's or a live event's tree head names
        event_heads = [e["data"]["sth"]["signed"] for e in events if e["type"] == "sth.updated" and e["data"]["election"] == eid]
        event_tallies = [e["data"] for e in events if e["type"] == "tally.updated" and e["data"]["election"] == eid]
        wanted = {r["sth"]["tree_size"] for r in receipts} | {size} | {h["tree_size"] for h in event_heads} | {t["tree_size"] for t in event_tallies}
        roots: dict[int, str] = {0: EMPTY_ROOT.hex()}
        tree = CompactRange()
        for i, h in enumerate(hashes):
            tree.append(h)
            if i + 1 in wanted:
                roots[i + 1] = tree.root().hex()
        assert roots[size] == root if size else True, "the current tree head's root is not the board's root"
        heads: dict[int, str] = {}
        for r in receipts:
            seq, head = r["seq"], r["sth"]
            assert seq < size, f"receipt for seq {seq} but the board has {size} leaves: a receipted ballot was lost"
            assert entries[seq]["leaf_hash"] == r["leaf_hash"], f"seq {seq} holds another leaf than its receipt says"
            assert head["tree_size"] <= size and roots[head["tree_size"]] == head["root_hash"], f"tree head {head} is not a prefix of the board"
            heads[head["tree_size"]] = head["root_hash"]
        for head in event_heads:
            assert head["tree_size"] <= size and roots.get(head["tree_size"], "") == head["root_hash"], f"published tree head {head} is not a prefix of the board"
            if head["tree_size"]:  # the empty tree is a prefix of every tree; no proof to ask for
                heads[head["tree_size"]] = head["root_hash"]
        for t in event_tallies:
            assert t["tree_size"] <= size and roots.get(t["tree_size"]) == t["root_hash"], f"published tally of tree size {t['tree_size']} names a root that is not the board's"
        figures.events_checked += len(event_heads) + len(event_tallies)
        figures.receipts_checked += len(receipts)
        figures.tree_heads_checked += len(heads)
        sample = sorted(heads)[-1:] + rng.sample(sorted(heads), min(10, len(heads)))
        for first in set(sample):
            proof = http.get(f"{url}/api/elections/{eid}/proof/consistency", params={"first": first, "second": size}).json()["consistency_proof"]
            verify_consistency(first, size, [bytes.fromhex(p) for p in proof], bytes.fromhex(heads[first]), bytes.fromhex(root))
            figures.consistency_proofs += 1
        # the live tally against a recount of the board at the tally's tree size
        latest: dict[str, tuple[int, tuple[str, ...]]] = {}
        for e in entries[: tally["tree_size"]]:
            b = e["leaf"]["ballot"]["signed"]
            if b["revision"] > latest.get(b["voter"], (0, ()))[0]:
                latest[b["voter"]] = (b["revision"], tuple(b["ranking"]))
        options = [o["id"] for o in info["election_envelope"]["signed"]["options"]]
        recount = compute_result("schulze", options, [WeightedBallot(rk, 1) for _rev, rk in latest.values()])
        for k in ("counted", "ranking", "winner", "ties_broken", "details"):
            assert json.loads(json.dumps(recount[k])) == tally[k], f"live tally {k} {tally[k]} != recount {recount[k]}"
        figures.tallies_checked += 1
        figures.board_size = size


# -- the driver ---------------------------------------------------------------------------------


def run(
    workdir: Path,
    *,
    kills: int,
    database_url: str | None = None,
    voters: int = 300,
    clients: int = 3,
    concurrency: int = 24,
    gap: tuple[float, float] = (0.5, 2.0),
    seed_value: int = 7,
    log: Any = print,
) -> Figures:
    rng = random.Random(seed_value)
    workdir.mkdir(parents=True, exist_ok=True)
    env = server_env(workdir / "data", free_port(), database_url, KURULTAI_BALLOT_RATE="100000000", KURULTAI_BALLOT_CLIENT_RATE="100000000")
    cli(env, "migrate")
    info = seed(env, voters)
    server = Server(env, workdir / "server.log")
    server.start()
    try:
        return _load_and_kill(server, env, info, workdir, kills=kills, clients=clients, concurrency=concurrency, gap=gap, seed_value=seed_value, rng=rng, log=log)
    finally:
        server.stop()


def _load_and_kill(
    server: Server, env: dict[str, str], info: dict[str, Any], workdir: Path, *, kills: int, clients: int, concurrency: int, gap: tuple[float, float], seed_value: int, rng: random.Random, log: Any
) -> Figures:
    stop = workdir / "stop"
    receipt_files = [workdir / f"receipts-{i}.jsonl" for i in range(clients)]
    procs = []
    for i in range(clients):
        config = {
            "url": server.url,
            "election": info["election"],
            "election_envelope": info["election_envelope"],
            "voters": info["voters"][i::clients],
            "concurrency": concurrency,
            "stop_file": str(stop),
            "receipts_file": str(receipt_files[i]),
            "stats_file": str(workdir / f"stats-{i}.json"),
            "seed": seed_value + i,
        }
        path = workdir / f"client-{i}.json"
        path.write_text(json.dumps(config))
        procs.append(subprocess.Popen([sys.executable, "-m", "tests.reliability.crash", "client", str(path)], cwd=ROOT, env={**os.environ}))
    figures = Figures()
    try:
        for n in range(kills):
            time.sleep(rng.uniform(*gap))
            server.kill()
            t = time.monotonic()
            server.start()
            figures.restart_seconds.append(time.monotonic() - t)
            figures.kills += 1
            check(server.url, info, receipt_files, figures, rng)
            log(f"kill {n + 1}/{kills}: board {figures.board_size} leaves, receipts {figures.receipts_checked} checked so far")
    finally:
        stop.touch()
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    for i in range(clients):
        stats = json.loads((workdir / f"stats-{i}.json").read_text())
        figures.sent += stats["sent"]
        figures.answered += stats["answered"]
        figures.accepted += stats["accepted"]
        figures.load_seconds = max(figures.load_seconds, stats["seconds"])
    check(server.url, info, receipt_files, figures, rng)
    token = info["tokens"]["moderator"]
    r = httpx.post(f"{server.url}/api/elections/{info['election']}/close", headers={"Authorization": f"Bearer {token}"}, timeout=120)
    assert r.status_code == 200, r.text
    verified = cli(env, "verify", server.url, str(info["election"]), check=False)
    assert verified.returncode == 0, f"kurultai verify failed: {verified.stdout} {verified.stderr}"
    return figures


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "client":
        asyncio.run(_client(json.loads(Path(sys.argv[2]).read_text())))
        return
    raise SystemExit("usage: python -m tests.reliability.crash client CONFIG (the driver is bench/crash.py)")


if __name__ == "__main__":
    main()
