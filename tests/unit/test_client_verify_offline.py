"""`kurultai verify --offline DIR` hands the verifier board.json unparsed: the same report.

`read_bundle(dir, board_file=True)` leaves the board as a `BoardFile`, which the verifier's
worker processes parse, each its chunks of lines. Whatever the export holds, the command must
print the report, and exit with the code, of the path before it: `read_bundle(dir)` parsing
the whole board first. Each test runs the command both ways (the pool forced on, in chunks of
4 leaves, so that the workers parse even these small boards) and compares.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import voting.client_cli as client_cli
import voting.verifier as verifier
from tests.unit.synthetic_election import SyntheticElection, build_election, make_ballot, rebuild_tail
from voting.client import read_bundle, write_bundle
from voting.core.keys import Signer
from voting.verifier import BoardFile, Bundle, Report

A12, A13, SQ = "amendment-12", "amendment-13", "status_quo"
RANKINGS = [[A12, SQ], [A13], [], [SQ, A12, A13], [A12]]


@pytest.fixture(scope="module")
def good() -> SyntheticElection:
    return build_election(n_voters=8, ballots=[(i % 8, 1 + i // 8, RANKINGS[i % 5]) for i in range(23)])


@pytest.fixture(params=[False, True], ids=["no-bar", "bar"])
def boards(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The pool on for any board, in chunks of 4 leaves; the progress bar on or off. Returns
    the boards `verify_election` was given, as the command calls it."""
    monkeypatch.setattr(verifier.parallel, "POOL_MIN_LEAVES", 0)
    monkeypatch.setattr(verifier.parallel, "CHUNK_SIZE", 4)
    if request.param:
        monkeypatch.setattr(client_cli, "PROGRESS_FROM", 1)
    seen: list[Any] = []
    verify_election = client_cli.verify_election

    def spy(bundle: Bundle, **kwargs: Any) -> Report:
        seen.append(bundle.board)
        return verify_election(bundle, **kwargs)

    monkeypatch.setattr(client_cli, "verify_election", spy)
    return seen


def cli(directory: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(client_cli.verify, ["--offline", str(directory), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout


def compare(directory: Path, boards: list[Any], monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    """(exit code, stdout) of the command, after checking that the path before gives the same."""
    boards.clear()
    now = cli(directory, *args)
    assert [type(b) for b in boards] == [BoardFile]
    with monkeypatch.context() as m:
        m.setattr(client_cli, "read_bundle", lambda d, **_: read_bundle(d))  # the whole board parsed first
        before = cli(directory, *args)
    assert type(boards[-1]) is not BoardFile
    assert now == before
    return now


def leaf_lines(board: list[Any]) -> str:
    """The board in `write_bundle`'s layout, one leaf per line."""
    return "[\n  " + ",\n  ".join(json.dumps(leaf, separators=(",", ":")) for leaf in board) + "\n]\n"


# --- exports that keep write_bundle's layout ---------------------------------------------------


def test_good_export(good, boards, monkeypatch, tmp_path):
    write_bundle(good.bundle(), tmp_path)
    code, out = compare(tmp_path, boards, monkeypatch)
    assert code == 0 and "OK: election 42 (schulze): 23 ballots on the board, 8 voters" in out


def test_changed_ballot(good, boards, monkeypatch, tmp_path):
    board = copy.deepcopy(good.board)
    board[9]["ballot"]["signed"]["ranking"] = [SQ]  # the signature no longer covers it
    write_bundle(good.bundle(board=board), tmp_path)
    code, out = compare(tmp_path, boards, monkeypatch)
    assert code == 1
    assert "seq 9: ballot.signature: signature does not verify" in out
    assert "sth.root_hash" in out and "result.root_hash" in out


def test_dropped_leaf(good, boards, monkeypatch, tmp_path):
    write_bundle(good.bundle(board=good.board[:10] + good.board[11:]), tmp_path)
    code, out = compare(tmp_path, boards, monkeypatch)
    assert code == 1 and "seq 10: leaf.seq: " in out and "sth.tree_size" in out and "result.tree_size" in out


def test_reordered_leaves(good, boards, monkeypatch, tmp_path):
    board = [*good.board]
    board[5], board[6] = board[6], board[5]
    write_bundle(good.bundle(board=board), tmp_path)
    code, out = compare(tmp_path, boards, monkeypatch)
    assert code == 1 and "seq 5: leaf.seq: " in out and "seq 6: leaf.seq: " in out


def test_changed_result(good, boards, monkeypatch, tmp_path):
    result = copy.deepcopy(good.result)
    result["signed"]["winner"] = A13
    write_bundle(good.bundle(result=result), tmp_path)
    code, out = compare(tmp_path, boards, monkeypatch)
    assert code == 1 and "result.signature" in out
    write_bundle(good.bundle(result=good.resign(result)), tmp_path)
    code, out = compare(tmp_path, boards, monkeypatch)
    assert code == 1 and "result.winner" in out


def test_roll_with_an_extra_key(good, boards, monkeypatch, tmp_path):
    roll = copy.deepcopy(good.roll)
    extra = Signer.from_private_bytes(b"\x66" * 32)
    roll["signed"]["voters"].append({"key_id": extra.key_id, "public_key": extra.public_key_b64u, "weight": 1})
    roll["signed"]["voters"].sort(key=lambda v: v["key_id"])
    write_bundle(good.bundle(roll=roll), tmp_path)
    code, out = compare(tmp_path, boards, monkeypatch)
    assert code == 1 and "roll.signature" in out
    write_bundle(good.bundle(roll=good.resign(roll)), tmp_path)
    code, out = compare(tmp_path, boards, monkeypatch)
    assert code == 1 and "election.roll_digest" in out


def test_many_leaf_failures(good, boards, monkeypatch, tmp_path):
    board = copy.deepcopy(good.board)
    board[3]["ballot"]["signature"] = board[2]["ballot"]["signature"]
    board[12]["ballot"] = make_ballot(good.voters[4], "43", "ab" * 32, 2, [A12, A12])
    board[14] = {**board[14], "extra": 1}
    board[20] = "not a leaf"
    write_bundle(rebuild_tail(good, board, skip=[3, 12, 14, 20]).bundle(), tmp_path)
    code, out = compare(tmp_path, boards, monkeypatch)
    assert code == 1 and "seq 3: ballot.signature" in out and "seq 20: " in out


def test_pinned_key_and_a_malformed_board(good, boards, monkeypatch, tmp_path):
    """The board's problem keeps its place before the pinned key's, as when read first."""
    write_bundle(good.bundle(), tmp_path)
    (tmp_path / "board.json").write_text(leaf_lines(good.board).replace('"v":1,', '"v":1,"v":1,', 1))
    other = Signer.from_private_bytes(b"\x0a" * 32)
    code, out = compare(tmp_path, boards, monkeypatch, "--server-key", other.public_key_b64u)
    assert code == 1
    lines = out.splitlines()
    assert lines[1].startswith("  board: board.json: ") and "duplicate key 'v'" in lines[1]
    assert lines[2] == "  server_key: server-key.json is not the pinned key"


# --- board files of another layout, or that do not parse ------------------------------------


def _edit_line(text: str, seq: int, edit: Callable[[str], str]) -> str:
    lines = text.split("\n")
    lines[seq + 1] = edit(lines[seq + 1])
    return "\n".join(lines)


LAYOUTS: dict[str, Callable[[list[Any]], str]] = {
    "indent-2": lambda board: json.dumps(board, indent=2),
    "indent-2-final-break": lambda board: json.dumps(board, indent=2) + "\n",  # "[\n" ... "\n]\n", more lines
    "one-line": lambda board: json.dumps(board),  # as the end-to-end test's tampering writes it
    "two-a-line": lambda board: "[\n" + ",\n".join(",".join(json.dumps(leaf) for leaf in board[i : i + 2]) for i in range(0, len(board), 2)) + "\n]\n",
    "crlf": lambda board: leaf_lines(board).replace("\n", "\r\n"),
    "split-leaf": lambda board: leaf_lines(board).replace(',"ballot":', ',\n"ballot":', 1),
    "syntax": lambda board: _edit_line(leaf_lines(board), 7, lambda line: line.replace('"v":1,', '"v":1,,', 1)),
    "duplicate": lambda board: _edit_line(leaf_lines(board), 8, lambda line: line.replace('"v":1,', '"v":1,"v":1,')),
    "float": lambda board: _edit_line(leaf_lines(board), 0, lambda line: line.replace('"revision":1', '"revision":1.0')),
    "surrogate": lambda board: _edit_line(leaf_lines(board), 22, lambda line: line.replace('"election":"', '"election":"\\ud800')),
    "truncated": lambda board: leaf_lines(board)[:5000],
    "no-final-bracket": lambda board: leaf_lines(board)[:-3] + "\n",
    "empty-file": lambda board: "",
    "empty-array": lambda board: "[\n]\n",
    "object": lambda board: "{}\n",
    "bom": lambda board: "\ufeff" + leaf_lines(board),
}


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_board_file_of_another_layout_or_malformed(good, boards, monkeypatch, tmp_path, layout):
    write_bundle(good.bundle(), tmp_path)
    (tmp_path / "board.json").write_text(layout(good.board), encoding="utf-8")
    code, out = compare(tmp_path, boards, monkeypatch)
    assert code in (0, 1)


@pytest.mark.parametrize("layout", ["indent-2", "one-line", "crlf", "two-a-line"])
def test_another_layout_of_a_good_board_verifies(good, boards, monkeypatch, tmp_path, layout):
    write_bundle(good.bundle(), tmp_path)
    (tmp_path / "board.json").write_text(LAYOUTS[layout](good.board), encoding="utf-8")
    assert compare(tmp_path, boards, monkeypatch)[0] == 0


def test_not_utf8(good, boards, monkeypatch, tmp_path):
    write_bundle(good.bundle(), tmp_path)
    (tmp_path / "board.json").write_bytes(leaf_lines(good.board).encode().replace(b'"election":"', b'"election":"\xff', 1))
    code, out = compare(tmp_path, boards, monkeypatch)
    assert code == 1 and "board: board.json: " in out


def test_malformed_board_among_other_malformed_files(good, boards, monkeypatch, tmp_path):
    write_bundle(good.bundle(), tmp_path)
    (tmp_path / "board.json").write_text(LAYOUTS["duplicate"](good.board))
    for name in ("election.json", "result.json"):
        (tmp_path / name).write_text("{")
    code, out = compare(tmp_path, boards, monkeypatch)
    assert code == 1
    assert [line.split(":")[0].strip() for line in out.splitlines()[1:4]] == ["election", "board", "result"]


def test_missing_board_file(good, tmp_path):
    write_bundle(good.bundle(), tmp_path)
    (tmp_path / "board.json").unlink()
    result = CliRunner().invoke(client_cli.verify, ["--offline", str(tmp_path)])
    assert result.exit_code == 2 and f"{tmp_path / 'board.json'}: no such file" in result.output


# --- the progress bar's total -------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2, 23])
def test_board_size_of_the_export_layout(good, tmp_path, n):
    write_bundle(good.bundle(board=good.board[:n]), tmp_path)
    bundle = read_bundle(tmp_path, board_file=True)
    assert type(bundle.board) is BoardFile
    assert client_cli._board_size(bundle.board) == n == client_cli._board_size(read_bundle(tmp_path).board)


@pytest.mark.parametrize(
    "text, want",
    [
        ("[]", None),
        ("", None),
        (json.dumps([1, 2], indent=2), None),
        ("[\n]\n", 0),
        ("[\n\n]\n", 1),
        (json.dumps([1, 2], indent=2) + "\n", 2),
        (json.dumps([[1], [2]], indent=2) + "\n", 6),
    ],
)
def test_board_size_of_other_files(text, want):
    assert client_cli._board_size(BoardFile(text.encode())) == want
    assert client_cli._board_size(None) == 0 and client_cli._board_size("nope") == 0


class _Bars:
    """Records what the command's progress bars were told (rich.progress.Progress, patched)."""

    def __init__(self) -> None:
        self.totals: list[float | None] = []
        self.completed: list[float] = []


@pytest.fixture
def bars(monkeypatch: pytest.MonkeyPatch) -> _Bars:
    import rich.progress

    seen = _Bars()

    class Recording(rich.progress.Progress):
        def add_task(self, *args: Any, total: float | None = 100.0, **kwargs: Any) -> rich.progress.TaskID:
            seen.totals.append(total)
            return super().add_task(*args, total=total, **kwargs)

        def update(self, task_id: rich.progress.TaskID, **kwargs: Any) -> None:
            if "completed" in kwargs:
                seen.completed.append(kwargs["completed"])
            super().update(task_id, **kwargs)

    monkeypatch.setattr(rich.progress, "Progress", Recording)
    monkeypatch.setattr(verifier.parallel, "POOL_MIN_LEAVES", 0)
    monkeypatch.setattr(verifier.parallel, "CHUNK_SIZE", 4)
    return seen


@pytest.mark.parametrize(
    "layout, total",
    [
        (leaf_lines, 23),
        (LAYOUTS["indent-2"], None),
        (LAYOUTS["indent-2-final-break"], "lines"),
        (LAYOUTS["two-a-line"], 12),
        (LAYOUTS["split-leaf"], 24),
    ],
    ids=["export", "indent-2", "indent-2-final-break", "two-a-line", "split-leaf"],
)
def test_progress_never_passes_its_total(good, bars, monkeypatch, tmp_path, layout, total):
    """One leaf a line: the exact count. Another layout: no total, or an estimate from the line
    breaks that the bar never passes (a board checked again after a fallback included)."""
    monkeypatch.setattr(client_cli, "PROGRESS_FROM", 10)
    monkeypatch.setattr(client_cli, "LEAF_BYTES_AT_LEAST", 1)
    write_bundle(good.bundle(), tmp_path)
    (tmp_path / "board.json").write_text(layout(good.board))
    if total == "lines":  # a leaf over many lines: an estimate far above the 23 leaves
        total = (tmp_path / "board.json").read_bytes().count(b"\n") - 2
        assert total > 23
    assert cli(tmp_path)[0] == 0
    assert bars.totals == [total]
    assert bars.completed == sorted(bars.completed)
    if total is None or total == 23:  # parsed once: every signature once
        assert bars.completed[-1] == 23
    else:
        assert min(23, total) <= bars.completed[-1] <= total


def test_no_bar_for_a_small_board_file_of_another_layout(good, bars, monkeypatch, tmp_path):
    monkeypatch.setattr(client_cli, "PROGRESS_FROM", 1000)
    write_bundle(good.bundle(), tmp_path)
    (tmp_path / "board.json").write_text(LAYOUTS["indent-2"](good.board))
    assert cli(tmp_path)[0] == 0
    size = (tmp_path / "board.json").stat().st_size
    assert size < 1000 * client_cli.LEAF_BYTES_AT_LEAST
    assert bars.totals == []
