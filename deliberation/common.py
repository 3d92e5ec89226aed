"""Small helpers shared by the deliberation services: loading rows, views and time formats."""

from __future__ import annotations

import json
from typing import Any

from piccolo.table import Table

from deliberation.core.errors import DeliberationError
from deliberation.tables import Assembly
from kurultai.unit_of_work import Tx, format_ms


MAX_ID = 2**31 - 1


class NotFound(DeliberationError):
    code = "not_found"
    status = 404


class Forbidden(DeliberationError):
    code = "forbidden"
    status = 403


def in_id_range(ident: int) -> bool:
    """Whether `ident` can be a row id at all (ids out of range would overflow the database)."""
    return isinstance(ident, int) and 1 <= ident <= MAX_ID


async def load(table: type[Table], ident: int, kind: str) -> dict[str, Any]:
    if not in_id_range(ident):
        raise NotFound(f"no {kind} with id {ident}")
    row = await table.select().where(table._meta.primary_key == ident).first()
    if row is None:
        raise NotFound(f"no {kind} with id {ident}")
    return row


async def load_locked(tx: Tx, table: type[Table], ident: int, kind: str) -> dict[str, Any]:
    """`load` inside a write: lock the row's assembly first (`Tx.lock_assembly`), then read, so
    that checks on the row (a phase, a status, a position) hold until the commit."""
    row = await load(table, ident, kind)
    if tx.ctx.db.is_sqlite:
        return row
    await tx.lock_assembly(row["id"] if table._meta.tablename == "assembly" else row["assembly"])
    return await load(table, ident, kind)


def iso(ms: int | None) -> str | None:
    return format_ms(ms) if ms is not None else None


def loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    return json.loads(text)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def has_vote(*, agenda_item: int | None = None, assembly: int | None = None, opened: bool = False) -> bool:
    """Whether a vote (a row of voting's `election` table) names this agenda item or assembly;
    `opened`: one that has left its draft. The table is read by its name: voting sits above
    deliberation and uses it, never the other way round (.importlinter, "layers")."""
    if (agenda_item is None) == (assembly is None):
        raise TypeError("has_vote: name an agenda_item or an assembly")
    column, value = ("agenda_item", agenda_item) if agenda_item is not None else ("assembly", assembly)
    status = " AND status <> 'draft'" if opened else ""
    return bool(await Assembly.raw(f"SELECT 1 AS found FROM election WHERE {column} = {{}}{status} LIMIT 1", value))
