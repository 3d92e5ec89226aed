"""Amendments: replace, insert after or delete a provision's text.

Status: draft → submitted → admitted, then withdrawn, rejected or adopted. Admission is by a
moderator, or automatic when the co-sponsors reach the assembly's threshold. Adopting writes a
new provision version (`adopt_tx`, which the voting service calls when an amendment wins).
"""

from __future__ import annotations

from typing import Any

from deliberation.common import Forbidden, in_id_range, iso, load, load_locked
from deliberation.context import Ctx
from deliberation.core.errors import IllegalTransition, InvalidInput
from deliberation.core.phases import AmendmentStatus, Phase, check_amendment_transition, parse_amendment_status, should_auto_admit
from deliberation.core.redline import compute_redline
from deliberation.draft import _latest_version, add_provision_tx, set_provision_text_tx
from deliberation.tables import AgendaItem, AgendaProvision, Amendment, Assembly, Cosponsor, Provision, ProvisionVersion
from kurultai.unit_of_work import Tx

KINDS = ("replace", "insert_after", "delete")
CLOSED_PHASES = (Phase.VOTING.value, Phase.CLOSED.value)


def _check_kind(kind: str, text: str | None) -> None:
    if kind not in KINDS:
        raise InvalidInput(f"amendment kind must be one of {list(KINDS)}, got {kind!r}")
    if kind == "delete" and text:
        raise InvalidInput("a 'delete' amendment carries no text")
    if kind != "delete" and not (text and text.strip()):
        raise InvalidInput(f"a {kind!r} amendment needs a non-empty 'text'")


async def _text_before(row: dict[str, Any], current: dict[str, Any]) -> str | None:
    """The provision's text the redline compares with: the current text (`current`, the latest
    version) while the amendment is still open; for an adopted amendment the text just before
    its adoption; for a rejected or withdrawn one the text it was proposed against (a later
    adoption must not make the record show it changing text it never saw)."""
    if row["status"] in ("rejected", "withdrawn"):
        seen = (
            await ProvisionVersion.select(ProvisionVersion.text)
            .where((ProvisionVersion.provision == row["provision"]) & (ProvisionVersion.document_version <= row["base_document_version"]))
            .order_by(ProvisionVersion.document_version, ascending=False)
            .first()
        )
        return seen["text"] if seen else current["text"]
    if row["status"] != "adopted":
        return current["text"]
    adopted = await ProvisionVersion.select(ProvisionVersion.document_version).where((ProvisionVersion.amendment == row["id"]) & (ProvisionVersion.provision == row["provision"])).first()
    if adopted is None:  # insert_after: the anchor provision itself did not change
        return current["text"]
    before = (
        await ProvisionVersion.select(ProvisionVersion.text)
        .where((ProvisionVersion.provision == row["provision"]) & (ProvisionVersion.document_version < adopted["document_version"]))
        .order_by(ProvisionVersion.document_version, ascending=False)
        .first()
    )
    return before["text"] if before else current["text"]


async def amendment_view(
    row: dict[str, Any],
    *,
    latest: dict[int, dict[str, Any]] | None = None,
    people: tuple[str | None, list[str]] | None = None,
) -> dict[str, Any]:
    """The amendment as the API shows it. A list passes what its amendments share, read once for
    all of them: `latest` (provision id -> latest version, filled as needed) and `people` (the
    author's username and the cosponsors'); alone, it reads them itself."""
    if latest is None:
        latest = {}
    if row["provision"] not in latest:
        latest[row["provision"]] = await _latest_version(row["provision"])
    current = latest[row["provision"]]
    old = await _text_before(row, current) or ""
    if row["kind"] == "replace":
        redline = compute_redline(old, row["text"] or "")
    elif row["kind"] == "delete":
        redline = compute_redline(old, "")
    else:
        redline = compute_redline("", row["text"] or "")
    if people is None:
        author, cosponsors = (await _people([row["id"]])).get(row["id"], (None, []))
    else:
        author, cosponsors = people
    return {
        "id": row["id"],
        "assembly": row["assembly"],
        "provision": row["provision"],
        "kind": row["kind"],
        "title": row["title"],
        "text": row["text"],
        "rationale": row["rationale"],
        "author": author,
        "cosponsors": cosponsors,
        "status": row["status"],
        "reason": row["reason"],
        "base_document_version": row["base_document_version"],
        "current_text": current["text"],
        "redline": redline,
        "created_at": iso(row["created_ms"]),
        "updated_at": iso(row["updated_ms"]),
    }


async def get_amendment(amendment_id: int) -> dict[str, Any]:
    return await amendment_view(await load(Amendment, amendment_id, "amendment"))


async def list_amendments(assembly_id: int, provision: int | None = None, status: str | None = None) -> list[dict[str, Any]]:
    await load(Assembly, assembly_id, "assembly")
    where = Amendment.assembly == assembly_id
    if provision is not None:
        if not in_id_range(provision):
            return []
        where &= Amendment.provision == provision
    if status is not None:
        where &= Amendment.status == parse_amendment_status(status).value
    rows = await Amendment.select().where(where).order_by(Amendment.id)
    people = await _people([r["id"] for r in rows])
    latest: dict[int, dict[str, Any]] = {}
    return [await amendment_view(r, latest=latest, people=people.get(r["id"], (None, []))) for r in rows]


async def _people(ids: list[int]) -> dict[int, tuple[str | None, list[str]]]:
    """amendment id -> (the author's username, the cosponsors' in the order they joined), in two
    queries for any number of amendments."""
    out: dict[int, tuple[str | None, list[str]]] = {}
    for lo in range(0, len(ids), 500):  # within SQLite's limit on bound parameters
        chunk = ids[lo : lo + 500]
        authors = await Amendment.select(Amendment.id, Amendment.author.username.as_alias("username")).where(Amendment.id.is_in(chunk))
        out.update({a["id"]: (a["username"], []) for a in authors})
        cosponsors = await Cosponsor.select(Cosponsor.amendment, Cosponsor.user.username.as_alias("username")).where(Cosponsor.amendment.is_in(chunk)).order_by(Cosponsor.id)
        for c in cosponsors:
            out[c["amendment"]][1].append(c["username"])
    return out


async def _check_floor_open(provision_id: int) -> None:
    """Amendments may be proposed until an agenda item holding the provision reaches voting."""
    rows = await AgendaProvision.select(AgendaProvision.agenda_item.phase.as_alias("phase")).where(AgendaProvision.provision == provision_id)
    closed = [r["phase"] for r in rows if r["phase"] in CLOSED_PHASES]
    if closed:
        raise IllegalTransition(f"provision {provision_id} is on an agenda item in phase {closed[0]!r}; amendments are closed")


async def create_amendment(
    ctx: Ctx,
    assembly_id: int,
    author_id: int,
    author: str,
    *,
    provision: int,
    kind: str,
    text: str | None,
    title: str = "",
    rationale: str = "",
    submit: bool = False,
) -> dict[str, Any]:
    _check_kind(kind, text)

    async def run(tx: Tx) -> int:
        assembly = await load_locked(tx, Assembly, assembly_id, "assembly")
        prov = await load(Provision, provision, "provision")
        if prov["assembly"] != assembly_id:
            raise InvalidInput(f"provision {provision} is not part of assembly {assembly_id}")
        if (await _latest_version(provision))["text"] is None:
            raise InvalidInput(f"provision {provision} has been deleted")
        await _check_floor_open(provision)
        a = Amendment(
            assembly=assembly_id,
            provision=provision,
            kind=kind,
            text=text if kind != "delete" else None,
            title=title,
            rationale=rationale,
            author=author_id,
            status=AmendmentStatus.SUBMITTED.value if submit else AmendmentStatus.DRAFT.value,
            base_document_version=assembly["document_version"],
            created_ms=tx.now_ms,
            updated_ms=tx.now_ms,
        )
        await a.save()
        view = await get_amendment(a.id)
        await tx.emit(assembly_id, "amendment.created", view)
        return a.id

    aid = await ctx.write(run)
    return await get_amendment(aid)


async def update_draft(ctx: Ctx, amendment_id: int, user_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    async def run(tx: Tx) -> None:
        row = await load_locked(tx, Amendment, amendment_id, "amendment")
        if row["author"] != user_id:
            raise Forbidden("only the author can edit an amendment")
        if row["status"] != AmendmentStatus.DRAFT:
            raise IllegalTransition(f"only a draft can be edited; this amendment is {row['status']!r}")
        kind = changes.get("kind", row["kind"])
        text = changes.get("text", row["text"])
        _check_kind(kind, text if kind != "delete" else None)
        values: dict[Any, Any] = {Amendment.updated_ms: tx.now_ms, Amendment.kind: kind, Amendment.text: text if kind != "delete" else None}
        for field in ("title", "rationale"):
            if field in changes:
                values[getattr(Amendment, field)] = changes[field]
        await Amendment.update(values).where(Amendment.id == amendment_id)
        await tx.emit(row["assembly"], "amendment.updated", await get_amendment(amendment_id))

    await ctx.write(run)
    return await get_amendment(amendment_id)


async def _transition(tx: Tx, row: dict[str, Any], action: str, actor: str, reason: str = "", audit: bool = True) -> None:
    new = check_amendment_transition(row["status"], action)
    await Amendment.update({Amendment.status: new.value, Amendment.reason: reason, Amendment.updated_ms: tx.now_ms}).where(Amendment.id == row["id"])
    if audit:
        await tx.audit(row["assembly"], actor, f"amendment.{action}", {"amendment": row["id"], "from": row["status"], "to": new.value, "reason": reason})
    row["status"] = new.value


async def _maybe_auto_admit(tx: Tx, row: dict[str, Any]) -> None:
    assembly = await load(Assembly, row["assembly"], "assembly")
    count = await Cosponsor.count().where(Cosponsor.amendment == row["id"])
    if should_auto_admit(row["status"], count, assembly["cosponsor_threshold"]):
        await _transition(tx, row, "admit", None, reason=f"{count} co-sponsors reached the threshold of {assembly['cosponsor_threshold']}")  # type: ignore[arg-type]


async def author_action(ctx: Ctx, amendment_id: int, user_id: int, actor: str, action: str) -> dict[str, Any]:
    """`submit` or `withdraw`, by the author."""
    if action not in ("submit", "withdraw"):
        raise InvalidInput(f"action must be 'submit' or 'withdraw', got {action!r}")

    async def run(tx: Tx) -> None:
        row = await load_locked(tx, Amendment, amendment_id, "amendment")
        if row["author"] != user_id:
            raise Forbidden(f"only the author can {action} an amendment")
        if action == "submit":
            await _check_floor_open(row["provision"])
        await _transition(tx, row, action, actor, audit=False)
        if action == "submit":
            await _maybe_auto_admit(tx, row)
        await tx.emit(row["assembly"], "amendment.updated", await get_amendment(amendment_id))

    await ctx.write(run)
    return await get_amendment(amendment_id)


async def moderator_action(ctx: Ctx, amendment_id: int, actor: str, action: str, reason: str = "") -> dict[str, Any]:
    """`admit`, `reject` or `adopt`, by a moderator (recorded in the audit log)."""
    if action not in ("admit", "reject", "adopt"):
        raise InvalidInput(f"action must be 'admit', 'reject' or 'adopt', got {action!r}")

    async def run(tx: Tx) -> None:
        row = await load_locked(tx, Amendment, amendment_id, "amendment")
        if action == "adopt":
            await adopt_tx(tx, amendment_id, actor)
        else:
            await _transition(tx, row, action, actor, reason=reason)
            await tx.emit(row["assembly"], "amendment.updated", await get_amendment(amendment_id))

    await ctx.write(run)
    return await get_amendment(amendment_id)


async def cosponsor(ctx: Ctx, amendment_id: int, user_id: int, actor: str, add: bool = True) -> dict[str, Any]:
    async def run(tx: Tx) -> None:
        row = await load_locked(tx, Amendment, amendment_id, "amendment")
        if row["author"] == user_id:
            raise InvalidInput("the author cannot co-sponsor their own amendment")
        if row["status"] not in (AmendmentStatus.DRAFT, AmendmentStatus.SUBMITTED, AmendmentStatus.ADMITTED):
            raise IllegalTransition(f"cannot change co-sponsors of an amendment that is {row['status']!r}")
        exists = await Cosponsor.exists().where((Cosponsor.amendment == amendment_id) & (Cosponsor.user == user_id))
        if add and not exists:
            await Cosponsor.insert(Cosponsor(amendment=amendment_id, user=user_id, created_ms=tx.now_ms))
            await _maybe_auto_admit(tx, row)
        elif not add and exists:
            await Cosponsor.delete().where((Cosponsor.amendment == amendment_id) & (Cosponsor.user == user_id))
        await tx.emit(row["assembly"], "amendment.updated", await get_amendment(amendment_id))

    await ctx.write(run)
    return await get_amendment(amendment_id)


async def adopt_tx(tx: Tx, amendment_id: int, actor: str | None) -> int:
    """Adopt an admitted amendment inside a running transaction: write the new provision
    version and mark the amendment adopted. Returns the new document version."""
    row = await load_locked(tx, Amendment, amendment_id, "amendment")
    check_amendment_transition(row["status"], "adopt")
    kwargs = {"amendment": amendment_id, "author": row["author"]}
    if row["kind"] == "replace":
        version = await set_provision_text_tx(tx, row["provision"], title=None, text=row["text"], **kwargs)
        result_provision = row["provision"]
    elif row["kind"] == "delete":
        version = await set_provision_text_tx(tx, row["provision"], title=None, text=None, **kwargs)
        result_provision = row["provision"]
    else:
        anchor = await load(Provision, row["provision"], "provision")
        result_provision = await add_provision_tx(tx, row["assembly"], number=None, kind=anchor["kind"], title=row["title"], text=row["text"] or "", after=row["provision"], **kwargs)
        version = (await load(Assembly, row["assembly"], "assembly"))["document_version"]
    await Amendment.update({Amendment.status: AmendmentStatus.ADOPTED.value, Amendment.result_provision: result_provision, Amendment.updated_ms: tx.now_ms}).where(Amendment.id == amendment_id)
    await tx.audit(row["assembly"], actor, "amendment.adopt", {"amendment": amendment_id, "document_version": version})
    await tx.emit(row["assembly"], "amendment.updated", await get_amendment(amendment_id))
    await tx.emit(row["assembly"], "provision.updated", {"provision": result_provision, "change": "amended", "document_version": version})
    return version


async def phase_of_item(item_id: int) -> str:
    return (await load(AgendaItem, item_id, "agenda item"))["phase"]
