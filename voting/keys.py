"""Delegate keys: registration (with the small-order and canonical-encoding checks), approval
and revocation by a registrar (moderator or admin), audit-logged. One active key per delegate and
assembly; a lost device is handled by revoking the old key and approving a new one."""

from __future__ import annotations

from typing import Any

from deliberation.common import NotFound, iso, load
from deliberation.context import Ctx, Tx
from deliberation.core.errors import IllegalTransition
from deliberation.tables import Assembly
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

    async def run(tx: Tx) -> dict[str, Any]:
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
    """Approved keys of users who are delegates of the assembly now (the voting body)."""
    from deliberation.tables import Membership

    rows = await _rows((DelegateKey.assembly == assembly_id) & (DelegateKey.status == "approved"))
    members = {r["user"]: r["role"] for r in await Membership.select(Membership.user, Membership.role).where(Membership.assembly == assembly_id)}
    return [r for r in rows if members.get(r["user"]) == "delegate"]
