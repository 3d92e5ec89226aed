"""PostgreSQL: concurrency through the real app, idempotent migrations and racing migrators.

Each test here makes its own database and drops it afterwards. Without CI the tests skip when the
server is unreachable; under CI=true they fail (`pg_unavailable`).
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from kurultai.db import Database, load_migrations
from kurultai.settings import Settings
from voting.board import CATCH_UP_SQL
from tests.conftest import World, _pg_admin, pg_unavailable, pg_url

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]
N = 300


@pytest.fixture
def backend() -> str:
    """The `world` of this module runs on PostgreSQL only."""
    return "postgres"


@pytest.fixture
async def fresh_db() -> AsyncIterator[str]:
    """An empty database of our own, dropped at the end."""
    name = f"kurultai_svc_{uuid.uuid4().hex[:10]}"
    try:
        await _pg_admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError) as exc:
        pg_unavailable(str(exc))
    try:
        yield pg_url(name)
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _applied(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return [r["id"] for r in await conn.fetch("SELECT id FROM kurultai_migration ORDER BY id")]
    finally:
        await conn.close()


async def test_concurrent_requests_land_exactly_once(world: World) -> None:
    a = world.assembly

    def request(i: int):  # noqa: ANN202
        if i % 2:
            body = {"provision": world.provisions[i % 3], "kind": "replace", "text": f"amendment {i}"}
            return world.call("POST", f"/api/assemblies/{a}/amendments", "delegate2", body)
        return world.call("POST", f"/api/assemblies/{a}/comments", "delegate", {"provision": world.provisions[0], "text": f"comment {i}"})

    moderator_writes = [world.call("POST", f"/api/assemblies/{a}/agenda", "moderator", {"title": f"item {i}"}) for i in range(30)]
    responses = await asyncio.gather(*(request(i) for i in range(N)), *moderator_writes)
    assert [(r.status_code, r.text) for r in responses if r.status_code != 201] == []
    comments = await world.ok("GET", f"/api/assemblies/{a}/comments")
    amendments = await world.ok("GET", f"/api/assemblies/{a}/amendments")
    assert sorted(c["text"] for c in comments) == sorted(f"comment {i}" for i in range(0, N, 2))
    assert sorted(x["text"] for x in amendments) == sorted(f"amendment {i}" for i in range(1, N, 2))
    items = await world.ok("GET", f"/api/assemblies/{a}/agenda")
    assert [i["position"] for i in items] == list(range(1, 32))
    audit = await world.ok("GET", f"/api/assemblies/{a}/audit", "moderator")
    assert audit["verified"] is True
    assert [e["seq"] for e in audit["entries"]] == list(range(1, len(audit["entries"]) + 1))


async def test_migrations_twice_are_a_no_op(fresh_db: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=fresh_db)
    first = await Database(settings).migrate()
    assert first == [m.ID for m in load_migrations()] and first
    assert await Database(settings).migrate() == []
    assert await _applied(fresh_db) == sorted(first)


async def test_board_tables_keep_only_the_indexes_queries_use(fresh_db: str, tmp_path: Path) -> None:
    """migrations/m0005 drops the same unused board indexes on PostgreSQL; m0016 looks tree heads
    up by (election, tree_size), and the catch-up query of a serving process uses it."""
    await Database(Settings(data_dir=tmp_path, database_url=fresh_db)).migrate()
    conn = await asyncpg.connect(fresh_db)
    try:
        rows = await conn.fetch("SELECT indexname FROM pg_indexes WHERE tablename IN ('board_leaf', 'merkle_node', 'tree_head') AND indexname NOT LIKE '%_pkey'")
        await conn.execute("SET enable_seqscan = off")  # an empty table: ask the planner what it would use
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + CATCH_UP_SQL.replace("{}", "1")))
    finally:
        await conn.close()
    assert sorted(r["indexname"] for r in rows) == ["board_leaf_election_seq", "board_leaf_election_signed", "merkle_node_position", "tree_head_election_size"]
    assert "tree_head_election_size" in plan and "board_leaf_election_seq" in plan, plan
    assert "InitPlan" in plan and "SubPlan" not in plan, plan  # the head is looked up once, not per leaf


async def test_upgrade_moves_rolls_out_of_the_election_row(fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.services.upgrade import check_roll_moves_on_upgrade

    settings = Settings(data_dir=tmp_path, database_url=fresh_db)
    try:
        await check_roll_moves_on_upgrade(settings, monkeypatch)
    finally:
        await Database(settings).stop()


async def test_upgrade_deduplicates_attendance(fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.services.upgrade import check_attendance_is_deduplicated_on_upgrade

    settings = Settings(data_dir=tmp_path, database_url=fresh_db)
    try:
        await check_attendance_is_deduplicated_on_upgrade(settings, monkeypatch)
    finally:
        await Database(settings).stop()


async def test_racing_migrators_in_separate_processes(fresh_db: str) -> None:
    """Two server processes starting at once on a fresh database: both succeed, each migration
    is applied exactly once (the advisory lock serialises them)."""
    code = "import asyncio, json, sys; from kurultai.db import Database; from kurultai.settings import Settings; print(json.dumps(asyncio.run(Database(Settings(database_url=sys.argv[1])).migrate())))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [await asyncio.create_subprocess_exec(sys.executable, "-c", code, fresh_db, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE) for _ in range(3)]
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), timeout=120)
    for p, (_out, err) in zip(procs, outputs):
        assert p.returncode == 0, err.decode()[-2000:]
    import json

    applied = [m for out, _ in outputs for m in json.loads(out.decode().strip().splitlines()[-1])]
    want = [m.ID for m in load_migrations()]
    assert sorted(applied) == sorted(want)  # each exactly once, across all processes
    assert await _applied(fresh_db) == sorted(want)


async def test_racing_migrate_calls_in_one_process(fresh_db: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=fresh_db)
    results = await asyncio.gather(Database(settings).migrate(), Database(settings).migrate())
    want = [m.ID for m in load_migrations()]
    assert sorted(results[0] + results[1]) == sorted(want)
    assert await _applied(fresh_db) == sorted(want)
