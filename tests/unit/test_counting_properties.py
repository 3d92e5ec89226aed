"""Hypothesis properties of the counting methods, and the fast count against the reference."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.reference_counting import pairwise, reference_result
from voting.core.counting import Rule, WeightedBallot, compute_result

RANKED = ("schulze", "ranked_pairs", "irv", "borda", "plurality")
POOL = ("a", "b", "c", "status_quo", "d", "e")
FEW = settings(max_examples=60, deadline=None)


@st.composite
def option_lists(draw: st.DrawFn, max_options: int = 5) -> list[str]:
    m = draw(st.integers(1, max_options))
    return list(draw(st.permutations(POOL))[:m])


@st.composite
def ballots_for(draw: st.DrawFn, options: list[str], max_ballots: int = 10, max_weight: int = 4) -> list[WeightedBallot]:
    out = []
    for _ in range(draw(st.integers(0, max_ballots))):
        order = draw(st.permutations(options))
        length = draw(st.integers(0, len(options)))
        out.append(WeightedBallot(tuple(order[:length]), draw(st.integers(1, max_weight))))
    return out


@st.composite
def profiles(draw: st.DrawFn, max_options: int = 5) -> tuple[list[str], list[WeightedBallot]]:
    options = draw(option_lists(max_options))
    return options, draw(ballots_for(options))


@st.composite
def with_majority_favourite(draw: st.DrawFn) -> tuple[list[str], list[WeightedBallot], str]:
    """A profile plus a bloc ranking `favourite` first that outweighs every other ballot."""
    options, ballots = draw(profiles())
    favourite = draw(st.sampled_from(options))
    rest = draw(st.permutations([o for o in options if o != favourite]))
    rest = rest[: draw(st.integers(0, len(rest)))]
    bloc = WeightedBallot((favourite, *rest), sum(b.weight for b in ballots) + 1)
    position = draw(st.integers(0, len(ballots)))
    return options, [*ballots[:position], bloc, *ballots[position:]], favourite


def condorcet_winner(options: list[str], ballots: list[WeightedBallot]) -> str | None:
    d = pairwise(options, ballots)
    winners = [x for x in options if all(d[x][y] > d[y][x] for y in options if y != x)]
    return winners[0] if winners else None


def outcome(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result[k] for k in ("method", "ranking", "winner", "ties_broken", "details", "weight_counted")}


# --------------------------------------------------------------------------- against the reference


@settings(max_examples=120, deadline=None)
@given(profile=profiles(), method=st.sampled_from(RANKED))
def test_fast_count_equals_reference(profile: tuple[list[str], list[WeightedBallot]], method: str) -> None:
    options, ballots = profile
    assert compute_result(method, options, ballots) == reference_result(method, options, ballots)


@settings(max_examples=60, deadline=None)
@given(profile=profiles(max_options=3), method=st.sampled_from(RANKED))
def test_fast_count_equals_reference_with_many_equal_ballots(profile: tuple[list[str], list[WeightedBallot]], method: str) -> None:
    # few options and weight-1 copies: ties everywhere
    options, ballots = profile
    ballots = [WeightedBallot(b.ranking) for b in ballots for _ in range(b.weight)]
    assert compute_result(method, options, ballots) == reference_result(method, options, ballots)


@FEW
@given(
    choices=st.lists(st.tuples(st.sampled_from([(), ("yes",), ("no",), ("abstain",)]), st.integers(1, 4)), max_size=12),
    majority=st.sampled_from(["simple", "absolute", "two_thirds"]),
    quorum=st.integers(0, 100),
    extra=st.integers(0, 20),
    with_abstain=st.booleans(),
)
def test_yes_no_equals_reference(choices: list[tuple[tuple[str, ...], int]], majority: str, quorum: int, extra: int, with_abstain: bool) -> None:
    ballots = [WeightedBallot(r, w) for r, w in choices]
    roll = sum(w for _, w in choices) + extra
    rule = Rule(majority, quorum)
    options = ["yes", "no", "abstain"] if with_abstain else ["yes", "no"]
    result = compute_result("yes_no", options, ballots, rule=rule, roll_weight=roll)
    assert result == reference_result("yes_no", options, ballots, rule, roll)


# --------------------------------------------------------------------------- properties


@FEW
@given(case=with_majority_favourite(), method=st.sampled_from(["schulze", "ranked_pairs"]))
def test_condorcet_winner_wins(case: tuple[list[str], list[WeightedBallot], str], method: str) -> None:
    options, ballots, favourite = case
    assert condorcet_winner(options, ballots) == favourite
    assert compute_result(method, options, ballots)["winner"] == favourite


@FEW
@given(profile=profiles(), method=st.sampled_from(["schulze", "ranked_pairs"]))
def test_any_condorcet_winner_wins(profile: tuple[list[str], list[WeightedBallot]], method: str) -> None:
    options, ballots = profile
    winner = condorcet_winner(options, ballots)
    if winner is not None:
        assert compute_result(method, options, ballots)["winner"] == winner


@FEW
@given(case=with_majority_favourite())
def test_majority_first_choice_wins_irv(case: tuple[list[str], list[WeightedBallot], str]) -> None:
    options, ballots, favourite = case
    result = compute_result("irv", options, ballots)
    assert result["winner"] == favourite
    assert len(result["details"]["rounds"]) == 1


@FEW
@given(data=st.data(), profile=profiles(), method=st.sampled_from(RANKED))
def test_permuting_ballots_changes_nothing(data: st.DataObject, profile: tuple[list[str], list[WeightedBallot]], method: str) -> None:
    options, ballots = profile
    shuffled = data.draw(st.permutations(ballots))
    assert compute_result(method, options, shuffled) == compute_result(method, options, ballots)


@FEW
@given(data=st.data(), profile=profiles(), method=st.sampled_from(RANKED))
def test_weight_k_equals_k_copies(data: st.DataObject, profile: tuple[list[str], list[WeightedBallot]], method: str) -> None:
    options, ballots = profile
    copies = [WeightedBallot(b.ranking) for b in ballots for _ in range(b.weight)]
    copies = data.draw(st.permutations(copies))
    weighted = compute_result(method, options, ballots)
    assert outcome(weighted) == outcome(compute_result(method, options, copies))
    assert weighted["counted"] == len(ballots)


@FEW
@given(profile=profiles(), method=st.sampled_from(RANKED))
def test_ranking_is_a_permutation_of_the_options(profile: tuple[list[str], list[WeightedBallot]], method: str) -> None:
    options, ballots = profile
    result = compute_result(method, options, ballots)
    assert sorted(result["ranking"]) == sorted(options)
    assert result["winner"] == result["ranking"][0]
    for group in result["ties_broken"]:
        assert len(group) > 1 and set(group) <= set(options)
        if "status_quo" in group:
            assert group[0] == "status_quo"
