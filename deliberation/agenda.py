"""Agenda items: order, planned duration, the provisions on the floor, and the phase machine."""

from __future__ import annotations

from typing import Any

from deliberation.common import NotFound, has_vote, in_id_range, iso, load, load_locked, loads
from deliberation.context import Ctx
from deliberation.core.errors import IllegalTransition, InvalidInput
from deliberation.core.phases import check_phase_reopen, check_phase_transition, is_reopening
from deliberation.core.speakers import Timer
from deliberation.tables import AgendaItem, AgendaProvision, Assembly, Provision, SpeakerEntry
from kurultai.unit_of_work import Tx


def timer_of(row: dict[str, Any]) -> Timer:
    return Timer(row["timer_limit_ms"], row["timer_elapsed_ms"], row["timer_started_ms"])


async def _provision_ids(item_id: int) -> list[int]:
    rows = await AgendaProvision.select(AgendaProvision.provision).where(AgendaProvision.agenda_item == item_id).order_by(AgendaProvision.id)
    return [r["provision"] for r in rows]


async def item_view(row: dict[str, Any], now_ms: int) -> dict[str, Any]:
    return {
        "id": row["id"],
        "assembly": row["assembly"],
        "position": row["position"],
        "title": row["title"],
        "description": row["description"],
        "planned_minutes": row["planned_minutes"],
        "phase": row["phase"],
        "speaking_time_s": row["speaking_time_s"],
        "provisions": await _provision_ids(row["id"]),
        "outcome": loads(row["outcome"], None),
        "timer": timer_of(row).to_dict(now_ms),
        "current_speaker": row["current_speaker"],
        "created_at": iso(row["created_ms"]),
    }


async def list_items(assembly_id: int, now_ms: int) -> list[dict[str, Any]]:
    await load(Assembly, assembly_id, "assembly")
    rows = await AgendaItem.select().where(AgendaItem.assembly == assembly_id).order_by(AgendaItem.position)
    return [await item_view(r, now_ms) for r in rows]


async def get_item(item_id: int, now_ms: int) -> dict[str, Any]:
    return await item_view(await load(AgendaItem, item_id, "agenda item"), now_ms)


async def _check_provisions(assembly_id: int, provisions: list[int]) -> None:
    if len(set(provisions)) != len(provisions):
        raise InvalidInput(f"provisions must not repeat, got {provisions}")
    for pid in provisions:
        prov = await Provision.select(Provision.assembly).where(Provision.id == pid).first()
        if prov is None or prov["assembly"] != assembly_id:
            raise InvalidInput(f"provision {pid} is not part of assembly {assembly_id}")


async def _set_provisions(item_id: int, provisions: list[int]) -> None:
    await AgendaProvision.delete().where(AgendaProvision.agenda_item == item_id)
    for pid in provisions:
        await AgendaProvision.insert(AgendaProvision(agenda_item=item_id, provision=pid))


async def create_item(
    ctx: Ctx,
    assembly_id: int,
    actor: str,
    *,
    title: str,
    description: str = "",
    planned_minutes: int = 15,
    speaking_time_s: int | None = None,
    provisions: list[int] | None = None,
) -> dict[str, Any]:
    async def run(tx: Tx) -> dict[str, Any]:
        return await create_item_tx(tx, assembly_id, actor, title=title, description=description, planned_minutes=planned_minutes, speaking_time_s=speaking_time_s, provisions=provisions)

    return await ctx.write(run)


async def create_item_tx(
    tx: Tx,
    assembly_id: int,
    actor: str,
    *,
    title: str,
    description: str = "",
    planned_minutes: int = 15,
    speaking_time_s: int | None = None,
    provisions: list[int] | None = None,
) -> dict[str, Any]:
    """`create_item` inside a running transaction (the agenda built from the provisions makes
    many items in one)."""
    assembly = await load_locked(tx, Assembly, assembly_id, "assembly")
    await _check_provisions(assembly_id, provisions or [])
    last = await AgendaItem.select(AgendaItem.position).where(AgendaItem.assembly == assembly_id).order_by(AgendaItem.position, ascending=False).first()
    limit_s = speaking_time_s if speaking_time_s is not None else assembly["speaking_time_s"]
    item = AgendaItem(
        assembly=assembly_id,
        position=(last["position"] + 1) if last else 1,
        title=title,
        description=description,
        planned_minutes=planned_minutes,
        speaking_time_s=limit_s,
        timer_limit_ms=limit_s * 1000,
        created_ms=tx.now_ms,
    )
    await item.save()
    await _set_provisions(item.id, provisions or [])
    view = await get_item(item.id, tx.now_ms)
    await tx.audit(assembly_id, actor, "agenda.created", {"item": item.id, "title": title})
    await tx.emit(assembly_id, "agenda.updated", {"item": view})
    return view


async def update_item(ctx: Ctx, item_id: int, actor: str, changes: dict[str, Any]) -> dict[str, Any]:
    async def run(tx: Tx) -> dict[str, Any]:
        row = await load_locked(tx, AgendaItem, item_id, "agenda item")
        values: dict[Any, Any] = {}
        for field in ("title", "description", "planned_minutes"):
            if field in changes:
                values[getattr(AgendaItem, field)] = changes[field]
        if "speaking_time_s" in changes:
            values[AgendaItem.speaking_time_s] = changes["speaking_time_s"]
            values[AgendaItem.timer_limit_ms] = changes["speaking_time_s"] * 1000
        if "provisions" in changes:
            await _check_provisions(row["assembly"], changes["provisions"])
            await _set_provisions(item_id, changes["provisions"])
        shifted = await _move(row, changes["position"]) if "position" in changes else []
        if values:
            await AgendaItem.update(values).where(AgendaItem.id == item_id)
        view = await get_item(item_id, tx.now_ms)
        await tx.audit(row["assembly"], actor, "agenda.updated", {"item": item_id, "fields": sorted(changes)})
        await tx.emit(row["assembly"], "agenda.updated", {"item": view})
        await _emit_shifted(tx, row["assembly"], shifted, {item_id})
        return view

    return await ctx.write(run)


async def _move(row: dict[str, Any], position: int) -> list[int]:
    """Move an item to 1-based `position`, renumbering the others. Returns the ids of the items
    whose position changed (the moved one included)."""
    items = await AgendaItem.select(AgendaItem.id, AgendaItem.position).where(AgendaItem.assembly == row["assembly"]).order_by(AgendaItem.position)
    others = [r for r in items if r["id"] != row["id"]]
    if not 1 <= position <= len(others) + 1:
        raise InvalidInput(f"position must be between 1 and {len(others) + 1}, got {position}")
    others.insert(position - 1, next(r for r in items if r["id"] == row["id"]))  # the row is locked: it is there
    return await _number(others)


async def _renumber(assembly_id: int) -> list[int]:
    """Positions 1..n in the present order (after an item was removed). Returns the ids of the
    items whose position changed."""
    return await _number(await AgendaItem.select(AgendaItem.id, AgendaItem.position).where(AgendaItem.assembly == assembly_id).order_by(AgendaItem.position))


async def _number(items: list[dict[str, Any]]) -> list[int]:
    """Give `items` ({"id", "position"}, in their new order) positions 1..n; returns the ids of
    those whose position changed."""
    changed = []
    for i, r in enumerate(items, start=1):
        if r["position"] != i:
            await AgendaItem.update({AgendaItem.position: i}).where(AgendaItem.id == r["id"])
            changed.append(r["id"])
    return changed


async def _emit_shifted(tx: Tx, assembly_id: int, shifted: list[int], announced: set[int]) -> None:
    """`agenda.updated` for each item a move or a removal shifted, beside those the change
    announces itself: every client's agenda keeps its order without fetching it again."""
    for iid in shifted:
        if iid not in announced:
            await tx.emit(assembly_id, "agenda.updated", {"item": await get_item(iid, tx.now_ms)})


async def _check_reshapable(row: dict[str, Any]) -> None:
    """An item is merged or split only while it is pending, before anybody asked to speak on it
    and before a vote on it was prepared."""
    if row["phase"] != "pending":
        raise IllegalTransition(f"agenda item {row['id']} is in phase {row['phase']!r}: only a pending item is merged or split")
    if await SpeakerEntry.exists().where(SpeakerEntry.agenda_item == row["id"]):
        raise IllegalTransition(f"agenda item {row['id']} has speakers: it is no longer merged or split")
    if await has_vote(agenda_item=row["id"]):
        raise IllegalTransition(f"agenda item {row['id']} has a vote: it is no longer merged or split")


async def merge_items(ctx: Ctx, item_id: int, into_id: int, actor: str) -> dict[str, Any]:
    """Merge item `item_id` into `into_id`: its provisions are appended to those of `into_id`
    (in their order, none twice), it is deleted and the positions are renumbered 1..n. Both
    items are pending, without speakers or a vote. Audited (`agenda.merged`); announced with
    `agenda.removed` and `agenda.updated` (also of each item the removal moved up). Returns the
    merged item."""

    async def run(tx: Tx) -> dict[str, Any]:
        row = await load_locked(tx, AgendaItem, item_id, "agenda item")
        assembly_id = row["assembly"]
        if into_id == item_id:
            raise InvalidInput(f"agenda item {item_id} cannot be merged into itself")
        into = await AgendaItem.select().where(AgendaItem.id == into_id).first() if in_id_range(into_id) else None
        if into is None or into["assembly"] != assembly_id:
            raise InvalidInput(f"agenda item {into_id} is not part of assembly {assembly_id}")
        await _check_reshapable(row)
        await _check_reshapable(into)
        kept = await _provision_ids(into_id)
        moved = await _provision_ids(item_id)
        await _set_provisions(into_id, kept + [pid for pid in moved if pid not in kept])
        await _set_provisions(item_id, [])
        await AgendaItem.delete().where(AgendaItem.id == item_id)
        shifted = await _renumber(assembly_id)
        was_current = await Assembly.exists().where((Assembly.id == assembly_id) & (Assembly.current_item == item_id))
        if was_current:  # the floor goes back to the default item, as when the chair clears it
            await Assembly.update({Assembly.current_item: 0}).where(Assembly.id == assembly_id)
        view = await get_item(into_id, tx.now_ms)
        await tx.audit(assembly_id, actor, "agenda.merged", {"item": item_id, "into": into_id})
        await tx.emit(assembly_id, "agenda.removed", {"item": item_id})
        await tx.emit(assembly_id, "agenda.updated", {"item": view})
        await _emit_shifted(tx, assembly_id, shifted, {into_id})
        if was_current:
            await tx.emit(assembly_id, "agenda.current", {"item": None})
        return view

    return await ctx.write(run)


async def split_item(ctx: Ctx, item_id: int, provisions: list[int], title: str, actor: str) -> list[dict[str, Any]]:
    """Split `provisions` (some of the item's, not all) off a pending item into a new item right
    after it, titled `title`, with the same planned duration and speaking time. Audited
    (`agenda.split`); `agenda.updated` for both and for each item after them, which moves down
    one. Returns both items, the original first."""
    title = " ".join(title.split())
    if not title or len(title) > 300:
        raise InvalidInput(f"the new item's title must have 1 to 300 characters, got {len(title)}")

    async def run(tx: Tx) -> list[dict[str, Any]]:
        row = await load_locked(tx, AgendaItem, item_id, "agenda item")
        await _check_reshapable(row)
        current = await _provision_ids(item_id)
        if len(set(provisions)) != len(provisions):
            raise InvalidInput(f"provisions must not repeat, got {provisions}")
        if not provisions or len(provisions) >= len(current) or any(pid not in current for pid in provisions):
            raise InvalidInput(f"split off some of the item's provisions {current}, not none or all, got {provisions}")
        last = await AgendaItem.select(AgendaItem.position).where(AgendaItem.assembly == row["assembly"]).order_by(AgendaItem.position, ascending=False).first()
        new = AgendaItem(
            assembly=row["assembly"],
            position=last["position"] + 1,
            title=title,
            planned_minutes=row["planned_minutes"],
            speaking_time_s=row["speaking_time_s"],
            timer_limit_ms=row["speaking_time_s"] * 1000,
            created_ms=tx.now_ms,
        )
        await new.save()
        split_off = [pid for pid in current if pid in provisions]
        await _set_provisions(item_id, [pid for pid in current if pid not in provisions])
        await _set_provisions(new.id, split_off)
        shifted = await _move(await load(AgendaItem, new.id, "agenda item"), row["position"] + 1)
        views = [await get_item(item_id, tx.now_ms), await get_item(new.id, tx.now_ms)]
        await tx.audit(row["assembly"], actor, "agenda.split", {"item": item_id, "new": new.id, "provisions": split_off, "title": title})
        for view in views:
            await tx.emit(row["assembly"], "agenda.updated", {"item": view})
        await _emit_shifted(tx, row["assembly"], shifted, {item_id, new.id})
        return views

    return await ctx.write(run)


async def set_phase(ctx: Ctx, item_id: int, actor: str, phase: str, reason: str | None = None) -> dict[str, Any]:
    """Move an item to its next phase, or reopen the phase before the current one: a reopening
    needs a reason, which the audit log records with it."""

    async def run(tx: Tx) -> dict[str, Any]:
        row = await load_locked(tx, AgendaItem, item_id, "agenda item")
        back = is_reopening(row["phase"], phase)
        if back:
            new = check_phase_reopen(row["phase"], phase)
            if not (reason or "").strip():
                raise InvalidInput("reopening a phase needs a reason")
        else:
            new = check_phase_transition(row["phase"], phase)
        await AgendaItem.update({AgendaItem.phase: new.value}).where(AgendaItem.id == item_id)
        view = await get_item(item_id, tx.now_ms)
        detail: dict[str, Any] = {"item": item_id, "from": row["phase"], "to": new.value}
        if back:
            detail |= {"reopened": True, "reason": (reason or "").strip()}
        await tx.audit(row["assembly"], actor, "agenda.phase", detail)
        await tx.emit(row["assembly"], "agenda.updated", {"item": view})
        return view

    return await ctx.write(run)


async def set_current(ctx: Ctx, assembly_id: int, item_id: int | None, actor: str) -> dict[str, Any]:
    """The item the chair puts on the floor: every view shows it unless asked for another. None
    goes back to the default (the first item in an active phase)."""

    async def run(tx: Tx) -> dict[str, Any]:
        await load_locked(tx, Assembly, assembly_id, "assembly")
        if item_id is not None:
            row = await AgendaItem.select(AgendaItem.assembly).where(AgendaItem.id == item_id).first()
            if row is None or row["assembly"] != assembly_id:
                raise InvalidInput(f"agenda item {item_id} is not part of assembly {assembly_id}")
        await Assembly.update({Assembly.current_item: item_id or 0}).where(Assembly.id == assembly_id)
        await tx.audit(assembly_id, actor, "agenda.current", {"item": item_id})
        await tx.emit(assembly_id, "agenda.current", {"item": item_id})
        return {"assembly": assembly_id, "current_item": item_id}

    return await ctx.write(run)


async def items_for_provision(provision_id: int) -> list[dict[str, Any]]:
    rows = await AgendaProvision.select(AgendaProvision.agenda_item.id.as_alias("id"), AgendaProvision.agenda_item.phase.as_alias("phase")).where(AgendaProvision.provision == provision_id)
    return [dict(r) for r in rows]


async def item_or_404(item_id: int) -> dict[str, Any]:
    row = await AgendaItem.select().where(AgendaItem.id == item_id).first()
    if row is None:
        raise NotFound(f"no agenda item with id {item_id}")
    return row
