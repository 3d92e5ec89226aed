"""One process serves one database at a time: while a started Database holds the tables, a
second one is refused (TablesInUse) instead of silently taking the first one's queries."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from deliberation.tables import User
from kurultai.db import Database, TablesInUse, describe_database
from kurultai.settings import Settings


async def _started(path: Path) -> Database:
    db = Database(Settings(data_dir=path))
    await db.migrate()
    await db.start()
    return db


async def _stopping_with_a_write_queued(db: Database) -> tuple[asyncio.Task[None], asyncio.Task[None]]:
    """A write queued on `db`, then its stop begun: (the write, the stop), neither done yet."""

    async def insert() -> None:
        await User.insert(User(username="meant-for-a", display_name=""))

    writing = asyncio.create_task(db.write(insert))
    await asyncio.sleep(0)  # queued
    stopping = asyncio.create_task(db.stop())
    await asyncio.sleep(0)  # draining
    return writing, stopping


async def test_a_second_database_is_refused_while_the_first_is_started(tmp_path: Path) -> None:
    first = await _started(tmp_path / "a")
    try:
        await User.insert(User(username="in-a", display_name=""))
        with pytest.raises(TablesInUse, match="another database in use"):
            Database(Settings(data_dir=tmp_path / "b"))
        # The refusal moved nothing: the first database's queries still go to its own file.
        assert [r["username"] for r in await User.select(User.username)] == ["in-a"]
        assert User._meta.db is first.engine
    finally:
        await first.stop()

    # Stopped, it lets go: the second one binds, and sees its own (empty) file.
    third = Database(Settings(data_dir=tmp_path / "c"))  # made while none is started: not refused
    second = await _started(tmp_path / "b")
    try:
        assert User._meta.db is second.engine
        assert await User.select(User.username) == []
        with pytest.raises(TablesInUse):  # but it cannot take the tables from the started one
            await third.migrate()
        with pytest.raises(TablesInUse):
            await third.start()
        assert User._meta.db is second.engine
    finally:
        await second.stop()


async def test_the_started_database_may_bind_again(tmp_path: Path) -> None:
    """Its own start and migrate rebind to the same engine: no refusal."""
    db = await _started(tmp_path / "a")
    try:
        assert await db.migrate() == []
        db.bind()
        await db.start()  # already started: nothing happens, one writer still
        assert User._meta.db is db.engine
        with pytest.raises(TablesInUse):  # the migration's end did not let go of the started database's tables
            Database(Settings(data_dir=tmp_path / "b"))
    finally:
        await db.stop()


@pytest.mark.filterwarnings("ignore:.*Unable to connect:Warning")
async def test_a_start_that_fails_holds_nothing(tmp_path: Path) -> None:
    """A database that could not start does not keep the next one out."""
    settings = Settings(data_dir=tmp_path / "a", database_url="postgresql://postgres@127.0.0.1:1/nothing")  # nothing listens
    broken = await asyncio.to_thread(Database, settings)  # Piccolo asks for the server's version on a loop of its own
    with pytest.raises(OSError):
        await broken.start()
    db = await _started(tmp_path / "b")
    try:
        assert User._meta.db is db.engine
    finally:
        await db.stop()


async def test_a_stopping_database_holds_the_tables_until_its_writes_are_done(tmp_path: Path) -> None:
    """Its queued writes land in its own file: no other database binds while it drains."""
    first = await _started(tmp_path / "a")
    writing, stopping = await _stopping_with_a_write_queued(first)
    assert not stopping.done() and not writing.done()
    with pytest.raises(TablesInUse):
        Database(Settings(data_dir=tmp_path / "b"))
    await stopping
    await writing
    second = await _started(tmp_path / "a")  # the same file again: the write is there
    try:
        assert [r["username"] for r in await User.select(User.username)] == ["meant-for-a"]
    finally:
        await second.stop()


async def test_a_migrating_database_holds_the_tables(tmp_path: Path) -> None:
    """While one database migrates (started or not), no other binds the tables under it."""
    first = Database(Settings(data_dir=tmp_path / "a"))
    migrating = asyncio.create_task(first.migrate())
    await asyncio.sleep(0)
    assert not migrating.done()
    with pytest.raises(TablesInUse):
        Database(Settings(data_dir=tmp_path / "b"))
    assert await migrating  # applied every migration to its own file
    second = Database(Settings(data_dir=tmp_path / "b"))  # let go once done
    assert await second.migrate()


def test_the_refusal_names_no_password(tmp_path: Path) -> None:
    for url in ("postgresql://kurultai:s3cret@db.example:5432", "postgresql://kurultai:s3cret@db.example:5432/kurultai?sslmode=require"):
        described = describe_database(Settings(data_dir=tmp_path, database_url=url))
        assert "s3cret" not in described and "kurultai:" not in described, described
    assert describe_database(Settings(data_dir=tmp_path, database_url="postgresql://u:p@h/kurultai")) == "PostgreSQL database kurultai"


async def test_cached_rolls_are_of_the_database_in_use(tmp_path: Path) -> None:
    """A roll cached while one database was in use is not answered from another's."""
    from voting import elections

    first = await _started(tmp_path / "a")
    try:
        assert await elections.roll_key_ids(1) == frozenset()  # no such election: nothing cached
        elections._ROLL_KEYS[1] = frozenset({"key-of-a"})  # as an open election of this database would be
        assert await elections.roll_key_ids(1) == frozenset({"key-of-a"})
    finally:
        await first.stop()
    second = await _started(tmp_path / "b")
    try:
        assert await elections.roll_key_ids(1) == frozenset()  # election 1 of b: none
    finally:
        await second.stop()


async def test_a_stop_cut_short_keeps_the_tables_until_stopped_again(tmp_path: Path) -> None:
    """A stop cancelled while its writer drains lets go of nothing: the writer still runs."""
    first = await _started(tmp_path / "a")
    writing, stopping = await _stopping_with_a_write_queued(first)
    stopping.cancel()
    await asyncio.gather(stopping, return_exceptions=True)
    with pytest.raises(TablesInUse):
        Database(Settings(data_dir=tmp_path / "b"))
    await first.stop()  # stopped again, to the end: let go
    await asyncio.gather(writing, return_exceptions=True)
    second = await _started(tmp_path / "b")
    try:
        assert await User.select(User.username) == []  # nothing of a's landed in b
    finally:
        await second.stop()
