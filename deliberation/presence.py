"""Presence (issue #17): delegates check in and out, themselves or by the chair for people in the room.

Only delegates are counted (the voting body, as on a roll: voting/keys.approved_keys). Each
change is audited (`presence.changed`, with who made it) and announced by the event
`presence.changed` `{"username", "present", "present_count", "delegates"}`, which tells nothing
that the public attendance list does not (`GET /api/assemblies/{aid}/presence`).

A vote whose `quorum_basis` is "present" takes its roll from the delegates checked in when it
opens (voting/elections.open_election), so that its quorum and turnout are measured against the
members present.

Attendance does not outlive membership: removing a member or changing their role forgets it
(`forget_tx`, audited if they were checked in), and the chair can check everybody out at once
(`check_out_all`). A self check-in means that the delegate clicked "Check in", not that anybody
saw them in the room (docs/floor.md).
"""

from __future__ import annotations

from typing import Any

from deliberation.common import iso, load, load_locked
from deliberation.context import Ctx
from deliberation.core.errors import InvalidInput
from deliberation.tables import Assembly, Attendance, Membership, active_member
from kurultai.unit_of_work import Tx


async def _delegates(assembly_id: int) -> list[dict[str, Any]]:
    """The active delegates: a deactivated one is not counted (issue #18)."""
    rows = (
        await Membership.select(
            Membership.user.id.as_alias("user_id"),
            Membership.user.username.as_alias("username"),
            Membership.user.display_name.as_alias("display_name"),
        )
        .where((Membership.assembly == assembly_id) & (Membership.role == "delegate") & active_member())
        .order_by(Membership.id)
    )
    return [dict(r) for r in rows]


async def delegates_of(assembly_id: int) -> list[dict[str, Any]]:
    """The assembly's delegates (`user_id`, `username`, `display_name`), in the order they joined."""
    return await _delegates(assembly_id)


async def present_user_ids(assembly_id: int) -> set[int]:
    """The users checked in now (delegates or not: callers intersect with the voting body)."""
    rows = await Attendance.select(Attendance.user).where((Attendance.assembly == assembly_id) & (Attendance.present == True))  # noqa: E712
    return {r["user"] for r in rows}


async def attendance(assembly_id: int) -> dict[str, Any]:
    """The attendance list: every delegate, present or not, and the counts.
    `{"present_count", "delegates", "members": [{"username", "display_name", "present", "since"}]}`
    (`since`: when the member was last checked in or out; null if never)."""
    await load(Assembly, assembly_id, "assembly")
    rows = {r["user"]: r for r in await Attendance.select(Attendance.user, Attendance.present, Attendance.changed_ms).where(Attendance.assembly == assembly_id)}
    members = []
    for d in await _delegates(assembly_id):
        row = rows.get(d["user_id"])
        members.append(
            {
                "username": d["username"],
                "display_name": d["display_name"],
                "present": bool(row and row["present"]),
                "since": iso(row["changed_ms"]) if row else None,
            }
        )
    return {"present_count": sum(1 for m in members if m["present"]), "delegates": len(members), "members": members}


async def set_presence(ctx: Ctx, assembly_id: int, actor: str, username: str, present: bool) -> dict[str, Any]:
    """Check `username` (a delegate of the assembly) in or out; `actor` is who did it (the
    delegate themself, or the chair). Checking in somebody present changes nothing and records
    nothing. Returns the attendance list after the change."""

    async def run(tx: Tx) -> dict[str, Any]:
        await load_locked(tx, Assembly, assembly_id, "assembly")
        member = next((d for d in await _delegates(assembly_id) if d["username"] == username), None)
        if member is None:
            raise InvalidInput(f"{username!r} is not a delegate of assembly {assembly_id}; only delegates are checked in")
        row = await Attendance.select(Attendance.id, Attendance.present).where((Attendance.assembly == assembly_id) & (Attendance.user == member["user_id"])).first()
        if row is not None and bool(row["present"]) == present:
            return await attendance(assembly_id)
        values = {Attendance.present: present, Attendance.changed_ms: tx.now_ms, Attendance.changed_by: actor}
        if row is None:
            await Attendance.insert(Attendance(assembly=assembly_id, user=member["user_id"], present=present, changed_ms=tx.now_ms, changed_by=actor))
        else:
            await Attendance.update(values).where(Attendance.id == row["id"])
        view = await attendance(assembly_id)
        await tx.audit(assembly_id, actor, "presence.changed", {"username": username, "present": present, "present_count": view["present_count"]})
        event = {"username": username, "present": present, "present_count": view["present_count"], "delegates": view["delegates"]}
        await tx.emit(assembly_id, "presence.changed", event)
        return view

    return await ctx.write(run)


async def forget_tx(tx: Tx, assembly_id: int, actor: str, user_id: int, username: str, reason: str) -> None:
    """In a write holding the assembly's lock: a member was removed or their role changed, so
    their attendance goes (a delegate re-added, or made a delegate again, starts checked out).
    If they were checked in, that is audited (`presence.changed` with the `reason`) and announced
    like any check-out."""
    rows = await Attendance.select(Attendance.present).where((Attendance.assembly == assembly_id) & (Attendance.user == user_id))
    if not rows:
        return
    await Attendance.delete().where((Attendance.assembly == assembly_id) & (Attendance.user == user_id))
    if not any(r["present"] for r in rows):
        return
    view = await attendance(assembly_id)
    await tx.audit(assembly_id, actor, "presence.changed", {"username": username, "present": False, "present_count": view["present_count"], "reason": reason})
    await tx.emit(assembly_id, "presence.changed", {"username": username, "present": False, "present_count": view["present_count"], "delegates": view["delegates"]})


async def check_out_all(ctx: Ctx, assembly_id: int, actor: str) -> dict[str, Any]:
    """The chair checks everybody out (the end of a sitting, a break): one audit entry
    `presence.cleared` `{"usernames", "present_count": 0}` and one event `presence.cleared`
    `{"usernames", "present_count", "delegates"}` (`usernames`: who was checked in). Nobody
    checked in: nothing recorded. Returns the attendance list after it."""

    async def run(tx: Tx) -> dict[str, Any]:
        await load_locked(tx, Assembly, assembly_id, "assembly")
        present = await present_user_ids(assembly_id)
        if not present:
            return await attendance(assembly_id)
        names = sorted(d["username"] for d in await _delegates(assembly_id) if d["user_id"] in present)
        await Attendance.update({Attendance.present: False, Attendance.changed_ms: tx.now_ms, Attendance.changed_by: actor}).where(
            (Attendance.assembly == assembly_id) & (Attendance.present == True)  # noqa: E712
        )
        view = await attendance(assembly_id)
        await tx.audit(assembly_id, actor, "presence.cleared", {"usernames": names, "present_count": view["present_count"]})
        await tx.emit(assembly_id, "presence.cleared", {"usernames": names, "present_count": view["present_count"], "delegates": view["delegates"]})
        return view

    return await ctx.write(run)
