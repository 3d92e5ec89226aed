"""The verifier's shortcuts give the answers of the long way round.

A board file's lines read from their bytes (`voting.core.leaves.raw_fields`, in the server's
layout and in the client's) against the same lines parsed (`fast_fields`); the report of a board file in either
layout, or with lines the patterns do not read, against the board parsed whole; the counted
ballots grouped by ranking; the roll keys left unchecked when every one signed a ballot.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest

import voting.core.board_checks as board_checks
import voting.core.leaves as core_leaves
import voting.verifier as verifier
from tests.unit.board_file_helpers import pool  # noqa: F401 (a fixture)
from tests.unit.synthetic_election import SyntheticElection, build_election, make_ballot, rebuild_tail
from voting.client import read_bundle, write_bundle
from voting.core.counting import METHODS, Rule, WeightedBallot, compute_result
from voting.core.encoding import jcs
from voting.core.errors import MalformedError
from voting.verifier import Report, verify_election

A12, A13, SQ = "amendment-12", "amendment-13", "status_quo"


def election(n: int = 23) -> SyntheticElection:
    """n ballots of 8 voters; with n > 10, two of them rank an option twice or an unknown one."""
    rankings = [[A12, SQ], [A13], [], [SQ, A12, A13], [A12]]
    e = build_election(n_voters=8, ballots=[(i % 8, 1 + i // 8, rankings[i % 5]) for i in range(n)])
    if n <= 10:
        return e
    board = copy.deepcopy(e.board)
    for seq, ranking in ((3, [A12, A12]), (10, ["nope"])):
        board[seq]["ballot"] = make_ballot(e.voters[seq % 8], e.election_id, e.election_digest, 1 + seq // 8, ranking)
    return rebuild_tail(e, board, skip=[3, 10])


def client_line(leaf: Any) -> str:
    """A leaf as `write_bundle` writes it: its own key order (here `make_leaf`'s and the client's)."""
    return json.dumps(leaf, ensure_ascii=False, separators=(",", ":"))


def server_line(leaf: Any) -> str:
    """A leaf as `kurultai export` writes it: stored as JCS, so sorted."""
    return jcs(leaf).decode("utf-8")


def board_file(lines: list[str]) -> bytes:
    return ("[\n" + ",\n".join("  " + line for line in lines) + "\n]\n").encode("utf-8")


@pytest.mark.parametrize("layout", [client_line, server_line], ids=["client", "server"])
def test_both_layouts_are_read_without_parsing(layout):
    data = board_file([layout(leaf) for leaf in election().board])
    lines = core_leaves.BoardLines(data, core_leaves.line_breaks(data))
    raw = lines.raw(0, len(lines))
    assert raw is not None and len(raw) == 23
    for fields, obj in zip(raw, lines[:]):
        fast = core_leaves.fast_fields(obj, parsed=True)
        assert fast is not None
        assert fields[:6] == fast[:6] and fields[7:] == fast[7:]
        assert json.loads(b"[" + fields[6] + b"]") == fast[6]


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t,
        lambda t: t.replace('"seq":', '"seq":-', 1),
        lambda t: t.replace('"seq":', '"seq":1', 1),
        lambda t: t.replace('"seq":', '"seq":000', 1),
        lambda t: t.replace('"seq":', '"seq":123456789012345', 1),
        lambda t: t.replace('"seq":', '"seq":9007199254740', 1),
        lambda t: t.replace('"revision":', '"revision":-', 1),
        lambda t: t.replace('"revision":', '"revision":0', 1),
        lambda t: t.replace('"revision":', '"revision":900719925474099', 1),
        lambda t: t.replace('"v":1', '"v":true', 1),
        lambda t: t.replace('"ranking":[', '"ranking":[7' + ("" if '"ranking":[]' in t else ","), 1),
        lambda t: t.replace('"ranking":[', '"ranking":[null' + ("" if '"ranking":[]' in t else ","), 1),
        lambda t: t.replace('"ranking":[', '"ranking":[""' + ("" if '"ranking":[]' in t else ","), 1),
        lambda t: t.replace('"ranking":[', '"ranking":["\\u0061"' + ("" if '"ranking":[]' in t else ","), 1),
        lambda t: t.replace('"ranking":[', '"ranking":["a\tb"' + ("" if '"ranking":[]' in t else ","), 1),
        lambda t: t.replace('"ranking":[', '"ranking":["é,\\"x"' + ("" if '"ranking":[]' in t else ","), 1),
        lambda t: t.replace('"ranking":[', '"ranking":["é","😀"' + ("" if '"ranking":[]' in t else ","), 1),
        lambda t: t.replace('"election":"', '"election":"\\u00e9\\"', 1),
        lambda t: t.replace('"election":"', '"election":"é', 1),
        lambda t: t.replace('"election":"', '"election":"\u2028\x7f', 1),
        lambda t: t.replace('"election":"', '"election":"/', 1),
        lambda t: t.replace('"election":"', '"election":"\\/', 1),
        lambda t: t.replace('"nonce":"', '"nonce":"A', 1),
        lambda t: t.replace('"nonce":"', '"nonce":"AAAAAAAAAAAAAAAAAAAAAQ"', 1),
        lambda t: t.replace('"received_at":"2026', '"received_at":"2026-02-30', 1),
        lambda t: t.replace('"received_at":"2026-', '"received_at":"2024-02-29T00:00:00.000Z","x":"', 1),
        lambda t: t.replace('"signer":"', '"signer":"0', 1)[:-1] + ',"x":{}}',
        lambda t: t.replace('"signer":"', '"signer":"0', 1).replace('"voter":"', '"voter":"0', 1),
        lambda t: t.replace('"signature":"', '"signature":"B', 1),
        lambda t: t.replace('"election_digest":"', '"election_digest":"A', 1),
        lambda t: t.replace('{"v":1,', '{"v":1,"v":1,', 1),
        lambda t: t.replace(',"type":"leaf"', ',"type":"leaf","x":1', 1),
        lambda t: t.replace(',"type":"leaf"', ',"type":"leaf" ', 1),
        lambda t: t.replace('"type":"ballot"', '"type":"ballots"', 1),
        lambda t: " \t " + t,
        lambda t: "   " + t,
        lambda t: t + " ",
        lambda t: t[:-1],
    ],
)
@pytest.mark.parametrize("layout", [client_line, server_line], ids=["client", "server"])
def test_a_line_read_from_its_bytes_is_the_line_parsed(layout, edit):
    """Read without parsing only what the strict parse takes, with the same fields; None else."""
    for leaf in election(7).board:
        data = edit(layout(leaf)).encode("utf-8")
        fields = core_leaves.raw_fields(data, 0, len(data))
        try:
            obj = verifier.parse_board(data)
        except MalformedError:
            assert fields is None
            continue
        fast = core_leaves.fast_fields(obj, parsed=True)
        if fields is None:
            continue  # the parsed path decides
        assert fast is not None
        assert fields[:6] == fast[:6] and fields[7:] == fast[7:]
        assert json.loads(b"[" + fields[6] + b"]") == fast[6]


def test_unedited_lines_are_all_read_from_their_bytes():
    for leaf in election(7).board:
        for layout in (client_line, server_line):
            data = ("  " + layout(leaf)).encode("utf-8")
            assert core_leaves.raw_fields(data, 0, len(data)) is not None


def compare(directory: Path) -> Report:
    today = verify_election(read_bundle(directory), workers=1)
    from_file = verify_election(read_bundle(directory, board_file=True), workers=2)
    assert not verifier.parallel._SCANS
    assert from_file == today
    return today


@pytest.mark.parametrize("layout", [client_line, server_line], ids=["client", "server"])
def test_a_board_file_in_either_layout_same_report(pool, tmp_path, layout):
    e = election()
    write_bundle(e.bundle(), tmp_path)
    (tmp_path / "board.json").write_bytes(board_file([layout(leaf) for leaf in e.board]))
    report = compare(tmp_path)
    assert {f.check for f in report.failures} == {"ballot.duplicate_option", "ballot.unknown_option"}
    assert pool == []  # never parsed as a whole


@pytest.mark.parametrize(
    "edit, read",
    [
        (lambda line: line.replace('"amendment-12"', '"\\u0061mendment-12"'), False),  # an escape: the same ballot
        (lambda line: line.replace('"election":"42"', '"election":"4\\u0032"'), False),
        (lambda line: line.replace('{"v":1,', '{ "v":1,'), False),  # white space
        (lambda line: line.replace('"seq":', '"x":null,"seq":'), False),  # a field too many
        (lambda line: line.replace('"revision":1', '"revision":1000000000000000'), False),  # 16 digits
        (lambda line: '"not a leaf"', False),
        (lambda line: line.replace('"election":"42"', '"election":"4é"'), True),  # UTF-8: read, another election
        (lambda line: line.replace('"amendment-12"', '"amendment-12é"'), True),  # an unknown option
    ],
    ids=["escape", "escaped-election", "space", "extra", "big-revision", "string", "non-ascii", "non-ascii-option"],
)
def test_lines_read_or_parsed_same_report(pool, tmp_path, edit, read):
    """A chunk with a line that is not read from its bytes is parsed, as before: the same report."""
    e = election()
    write_bundle(e.bundle(), tmp_path)
    lines = [client_line(leaf) for leaf in e.board]
    lines[5] = edit(lines[5])
    data = board_file(lines)
    (tmp_path / "board.json").write_bytes(data)
    board_lines = core_leaves.BoardLines(data, core_leaves.line_breaks(data))
    assert (board_lines.raw(4, 8) is not None) == read and board_lines.raw(0, 4) is not None
    compare(tmp_path)
    assert pool == []


def test_a_range_of_lines_not_all_read_from_bytes():
    data = b'[\n  {"a":1},\n  2\n]\n'
    lines = core_leaves.BoardLines(data, core_leaves.line_breaks(data))
    assert lines.raw(0, 2) is None and lines.raw(1, 1) is None


def test_rankings_read_from_a_line_are_checked_once_each(monkeypatch):
    scan = board_checks.LeafScan(leaves=[], election_id="42", election_digest="ab", yes_no=False, index={A12: 0, A13: 1, SQ: 2}, roll_voters=None)
    calls: list[Any] = []
    check = scan.check_ranking
    monkeypatch.setattr(scan, "check_ranking", lambda ranking: calls.append(ranking) or check(ranking))
    assert scan.ranked(b'"amendment-13","status_quo"') == (b"\x01\x02", None)
    assert scan.ranked(b'"amendment-13","status_quo"') == (b"\x01\x02", None)
    assert scan.ranked(b"") == (b"", None)
    codes, problem = scan.ranked(b'"status_quo","status_quo"')
    assert codes is None and problem is not None and problem[0] == "ballot.duplicate_option"
    assert scan.ranked(b'"x"')[1][0] == "ballot.unknown_option"  # type: ignore[index]
    assert calls == [["amendment-13", "status_quo"], [], ["status_quo", "status_quo"], ["x"]]


def test_counted_ballots_one_per_ranking():
    latest = [(1, b"\x01\x00", 1), (3, b"\x01\x00", 1), (1, b"", 1), (1, b"\x01\x00", 2), (1, (A12,), 5)]
    assert board_checks.counted_ballots(latest, (A12, A13)) == [WeightedBallot((A13, A12), 4, 3), WeightedBallot((), 1, 1), WeightedBallot((A12,), 5, 1)]
    assert board_checks.counted_ballots([], (A12,)) == []


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", range(6))
def test_counted_ballots_count_as_one_per_voter(method, seed):
    """The recount of the ballots grouped by ranking is the recount of a ballot per voter."""
    rng = random.Random(seed)
    options = ("yes", "no", "abstain") if method == "yes_no" else ("a", "b", "c", "d")[: 2 + seed % 3]
    rule = Rule("simple", 10 * seed) if method == "yes_no" else None
    latest = []
    for _voter in range(rng.randint(0, 60)):
        size = rng.randint(0, 1 if method == "yes_no" else len(options))
        codes = bytes(rng.sample(range(len(options)), size))
        weight = rng.choice([1, 1, 2, 7, 2**40]) if seed % 2 else 1
        latest.append((1, codes, weight))
    per_voter = [WeightedBallot(tuple(options[i] for i in codes), weight) for _, codes, weight in latest]
    roll_weight = sum(weight for _, _, weight in latest) + 3
    assert compute_result(method, options, board_checks.counted_ballots(latest, options), rule=rule, roll_weight=roll_weight) == compute_result(
        method, options, per_voter, rule=rule, roll_weight=roll_weight
    )


@pytest.mark.parametrize("n, checked", [(8, 0), (6, 2)])
def test_roll_keys_of_voters_who_signed_are_not_checked_again(monkeypatch, n, checked):
    """Every voter signed: no roll key is decoded again; otherwise those who did not."""
    calls: list[bytes] = []
    check = verifier.checks.check_public_key
    monkeypatch.setattr(verifier.checks, "check_public_key", lambda raw: calls.append(raw) or check(raw))
    e = build_election(n_voters=8, ballots=[(i, 1, [A12]) for i in range(n)])
    assert verify_election(e.bundle(), workers=1).ok
    assert len(calls) == 1 + checked  # the server key, then the roll keys no signature proved
