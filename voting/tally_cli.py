"""`kurultai tally --method M FILE` (PROTOCOL §7): count a file of ballots and print the result.

The file is
    {"options": [id, ...], "ballots": [{"ranking": [id, ...], "count": int}, ...]}
and, for yes_no only, "rule": {"majority", "quorum_percent"} and "roll_weight": int (at the top
level, or inside "rule"). The output is one line: the RFC 8785 canonical JSON of
{"method", "ranking", "winner", "ties_broken", "details"}. Any malformed input exits 2 with a
one-line reason on stderr.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any, NoReturn

import click

from voting.core.counting import METHODS, CountingError, Rule, WeightedBallot, compute_result
from voting.core.encoding import jcs
from voting.core.errors import MalformedError

OUTPUT_FIELDS = ("method", "ranking", "winner", "ties_broken", "details")
MAX_INT = 2**53 - 1  # the largest integer RFC 8785 (and every JSON client) represents exactly
EXIT_MALFORMED = 2


class TallyInputError(CountingError):
    """A tally file that does not follow PROTOCOL §7."""


def _fail(message: str) -> NoReturn:
    raise TallyInputError(message)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            _fail(f"duplicate key {key!r} in a JSON object; each key may appear once")
        out[key] = value
    return out


def _no_float(text: str) -> NoReturn:
    _fail(f"numbers must be integers, got {text}")


def _no_constant(text: str) -> NoReturn:
    _fail(f"numbers must be integers, got {text}")


def _read(path: str) -> Any:
    try:
        if path == "-":
            raw = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                raw = f.read()
    except OSError as e:
        _fail(f"cannot read {path!r}: {e.strerror or e}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        _fail(f"file is not valid UTF-8: byte {e.start} is {raw[e.start]:#04x}")
    try:
        return json.loads(
            text,
            object_pairs_hook=_no_duplicate_keys,
            parse_float=_no_float,
            parse_constant=_no_constant,
        )
    except TallyInputError:
        raise
    except json.JSONDecodeError as e:
        _fail(f"invalid JSON: {e.msg} at line {e.lineno} column {e.colno}")
    except RecursionError:
        _fail("invalid JSON: nested too deeply")
    except ValueError as e:  # e.g. an integer literal of more than 4300 digits
        _fail(f"invalid JSON: {e}")


def _kind(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _string(value: object, where: str) -> str:
    if not isinstance(value, str):
        _fail(f"{where} must be a string, got {_kind(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        _fail(f"{where} must be valid Unicode, got a lone surrogate in {value!r}")
    return value


def _integer(value: object, where: str, minimum: int) -> int:
    if type(value) is not int:
        _fail(f"{where} must be an integer, got {_kind(value)}")
    if not minimum <= value <= MAX_INT:
        _fail(f"{where} must be an integer in {minimum}..{MAX_INT}, got {value}")
    return value


def _object(value: object, where: str, required: set[str], allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail(f"{where} must be an object, got {_kind(value)}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        _fail(f"unknown field {unknown[0]!r} in {where}, want only {sorted(allowed)}")
    missing = sorted(required - set(value))
    if missing:
        _fail(f"missing field {missing[0]!r} in {where}")
    return value


def _array(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        _fail(f"{where} must be an array, got {_kind(value)}")
    return value


def parse_tally_file(method: str, data: Any) -> tuple[list[str], list[WeightedBallot], Rule | None, int | None]:
    """The options, ballots, rule and roll_weight of a parsed tally file; raises TallyInputError."""
    if method not in METHODS:
        _fail(f"unknown method {method!r}, want one of {list(METHODS)}")
    yes_no = method == "yes_no"
    allowed = {"options", "ballots", "rule", "roll_weight"} if yes_no else {"options", "ballots"}
    top = _object(data, "the top-level object", {"options", "ballots", "rule"} if yes_no else {"options", "ballots"}, allowed)
    options = [_string(o, f"options[{i}]") for i, o in enumerate(_array(top["options"], "options"))]
    ballots = []
    for i, entry in enumerate(_array(top["ballots"], "ballots")):
        entry = _object(entry, f"ballots[{i}]", {"ranking"}, {"ranking", "count"})
        ranking = tuple(_string(o, f"ballots[{i}].ranking[{j}]") for j, o in enumerate(_array(entry["ranking"], f"ballots[{i}].ranking")))
        count = _integer(entry.get("count", 1), f"ballots[{i}].count", 1)
        ballots.append(WeightedBallot(ranking, weight=count, voters=count))
    rule = roll_weight = None
    if yes_no:
        raw_rule = _object(top["rule"], "rule", {"majority", "quorum_percent"}, {"majority", "quorum_percent", "roll_weight"})
        if ("roll_weight" in raw_rule) == ("roll_weight" in top):
            _fail("yes_no needs roll_weight, the roll's total weight, once: at the top level or in rule")
        majority = _string(raw_rule["majority"], "rule.majority")
        quorum = _integer(raw_rule["quorum_percent"], "rule.quorum_percent", 0)
        rule = Rule(majority, quorum)
        where = "rule.roll_weight" if "roll_weight" in raw_rule else "roll_weight"
        roll_weight = _integer(raw_rule.get("roll_weight", top.get("roll_weight")), where, 0)
    return options, ballots, rule, roll_weight


def tally_output(method: str, data: Any) -> bytes:
    """The bytes `kurultai tally` prints for a parsed file (without the final newline)."""
    options, ballots, rule, roll_weight = parse_tally_file(method, data)
    result = compute_result(method, options, ballots, rule=rule, roll_weight=roll_weight)
    try:
        return jcs({k: result[k] for k in OUTPUT_FIELDS})
    except MalformedError:  # an integer outside ±(2^53-1)
        _fail(f"the counts are too large: a result integer exceeds {MAX_INT}")


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "unknown error"


def run_tally(method: str, path: str, *, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    """Run `kurultai tally --method METHOD PATH`: 0 after printing the result, 2 on malformed input."""
    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    try:
        data = _read(path)
        payload = tally_output(method, data)
    except CountingError as e:
        err.write(f"kurultai tally: {_one_line(str(e))}\n")
        return EXIT_MALFORMED
    except RecursionError:
        err.write("kurultai tally: the file is nested too deeply\n")
        return EXIT_MALFORMED
    except Exception as e:  # never a traceback; an unexpected failure still names itself
        err.write(f"kurultai tally: cannot count this file: {_one_line(f'{type(e).__name__}: {e}')}\n")
        return EXIT_MALFORMED
    buffer = getattr(out, "buffer", None)
    if buffer is not None:
        out.flush()
        buffer.write(payload + b"\n")
        buffer.flush()
    else:
        out.write(payload.decode("utf-8") + "\n")
    return 0


@click.command("tally")
@click.option("--method", required=True, type=click.Choice(METHODS), help="Counting method (PROTOCOL §4).")
@click.argument("file", type=click.Path(allow_dash=True))
def tally_command(method: str, file: str) -> None:
    """Count the ballots in FILE by METHOD and print the result as canonical JSON (PROTOCOL §7)."""
    click.get_current_context().exit(run_tally(method, file))


if __name__ == "__main__":
    tally_command(prog_name="kurultai tally")
