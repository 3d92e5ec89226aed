"""Delegate keys: registration (with the small-order and canonical-encoding checks), approval
and revocation by a registrar (moderator or admin), audit-logged. One active key per delegate and
assembly; a lost device is handled by revoking the old key and approving a new one."""

from __future__ import annotations

from typing import Any

from deliberation.common import NotFound, iso, load
from deliberation.context import Ctx
from deliberation.core.errors import IllegalTransition
from deliberation.tables import Assembly, active_member
from kurultai.unit_of_work import Tx
from voting.core.keys import key_id, parse_public_key_b64u
from voting.tables import DelegateKey

ACTIVE = ("pending", "approved")


def key_view(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "key_id": r["key_id"],
        "public_key": r["public_key"],
        "status": r["status"],
        "assembly": r["assembly"],
        "username": r.get("username"),
        "created_at": iso(r["created_ms"]),
        "decided_at": iso(r["decided_ms"]),
        "decided_by": r["decided_by"],
    }


async def _rows(where: Any) -> list[dict[str, Any]]:
    return await DelegateKey.select(DelegateKey.all_columns(), DelegateKey.user.username.as_alias("username")).where(where).order_by(DelegateKey.id)


async def register(ctx: Ctx, assembly_id: int, user_id: int, username: str, public_key_b64u: str) -> dict[str, Any]:
    raw = parse_public_key_b64u(public_key_b64u)  # BadKeyError (400 bad_key): encoding, small order
    kid = key_id(raw)

    async def run(tx: Tx) -> dict[str, Any]:
        await load(Assembly, assembly_id, "assembly")
        if await DelegateKey.exists().where((DelegateKey.assembly == assembly_id) & (DelegateKey.key_id == kid)):
            raise IllegalTransition(f"key {kid} is already registered in assembly {assembly_id}")
        active = await DelegateKey.select(DelegateKey.key_id, DelegateKey.status).where((DelegateKey.assembly == assembly_id) & (DelegateKey.user == user_id) & DelegateKey.status.is_in(list(ACTIVE)))
        if active:
            raise IllegalTransition(f"you already have a {active[0]['status']} key {active[0]['key_id']} in this assembly; revoke it first")
        await DelegateKey.insert(DelegateKey(assembly=assembly_id, user=user_id, key_id=kid, public_key=public_key_b64u, status="pending", created_ms=tx.now_ms))
        await tx.emit(assembly_id, "key.registered", {"key_id": kid, "username": username, "status": "pending", "audience": "moderators"})
        return {"key_id": kid, "status": "pending"}

    return await ctx.write(run)


async def decide(ctx: Ctx, assembly_id: int, kid: str, actor: str, action: str, *, owner_id: int | None = None) -> dict[str, Any]:
    """`approve` or `revoke` (a delegate may revoke their own key: pass owner_id)."""
    return await ctx.write(lambda tx: decide_tx(tx, assembly_id, kid, actor, action, owner_id=owner_id))


async def decide_tx(tx: Tx, assembly_id: int, kid: str, actor: str, action: str, *, owner_id: int | None = None) -> dict[str, Any]:
    """`decide` inside the caller's transaction: the one rule of a key's approval and revocation."""
    row = await DelegateKey.select().where((DelegateKey.assembly == assembly_id) & (DelegateKey.key_id == kid)).first()
    if row is None:
        raise NotFound(f"no key {kid!r} in assembly {assembly_id}")
    if owner_id is not None and row["user"] != owner_id:
        raise NotFound(f"no key {kid!r} of yours in assembly {assembly_id}")
    if action == "approve":
        if row["status"] != "pending":
            raise IllegalTransition(f"cannot approve a key that is {row['status']!r}; want 'pending'")
        new = "approved"
    else:
        if row["status"] == "revoked":
            raise IllegalTransition("the key is already revoked")
        new = "revoked"
    await DelegateKey.update({DelegateKey.status: new, DelegateKey.decided_ms: tx.now_ms, DelegateKey.decided_by: actor}).where(DelegateKey.id == row["id"])
    await tx.audit(assembly_id, actor, f"key.{new}", {"key_id": kid, "user": row["user"]})
    await tx.emit(assembly_id, "key.updated", {"key_id": kid, "status": new, "audience": "moderators"})
    return key_view((await _rows(DelegateKey.id == row["id"]))[0])


async def pending_keys(assembly_id: int, *, present_only: bool = False) -> list[dict[str, Any]]:
    """Keys waiting for approval; with `present_only`, only those of delegates checked in now."""
    rows = [key_view(r) | {"user": r["user"]} for r in await _rows((DelegateKey.assembly == assembly_id) & (DelegateKey.status == "pending"))]
    if present_only:
        here = await _present_delegates(assembly_id)
        rows = [r for r in rows if r["user"] in here]
    return [{k: v for k, v in r.items() if k != "user"} for r in rows]


async def _present_delegates(assembly_id: int) -> set[int]:
    from deliberation import presence

    delegates = {d["user_id"] for d in await presence.delegates_of(assembly_id)}
    return delegates & await presence.present_user_ids(assembly_id)


async def approve_present(ctx: Ctx, assembly_id: int, key_ids: list[str], actor: str) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Approve, in one transaction, those of `key_ids` (the list the registrar was shown) that
    are still pending and belong to a delegate checked in now, each by `decide_tx` and audited
    one by one. Returns (the keys approved, the others with the reason: `unknown`, `not_pending`
    or `not_present`)."""

    async def run(tx: Tx) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        await tx.lock_assembly(assembly_id)
        here = await _present_delegates(assembly_id)
        approved: list[dict[str, Any]] = []
        skipped: list[dict[str, str]] = []
        for kid in dict.fromkeys(key_ids):  # each once, in the order given
            row = await DelegateKey.select(DelegateKey.user, DelegateKey.status).where((DelegateKey.assembly == assembly_id) & (DelegateKey.key_id == kid)).first()
            if row is None:
                skipped.append({"key_id": kid, "reason": "unknown"})
            elif row["status"] != "pending":
                skipped.append({"key_id": kid, "reason": "not_pending"})
            elif row["user"] not in here:
                skipped.append({"key_id": kid, "reason": "not_present"})
            else:
                approved.append(await decide_tx(tx, assembly_id, kid, actor, "approve"))
        return approved, skipped

    return await ctx.write(run)


async def list_keys(assembly_id: int, user_id: int | None = None) -> list[dict[str, Any]]:
    where = DelegateKey.assembly == assembly_id
    if user_id is not None:
        where &= DelegateKey.user == user_id
    return [key_view(r) for r in await _rows(where)]


async def owners(assembly_id: int, key_ids: set[str]) -> set[int]:
    """The users who registered these keys in the assembly."""
    if not key_ids:
        return set()
    rows = await DelegateKey.select(DelegateKey.user).where((DelegateKey.assembly == assembly_id) & DelegateKey.key_id.is_in(sorted(key_ids)))
    return {int(r["user"]) for r in rows}


async def my_keys(user_id: int) -> list[dict[str, Any]]:
    return [key_view(r) for r in await _rows(DelegateKey.user == user_id)]


async def approved_keys(assembly_id: int) -> list[dict[str, Any]]:
    """Approved keys of users who are active delegates of the assembly now (the voting body),
    each with the member's `weight` (issue #18: a deactivated delegate is on no new roll)."""
    from deliberation.tables import Membership

    rows = await _rows((DelegateKey.assembly == assembly_id) & (DelegateKey.status == "approved"))
    where = (Membership.assembly == assembly_id) & (Membership.role == "delegate") & active_member()
    weights = {r["user"]: r["weight"] for r in await Membership.select(Membership.user, Membership.weight).where(where)}
    return [{**r, "weight": weights[r["user"]]} for r in rows if r["user"] in weights]
