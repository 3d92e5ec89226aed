"""Invitation cards (issue #18): a printable A4 PDF that a secretary cuts up and hands out at the
door, one card per member who has not set a password yet.

Each card has the member's name, the assembly's title in the chosen language, the one-time
invitation link as text and as a QR code, and when the link expires. Eight cards fit on a page
(two columns of four, each 105 × 74 mm, the A7 format, with a dashed cutting line); a card's QR
code is 36 mm wide, easily read by a phone's camera.

Printing issues fresh links (`deliberation.accounts.create_invites`): only the tokens' hashes are
stored, so the links of an earlier print stop working. Cards are made for the active members of
the assembly (every role) whose password is not set; a member who set theirs gets no card (a
forgotten password takes a single new invitation link instead, which leaves the password
working until a new one is set).

The PDF is made as the record's documents are (kurultai/record/render.py: WeasyPrint, the
embedded DejaVu font with every Kazakh letter); `render_cards` is synchronous, for a worker
thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from deliberation import accounts, assemblies
from deliberation.assemblies import assembly_view
from deliberation.common import iso, load
from deliberation.context import Ctx
from deliberation.tables import Assembly, Membership, active_member
from kurultai.record.render import check_lang, html_to_pdf, render_html

#: Cards on one A4 page (2 × 4 of 105 × 74.25 mm).
CARDS_PER_PAGE = 8


@dataclass(frozen=True)
class Card:
    display_name: str
    username: str
    link: str


@dataclass(frozen=True)
class CardSet:
    """The cards of one print: the assembly, when the links expire, and a card per member."""

    assembly: dict[str, Any]
    expires_at: str
    cards: list[Card]


async def members_without_password(assembly_id: int, *, without_link_at: int | None = None) -> list[dict[str, Any]]:
    """The assembly's active members who have not set a password (`user_id`, `username`,
    `display_name`), in the order they joined; with `without_link_at` (a time in ms), only those
    who hold no invitation link that still works then."""
    where = (Membership.assembly == assembly_id) & active_member() & Membership.user.password_hash.is_null()
    if without_link_at is not None:
        where &= Membership.user.invite_hash.is_null() | (Membership.user.invite_expires_ms <= without_link_at)
    rows = (
        await Membership.select(
            Membership.user.id.as_alias("user_id"),
            Membership.user.username.as_alias("username"),
            Membership.user.display_name.as_alias("display_name"),
        )
        .where(where)
        .order_by(Membership.id)
    )
    return [dict(r) for r in rows]


def qr_svg(url: str) -> str:
    """A QR code of `url` as inline SVG (segno; error correction M, a quiet zone of 4 modules)."""
    import segno

    return str(segno.make(url, error="m", micro=False).svg_inline(scale=4, border=4, svgclass="qr", lineclass=None, omitsize=True))


async def issue_cards(ctx: Ctx, assembly_id: int, actor: str, base_url: str, *, only_new: bool = False, only_own: bool = False) -> CardSet:
    """New invitation links for the members of the assembly without a password (each audited
    `user.invited` in the assembly's chain), as cards; `only_new`: only for those who hold no
    working link, so the cards handed out before keep working (a print for late additions).
    `only_own` (a preparer who is no administrator): only for the accounts of this assembly alone
    (`assemblies.accounts_of_assembly`). Raises NotFound for an unknown assembly."""
    assembly = await load(Assembly, assembly_id, "assembly")
    members = await members_without_password(assembly_id, without_link_at=ctx.now() if only_new else None)
    if only_own:
        own = await assemblies.accounts_of_assembly(assembly_id, [m["user_id"] for m in members])
        members = [m for m in members if m["user_id"] in own]
    tokens = await accounts.create_invites(ctx, [m["user_id"] for m in members], actor, assembly_id=assembly_id)
    base = base_url.rstrip("/")
    cards = []
    for m in members:
        link = f"{base}/invite/{tokens[m['user_id']]}"
        cards.append(Card(display_name=m["display_name"] or m["username"], username=m["username"], link=link))
    return CardSet(assembly=assembly_view(assembly), expires_at=iso(ctx.now() + accounts.invite_ttl_ms(ctx)) or "", cards=cards)


def render_cards(card_set: CardSet, lang: str) -> bytes:
    """The cards as an A4 PDF in `lang` (kk, ru or en); RecordError for an unknown language.
    The QR codes are made here too (in the caller's worker thread: ~5 ms each)."""
    language = check_lang(lang)
    drawn = [(card, qr_svg(card.link)) for card in card_set.cards]
    pages = [drawn[i : i + CARDS_PER_PAGE] for i in range(0, len(drawn), CARDS_PER_PAGE)]
    html = render_html(
        "record/cards.html",
        language,
        title=language.title_of(card_set.assembly),
        expires=language.datetime(card_set.expires_at, "short"),
        pages=pages,
        svg=Markup,  # segno's own SVG of a URL we made
    )
    return html_to_pdf(html)
