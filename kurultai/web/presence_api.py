"""HTTP handlers of presence (issue #17): the attendance list, checking in and out.

A delegate checks themself in or out; the chair (a moderator) checks in or out any delegate by
username, for people in the room without a device, or everybody out at once. The list is public, like the members list.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from msgspec import Meta, convert

from deliberation import presence
from deliberation.context import Ctx
from kurultai.web.auth import Principal, require_moderator, require_role
from kurultai.web.deliberation_api import load_assembly

P = NamedDependency[Principal | None]
C = NamedDependency[Ctx]


class PresenceSet(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    present: bool


class AttendanceEntry(msgspec.Struct, kw_only=True):
    username: str
    display_name: str
    present: bool
    since: str | None  # when last checked in or out; null: never


class Attendance(msgspec.Struct, kw_only=True):
    present_count: int
    delegates: int
    members: list[AttendanceEntry]


@get("/api/assemblies/{aid:int}/presence", tags=["presence"])
async def attendance_h(aid: FromPath[int]) -> Attendance:
    """Every delegate, present or not, and how many are present (public, like the members list)."""
    return convert(await presence.attendance(aid), Attendance)


@post("/api/assemblies/{aid:int}/presence", tags=["presence"], status_code=200)
async def check_self_h(aid: FromPath[int], data: JSONBody[PresenceSet], principal: P, ctx: C) -> Attendance:
    """A delegate checks themself in (`{"present": true}`) or out (`false`)."""
    await load_assembly(aid)
    p = await require_role(aid, principal, "delegate")
    return convert(await presence.set_presence(ctx, aid, p.username, p.username, data.present), Attendance)


@post("/api/assemblies/{aid:int}/presence/{username:str}", tags=["presence"], status_code=200)
async def check_member_h(aid: FromPath[int], username: FromPath[Annotated[str, Meta(max_length=64)]], data: JSONBody[PresenceSet], principal: P, ctx: C) -> Attendance:
    """The chair checks a delegate in or out by username."""
    await load_assembly(aid)
    p = await require_moderator(aid, principal)
    return convert(await presence.set_presence(ctx, aid, p.username, username, data.present), Attendance)


@delete("/api/assemblies/{aid:int}/presence", tags=["presence"], status_code=200)
async def check_out_all_h(aid: FromPath[int], principal: P, ctx: C) -> Attendance:
    """The chair checks every delegate out at once (a break, the end of a sitting): one audit
    entry and one event, `presence.cleared`."""
    await load_assembly(aid)
    p = await require_moderator(aid, principal)
    return convert(await presence.check_out_all(ctx, aid, p.username), Attendance)


HANDLERS = [attendance_h, check_self_h, check_member_h, check_out_all_h]
