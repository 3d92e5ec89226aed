"""The speakers' list of an agenda item and its speaking timer, owned by the server.

Points of order go before speeches. Each entry has a speech type (contribution, pro, contra,
point of order, interposed question, intervention); a point of order is the only type that
changes the order. Giving the floor starts the timer; every change is
broadcast with the timer's start time, elapsed and remaining milliseconds so that every screen
shows the same clock.
"""

from __future__ import annotations

from typing import Any

from deliberation.agenda import timer_of
from deliberation.common import Forbidden, NotFound, iso, load, load_locked
from deliberation.context import Ctx
from deliberation.core.errors import IllegalTransition, InvalidInput
from deliberation.core.phases import Phase
from deliberation.core.speakers import SpeakerStatus, Timer, kind_of, queue_order, resolve_speech_type
from deliberation.tables import AgendaItem, SpeakerEntry
from kurultai.unit_of_work import Tx

TIMER_ACTIONS = ("start", "pause", "resume", "stop")


def _entry_view(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": r["id"],
        "user_id": r["user"],
        "username": r["username"],
        "display_name": r.get("display_name") or r["username"],
        "kind": r["kind"],
        "speech_type": r["speech_type"],
        "status": r["status"],
        "requested_at": iso(r["requested_ms"]),
        "started_at": iso(r["started_ms"]),
        "ended_at": iso(r["ended_ms"]),
    }


async def speakers_view(item_id: int, now_ms: int) -> dict[str, Any]:
    item = await load(AgendaItem, item_id, "agenda item")
    rows = (
        await SpeakerEntry.select(SpeakerEntry.all_columns(), SpeakerEntry.user.username.as_alias("username"), SpeakerEntry.user.display_name.as_alias("display_name"))
        .where(SpeakerEntry.agenda_item == item_id)
        .order_by(SpeakerEntry.id)
    )
    by_id = {r["id"]: r for r in rows}
    waiting = [r for r in rows if r["status"] == SpeakerStatus.WAITING]
    order = queue_order([(r["id"], r["kind"], r["position"]) for r in waiting])
    current = by_id.get(item["current_speaker"]) if item["current_speaker"] else None
    timer = timer_of(item).to_dict(now_ms)
    speaking = current if current and current["status"] == SpeakerStatus.SPEAKING else None
    return {
        "item": item_id,
        "queue": [_entry_view(by_id[i]) for i in order],
        "current": _entry_view(speaking) if speaking else None,
        "done": [_entry_view(r) for r in rows if r["status"] == SpeakerStatus.DONE],
        "timer": timer,
        "totals": speaking_totals(rows, speaking, timer["elapsed_ms"]),
    }


def speaking_totals(rows: list[dict[str, Any]], speaking: dict[str, Any] | None, elapsed_ms: int) -> list[dict[str, Any]]:
    """Each member's speaking time on the item: their finished speeches (the timer's time when
    each ended, pauses excluded) and the running one (its timer's time so far), most first."""
    spoken: dict[int, dict[str, Any]] = {}
    for r in rows:
        ms = 0
        if r["status"] == SpeakerStatus.DONE:  # a speech that ended before migration m0009: its span
            ms = r["spoken_ms"] or (max(0, r["ended_ms"] - r["started_ms"]) if r["started_ms"] and r["ended_ms"] else 0)
        elif speaking is not None and r["id"] == speaking["id"]:
            ms = elapsed_ms
        else:
            continue
        t = spoken.setdefault(r["user"], {"user_id": r["user"], "username": r["username"], "display_name": r.get("display_name") or r["username"], "spoken_ms": 0, "speeches": 0})
        t["spoken_ms"] += ms
        t["speeches"] += 1
    return sorted(spoken.values(), key=lambda t: (-t["spoken_ms"], t["username"]))


async def _open_item(tx: Tx, item_id: int) -> dict[str, Any]:
    item = await load_locked(tx, AgendaItem, item_id, "agenda item")
    if item["phase"] == Phase.CLOSED:
        raise IllegalTransition(f"agenda item {item_id} is closed; the speakers' list is closed with it")
    return item


async def _publish(tx: Tx, item: dict[str, Any], timer_changed: bool = False) -> dict[str, Any]:
    view = await speakers_view(item["id"], tx.now_ms)
    await tx.emit(item["assembly"], "speakers.updated", view)
    if timer_changed:
        await tx.emit(item["assembly"], "timer.updated", {"item": item["id"], "timer": view["timer"], "current": view["current"]})
    return view


async def request_floor(ctx: Ctx, item_id: int, user_id: int, kind: str | None = None, *, speech_type: str | None = None, added_by: str | None = None) -> dict[str, Any]:
    """Put a member on the list: themselves, or (`added_by`, a moderator) somebody in the room
    without a device or who raised a hand; the audit log records who added whom. `speech_type`
    says what for (a contribution when neither it nor `kind` is given). A member waits at most
    once for a speech (of any type) and once with a point of order."""
    t = resolve_speech_type(kind, speech_type)
    k = kind_of(t)

    async def run(tx: Tx) -> dict[str, Any]:
        item = await _open_item(tx, item_id)
        dup = await SpeakerEntry.exists().where(
            (SpeakerEntry.agenda_item == item_id) & (SpeakerEntry.user == user_id) & (SpeakerEntry.kind == k.value) & (SpeakerEntry.status == SpeakerStatus.WAITING.value)
        )
        if dup:
            raise IllegalTransition(f"{'this member is' if added_by else 'you are'} already waiting on this list for a {k.value}")
        last = await SpeakerEntry.select(SpeakerEntry.position).where(SpeakerEntry.agenda_item == item_id).order_by(SpeakerEntry.position, ascending=False).first()
        entry = SpeakerEntry(
            agenda_item=item_id,
            user=user_id,
            kind=k.value,
            speech_type=t.value,
            status=SpeakerStatus.WAITING.value,
            position=(last["position"] + 1) if last else 1,
            requested_ms=tx.now_ms,
        )
        await entry.save()
        if added_by is not None:
            await tx.audit(item["assembly"], added_by, "speakers.added", {"item": item_id, "entry": entry.id, "user": user_id, "kind": k.value, "speech_type": t.value})
        return await _publish(tx, item)

    return await ctx.write(run)


async def withdraw(ctx: Ctx, entry_id: int, user_id: int, *, as_moderator: bool = False, actor: str = "") -> dict[str, Any]:
    async def run(tx: Tx) -> dict[str, Any]:
        entry = await load(SpeakerEntry, entry_id, "speakers' list entry")
        await load_locked(tx, AgendaItem, entry["agenda_item"], "agenda item")
        entry = await load(SpeakerEntry, entry_id, "speakers' list entry")
        if entry["user"] != user_id and not as_moderator:
            raise Forbidden("only the speaker or a moderator can withdraw this request")
        if entry["status"] != SpeakerStatus.WAITING:
            raise IllegalTransition(f"cannot withdraw an entry in status {entry['status']!r}; want 'waiting'")
        await SpeakerEntry.update({SpeakerEntry.status: SpeakerStatus.WITHDRAWN.value, SpeakerEntry.ended_ms: tx.now_ms}).where(SpeakerEntry.id == entry_id)
        item = await load(AgendaItem, entry["agenda_item"], "agenda item")
        if as_moderator and entry["user"] != user_id:
            await tx.audit(item["assembly"], actor, "speakers.removed", {"item": item["id"], "entry": entry_id})
        return await _publish(tx, item)

    return await ctx.write(run)


async def _end_current(tx: Tx, item: dict[str, Any]) -> None:
    stopped = timer_of(item).stop(tx.now_ms)
    if item["current_speaker"]:
        await SpeakerEntry.update({SpeakerEntry.status: SpeakerStatus.DONE.value, SpeakerEntry.ended_ms: tx.now_ms, SpeakerEntry.spoken_ms: stopped.elapsed_ms}).where(
            (SpeakerEntry.id == item["current_speaker"]) & (SpeakerEntry.status == SpeakerStatus.SPEAKING.value)
        )
    await AgendaItem.update(
        {
            AgendaItem.current_speaker: None,
            AgendaItem.timer_started_ms: None,
            AgendaItem.timer_elapsed_ms: stopped.elapsed_ms,
        }
    ).where(AgendaItem.id == item["id"])


async def give_floor(ctx: Ctx, item_id: int, actor: str, entry_id: int | None = None) -> dict[str, Any]:
    """Give the floor to `entry_id`, or to the next in order; ends a running speech first."""

    async def run(tx: Tx) -> dict[str, Any]:
        item = await _open_item(tx, item_id)
        if entry_id is None:
            queue = (await speakers_view(item_id, tx.now_ms))["queue"]
            if not queue:
                raise IllegalTransition("the speakers' list is empty")
            target = queue[0]["id"]
        else:
            entry = await load(SpeakerEntry, entry_id, "speakers' list entry")
            if entry["agenda_item"] != item_id:
                raise InvalidInput(f"entry {entry_id} belongs to agenda item {entry['agenda_item']}, not {item_id}")
            if entry["status"] != SpeakerStatus.WAITING:
                raise IllegalTransition(f"cannot give the floor to an entry in status {entry['status']!r}; want 'waiting'")
            target = entry_id
        await _end_current(tx, item)
        await SpeakerEntry.update({SpeakerEntry.status: SpeakerStatus.SPEAKING.value, SpeakerEntry.started_ms: tx.now_ms}).where(SpeakerEntry.id == target)
        timer = Timer(item["timer_limit_ms"]).start(tx.now_ms)
        await AgendaItem.update(
            {
                AgendaItem.current_speaker: target,
                AgendaItem.timer_started_ms: timer.started_at_ms,
                AgendaItem.timer_elapsed_ms: 0,
            }
        ).where(AgendaItem.id == item_id)
        await tx.audit(item["assembly"], actor, "speakers.floor_given", {"item": item_id, "entry": target})
        item = await load(AgendaItem, item_id, "agenda item")
        return await _publish(tx, item, timer_changed=True)

    return await ctx.write(run)


async def end_speech(ctx: Ctx, item_id: int, actor: str) -> dict[str, Any]:
    async def run(tx: Tx) -> dict[str, Any]:
        item = await load_locked(tx, AgendaItem, item_id, "agenda item")
        if not item["current_speaker"]:
            raise IllegalTransition("nobody has the floor")
        await _end_current(tx, item)
        await tx.audit(item["assembly"], actor, "speakers.speech_ended", {"item": item_id, "entry": item["current_speaker"]})
        item = await load(AgendaItem, item_id, "agenda item")
        return await _publish(tx, item, timer_changed=True)

    return await ctx.write(run)


async def reorder(ctx: Ctx, item_id: int, actor: str, order: list[int]) -> dict[str, Any]:
    """Set the order of the waiting entries; `order` must list each waiting entry once."""

    async def run(tx: Tx) -> dict[str, Any]:
        item = await _open_item(tx, item_id)
        waiting = await SpeakerEntry.select(SpeakerEntry.id).where((SpeakerEntry.agenda_item == item_id) & (SpeakerEntry.status == SpeakerStatus.WAITING.value))
        ids = {r["id"] for r in waiting}
        if sorted(order) != sorted(ids) or len(order) != len(ids):
            raise InvalidInput(f"order must list each waiting entry once: want {sorted(ids)}, got {order}")
        for pos, eid in enumerate(order, start=1):
            await SpeakerEntry.update({SpeakerEntry.position: pos}).where(SpeakerEntry.id == eid)
        await tx.audit(item["assembly"], actor, "speakers.reordered", {"item": item_id, "order": order})
        return await _publish(tx, item)

    return await ctx.write(run)


async def timer_action(ctx: Ctx, item_id: int, actor: str, action: str) -> dict[str, Any]:
    if action not in TIMER_ACTIONS:
        raise InvalidInput(f"timer action must be one of {list(TIMER_ACTIONS)}, got {action!r}")

    async def run(tx: Tx) -> dict[str, Any]:
        item = await _open_item(tx, item_id)
        timer: Timer = getattr(timer_of(item), action)(tx.now_ms)
        await AgendaItem.update({AgendaItem.timer_started_ms: timer.started_at_ms, AgendaItem.timer_elapsed_ms: timer.elapsed_ms}).where(AgendaItem.id == item_id)
        await tx.audit(item["assembly"], actor, f"timer.{action}", {"item": item_id})
        item = await load(AgendaItem, item_id, "agenda item")
        return await _publish(tx, item, timer_changed=True)

    return await ctx.write(run)


async def entry_or_404(entry_id: int) -> dict[str, Any]:
    row = await SpeakerEntry.select().where(SpeakerEntry.id == entry_id).first()
    if row is None:
        raise NotFound(f"no speakers' list entry with id {entry_id}")
    return row
