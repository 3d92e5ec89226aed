"""The snapshot: the full state of an assembly, built from the services' own views.

Consistency. The snapshot's seq is read *before* its contents are built, and the connection then
sends every event after that seq. Events that commit while the snapshot is being built are
therefore both (possibly) in the snapshot and replayed after it. That is safe because every
event carries the new full view of what it changed (`agenda.updated` the item, `speakers.updated`
the whole list and timer, `amendment.*` the amendment, `comment.created` the comment,
`comment.hidden` the id) or is a notification to refetch (`provision.updated`): applying such an
event to a state that already contains it yields the same state. The reverse order (build, then
read the seq) would be unsafe: an event committed in between would be skipped for good.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from deliberation import agenda, amendments, assemblies, comments, draft, speakers
from realtime.core.protocol import Viewer
from realtime.hub import NoSuchAssembly, read_last_seq

#: Extra snapshot sections supplied by other packages: `{"elections": fn(assembly_id, viewer)}`.
Section = Callable[[int, Viewer], Awaitable[Any]]
Sections = Mapping[str, Section]


async def _base_state(assembly_id: int, now_ms: int) -> dict[str, Any]:
    items = await agenda.list_items(assembly_id, now_ms)
    return {
        "assembly": await assemblies.get_assembly(assembly_id),
        "members": await assemblies.list_members(assembly_id),
        "agenda": items,
        "speakers": {str(item["id"]): await speakers.speakers_view(item["id"], now_ms) for item in items},
        "document": await draft.document(assembly_id),
        "amendments": await amendments.list_amendments(assembly_id),
        "comments": await comments.list_comments(assembly_id),
    }


class SnapshotCache:
    """Shares one build of the viewer-independent sections among the sockets that connect at the
    same seq within `ttl_ms` (a reconnect storm after a restart would otherwise build it once per
    socket). Timers are computed for the build's `now`; they carry their start time, so clients
    still show them correctly."""

    def __init__(self, ttl_ms: int = 1000) -> None:
        self.ttl_ms = ttl_ms
        self._entries: dict[int, tuple[int, int, asyncio.Future[dict[str, Any]]]] = {}

    async def base(self, assembly_id: int, seq: int, now_ms: int) -> dict[str, Any]:
        entry = self._entries.get(assembly_id)
        if entry is not None and entry[0] == seq and now_ms - entry[1] <= self.ttl_ms:
            return await asyncio.shield(entry[2])
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._entries[assembly_id] = (seq, now_ms, future)
        if len(self._entries) > 1000:
            self._entries = {aid: e for aid, e in self._entries.items() if now_ms - e[1] <= self.ttl_ms}
        try:
            future.set_result(await _base_state(assembly_id, now_ms))
        except BaseException as exc:
            self._entries.pop(assembly_id, None)
            future.set_exception(exc)
            future.exception()  # retrieved: waiting sockets get it through shield
            raise
        return future.result()


async def build_snapshot(
    assembly_id: int,
    viewer: Viewer,
    now_ms: int,
    sections: Sections | None = None,
    cache: SnapshotCache | None = None,
    seq: int | None = None,
) -> tuple[int, dict[str, Any]]:
    """`(seq, state)`: the state includes every event up to `seq` (and maybe a few after it).

    `seq` may be given when the caller knows that every event up to it has committed (the
    websocket passes its feed's last released seq); by default it is read from the database.
    """
    if seq is None:
        seq = await read_last_seq(assembly_id)
    if seq is None:
        raise NoSuchAssembly(f"no assembly with id {assembly_id}")
    base = await cache.base(assembly_id, seq, now_ms) if cache is not None else await _base_state(assembly_id, now_ms)
    state = dict(base)
    for name, section in (sections or {}).items():
        state[name] = await section(assembly_id, viewer)
    return seq, state
