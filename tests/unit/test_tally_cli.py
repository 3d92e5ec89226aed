"""`kurultai tally --method M FILE` (PROTOCOL §7): canonical JSON out, exit 2 on malformed files."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from voting.core.counting import METHODS
from voting.tally_cli import run_tally, tally_command

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors" / "counting"
MALFORMED = json.loads((VECTORS / "tally_cli_malformed.json").read_text(encoding="utf-8"))["cases"]
TENNESSEE = VECTORS / "tennessee.json"


def tennessee_file(tmp_path: Path) -> Path:
    data = json.loads(TENNESSEE.read_text(encoding="utf-8"))
    path = tmp_path / "tennessee.json"
    path.write_text(json.dumps({"options": data["options"], "ballots": data["ballots"]}), encoding="utf-8")
    return path


def run(method: str, path: Path | str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_tally(method, str(path), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("method", "winner"),
    [("schulze", "nashville"), ("ranked_pairs", "nashville"), ("irv", "knoxville"), ("borda", "nashville"), ("plurality", "memphis")],
)
def test_tennessee(tmp_path: Path, method: str, winner: str) -> None:
    code, out, err = run(method, tennessee_file(tmp_path))
    assert (code, err) == (0, "")
    assert out.endswith("\n") and out.count("\n") == 1
    result = json.loads(out)
    assert list(result) == sorted(["method", "ranking", "winner", "ties_broken", "details"])
    assert (result["method"], result["winner"]) == (method, winner)


def test_output_is_canonical_json(tmp_path: Path) -> None:
    code, out, _ = run("plurality", tennessee_file(tmp_path))
    assert code == 0
    assert out == (
        '{"details":{"scores":{"chattanooga":15,"knoxville":17,"memphis":42,"nashville":26}},'
        '"method":"plurality","ranking":["memphis","nashville","knoxville","chattanooga"],'
        '"ties_broken":[],"winner":"memphis"}\n'
    )


def test_irv_details(tmp_path: Path) -> None:
    _, out, _ = run("irv", tennessee_file(tmp_path))
    details = json.loads(out)["details"]
    assert details["eliminated"] == ["chattanooga", "nashville"]
    assert details["rounds"][-1] == {"knoxville": 58, "memphis": 42}


def test_count_defaults_to_one_and_ties_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "tie.json"
    path.write_text('{"options": ["a", "status_quo"], "ballots": [{"ranking": ["a"]}, {"ranking": ["status_quo"]}, {"ranking": []}]}')
    code, out, _ = run("schulze", path)
    assert code == 0
    result = json.loads(out)
    assert result["ranking"] == ["status_quo", "a"]
    assert result["ties_broken"] == [["status_quo", "a"]]
    assert result["details"]["pairwise"] == {"a": {"status_quo": 1}, "status_quo": {"a": 1}}


@pytest.mark.parametrize("inside_rule", [False, True])
def test_yes_no(tmp_path: Path, inside_rule: bool) -> None:
    rule: dict[str, Any] = {"majority": "two_thirds", "quorum_percent": 50}
    data: dict[str, Any] = {
        "options": ["yes", "no", "abstain"],
        "ballots": [{"ranking": ["yes"], "count": 4}, {"ranking": ["no"], "count": 2}, {"ranking": ["abstain"]}, {"ranking": []}],
        "rule": rule,
    }
    if inside_rule:
        rule["roll_weight"] = 16
    else:
        data["roll_weight"] = 16
    path = tmp_path / "yes_no.json"
    path.write_text(json.dumps(data))
    code, out, err = run("yes_no", path)
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "method": "yes_no",
        "ranking": ["yes", "no", "abstain"],
        "winner": "yes",
        "ties_broken": [],
        "details": {"yes": 4, "no": 2, "abstain": 2, "quorum_met": True, "passed": True},
    }


def test_zero_ballots_every_method(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    for method in METHODS:
        if method == "yes_no":
            path.write_text('{"options": ["yes", "no"], "ballots": [], "rule": {"majority": "simple", "quorum_percent": 0}, "roll_weight": 0}')
        else:
            path.write_text('{"options": ["x", "status_quo"], "ballots": []}')
        code, out, err = run(method, path)
        assert (code, err) == (0, "")
        assert json.loads(out)["winner"] == ("no" if method == "yes_no" else "status_quo")


def test_non_ascii_option_ids_are_written_as_utf8(tmp_path: Path) -> None:
    path = tmp_path / "u.json"
    path.write_text(json.dumps({"options": ["é", "Курултай"], "ballots": [{"ranking": ["Курултай"]}]}), encoding="utf-8")
    result = CliRunner().invoke(tally_command, ["--method", "plurality", str(path)])
    assert result.exit_code == 0
    assert "Курултай" in result.stdout_bytes.decode("utf-8")


@pytest.mark.parametrize("case", MALFORMED, ids=[c["desc"] for c in MALFORMED])
def test_malformed_file_vectors(tmp_path: Path, case: dict[str, Any]) -> None:
    path = tmp_path / "bad.json"
    if "file_hex" in case:
        path.write_bytes(bytes.fromhex(case["file_hex"]))
    else:
        path.write_text(case["file"], encoding="utf-8", errors="surrogatepass")
    code, out, err = run(case["method"], path)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n")
    assert err.startswith("kurultai tally: ")
    assert case["want_error"] in err


@pytest.mark.parametrize(
    ("content", "want"),
    [
        (None, "cannot read"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"options": ["a\\nb"], "ballots": [{"ranking": ["c\\nd"]}]}', "unknown option 'c\\\\nd'"),
    ],
    ids=["missing file", "deep nesting", "newline in an id stays on one line"],
)
def test_other_malformed_inputs(tmp_path: Path, content: str | None, want: str) -> None:
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    code, out, err = run("borda", path)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert want.replace("\\\\", "\\") in err


def test_directory_instead_of_a_file(tmp_path: Path) -> None:
    code, _, err = run("borda", tmp_path)
    assert code == 2
    assert "cannot read" in err and err.count("\n") == 1


def test_unknown_method_in_run_tally(tmp_path: Path) -> None:
    code, _, err = run("approval", tennessee_file(tmp_path))
    assert code == 2
    assert "unknown method 'approval'" in err


def test_click_command_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(tally_command, ["--method", "borda", str(tennessee_file(tmp_path))])
    assert ok.exit_code == 0
    assert json.loads(ok.stdout)["winner"] == "nashville"
    bad = tmp_path / "bad.json"
    bad.write_text('{"options": ["a"], "ballots": [{"ranking": ["a"], "count": 1.5}]}')
    failed = runner.invoke(tally_command, ["--method", "borda", str(bad)])
    assert failed.exit_code == 2
    assert failed.stdout == ""
    assert failed.stderr == "kurultai tally: numbers must be integers, got 1.5\n"
    wrong = runner.invoke(tally_command, ["--method", "approval", str(bad)])
    assert wrong.exit_code == 2
    missing = runner.invoke(tally_command, [str(bad)])
    assert missing.exit_code == 2


def test_stdin_dash(tmp_path: Path) -> None:
    text = tennessee_file(tmp_path).read_text()
    result = CliRunner().invoke(tally_command, ["--method", "irv", "-"], input=text)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["winner"] == "knoxville"


def test_module_entry_point_never_prints_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"options": ["a"], "ballots": [{"ranking": ["a"], "count": true}]}')
    proc = subprocess.run(
        [sys.executable, "-m", "voting.tally_cli", "--method", "irv", str(bad)],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == b""
    assert proc.stderr == b"kurultai tally: ballots[0].count must be an integer, got boolean\n"
    good = subprocess.run(
        [sys.executable, "-m", "voting.tally_cli", "--method", "schulze", str(tennessee_file(tmp_path))],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert good.returncode == 0
    assert json.loads(good.stdout)["ranking"] == ["nashville", "chattanooga", "knoxville", "memphis"]
