"""`kurultai demo`: a civil-society working group reviewing a draft Law on Non-Governmental
Organizations. The text was written for this project."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from deliberation import accounts, agenda, amendments, assemblies, comments, draft
from deliberation.context import Ctx
from deliberation.tables import User

TITLE = "Working group on the draft Law on Non-Governmental Organizations"
TITLES = {
    "en": TITLE,
    "ru": "Рабочая группа по проекту Закона «О неправительственных организациях»",
    "kk": "«Үкіметтік емес ұйымдар туралы» Заң жобасы бойынша жұмыс тобы",
}
DESCRIPTION = "Civil-society organizations, lawyers and experts review the draft law article by article, propose amendments and rank them against the current text."

ARTICLES = [
    ("1", "Purpose", "This Law sets out how non-governmental organizations are founded, registered, funded and dissolved, and guarantees their independence from state bodies."),
    (
        "2",
        "Definitions",
        "A non-governmental organization is a voluntary, self-governing association of citizens or legal entities that does not pursue profit as its main aim and does not distribute profit among its members.",
    ),
    (
        "3",
        "Registration",
        "An organization acquires legal personality upon registration. The registering authority shall decide within thirty working days and may refuse only on the grounds listed in this Law.",
    ),
    ("4", "Funding", "Organizations may receive donations, grants and membership fees from any lawful source. Foreign funding shall be reported to the registering authority every quarter."),
    ("5", "Public reporting", "Every organization shall publish an annual report on its activities and finances on its website or in a public register."),
    ("6", "State support", "State bodies may award grants to organizations through open competitions judged by independent panels."),
    (
        "7",
        "Dissolution",
        "An organization may be dissolved by decision of its members or by a court. A court may order dissolution only after a written warning and a period of at least three months to correct a violation.",
    ),
]


async def _free_username(base: str, suffix: str) -> str:
    if not await User.exists().where(User.username == base):
        return base
    n = 2
    while await User.exists().where(User.username == f"{base}-{suffix}{n}"):
        n += 1
    return f"{base}-{suffix}{n}"


def _password() -> str:
    return secrets.token_urlsafe(9)


async def create_demo(ctx: Ctx, delegates: int = 12) -> dict[str, Any]:
    """Create the demo assembly; returns the `--json` object of `kurultai demo`."""
    actor = "demo"
    assembly = await assemblies.create_assembly(ctx, actor, title=TITLE, description=DESCRIPTION, languages=["kk", "ru", "en"], titles=TITLES, cosponsor_threshold=3, speaking_time_s=180)
    aid = assembly["id"]

    mod_name = await _free_username("moderator", "a")
    mod_pw = _password()
    mod = await accounts.create_user(ctx, mod_name, mod_pw, display_name="Aigerim Nurlanovna (chair)", actor=actor)
    await assemblies.set_member(ctx, aid, actor, mod.username, "moderator")
    creds = []
    users = []
    passwords = [_password() for _ in range(delegates)]
    # Hashed side by side (the pool's threads), then stored in order: 500 delegates take seconds.
    hashes: list[str] = []
    for start in range(0, delegates, 256):  # below the pool's queue bound (deliberation/passwords.py)
        hashes += await asyncio.gather(*(ctx.passwords.hash(pw) for pw in passwords[start : start + 256]))
    for i, pw, hashed in zip(range(1, delegates + 1), passwords, hashes, strict=True):
        name = await _free_username(f"delegate{i:02d}", "a")
        user = await accounts.create_user(ctx, name, None, display_name=f"Delegate {i:02d}", actor=actor, password_hash=hashed)
        await assemblies.set_member(ctx, aid, actor, user.username, "delegate")
        creds.append({"username": name, "password": pw})
        users.append(user)

    pids: dict[str, int] = {}
    for number, title, text in ARTICLES:
        prov = await draft.add_provision(ctx, aid, actor, number=number, kind="article", title=title, text=text, after=None)
        pids[number] = prov["id"]

    item1 = await agenda.create_item(ctx, aid, actor, title="Article 3: Registration", planned_minutes=30, provisions=[pids["3"]])
    item2 = await agenda.create_item(ctx, aid, actor, title="Article 4: Funding", planned_minutes=30, provisions=[pids["4"]])
    await agenda.create_item(ctx, aid, actor, title="Articles 5-7: Reporting, support and dissolution", planned_minutes=45, provisions=[pids["5"], pids["6"], pids["7"]])
    for phase in ("debate", "amendments"):
        await agenda.set_phase(ctx, item1["id"], mod.username, phase)
    await agenda.set_phase(ctx, item2["id"], mod.username, "debate")

    def d(i: int) -> Any:
        return users[(i - 1) % len(users)] if users else mod

    shorter = await amendments.create_amendment(
        ctx,
        aid,
        d(1).id,
        d(1).username,
        provision=pids["3"],
        kind="replace",
        submit=True,
        title="Fifteen days",
        text="An organization acquires legal personality upon registration. The registering authority shall decide within fifteen working days and may refuse only on the grounds listed in this Law.",
        rationale="Thirty working days is too long for small community groups that need a bank account to start work.",
    )
    silence = await amendments.create_amendment(
        ctx,
        aid,
        d(2).id,
        d(2).username,
        provision=pids["3"],
        kind="replace",
        submit=True,
        title="Registration by default",
        text="An organization acquires legal personality upon registration. The registering authority shall decide within thirty working days; if it does not decide in time, the organization is registered by default.",
        rationale="A deadline without a consequence is not a deadline.",
    )
    appeal = await amendments.create_amendment(
        ctx,
        aid,
        d(3).id,
        d(3).username,
        provision=pids["3"],
        kind="insert_after",
        submit=True,
        title="Appeal",
        text="A refusal shall be given in writing with reasons and may be appealed to a court.",
        rationale="Applicants must know why they were refused and have a remedy.",
    )
    await amendments.moderator_action(ctx, shorter["id"], mod.username, "admit")
    await amendments.moderator_action(ctx, silence["id"], mod.username, "admit")
    await amendments.create_amendment(
        ctx,
        aid,
        d(4).id,
        d(4).username,
        provision=pids["4"],
        kind="replace",
        submit=True,
        title="Annual reporting",
        text="Organizations may receive donations, grants and membership fees from any lawful source. All income, whatever its origin, shall be reported once a year in the public report.",
        rationale="Quarterly reports only for foreign funding single out and burden organizations without a public-interest reason.",
    )

    if len(users) >= 4:
        c1 = await comments.create_comment(ctx, aid, d(5).id, provision=pids["3"], amendment=None, parent=None, stance="for", text="Clear deadlines protect both applicants and officials.")
        await comments.create_comment(ctx, aid, d(6).id, provision=None, amendment=None, parent=c1["id"], stance="neutral", text="Do we know how long registration takes today on average?")
        await comments.create_comment(
            ctx,
            aid,
            d(7).id,
            provision=None,
            amendment=silence["id"],
            parent=None,
            stance="against",
            text="Registration by default could let through organizations with incomplete founding documents.",
        )
        await comments.create_comment(
            ctx, aid, d(8).id, provision=pids["4"], amendment=None, parent=None, stance="against", text="Quarterly foreign-funding reports are a heavy burden for volunteer-run groups."
        )
        backer = d(4)  # any delegate but the appeal's author, d(3)
        await amendments.cosponsor(ctx, appeal["id"], backer.id, backer.username)

    # Voting (issue #4): the first item moves to its voting phase with a draft election on Article 3
    # (its admitted amendments and status_quo, Schulze, live). The chair opens it once the
    # delegates have registered keys and the registrar has approved them.
    from voting import elections

    await agenda.set_phase(ctx, item1["id"], mod.username, "voting")
    election = await elections.create_election(
        ctx, item1["id"], mod.username, {"kind": "amendments", "provision": pids["3"], "method": "schulze", "visibility": "live", "title": "Article 3: Registration"}
    )

    return {
        "assembly": aid,
        "election": election["id"],
        "moderator": {"username": mod.username, "password": mod_pw},
        "delegates": creds,
    }
