"""Threaded comments on provisions and amendments, each with a stance.

A moderator can hide a comment with a public reason; the hidden text leaves the comment row and
stays only in the audit record.
"""

from __future__ import annotations

import json
from typing import Any

from deliberation.common import in_id_range, iso, load, load_locked
from deliberation.context import Ctx
from deliberation.core.errors import IllegalTransition, InvalidInput
from deliberation.tables import Amendment, Assembly, Comment, Provision
from kurultai.unit_of_work import Event, Tx

STANCES = ("for", "against", "neutral")
MAX_TEXT = 10_000


def comment_view(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": r["id"],
        "assembly": r["assembly"],
        "provision": r["provision"],
        "amendment": r["amendment"],
        "parent": r["parent"],
        "author": r.get("username"),
        "stance": r["stance"],
        "text": None if r["hidden"] else r["text"],
        "hidden": r["hidden"],
        "hidden_reason": r["hidden_reason"] if r["hidden"] else None,
        "created_at": iso(r["created_ms"]),
    }


async def _rows(where: Any) -> list[dict[str, Any]]:
    return await Comment.select(Comment.all_columns(), Comment.author.username.as_alias("username")).where(where).order_by(Comment.id)


async def get_comment(comment_id: int) -> dict[str, Any]:
    await load(Comment, comment_id, "comment")
    return comment_view((await _rows(Comment.id == comment_id))[0])


async def list_comments(assembly_id: int, provision: int | None = None, amendment: int | None = None) -> list[dict[str, Any]]:
    await load(Assembly, assembly_id, "assembly")
    where = Comment.assembly == assembly_id
    if any(ident is not None and not in_id_range(ident) for ident in (provision, amendment)):
        return []
    if provision is not None:
        where &= Comment.provision == provision
    if amendment is not None:
        where &= Comment.amendment == amendment
    return [comment_view(r) for r in await _rows(where)]


async def create_comment(
    ctx: Ctx,
    assembly_id: int,
    author_id: int,
    *,
    provision: int | None,
    amendment: int | None,
    parent: int | None,
    stance: str,
    text: str,
) -> dict[str, Any]:
    if stance not in STANCES:
        raise InvalidInput(f"stance must be one of {list(STANCES)}, got {stance!r}")
    if not text.strip() or len(text) > MAX_TEXT:
        raise InvalidInput(f"comment text must be 1-{MAX_TEXT} characters, got {len(text)}")
    if (provision is None) == (amendment is None) and parent is None:
        raise InvalidInput("a comment is on exactly one of 'provision' or 'amendment' (or replies to 'parent')")

    async def run(tx: Tx) -> int:
        await load(Assembly, assembly_id, "assembly")
        prov, amend = provision, amendment
        if parent is not None:
            p = await load(Comment, parent, "comment")
            if p["assembly"] != assembly_id:
                raise InvalidInput(f"comment {parent} is not part of assembly {assembly_id}")
            if (prov is not None and prov != p["provision"]) or (amend is not None and amend != p["amendment"]):
                raise InvalidInput("a reply is on the same provision or amendment as its parent")
            prov, amend = p["provision"], p["amendment"]
        if prov is not None:
            row = await load(Provision, prov, "provision")
            if row["assembly"] != assembly_id:
                raise InvalidInput(f"provision {prov} is not part of assembly {assembly_id}")
        if amend is not None:
            row = await load(Amendment, amend, "amendment")
            if row["assembly"] != assembly_id:
                raise InvalidInput(f"amendment {amend} is not part of assembly {assembly_id}")
        c = Comment(
            assembly=assembly_id,
            provision=prov,
            amendment=amend,
            parent=parent,
            author=author_id,
            stance=stance,
            text=text,
            created_ms=tx.now_ms,
        )
        await c.save()
        await tx.emit(assembly_id, "comment.created", await get_comment(c.id))
        return c.id

    cid = await ctx.write(run)
    return await get_comment(cid)


async def hide_comment(ctx: Ctx, comment_id: int, actor: str, reason: str) -> dict[str, Any]:
    if not reason.strip():
        raise InvalidInput("hiding a comment needs a public 'reason'")

    async def run(tx: Tx) -> None:
        row = await load_locked(tx, Comment, comment_id, "comment")
        if row["hidden"]:
            raise IllegalTransition(f"comment {comment_id} is already hidden")
        await Comment.update({Comment.hidden: True, Comment.hidden_reason: reason, Comment.text: ""}).where(Comment.id == comment_id)
        await tx.audit(row["assembly"], actor, "comment.hidden", {"comment": comment_id, "reason": reason, "text": row["text"]})
        await scrub_events(row["assembly"], comment_id, reason)
        await tx.emit(row["assembly"], "comment.hidden", {"id": comment_id, "reason": reason})

    await ctx.write(run)
    return await get_comment(comment_id)


async def scrub_events(assembly_id: int, comment_id: int, reason: str) -> None:
    """Remove a hidden comment's text from the event log too, so that a replay never shows it.

    The `comment.created` event keeps its seq (no gap), now carrying the hidden view.
    """
    rows = await Event.select(Event.id, Event.data).where((Event.assembly_id == assembly_id) & (Event.type == "comment.created"))
    for r in rows:
        data = json.loads(r["data"])
        if data.get("id") == comment_id:
            data.update({"text": None, "hidden": True, "hidden_reason": reason})
            await Event.update({Event.data: json.dumps(data, ensure_ascii=False)}).where(Event.id == r["id"])
