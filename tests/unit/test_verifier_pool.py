"""The verifier's board on worker processes: the same report as in-process, no leaked process.

`verify_election` checks a large board in chunks on forked worker processes and merges their
results in seq order; `workers=1` (and any board under POOL_MIN_LEAVES) checks it in-process.
These tests force the pool on small boards with small chunks and compare the two reports,
failures (check, message, seq, in order) and summary alike, on tampered elections.
"""

from __future__ import annotations

import copy
import json
import multiprocessing
from typing import Any

import msgspec
import pytest

import voting.core.board_checks as board_checks
import voting.core.leaves as core_leaves
import voting.verifier as verifier
from tests.unit.board_file_helpers import dead_workers  # noqa: F401 (a fixture)
from tests.unit.synthetic_election import SyntheticElection, build_election, make_ballot, rebuild_tail
from tests.unit.test_merkle import ref_mth
from voting.core.encoding import jcs
from voting.core.errors import MalformedError
from voting.core.keys import Signer
from voting.core.merkle import compute_root, leaf_hash
from voting.core.signed import make_leaf
from voting.verifier import Bundle, Report, verify_election

A12, A13, SQ = "amendment-12", "amendment-13", "status_quo"


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """Boards of any size on the pool, in chunks of 4 leaves."""
    monkeypatch.setattr(verifier.parallel, "POOL_MIN_LEAVES", 0)
    monkeypatch.setattr(verifier.parallel, "CHUNK_SIZE", 4)


def both(bundle: Bundle, *, on_pool: bool = True) -> tuple[Report, Report]:
    """(in-process report, pool report); asserts that the pool was used and is gone."""
    started: list[bool] = []
    start = verifier.parallel._BoardCheck.start

    def spy(self: verifier.parallel._BoardCheck, leaves: Any, workers: int) -> None:
        start(self, leaves, workers)
        started.append(self.pool is not None)

    verifier.parallel._BoardCheck.start = spy  # type: ignore[method-assign]
    try:
        inline = verify_election(bundle, workers=1)
        pooled = verify_election(bundle, workers=2)
    finally:
        verifier.parallel._BoardCheck.start = start  # type: ignore[method-assign]
    assert started == [False, on_pool]
    assert multiprocessing.active_children() == []
    assert not verifier.parallel._SCANS
    return inline, pooled


def election(n: int = 23) -> SyntheticElection:
    rankings = [[A12, SQ], [A13], [], [SQ, A12, A13], [A12]]
    return build_election(n_voters=8, ballots=[(i % 8, 1 + i // 8, rankings[i % 5]) for i in range(n)])


def test_good_board_same_report(pool):
    inline, pooled = both(election().bundle())
    assert inline.ok and pooled == inline


def test_tampered_board_same_failures_and_seqs(pool):
    e = election()
    board = copy.deepcopy(e.board)
    board[3]["ballot"]["signature"] = board[2]["ballot"]["signature"]  # a bad signature
    board[5]["seq"] = 50  # a wrong position
    board[9]["ballot"] = make_ballot(e.voters[1], e.election_id, e.election_digest, 1, [A12])  # a stale revision
    board[11]["ballot"] = make_ballot(e.voters[3], e.election_id, e.election_digest, 2, [A12, "nope"])
    board[12]["ballot"] = make_ballot(e.voters[4], "43", "ab" * 32, 2, [A12, A12])  # 3 failures at once
    board[14] = {**board[14], "extra": 1}  # malformed
    stranger = Signer.from_private_bytes(b"\x55" * 32)
    board[17]["ballot"] = make_ballot(stranger, e.election_id, e.election_digest, 1, [A13])
    board[18]["ballot"]["signature"] = board[19]["ballot"]["signature"]
    board.append(make_leaf(23, make_ballot(e.voters[0], e.election_id, e.election_digest, 99, [SQ]), "2026-11-19T10:00:00.000Z"))
    inline, pooled = both(rebuild_tail(e, board, skip=[3, 5, 9, 11, 12, 14, 17, 18]).bundle())
    assert pooled == inline
    found = [(f.check, f.seq) for f in pooled.failures]
    assert found == [
        ("leaf.seq", 5),
        ("ballot.revision", 9),
        ("ballot.unknown_option", 11),
        ("ballot.election", 12),
        ("ballot.election", 12),
        ("ballot.duplicate_option", 12),
        ("leaf.malformed", 14),
        ("ballot.not_on_roll", 17),
        ("ballot.signature", 3),
        ("ballot.signature", 18),
    ]


def test_unhashable_leaf_same_report(pool):
    e = election()
    board = copy.deepcopy(e.board)
    board[6]["seq"] = 6.0  # cannot be canonicalized: no root
    board[20] = "not a leaf"
    inline, pooled = both(e.bundle(board=board))
    assert pooled == inline
    assert ("board.root_hash", None) in [(f.check, f.seq) for f in pooled.failures]
    assert pooled.summary.root_hash is None


def test_roll_that_differs_from_the_published_keys(pool, monkeypatch):
    """A voter whose last roll entry is unusable: the workers checked with that entry's key, the
    merge re-checks with the usable one."""
    rechecked: list[int] = []
    check = board_checks.leaf_signature_problem
    monkeypatch.setattr(board_checks, "leaf_signature_problem", lambda obj, seq, key: rechecked.append(seq) or check(obj, seq, key))
    e = election()
    roll = copy.deepcopy(e.roll)
    voters = roll["signed"]["voters"]
    other = Signer.from_private_bytes(b"\x44" * 32)
    voters.insert(3, {**voters[2], "public_key": other.public_key_b64u})  # a duplicate, with the wrong key
    voters.insert(6, {**voters[5], "public_key": "!!"})  # a duplicate, undecodable
    inline, pooled = both(e.bundle(roll=e.resign(roll)))
    assert pooled == inline
    checks = {f.check for f in pooled.failures}
    assert "ballot.signature" not in checks and {"roll.voter", "election.roll_digest"} <= checks
    assert rechecked and len(rechecked) % 2 == 0  # the same leaves, in both runs


def test_missing_roll_and_election_same_report(pool):
    e = election()
    for changes in ({"roll": None}, {"election": None}, {"roll": {"v": 1}}, {"board": {"not": "a list"}}):
        inline, pooled = both(e.bundle(**changes), on_pool="board" not in changes)
        assert pooled == inline and not pooled.ok


def test_yes_no_on_the_pool(pool):
    ballots = [(i % 5, 1 + i // 5, [["yes"], ["no"], [], ["abstain"]][i % 4]) for i in range(13)]
    e = build_election(method="yes_no", options=("yes", "no", "abstain"), ballots=ballots, rule={"majority": "simple", "quorum_percent": 10})
    inline, pooled = both(e.bundle())
    assert inline.ok and pooled == inline


def test_progress_from_the_pool(pool):
    seen: list[int] = []
    assert verify_election(election().bundle(), workers=2, progress=seen.append).ok
    assert sum(seen) == 23 and len(seen) == 6


def test_interrupted_verification_leaves_no_process(pool):
    def interrupt(n: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        verify_election(election().bundle(), workers=2, progress=interrupt)
    assert multiprocessing.active_children() == []
    assert not verifier.parallel._SCANS


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33, 100])
@pytest.mark.parametrize("chunk", [1, 2, 4, 8])
def test_chunk_roots_make_the_tree_root(n, chunk):
    hashes = [leaf_hash(bytes([i])) for i in range(n)]
    roots = [compute_root(hashes[lo : lo + chunk]) for lo in range(0, n, chunk)]
    assert compute_root(roots) == compute_root(hashes) == ref_mth(hashes)  # the plain recursive definition


def test_msgspec_writes_strings_as_json_does():
    """The fast path's premise: msgspec's sorted output is `json`'s, code point by code point."""
    encoder = msgspec.json.Encoder(order="sorted")
    points = [*range(0xD800), *range(0xE000, 0x110000)]
    for lo in range(0, len(points), 4096):
        text = "".join(map(chr, points[lo : lo + 4096]))
        value = {"b": [text, 1, -9007199254740991], "a": {"z": text[:7], "y": None, "x": True}}
        assert encoder.encode(value) == json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
    with pytest.raises(UnicodeEncodeError):
        encoder.encode({"a": "\ud800"})


@pytest.mark.parametrize("field", ["election", "election_digest", "voter", "revision", "nonce", "v", "type"])
def test_fast_leaf_declines_what_only_msgspec_writes_as_json(field):
    """msgspec writes more than plain JSON types (raw JSON, bytes, UUIDs...): not a leaf."""
    e = election(1)
    leaf = copy.deepcopy(e.board[0])
    assert core_leaves.fast_leaf(leaf) is not None
    signed = leaf["ballot"]["signed"]
    signed[field] = msgspec.Raw(json.dumps(signed[field]).encode())
    assert core_leaves.fast_leaf(leaf) is None
    signed[field] = msgspec.json.decode(signed[field])
    assert core_leaves.fast_leaf(leaf) is not None


def _roll(voters: list[Any], **extra: Any) -> dict[str, Any]:
    return {"v": 1, "type": "roll", "election": "42", "voters": voters, **extra}


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"weight": 2**53 - 1},
        {"weight": -5},
        {"weight": 2**53},
        {"weight": 1.0},
        {"weight": True},
        {"key_id": '\u00e9\u2028"\\\x01'},
        {"key_id": "\ud800"},
        {"note": 1},
        {"weight": None},
    ],
)
@pytest.mark.parametrize("top", [{}, {"n\u00e9": 1}, {"x": 1.5}, {"x": {"\u00e9": [1, {"b": 2, "a": 3}]}}])
def test_canonical_roll_is_jcs(change, top):
    """The roll's fast canonical form is `jcs`, or `jcs`'s error."""
    signer = Signer.from_private_bytes(b"\x01" * 32)
    entry = {"key_id": signer.key_id, "public_key": signer.public_key_b64u, "weight": 1}
    voters = [dict(entry) for _ in range(40)]
    voters[17].update(change)
    signed = _roll(voters, **top)
    try:
        want: bytes | str = jcs(signed)
    except MalformedError as exc:
        want = str(exc)
    try:
        got: bytes | str = verifier.checks._canonical(signed)
    except MalformedError as exc:
        got = str(exc)
    assert got == want


def test_a_worker_that_dies_costs_no_check(pool, dead_workers):
    """A dead worker breaks the pool: the chunks not yet returned are checked in-process."""
    bundle = election(40).bundle()
    report = verify_election(bundle, workers=2)
    assert dead_workers == list(range(0, 40, 4))
    assert multiprocessing.active_children() == []
    assert report == verify_election(bundle, workers=1)


def test_no_pool_is_no_problem(pool, monkeypatch):
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("daemonic processes are not allowed to have children")

    monkeypatch.setattr(verifier.parallel, "ProcessPoolExecutor", refuse)
    bundle = election().bundle()
    assert verify_election(bundle, workers=2) == verify_election(bundle, workers=1)
