"""Open elections: `verify_election` on an open bundle.

Elections are built with the pure core alone (tests/unit/synthetic_election.py plays the server).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import pytest

from tests.unit.synthetic_election import (
    OPENED_MS,
    SyntheticElection,
    build_election,
    sign_result,
    sign_tree,
)
from voting.core.keys import Signer, sign_object
from voting.verifier import Bundle, verify_election

A12, A13, SQ = "amendment-12", "amendment-13", "status_quo"
BALLOTS = [
    (0, 1, [A12, SQ]),
    (1, 1, [A13]),
    (2, 1, []),
    (0, 2, [A13, A12]),  # a revote
    (3, 1, [SQ, A12, A13]),
    (4, 1, [A12]),
    (1, 3, [A12, A13]),
    (5, 1, [A13, SQ]),
    (2, 2, [SQ]),
]
TALLY_FIELDS = ("counted", "ranking", "winner", "ties_broken", "details")


@pytest.fixture(scope="module")
def good() -> SyntheticElection:
    return build_election(ballots=BALLOTS, weights=[1, 2, 1, 3, 1, 1])


def checks(failures: Sequence[Any]) -> list[tuple[str, int | None]]:
    return [(f.check, f.seq) for f in failures]


def messages(failures: Sequence[Any]) -> str:
    return "\n".join(str(f) for f in failures)


def head(e: SyntheticElection, board: list[dict[str, Any]], n: int, *, signer: Signer | None = None,
         election_id: str | None = None) -> dict[str, Any]:
    """The server's signed tree head over the first n leaves of ``board`` (timestamp n ms after opening)."""
    env = sign_tree(e.server, election_id or e.election_id, board[:n], OPENED_MS + n)
    return sign_object(signer, env["signed"]) if signer is not None else env


def open_bundle(e: SyntheticElection, board: list[dict[str, Any]], n: int, tally: Any = None) -> Bundle:
    return e.bundle(board=board[:n], sth=head(e, board, n), result=None, open=True, tally=tally)


def live_tally(e: SyntheticElection, n: int, board: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The live tally the server would publish over the first n leaves (its fields from the recount)."""
    board = board if board is not None else e.board
    report = verify_election(open_bundle(e, board, n), workers=1)
    assert report.ok
    counted = sign_result(e.server, e.election, e.roll, board[:n], head(e, board, n)["signed"])["signed"]
    return {"election": e.election_id, "tree_size": n, "root_hash": report.summary.root_hash,
            **{k: counted[k] for k in TALLY_FIELDS}}


# --- verify_election on an open election --------------------------------------------------------


def test_open_election_verifies_up_to_its_tree_head(good):
    for n in (0, 1, 4, len(good.board)):
        report = verify_election(open_bundle(good, good.board, n, live_tally(good, n)), workers=1)
        assert report.ok, messages(report.failures)
        s = report.summary
        assert s.open and s.ballots == s.tree_size == n
        assert s.root_hash == head(good, good.board, n)["signed"]["root_hash"]
    final = verify_election(open_bundle(good, good.board, len(good.board)), workers=1).summary
    closed = verify_election(good.bundle(), workers=1).summary
    assert (final.counted, final.winner, final.ranking) == (closed.counted, closed.winner, closed.ranking)
    assert not closed.open


def test_a_closed_election_still_needs_its_result(good):
    report = verify_election(good.bundle(result=None))
    assert checks(report.failures) == [("result", None)] and not report.summary.open


def test_open_election_checks_every_leaf(good):
    board = copy.deepcopy(good.board)
    board[2]["ballot"]["signed"]["ranking"] = [A12]  # the signature no longer covers it
    report = verify_election(open_bundle(good, board, 5), workers=1)
    assert checks(report.failures) == [("ballot.signature", 2)]
    report = verify_election(good.bundle(board=good.board[:4], sth=head(good, good.board, 5), result=None, open=True))
    assert ("sth.tree_size", None) in checks(report.failures)


@pytest.mark.parametrize(("field", "value", "check"), [
    ("winner", "another", "tally.winner"),
    ("counted", 99, "tally.counted"),
    ("ranking", "reversed", "tally.ranking"),
    ("details", {}, "tally.details"),
    ("root_hash", "00" * 32, "tally.root_hash"),
    ("tree_size", 5, "tally.tree_size"),
    ("tree_size", True, "tally.tree_size"),
    ("counted", 1.5, "tally.counted"),
])
def test_open_election_live_tally_must_equal_the_recount(good, field, value, check):
    tally = live_tally(good, 6)
    if value == "another":
        value = next(o for o in (A12, A13, SQ) if o != tally["winner"])
    elif value == "reversed":
        value = tally["ranking"][::-1]
    tally[field] = value
    report = verify_election(open_bundle(good, good.board, 6, tally), workers=1)
    assert checks(report.failures) == [(check, None)], messages(report.failures)
    if check not in ("tally.root_hash", "tally.tree_size"):
        assert "the server's live tally says" in messages(report.failures)


def test_open_election_malformed_tally(good):
    tally = live_tally(good, 6)
    del tally["ties_broken"]
    for bad in (tally, ["not", "a", "tally"], None):
        report = verify_election(open_bundle(good, good.board, 6, bad or "x"), workers=1)
        assert checks(report.failures) == [("tally.fields", None)]
