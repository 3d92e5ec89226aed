"""Page and read-API latency: what one refresh of a live view costs the server.

Every live event makes each open page fetch itself again (static/common.js, `refreshRegions`), so
the cost of rendering a view bounds how many browsers can watch a running vote. This starts
`kurultai serve` on a fresh SQLite data directory with the demo assembly and times sequential
keep-alive GETs of the views and read APIs. The baseline, measured in the same run, is
`GET /api/health` (the framework's cost of a request), and each path is reported in ms and as a
multiple of it. There is no goal; docs/benchmarks.md records the figures.

    .venv/bin/python bench/pages.py [--requests 200]

Since issue #16 the live view no longer fetches itself: its regions are rendered once per
variant and pushed. `--live N` measures that instead (bench/pages_live.py): N pages that behave
exactly as the live page does, during a vote at 20 ballots/s with a running speakers' timer,
against pages that refetch as before; `--proxy nginx` puts nginx in front.

    .venv/bin/python bench/pages.py --live 2000 [--proxy nginx]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import pages_live  # noqa: E402
from tests.serving import wait_healthy  # noqa: E402

KURULTAI = [sys.executable, "-m", "kurultai.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(client: httpx.Client, path: str, n: int) -> float:
    """Mean ms of n sequential GETs (after 5 not counted)."""
    for _ in range(5):
        assert client.get(path).status_code == 200, path
    start = time.perf_counter()
    for _ in range(n):
        client.get(path)
    return (time.perf_counter() - start) / n * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=200, help="GETs per path (default 200)")
    pages_live.add_arguments(ap)
    args = ap.parse_args()
    if args.live:
        sys.exit(pages_live.main(args))
    with tempfile.TemporaryDirectory() as data:
        port = free_port()
        env = {**os.environ, "KURULTAI_DATA_DIR": data, "KURULTAI_PORT": str(port)}
        subprocess.run([*KURULTAI, "migrate"], env=env, check=True, capture_output=True)
        demo = json.loads(subprocess.run([*KURULTAI, "demo", "--json"], env=env, check=True, capture_output=True, text=True).stdout)
        aid = demo["assembly"]
        server = subprocess.Popen([*KURULTAI, "serve", "--no-access-log"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            if not wait_healthy(url, server):
                sys.exit("kurultai serve did not start")
            paths = [
                "/api/health",
                f"/assemblies/{aid}/live",
                f"/assemblies/{aid}",
                f"/api/assemblies/{aid}/amendments",
                f"/api/assemblies/{aid}/document",
                f"/api/assemblies/{aid}/agenda",
            ]
            with httpx.Client(base_url=url, timeout=30) as client:
                results = {p: timed(client, p, args.requests) for p in paths}
        finally:
            server.terminate()
            server.wait(timeout=20)
    base = results["/api/health"]
    print(f"{args.requests} sequential keep-alive GETs per path, demo assembly, SQLite, {os.cpu_count()} cores")
    print("| path | ms per GET | × GET /api/health |")
    print("|---|---|---|")
    for path, ms in results.items():
        print(f"| `{path}` | {ms:.2f} | {ms / base:.1f} |")


if __name__ == "__main__":
    main()
