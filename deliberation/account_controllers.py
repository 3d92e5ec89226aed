"""HTTP handlers for accounts: tokens, users, invitations."""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from deliberation import accounts, assemblies
from deliberation.common import NotFound, load
from deliberation.context import Ctx
from deliberation.schemas import InviteAccept, InviteCreate, TokenRequest, UserCreate
from deliberation.tables import Assembly, User
from kurultai.auth import Principal, RateLimiter, RedisRateLimiter, require_admin, require_user
from kurultai.errors import ApiError

P = NamedDependency[Principal | None]
C = NamedDependency[Ctx]


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def check_login_rate(request: Request, username: str) -> None:
    limiter: RateLimiter | RedisRateLimiter = request.app.state.login_limiter
    ip_key = f"ip:{client_key(request)}"
    user_key = f"user:{username.lower()}"
    for key in (ip_key, user_key):
        if not await limiter.hit(key):
            raise ApiError(429, "rate_limited", f"too many login attempts; retry in {await limiter.retry_after(key)} s")


@post("/api/auth/token", tags=["auth"], status_code=200)
async def token_h(request: Request, data: JSONBody[TokenRequest], ctx: C) -> dict[str, Any]:
    await check_login_rate(request, data.username)
    user = await accounts.authenticate(data.username, data.password)
    if user is None:
        raise ApiError(401, "bad_credentials", "unknown username or wrong password")
    ttl = request.app.state.settings.token_ttl_hours * 3600 * 1000
    token, _csrf = await accounts.issue_token(ctx, user.id, "bearer", ttl)
    return {"token": token, "token_type": "bearer", "expires_in": ttl // 1000}


@delete("/api/auth/token", tags=["auth"], status_code=204)
async def revoke_token_h(request: Request, principal: P, ctx: C) -> None:
    require_user(principal)
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    if token:
        await accounts.revoke_token(ctx, token)


@get("/api/me", tags=["auth"])
async def me_h(principal: P) -> dict[str, Any]:
    p = require_user(principal)
    return {**p.user.to_dict(), "memberships": await assemblies.memberships_of(p.id)}


@post("/api/users", tags=["users"], status_code=201)
async def create_user_h(data: JSONBody[UserCreate], principal: P, ctx: C) -> dict[str, Any]:
    p = require_admin(principal)
    user = await accounts.create_user(
        ctx, data.username, data.password, is_admin=data.is_admin, display_name=data.display_name, actor=p.username
    )
    return user.to_dict()


@post("/api/users/{uid:int}/invite", tags=["users"], status_code=201)
async def invite_h(request: Request, uid: FromPath[int], data: JSONBody[InviteCreate], principal: P, ctx: C) -> dict[str, Any]:
    p = require_admin(principal)
    row = await load(User, uid, "user")
    if data.assembly is not None:
        await load(Assembly, data.assembly, "assembly")
        await assemblies.set_member(ctx, data.assembly, p.username, row["username"], data.role)
    token = await accounts.create_invite(ctx, uid, p.username)
    base = str(request.base_url).rstrip("/")
    return {"username": row["username"], "token": token, "url": f"{base}/invite/{token}"}


@post("/api/auth/invite", tags=["auth"], status_code=200)
async def accept_invite_h(request: Request, data: JSONBody[InviteAccept], ctx: C) -> dict[str, Any]:
    await check_login_rate(request, "invite")
    user = await accounts.accept_invite(ctx, data.token, data.password)
    return user.to_dict()


@get("/api/users/{uid:int}", tags=["users"])
async def get_user_h(uid: FromPath[int], principal: P) -> dict[str, Any]:
    p = require_user(principal)
    if not p.is_admin and p.id != uid:
        raise ApiError(403, "forbidden", "you can only read your own account")
    user = await accounts.get_user(uid) if 1 <= uid <= 2**31 - 1 else None
    if user is None:
        raise NotFound(f"no user with id {uid}")
    return user.to_dict()


HANDLERS = [token_h, revoke_token_h, me_h, create_user_h, invite_h, accept_invite_h, get_user_h]
