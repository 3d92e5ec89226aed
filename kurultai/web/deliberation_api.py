"""HTTP handlers of the deliberation API. Each names the role it needs; logic lives in services."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, delete, get, patch, post
from msgspec import convert
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from deliberation import agenda, amendments, assemblies, audit_log, comments, draft, speakers
from deliberation.common import load
from deliberation.context import Ctx
from deliberation.core.errors import IllegalTransition, InvalidInput
from deliberation.core.phases import is_reopening
from deliberation.schemas import (
    CurrentItem,
    CurrentItemView,
    AgendaItemCreate,
    AgendaItemMerge,
    AgendaItemSplit,
    AgendaItemUpdate,
    AgendaItemView,
    AmendmentCreate,
    AmendmentUpdate,
    AmendmentView,
    AssemblyCreate,
    AssemblyUpdate,
    AssemblyView,
    AuditExport,
    CommentCreate,
    CommentHide,
    CommentView,
    Decision,
    Document,
    FloorGive,
    FloorRequest,
    Member,
    MemberSet,
    PhaseChange,
    ProvisionCreate,
    ProvisionUpdate,
    ProvisionView,
    SpeakerOrder,
    Speakers,
    TimerAction,
)
from deliberation.accounts import USERNAME_RE
from deliberation.tables import AgendaItem, Amendment, Comment, Provision, SpeakerEntry
from kurultai.web.errors import ApiError
from kurultai.web.auth import Principal, require_admin, require_delegate, require_moderator, require_secretary, require_user

P = NamedDependency[Principal | None]
C = NamedDependency[Ctx]


# -- assemblies and members ----------------------------------------------------------------


@get("/api/assemblies", tags=["assemblies"])
async def list_assemblies_h() -> list[AssemblyView]:
    return convert(await assemblies.list_assemblies(), list[AssemblyView])


@post("/api/assemblies", tags=["assemblies"], status_code=201)
async def create_assembly_h(data: JSONBody[AssemblyCreate], principal: P, ctx: C) -> AssemblyView:
    p = require_admin(principal)
    view = await assemblies.create_assembly(
        ctx,
        p.username,
        title=data.title,
        description=data.description,
        languages=data.languages,
        titles=data.titles,
        descriptions=data.descriptions,
        cosponsor_threshold=data.cosponsor_threshold,
        speaking_time_s=data.speaking_time_s,
    )
    return convert(view, AssemblyView)


@get("/api/assemblies/{aid:int}", tags=["assemblies"])
async def get_assembly_h(aid: FromPath[int]) -> AssemblyView:
    return convert(await assemblies.get_assembly(aid), AssemblyView)


@patch("/api/assemblies/{aid:int}", tags=["assemblies"])
async def update_assembly_h(aid: FromPath[int], data: JSONBody[AssemblyUpdate], principal: P, ctx: C) -> AssemblyView:
    await load_assembly(aid)
    p = await require_secretary(aid, principal)
    return convert(await assemblies.update_assembly(ctx, aid, p.username, data.changes()), AssemblyView)


@get("/api/assemblies/{aid:int}/members", tags=["assemblies"])
async def list_members_h(aid: FromPath[int]) -> list[Member]:
    return convert(await assemblies.list_members(aid), list[Member])


@post("/api/assemblies/{aid:int}/members", tags=["assemblies"], status_code=200)
async def set_member_h(aid: FromPath[int], data: JSONBody[MemberSet], principal: P, ctx: C) -> Member:
    await load_assembly(aid)
    p = await require_secretary(aid, principal)
    await _check_appointment(aid, p, data.username, data.role)
    return convert(await assemblies.set_member(ctx, aid, p.username, data.username, data.role), Member)


async def _check_appointment(aid: int, p: Principal, username: str, role: str | None) -> None:
    """Only an administrator appoints (or changes, or removes) a chair or a secretary."""
    if p.is_admin:
        return
    current = await assemblies.member_by_username(aid, username) if USERNAME_RE.match(username) else None
    if role in assemblies.APPOINTED or (current is not None and current["role"] in assemblies.APPOINTED and current["role"] != role):
        raise ApiError(403, "forbidden", "only an administrator appoints or changes the chair (moderator) and the secretary of an assembly")


@delete("/api/assemblies/{aid:int}/members/{username:str}", tags=["assemblies"], status_code=204)
async def remove_member_h(aid: FromPath[int], username: FromPath[str], principal: P, ctx: C) -> None:
    await load_assembly(aid)
    p = await require_secretary(aid, principal)
    await _check_appointment(aid, p, username, None)
    await assemblies.remove_member(ctx, aid, p.username, username)


@get("/api/assemblies/{aid:int}/audit", tags=["audit"])
async def audit_h(aid: FromPath[int], principal: P) -> AuditExport:
    await load_assembly(aid)
    await require_secretary(aid, principal)
    return convert(await audit_log.export(aid), AuditExport)


@get("/api/audit", tags=["audit"])
async def global_audit_h(principal: P) -> AuditExport:
    require_admin(principal)
    return convert(await audit_log.export(0), AuditExport)


async def load_assembly(aid: int) -> dict[str, Any]:
    from deliberation.tables import Assembly

    return await load(Assembly, aid, "assembly")


# -- the draft -------------------------------------------------------------------------------


@get("/api/assemblies/{aid:int}/document", tags=["draft"])
async def document_h(aid: FromPath[int], version: FromQuery[int | None] = None) -> Document:
    return convert(await draft.document(aid, version), Document)


@get("/api/assemblies/{aid:int}/document.md", tags=["draft"], media_type="text/markdown; charset=utf-8")
async def document_md_h(aid: FromPath[int], version: FromQuery[int | None] = None) -> str:
    return await draft.export_document(aid, "md", version)


@get("/api/assemblies/{aid:int}/document.html", tags=["draft"], media_type="text/html; charset=utf-8")
async def document_html_h(aid: FromPath[int], version: FromQuery[int | None] = None) -> str:
    return await draft.export_document(aid, "html", version)


@post("/api/assemblies/{aid:int}/provisions", tags=["draft"], status_code=201)
async def add_provision_h(aid: FromPath[int], data: JSONBody[ProvisionCreate], principal: P, ctx: C) -> ProvisionView:
    await load_assembly(aid)
    p = await require_secretary(aid, principal)
    view = await draft.add_provision(ctx, aid, p.username, number=data.number, kind=data.kind, title=data.title, text=data.text, after=data.after)
    return convert(view, ProvisionView)


@get("/api/provisions/{pid:int}", tags=["draft"])
async def get_provision_h(pid: FromPath[int]) -> ProvisionView:
    return convert(await draft.current_provision(pid), ProvisionView)


@patch("/api/provisions/{pid:int}", tags=["draft"])
async def edit_provision_h(pid: FromPath[int], data: JSONBody[ProvisionUpdate], principal: P, ctx: C) -> ProvisionView:
    prov = await load(Provision, pid, "provision")
    p = await require_secretary(prov["assembly"], principal)
    return convert(await draft.edit_provision(ctx, pid, p.username, title=data.title, text=data.text, delete=bool(data.delete)), ProvisionView)


# -- agenda ------------------------------------------------------------------------------------


@get("/api/assemblies/{aid:int}/agenda", tags=["agenda"])
async def list_agenda_h(aid: FromPath[int], ctx: C) -> list[AgendaItemView]:
    return convert(await agenda.list_items(aid, ctx.now()), list[AgendaItemView])


@post("/api/assemblies/{aid:int}/agenda", tags=["agenda"], status_code=201)
async def create_item_h(aid: FromPath[int], data: JSONBody[AgendaItemCreate], principal: P, ctx: C) -> AgendaItemView:
    await load_assembly(aid)
    p = await require_secretary(aid, principal)
    view = await agenda.create_item(
        ctx,
        aid,
        p.username,
        title=data.title,
        description=data.description,
        planned_minutes=data.planned_minutes,
        speaking_time_s=data.speaking_time_s,
        provisions=data.provisions,
    )
    return convert(view, AgendaItemView)


@get("/api/agenda/{iid:int}", tags=["agenda"])
async def get_item_h(iid: FromPath[int], ctx: C) -> AgendaItemView:
    return convert(await agenda.get_item(iid, ctx.now()), AgendaItemView)


async def _item_moderator(iid: int, principal: Principal | None) -> tuple[dict[str, Any], Principal]:
    item = await load(AgendaItem, iid, "agenda item")
    return item, await require_moderator(item["assembly"], principal)


@patch("/api/agenda/{iid:int}", tags=["agenda"])
async def update_item_h(iid: FromPath[int], data: JSONBody[AgendaItemUpdate], principal: P, ctx: C) -> AgendaItemView:
    item = await load(AgendaItem, iid, "agenda item")
    p = await require_secretary(item["assembly"], principal)
    return convert(await agenda.update_item(ctx, iid, p.username, data.changes()), AgendaItemView)


@post("/api/agenda/{iid:int}/merge", tags=["agenda"], status_code=200)
async def merge_item_h(iid: FromPath[int], data: JSONBody[AgendaItemMerge], principal: P, ctx: C) -> AgendaItemView:
    """Merge the item into `into` (both pending, without speakers or a vote): the merged item."""
    item = await load(AgendaItem, iid, "agenda item")
    p = await require_secretary(item["assembly"], principal)
    return convert(await agenda.merge_items(ctx, iid, data.into, p.username), AgendaItemView)


@post("/api/agenda/{iid:int}/split", tags=["agenda"], status_code=200)
async def split_item_h(iid: FromPath[int], data: JSONBody[AgendaItemSplit], principal: P, ctx: C) -> list[AgendaItemView]:
    """Split some of a pending item's provisions off into a new item right after it: both items."""
    item = await load(AgendaItem, iid, "agenda item")
    p = await require_secretary(item["assembly"], principal)
    return convert(await agenda.split_item(ctx, iid, data.provisions, data.title, p.username), list[AgendaItemView])


@post("/api/agenda/{iid:int}/phase", tags=["agenda"], status_code=200)
async def set_phase_h(iid: FromPath[int], data: JSONBody[PhaseChange], principal: P, ctx: C) -> AgendaItemView:
    """The next phase, or (with a `reason`) the phase before the current one reopened; not while
    a vote on the item is open."""
    from voting import elections

    row, p = await _item_moderator(iid, principal)
    if is_reopening(row["phase"], data.phase) and any(e["agenda_item"] == iid and e["status"] == "open" for e in await elections.list_elections(row["assembly"])):
        raise IllegalTransition("close the open vote on this item before reopening a phase")
    return convert(await agenda.set_phase(ctx, iid, p.username, data.phase, data.reason), AgendaItemView)


@post("/api/assemblies/{aid:int}/current", tags=["agenda"], status_code=200)
async def set_current_h(aid: FromPath[int], data: JSONBody[CurrentItem], principal: P, ctx: C) -> CurrentItemView:
    """Put an agenda item on the floor: every view shows it unless asked for another (`item`:
    null goes back to the first item in an active phase)."""
    p = await require_moderator(aid, principal)
    return convert(await agenda.set_current(ctx, aid, data.item, p.username), CurrentItemView)


# -- speakers' list ------------------------------------------------------------------------------


@get("/api/agenda/{iid:int}/speakers", tags=["speakers"])
async def speakers_h(iid: FromPath[int], ctx: C) -> Speakers:
    return convert(await speakers.speakers_view(iid, ctx.now()), Speakers)


@post("/api/agenda/{iid:int}/speakers", tags=["speakers"], status_code=201)
async def request_floor_h(iid: FromPath[int], data: JSONBody[FloorRequest], principal: P, ctx: C) -> Speakers:
    """Ask for the floor; a moderator may add a member by `username` (somebody without a device,
    or who raised a hand). `speech_type`: contribution (the default), pro, contra, point_of_order
    (goes before the speeches), question (an interposed question) or intervention."""
    item = await load(AgendaItem, iid, "agenda item")
    if data.username is None:
        p = await require_delegate(item["assembly"], principal)
        return convert(await speakers.request_floor(ctx, iid, p.id, data.kind, speech_type=data.speech_type), Speakers)
    chair = await require_moderator(item["assembly"], principal)
    member = await assemblies.member_by_username(item["assembly"], data.username)
    if member is None or member["role"] not in ("delegate", "moderator"):
        raise InvalidInput(f"{data.username!r} is not a delegate of this assembly")
    return convert(await speakers.request_floor(ctx, iid, member["user_id"], data.kind, speech_type=data.speech_type, added_by=chair.username), Speakers)


@post("/api/speakers/{sid:int}/withdraw", tags=["speakers"], status_code=200)
async def withdraw_h(sid: FromPath[int], principal: P, ctx: C) -> Speakers:
    entry = await load(SpeakerEntry, sid, "speakers' list entry")
    item = await load(AgendaItem, entry["agenda_item"], "agenda item")
    p = require_user(principal)
    if entry["user"] == p.id:
        await require_delegate(item["assembly"], p)
        return convert(await speakers.withdraw(ctx, sid, p.id), Speakers)
    p = await require_moderator(item["assembly"], principal)
    return convert(await speakers.withdraw(ctx, sid, p.id, as_moderator=True, actor=p.username), Speakers)


@post("/api/agenda/{iid:int}/speakers/next", tags=["speakers"], status_code=200)
async def give_floor_h(iid: FromPath[int], data: JSONBody[FloorGive], principal: P, ctx: C) -> Speakers:
    _, p = await _item_moderator(iid, principal)
    return convert(await speakers.give_floor(ctx, iid, p.username, data.entry), Speakers)


@post("/api/agenda/{iid:int}/speakers/end", tags=["speakers"], status_code=200)
async def end_speech_h(iid: FromPath[int], principal: P, ctx: C) -> Speakers:
    _, p = await _item_moderator(iid, principal)
    return convert(await speakers.end_speech(ctx, iid, p.username), Speakers)


@post("/api/agenda/{iid:int}/speakers/order", tags=["speakers"], status_code=200)
async def reorder_h(iid: FromPath[int], data: JSONBody[SpeakerOrder], principal: P, ctx: C) -> Speakers:
    _, p = await _item_moderator(iid, principal)
    return convert(await speakers.reorder(ctx, iid, p.username, data.order), Speakers)


@post("/api/agenda/{iid:int}/timer", tags=["speakers"], status_code=200)
async def timer_h(iid: FromPath[int], data: JSONBody[TimerAction], principal: P, ctx: C) -> Speakers:
    _, p = await _item_moderator(iid, principal)
    return convert(await speakers.timer_action(ctx, iid, p.username, data.action), Speakers)


# -- amendments -----------------------------------------------------------------------------------


@get("/api/assemblies/{aid:int}/amendments", tags=["amendments"])
async def list_amendments_h(aid: FromPath[int], provision: FromQuery[int | None] = None, status: FromQuery[str | None] = None) -> list[AmendmentView]:
    return convert(await amendments.list_amendments(aid, provision, status), list[AmendmentView])


@post("/api/assemblies/{aid:int}/amendments", tags=["amendments"], status_code=201)
async def create_amendment_h(aid: FromPath[int], data: JSONBody[AmendmentCreate], principal: P, ctx: C) -> AmendmentView:
    await load_assembly(aid)
    p = await require_delegate(aid, principal)
    view = await amendments.create_amendment(
        ctx,
        aid,
        p.id,
        p.username,
        provision=data.provision,
        kind=data.kind,
        text=data.text,
        title=data.title,
        rationale=data.rationale,
        submit=data.submit,
    )
    return convert(view, AmendmentView)


@get("/api/amendments/{mid:int}", tags=["amendments"])
async def get_amendment_h(mid: FromPath[int]) -> AmendmentView:
    return convert(await amendments.get_amendment(mid), AmendmentView)


@patch("/api/amendments/{mid:int}", tags=["amendments"])
async def update_amendment_h(mid: FromPath[int], data: JSONBody[AmendmentUpdate], principal: P, ctx: C) -> AmendmentView:
    row = await load(Amendment, mid, "amendment")
    p = await require_delegate(row["assembly"], principal)
    return convert(await amendments.update_draft(ctx, mid, p.id, data.changes()), AmendmentView)


async def _author_action(mid: int, principal: Principal | None, ctx: Ctx, action: str) -> dict[str, Any]:
    row = await load(Amendment, mid, "amendment")
    p = await require_delegate(row["assembly"], principal)
    return await amendments.author_action(ctx, mid, p.id, p.username, action)


@post("/api/amendments/{mid:int}/submit", tags=["amendments"], status_code=200)
async def submit_amendment_h(mid: FromPath[int], principal: P, ctx: C) -> AmendmentView:
    return convert(await _author_action(mid, principal, ctx, "submit"), AmendmentView)


@post("/api/amendments/{mid:int}/withdraw", tags=["amendments"], status_code=200)
async def withdraw_amendment_h(mid: FromPath[int], principal: P, ctx: C) -> AmendmentView:
    return convert(await _author_action(mid, principal, ctx, "withdraw"), AmendmentView)


async def _moderator_action(mid: int, principal: Principal | None, ctx: Ctx, action: str, reason: str) -> dict[str, Any]:
    row = await load(Amendment, mid, "amendment")
    p = await require_moderator(row["assembly"], principal)
    return await amendments.moderator_action(ctx, mid, p.username, action, reason)


@post("/api/amendments/{mid:int}/admit", tags=["amendments"], status_code=200)
async def admit_amendment_h(mid: FromPath[int], data: JSONBody[Decision], principal: P, ctx: C) -> AmendmentView:
    return convert(await _moderator_action(mid, principal, ctx, "admit", data.reason), AmendmentView)


@post("/api/amendments/{mid:int}/reject", tags=["amendments"], status_code=200)
async def reject_amendment_h(mid: FromPath[int], data: JSONBody[Decision], principal: P, ctx: C) -> AmendmentView:
    return convert(await _moderator_action(mid, principal, ctx, "reject", data.reason), AmendmentView)


@post("/api/amendments/{mid:int}/adopt", tags=["amendments"], status_code=200)
async def adopt_amendment_h(mid: FromPath[int], data: JSONBody[Decision], principal: P, ctx: C) -> AmendmentView:
    return convert(await _moderator_action(mid, principal, ctx, "adopt", data.reason), AmendmentView)


@post("/api/amendments/{mid:int}/cosponsors", tags=["amendments"], status_code=200)
async def cosponsor_h(mid: FromPath[int], principal: P, ctx: C) -> AmendmentView:
    row = await load(Amendment, mid, "amendment")
    p = await require_delegate(row["assembly"], principal)
    return convert(await amendments.cosponsor(ctx, mid, p.id, p.username, add=True), AmendmentView)


@delete("/api/amendments/{mid:int}/cosponsors", tags=["amendments"], status_code=200)
async def uncosponsor_h(mid: FromPath[int], principal: P, ctx: C) -> AmendmentView:
    row = await load(Amendment, mid, "amendment")
    p = await require_delegate(row["assembly"], principal)
    return convert(await amendments.cosponsor(ctx, mid, p.id, p.username, add=False), AmendmentView)


# -- comments -------------------------------------------------------------------------------------


@get("/api/assemblies/{aid:int}/comments", tags=["comments"])
async def list_comments_h(aid: FromPath[int], provision: FromQuery[int | None] = None, amendment: FromQuery[int | None] = None) -> list[CommentView]:
    return convert(await comments.list_comments(aid, provision, amendment), list[CommentView])


@post("/api/assemblies/{aid:int}/comments", tags=["comments"], status_code=201)
async def create_comment_h(aid: FromPath[int], data: JSONBody[CommentCreate], principal: P, ctx: C) -> CommentView:
    await load_assembly(aid)
    p = await require_delegate(aid, principal)
    view = await comments.create_comment(
        ctx,
        aid,
        p.id,
        provision=data.provision,
        amendment=data.amendment,
        parent=data.parent,
        stance=data.stance,
        text=data.text,
    )
    return convert(view, CommentView)


@post("/api/comments/{cid:int}/hide", tags=["comments"], status_code=200)
async def hide_comment_h(cid: FromPath[int], data: JSONBody[CommentHide], principal: P, ctx: C) -> CommentView:
    row = await load(Comment, cid, "comment")
    p = await require_moderator(row["assembly"], principal)
    return convert(await comments.hide_comment(ctx, cid, p.username, data.reason), CommentView)


HANDLERS = [
    list_assemblies_h,
    create_assembly_h,
    get_assembly_h,
    update_assembly_h,
    list_members_h,
    set_member_h,
    remove_member_h,
    audit_h,
    global_audit_h,
    document_h,
    document_md_h,
    document_html_h,
    add_provision_h,
    get_provision_h,
    edit_provision_h,
    list_agenda_h,
    create_item_h,
    get_item_h,
    update_item_h,
    merge_item_h,
    split_item_h,
    set_phase_h,
    set_current_h,
    speakers_h,
    request_floor_h,
    withdraw_h,
    give_floor_h,
    end_speech_h,
    reorder_h,
    timer_h,
    list_amendments_h,
    create_amendment_h,
    get_amendment_h,
    update_amendment_h,
    submit_amendment_h,
    withdraw_amendment_h,
    admit_amendment_h,
    reject_amendment_h,
    adopt_amendment_h,
    cosponsor_h,
    uncosponsor_h,
    list_comments_h,
    create_comment_h,
    hide_comment_h,
]

_ = (Request, Response)
