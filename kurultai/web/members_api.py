"""HTTP handlers for managing an assembly's members (issue #18): import them from a CSV or .xlsx
list (preview, then import in one transaction), change a member's role, weight or activity,
remove a member before the first vote, and issue a member a new invitation link.

The secretary, the chair (moderator) or an administrator calls them (`require_secretary`); only
an administrator gives, changes or takes away the role of a chair or a secretary (as
`POST /api/assemblies/{aid}/members`). `PATCH` names the member by username, like
`DELETE /api/assemblies/{aid}/members/{username}` (a user id in its place would be ambiguous: a
username may be all digits); the invitation routes name them by user id, like
`DELETE /api/assemblies/{aid}/members/{uid}/invite` (kurultai/web/invitations_api.py). The
usernames `preview` and `import` are reserved (the upload routes' names).

The list is the raw request body (any content type: the format is read from the content), up to
`KURULTAI_MAX_UPLOAD_BYTES`; `?filename=` only makes errors clearer. The upload routes are
mounted in the upload router (kurultai/web/setup_api.py `upload_router`) with that body limit.
"""

from __future__ import annotations

from litestar import Request, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from msgspec import convert

from deliberation import accounts, assemblies, members_import
from deliberation.accounts import USERNAME_RE
from deliberation.common import NotFound, in_id_range, load
from deliberation.context import Ctx
from deliberation.schemas import Invitation, Member, MembersImported, MembersPreview, MemberUpdate
from deliberation.tables import Assembly
from kurultai.web.auth import Principal, require_secretary
from kurultai.web.errors import ApiError
from kurultai.web.setup_api import read_upload

P = NamedDependency[Principal | None]
C = NamedDependency[Ctx]


async def _sheet(request: Request, aid: int, principal: Principal | None, filename: str | None) -> tuple[Principal, members_import.Sheet]:
    await load(Assembly, aid, "assembly")
    p = await require_secretary(aid, principal)
    limit = request.app.state.settings.max_upload_bytes
    data = await read_upload(request, limit)
    return p, members_import.read_members_file(data, filename, limit)


@post("/api/assemblies/{aid:int}/members/preview", tags=["assemblies"], status_code=200)
async def members_preview_h(request: Request, aid: FromPath[int], principal: P, filename: FromQuery[str | None] = None) -> MembersPreview:
    """What an import of the list in the body (CSV or .xlsx, header
    `display_name,username,email,role,weight,language`) would write: each row as it would be
    written (with the usernames made from the names), and every row's errors. Nothing is
    written."""
    p, sheet = await _sheet(request, aid, principal, filename)
    return convert(await members_import.preview(aid, sheet, may_appoint=p.is_admin), MembersPreview)


@post("/api/assemblies/{aid:int}/members/import", tags=["assemblies"], status_code=201)
async def members_import_h(request: Request, aid: FromPath[int], principal: P, ctx: C, filename: FromQuery[str | None] = None) -> MembersImported:
    """Write the list's new users (without a password: invite them) and memberships in one
    transaction; refused whole (422 `invalid_rows`, the row errors in `detail`, nothing
    written) when any row has an error."""
    p, sheet = await _sheet(request, aid, principal, filename)
    return convert(await members_import.import_members(ctx, aid, p.username, sheet, may_appoint=p.is_admin), MembersImported)


async def _member(aid: int, username: str) -> dict:
    current = await assemblies.member_by_username(aid, username) if USERNAME_RE.match(username) else None
    if current is None:
        raise NotFound(f"{username!r} is no member of assembly {aid}")
    return current


async def require_account_of_assembly(p: Principal, aid: int, user_id: int) -> None:
    """403 unless `p` may issue, print or revoke this account's invitation link: an administrator,
    or a preparer of assembly `aid` for an account of that assembly alone
    (`assemblies.accounts_of_assembly`)."""
    if not p.is_admin and user_id not in await assemblies.accounts_of_assembly(aid, [user_id]):
        raise ApiError(403, "forbidden", "only an administrator issues or revokes the link of an administrator, a chair, a secretary, or a member of another assembly")


def _check_appointment(p: Principal, current: dict, role: str | None) -> None:
    """Only an administrator appoints a chair or a secretary, or changes anything of one."""
    if not p.is_admin and (role in assemblies.APPOINTED or current["role"] in assemblies.APPOINTED):
        raise ApiError(403, "forbidden", "only an administrator appoints or changes the chair (moderator) and the secretary of an assembly")


@patch("/api/assemblies/{aid:int}/members/{username:str}", tags=["assemblies"])
async def update_member_h(aid: FromPath[int], username: FromPath[str], data: JSONBody[MemberUpdate], principal: P, ctx: C) -> Member:
    """Change a member's `role`, `weight` (1-1000000: their weight on the roll of the elections
    created after) or `active` (false: deactivated; on no new roll, without the rights of the
    role, attendance forgotten). Audited `member.updated`; event `members.updated`."""
    await load(Assembly, aid, "assembly")
    p = await require_secretary(aid, principal)
    current = await _member(aid, username)
    _check_appointment(p, current, data.role)
    return convert(await assemblies.update_member(ctx, aid, p.username, current["username"], data.changes()), Member)


@post("/api/assemblies/{aid:int}/members/{uid:int}/invite", tags=["invitations"], status_code=201)
async def invite_member_h(request: Request, aid: FromPath[int], uid: FromPath[int], principal: P, ctx: C) -> Invitation:
    """A new one-time invitation link for the member with user id `uid` (the way to reset a
    password): any earlier link of theirs stops working; their password, if they set one, keeps
    working until they set a new one with this link. 404 when the user is no member."""
    await load(Assembly, aid, "assembly")
    p = await require_secretary(aid, principal)
    current = await assemblies.member_by_id(aid, uid) if in_id_range(uid) else None
    if current is None:
        raise NotFound(f"no member with user id {uid} in assembly {aid}")
    _check_appointment(p, current, None)
    await require_account_of_assembly(p, aid, current["user_id"])
    token = await accounts.create_invite(ctx, current["user_id"], p.username)
    url = f"{request.base_url}".rstrip("/") + f"/invite/{token}"
    return Invitation(username=current["username"], token=token, url=url)


#: Handlers that take a file as their body (the upload router).
UPLOAD_HANDLERS = [members_preview_h, members_import_h]
HANDLERS = [update_member_h, invite_member_h]
