"""The single SQLite writer: many concurrent writers never see "database is locked", every write
lands exactly once, and one failing job in a batch does not undo the others."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deliberation.tables import User
from kurultai.db import Database
from kurultai.settings import Settings
from kurultai.unit_of_work import Event
from tests.conftest import World

N = 300


@pytest.fixture
def backend() -> str:
    """This module is about SQLite only."""
    return "sqlite"


async def test_concurrent_requests_land_exactly_once(world: World) -> None:
    a = world.assembly
    am = await world.ok("POST", f"/api/assemblies/{a}/amendments", "delegate", {"provision": world.provisions[0], "kind": "delete", "submit": True}, status=201)

    def request(i: int):  # noqa: ANN202
        if i % 3 == 0:
            body = {"provision": world.provisions[i % 2], "kind": "replace", "text": f"amendment {i}"}
            return world.call("POST", f"/api/assemblies/{a}/amendments", "delegate2", body)
        if i % 3 == 1:
            return world.call("POST", f"/api/assemblies/{a}/comments", "delegate", {"provision": world.provisions[1], "text": f"comment {i}"})
        return world.call("POST", f"/api/assemblies/{a}/comments", "moderator", {"amendment": am["id"], "text": f"comment {i}", "stance": "for"})

    responses = await asyncio.gather(*(request(i) for i in range(N)))
    bad = [(r.status_code, r.text) for r in responses if r.status_code != 201]
    assert bad == []
    comments = await world.ok("GET", f"/api/assemblies/{a}/comments")
    amendments = await world.ok("GET", f"/api/assemblies/{a}/amendments")
    assert sorted(c["text"] for c in comments) == sorted(f"comment {i}" for i in range(N) if i % 3)
    assert sorted(x["text"] or "" for x in amendments) == sorted(["", *(f"amendment {i}" for i in range(0, N, 3))])
    assert len({c["id"] for c in comments}) == len(comments)
    # the outbox numbered every event once, without gaps
    seqs = [r["seq"] for r in await Event.select(Event.seq).where(Event.assembly_id == a).order_by(Event.seq)]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= N + 1


async def test_concurrent_moderator_actions_keep_the_audit_chain(world: World) -> None:
    a = world.assembly
    responses = await asyncio.gather(*(world.call("POST", f"/api/assemblies/{a}/agenda", "moderator", {"title": f"item {i}"}) for i in range(100)))
    assert {r.status_code for r in responses} == {201}
    items = await world.ok("GET", f"/api/assemblies/{a}/agenda")
    assert [i["position"] for i in items] == list(range(1, 102))  # no two items got the same position
    audit = await world.ok("GET", f"/api/assemblies/{a}/audit", "moderator")
    assert audit["verified"] is True
    assert [e["seq"] for e in audit["entries"]] == list(range(1, len(audit["entries"]) + 1))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(Settings(data_dir=tmp_path / "data"))
    await database.migrate()
    await database.start()
    try:
        yield database
    finally:
        await database.stop()


async def _add_user(name: str) -> int:
    user = User(username=name, display_name=name)
    await user.save()
    return int(user.id)


async def test_failing_job_does_not_undo_the_batch(db: Database) -> None:
    class Boom(Exception):
        pass

    async def ok(name: str) -> int:
        return await _add_user(name)

    async def fails_after_writing() -> None:
        await _add_user("doomed")
        raise Boom("the job's own error")

    async def violates_unique() -> None:
        await _add_user("second")  # written before the violation, and undone with it
        await _add_user("first")

    # queued together, so the writer runs them in one batch (one transaction)
    results = await asyncio.gather(
        db.write(lambda: ok("first")),
        db.write(fails_after_writing),
        db.write(lambda: ok("third")),
        db.write(violates_unique),
        db.write(lambda: ok("fourth")),
        return_exceptions=True,
    )
    assert isinstance(results[0], int) and isinstance(results[2], int) and isinstance(results[4], int)
    assert isinstance(results[1], Boom) and str(results[1]) == "the job's own error"
    assert isinstance(results[3], Exception) and "unique" in str(results[3]).lower()
    names = [r["username"] for r in await User.select(User.username).order_by(User.id)]
    assert names == ["first", "third", "fourth"]


async def test_many_direct_writers(db: Database) -> None:
    ids = await asyncio.gather(*(db.write(lambda i=i: _add_user(f"user{i}")) for i in range(N)))
    assert len(set(ids)) == N
    assert await User.count() == N


async def test_write_before_start_is_a_programming_error(tmp_path: Path) -> None:
    database = Database(Settings(data_dir=tmp_path / "other"))
    with pytest.raises(RuntimeError, match="start"):
        await database.write(lambda: _add_user("x"))


async def test_bulk_statements_write_every_row_in_order(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """`write_statements` turns each INSERT into multi-row statements (kurultai.db.MULTI_ROW_MAX
    rows each): all rows land, in order, including a last partial chunk and one-row statements."""
    import kurultai.db as kdb

    monkeypatch.setattr(kdb, "MULTI_ROW_MAX", 7)
    sql = "INSERT INTO kurultai_user (username, display_name, password_hash, created_ms) VALUES (?, ?, ?, ?)"
    rows = [(f"bulk{i:03d}", f'Bulk "{i}" ü', "", i) for i in range(23)]

    async def prepare() -> tuple[list, str]:
        return [(sql, rows), (sql, [("single", "one row", "", 99)]), (sql, [])], "done"

    assert await db.write_statements(prepare) == "done"
    got = [tuple(r.values()) for r in await User.select(User.username, User.display_name).order_by(User.id)]
    assert got == [(r[0], r[1]) for r in rows] + [("single", "one row")]


async def test_failing_bulk_statement_writes_nothing(db: Database) -> None:
    sql = "INSERT INTO kurultai_user (username, display_name, password_hash, created_ms) VALUES (?, ?, ?, ?)"

    async def prepare() -> tuple[list, None]:
        return [(sql, [("dup", "", "", 0)] * 3)], None  # violates the unique username in one statement

    with pytest.raises(Exception, match="(?i)unique"):
        await db.write_statements(prepare)
    assert await User.count() == 0


async def test_board_tables_keep_only_the_indexes_queries_use(db: Database) -> None:
    """migrations/m0005: an index per random key cost a page write per ballot; these remain."""
    rows = await User.raw("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('board_leaf', 'merkle_node') AND sql IS NOT NULL")
    assert sorted(r["name"] for r in rows) == ["board_leaf_election_seq", "board_leaf_election_signed", "merkle_node_position"]


async def test_upgrade_moves_rolls_out_of_the_election_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.services.upgrade import check_roll_moves_on_upgrade

    await check_roll_moves_on_upgrade(Settings(data_dir=tmp_path / "data"), monkeypatch)


async def test_upgrade_deduplicates_attendance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.services.upgrade import check_attendance_is_deduplicated_on_upgrade

    await check_attendance_is_deduplicated_on_upgrade(Settings(data_dir=tmp_path / "data"), monkeypatch)


async def test_plain_reads_run_on_the_kept_reader_connections(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A SELECT outside a transaction runs on one of the readers' threads (no new connection),
    sees every write committed before it, and runs beside the writer; anything else, and every
    read once the database has stopped, takes Piccolo's own path."""
    import threading

    from kurultai.db import READER_THREADS, KurultaiSQLiteEngine

    engine = db.engine
    assert isinstance(engine, KurultaiSQLiteEngine) and engine.readers is not None
    threads: set[str] = set()
    read = engine.readers.read

    def spy(query: str, args: list) -> list:
        threads.add(threading.current_thread().name)
        return read(query, args)

    monkeypatch.setattr(engine.readers, "read", spy)
    opened: list[str] = []
    piccolo_path = KurultaiSQLiteEngine.__mro__[1]._run_in_new_connection

    async def counted(self: KurultaiSQLiteEngine, query: str, *args: object, **kw: object) -> object:
        opened.append(query.split()[0].upper())
        return await piccolo_path(self, query, *args, **kw)

    monkeypatch.setattr(KurultaiSQLiteEngine.__mro__[1], "_run_in_new_connection", counted)

    async def write_and_read(i: int) -> bool:
        await db.write(lambda: _add_user(f"reader{i}"))  # committed when it returns
        return await User.exists().where(User.username == f"reader{i}")

    assert all(await asyncio.gather(*(write_and_read(i) for i in range(50))))
    assert await User.count().where(User.username.like("reader%")) == 50
    assert threads and all(t.startswith("kurultai-sqlite-read") for t in threads) and len(threads) <= READER_THREADS
    assert "SELECT" not in opened  # no read opened a connection of its own
    readers = engine.readers
    await db.stop()
    assert engine.readers is None and readers.connections == []
    with db.use():  # stopped, it is no longer the open database: name it
        assert await User.count().where(User.username.like("reader%")) == 50  # Piccolo's path again
    assert opened.count("SELECT") == 1


@pytest.mark.parametrize(("setting", "expected"), [(None, 2), ("NORMAL", 1)])  # PRAGMA synchronous: 2 is FULL, 1 NORMAL
async def test_commits_are_synced_to_disk_by_default(tmp_path: Path, setting: str | None, expected: int) -> None:
    """Receipts and signed tree heads go out once their batch committed, so by default a commit
    is on disk before it returns (synchronous=FULL): an OS crash or power loss after a receipt
    cannot undo its ballot. Every connection gets it: the writer's, the board's bulk writer and
    the readers. KURULTAI_SQLITE_SYNCHRONOUS=NORMAL is the documented opt-out."""
    env = {"KURULTAI_DATA_DIR": str(tmp_path / "data")} | ({"KURULTAI_SQLITE_SYNCHRONOUS": setting} if setting else {})
    database = Database(Settings.from_env(env))
    await database.migrate()
    await database.start()
    try:

        async def in_writer() -> int:
            return int((await User.raw("PRAGMA synchronous"))[0]["synchronous"])

        async def bulk() -> tuple[list, None]:
            return [("INSERT INTO kurultai_user (username, display_name, password_hash, created_ms) VALUES (?, ?, ?, ?)", [("bulk", "", "", 0)])], None

        assert await database.write(in_writer) == expected
        assert int((await User.raw("PRAGMA synchronous"))[0]["synchronous"]) == expected  # a reader
        await database.write_statements(bulk)
        assert database._bulk_conn is not None and database._bulk_conn.execute("PRAGMA synchronous").fetchone() == (expected,)
    finally:
        await database.stop()
