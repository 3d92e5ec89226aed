"""The long crash run (issue #7): SIGKILL `kurultai serve` at random moments while client
processes stream ballots, at least 50 times, and check after every restart that nothing receipted
was lost, every tree head handed out is consistent, and the live tally equals a recount; after
close, `kurultai verify` passes. The short run is tests/reliability/test_crash.py.

    python bench/crash.py --kills 50                      # SQLite
    python bench/crash.py --kills 50 --postgres postgres://postgres@127.0.0.1:5432
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.reliability import crash  # noqa: E402


async def _pg(server: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{server}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--voters", type=int, default=300)
    parser.add_argument("--clients", type=int, default=3, help="client processes")
    parser.add_argument("--concurrency", type=int, default=24, help="connections per client process")
    parser.add_argument("--min-gap", type=float, default=0.5, help="seconds between restart and next kill, at least")
    parser.add_argument("--max-gap", type=float, default=3.0)
    parser.add_argument("--postgres", default=None, help="PostgreSQL server URL (a fresh database is created and dropped)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    database_url = None
    name = f"kurultai_crash_{uuid.uuid4().hex[:8]}"
    if args.postgres:
        asyncio.run(_pg(args.postgres, f'CREATE DATABASE "{name}"'))
        database_url = f"{args.postgres}/{name}"
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            figures = crash.run(
                Path(tmp), kills=args.kills, database_url=database_url, voters=args.voters, clients=args.clients, concurrency=args.concurrency, gap=(args.min_gap, args.max_gap), seed_value=args.seed
            )
    finally:
        if args.postgres:
            asyncio.run(_pg(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(f"[{'postgres' if database_url else 'sqlite'}] {figures.summary()}; {time.monotonic() - started:.0f} s in all; kurultai verify passed")


if __name__ == "__main__":
    main()
