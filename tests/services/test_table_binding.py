"""One process serves one database at a time: while a started Database holds the tables, a
second one is refused (TablesInUse) instead of silently taking the first one's queries."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from deliberation.tables import User
from kurultai.db import Database, TablesInUse
from kurultai.settings import Settings


async def _started(path: Path) -> Database:
    db = Database(Settings(data_dir=path))
    await db.migrate()
    await db.start()
    return db


async def test_a_second_database_is_refused_while_the_first_is_started(tmp_path: Path) -> None:
    first = await _started(tmp_path / "a")
    try:
        await User.insert(User(username="in-a", display_name=""))
        with pytest.raises(TablesInUse, match="another started database"):
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
        assert User._meta.db is db.engine
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
