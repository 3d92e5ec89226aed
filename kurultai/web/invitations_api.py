"""HTTP handlers of invitations (issue #18): the printable PDF of invitation cards, and revoking a
member's invitation link. The secretary of the assembly (or its chair, or an administrator)
calls them (`require_secretary`).

`POST /api/assemblies/{aid}/invitations.pdf` is a POST because it issues new links: every member
without a password gets a fresh one (the old link stops working), audited one by one. The PDF is
built in a worker thread (kurultai/record/cards.py), as the record's documents are.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Request, Response, delete, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from deliberation import accounts
from deliberation.common import in_id_range, load
from deliberation.context import Ctx
from deliberation.tables import Assembly, Membership
from kurultai.record.cards import CardSet, issue_cards, render_cards
from kurultai.record.render import RecordError, check_lang, font_face_css
from kurultai.web.auth import Principal, require_secretary
from kurultai.web.errors import ApiError
from kurultai.web.members_api import require_account_of_assembly

P = NamedDependency[Principal | None]
C = NamedDependency[Ctx]
#: Card prints at once in this process; more wait their turn (each holds a worker thread).
MAX_PRINTS = 2


class InviteRevoked(msgspec.Struct, kw_only=True):
    username: str
    revoked: bool  # false: the member had no invitation link to revoke


def _prints(request: Request[Any, Any, Any]) -> asyncio.Semaphore:
    state = request.app.state
    sem = getattr(state, "card_prints", None)
    if sem is None:
        sem = state.card_prints = asyncio.Semaphore(MAX_PRINTS)
    return sem


def pdf_response(data: bytes, aid: int, lang: str) -> Response[bytes]:
    return Response(
        content=data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="invitations-{aid}-{lang}.pdf"', "Cache-Control": "no-store"},
    )


async def print_cards(request: Request[Any, Any, Any], aid: int, principal: Principal, ctx: Ctx, lang: str, only_new: bool = False) -> tuple[CardSet, bytes]:
    """Issue the links and render the cards (the caller has checked the role and the language)."""
    base_url = str(request.base_url).rstrip("/")
    async with _prints(request):
        try:
            font_face_css()  # a missing font is found before any link is issued
            cards = await issue_cards(ctx, aid, principal.username, base_url, only_new=only_new, only_own=not principal.is_admin)
            data = await asyncio.to_thread(render_cards, cards, lang)
        except RecordError as exc:  # a missing font: the server's set-up, said plainly
            raise ApiError(503, "unavailable", str(exc)) from None
    return cards, data


@post("/api/assemblies/{aid:int}/invitations.pdf", tags=["invitations"], status_code=200, media_type="application/pdf")
async def invitations_pdf_h(request: Request[Any, Any, Any], aid: FromPath[int], principal: P, ctx: C, lang: FromQuery[str | None] = None, only_new: FromQuery[bool] = False) -> Response[bytes]:
    """Invitation cards as an A4 PDF (eight a page) for every active member of the assembly who
    has not set a password: name, assembly, link and its QR code. Issues a new link to each of
    them (their earlier link stops working; with `only_new=true` only to those who hold no link
    that still works, so the cards handed out before keep working); `lang` kk, ru or en
    (default: the page language).
    The header `X-Cards` tells how many cards the PDF holds."""
    from kurultai.web.pages import request_lang

    await load(Assembly, aid, "assembly")
    p = await require_secretary(aid, principal)
    code = lang or request_lang(request).code
    try:
        check_lang(code)
    except RecordError as exc:
        raise ApiError(400, "invalid_input", str(exc)) from None
    cards, data = await print_cards(request, aid, p, ctx, code, only_new)
    response = pdf_response(data, aid, code)
    response.headers["X-Cards"] = str(len(cards.cards))
    return response


@delete("/api/assemblies/{aid:int}/members/{uid:int}/invite", tags=["invitations"], status_code=200)
async def revoke_invite_h(aid: FromPath[int], uid: FromPath[int], principal: P, ctx: C) -> InviteRevoked:
    """Revoke the member's invitation link (a lost card): it stops working at once. Audited as
    `user.invite_revoked` in the assembly's chain. 404 when the user is no member of the assembly."""
    await load(Assembly, aid, "assembly")
    p = await require_secretary(aid, principal)
    row = await Membership.select(Membership.user.username.as_alias("username")).where((Membership.assembly == aid) & (Membership.user == uid)).first() if in_id_range(uid) else None
    if row is None:
        raise ApiError(404, "not_found", f"no member with user id {uid} in assembly {aid}")
    await require_account_of_assembly(p, aid, uid)
    revoked = await accounts.revoke_invite(ctx, uid, p.username, assembly_id=aid)
    return InviteRevoked(username=row["username"], revoked=revoked)


HANDLERS = [invitations_pdf_h, revoke_invite_h]
