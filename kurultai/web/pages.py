"""Server-rendered pages (Jinja). Readable without JavaScript; everything is escaped.

Three views of an assembly: the delegate view `/assemblies/{id}`, the chair console
`/assemblies/{id}/chair` and the observer (projector) view `/assemblies/{id}/live`. Each is
rendered whole by the server in the viewer's language; the scripts in `static/` enhance it and
swap in the `data-region` parts the server pushes over the websocket after each change (rendered
once per item, language and role for every page: kurultai/web/live_pages.py).

Forms carry a CSRF token. Once logged in, it is the session's own (stored with the session at
login, also sent by the scripts as `x-csrf-token`); before login it is a double-submit token (a
cookie and a hidden field that must match). Login rotates the CSRF cookie to the session's token.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from litestar import Request, Response, get, post
from markupsafe import Markup
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template

from deliberation import accounts, agenda, amendments, assemblies, comments, draft, presence, speakers
from deliberation.common import in_id_range
from deliberation.context import Ctx
from deliberation.core.errors import DeliberationError
from deliberation.core.phases import NEXT_PHASE, PREVIOUS_PHASE, Phase
from deliberation.core.redline import redline_html
from kurultai.web import charts
from kurultai.web.auth import CSRF_COOKIE, SESSION_COOKIE, Principal, csrf_matches, effective_role, role_in
from kurultai.i18n import LANG_COOKIE, LANGUAGES, Lang, negotiate
from kurultai.web.login import accept_invitation, is_secure, log_in, set_device_cookie
from kurultai.web.throttle import Throttled
from deliberation.accounts import InvalidInvite
from deliberation.passwords import PasswordsBusy
from voting import elections, keys
from voting.register import register
from realtime.hub import read_last_seq
from voting.server_key import public_view

P = NamedDependency[Principal | None]
C = NamedDependency[Ctx]
Form = URLEncodedBody[dict[str, str]]
ACTIVE_PHASES = (Phase.DEBATE, Phase.AMENDMENTS, Phase.VOTING)


def member_name(username: str, names: dict[str, str]) -> str:
    """A member as the chair knows them and as they log in: "Асель Серікқызы (delegate01)";
    the login alone when it is their only name."""
    name = names.get(username)
    return f"{name} ({username})" if name and name != username else username


def configure_engine(engine: JinjaTemplateEngine) -> None:
    env = engine.engine
    env.add_extension("jinja2.ext.i18n")
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]  # each page passes its language's callables
    env.filters["redline"] = redline_html
    env.filters["member_name"] = member_name
    env.filters["tojson_attr"] = lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    env.globals["chart_svg"] = lambda chart, lang, narrow=False: Markup(charts.election_svg(chart[0], chart[1], lang, charts.NARROW if narrow else charts.WIDE))  # our own escaped SVG


def _expected_csrf(request: Request, principal: Principal | None) -> str:
    """The token a form must carry: a logged-in browser's session's own (stored with the session
    at login); before login the CSRF cookie's (double submit). "" when there is none yet."""
    if principal is not None and principal.via_cookie:
        return principal.csrf
    return request.cookies.get(CSRF_COOKIE, "")


def _csrf(request: Request, principal: Principal | None) -> str:
    """The token a page gives its forms and scripts: the expected one, made when missing."""
    return _expected_csrf(request, principal) or secrets.token_urlsafe(24)


def request_lang(request: Request) -> Lang:
    return Lang(negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")))


def page(request: Request, name: str, principal: Principal | None, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> Template:
    csrf = _csrf(request, principal)
    lang = request_lang(request)
    response = Template(
        template_name=name,
        context={
            "user": principal.user if principal else None,
            "csrf_token": csrf,
            "path": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            **lang.context(),
            "js_messages": lang.js_messages(),
            **context,
        },
        status_code=status,
        headers={"vary": "accept-language, cookie", "content-language": lang.code, **(headers or {})},
    )
    if request.cookies.get(CSRF_COOKIE) != csrf:
        _set_csrf_cookie(request, response, csrf)
    return response


def _set_csrf_cookie(request: Request, response: Response[Any] | Template, csrf: str) -> None:
    response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=is_secure(request), path="/")


def _check_form_csrf(request: Request, form: dict[str, str], principal: Principal | None) -> bool:
    return csrf_matches(_expected_csrf(request, principal), form.get("csrf_token", ""))


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@get("/", include_in_schema=False)
async def index_page(request: Request, principal: P) -> Template:
    mine = await assemblies.memberships_of(principal.id) if principal is not None else {}
    can_set_up = {aid for aid, role in mine.items() if role in ("secretary", "moderator")}
    return page(request, "index.html", principal, assemblies=await assemblies.list_assemblies(), can_set_up=can_set_up)


@post("/lang", include_in_schema=False, status_code=303)
async def set_language(request: Request, data: Form, principal: P) -> Response[Any]:
    """The language switch: remembers the choice in a cookie for a year."""
    response = Redirect(path=_safe_next(data.get("next")), status_code=303)
    lang = data.get("lang", "")
    if lang in LANGUAGES and _check_form_csrf(request, data, principal):
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax", secure=is_secure(request), path="/")
    return response


# -- the assembly views --------------------------------------------------------------------------


def pick_item(items: list[dict[str, Any]], wanted: int | None, current: int | None = None) -> dict[str, Any] | None:
    """The item asked for, else the one the chair put on the floor, else the first in an active
    phase, else the first pending, else the last."""
    for choice in (wanted, current):
        if choice is not None:
            for item in items:
                if item["id"] == choice:
                    return item
    for item in items:
        if item["phase"] in ACTIVE_PHASES:
            return item
    for item in items:
        if item["phase"] == Phase.PENDING:
            return item
    return items[-1] if items else None


def comment_tree(all_comments: list[dict[str, Any]]) -> tuple[dict[tuple[str, int], list[dict[str, Any]]], dict[int, list[dict[str, Any]]]]:
    """Top-level comments by target (`("provision", id)` or `("amendment", id)`), replies by parent."""
    top: dict[tuple[str, int], list[dict[str, Any]]] = {}
    replies: dict[int, list[dict[str, Any]]] = {}
    for c in all_comments:
        if c["parent"] is not None:
            replies.setdefault(c["parent"], []).append(c)
        elif c["provision"] is not None:
            top.setdefault(("provision", c["provision"]), []).append(c)
        elif c["amendment"] is not None:
            top.setdefault(("amendment", c["amendment"]), []).append(c)
    return top, replies


async def election_views(app: Any, aid: int, item_id: int | None) -> list[dict[str, Any]]:
    """Elections of the assembly (of one item when given), each with its turnout, tree head and
    tally, and the register of who has voted when it is a named vote (voting/register.py)."""
    board = app.state.board
    out = []
    for e in await elections.list_elections(aid):
        if item_id is not None and e["agenda_item"] != item_id:
            continue
        e["turnout"] = None
        e["sth"] = None
        e["result"] = None
        if e["status"] != "draft":
            summary = await board.summary(int(e["id"]))  # a closed election's is kept: no state rebuilt
            if summary is not None and summary.roll_size is not None:
                e["turnout"] = summary.turnout()
                e["sth"] = summary.sth
        if e["status"] == "closed":
            row = await elections.require_row(int(e["id"]))
            e["result"] = json.loads(row["result_envelope"])["signed"] if row["result_envelope"] else None
        e["register"] = None  # who has voted: named votes only, never a secret one's
        if e["named"] and e["status"] != "draft":
            e["register"] = await register(await elections.require_row(int(e["id"])))
        out.append(e)
    return out


async def chart_data(app: Any, row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """What an election's chart shows, in no language yet: its view, and its signed result when
    closed, its live tally while open with a live tally, else None."""
    view = elections.election_view(row)
    tally: dict[str, Any] | None = None
    if row["status"] == "closed" and row["result_envelope"]:
        tally = json.loads(row["result_envelope"])["signed"]
    elif row["status"] == "open" and row["visibility"] == "live":
        from voting.live import tally_payload

        state = await app.state.board.state(int(row["id"]), fresh=True)
        if state is not None and state.tally is not None:
            tally = tally_payload(state)
    return view, tally


async def view_context(app: Any, aid: int, item_id: int | None, now: int, view: str) -> dict[str, Any]:
    """What a view's regions show (the `region_*` blocks of live.html, assembly.html and
    chair.html), the same for every viewer of one item: who views it (their role, their name)
    is added when it is rendered, so the server renders it once per item, language and role for
    all of them (kurultai/web/live_pages.py). The delegate view adds the amendments and
    comments, the chair console also the keys and every comment. `seq` is the assembly's last
    event, read first: the rest is at least that recent."""
    seq = await read_last_seq(aid)
    assembly = await assemblies.get_assembly(aid)
    items = await agenda.list_items(aid, now)
    current = pick_item(items, item_id, assembly["current_item"])
    on_the_floor = pick_item(items, None, assembly["current_item"])  # what the room sees
    on_floor = set(current["provisions"]) if current else set()
    doc = await draft.document(aid)
    shown = await election_views(app, aid, current["id"] if current else None)
    for e in shown:  # the charts are drawn into the page (per language, when the regions render): no request per page
        if e["status"] != "draft":
            e["chart"] = await chart_data(app, await elections.require_row(int(e["id"])))
    members = await assemblies.list_members(aid)
    data: dict[str, Any] = {
        "seq": seq,
        "now_ms": now,
        "view": view,
        "assembly": assembly,
        "agenda": items,
        "item": current,
        "floor_item": on_the_floor["id"] if on_the_floor else None,
        "document": doc,
        "floor": [p for p in doc["provisions"] if p["id"] in on_floor],
        "speakers": await speakers.speakers_view(current["id"], now) if current else None,
        "elections": shown,
        "delegates": sum(1 for m in members if m["role"] == "delegate" and m["active"]),  # a deactivated one is not counted (#18)
        "names": {m["username"]: m["display_name"] or m["username"] for m in members},  # authors are shown by name, not login
        "presence": await presence.attendance(aid),  # who is checked in (public, like the members list)
    }
    if view == "live":
        return data
    all_amendments = await amendments.list_amendments(aid)
    top, replies = comment_tree(await comments.list_comments(aid))
    by_provision: dict[int, list[dict[str, Any]]] = {}
    for a in all_amendments:
        by_provision.setdefault(a["provision"], []).append(a)
    data.update(
        next_phase={i["id"]: (NEXT_PHASE[Phase(i["phase"])] or "") for i in items},
        previous_phase={i["id"]: (PREVIOUS_PHASE[Phase(i["phase"])] or "") for i in items},
        amendments_by_provision=by_provision,
        amendments=all_amendments,
        comments_on=top,
        replies=replies,
    )
    if view == "chair":
        data["members"] = [m for m in await assemblies.list_members(aid) if m["role"] in ("delegate", "moderator") and m["active"]]
        data["keys"] = await keys.list_keys(aid)
        # Who would be on the roll of a vote opened now, by basis (the open-vote form says it).
        approved = {k["username"] for k in await keys.approved_keys(aid)}
        here = {m["username"] for m in data["presence"]["members"] if m["present"]}
        data["roll_now"] = {
            "all": len(approved),
            "present": len(approved & here),
            "absent": [m["display_name"] or m["username"] for m in data["presence"]["members"] if m["username"] in approved and m["username"] not in here],
        }
        data["all_comments"] = sorted([c for cs in top.values() for c in cs] + [c for cs in replies.values() for c in cs], key=lambda c: c["id"])
    return data


def viewer_values(role: str | None) -> dict[str, Any]:
    """The template variables that depend on the viewer's role (never on the person: their own
    state is filled in by the page's script, or pushed to them alone)."""
    return {"role": role, "can_take_part": role in ("delegate", "moderator")}


async def _view_page(request: Request, aid: int, principal: Principal | None, ctx: Ctx, item: int | None, view: str, template: str, wall: bool = False) -> Template:
    if not in_id_range(aid):  # beyond the database's integers: no such assembly
        raise NotFoundException(f"no assembly with id {aid}")
    role = effective_role(await role_in(aid, principal), principal is not None and principal.is_admin)
    if view == "chair" and role != "moderator":
        return page(request, "forbidden.html", principal, status=403, assembly=await assemblies.get_assembly(aid))
    data = await view_context(request.app, aid, item, ctx.now(), view)
    data["my_keys"] = [k for k in await keys.my_keys(principal.id) if k["assembly"] == aid] if principal is not None and view == "delegate" else []
    data["my_roll"] = await elections.voter_status(aid, principal.id) if principal is not None and view == "delegate" and role == "delegate" else {}
    return page(
        request,
        template,
        principal,
        **data,
        **viewer_values(role),
        server_key=public_view(request.app.state.signer),
        fingerprint=request.app.state.signer.key_id,
        wall=wall,
    )


@get("/assemblies/{aid:int}", include_in_schema=False)
async def assembly_page(request: Request, aid: FromPath[int], principal: P, ctx: C, item: FromQuery[int | None] = None) -> Template:
    return await _view_page(request, aid, principal, ctx, item, "delegate", "assembly.html")


@get("/assemblies/{aid:int}/chair", include_in_schema=False, response_model=None)
async def chair_page(request: Request, aid: FromPath[int], principal: P, ctx: C, item: FromQuery[int | None] = None) -> Template | Redirect:
    if principal is None:
        return Redirect(path=f"/login?next=/assemblies/{aid}/chair", status_code=303)
    return await _view_page(request, aid, principal, ctx, item, "chair", "chair.html")


@get("/assemblies/{aid:int}/live", include_in_schema=False)
async def live_page(request: Request, aid: FromPath[int], principal: P, ctx: C, item: FromQuery[int | None] = None, wall: FromQuery[str | None] = None) -> Template:
    """The live view; `?wall=1` lays it out for a projector (1920×1080 or 1280×720, no
    scrolling, no header). The regions are the same render: only the page's layout differs."""
    return await _view_page(request, aid, principal, ctx, item, "live", "live.html", wall=wall == "1")


@get("/assemblies/{aid:int}/elections/{eid:int}/chart.svg", include_in_schema=False)
async def chart_svg(request: Request, aid: FromPath[int], eid: FromPath[int]) -> Response[str]:
    """The election's live tally (or its result) as a picture: ranked bars, and the pairwise
    matrix (Condorcet methods) or the rounds (IRV)."""
    row = await elections.require_row(eid)
    if row["assembly"] != aid:
        raise NotFoundException(f"no election {eid} in assembly {aid}")
    view, tally = await chart_data(request.app, row)
    svg = charts.election_svg(view, tally, request_lang(request))
    return Response(svg, media_type="image/svg+xml; charset=utf-8", headers={"cache-control": "no-store", "vary": "accept-language, cookie"})


# -- accounts ------------------------------------------------------------------------------------


@get("/login", include_in_schema=False)
async def login_page(request: Request, principal: P, next: FromQuery[str | None] = None) -> Template:  # noqa: A002
    return page(request, "login.html", principal, next=_safe_next(next), error=None)


@post("/login", include_in_schema=False, status_code=303)
async def login_submit(request: Request, data: Form, principal: P, ctx: C) -> Response[Any]:
    target = _safe_next(data.get("next"))
    if not _check_form_csrf(request, data, principal):
        return page(request, "login.html", principal, status=403, next=target, error="csrf")
    username = data.get("username", "")[:64]
    try:
        done = await log_in(request, ctx, username, data.get("password", "")[:1024], None)
    except Throttled as exc:
        return page(request, "login.html", principal, status=429, next=target, username=username, error="rate", headers={"retry-after": str(exc.retry_after)})
    except PasswordsBusy:
        return page(request, "login.html", principal, status=503, next=target, username=username, error="busy", headers={"retry-after": "1"})
    if done is None:
        return page(request, "login.html", principal, status=401, next=target, username=username, error="credentials")
    return await start_session(request, ctx, done.user.id, target, done.device_token)


async def start_session(request: Request, ctx: Ctx, user_id: int, target: str, device_token: str) -> Response[Any]:
    """Log the browser in (a session cookie, the session's CSRF token, a device token) and send
    it to `target`: after a login, and after a delegate set their password from an invitation."""
    settings = request.app.state.settings
    ttl = settings.token_ttl_hours * 3600 * 1000
    token, csrf = await accounts.issue_token(ctx, user_id, "session", ttl)
    response = Redirect(path=target, status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=is_secure(request), max_age=ttl // 1000, path="/")
    _set_csrf_cookie(request, response, csrf)  # a new token with the session: the one before login is spent
    set_device_cookie(request, response, device_token)
    return response


@post("/logout", include_in_schema=False, status_code=303)
async def logout_submit(request: Request, data: Form, principal: P, ctx: C) -> Response[Any]:
    response = Redirect(path="/", status_code=303)
    if _check_form_csrf(request, data, principal):
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await accounts.revoke_token(ctx, token)
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@get("/invite/{token:str}", include_in_schema=False)
async def invite_page(request: Request, token: FromPath[str], principal: P) -> Template:
    return page(request, "invite.html", principal, token=token, error=None, done=False)


@post("/invite/{token:str}", include_in_schema=False, status_code=200, response_model=None)
async def invite_submit(request: Request, token: FromPath[str], data: Form, principal: P, ctx: C) -> Template | Response[Any]:
    """Set the password; then the delegate is logged in and lands on their assembly (the newest
    one they are a member of; issue #18: a phone that scanned an invitation card)."""
    if not _check_form_csrf(request, data, principal):
        return page(request, "invite.html", principal, status=403, token=token, error="csrf", done=False)
    try:
        user = await accept_invitation(request, ctx, token, data.get("password", ""))
    except Throttled as exc:
        return page(request, "invite.html", principal, status=429, token=token, error="rate", done=False, headers={"retry-after": str(exc.retry_after)})
    except InvalidInvite:
        return page(request, "invite.html", principal, status=400, token=token, error="invalid", done=False)
    except PasswordsBusy:
        return page(request, "invite.html", principal, status=503, token=token, error="busy", done=False, headers={"retry-after": "1"})
    except DeliberationError:  # the password's length
        return page(request, "invite.html", principal, status=400, token=token, error="password", done=False)
    mine = await assemblies.memberships_of(user.id)
    target = f"/assemblies/{max(mine)}" if mine else "/"
    return await start_session(request, ctx, user.id, target, request.app.state.login_throttle.device_token(user.username))


HANDLERS = [
    index_page,
    set_language,
    assembly_page,
    chair_page,
    live_page,
    chart_svg,
    login_page,
    login_submit,
    logout_submit,
    invite_page,
    invite_submit,
]
