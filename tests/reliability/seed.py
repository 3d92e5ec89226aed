"""Seed a data directory (or PostgreSQL database) for tests that run a real `kurultai serve`:
one user per role with a bearer token, an agenda item in its voting phase with two admitted
amendments, N voters with approved keys, and an amendment election (Schulze, live), opened or not.

Run as `python -m tests.reliability.seed VOTERS [--draft]` with the KURULTAI_* environment of the
server; prints one JSON object (tokens, voter private keys as hex: test data only).
"""

from __future__ import annotations

import json
import sys
from typing import Any

ROLE_USERS = (("admin", None), ("moderator", "moderator"), ("observer", "observer"), ("delegate", "delegate"), ("outsider", "delegate"))


async def build(ctx: Any, signer: Any, voters: int, open_election: bool = True) -> dict[str, Any]:
    from deliberation import accounts, agenda, amendments, assemblies, draft
    from voting import elections, keys
    from voting.core.keys import Signer

    a = (await assemblies.create_assembly(ctx, "seed", title="Seeded assembly"))["id"]
    b = (await assemblies.create_assembly(ctx, "seed", title="Other assembly"))["id"]
    tokens: dict[str, str] = {}
    users: dict[str, Any] = {}
    for name, role in ROLE_USERS:
        user = await accounts.create_user(ctx, name, None, is_admin=(name == "admin"))
        users[name] = user
        if role:
            await assemblies.set_member(ctx, b if name == "outsider" else a, "seed", name, role)
        tokens[name], _ = await accounts.issue_token(ctx, user.id, "bearer", 24 * 3_600_000)
    p = await draft.add_provision(ctx, a, "seed", number="1", kind="article", title="One", text="The first provision.", after=None)
    item = await agenda.create_item(ctx, a, "seed", title="Item one", provisions=[p["id"]])
    for phase in ("debate", "amendments"):
        await agenda.set_phase(ctx, item["id"], "moderator", phase)
    d = users["delegate"]
    for text in ("The first provision, amended.", "A new first provision."):
        m = await amendments.create_amendment(ctx, a, d.id, d.username, provision=p["id"], kind="replace", submit=True, title=text[:20], text=text)
        await amendments.moderator_action(ctx, m["id"], "moderator", "admit")
    await agenda.set_phase(ctx, item["id"], "moderator", "voting")
    roll = []
    for i in range(voters):
        name = f"voter{i:04d}"
        user = await accounts.create_user(ctx, name, None)
        await assemblies.set_member(ctx, a, "seed", name, "delegate")
        s = Signer.generate()
        kid = (await keys.register(ctx, a, user.id, name, s.public_key_b64u))["key_id"]
        await keys.decide(ctx, a, kid, "moderator", "approve")
        roll.append({"key_id": kid, "private_key": s.private_bytes().hex()})
    e = await elections.create_election(ctx, item["id"], "moderator", {"kind": "amendments", "provision": p["id"], "method": "schulze", "visibility": "live"})
    election = None
    if open_election:
        election = (await elections.open_election(ctx, signer, int(e["id"]), "moderator"))["election"]
    return {"assembly": a, "other_assembly": b, "item": item["id"], "provision": p["id"], "election": e["id"], "election_envelope": election, "tokens": tokens, "voters": roll}


def main() -> None:
    from kurultai.cli import _run
    from kurultai.settings import Settings
    from voting.server_key import load_or_create

    settings = Settings.from_env()
    voters = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    signer = load_or_create(settings.data_dir)
    print(json.dumps(_run(settings, lambda ctx: build(ctx, signer, voters, "--draft" not in sys.argv))))


if __name__ == "__main__":
    main()
