"""A unique index that refuses a write (two transactions racing for one username on PostgreSQL)
is a 409 `conflict`, never a 500: the transaction rolled back whole (found by review, #18)."""

from __future__ import annotations

import sqlite3

from asyncpg.exceptions import UniqueViolationError

from kurultai.web.errors import error_parts


def test_a_unique_violation_is_a_conflict_on_both_databases() -> None:
    for exc in (sqlite3.IntegrityError("UNIQUE constraint failed: kurultai_user.username"), UniqueViolationError('duplicate key value violates unique constraint "kurultai_user_username_key"')):
        parts = error_parts(exc)
        assert parts is not None and parts[:2] == (409, "conflict"), exc


def test_other_integrity_errors_stay_server_errors() -> None:
    assert error_parts(sqlite3.IntegrityError("NOT NULL constraint failed: membership.role")) is None
