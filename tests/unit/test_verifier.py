"""The independent verifier: good elections pass, every kind of tampering fails with its message.

Elections are built here with the pure core alone (tests/unit/synthetic_election.py plays the
server), then tampered with; a server object is re-signed when a test isolates one check.
"""

from __future__ import annotations

import copy
import json
import os
import random
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.synthetic_election import (
    SyntheticElection,
    build_election,
    make_ballot,
    rebuild_tail,
    sign_result,
    sign_tree,
)
from voting.client import parse_board, read_bundle, write_bundle
from voting.client_cli import keygen, load_signer, verify
from voting.core.encoding import b64u_encode, jcs, parse_json_strict
from voting.core.errors import BadKeyError, MalformedError
from voting.core.keys import SMALL_ORDER_KEYS, Signer, check_public_key, check_public_key_encoding, key_id, sign_object
from voting.core.leaves import fast_leaf as _fast_leaf
from voting.core.signed import compute_leaf_hash, make_leaf
from voting.verifier import Bundle, Report, verify_election

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "ed25519"
A12, A13, SQ = "amendment-12", "amendment-13", "status_quo"
BALLOTS = [
    (0, 1, [A12, SQ]),
    (1, 1, [A13]),
    (2, 1, []),  # an abstention
    (0, 2, [A13, A12]),  # a revote
    (3, 1, [SQ, A12, A13]),
    (4, 1, [A12]),
    (1, 3, [A12, A13]),  # revisions need only increase
]


@pytest.fixture(scope="module")
def good() -> SyntheticElection:
    return build_election(ballots=BALLOTS, weights=[1, 2, 1, 3, 1, 1])


def checks(report: Report) -> list[tuple[str, int | None]]:
    return [(f.check, f.seq) for f in report.failures]


def messages(report: Report) -> str:
    return "\n".join(str(f) for f in report.failures)


def tampered_leaf(e: SyntheticElection, seq: int, **signed_changes: Any) -> dict[str, Any]:
    leaf = copy.deepcopy(e.board[seq])
    leaf["ballot"]["signed"].update(signed_changes)
    return leaf


def with_board(e: SyntheticElection, board: list[dict[str, Any]], *invalid: int) -> Bundle:
    """The tampered board with a tree head and a result the server signed over it, the result
    counting every leaf but the ``invalid`` ones: only the leaf checks can fail."""
    return rebuild_tail(e, board, skip=invalid).bundle()


def _signed_tree_only(e: SyntheticElection, board: list[dict[str, Any]]) -> Bundle:
    sth = sign_tree(e.server, e.election_id, board, 1)
    return e.bundle(board=board, sth=sth)


# --- good elections ------------------------------------------------------------------------


def test_good_election_passes(good):
    report = verify_election(good.bundle())
    assert report.ok, messages(report)
    s = report.summary
    assert (s.election, s.method, s.ballots, s.voters, s.counted) == ("42", "schulze", 7, 6, 5)
    assert s.winner == good.result["signed"]["winner"]
    assert s.tree_size == 7 and s.root_hash == good.sth["signed"]["root_hash"]


@pytest.mark.parametrize("method", ["schulze", "ranked_pairs", "irv", "borda", "plurality"])
def test_every_ranked_method_passes(method):
    e = build_election(method=method, ballots=BALLOTS, weights=[2, 1, 1, 1, 5, 1])
    assert verify_election(e.bundle()).ok


@pytest.mark.parametrize("majority", ["simple", "absolute", "two_thirds"])
def test_yes_no_passes(majority):
    ballots = [(0, 1, ["yes"]), (1, 1, ["no"]), (2, 1, []), (3, 1, ["abstain"]), (0, 2, ["no"]), (4, 1, ["yes"])]
    e = build_election(method="yes_no", options=("yes", "no", "abstain"), ballots=ballots, rule={"majority": majority, "quorum_percent": 60})
    report = verify_election(e.bundle(), workers=1)
    assert report.ok, messages(report)
    assert report.summary.counted == 5


def test_empty_board_passes():
    assert verify_election(build_election().bundle()).ok


def test_many_chunks_and_a_bad_signature_in_the_middle(monkeypatch):
    import voting.verifier as verifier

    monkeypatch.setattr(verifier.parallel, "CHUNK_SIZE", 3)
    ballots = [(i % 6, 1 + i // 6, [A12] if i % 2 else [A13, SQ]) for i in range(30)]
    e = build_election(ballots=ballots)
    seen: list[int] = []
    assert verify_election(e.bundle(), workers=2, progress=seen.append).ok
    assert seen == [2] * 15  # chunks of 2 leaves (3, rounded down to a power of two)
    board = copy.deepcopy(e.board)
    board[17]["ballot"]["signature"] = board[16]["ballot"]["signature"]
    report = verify_election(rebuild_tail(e, board, skip=[17]).bundle())
    assert checks(report) == [("ballot.signature", 17)]
    assert "signature does not verify" in messages(report)


# --- tampering: the board ----------------------------------------------------------------------


def test_changed_ballot(good):
    board = [*good.board]
    board[1] = tampered_leaf(good, 1, ranking=[A12])  # the signature no longer covers it
    report = verify_election(good.bundle(board=board))
    assert ("ballot.signature", 1) in checks(report)
    assert ("sth.root_hash", None) in checks(report) and ("result.root_hash", None) in checks(report)


def test_changed_ballot_with_an_honest_looking_tree(good):
    board = [*good.board]
    board[1] = tampered_leaf(good, 1, ranking=[A12])
    report = verify_election(with_board(good, board, 1))
    assert checks(report) == [("ballot.signature", 1)]


def test_dropped_leaf(good):
    board = good.board[:3] + good.board[4:]
    report = verify_election(good.bundle(board=board))
    found = checks(report)
    assert ("leaf.seq", 3) in found  # the leaf after the gap has the wrong position
    assert ("sth.tree_size", None) in found and ("result.tree_size", None) in found
    assert "want 6 (the leaves on the board), got 7" in messages(report)


def test_dropped_last_leaf_is_caught_by_the_tree_head(good):
    report = verify_election(good.bundle(board=good.board[:-1]))
    assert ("sth.tree_size", None) in checks(report)
    assert ("result.tree_size", None) in checks(report)


def test_reordered_leaves(good):
    board = [*good.board]
    board[1], board[2] = board[2], board[1]
    report = verify_election(good.bundle(board=board))
    assert ("leaf.seq", 1) in checks(report) and ("leaf.seq", 2) in checks(report)
    assert "want 1 (the leaf's position on the board), got 2" in messages(report)


def test_reordered_revisions(good):
    # seq 0 and 3 are the same voter's revisions 1 and 2: swapping them (and renumbering) is stale
    board = copy.deepcopy(good.board)
    board[0]["ballot"], board[3]["ballot"] = board[3]["ballot"], board[0]["ballot"]
    report = verify_election(with_board(good, board, 3))
    assert checks(report) == [("ballot.revision", 3)]
    assert "want a revision above 2 (this voter's previous ballot), got 1" in messages(report)


def test_stale_revision(good):
    voter = good.voters[5]
    stale = make_ballot(voter, good.election_id, good.election_digest, 1, [SQ])
    board = [*good.board, make_leaf(7, stale, "2026-11-19T10:00:00.000Z")]
    assert verify_election(with_board(good, board)).ok  # a first ballot is fine
    again = make_ballot(voter, good.election_id, good.election_digest, 1, [A12])
    board.append(make_leaf(8, again, "2026-11-19T10:00:01.000Z"))
    report = verify_election(with_board(good, board, 8))
    assert checks(report) == [("ballot.revision", 8)]


def test_unknown_option(good):
    voter = good.voters[5]
    ballot = make_ballot(voter, good.election_id, good.election_digest, 1, [A12, "amendment-99"])
    board = [*good.board, make_leaf(7, ballot, "2026-11-19T10:00:00.000Z")]
    report = verify_election(_signed_tree_only(good, board))
    assert ("ballot.unknown_option", 7) in checks(report)
    assert "unknown option 'amendment-99'" in messages(report)


def test_duplicate_option(good):
    ballot = make_ballot(good.voters[5], good.election_id, good.election_digest, 1, [A12, A12])
    board = [*good.board, make_leaf(7, ballot, "2026-11-19T10:00:00.000Z")]
    assert ("ballot.duplicate_option", 7) in checks(verify_election(_signed_tree_only(good, board)))


def test_wrong_election_digest_in_a_ballot(good):
    ballot = make_ballot(good.voters[5], good.election_id, "ab" * 32, 1, [A12])
    board = [*good.board, make_leaf(7, ballot, "2026-11-19T10:00:00.000Z")]
    report = verify_election(with_board(good, board, 7))
    assert checks(report) == [("ballot.election", 7)]
    assert f"ballot.election_digest: want {good.election_digest}, got {'ab' * 32}" in messages(report)


def test_wrong_election_id_in_a_ballot(good):
    ballot = make_ballot(good.voters[5], "43", good.election_digest, 1, [A12])
    board = [*good.board, make_leaf(7, ballot, "2026-11-19T10:00:00.000Z")]
    assert checks(verify_election(with_board(good, board, 7))) == [("ballot.election", 7)]


def test_voter_not_on_the_roll(good):
    stranger = Signer.from_private_bytes(b"\x55" * 32)
    ballot = make_ballot(stranger, good.election_id, good.election_digest, 1, [A12])
    board = [*good.board, make_leaf(7, ballot, "2026-11-19T10:00:00.000Z")]
    report = verify_election(_signed_tree_only(good, board))
    assert ("ballot.not_on_roll", 7) in checks(report)


def test_signer_is_not_the_voter(good):
    leaf = copy.deepcopy(good.board[2])
    leaf["ballot"] = sign_object(good.voters[0], leaf["ballot"]["signed"])  # signed by another delegate
    board = [*good.board]
    board[2] = leaf
    report = verify_election(good.bundle(board=board))
    assert ("leaf.malformed", 2) in checks(report)
    assert "signer: want the voter" in messages(report)


@pytest.mark.parametrize("where", ["leaf", "envelope", "signed"])
def test_leaf_with_an_extra_field(good, where):
    leaf = copy.deepcopy(good.board[4])
    target = {"leaf": leaf, "envelope": leaf["ballot"], "signed": leaf["ballot"]["signed"]}[where]
    target["note"] = "x"
    board = [*good.board]
    board[4] = leaf
    report = verify_election(good.bundle(board=board))
    assert ("leaf.malformed", 4) in checks(report)
    assert "note: unexpected field" in messages(report)


@pytest.mark.parametrize(
    "change",
    [
        {"seq": "4"},
        {"seq": True},
        {"v": 2},
        {"type": "ballot"},
        {"received_at": "2026-02-30T10:00:00.000Z"},
        {"received_at": "2026-11-19T10:00:00Z"},
    ],
)
def test_leaf_with_a_bad_field(good, change):
    leaf = {**good.board[4], **change}
    report = verify_election(good.bundle(board=[*good.board[:4], leaf, *good.board[5:]]))
    assert ("leaf.malformed", 4) in checks(report)


def test_leaf_that_is_not_an_object(good):
    report = verify_election(good.bundle(board=[*good.board, 7]))
    assert ("leaf.malformed", 7) in checks(report)


def test_leaf_with_a_float_cannot_be_hashed(good):
    leaf = {**good.board[1], "seq": 1.5}
    report = verify_election(good.bundle(board=[good.board[0], leaf, *good.board[2:]]))
    assert ("leaf.hash", 1) in checks(report) and ("board.root_hash", None) in checks(report)


# --- tampering: server objects -----------------------------------------------------------------


def test_changed_result_ranking(good):
    result = copy.deepcopy(good.result)
    signed = result["signed"]
    signed["ranking"] = signed["ranking"][::-1]
    signed["winner"] = signed["ranking"][0]
    report = verify_election(good.bundle(result=good.resign(result)))
    assert ("result.ranking", None) in checks(report) and ("result.winner", None) in checks(report)
    assert "the recount gives" in messages(report)


def test_changed_result_counted(good):
    result = copy.deepcopy(good.result)
    result["signed"]["counted"] += 1
    report = verify_election(good.bundle(result=good.resign(result)))
    assert checks(report) == [("result.counted", None)]
    assert "the recount gives 5, the signed result says 6" in messages(report)


def test_changed_result_without_re_signing(good):
    result = copy.deepcopy(good.result)
    result["signed"]["winner"] = A13
    report = verify_election(good.bundle(result=result))
    assert ("result.signature", None) in checks(report)


@pytest.mark.parametrize(
    "field,value",
    [
        ("abstentions", 0),
        ("weight_counted", 1),
        ("ties_broken", [[A12, A13]]),
        ("details", {"pairwise": {}}),
        ("election", "43"),
        ("method", "borda"),
        ("election_digest", "00" * 32),
        ("tree_size", 3),
        ("root_hash", "11" * 32),
    ],
)
def test_changed_result_field(good, field, value):
    result = copy.deepcopy(good.result)
    result["signed"][field] = value
    report = verify_election(good.bundle(result=good.resign(result)))
    assert f"result.{field}" in [c for c, _ in checks(report)]


def test_yes_no_bool_is_not_an_int():
    ballots = [(0, 1, ["yes"]), (1, 1, ["yes"]), (2, 1, ["no"])]
    e = build_election(method="yes_no", options=("yes", "no", "abstain"), ballots=ballots, rule={"majority": "simple", "quorum_percent": 10})
    result = copy.deepcopy(e.result)
    result["signed"]["details"]["quorum_met"] = 1  # true == 1 in Python, not in JSON
    report = verify_election(e.bundle(result=e.resign(result)))
    assert checks(report) == [("result.details", None)]


def test_roll_with_an_extra_key(good):
    roll = copy.deepcopy(good.roll)
    extra = Signer.from_private_bytes(b"\x66" * 32)
    roll["signed"]["voters"].append({"key_id": extra.key_id, "public_key": extra.public_key_b64u, "weight": 1})
    roll["signed"]["voters"].sort(key=lambda v: v["key_id"])
    report = verify_election(good.bundle(roll=roll))
    assert ("roll.signature", None) in checks(report)
    report = verify_election(good.bundle(roll=good.resign(roll)))  # even re-signed, the election pins the roll
    assert ("election.roll_digest", None) in checks(report)


@pytest.mark.parametrize("hex_key", sorted(k.hex() for k in SMALL_ORDER_KEYS)[:3] + ["edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"])
def test_small_order_key_on_the_roll(hex_key):
    raw = bytes.fromhex(hex_key)
    entry = {"key_id": key_id(raw), "public_key": b64u_encode(raw), "weight": 1}
    e = build_election(extra_roll_entries=[entry], ballots=BALLOTS[:3])
    report = verify_election(e.bundle())
    assert checks(report) == [("roll.public_key", None)]
    assert "small-order" in messages(report) or "non-canonical" in messages(report)


def test_roll_key_off_the_curve_that_never_voted():
    raw = bytes.fromhex("02" + "00" * 31)  # y = 2 is not on edwards25519
    with pytest.raises(Exception, match="not a point"):
        check_public_key(raw)
    entry = {"key_id": key_id(raw), "public_key": b64u_encode(raw), "weight": 1}
    report = verify_election(build_election(extra_roll_entries=[entry], ballots=BALLOTS[:2]).bundle())
    assert checks(report) == [("roll.public_key", None)]
    assert "not a point on edwards25519" in messages(report)


@pytest.mark.parametrize("size", [31, 33])
def test_roll_key_of_the_wrong_size_is_reported_not_a_crash(size):
    """A roll key of 31 or 33 bytes with its own key id: the verifier used to index byte 31 of
    it (an IndexError for 31) or keep it as usable (33); now the roll's reader refuses it."""
    raw = bytes(range(1, size + 1))
    entry = {"key_id": key_id(raw), "public_key": b64u_encode(raw), "weight": 1}
    report = verify_election(build_election(extra_roll_entries=[entry], ballots=BALLOTS[:2]).bundle())
    assert checks(report) == [("roll.public_key", None)]
    assert f"wrong size {size}" in messages(report)


@pytest.mark.parametrize("change", ["unsorted", "key_id", "weight", "b64u"])
def test_malformed_roll_entries(change):
    e = build_election(ballots=BALLOTS[:2])
    roll = copy.deepcopy(e.roll)
    voters = roll["signed"]["voters"]
    if change == "unsorted":
        voters[0], voters[1] = voters[1], voters[0]
        want = "roll.order"
    elif change == "key_id":
        voters[2]["key_id"] = "00" * 32
        want = "roll.voter"
    elif change == "weight":
        voters[2]["weight"] = 0
        want = "roll.voter"
    else:
        voters[2]["public_key"] += "="
        want = "roll.voter"
    report = verify_election(e.bundle(roll=e.resign(roll)))
    assert want in [c for c, _ in checks(report)]


def test_key_encoding_check_refuses_every_low_order_point_and_nothing_else():
    """`check_public_key_encoding` (what the verifier checks of every roll key before any
    signature) refuses every low-order encoding of the vectors, and a random key's encoding
    exactly when y >= p or it is small-order (its quick exit skips the big integer)."""
    for line in (VECTORS / "low-order-points.txt").read_text().splitlines():
        if line.strip():
            with pytest.raises(BadKeyError):
                check_public_key_encoding(bytes.fromhex(line.split()[0]))
    check_public_key_encoding(Signer.generate().public_key_raw)
    rng = random.Random(7)
    p = 2**255 - 19
    for _ in range(2000):
        raw = bytes(rng.getrandbits(8) for _ in range(31)) + bytes([rng.choice([0x7F, 0xFF, 0x7E, rng.getrandbits(8)])])
        if rng.random() < 0.3:
            raw = bytes([0xED + rng.randrange(0, 19)]) + b"\xff" * 30 + bytes([raw[31] | 0x7F])  # around p
        refused = int.from_bytes(raw, "little") & ((1 << 255) - 1) >= p or raw in SMALL_ORDER_KEYS
        try:
            check_public_key_encoding(raw)
        except BadKeyError:
            assert refused, raw.hex()
        else:
            assert not refused, raw.hex()


def test_bad_server_signature(good):
    other = Signer.from_private_bytes(b"\x09" * 32)
    report = verify_election(good.bundle(server_public_key=other.public_key_raw))
    assert {c for c, _ in checks(report)} == {"election.signature", "roll.signature", "sth.signature", "result.signature"}
    sth = copy.deepcopy(good.sth)
    sth["signature"] = good.result["signature"]
    assert checks(verify_election(good.bundle(sth=sth))) == [("sth.signature", None)]


def test_domain_separation(good):
    # the sth envelope handed in as the result: its type says sth, so it is refused
    report = verify_election(good.bundle(result=good.sth))
    assert ("result.envelope", None) in checks(report)
    assert "result.type: want 'result', got 'sth'" in messages(report)


def test_wrong_sth_root(good):
    sth = copy.deepcopy(good.sth)
    sth["signed"]["root_hash"] = "22" * 32
    report = verify_election(good.bundle(sth=good.resign(sth)))
    assert checks(report) == [("sth.root_hash", None)]
    assert f"want {good.sth['signed']['root_hash']} (the Merkle root of the board)" in messages(report)


def test_sth_of_another_election(good):
    sth = copy.deepcopy(good.sth)
    sth["signed"]["election"] = "41"
    assert checks(verify_election(good.bundle(sth=good.resign(sth)))) == [("sth.election", None)]


def test_missing_and_malformed_objects(good):
    report = verify_election(good.bundle(result=None, board="nope", server_public_key=b"\x01" * 31))
    found = {c for c, _ in checks(report)}
    assert {"result", "board", "server_key"} <= found


# --- the fast path agrees with the core --------------------------------------------------------

option_ids = st.text(min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(election=st.text(max_size=5), ranking=st.lists(option_ids, max_size=4, unique=True), revision=st.integers(1, 2**53 - 1), seq=st.integers(0, 2**53 - 1))
def test_fast_leaf_matches_the_core(election, ranking, revision, seq):
    voter = Signer.from_private_bytes(b"\x03" * 32)
    leaf = make_leaf(seq, make_ballot(voter, election, "cd" * 32, revision, ranking, b"\x00" * 16), "2026-11-19T10:00:00.000Z")
    data = _fast_leaf(leaf)
    assert data is not None
    assert data.leaf_hash == compute_leaf_hash(leaf)
    assert data.message == jcs(leaf["ballot"]["signed"])
    assert (data.voter, data.revision, list(data.ranking), data.election, data.seq) == (voter.key_id, revision, ranking, election, seq)


def test_fast_leaf_declines_what_it_cannot_vouch_for(good):
    leaf = good.board[0]
    assert _fast_leaf(leaf) is not None
    for bad in [
        {**leaf, "seq": 2**53},
        {**leaf, "v": True},
        {**leaf, "extra": 1},
        {**leaf, "ballot": {**leaf["ballot"], "signer": "00" * 32}},
        {**leaf, "ballot": {**leaf["ballot"], "signed": {**leaf["ballot"]["signed"], "ranking": (A12,)}}},
        {**leaf, "ballot": {**leaf["ballot"], "signed": {**leaf["ballot"]["signed"], "election": "\ud800"}}},
        {**leaf, "received_at": "2026-13-01T00:00:00.000Z"},
    ]:
        assert _fast_leaf(bad) is None


# --- files and the command line ------------------------------------------------------------------


def test_write_and_read_bundle_round_trip(good, tmp_path):
    write_bundle(good.bundle(), tmp_path / "export")
    names = sorted(p.name for p in (tmp_path / "export").iterdir())
    assert names == ["board.json", "election.json", "result.json", "roll.json", "server-key.json", "sth.json"]
    key_file = json.loads((tmp_path / "export" / "server-key.json").read_text())
    assert key_file == {"algorithm": "ed25519", "public_key": good.server.public_key_b64u, "key_id": good.server.key_id}
    again = read_bundle(tmp_path / "export")
    assert again == good.bundle()
    assert verify_election(again).ok


def test_parse_board_is_parse_json_strict(good):
    data = json.dumps(good.board, indent=1).encode()
    assert parse_board(data) == parse_json_strict(data) == good.board
    for bad in [b'[{"a":1,"a":2}]', b"[1.5]", b'["\\ud800"]', b"[9007199254740992]", b"\xef\xbb\xbf[]", b"[1]x", b"[NaN]", b"\xff"]:
        with pytest.raises(MalformedError):
            parse_board(bad)
    assert parse_board(b'["\\\\ud800", 9007199254740991]') == ["\\ud800", 2**53 - 1]


def test_duplicate_key_in_a_file_is_a_failure_not_a_crash(good, tmp_path):
    write_bundle(good.bundle(), tmp_path)
    text = (tmp_path / "result.json").read_text()
    (tmp_path / "result.json").write_text(text.replace('"v": 1,', '"v": 1, "v": 1,', 1))
    report = verify_election(read_bundle(tmp_path))
    assert checks(report) == [("result", None)]
    assert "duplicate key 'v'" in messages(report)


def test_cli_verify_offline(good, tmp_path):
    runner = CliRunner()
    write_bundle(good.bundle(), tmp_path / "ok")
    result = runner.invoke(verify, ["--offline", str(tmp_path / "ok")])
    assert result.exit_code == 0, result.output
    assert "OK: election 42 (schulze): 7 ballots" in result.output

    board = [*good.board]
    board[1] = tampered_leaf(good, 1, ranking=[A12])
    write_bundle(good.bundle(board=board), tmp_path / "bad")
    result = runner.invoke(verify, ["--offline", str(tmp_path / "bad")])
    assert result.exit_code == 1
    assert "seq 1: ballot.signature: signature does not verify" in result.output

    result = runner.invoke(verify, ["--offline", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "not a directory" in result.output and "Traceback" not in result.output

    (tmp_path / "ok" / "sth.json").unlink()
    result = runner.invoke(verify, ["--offline", str(tmp_path / "ok")])
    assert result.exit_code == 2 and "sth.json: no such file" in result.output


def test_cli_verify_usage():
    runner = CliRunner()
    assert runner.invoke(verify, []).exit_code == 2
    assert runner.invoke(verify, ["http://x", "1", "--offline", "d"]).exit_code == 2


def test_cli_verify_pinned_key(good, tmp_path):
    write_bundle(good.bundle(), tmp_path)
    runner = CliRunner()
    other = Signer.from_private_bytes(b"\x0a" * 32)
    assert runner.invoke(verify, ["--offline", str(tmp_path), "--server-key", good.server.public_key_b64u]).exit_code == 0
    result = runner.invoke(verify, ["--offline", str(tmp_path), "--server-key", other.public_key_b64u])
    assert result.exit_code == 1 and "not the pinned key" in result.output


def test_keygen(tmp_path):
    runner = CliRunner()
    out = tmp_path / "me.key"
    result = runner.invoke(keygen, ["--out", str(out)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    signer = load_signer(out)
    assert signer.key_id in result.output and signer.public_key_b64u in result.output
    before = out.read_bytes()
    result = runner.invoke(keygen, ["--out", str(out)])
    assert result.exit_code == 2 and "exists" in result.output
    assert out.read_bytes() == before
    os.chmod(out, 0o644)
    assert runner.invoke(keygen, ["--out", str(out), "--force"]).exit_code == 0
    assert out.read_bytes() != before and stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_load_signer_reads_pem(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "k.pem").write_bytes(pem)
    assert load_signer(tmp_path / "k.pem").public_key_raw == key.public_key().public_bytes_raw()
    (tmp_path / "junk").write_text("not a key")
    with pytest.raises(Exception, match="not a private key file"):
        load_signer(tmp_path / "junk")


def test_sign_result_helper_is_honest(good):
    # the helper the tests rely on signs exactly what the verifier recounts
    again = sign_result(good.server, good.election, good.roll, good.board, good.sth["signed"])
    assert again["signed"] == good.result["signed"]


# --- over HTTP (a fake server on httpx.MockTransport, built from the same synthetic election) ---


class FakeServer:
    """Serves a SyntheticElection on the PROTOCOL §5 paths; board pages stop early after `page` entries."""

    def __init__(self, e: SyntheticElection, status: str = "closed", page: int = 3) -> None:
        self.e, self.status, self.page = e, status, page
        self.board = [*e.board]
        self.sth = e.sth
        self.receipts: dict[str, dict[str, Any]] = {}

    def handle(self, request: Any) -> Any:  # httpx.Request -> httpx.Response
        import httpx

        from voting.core.merkle import MemoryNodeStore, inclusion_proof

        e, path = self.e, request.url.path
        base = f"/api/elections/{e.election_id}"
        if path == "/api/server-key":
            body: Any = {"algorithm": "ed25519", "public_key": e.server.public_key_b64u, "key_id": e.server.key_id}
        elif path == base:
            body = {"status": self.status, "election": e.election}
        elif path == f"{base}/roll":
            body = e.roll
        elif path == f"{base}/sth":
            body = self.sth
        elif path == f"{base}/result":
            if self.status != "closed":
                return httpx.Response(409, json={"error": "election_not_closed", "detail": "open"})
            body = e.result
        elif path == f"{base}/board":
            start, end = int(request.url.params["start"]), int(request.url.params["end"])
            end = min(end, start + self.page, len(self.board))
            body = {"entries": [{"seq": i, "leaf": self.board[i], "leaf_hash": compute_leaf_hash(self.board[i]).hex()} for i in range(start, end)]}
        elif path == f"{base}/ballots" and request.method == "POST":
            ballot = json.loads(request.content)
            if ballot["signed"]["ranking"] == ["amendment-99"]:
                return httpx.Response(400, json={"error": "unknown_option", "detail": "no amendment-99"})
            seq = len(self.board)
            self.board.append(make_leaf(seq, ballot, "2026-11-19T11:00:00.000Z"))
            self.sth = sign_tree(e.server, e.election_id, self.board, 2)
            store = MemoryNodeStore.from_leaf_hashes([compute_leaf_hash(leaf) for leaf in self.board])
            body = {"seq": seq, "leaf_hash": compute_leaf_hash(self.board[seq]).hex(), "sth": self.sth, "inclusion_proof": [h.hex() for h in inclusion_proof(seq, len(self.board), store)]}
            return httpx.Response(201, json=body)
        else:
            return httpx.Response(404, json={"error": "not_found", "detail": path})
        return httpx.Response(200, json=body)


def test_fetch_bundle_follows_short_pages(good):
    import httpx

    from voting.client import fetch_bundle

    server = FakeServer(good, page=2)
    bundle = fetch_bundle("http://kurultai.test", good.election_id, transport=httpx.MockTransport(server.handle))
    assert bundle == good.bundle()
    assert verify_election(bundle).ok
    open_server = FakeServer(good, status="open")
    bundle = fetch_bundle("http://kurultai.test", good.election_id, transport=httpx.MockTransport(open_server.handle))
    report = verify_election(bundle)  # an open election: verified up to its tree head, no result expected
    assert bundle.open and bundle.result is None and report.ok and report.summary.open


def test_cli_vote_checks_the_receipt(tmp_path, monkeypatch):
    import httpx

    import voting.client as client_module
    from voting.client_cli import vote

    e = build_election(ballots=BALLOTS)
    server = FakeServer(e, status="open")
    real_client = httpx.Client
    monkeypatch.setattr(client_module.httpx, "Client", lambda **kw: real_client(**{**kw, "transport": httpx.MockTransport(server.handle)}))
    key = tmp_path / "k"
    key.write_text(b64u_encode(bytes([1]) * 32) + "\n")  # voter 0 of the synthetic election
    voter = load_signer(key)
    runner = CliRunner()
    result = runner.invoke(vote, ["http://kurultai.test", e.election_id, "--key", str(key), "--rank", f"{A13},{SQ}", "--receipt", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert "recorded" in result.output and "seq 7" in result.output
    signed = server.board[7]["ballot"]["signed"]
    assert signed["voter"] == voter.key_id and signed["ranking"] == [A13, SQ]
    previous = max(leaf["ballot"]["signed"]["revision"] for leaf in e.board if leaf["ballot"]["signed"]["voter"] == voter.key_id)
    assert signed["revision"] == previous + 1
    assert json.loads((tmp_path / "r.json").read_text())["seq"] == 7

    result = runner.invoke(vote, ["http://kurultai.test", e.election_id, "--key", str(key), "--rank", ""])
    assert result.exit_code == 0 and server.board[8]["ballot"]["signed"]["ranking"] == []

    result = runner.invoke(vote, ["http://kurultai.test", e.election_id, "--key", str(key), "--rank", "nope"])
    assert result.exit_code == 1 and "want distinct option ids" in result.output

    other = Signer.from_private_bytes(b"\x0b" * 32)
    result = runner.invoke(vote, ["http://kurultai.test", e.election_id, "--key", str(key), "--rank", A12, "--server-key", other.public_key_b64u])
    assert result.exit_code == 1 and "does not check out" in result.output

    # PROTOCOL §5 runs on the ballot before it is sent (check_ballot, as on the server): a key
    # that is not on the roll gets the reason, and nothing reaches the board.
    stranger = tmp_path / "stranger"
    stranger.write_text(b64u_encode(bytes([12]) * 32) + "\n")
    size = len(server.board)
    result = runner.invoke(vote, ["http://kurultai.test", e.election_id, "--key", str(stranger), "--rank", A12])
    assert result.exit_code == 1 and f"your key {load_signer(stranger).key_id} is not on the roll" in result.output, result.output
    assert len(server.board) == size

    server.status = "closed"
    result = runner.invoke(vote, ["http://kurultai.test", e.election_id, "--key", str(key), "--rank", A12])
    assert result.exit_code == 1 and "not open" in result.output


def test_progress_reports_every_signature(good) -> None:
    """The progress callback (the CLI's progress bar on large boards) sees every checked ballot."""
    import threading

    bundle = good.bundle()
    seen: list[int] = []
    lock = threading.Lock()

    def progress(n: int) -> None:
        with lock:
            seen.append(n)

    report = verify_election(bundle, progress=progress)
    assert report.ok
    assert sum(seen) == len(bundle.board)
