"""HTTP handlers for accounts: tokens, users, invitations."""

from __future__ import annotations

from litestar import Request, Response, delete, get, post
from msgspec import convert
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from deliberation import accounts, assemblies
from deliberation.common import NotFound, load
from deliberation.context import Ctx
from deliberation.schemas import InviteAccept, InviteCreate, Invitation, Me, TokenIssued, TokenRequest, UserCreate, UserView
from deliberation.tables import Assembly, User
from kurultai.web.auth import Principal, require_admin, require_user
from kurultai.web.errors import ApiError
from kurultai.web.login import accept_invitation, log_in, set_device_cookie
from kurultai.web.throttle import Throttled

P = NamedDependency[Principal | None]
C = NamedDependency[Ctx]


def throttled(exc: Throttled) -> ApiError:
    return ApiError(429, "rate_limited", str(exc), headers={"retry-after": str(exc.retry_after)})


@post("/api/auth/token", tags=["auth"], status_code=200)
async def token_h(request: Request, data: JSONBody[TokenRequest], ctx: C) -> Response[TokenIssued]:
    """A bearer token. Send back the `device_token` of an earlier login (or keep the
    `kurultai_device` cookie) to stay exempt from the per-username limits (docs/operations.md)."""
    try:
        done = await log_in(request, ctx, data.username, data.password, data.device_token)
    except Throttled as exc:
        raise throttled(exc) from None
    if done is None:
        raise ApiError(401, "bad_credentials", "unknown username or wrong password")
    ttl = request.app.state.settings.token_ttl_hours * 3600 * 1000
    token, _csrf = await accounts.issue_token(ctx, done.user.id, "bearer", ttl)
    response = Response(TokenIssued(token=token, token_type="bearer", expires_in=ttl // 1000, device_token=done.device_token))
    set_device_cookie(request, response, done.device_token)
    return response


@delete("/api/auth/token", tags=["auth"], status_code=204)
async def revoke_token_h(request: Request, principal: P, ctx: C) -> None:
    require_user(principal)
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    if token:
        await accounts.revoke_token(ctx, token)


@get("/api/me", tags=["auth"])
async def me_h(principal: P) -> Me:
    p = require_user(principal)
    return convert({**p.user.to_dict(), "memberships": await assemblies.memberships_of(p.id)}, Me)


@post("/api/users", tags=["users"], status_code=201)
async def create_user_h(data: JSONBody[UserCreate], principal: P, ctx: C) -> UserView:
    p = require_admin(principal)
    user = await accounts.create_user(ctx, data.username, data.password, is_admin=data.is_admin, display_name=data.display_name, actor=p.username)
    return convert(user.to_dict(), UserView)


@post("/api/users/{uid:int}/invite", tags=["users"], status_code=201)
async def invite_h(request: Request, uid: FromPath[int], data: JSONBody[InviteCreate], principal: P, ctx: C) -> Invitation:
    p = require_admin(principal)
    row = await load(User, uid, "user")
    if data.assembly is not None:
        await load(Assembly, data.assembly, "assembly")
        await assemblies.set_member(ctx, data.assembly, p.username, row["username"], data.role)
    token = await accounts.create_invite(ctx, uid, p.username)
    base = str(request.base_url).rstrip("/")
    return Invitation(username=row["username"], token=token, url=f"{base}/invite/{token}")


@post("/api/auth/invite", tags=["auth"], status_code=200)
async def accept_invite_h(request: Request, data: JSONBody[InviteAccept], ctx: C) -> UserView:
    try:
        user = await accept_invitation(request, ctx, data.token, data.password)
    except Throttled as exc:
        raise throttled(exc) from None
    return convert(user.to_dict(), UserView)


@get("/api/users/{uid:int}", tags=["users"])
async def get_user_h(uid: FromPath[int], principal: P) -> UserView:
    p = require_user(principal)
    if not p.is_admin and p.id != uid:
        raise ApiError(403, "forbidden", "you can only read your own account")
    user = await accounts.get_user(uid) if 1 <= uid <= 2**31 - 1 else None
    if user is None:
        raise NotFound(f"no user with id {uid}")
    return convert(user.to_dict(), UserView)


HANDLERS = [token_h, revoke_token_h, me_h, create_user_h, invite_h, accept_invite_h, get_user_h]
