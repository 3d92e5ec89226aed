"""Server-rendered pages (Jinja). Readable without JavaScript; everything is escaped.

Forms carry a CSRF token (double-submit: a cookie and a hidden field that must match).
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template

from deliberation import accounts, agenda, amendments, assemblies, comments, draft
from deliberation.context import Ctx
from deliberation.core.errors import DeliberationError
from deliberation.core.redline import redline_html
from kurultai.auth import CSRF_COOKIE, SESSION_COOKIE, Principal, csrf_matches

P = NamedDependency[Principal | None]
C = NamedDependency[Ctx]
Form = URLEncodedBody[dict[str, str]]


def configure_engine(engine: JinjaTemplateEngine) -> None:
    env = engine.engine
    env.add_extension("jinja2.ext.i18n")
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    env.filters["redline"] = redline_html


def _csrf(request: Request) -> str:
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def page(request: Request, name: str, principal: Principal | None, status: int = 200, **context: Any) -> Template:
    csrf = _csrf(request)
    settings = request.app.state.settings
    response = Template(
        template_name=name,
        context={"user": principal.user if principal else None, "csrf_token": csrf, "lang": "en", **context},
        status_code=status,
    )
    if request.cookies.get(CSRF_COOKIE) != csrf:
        response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=settings.cookie_secure, path="/")
    return response


def _check_form_csrf(request: Request, form: dict[str, str]) -> bool:
    return csrf_matches(request.cookies.get(CSRF_COOKIE, ""), form.get("csrf_token", ""))


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


@get("/", include_in_schema=False)
async def index_page(request: Request, principal: P) -> Template:
    return page(request, "index.html", principal, assemblies=await assemblies.list_assemblies())


@get("/assemblies/{aid:int}", include_in_schema=False)
async def assembly_page(request: Request, aid: FromPath[int], principal: P, ctx: C) -> Template:
    now = ctx.now()
    assembly = await assemblies.get_assembly(aid)
    doc = await draft.document(aid)
    items = await agenda.list_items(aid, now)
    all_amendments = await amendments.list_amendments(aid)
    all_comments = await comments.list_comments(aid)
    by_provision: dict[int, list[dict[str, Any]]] = {}
    for a in all_amendments:
        by_provision.setdefault(a["provision"], []).append(a)
    comments_on: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for c in all_comments:
        key = ("provision", c["provision"]) if c["provision"] is not None else ("amendment", c["amendment"])
        comments_on.setdefault(key, []).append(c)
    return page(
        request,
        "assembly.html",
        principal,
        assembly=assembly,
        document=doc,
        agenda=items,
        amendments_by_provision=by_provision,
        comments_on=comments_on,
        members=await assemblies.list_members(aid),
    )


@get("/login", include_in_schema=False)
async def login_page(request: Request, principal: P, next: FromQuery[str | None] = None) -> Template:  # noqa: A002
    return page(request, "login.html", principal, next=_safe_next(next), error=None)


@post("/login", include_in_schema=False, status_code=303)
async def login_submit(request: Request, data: Form, principal: P, ctx: C) -> Response[Any]:
    from deliberation.account_controllers import check_login_rate
    from kurultai.errors import ApiError

    target = _safe_next(data.get("next"))
    if not _check_form_csrf(request, data):
        return page(request, "login.html", principal, status=403, next=target, error="csrf")
    username = data.get("username", "")[:64]
    try:
        await check_login_rate(request, username)
    except ApiError:
        return page(request, "login.html", principal, status=429, next=target, error="rate")
    password = data.get("password", "")[:1024]
    # PostgreSQL cannot compare strings holding NUL; no username or password has one.
    user = None if "\x00" in username + password else await accounts.authenticate(username, password)
    if user is None:
        return page(request, "login.html", principal, status=401, next=target, error="credentials")
    settings = request.app.state.settings
    ttl = settings.token_ttl_hours * 3600 * 1000
    token, _ = await accounts.issue_token(ctx, user.id, "session", ttl)
    response = Redirect(path=target, status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=settings.cookie_secure, max_age=ttl // 1000, path="/")
    return response


@post("/logout", include_in_schema=False, status_code=303)
async def logout_submit(request: Request, data: Form, ctx: C) -> Response[Any]:
    response = Redirect(path="/", status_code=303)
    if _check_form_csrf(request, data):
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await accounts.revoke_token(ctx, token)
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@get("/invite/{token:str}", include_in_schema=False)
async def invite_page(request: Request, token: FromPath[str], principal: P) -> Template:
    return page(request, "invite.html", principal, token=token, error=None, done=False)


@post("/invite/{token:str}", include_in_schema=False, status_code=200)
async def invite_submit(request: Request, token: FromPath[str], data: Form, principal: P, ctx: C) -> Template:
    if not _check_form_csrf(request, data):
        return page(request, "invite.html", principal, status=403, token=token, error="csrf", done=False)
    try:
        await accounts.accept_invite(ctx, token, data.get("password", ""))
    except DeliberationError as exc:
        return page(request, "invite.html", principal, status=400, token=token, error=str(exc), done=False)
    return page(request, "invite.html", principal, token=token, error=None, done=True)


HANDLERS = [index_page, assembly_page, login_page, login_submit, logout_submit, invite_page, invite_submit]
_ = quote
