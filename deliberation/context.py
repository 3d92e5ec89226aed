"""The unit of work that every service write runs in.

`Ctx` is what controllers hand to services: the database, the clock and the publisher of
committed events. `Ctx.write(fn)` runs `fn(tx)` in one write transaction (through the single
writer on SQLite); `tx.emit` and `tx.audit` add the outbox event and the audit entry to that same
transaction, and the events are published only after the commit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from deliberation.core.audit import GENESIS, compute_entry_hash
from deliberation.tables import Assembly, AuditRecord
from deliberation.passwords import Passwords
from deliberation.passwords import passwords as default_passwords
from kurultai.db import Database
from kurultai.settings import Settings
from realtime.outbox import EventRecord, append_event

T = TypeVar("T")

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


async def on_started_database(settings: Settings, fn: Callable[[Ctx], Awaitable[T]]) -> T:
    """`fn(ctx)` on the settings' database, migrated and started, in its context (`Database.use`);
    stopped after. The CLI commands run their work this way."""
    db = Database(settings)
    with db.use():
        await db.migrate()
        await db.start()
        try:
            return await fn(Ctx(db=db, clock=wall_clock))
        finally:
            await db.stop()


@dataclass
class Ctx:
    db: Database
    clock: Callable[[], int]
    publish: Publisher = _no_publisher
    passwords: Passwords = default_passwords  # argon2 off the event loop (deliberation/passwords.py)

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
    ctx: Ctx
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
            await Assembly.raw("SELECT id FROM assembly WHERE id = {} FOR UPDATE", assembly_id)

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
