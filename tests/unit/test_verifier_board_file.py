"""A board handed to the verifier as the bytes of board.json (`BoardFile`): the same report.

The worker processes parse a large board file themselves, each its chunks of lines; whatever
the file holds, the report (failures, their messages and order, the summary) must be the one
of today's path, `read_bundle` parsing the whole file and `verify_election` checking the list.
These tests force the pool on small boards with chunks of 4 leaves and compare the two.
"""

from __future__ import annotations

import copy
import json
import multiprocessing
from pathlib import Path
from typing import Any

import pytest

import voting.core.leaves as core_leaves
import voting.verifier as verifier
from tests.unit.board_file_helpers import dead_workers, pool  # noqa: F401 (fixtures)
from tests.unit.synthetic_election import SyntheticElection, build_election, make_ballot, rebuild_tail
from voting.client import parse_board as client_parse_board
from voting.client import read_bundle, write_bundle
from voting.core.keys import Signer
from voting.verifier import BoardFile, Bundle, Report, verify_election

A12, A13, SQ = "amendment-12", "amendment-13", "status_quo"


def election(n: int = 23) -> SyntheticElection:
    rankings = [[A12, SQ], [A13], [], [SQ, A12, A13], [A12]]
    return build_election(n_voters=8, ballots=[(i % 8, 1 + i // 8, rankings[i % 5]) for i in range(n)])


def as_file(bundle: Bundle, directory: Path) -> Path:
    write_bundle(bundle, directory)
    return directory / "board.json"


def file_bundle(directory: Path) -> Bundle:
    """What `read_bundle` returns with the board left as bytes (its problem in its place)."""
    bundle = read_bundle(directory, board_file=True)
    assert type(bundle.board) is BoardFile and bundle.board.name == "board.json"
    return bundle


def compare(directory: Path, workers: int = 2) -> tuple[Report, Report]:
    """(today's report: the file parsed whole and checked in-process, the board file's report)."""
    today = verify_election(read_bundle(directory), workers=1)
    from_file = verify_election(file_bundle(directory), workers=workers)
    assert multiprocessing.active_children() == []
    assert not verifier.parallel._SCANS
    assert from_file == today
    return today, from_file


@pytest.mark.parametrize("n", [1, 3, 4, 5, 8, 9, 23])
def test_good_board_file_parsed_by_the_workers(pool, tmp_path, n):
    as_file(election(n).bundle(), tmp_path)
    today, from_file = compare(tmp_path)
    assert from_file.ok and from_file.summary.ballots == n
    assert pool == []  # never parsed as a whole


def test_tampered_board_file_same_failures(pool, tmp_path):
    e = election()
    board = copy.deepcopy(e.board)
    board[3]["ballot"]["signature"] = board[2]["ballot"]["signature"]
    board[5]["seq"] = 50
    board[9]["ballot"] = make_ballot(e.voters[1], e.election_id, e.election_digest, 1, [A12])
    board[12]["ballot"] = make_ballot(e.voters[4], "43", "ab" * 32, 2, [A12, A12])
    board[14] = {**board[14], "extra": 1}
    board[17]["ballot"] = make_ballot(Signer.from_private_bytes(b"\x55" * 32), e.election_id, e.election_digest, 1, [A13])
    board[20] = "not a leaf"
    as_file(rebuild_tail(e, board, skip=[3, 5, 9, 12, 14, 17, 20]).bundle(), tmp_path)
    today, _ = compare(tmp_path)
    assert [(f.check, f.seq) for f in today.failures][:4] == [("leaf.seq", 5), ("ballot.revision", 9), ("ballot.election", 12), ("ballot.election", 12)]
    assert pool == []


def test_roll_that_differs_from_the_published_keys(pool, tmp_path):
    """The merge re-checks a signature with the checked roll's key: one leaf of the file, parsed here."""
    e = election()
    roll = copy.deepcopy(e.roll)
    voters = roll["signed"]["voters"]
    voters.insert(3, {**voters[2], "public_key": Signer.from_private_bytes(b"\x44" * 32).public_key_b64u})
    as_file(e.bundle(roll=e.resign(roll)), tmp_path)
    today, _ = compare(tmp_path)
    assert {"roll.voter", "election.roll_digest"} <= {f.check for f in today.failures}


def _edit_line(path: Path, seq: int, edit: Any) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[seq + 1] = edit(lines[seq + 1])
    path.write_bytes(b"\n".join(lines))


@pytest.mark.parametrize(
    "edit",
    [
        lambda line: line.replace(b'"v":1,', b'"v":1,,', 1),  # a syntax error
        lambda line: line.replace(b'"v":1,', b'"v":1,"v":1,', 1),  # a duplicate key
        lambda line: line.replace(b'"revision":', b'"revision":1.5,"x":', 1),  # a float
        lambda line: line.replace(b'"revision":', b'"revision":9007199254740992,"x":', 1),  # too big
        lambda line: line.replace(b'"election":"', b'"election":"\\ud800', 1),  # a lone surrogate
        lambda line: line.replace(b'"election":"', b'"election":"\xff', 1),  # not UTF-8
        lambda line: line.replace(b'"election":"', b'"election":"\x01', 1),  # a control character
        lambda line: line.replace(b'"v":1,', b'"v":NaN,', 1),
        lambda line: line[:-1],  # the comma before the next line
        lambda line: line + b",",  # a trailing comma (on the last line)
        lambda line: line + b" 7",
    ],
    ids=["syntax", "duplicate", "float", "big", "surrogate", "utf8", "control", "nan", "no-comma", "trailing-comma", "two-values"],
)
@pytest.mark.parametrize("seq", [0, 6, 7, 8, 22])
def test_malformed_bytes_in_one_range_same_failure(pool, tmp_path, edit, seq):
    path = as_file(election().bundle(), tmp_path)
    _edit_line(path, seq, edit)
    today, _ = compare(tmp_path)
    assert [f.check for f in today.failures][:1] == ["board"]
    assert today.failures[0].message.startswith("board.json: ")
    assert len(pool) == 1  # parsed as a whole, for the precise message


def test_board_problem_keeps_its_place_among_the_problems(pool, tmp_path):
    path = as_file(election().bundle(), tmp_path)
    _edit_line(path, 9, lambda line: line.replace(b'"v":1,', b'"v":1,"v":1,', 1))
    for name in ("election.json", "result.json"):
        (tmp_path / name).write_text("{")
    today, _ = compare(tmp_path)
    assert [f.check for f in today.failures][:3] == ["election", "board", "result"]


@pytest.mark.parametrize(
    "layout",
    [
        lambda board: json.dumps(board, indent=1),  # a leaf over several lines
        lambda board: "[\n  " + ",\n  ".join(",".join(json.dumps(leaf) for leaf in board[i : i + 2]) for i in range(0, len(board), 2)) + "\n]\n",  # two leaves a line
        lambda board: "[\r\n" + ",\r\n".join(json.dumps(leaf) for leaf in board) + "\r\n]\r\n",
        lambda board: "[\n" + ",\n".join(json.dumps(leaf) for leaf in board) + "\n]",  # no final line break
        lambda board: "[\n" + "\n,".join(json.dumps(leaf) for leaf in board) + "\n]\n",  # commas in front
        lambda board: "\ufeff[\n" + ",\n".join(json.dumps(leaf) for leaf in board) + "\n]\n",  # a BOM
        lambda board: json.dumps(board).replace("amendment-12", "\\u0061mendment-12"),
        lambda board: json.dumps(board).replace("status_quo", "status_quo\\ud83d\\ude00"),
        lambda board: "[\n]\n",
        lambda board: "[\n\n]\n",
        lambda board: "{}",
        lambda board: '[\n{"a": [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]},\n2\n]\n',
    ],
    ids=["indented", "two-a-line", "crlf", "no-final-break", "leading-commas", "bom", "escape", "surrogate-pair", "empty", "empty-line", "object", "nested"],
)
def test_other_layouts_parsed_as_a_whole(pool, tmp_path, layout):
    e = election()
    write_bundle(e.bundle(), tmp_path)
    (tmp_path / "board.json").write_bytes(layout(e.board).encode("utf-8"))
    compare(tmp_path)
    assert len(pool) == 1


def test_a_layout_that_splits_a_leaf_falls_back_after_starting(pool, tmp_path):
    """Lines in the right place, but one of them holds half a leaf: the chunk that finds it
    stops the pool, and the file is parsed as a whole."""
    e = election()
    write_bundle(e.bundle(), tmp_path)
    lines = [json.dumps(leaf, separators=(",", ":")) for leaf in e.board]
    lines[10] = lines[10].replace(',"ballot":', ',\n"ballot":', 1)  # one line more
    del lines[11]
    (tmp_path / "board.json").write_text("[\n" + ",\n".join(lines) + "\n]\n")
    compare(tmp_path)
    assert len(pool) == 1


def test_board_file_in_process(pool, tmp_path):
    """One worker, or a board below POOL_MIN_LEAVES: the file is parsed here, as before."""
    as_file(election().bundle(), tmp_path)
    compare(tmp_path, workers=1)
    assert len(pool) == 1


def test_progress_from_a_board_file(pool, tmp_path):
    as_file(election().bundle(), tmp_path)
    seen: list[int] = []
    assert verify_election(file_bundle(tmp_path), workers=2, progress=seen.append).ok
    assert sum(seen) == 23 and len(seen) == 6


def test_a_worker_that_dies_costs_no_check(pool, dead_workers, tmp_path):
    as_file(election(40).bundle(), tmp_path)
    compare(tmp_path)
    assert dead_workers == list(range(0, 40, 4)) * 2  # today's run, then every chunk of the broken pool's
    assert multiprocessing.active_children() == []


def test_parse_board_is_the_clients():
    """The reader parses the board (without board_file) and the roll with the verifier's rules."""
    assert client_parse_board is verifier.parse_board


@pytest.mark.parametrize(
    "data, want",
    [
        (b"[\n1,\n2,\n3\n]\n", [1, 4, 7, 9]),
        (b"[\n1\n]\n", [1, 3]),
        (b"[\n]\n", None),
        (b"[1]\n", None),
        (b"[\n1\n]", None),
        (b"{\n1\n]\n", None),
    ],
)
def test_line_breaks(data, want):
    assert core_leaves.line_breaks(data) == want


def test_board_lines_slices():
    data = b'[\n{"a":1},\n[2],\n"3"\n]\n'
    lines = core_leaves.BoardLines(data, core_leaves.line_breaks(data))
    assert len(lines) == 3 and lines[:] == [{"a": 1}, [2], "3"] and lines[1:3] == [[2], "3"] and lines[2] == "3"
    assert lines[3:3] == []


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t,
        lambda t: t.replace('"seq":', '"seq":-', 1),
        lambda t: t.replace('"seq":', '"seq":1', 1),
        lambda t: t.replace('"revision":', '"revision":-', 1),
        lambda t: t.replace('"v":1', '"v":true', 1),
        lambda t: t.replace('"ranking":[', '"ranking":[7' + ("" if '"ranking":[]' in t else ","), 1),
        lambda t: t.replace('"ranking":[', '"ranking":[null' + ("" if '"ranking":[]' in t else ","), 1),
        lambda t: t.replace('"election":"', '"election":"\\u00e9\\"', 1),
        lambda t: t.replace('"nonce":"', '"nonce":"A', 1),
        lambda t: t.replace('"received_at":"2026', '"received_at":"2026-02-30', 1),
        lambda t: t.replace('"signer":"', '"signer":"0', 1)[:-1] + ',"x":{}}',
        lambda t: t.replace('"revision":', '"revision":900719925474099,"x":', 1),
    ],
)
def test_fast_fields_of_parsed_leaves(edit):
    """A leaf the fast parser made needs no type checks: the pattern alone gives the same answer."""
    for leaf in election(6).board:
        obj = verifier.parse_board(edit(json.dumps(leaf, separators=(",", ":"))).encode())
        assert core_leaves.fast_fields(obj, parsed=True) == core_leaves.fast_fields(obj)
