"""Helpers for the voting API tests: voters with real Ed25519 keys, signed ballots, an election."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from tests.conftest import World
from voting.core.encoding import b64u_encode
from voting.core.keys import Signer, sign_object


@dataclass
class Voter:
    name: str
    signer: Signer

    @property
    def key_id(self) -> str:
        return self.signer.key_id

    def ballot(self, election_env: dict[str, Any], ranking: list[str], revision: int = 1, **override: Any) -> dict[str, Any]:
        signed = {
            "v": 1,
            "type": "ballot",
            "election": election_env["signed"]["id"],
            "election_digest": override.pop("election_digest", None) or _digest(election_env),
            "voter": self.key_id,
            "revision": revision,
            "ranking": ranking,
            "nonce": b64u_encode(os.urandom(16)),
        }
        signed.update(override)
        return sign_object(self.signer, signed)


def _digest(election_env: dict[str, Any]) -> str:
    from voting.core.signed import digest

    return digest(election_env["signed"])


async def register_and_approve(w: World, who: str) -> Voter:
    voter = Voter(who, Signer.generate())
    r = await w.ok("POST", "/api/me/keys", who, {"assembly": w.assembly, "public_key": b64u_encode(voter.signer.public_key_raw)}, status=201)
    assert r == {"key_id": voter.key_id, "status": "pending"}
    await w.ok("POST", f"/api/assemblies/{w.assembly}/keys/{voter.key_id}/approve", "moderator")
    return voter


async def admitted_amendments(w: World, texts: list[str]) -> list[int]:
    ids = []
    for text in texts:
        a = await w.ok("POST", f"/api/assemblies/{w.assembly}/amendments", "delegate", {"provision": w.provisions[0], "kind": "replace", "text": text, "submit": True, "title": text[:20]}, status=201)
        await w.ok("POST", f"/api/amendments/{a['id']}/admit", "moderator", {})
        ids.append(a["id"])
    return ids


async def to_voting(w: World) -> None:
    for phase in ("debate", "amendments", "voting"):
        await w.ok("POST", f"/api/agenda/{w.item}/phase", "moderator", {"phase": phase})


async def open_amendment_election(
    w: World, *, method: str = "schulze", visibility: str = "live", voters: tuple[str, ...] = ("delegate", "delegate2")
) -> tuple[str, dict[str, Any], list[Voter], list[int]]:
    amendments = await admitted_amendments(w, ["The first provision text, amended.", "A wholly new first provision."])
    registered = [await register_and_approve(w, v) for v in voters]
    await to_voting(w)
    e = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", {"provision": w.provisions[0], "method": method, "visibility": visibility}, status=201)
    opened = await w.ok("POST", f"/api/elections/{e['id']}/open", "moderator")
    return e["id"], opened["election"], registered, amendments
