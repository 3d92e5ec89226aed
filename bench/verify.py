"""Verifier benchmark (issue #4): `.venv/bin/python bench/verify.py [--quick] [--keep DIR]`.

Builds a synthetic export of N ballots (default 100,000; `--quick` 10,000), pre-signed in this
run: N distinct voters on the roll, 5 options, Schulze, random partial or full rankings. Then it
times, end to end from the files, what `kurultai verify --offline` does:
`read_bundle(dir, board_file=True)` (board.json left unparsed, a `voting.verifier.BoardFile`)
+ `verify_election` (median of 3 runs; the board is parsed and checked on one forked worker
process per core), and in the same run N bare single-core Ed25519 verifications
(`Ed25519PublicKey.verify` on the same ballot messages, keys loaded beforehand, median of 3
runs). The goal is

    verify time <= 0.7 x the time of N bare single-core verifications

and the script exits 1 when it is missed (or when the export does not verify).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cryptography  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey  # noqa: E402

from tests.unit.synthetic_election import OPENED_MS, sign_result, sign_tree  # noqa: E402
from voting.client import read_bundle, write_bundle  # noqa: E402
from voting.core.encoding import b64u_encode, format_time, jcs  # noqa: E402
from voting.core.keys import Signer, sign_object  # noqa: E402
from voting.core.signed import digest, make_leaf  # noqa: E402
from voting.verifier import Bundle, verify_election  # noqa: E402

GOAL = 0.7
OPTIONS = ("amendment-12", "amendment-13", "amendment-14", "amendment-15", "status_quo")


def build_export(n: int, directory: Path, seed: int = 4) -> list[tuple[bytes, bytes, bytes]]:
    """Write an n-ballot export; return (public key, message, signature) of every ballot."""
    rng = random.Random(seed)
    server = Signer.generate()
    voters = sorted((Signer(Ed25519PrivateKey.generate()) for _ in range(n)), key=lambda s: s.key_id)
    roll = sign_object(server, {"v": 1, "type": "roll", "election": "1001", "voters": [{"key_id": s.key_id, "public_key": s.public_key_b64u, "weight": 1} for s in voters]})
    election = sign_object(
        server,
        {
            "v": 1,
            "type": "election",
            "id": "1001",
            "assembly": "1",
            "agenda_item": "3",
            "title": "Article 2",
            "options": [{"id": o, "label": o} for o in OPTIONS],
            "method": "schulze",
            "visibility": "live",
            "roll_digest": digest(roll["signed"]),
            "opened_at": format_time(OPENED_MS),
        },
    )
    el_digest = digest(election["signed"])
    order = list(range(n))
    rng.shuffle(order)
    board, triples = [], []
    for seq, i in enumerate(order):
        ranking = list(OPTIONS)
        rng.shuffle(ranking)
        ranking = ranking[: rng.randint(0, len(OPTIONS))]
        signed = {"v": 1, "type": "ballot", "election": "1001", "election_digest": el_digest, "voter": voters[i].key_id, "revision": 1, "ranking": ranking, "nonce": b64u_encode(rng.randbytes(16))}
        message = jcs(signed)
        signature = voters[i].sign(message)
        board.append(make_leaf(seq, {"signed": signed, "signature": b64u_encode(signature), "signer": voters[i].key_id}, format_time(OPENED_MS + 1000 + seq)))
        triples.append((voters[i].public_key_raw, message, signature))
    sth = sign_tree(server, "1001", board, OPENED_MS + 10_000_000)
    result = sign_result(server, election, roll, board, sth["signed"])
    write_bundle(Bundle(election, roll, board, sth, result, server.public_key_raw), directory)
    return triples


def bare_verifications(triples: list[tuple[bytes, bytes, bytes]]) -> float:
    keys = [(Ed25519PublicKey.from_public_bytes(pk), message, signature) for pk, message, signature in triples]
    start = time.perf_counter()
    for key, message, signature in keys:
        key.verify(signature, message)
    return time.perf_counter() - start


def timed_verify(directory: Path) -> tuple[float, object]:
    """`kurultai verify --offline DIR` without the command line: read, then verify."""
    start = time.perf_counter()
    report = verify_election(read_bundle(directory, board_file=True))
    return time.perf_counter() - start, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 ballots instead of 100,000")
    parser.add_argument("-n", type=int, default=None, help="number of ballots")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="write the export here and keep it")
    args = parser.parse_args()
    n = args.n or (10_000 if args.quick else 100_000)

    with tempfile.TemporaryDirectory() as tmp:
        directory = args.keep or Path(tmp) / "export"
        t0 = time.perf_counter()
        triples = build_export(n, directory)
        size = (directory / "board.json").stat().st_size
        print(f"built a {n:,}-ballot export in {time.perf_counter() - t0:.1f} s (board.json {size / 1e6:.1f} MB)")
        verify_times, bare_times = [], []
        report = None
        for _ in range(args.runs):  # interleaved, so that both see the same machine load
            bare_times.append(bare_verifications(triples))
            elapsed, report = timed_verify(directory)
            verify_times.append(elapsed)
    assert report is not None
    verify_s, bare_s = statistics.median(verify_times), statistics.median(bare_times)
    ratio = verify_s / bare_s
    print(
        f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, cryptography {cryptography.__version__}, "
        f"{datetime.date.today().isoformat()}"
    )
    print(f"{n:,} bare single-core Ed25519 verifications: {bare_s:.2f} s ({bare_s / n * 1e6:.1f} µs each); runs {', '.join(f'{t:.2f}' for t in bare_times)}")
    print(f"read_bundle(board_file=True) + verify_election: {verify_s:.2f} s; runs {', '.join(f'{t:.2f}' for t in verify_times)}")
    print(f"ratio {ratio:.3f} (goal <= {GOAL}): {'met' if ratio <= GOAL else 'MISSED'}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (the figures need both cores free)")
    if not report.ok:  # type: ignore[attr-defined]
        print("the export did not verify:", *report.failures[:5], sep="\n  ")  # type: ignore[attr-defined]
        return 1
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
