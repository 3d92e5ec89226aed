"""The register of a named vote (issue #17): who on the roll has voted, by name.

A vote is secret unless the chair made it named before it opened (`election.named`, unsigned
metadata, migrations/m0015). The signed roll and the board name keys only; which member holds
which key is known to the server (the registrar approved each key for a member), and for a
named vote the server states it here: every member on the roll, with how many of their
ballots the board holds and the highest revision (the one counted). An outside verifier can
check the counts against the board key by key, but not that a key is that member's: the
register is the server's statement. A secret vote has no register, anywhere.
"""

from __future__ import annotations

import json
from typing import Any

from voting.board import stored_roll
from voting.core.errors import VotingError
from voting.tables import DelegateKey, Leaf


class ElectionSecret(VotingError):
    """The register of a secret vote was asked for: there is none."""

    code = "election_secret"


async def register(row: dict[str, Any], *, leaves: int | None = None) -> dict[str, Any]:
    """The register of the election whose row this is (`voting.elections.require_row`); with
    `leaves`, of the board's first `leaves` leaves only (a copy of the board read before, so that
    the two agree while the vote is open: the open-data archive).

    Raises `ElectionSecret` for a secret vote and `election_not_open` for a named draft (its
    roll is frozen when it opens)."""
    eid = row["id"]
    if not row.get("named"):
        raise ElectionSecret(f"election {eid} is secret: who has voted is published only for named votes")
    text = await stored_roll(eid) if row["status"] != "draft" else ""
    if not text:
        raise VotingError(f"election {eid} is a draft; its register starts when it opens", code="election_not_open")
    on_roll = [v["key_id"] for v in json.loads(text)["signed"]["voters"]]
    holders = {
        r["key_id"]: r
        for r in await DelegateKey.select(
            DelegateKey.key_id,
            DelegateKey.user.username.as_alias("username"),
            DelegateKey.user.display_name.as_alias("display_name"),
        ).where((DelegateKey.assembly == row["assembly"]) & DelegateKey.key_id.is_in(on_roll or [""]))
    }
    below = 2**62 if leaves is None else leaves  # every seq, or those of the copy's leaves
    counts = {
        r["voter"]: (r["ballots"], r["revision"])
        for r in await Leaf.raw("SELECT voter, COUNT(*) AS ballots, MAX(revision) AS revision FROM board_leaf WHERE election = {} AND seq < {} GROUP BY voter", eid, below)
    }
    entries = []
    for key_id in on_roll:
        holder = holders.get(key_id)
        username = holder["username"] if holder else ""
        ballots, revision = counts.get(key_id, (0, None))
        entries.append(
            {
                "username": username,
                "display_name": (holder["display_name"] if holder else "") or username or key_id[:12],
                "key_id": key_id,
                "ballots": int(ballots),
                "revision": int(revision) if revision is not None else None,
            }
        )
    entries.sort(key=lambda e: (e["display_name"].casefold(), e["username"]))
    return {
        "election": str(eid),
        "status": row["status"],
        "voted": sum(1 for e in entries if e["ballots"]),
        "roll_size": len(entries),
        "entries": entries,
    }
