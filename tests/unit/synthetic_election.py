"""Complete signed elections built with the pure core alone, for the verifier's tests and bench.

`build_election(...)` plays the server: it signs an election and its roll, accepts the given
ballots as leaves in order, signs the tree head and the result (counted with `compute_result`),
and returns everything as the parsed JSON a verifier receives. `SyntheticElection.resign`
re-signs a tampered server object so that a test can isolate one check.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from voting.core.counting import Rule, WeightedBallot, compute_result
from voting.core.encoding import b64u_encode, format_time
from voting.core.keys import Signer, sign_object
from voting.core.merkle import compute_root
from voting.core.signed import compute_leaf_hash, digest, make_leaf
from voting.verifier import Bundle

OPENED_MS = 1_795_000_000_000  # 2026-11-19


@dataclass
class SyntheticElection:
    server: Signer
    voters: list[Signer]  # in roll order (sorted by key_id)
    election: dict[str, Any]  # envelopes
    roll: dict[str, Any]
    board: list[dict[str, Any]]  # leaf objects
    sth: dict[str, Any]
    result: dict[str, Any]

    @property
    def election_id(self) -> str:
        return self.election["signed"]["id"]

    @property
    def election_digest(self) -> str:
        return digest(self.election["signed"])

    def resign(self, envelope: dict[str, Any], signer: Signer | None = None) -> dict[str, Any]:
        """The envelope with its signed object signed again (by the server unless told)."""
        return sign_object(signer or self.server, envelope["signed"])

    def bundle(self, **changes: Any) -> Bundle:
        fields = {"election": self.election, "roll": self.roll, "board": self.board, "sth": self.sth, "result": self.result, "server_public_key": self.server.public_key_raw}
        fields.update(changes)
        return Bundle(**fields)


def make_ballot(voter: Signer, election_id: str, election_digest: str, revision: int, ranking: Sequence[str], nonce: bytes | None = None) -> dict[str, Any]:
    """A signed ballot envelope."""
    signed = {
        "v": 1,
        "type": "ballot",
        "election": election_id,
        "election_digest": election_digest,
        "voter": voter.key_id,
        "revision": revision,
        "ranking": list(ranking),
        "nonce": b64u_encode(nonce if nonce is not None else os.urandom(16)),
    }
    return sign_object(voter, signed)


def sign_tree(server: Signer, election_id: str, board: list[dict[str, Any]], timestamp_ms: int) -> dict[str, Any]:
    root = compute_root([compute_leaf_hash(leaf) for leaf in board])
    return sign_object(server, {"v": 1, "type": "sth", "election": election_id, "tree_size": len(board), "root_hash": root.hex(), "timestamp": format_time(timestamp_ms)})


def count(election_signed: dict[str, Any], roll_signed: dict[str, Any], board: list[dict[str, Any]]) -> dict[str, Any]:
    """The honest count: each voter's highest revision, weighted by the roll."""
    weights = {v["key_id"]: v["weight"] for v in roll_signed["voters"]}
    latest: dict[str, tuple[int, list[str]]] = {}
    for leaf in board:
        s = leaf["ballot"]["signed"]
        if s["voter"] not in latest or s["revision"] > latest[s["voter"]][0]:
            latest[s["voter"]] = (s["revision"], s["ranking"])
    ballots = [WeightedBallot(tuple(r), weights[v]) for v, (_, r) in latest.items()]
    rule = election_signed.get("rule")
    return compute_result(election_signed["method"], [o["id"] for o in election_signed["options"]], ballots, rule=Rule(**rule) if rule else None, roll_weight=sum(weights.values()))


def sign_result(server: Signer, election: dict[str, Any], roll: dict[str, Any], board: list[dict[str, Any]], sth_signed: dict[str, Any], *, skip: Sequence[int] = ()) -> dict[str, Any]:
    """The result over ``board``, counting every leaf but those at the seqs in ``skip``."""
    counted = count(election["signed"], roll["signed"], [leaf for i, leaf in enumerate(board) if i not in skip])
    signed = {
        "v": 1,
        "type": "result",
        "election": election["signed"]["id"],
        "election_digest": digest(election["signed"]),
        "tree_size": sth_signed["tree_size"],
        "root_hash": sth_signed["root_hash"],
        **counted,
    }
    return sign_object(server, signed)


def build_election(
    *,
    n_voters: int = 6,
    options: Sequence[str] = ("amendment-12", "amendment-13", "status_quo"),
    method: str = "schulze",
    rule: dict[str, Any] | None = None,
    weights: Sequence[int] | None = None,
    ballots: Sequence[tuple[int, int, Sequence[str]]] = (),
    election_id: str = "42",
    voters: Sequence[Signer] | None = None,
    extra_roll_entries: Sequence[dict[str, Any]] = (),
    server: Signer | None = None,
) -> SyntheticElection:
    """An election with ``ballots`` as ``(voter index in roll order, revision, ranking)``, closed."""
    server = server or Signer.from_private_bytes(b"\x07" * 32)
    signers = sorted(voters or [Signer.from_private_bytes(bytes([i + 1]) * 32) for i in range(n_voters)], key=lambda s: s.key_id)
    weights = list(weights) if weights is not None else [1] * len(signers)
    entries = [{"key_id": s.key_id, "public_key": s.public_key_b64u, "weight": w} for s, w in zip(signers, weights)]
    entries = sorted([*entries, *extra_roll_entries], key=lambda e: e["key_id"])
    roll = sign_object(server, {"v": 1, "type": "roll", "election": election_id, "voters": entries})
    election_signed: dict[str, Any] = {
        "v": 1,
        "type": "election",
        "id": election_id,
        "assembly": "3",
        "agenda_item": "7",
        "title": "Article 2: amendments",
        "options": [{"id": o, "label": o.replace("-", " ")} for o in options],
        "method": method,
        "visibility": "live",
        "roll_digest": digest(roll["signed"]),
        "opened_at": format_time(OPENED_MS),
    }
    if rule is not None:
        election_signed["rule"] = rule
    election = sign_object(server, election_signed)
    el_digest = digest(election_signed)
    board = [make_leaf(seq, make_ballot(signers[i], election_id, el_digest, revision, ranking), format_time(OPENED_MS + 1000 + seq)) for seq, (i, revision, ranking) in enumerate(ballots)]
    sth = sign_tree(server, election_id, board, OPENED_MS + 10_000_000)
    result = sign_result(server, election, roll, board, sth["signed"])
    return SyntheticElection(server, signers, election, roll, board, sth, result)


def rebuild_tail(e: SyntheticElection, board: list[dict[str, Any]], *, skip: Sequence[int] = ()) -> SyntheticElection:
    """The same election with another board, and a tree head and result the server signed over it.

    ``skip``: seqs of leaves the count leaves out (the invalid ones a test plants).
    """
    sth = sign_tree(e.server, e.election_id, board, OPENED_MS + 10_000_000)
    result = sign_result(e.server, e.election, e.roll, board, sth["signed"], skip=skip)
    return SyntheticElection(e.server, e.voters, e.election, e.roll, board, sth, result)
