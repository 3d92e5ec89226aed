"""Counting benchmark (issue #3): `make bench-tally`, or `.venv/bin/python bench/tally.py [--quick]`.

Every figure is divided by the cost of one bare Ed25519 verification (`cryptography`, one core)
measured in the same run, so the goals hold on any machine:

| benchmark                                                    | goal                           |
|--------------------------------------------------------------|--------------------------------|
| incremental update per ballot, 20 options                    | <= 0.5 x one verification      |
| full Schulze recount, 100,000 distinct rankings x 20 options | <= the time of 10,000 of them  |
| IRV over 1,000,000 ballots x 10 options                      | <= the time of 20,000 of them  |

The whole run is single-threaded (BLAS is pinned to one thread before numpy loads). It prints a
table and exits 1 when a goal is missed. `--quick` runs a tenth of the sizes (a hundredth for
IRV) with the goals scaled by the same factor, as a smoke test.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voting.core.counting import WeightedBallot, compute_result  # noqa: E402
from voting.core.tally import IncrementalTally  # noqa: E402


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """The median wall time of `repeats` runs of fn, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def verification_cost() -> float:
    """Seconds for one Ed25519 verification of a ballot-sized message."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    message = b'{"v":1,"type":"ballot",' + b"x" * 300 + b"}"
    signature = key.sign(message)
    n = 2000

    def run() -> None:
        for _ in range(n):
            public.verify(signature, message)

    run()  # warm up
    return best_of(run, 5) / n


def random_rankings(rng: np.random.Generator, n: int, options: list[str]) -> list[tuple[str, ...]]:
    perms = np.argsort(rng.random((n, len(options))), axis=1)
    return [tuple(options[j] for j in row) for row in perms.tolist()]


def distinct_random_rankings(rng: np.random.Generator, n: int, options: list[str]) -> list[tuple[str, ...]]:
    seen: set[tuple[str, ...]] = set()
    out: list[tuple[str, ...]] = []
    while len(out) < n:
        for r in random_rankings(rng, n - len(out), options):
            if r not in seen:
                seen.add(r)
                out.append(r)
    return out


def bench_incremental(rng: np.random.Generator, voters: int) -> dict[str, float]:
    """Seconds per add(): a new voter, and a revision (remove the old ballot, add the new)."""
    options = [f"amendment-{i}" for i in range(19)] + ["status_quo"]
    first = random_rankings(rng, voters, options)
    second = random_rankings(rng, voters, options)
    # partial rankings too: a third of the ballots list only their first few options
    cut = rng.integers(1, len(options), voters).tolist()
    second = [r[:c] if i % 3 == 0 else r for i, (r, c) in enumerate(zip(second, cut))]
    names = [f"{i:064x}" for i in range(voters)]
    out = {}
    for method in ("schulze", "irv", "borda"):
        tally = IncrementalTally(method, options)
        start = time.perf_counter()
        for name, ranking in zip(names, first):
            tally.add(name, ranking, 1, 1)
        new = (time.perf_counter() - start) / voters
        start = time.perf_counter()
        for name, ranking in zip(names, second):
            tally.add(name, ranking, 2, 2)
        revised = (time.perf_counter() - start) / voters
        out[f"{method} new"] = new
        out[f"{method} revision"] = revised
        if method == "schulze":
            start = time.perf_counter()
            result = tally.result()
            out["schulze result()"] = time.perf_counter() - start
            recount = compute_result(method, options, [WeightedBallot(r, 2) for r in second])
            assert result == {**recount, "counted": voters, "weight_counted": 2 * voters}, "incremental != recount"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller smoke run with scaled goals")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    rng = np.random.default_rng(20261124)

    print(f"kurultai counting benchmark, {datetime.date.today().isoformat()}{' (quick)' if args.quick else ''}")
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor())
    print(f"machine: {os.cpu_count()} cores, {cpu}; Python {platform.python_version()}, numpy {np.__version__}; one thread")

    verify = verification_cost()
    print(f"one Ed25519 verification: {verify * 1e6:.1f} us\n")

    rows: list[tuple[str, str, float, float, float]] = []  # name, size, seconds, ratio, goal ratio

    inc = bench_incremental(rng, 20_000 // scale)
    for name, seconds in inc.items():
        goal = 0.5 if name.startswith("schulze") and "result" not in name else float("nan")
        rows.append((f"incremental {name}", "20 options, per ballot" if "result" not in name else "20 options", seconds, seconds / verify, goal))

    n_schulze = 100_000 // scale
    options20 = [f"amendment-{i}" for i in range(19)] + ["status_quo"]
    ballots = [WeightedBallot(r) for r in distinct_random_rankings(rng, n_schulze, options20)]
    seconds = best_of(lambda: compute_result("schulze", options20, ballots), 3)
    rows.append(("full Schulze recount", f"{n_schulze:,} distinct x 20", seconds, seconds / verify, 10_000 / scale))
    seconds = best_of(lambda: compute_result("ranked_pairs", options20, ballots), 1)
    rows.append(("full ranked pairs recount", f"{n_schulze:,} distinct x 20", seconds, seconds / verify, float("nan")))
    del ballots

    irv_scale = 100 if args.quick else 1
    n_irv = 1_000_000 // irv_scale
    options10 = [f"option-{i}" for i in range(10)]
    ballots = [WeightedBallot(r) for r in random_rankings(rng, n_irv, options10)]
    result: dict[str, object] = {}

    def irv() -> None:
        result.update(compute_result("irv", options10, ballots))

    seconds = best_of(irv, 3)
    rounds = len(result["details"]["rounds"])  # type: ignore[index]
    rows.append(("IRV", f"{n_irv:,} x 10, {rounds} rounds", seconds, seconds / verify, 20_000 / irv_scale))
    seconds = best_of(lambda: compute_result("borda", options10, ballots), 1)
    rows.append(("Borda", f"{n_irv:,} x 10", seconds, seconds / verify, float("nan")))

    missed = 0
    print(f"| {'benchmark':<42} | {'size':<28} | {'time':>10} | {'in verifications':>16} | {'goal':>8} | ok |")
    print(f"|{'-' * 44}|{'-' * 30}|{'-' * 12}|{'-' * 18}|{'-' * 10}|----|")
    for name, size, seconds, ratio, goal in rows:
        shown = f"{seconds * 1e6:.1f} us" if seconds < 0.001 else f"{seconds:.3f} s"
        has_goal = goal == goal
        ok = ratio <= goal if has_goal else True
        missed += not ok
        goal_text = f"<= {goal:g}" if has_goal else "-"
        print(f"| {name:<42} | {size:<28} | {shown:>10} | {ratio:>16,.3f} | {goal_text:>8} | {'yes' if ok else 'NO':>2} |")
    print()
    print("all goals met" if not missed else f"{missed} goal(s) missed")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
