"""The incremental tally: it equals a full recount after any sequence of ballots and revisions."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.reference_counting import reference_result
from voting.core.counting import METHODS, CountingError, Rule, WeightedBallot, compute_result
from voting.core.tally import IncrementalTally

RANKED = ("schulze", "ranked_pairs", "irv", "borda", "plurality")
OPTIONS = ["a", "b", "status_quo", "c"]
YES_NO = ["yes", "no", "abstain"]
RULE = Rule("two_thirds", 40)


def recount(tally: IncrementalTally, latest: dict[str, tuple[tuple[str, ...], int]]) -> dict[str, Any]:
    ballots = [WeightedBallot(r, w) for r, w in latest.values()]
    return compute_result(tally.method, tally.options, ballots, rule=tally.rule, roll_weight=tally.roll_weight)


def make(method: str) -> IncrementalTally:
    if method == "yes_no":
        return IncrementalTally(method, YES_NO, rule=RULE, roll_weight=100)
    return IncrementalTally(method, OPTIONS)


@st.composite
def ballot_streams(draw: st.DrawFn, method: str) -> list[tuple[str, tuple[str, ...], int]]:
    """(voter, ranking, weight) in casting order; a voter who casts again revises their ballot."""
    out = []
    for _ in range(draw(st.integers(0, 14))):
        voter = draw(st.sampled_from(["v1", "v2", "v3", "v4", "v5"]))
        if method == "yes_no":
            ranking: tuple[str, ...] = draw(st.sampled_from([(), ("yes",), ("no",), ("abstain",)]))
        else:
            order = draw(st.permutations(OPTIONS))
            ranking = tuple(order[: draw(st.integers(0, len(OPTIONS)))])
        out.append((voter, ranking, draw(st.integers(1, 3))))
    return out


@settings(max_examples=40, deadline=None)
@given(data=st.data(), method=st.sampled_from(METHODS))
def test_incremental_equals_recount(data: st.DataObject, method: str) -> None:
    tally = make(method)
    latest: dict[str, tuple[tuple[str, ...], int]] = {}
    revisions: dict[str, int] = {}
    for voter, ranking, weight in data.draw(ballot_streams(method)):
        revisions[voter] = revisions.get(voter, 0) + data.draw(st.integers(1, 3))
        tally.add(voter, ranking, weight, revisions[voter])
        latest[voter] = (ranking, weight)
        assert tally.result() == recount(tally, latest)
    if method != "yes_no":
        ballots = [WeightedBallot(r, w) for r, w in latest.values()]
        assert tally.result() == reference_result(method, OPTIONS, ballots)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), method=st.sampled_from(METHODS))
def test_revision_replaces_the_earlier_ballot(data: st.DataObject, method: str) -> None:
    stream = data.draw(ballot_streams(method))
    first, second = make(method), make(method)
    for n, (_voter, ranking, weight) in enumerate(stream):
        first.add(f"x{n}", ranking, weight, 1)
        second.add(f"x{n}", ranking, weight, 1)
    old = data.draw(ballot_streams(method).filter(bool))[0]
    new = data.draw(ballot_streams(method).filter(bool))[0]
    first.add("voter", old[1], old[2], 1)
    first.add("voter", new[1], new[2], 2)
    second.add("voter", new[1], new[2], 5)
    assert first.result() == second.result()
    assert len(first) == len(stream) + 1


@settings(max_examples=25, deadline=None)
@given(data=st.data(), method=st.sampled_from(METHODS))
def test_rebuild_equals_incremental_in_any_order(data: st.DataObject, method: str) -> None:
    tally = make(method)
    log = []
    revisions: dict[str, int] = {}
    for voter, ranking, weight in data.draw(ballot_streams(method)):
        revisions[voter] = revisions.get(voter, 0) + 1
        tally.add(voter, ranking, weight, revisions[voter])
        log.append((voter, ranking, weight, revisions[voter]))
    shuffled = data.draw(st.permutations(log))
    rebuilt = IncrementalTally.rebuild(method, tally.options, shuffled, rule=tally.rule, roll_weight=tally.roll_weight)
    assert rebuilt.result() == tally.result()


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize("method", RANKED)
def test_tennessee_live(method: str) -> None:
    options = ["memphis", "nashville", "chattanooga", "knoxville"]
    blocs = [
        (("memphis", "nashville", "chattanooga", "knoxville"), 42),
        (("nashville", "chattanooga", "knoxville", "memphis"), 26),
        (("chattanooga", "knoxville", "nashville", "memphis"), 15),
        (("knoxville", "chattanooga", "nashville", "memphis"), 17),
    ]
    tally = IncrementalTally(method, options)
    n = 0
    for ranking, count in blocs:
        for _ in range(count):
            tally.add(f"voter{n}", ranking, 1, 1)
            n += 1
    want = {"schulze": "nashville", "ranked_pairs": "nashville", "irv": "knoxville", "borda": "nashville", "plurality": "memphis"}
    result = tally.result()
    assert result["winner"] == want[method]
    assert result == compute_result(method, options, [WeightedBallot(r, c, c) for r, c in blocs])
    assert (tally.counted, tally.weight_counted, tally.abstentions) == (100, 100, 0)


def test_empty_tally_equals_zero_ballot_count() -> None:
    for method in METHODS:
        tally = make(method)
        assert tally.result() == recount(tally, {})
        assert len(tally) == 0


def test_revision_moves_the_voter() -> None:
    tally = IncrementalTally("plurality", ["a", "b"])
    tally.add("v", ["a"], 3, 1)
    assert tally.result()["details"]["scores"] == {"a": 3, "b": 0}
    tally.add("v", ["b"], 3, 4)
    assert tally.result()["details"]["scores"] == {"a": 0, "b": 3}
    assert tally.revision("v") == 4 and tally.revision("w") is None
    tally.add("v", [], 3, 5)
    assert (tally.counted, tally.weight_counted, tally.abstentions) == (1, 3, 1)


@pytest.mark.parametrize("stale", [1, 2])
def test_stale_revision_is_rejected(stale: int) -> None:
    tally = IncrementalTally("schulze", ["a", "b"])
    tally.add("v", ["a", "b"], 1, 2)
    before = tally.result()
    with pytest.raises(CountingError, match=f"stale revision {stale} for voter 'v', want above 2"):
        tally.add("v", ["b", "a"], 1, stale)
    assert tally.result() == before


@pytest.mark.parametrize("method", RANKED)
def test_invalid_ballot_leaves_the_tally_unchanged(method: str) -> None:
    tally = IncrementalTally(method, ["a", "b"])
    tally.add("v", ["a"], 2, 1)
    before = tally.result()
    with pytest.raises(CountingError, match=r"ballot of 'v': unknown option 'z' at ranking\[1\]"):
        tally.add("v", ["b", "z"], 2, 2)
    with pytest.raises(CountingError, match=r"ballot of 'v': option 'b' appears twice"):
        tally.add("v", ["b", "b"], 2, 2)
    assert tally.result() == before
    assert tally.revision("v") == 1


def test_yes_no_live() -> None:
    tally = IncrementalTally("yes_no", YES_NO, rule=Rule("simple", 50), roll_weight=6)
    tally.add("a", ["yes"], 2, 1)
    assert tally.result()["details"] == {"yes": 2, "no": 0, "abstain": 0, "quorum_met": False, "passed": False}
    tally.add("b", [], 1, 1)
    assert tally.result()["details"] == {"yes": 2, "no": 0, "abstain": 1, "quorum_met": True, "passed": True}
    tally.add("a", ["no"], 2, 2)
    assert tally.result()["winner"] == "no"
    with pytest.raises(CountingError, match="at most one of yes, no, abstain"):
        tally.add("c", ["yes", "no"], 1, 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((3, ["a"], 1, 1), "voter must be a key_id string, got 3"),
        (("v", ["a"], 0, 1), "weight must be an integer >= 1, got 0"),
        (("v", ["a"], 1, 0), "revision must be an integer >= 1, got 0"),
        (("v", ["a"], 1, True), "revision must be an integer >= 1, got True"),
        (("v", "a", 1, 1), "ranking must be a sequence of option ids, got str"),
    ],
)
def test_bad_add_arguments(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(CountingError, match=message):
        IncrementalTally("borda", ["a"]).add(*args)


def test_constructor_validates_like_compute_result() -> None:
    with pytest.raises(CountingError, match="method must be one of"):
        IncrementalTally("approval", ["a"])
    with pytest.raises(CountingError, match="yes_no needs a Rule"):
        IncrementalTally("yes_no", YES_NO, roll_weight=3)
    with pytest.raises(CountingError, match=r"options\[1\] repeats option id 'a'"):
        IncrementalTally("irv", ["a", "a"])


def test_rebuild_keeps_the_highest_revision_and_rejects_twins() -> None:
    ballots = [("v", ("b",), 1, 3), ("v", ("a",), 1, 1), ("w", ("a",), 2, 1)]
    tally = IncrementalTally.rebuild("plurality", ["a", "b"], ballots)
    assert tally.result()["details"]["scores"] == {"a": 2, "b": 1}
    with pytest.raises(CountingError, match=r"ballots\[1\]: voter 'v' has two ballots with revision 3"):
        IncrementalTally.rebuild("plurality", ["a", "b"], [("v", ("b",), 1, 3), ("v", ("a",), 1, 3)])
    with pytest.raises(CountingError, match=r"ballots\[0\] must be \(voter, ranking, weight, revision\)"):
        IncrementalTally.rebuild("plurality", ["a", "b"], [("v", ("b",), 1)])  # type: ignore[list-item]
    with pytest.raises(CountingError, match=r"ballots\[0\]: voter must be a key_id string, got None"):
        IncrementalTally.rebuild("plurality", ["a", "b"], [(None, ("b",), 1, 1)])  # type: ignore[list-item]


@pytest.mark.parametrize("method", RANKED)
def test_weights_beyond_int64(method: str) -> None:
    tally = IncrementalTally(method, ["a", "b", "c"])
    tally.add("v1", ["a", "b"], 2**62, 1)
    tally.add("v2", ["b", "c"], 2**62 + 1, 1)
    tally.add("v3", ["c"], 5, 1)
    tally.add("v1", ["c", "a"], 2**62, 2)
    ballots = [WeightedBallot(("c", "a"), 2**62), WeightedBallot(("b", "c"), 2**62 + 1), WeightedBallot(("c",), 5)]
    assert tally.result() == reference_result(method, ["a", "b", "c"], ballots)


def test_stale_revision_has_the_protocol_code() -> None:
    tally = IncrementalTally("irv", ["a"])
    tally.add("v", ["a"], 1, 3)
    with pytest.raises(CountingError, match="stale revision 3") as caught:
        tally.add("v", ["a"], 1, 3)
    assert caught.value.code == "stale_revision"
