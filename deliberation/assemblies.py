"""Assemblies and their members.

Roles in an assembly (issue #18): the moderator chairs it (runs the floor) and may also prepare
it; the secretary prepares it (draft, agenda, members, invitations); delegates debate and vote;
observers watch. A global administrator creates assemblies and appoints their secretaries and
chairs (`APPOINTED`); who may call what is checked in the web layer (kurultai/web/auth.py).
"""

from __future__ import annotations

from typing import Any

from deliberation.common import NotFound, dumps, has_vote, iso, load, load_locked, loads
from deliberation import presence
from deliberation.context import Ctx
from deliberation.core.errors import IllegalTransition, InvalidInput
from deliberation.tables import Assembly, Membership, User, active_member
from kurultai.unit_of_work import Tx

ROLES = ("moderator", "secretary", "delegate", "observer")
#: Roles only an administrator gives or takes away.
APPOINTED = ("moderator", "secretary")
LANGUAGES = ("kk", "ru", "en")
MAX_WEIGHT = 1_000_000  # as an election's `weights` (voting/elections.py)


def assembly_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "title": row["title"],
        "titles": loads(row["titles"], {}),
        "description": row["description"],
        "descriptions": loads(row["descriptions"], {}),
        "languages": loads(row["languages"], ["en"]),
        "cosponsor_threshold": row["cosponsor_threshold"],
        "speaking_time_s": row["speaking_time_s"],
        "document_version": row["document_version"],
        "current_item": row["current_item"] or None,
        "created_at": iso(row["created_ms"]),
    }


def check_languages(languages: list[str]) -> list[str]:
    bad = [lang for lang in languages if lang not in LANGUAGES]
    if bad or not languages:
        raise InvalidInput(f"languages must be a non-empty list drawn from {list(LANGUAGES)}, got {languages!r}")
    return list(dict.fromkeys(languages))


async def list_assemblies() -> list[dict[str, Any]]:
    rows = await Assembly.select().order_by(Assembly.id)
    return [assembly_view(r) for r in rows]


async def get_assembly(assembly_id: int) -> dict[str, Any]:
    return assembly_view(await load(Assembly, assembly_id, "assembly"))


async def create_assembly(
    ctx: Ctx,
    actor: str,
    *,
    title: str,
    description: str = "",
    languages: list[str] | None = None,
    titles: dict[str, str] | None = None,
    descriptions: dict[str, str] | None = None,
    cosponsor_threshold: int = 0,
    speaking_time_s: int = 180,
) -> dict[str, Any]:
    langs = check_languages(languages or list(LANGUAGES))
    check_titles(titles or {})
    check_titles(descriptions or {})

    async def run(tx: Tx) -> dict[str, Any]:
        a = Assembly(
            title=title,
            description=description,
            languages=dumps(langs),
            titles=dumps(titles or {}),
            descriptions=dumps(descriptions or {}),
            cosponsor_threshold=cosponsor_threshold,
            speaking_time_s=speaking_time_s,
            created_ms=tx.now_ms,
        )
        await a.save()
        await tx.audit(a.id, actor, "assembly.created", {"title": title})
        row = await load(Assembly, a.id, "assembly")
        return assembly_view(row)

    return await ctx.write(run)


def check_titles(titles: dict[str, str]) -> None:
    bad = [k for k in titles if k not in LANGUAGES]
    if bad:
        raise InvalidInput(f"titles and descriptions are keyed by language {list(LANGUAGES)}, got {bad!r}")


async def update_assembly(ctx: Ctx, assembly_id: int, actor: str, changes: dict[str, Any]) -> dict[str, Any]:
    values: dict[Any, Any] = {}
    if "title" in changes:
        values[Assembly.title] = changes["title"]
    if "description" in changes:
        values[Assembly.description] = changes["description"]
    if "languages" in changes:
        values[Assembly.languages] = dumps(check_languages(changes["languages"]))
    if "titles" in changes:
        check_titles(changes["titles"])
        values[Assembly.titles] = dumps(changes["titles"])
    if "descriptions" in changes:
        check_titles(changes["descriptions"])
        values[Assembly.descriptions] = dumps(changes["descriptions"])
    if "cosponsor_threshold" in changes:
        values[Assembly.cosponsor_threshold] = changes["cosponsor_threshold"]
    if "speaking_time_s" in changes:
        values[Assembly.speaking_time_s] = changes["speaking_time_s"]

    async def run(tx: Tx) -> dict[str, Any]:
        await load_locked(tx, Assembly, assembly_id, "assembly")
        if values:
            await Assembly.update(values).where(Assembly.id == assembly_id)
        view = assembly_view(await load(Assembly, assembly_id, "assembly"))
        await tx.audit(assembly_id, actor, "assembly.updated", {"fields": sorted(changes)})
        await tx.emit(assembly_id, "assembly.updated", view)
        return view

    return await ctx.write(run)


def _member_rows(where: Any) -> Any:
    return Membership.select(
        Membership.user.id.as_alias("user_id"),
        Membership.user.username.as_alias("username"),
        Membership.user.display_name.as_alias("display_name"),
        Membership.role,
        Membership.weight,
        Membership.active,
    ).where(where)


async def list_members(assembly_id: int) -> list[dict[str, Any]]:
    await load(Assembly, assembly_id, "assembly")
    return [dict(r) for r in await _member_rows(Membership.assembly == assembly_id).order_by(Membership.id)]


async def member_by_username(assembly_id: int, username: str) -> dict[str, Any] | None:
    """A member of the assembly (`user_id`, `username`, `display_name`, `role`, `weight`, `active`), or None."""
    row = await _member_rows((Membership.assembly == assembly_id) & (Membership.user.username == username)).first()
    return dict(row) if row else None


async def member_by_id(assembly_id: int, user_id: int) -> dict[str, Any] | None:
    """A member of the assembly by user id (as `member_by_username`), or None."""
    row = await _member_rows((Membership.assembly == assembly_id) & (Membership.user == user_id)).first()
    return dict(row) if row else None


async def set_member(ctx: Ctx, assembly_id: int, actor: str, username: str, role: str) -> dict[str, Any]:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {list(ROLES)}, got {role!r}")

    async def run(tx: Tx) -> dict[str, Any]:
        await load_locked(tx, Assembly, assembly_id, "assembly")
        user = await User.select(User.id, User.username, User.display_name).where(User.username == username).first()
        if user is None:
            raise NotFound(f"no user named {username!r}")
        existing = await Membership.select(Membership.id, Membership.role, Membership.weight, Membership.active).where((Membership.assembly == assembly_id) & (Membership.user == user["id"])).first()
        if existing:
            await Membership.update({Membership.role: role}).where(Membership.id == existing["id"])
            if existing["role"] != role:  # attendance is a delegate's: it does not survive a change of role
                await presence.forget_tx(tx, assembly_id, actor, user["id"], username, "role changed")
        else:
            await Membership.insert(Membership(assembly=assembly_id, user=user["id"], role=role))
        await tx.audit(assembly_id, actor, "member.set", {"username": username, "role": role})
        member = {"user_id": user["id"], "username": username, "display_name": user["display_name"], "role": role}
        member |= {"weight": existing["weight"], "active": existing["active"]} if existing else {"weight": 1, "active": True}
        await tx.emit(assembly_id, "members.updated", member)
        return member

    return await ctx.write(run)


async def accounts_of_assembly(assembly_id: int, user_ids: list[int]) -> set[int]:
    """Of `user_ids`, the accounts whose invitation link (the way to set or reset a password)
    this assembly's secretaries and chairs may issue, print or revoke: accounts that belong to
    this assembly alone, as a delegate or an observer. Not an administrator, nobody who is a chair
    or a secretary anywhere, nobody who is a member of another assembly: their links are an
    administrator's, or a preparer could take over an account that is not theirs to manage."""
    ids = sorted(set(user_ids))
    if not ids:
        return set()
    admins = {r["id"] for r in await User.select(User.id).where(User.id.is_in(ids) & (User.is_admin == True))}  # noqa: E712
    out = set(ids) - admins
    for row in await Membership.select(Membership.user, Membership.assembly, Membership.role).where(Membership.user.is_in(ids)):
        if row["assembly"] != assembly_id or row["role"] in APPOINTED:
            out.discard(row["user"])
    return out


async def remove_member(ctx: Ctx, assembly_id: int, actor: str, username: str) -> None:
    from deliberation.accounts import USERNAME_RE

    if not USERNAME_RE.match(username):  # e.g. a NUL, which PostgreSQL cannot even compare
        raise NotFound(f"no user named {username!r}")

    async def run(tx: Tx) -> None:
        await load_locked(tx, Assembly, assembly_id, "assembly")
        user = await User.select(User.id).where(User.username == username).first()
        if user is None:
            raise NotFound(f"no user named {username!r}")
        await check_no_vote_yet(assembly_id)
        await Membership.delete().where((Membership.assembly == assembly_id) & (Membership.user == user["id"]))
        await presence.forget_tx(tx, assembly_id, actor, user["id"], username, "member removed")
        await tx.audit(assembly_id, actor, "member.removed", {"username": username})
        await tx.emit(assembly_id, "members.updated", {"username": username, "role": None})

    await ctx.write(run)


async def memberships_of(user_id: int) -> dict[int, str]:
    """The user's role in each assembly where they are an active member (a deactivated member
    holds no role: deliberation/members_import.py)."""
    rows = await Membership.select(Membership.assembly, Membership.role).where((Membership.user == user_id) & active_member())
    return {r["assembly"]: r["role"] for r in rows}


async def check_no_vote_yet(assembly_id: int) -> None:
    """A member is removed only before the assembly's first vote opened (a roll, a ballot or a
    tally may name them); after it, deactivate them instead."""
    if await has_vote(assembly=assembly_id, opened=True):
        raise IllegalTransition(f"a vote of assembly {assembly_id} has opened: members are no longer removed; deactivate the member instead")


async def update_member(ctx: Ctx, assembly_id: int, actor: str, username: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Change a member's `role`, `weight` (an integer 1-1000000) and/or `active`; audited
    (`member.updated`) and announced (`members.updated`) like `set_member`. A change of role
    or a deactivation forgets the member's attendance."""
    if "role" in changes and changes["role"] not in ROLES:
        raise InvalidInput(f"role must be one of {list(ROLES)}, got {changes['role']!r}")
    weight = changes.get("weight")
    if weight is not None and (not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= MAX_WEIGHT):
        raise InvalidInput(f"weight must be an integer 1-{MAX_WEIGHT}, got {weight!r}")
    if "active" in changes and not isinstance(changes["active"], bool):
        raise InvalidInput(f"active must be true or false, got {changes['active']!r}")

    async def run(tx: Tx) -> dict[str, Any]:
        await load_locked(tx, Assembly, assembly_id, "assembly")
        current = await member_by_username(assembly_id, username)
        if current is None:
            raise NotFound(f"{username!r} is no member of assembly {assembly_id}")
        changed = {name: changes[name] for name in ("role", "weight", "active") if name in changes and changes[name] != current[name]}
        if not changed:  # nothing to record
            return current
        columns = {"role": Membership.role, "weight": Membership.weight, "active": Membership.active}
        await Membership.update({columns[name]: value for name, value in changed.items()}).where((Membership.assembly == assembly_id) & (Membership.user == current["user_id"]))
        if "role" in changed or changed.get("active") is False:
            await presence.forget_tx(tx, assembly_id, actor, current["user_id"], username, "role changed" if "role" in changed else "member deactivated")
        member = {**current, **changed}
        await tx.audit(assembly_id, actor, "member.updated", {"username": username, **changed})
        await tx.emit(assembly_id, "members.updated", member)
        return member

    return await ctx.write(run)
