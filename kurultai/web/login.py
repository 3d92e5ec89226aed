"""Logging in and accepting an invitation: one flow for the API and the pages.

The throttle (kurultai/web/throttle.py) admits an attempt before the password is checked, a success
erases it, a failure stays on the record. Passwords are checked off the event loop
(deliberation/passwords.py). A successful login hands out a new device token, which exempts
this browser or client from the per-username limits the next time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, Response

from deliberation import accounts
from deliberation.accounts import InvalidInvite, UserView
from deliberation.context import Ctx
from kurultai.web.throttle import DEVICE_COOKIE, DEVICE_TOKEN_TTL_S, LoginThrottle


def client_address(request: Request) -> str:
    """The client's address: the peer's, or, behind a proxy named in KURULTAI_TRUSTED_PROXIES,
    the one it forwarded (uvicorn's proxy-headers middleware has already put it in the scope)."""
    return request.client.host if request.client else "unknown"


def is_secure(request: Request) -> bool:
    """Served over HTTPS: directly (--tls-cert), through a trusted proxy that says so
    (X-Forwarded-Proto: https), or declared by KURULTAI_COOKIE_SECURE."""
    return request.app.state.settings.cookie_secure or request.url.scheme in ("https", "wss")


@dataclass(frozen=True)
class LoggedIn:
    user: UserView
    device_token: str


async def log_in(request: Request, ctx: Ctx, username: str, password: str, device_token: str | None) -> LoggedIn | None:
    """The user and a new device token, or None for a wrong username or password.

    Raises `Throttled` (429) when the attempt is over a limit, `PasswordsBusy` (503) when the
    password pool is full."""
    throttle: LoginThrottle = request.app.state.login_throttle
    device_token = device_token or request.cookies.get(DEVICE_COOKIE)
    attempt = await throttle.begin_login(client_address(request), username, device_token)
    try:
        # PostgreSQL cannot compare strings holding NUL; no username or password has one.
        user = None if "\x00" in username + password else await accounts.authenticate(ctx, username, password)
    except BaseException:  # PasswordsBusy, a cancelled request: neither success nor failure
        await throttle.abandoned(attempt)
        raise
    if user is None:
        await throttle.failed(attempt)
        return None
    await throttle.succeeded(attempt)
    return LoggedIn(user, throttle.device_token(username))


def set_device_cookie(request: Request, response: Response[Any], token: str) -> None:
    response.set_cookie(DEVICE_COOKIE, token, httponly=True, samesite="lax", secure=is_secure(request), max_age=DEVICE_TOKEN_TTL_S, path="/")


async def accept_invitation(request: Request, ctx: Ctx, token: str, password: str) -> UserView:
    """Set the password of an invited user. Unknown, used or expired tokens count against the
    client's address (`Throttled` past the limit); other errors (a short password) do not."""
    throttle: LoginThrottle = request.app.state.login_throttle
    attempt = await throttle.begin_invite(client_address(request))
    try:
        return await accounts.accept_invite(ctx, token, password)
    except InvalidInvite:
        await throttle.failed(attempt)
        raise
