"""The transactional outbox: events are written in the same transaction as the change.

`append_event` must run inside a write transaction. It takes the next per-assembly `seq` with
one `UPDATE … RETURNING` on the assembly row, which also serialises concurrent writers of the
same assembly on PostgreSQL, so seqs start at 1 and have no gaps on every database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from deliberation.tables import Assembly, Event


@dataclass(frozen=True)
class EventRecord:
    assembly_id: int
    seq: int
    type: str
    data: dict[str, Any]
    ts_ms: int


async def next_seq(assembly_id: int) -> int:
    rows = await Assembly.raw(
        "UPDATE assembly SET last_event_seq = last_event_seq + 1 WHERE id = {} RETURNING last_event_seq",
        assembly_id,
    )
    if not rows:
        raise LookupError(f"no assembly with id {assembly_id}")
    return int(rows[0]["last_event_seq"])


async def append_event(assembly_id: int, type_: str, data: dict[str, Any], ts_ms: int) -> EventRecord:
    seq = await next_seq(assembly_id)
    await Event.insert(Event(assembly_id=assembly_id, seq=seq, type=type_, data=json.dumps(data, ensure_ascii=False), ts_ms=ts_ms))
    return EventRecord(assembly_id, seq, type_, data, ts_ms)


async def events_after(assembly_id: int, since: int, limit: int = 1000) -> list[EventRecord]:
    rows = await Event.select().where((Event.assembly_id == assembly_id) & (Event.seq > since)).order_by(Event.seq).limit(limit)
    return [EventRecord(r["assembly_id"], r["seq"], r["type"], json.loads(r["data"]), r["ts_ms"]) for r in rows]
