"""Accounts: users, passwords (argon2id, deliberation/passwords.py), bearer tokens, browser
sessions and invitations."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from deliberation.context import Ctx
from deliberation.core.errors import DeliberationError, InvalidInput
from deliberation.tables import AuthToken, User
from kurultai.unit_of_work import Tx

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
INVITE_TTL_MS = 7 * 24 * 3600 * 1000  # without settings (KURULTAI_INVITE_TTL_HOURS, default 168)


class Conflict(DeliberationError):
    code = "conflict"
    status = 409


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def validate_username(username: str) -> str:
    if not USERNAME_RE.match(username):
        raise InvalidInput(f"username must be 2-64 characters of letters, digits, '_', '.' or '-', got {username!r}")
    return username


def validate_password(password: str) -> str:
    if not (MIN_PASSWORD <= len(password) <= MAX_PASSWORD):
        raise InvalidInput(f"password must be {MIN_PASSWORD}-{MAX_PASSWORD} characters, got {len(password)}")
    return password


@dataclass(frozen=True)
class UserView:
    id: int
    username: str
    display_name: str
    is_admin: bool

    def to_dict(self) -> dict:
        return {"id": self.id, "username": self.username, "display_name": self.display_name, "is_admin": self.is_admin}


def _view(row: dict) -> UserView:
    return UserView(row["id"], row["username"], row["display_name"], row["is_admin"])


async def get_user(user_id: int) -> UserView | None:
    row = await User.select().where(User.id == user_id).first()
    return _view(row) if row else None


async def find_user(username: str) -> dict | None:
    return await User.select().where(User.username == username).first()


async def create_user(
    ctx: Ctx,
    username: str,
    password: str | None,
    *,
    is_admin: bool = False,
    display_name: str = "",
    actor: str | None = None,
    password_hash: str | None = None,
) -> UserView:
    """`password_hash`: instead of `password`, its hash already made by `ctx.passwords` (the demo
    hashes a hall's passwords side by side, then stores the users in order)."""
    validate_username(username)
    if password is not None:
        validate_password(password)
    hashed = await ctx.passwords.hash(password) if password is not None else password_hash

    async def run(tx: Tx) -> UserView:
        if await User.exists().where(User.username == username):
            raise Conflict(f"username {username!r} is already taken")
        user = User(
            username=username,
            display_name=display_name or username,
            password_hash=hashed,
            is_admin=is_admin,
            created_ms=tx.now_ms,
        )
        await user.save()
        await tx.audit(0, actor, "user.created", {"username": username, "is_admin": is_admin})
        return UserView(user.id, username, user.display_name, is_admin)

    return await ctx.write(run)


async def authenticate(ctx: Ctx, username: str, password: str) -> UserView | None:
    """The user, when `password` is theirs. A hash made with other argon2 parameters than
    today's is replaced by one with today's (deliberation/passwords.py)."""
    row = await find_user(username)
    verdict = await ctx.passwords.verify(row["password_hash"] if row else None, password)
    if not verdict.ok or row is None:
        return None
    if verdict.rehash is not None:
        old, new = row["password_hash"], verdict.rehash

        async def run(tx: Tx) -> None:  # only if nobody changed the password meanwhile
            await User.update({User.password_hash: new}).where((User.id == row["id"]) & (User.password_hash == old))

        await ctx.write(run)
    return _view(row)


async def issue_token(ctx: Ctx, user_id: int, kind: str, ttl_ms: int) -> tuple[str, str]:
    """Create a bearer token or a browser session. Returns (token, csrf)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)

    async def run(tx: Tx) -> None:
        await AuthToken.insert(
            AuthToken(
                token_hash=token_hash(token),
                user=user_id,
                kind=kind,
                csrf=csrf,
                expires_ms=tx.now_ms + ttl_ms,
                created_ms=tx.now_ms,
            )
        )

    await ctx.write(run)
    return token, csrf


async def revoke_token(ctx: Ctx, token: str) -> None:
    async def run(tx: Tx) -> None:
        await AuthToken.delete().where(AuthToken.token_hash == token_hash(token))

    await ctx.write(run)


async def lookup_token(token: str, kind: str, now_ms: int) -> tuple[UserView, str] | None:
    row = await AuthToken.select(AuthToken.user, AuthToken.csrf, AuthToken.expires_ms).where((AuthToken.token_hash == token_hash(token)) & (AuthToken.kind == kind)).first()
    if not row or row["expires_ms"] <= now_ms:
        return None
    user = await get_user(row["user"])
    return (user, row["csrf"]) if user else None


def invite_ttl_ms(ctx: Ctx) -> int:
    """How long an invitation link lives: KURULTAI_INVITE_TTL_HOURS (the database's settings)."""
    settings = getattr(ctx.db, "settings", None)
    return settings.invite_ttl_hours * 3600 * 1000 if settings is not None else INVITE_TTL_MS


async def create_invite(ctx: Ctx, user_id: int, actor: str | None) -> str:
    """A one-time link token with which a user sets their password."""
    return (await create_invites(ctx, [user_id], actor))[user_id]


async def create_invites(ctx: Ctx, user_ids: list[int], actor: str | None, *, assembly_id: int = 0) -> dict[int, str]:
    """A new one-time link token for each user, in one transaction, each audited
    (`user.invited`). Only the tokens' hashes are stored: a user's earlier link stops working."""
    tokens = {uid: secrets.token_urlsafe(32) for uid in user_ids}
    ttl_ms = invite_ttl_ms(ctx)

    async def run(tx: Tx) -> None:
        names = {r["id"]: r["username"] for r in await User.select(User.id, User.username).where(User.id.is_in(list(tokens)))} if tokens else {}
        for uid, token in tokens.items():
            await User.update({User.invite_hash: token_hash(token), User.invite_expires_ms: tx.now_ms + ttl_ms}).where(User.id == uid)
            await tx.audit(assembly_id, actor, "user.invited", {"username": names.get(uid, "")})

    await ctx.write(run)
    return tokens


async def invite_issued_ms(ctx: Ctx, user_id: int) -> int | None:
    """When the user's pending invitation link was issued (its expiry less the links' lifetime),
    or None when they have none."""
    row = await User.select(User.invite_expires_ms).where((User.id == user_id) & User.invite_hash.is_not_null()).first()
    return None if row is None or row["invite_expires_ms"] is None else row["invite_expires_ms"] - invite_ttl_ms(ctx)


async def invite_unless_issued_since(ctx: Ctx, user_id: int, actor: str | None, shown_ms: int | None) -> str | None:
    """`create_invite`, for a form that carries when its page was shown (`shown_ms`; None when
    it does not): None, and no new link, when one was issued since (the same form sent again, as
    a refresh does), so the link already handed out keeps working."""
    if shown_ms is not None:
        issued = await invite_issued_ms(ctx, user_id)
        if issued is not None and issued >= shown_ms:
            return None
    return await create_invite(ctx, user_id, actor)


async def revoke_invite(ctx: Ctx, user_id: int, actor: str | None, *, assembly_id: int = 0) -> bool:
    """Make the user's invitation link unusable; audited (`user.invite_revoked`) when there was
    one. False when the user had no invitation to revoke."""

    async def run(tx: Tx) -> bool:
        row = await User.select(User.username, User.invite_hash).where(User.id == user_id).first()
        if row is None or row["invite_hash"] is None:
            return False
        await User.update({User.invite_hash: None, User.invite_expires_ms: None}).where(User.id == user_id)
        await tx.audit(assembly_id, actor, "user.invite_revoked", {"username": row["username"]})
        return True

    return await ctx.write(run)


class InvalidInvite(InvalidInput):
    """An invitation token that is unknown, used or expired (what invitation throttling counts)."""


async def find_invite(token: str, now_ms: int) -> dict | None:
    row = await User.select(User.id, User.invite_expires_ms).where(User.invite_hash == token_hash(token)).first()
    return row if row and (row["invite_expires_ms"] or 0) > now_ms else None


async def accept_invite(ctx: Ctx, token: str, password: str) -> UserView:
    validate_password(password)
    if await find_invite(token, ctx.now()) is None:  # no hashing for a bad token
        raise InvalidInvite("this invitation link is unknown, used or expired")
    hashed = await ctx.passwords.hash(password)

    async def run(tx: Tx) -> UserView:
        row = await User.select().where(User.invite_hash == token_hash(token)).first()
        if not row or (row["invite_expires_ms"] or 0) <= tx.now_ms:
            raise InvalidInvite("this invitation link is unknown, used or expired")
        await User.update({User.password_hash: hashed, User.invite_hash: None, User.invite_expires_ms: None}).where(User.id == row["id"])
        await tx.audit(0, row["username"], "user.password_set", {"username": row["username"]})
        return _view(row)

    return await ctx.write(run)
