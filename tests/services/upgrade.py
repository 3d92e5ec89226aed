"""Shared by the SQLite and PostgreSQL upgrade tests: a database migrated up to before m0006
holds an open election whose roll is in `election.roll_envelope`; migrating the rest moves it."""

from __future__ import annotations

import json
from typing import Any

import pytest

import kurultai.db as kdb
from kurultai.db import Database
from kurultai.settings import Settings
from voting.board import stored_roll
from voting.tables import Election


async def check_roll_moves_on_upgrade(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    every = kdb.load_migrations()
    before = [m for m in every if m.ID < "2026-11-25T07:40"]
    rest = [m.ID for m in every[len(before) :]]
    assert rest[:2] == ["2026-11-25T07:40:00:000000", "2026-11-25T07:41:00:000000"]  # m0006 and m0007 are the ones under test
    monkeypatch.setattr(kdb, "load_migrations", lambda: before)
    db = Database(settings)
    with db.use():  # not started: no database is open, so it names its own
        await db.migrate()
        roll: dict[str, Any] = {"signed": {"v": 1, "type": "roll", "voters": [{"key_id": "ab" * 32, "weight": 1}]}, "signature": "x", "signer": "y"}
        await Election.raw(
            "INSERT INTO election (kind, title, method, status, roll_envelope) VALUES ('amendments', 'old', 'schulze', 'open', {})",
            json.dumps(roll),
        )
        await Election.raw("INSERT INTO election (kind, title, method, status, roll_envelope) VALUES ('amendments', 'draft', 'schulze', 'draft', '')")
        ids = [r["id"] for r in await Election.select(Election.id).order_by(Election.id)]
        monkeypatch.setattr(kdb, "load_migrations", lambda: every)
        assert await db.migrate() == rest  # m0006, m0007 and the later ones
        assert json.loads(await stored_roll(ids[0])) == roll
        assert await stored_roll(ids[1]) == ""
        row = await Election.select().where(Election.id == ids[0]).first()
        assert row is not None and "roll_envelope" not in row and row["title"] == "old"
        with pytest.raises(Exception):  # the column is gone from the database too
            await Election.raw("SELECT roll_envelope FROM election")


async def check_attendance_is_deduplicated_on_upgrade(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """m0012_presence_at_open_index: a database from before it that holds two attendance rows of
    one member keeps the most recent, and gets the unique index; the columns m0012 adds exist."""
    every = kdb.load_migrations()
    before = [m for m in every if m.ID < "2026-12-03T22:40"]
    rest = [m.ID for m in every[len(before) :]]
    assert rest[:2] == ["2026-12-03T22:40:00:000000", "2026-12-03T22:41:00:000000"]  # m0012 and its index
    monkeypatch.setattr(kdb, "load_migrations", lambda: before)
    db = Database(settings)
    with db.use():  # not started: no database is open, so it names its own
        await db.migrate()
        await Election.raw("INSERT INTO assembly (title) VALUES ('a')")
        await Election.raw("INSERT INTO kurultai_user (username, display_name, password_hash) VALUES ('d1', 'd1', '')")
        for present, changed in ((True, 1), (False, 2)):
            await Election.raw("INSERT INTO attendance (assembly, \"user\", present, changed_ms, changed_by) VALUES (1, 1, {}, {}, 'd1')", present, changed)
        monkeypatch.setattr(kdb, "load_migrations", lambda: every)
        assert await db.migrate() == rest
        rows = await Election.raw('SELECT present, changed_ms FROM attendance WHERE assembly = 1 AND "user" = 1')
        assert [(bool(r["present"]), r["changed_ms"]) for r in rows] == [(False, 2)]
        with pytest.raises(Exception):
            await Election.raw("INSERT INTO attendance (assembly, \"user\", present, changed_ms, changed_by) VALUES (1, 1, {}, 3, 'd1')", True)
        assert await Election.raw("SELECT delegates_at_open, attendance_at_open FROM election") == []
