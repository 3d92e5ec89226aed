"""The draft: numbered provisions of an assembly's document, with full version history.

Every change to the text bumps the assembly's `document_version` and writes one
`ProvisionVersion` row per provision it touches, so the consolidated text at any version is a
pure function of the rows (`deliberation.core.document.consolidate`).
"""

from __future__ import annotations

from typing import Any

from deliberation.common import NotFound, iso, load, load_locked
from deliberation.context import Ctx
from deliberation.core.document import (
    KINDS,
    ConsolidatedProvision,
    ProvisionVersionRow,
    consolidate,
    initial_positions,
    next_insert_number,
    position_between,
    to_html,
    to_markdown,
)
from deliberation.core.errors import IllegalTransition, InvalidInput
from deliberation.tables import AgendaProvision, Assembly, Provision, ProvisionVersion
from kurultai.unit_of_work import Tx


async def version_rows(assembly_id: int) -> list[ProvisionVersionRow]:
    rows = (
        await ProvisionVersion.select(
            ProvisionVersion.provision,
            ProvisionVersion.provision.number.as_alias("number"),
            ProvisionVersion.provision.kind.as_alias("kind"),
            ProvisionVersion.position,
            ProvisionVersion.title,
            ProvisionVersion.text,
            ProvisionVersion.document_version,
        )
        .where(ProvisionVersion.assembly == assembly_id)
        .order_by(ProvisionVersion.id)
    )
    return [
        ProvisionVersionRow(
            provision_id=r["provision"],
            number=r["number"],
            kind=r["kind"],
            position=r["position"],
            title=r["title"],
            text=r["text"],
            document_version=r["document_version"],
        )
        for r in rows
    ]


def provision_view(p: ConsolidatedProvision) -> dict[str, Any]:
    return {"id": p.provision_id, "number": p.number, "kind": p.kind, "title": p.title, "text": p.text, "version": p.version}


async def document(assembly_id: int, version: int | None = None) -> dict[str, Any]:
    assembly = await load(Assembly, assembly_id, "assembly")
    current = assembly["document_version"]
    at = current if version is None else version
    if at < 0 or at > current:
        raise InvalidInput(f"document version must be between 0 and {current}, got {at}")
    provisions = consolidate(await version_rows(assembly_id), at)
    return {
        "assembly": assembly_id,
        "title": assembly["title"],
        "version": at,
        "current_version": current,
        "provisions": [provision_view(p) for p in provisions],
    }


async def export_document(assembly_id: int, fmt: str, version: int | None, lang: str = "en") -> str:
    doc = await document(assembly_id, version)
    provisions = [ConsolidatedProvision(p["id"], p["number"], p["kind"], p["title"], p["text"], p["version"]) for p in doc["provisions"]]
    if fmt == "md":
        return to_markdown(doc["title"], provisions, doc["version"])
    if fmt == "html":
        return to_html(doc["title"], provisions, doc["version"], lang=lang)
    raise InvalidInput(f"export format must be 'md' or 'html', got {fmt!r}")


async def current_provision(provision_id: int) -> dict[str, Any]:
    """The provision with its current text (None when deleted) and its history."""
    prov = await load(Provision, provision_id, "provision")
    versions = await ProvisionVersion.select().where(ProvisionVersion.provision == provision_id).order_by(ProvisionVersion.document_version)
    latest = versions[-1] if versions else None
    return {
        "id": prov["id"],
        "assembly": prov["assembly"],
        "number": prov["number"],
        "kind": prov["kind"],
        "title": latest["title"] if latest else "",
        "text": latest["text"] if latest else None,
        "deleted": latest is None or latest["text"] is None,
        "history": [
            {
                "document_version": v["document_version"],
                "title": v["title"],
                "text": v["text"],
                "amendment": v["amendment"],
                "created_at": iso(v["created_ms"]),
            }
            for v in versions
        ],
    }


async def bump_version(assembly_id: int) -> int:
    rows = await Assembly.raw(
        "UPDATE assembly SET document_version = document_version + 1 WHERE id = {} RETURNING document_version",
        assembly_id,
    )
    if not rows:
        raise NotFound(f"no assembly with id {assembly_id}")
    return int(rows[0]["document_version"])


async def _positions(assembly_id: int) -> list[tuple[int, int]]:
    """(provision id, current position) of live provisions in document order."""
    assembly = await load(Assembly, assembly_id, "assembly")
    live = consolidate(await version_rows(assembly_id), assembly["document_version"])
    rows = {r.provision_id: r for r in await version_rows(assembly_id)}
    return [(p.provision_id, rows[p.provision_id].position) for p in live]


async def _latest_version(provision_id: int) -> dict[str, Any]:
    row = await ProvisionVersion.select().where(ProvisionVersion.provision == provision_id).order_by(ProvisionVersion.document_version, ascending=False).first()
    if row is None:
        raise NotFound(f"provision {provision_id} has no text")
    return row


async def _position_after(tx: Tx, assembly_id: int, after: int | None, version: int) -> int:
    """A position right after provision `after` (or at the end), renumbering when needed."""
    order = await _positions(assembly_id)
    if after is None:
        return (order[-1][1] if order else 0) + 1024
    ids = [pid for pid, _ in order]
    if after not in ids:
        raise InvalidInput(f"provision {after} is not in the current text of assembly {assembly_id}")
    i = ids.index(after)
    nxt = order[i + 1][1] if i + 1 < len(order) else None
    pos = position_between(order[i][1], nxt)
    if pos is not None:
        return pos
    # No integer fits: respace every live provision (a new version row each, same text).
    spaced = initial_positions(len(order))
    for (pid, _), new_pos in zip(order, spaced):
        latest = await _latest_version(pid)
        await _write_version(tx, assembly_id, pid, version, latest["title"], latest["text"], new_pos, None, None)
    return spaced[i] + (spaced[i + 1] - spaced[i]) // 2 if i + 1 < len(spaced) else spaced[i] + 1024


async def _write_version(
    tx: Tx,
    assembly_id: int,
    provision_id: int,
    version: int,
    title: str,
    text: str | None,
    position: int,
    amendment: int | None,
    author: int | None,
) -> None:
    existing = await ProvisionVersion.select(ProvisionVersion.id).where((ProvisionVersion.provision == provision_id) & (ProvisionVersion.document_version == version)).first()
    values = {
        ProvisionVersion.title: title,
        ProvisionVersion.text: text,
        ProvisionVersion.position: position,
        ProvisionVersion.amendment: amendment,
    }
    if existing:
        await ProvisionVersion.update(values).where(ProvisionVersion.id == existing["id"])
        return
    await ProvisionVersion.insert(
        ProvisionVersion(
            provision=provision_id,
            assembly=assembly_id,
            document_version=version,
            position=position,
            title=title,
            text=text,
            amendment=amendment,
            author=author,
            created_ms=tx.now_ms,
        )
    )


async def add_provision_tx(
    tx: Tx,
    assembly_id: int,
    *,
    number: str | None,
    kind: str,
    title: str,
    text: str,
    after: int | None,
    amendment: int | None = None,
    author: int | None = None,
    version: int | None = None,
) -> int:
    """Create a provision inside a running transaction; returns its id."""
    if kind not in KINDS:
        raise InvalidInput(f"provision kind must be one of {list(KINDS)}, got {kind!r}")
    existing = {r["number"] for r in await Provision.select(Provision.number).where(Provision.assembly == assembly_id)}
    if number is None:
        if after is None:
            raise InvalidInput("a provision needs a number, or 'after' to derive one")
        anchor = await load(Provision, after, "provision")
        number = next_insert_number(anchor["number"], existing)
    elif number in existing:
        raise InvalidInput(f"provision number {number!r} already exists in assembly {assembly_id}")
    version = version if version is not None else await bump_version(assembly_id)
    position = await _position_after(tx, assembly_id, after, version)
    prov = Provision(assembly=assembly_id, number=number, kind=kind, position=position, created_ms=tx.now_ms)
    await prov.save()
    await _write_version(tx, assembly_id, prov.id, version, title, text, position, amendment, author)
    return prov.id


async def add_provision(
    ctx: Ctx,
    assembly_id: int,
    actor: str,
    *,
    number: str | None,
    kind: str,
    title: str,
    text: str,
    after: int | None,
) -> dict[str, Any]:
    async def run(tx: Tx) -> int:
        await load_locked(tx, Assembly, assembly_id, "assembly")
        pid = await add_provision_tx(tx, assembly_id, number=number, kind=kind, title=title, text=text, after=after)
        await tx.audit(assembly_id, actor, "provision.created", {"provision": pid, "title": title})
        await tx.emit(assembly_id, "provision.updated", {"provision": pid, "change": "created"})
        return pid

    pid = await ctx.write(run)
    return await current_provision(pid)


async def set_provision_text_tx(
    tx: Tx,
    provision_id: int,
    *,
    title: str | None,
    text: str | None,
    amendment: int | None = None,
    author: int | None = None,
    version: int | None = None,
) -> int:
    """Write a new version of a provision (text None deletes it). Returns the document version."""
    prov = await load(Provision, provision_id, "provision")
    latest = await _latest_version(provision_id)
    if latest["text"] is None:
        raise InvalidInput(f"provision {provision_id} was deleted in document version {latest['document_version']}")
    version = version if version is not None else await bump_version(prov["assembly"])
    await _write_version(
        tx,
        prov["assembly"],
        provision_id,
        version,
        latest["title"] if title is None else title,
        text,
        latest["position"],
        amendment,
        author,
    )
    return version


async def check_editable(provision_id: int) -> None:
    """A provision is edited directly (editorially) only until the debate of an agenda item that
    holds it opens (issue #18); from then on its wording changes only by an adopted amendment."""
    rows = await AgendaProvision.select(AgendaProvision.agenda_item.id.as_alias("item"), AgendaProvision.agenda_item.phase.as_alias("phase")).where(AgendaProvision.provision == provision_id)
    for row in rows:
        if row["phase"] != "pending":
            raise IllegalTransition(f"provision {provision_id} is on agenda item {row['item']}, which is in phase {row['phase']!r}: from the debate on, its wording changes only by an amendment")


async def edit_provision(ctx: Ctx, provision_id: int, actor: str, *, title: str | None, text: str | None, delete: bool = False) -> dict[str, Any]:
    """An editorial change by a moderator (amendments go through `amendments.adopt`)."""
    if not delete and text is None and title is None:
        raise InvalidInput("give 'title', 'text' or 'delete'")

    async def run(tx: Tx) -> None:
        prov = await load_locked(tx, Provision, provision_id, "provision")
        await check_editable(provision_id)
        latest = await _latest_version(provision_id)
        new_text = None if delete else (latest["text"] if text is None else text)
        version = await set_provision_text_tx(tx, provision_id, title=title, text=new_text)
        action = "provision.deleted" if delete else "provision.edited"
        await tx.audit(prov["assembly"], actor, action, {"provision": provision_id, "document_version": version})
        await tx.emit(prov["assembly"], "provision.updated", {"provision": provision_id, "change": "edited", "document_version": version})

    await ctx.write(run)
    return await current_provision(provision_id)
