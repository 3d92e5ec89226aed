"""The unit of work that every service write runs in, with its transactional outbox and its
audit chain: the platform below the domain (.importlinter, "layers").

`UnitOfWork` is what controllers hand to services (through the domain's `Ctx`): the database,
the clock and the publisher of committed events. `write(fn)` runs `fn(tx)` in one write
transaction (through the single writer on SQLite); `tx.emit` adds an outbox event and `tx.audit`
an entry of the assembly's audit chain to that same transaction, and the events are published
only after the commit.

The outbox: `append_event` takes the next per-assembly `seq` with one `UPDATE … RETURNING` on the
assembly row, which also serialises concurrent writers of the same assembly on PostgreSQL, so
seqs start at 1 and have no gaps on every database. The audit chain's rule (what an entry's hash
covers) is `deliberation.core.audit`, a pure module that imports nothing of ours.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from piccolo.columns import BigInt, Integer, Text, Varchar
from piccolo.engine.base import Engine
from piccolo.table import Table

from deliberation.core.audit import GENESIS, compute_entry_hash
from kurultai.db import Database, TableOfDatabaseInUse, register_tables

T = TypeVar("T")


@register_tables
def unit_of_work_tables(db: Engine, tables: Mapping[str, type[Table]]) -> list[type[Table]]:
    """The outbox and the audit chain, bound to the engine `db` (one set per database)."""

    class AuditRecord(Table, tablename="audit_record", db=db):
        assembly_id = Integer(default=0, index=True)  # 0: the global chain (accounts)
        seq = Integer()
        actor = Varchar(length=64, null=True, default=None)
        action = Varchar(length=64)
        payload = Text(default="{}")
        created_at = Varchar(length=32)
        prev_hash = Varchar(length=64)
        hash = Varchar(length=64)

    class Event(Table, tablename="event", db=db):
        """The transactional outbox: written in the same transaction as the change it reports."""

        assembly_id = Integer(index=True)
        seq = BigInt()
        type = Varchar(length=64)
        data = Text(default="{}")
        ts_ms = BigInt(default=0)

    return [AuditRecord, Event]


AuditRecord = TableOfDatabaseInUse("AuditRecord")
Event = TableOfDatabaseInUse("Event")


@dataclass(frozen=True)
class EventRecord:
    assembly_id: int
    seq: int
    type: str
    data: dict[str, Any]
    ts_ms: int


Publisher = Callable[[list[EventRecord]], Awaitable[None]]


async def _no_publisher(events: list[EventRecord]) -> None:
    return None


def format_ms(ms: int) -> str:
    from datetime import UTC, datetime

    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def wall_clock() -> int:
    """Milliseconds since the epoch."""
    return int(time.time() * 1000)


async def next_seq(assembly_id: int) -> int:
    rows = await Event.raw(
        "UPDATE assembly SET last_event_seq = last_event_seq + 1 WHERE id = {} RETURNING last_event_seq",
        assembly_id,
    )
    if not rows:
        raise LookupError(f"no assembly with id {assembly_id}")
    return int(rows[0]["last_event_seq"])


async def append_event(assembly_id: int, type_: str, data: dict[str, Any], ts_ms: int) -> EventRecord:
    """Must run inside a write transaction (`Tx.emit`)."""
    seq = await next_seq(assembly_id)
    await Event.insert(Event(assembly_id=assembly_id, seq=seq, type=type_, data=json.dumps(data, ensure_ascii=False), ts_ms=ts_ms))
    return EventRecord(assembly_id, seq, type_, data, ts_ms)


async def events_after(assembly_id: int, since: int, limit: int = 1000) -> list[EventRecord]:
    rows = await Event.select().where((Event.assembly_id == assembly_id) & (Event.seq > since)).order_by(Event.seq).limit(limit)
    return [EventRecord(r["assembly_id"], r["seq"], r["type"], json.loads(r["data"]), r["ts_ms"]) for r in rows]


@dataclass
class UnitOfWork:
    db: Database
    clock: Callable[[], int]
    publish: Publisher = _no_publisher

    def now(self) -> int:
        return self.clock()

    async def write(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        tx = Tx(self)

        async def job() -> T:
            tx.events.clear()
            tx.now_ms = self.clock()
            return await fn(tx)

        result = await self.db.write(job)
        if tx.events:
            await self.publish(list(tx.events))
        return result


@dataclass
class Tx:
    ctx: UnitOfWork
    now_ms: int = 0
    events: list[EventRecord] = field(default_factory=list)

    async def emit(self, assembly_id: int, type_: str, data: dict[str, Any]) -> EventRecord:
        event = await append_event(assembly_id, type_, data, self.now_ms)
        self.events.append(event)
        return event

    async def lock_assembly(self, assembly_id: int) -> None:
        """Serialise the writers of one assembly (PostgreSQL; SQLite has a single writer).

        Services call this first, before reading what they are about to change (positions,
        phases, statuses, counters), and read again after it. It locks the assembly row, the
        same lock that the audit chain, the outbox seq and the document version take, so every
        writer of an assembly takes its locks in one order and two can never deadlock.
        """
        if not self.ctx.db.is_sqlite and assembly_id:
            await Event.raw("SELECT id FROM assembly WHERE id = {} FOR UPDATE", assembly_id)

    async def audit(self, assembly_id: int, actor: str | None, action: str, payload: dict[str, Any]) -> str:
        """Append to the assembly's hash chain (assembly 0 is the global chain)."""
        if not self.ctx.db.is_sqlite:
            if assembly_id:
                await self.lock_assembly(assembly_id)
            else:
                await AuditRecord.raw("SELECT pg_advisory_xact_lock(7, {})", assembly_id)
        last = await AuditRecord.select(AuditRecord.seq, AuditRecord.hash).where(AuditRecord.assembly_id == assembly_id).order_by(AuditRecord.seq, ascending=False).first()
        seq = (last["seq"] + 1) if last else 1
        prev = last["hash"] if last else GENESIS
        created_at = format_ms(self.now_ms)
        entry_hash = compute_entry_hash(prev, seq, actor, action, payload, created_at)
        await AuditRecord.insert(
            AuditRecord(
                assembly_id=assembly_id,
                seq=seq,
                actor=actor,
                action=action,
                payload=json.dumps(payload, ensure_ascii=False),
                created_at=created_at,
                prev_hash=prev,
                hash=entry_hash,
            )
        )
        return entry_hash
