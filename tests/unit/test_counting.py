"""Counting methods (PROTOCOL §4): published examples, designed ties, thresholds and errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.reference_counting import reference_result
from voting.core.counting import (
    METHODS,
    CountingError,
    Rule,
    WeightedBallot,
    compute_result,
    tie_break_order,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "counting"
RANKED = ("schulze", "ranked_pairs", "irv", "borda", "plurality")


def load(name: str) -> tuple[list[str], list[WeightedBallot], dict[str, Any]]:
    data = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    ballots = [WeightedBallot(tuple(b["ranking"]), b["count"], b["count"]) for b in data["ballots"]]
    return data["options"], ballots, data["want"]


def B(ranking: str | tuple[str, ...], weight: int = 1) -> WeightedBallot:
    """A ballot from "a b c" (space separated) or a tuple."""
    return WeightedBallot(tuple(ranking.split()) if isinstance(ranking, str) else ranking, weight)


# --------------------------------------------------------------------------- published examples


@pytest.mark.parametrize("method", RANKED)
def test_tennessee_published_winners(method: str) -> None:
    options, ballots, want = load("tennessee.json")
    result = compute_result(method, options, ballots)
    assert result["winner"] == want[method]["winner"]
    assert result["ranking"][0] == result["winner"]
    assert sorted(result["ranking"]) == sorted(options)
    assert (result["counted"], result["weight_counted"], result["abstentions"]) == (100, 100, 0)


@pytest.mark.parametrize("method", ["schulze", "ranked_pairs"])
def test_tennessee_condorcet_order_and_pairwise(method: str) -> None:
    options, ballots, want = load("tennessee.json")
    result = compute_result(method, options, ballots)
    assert result["ranking"] == want[method]["ranking"]
    assert result["details"]["pairwise"] == want["pairwise"]
    assert result["ties_broken"] == []


def test_tennessee_ranked_pairs_locks_every_majority() -> None:
    options, ballots, _ = load("tennessee.json")
    locked = compute_result("ranked_pairs", options, ballots)["details"]["locked"]
    # Chattanooga > Knoxville (83) first; the two 68-32 majorities next, ordered by the
    # tie-break order of their loser (chattanooga is before knoxville in options); then 58s.
    assert locked == [
        ["chattanooga", "knoxville"],
        ["nashville", "chattanooga"],
        ["nashville", "knoxville"],
        ["nashville", "memphis"],
        ["chattanooga", "memphis"],
        ["knoxville", "memphis"],
    ]


def test_tennessee_irv_rounds() -> None:
    options, ballots, want = load("tennessee.json")
    result = compute_result("irv", options, ballots)
    assert result["details"] == {"rounds": want["irv"]["rounds"], "eliminated": want["irv"]["eliminated"]}
    assert result["ranking"] == ["knoxville", "memphis", "nashville", "chattanooga"]


@pytest.mark.parametrize("method", ["borda", "plurality"])
def test_tennessee_scores(method: str) -> None:
    options, ballots, want = load("tennessee.json")
    result = compute_result(method, options, ballots)
    assert result["details"] == {"scores": want[method]["scores"]}
    scores = want[method]["scores"]
    assert result["ranking"] == sorted(options, key=lambda o: -scores[o])


def test_schulze_paper_45_voters() -> None:
    options, ballots, want = load("schulze_45.json")
    result = compute_result("schulze", options, ballots)
    assert result["details"]["pairwise"] == want["pairwise"]
    assert result["details"]["strongest_paths"] == want["strongest_paths"]
    assert result["ranking"] == ["E", "A", "C", "B", "D"]
    assert result["winner"] == "E"
    assert result["ties_broken"] == []
    assert (result["counted"], result["weight_counted"]) == (45, 45)


@pytest.mark.parametrize("name", ["tennessee.json", "schulze_45.json"])
@pytest.mark.parametrize("method", RANKED)
def test_published_examples_match_reference(name: str, method: str) -> None:
    options, ballots, _ = load(name)
    assert compute_result(method, options, ballots) == reference_result(method, options, ballots)


# --------------------------------------------------------------------------- ties


def test_tie_break_order_puts_status_quo_first() -> None:
    assert tie_break_order(["a", "b", "status_quo", "c"]) == ("status_quo", "a", "b", "c")
    assert tie_break_order(["b", "a"]) == ("b", "a")


@pytest.mark.parametrize("method", RANKED)
def test_status_quo_wins_a_tie(method: str) -> None:
    options = ["a", "b", "status_quo"]
    ballots = [B("a status_quo"), B("status_quo a")]
    result = compute_result(method, options, ballots)
    assert result["winner"] == "status_quo"
    assert result["ranking"] == ["status_quo", "a", "b"]
    assert result["ties_broken"] == [["status_quo", "a"]]
    assert result == reference_result(method, options, ballots)


@pytest.mark.parametrize("method", RANKED)
def test_tie_without_status_quo_follows_options_order(method: str) -> None:
    options = ["b", "a"]
    result = compute_result(method, options, [B("a b"), B("b a")])
    assert result["ranking"] == ["b", "a"]
    assert result["ties_broken"] == [["b", "a"]]


def test_schulze_tie_groups_in_ranking_order() -> None:
    # x and y tie on top, z and w tie at the bottom
    options = ["w", "z", "y", "x"]
    ballots = [B("x y z w"), B("y x w z")]
    result = compute_result("schulze", options, ballots)
    assert result["ranking"] == ["y", "x", "w", "z"]
    assert result["ties_broken"] == [["y", "x"], ["w", "z"]]
    assert result == reference_result("schulze", options, ballots)


def test_ranked_pairs_skips_a_majority_that_closes_a_cycle() -> None:
    # a > b 6-3, then b > c 5-4 and c > a 5-4 (equal: b comes before c in the tie-break
    # order, so b > c is locked first); c > a would close the cycle a > b > c > a
    options = ["a", "b", "c"]
    ballots = [B("a b c", 3), B("b c a", 2), B("c a b", 2), B("a c b", 1), B("c b a", 1)]
    result = compute_result("ranked_pairs", options, ballots)
    d = result["details"]["pairwise"]
    assert (d["a"]["b"], d["b"]["c"], d["c"]["a"]) == (6, 5, 5)
    assert result["details"]["locked"] == [["a", "b"], ["b", "c"]]
    assert result["ranking"] == ["a", "b", "c"]
    assert result == reference_result("ranked_pairs", options, ballots)


def test_irv_elimination_tie_removes_the_last_in_tie_break_order() -> None:
    options = ["a", "b", "c", "d"]
    ballots = [B("a", 3), B("b", 2), B("c", 2), B("d c", 1)]
    # round 1: a 3, b 2, c 2, d 1 -> d goes; round 2: a 3, b 2, c 3 -> b goes (least, alone)
    # round 3: a 3, c 3 of 6 -> no majority, a and c tie for least -> c goes; its ballots
    # exhaust and a wins round 4 with 3 of 3
    result = compute_result("irv", options, ballots)
    assert result["details"]["eliminated"] == ["d", "b", "c"]
    assert result["details"]["rounds"][2:] == [{"a": 3, "c": 3}, {"a": 3}]
    assert result["ranking"] == ["a", "c", "b", "d"]
    assert result["ties_broken"] == [["a", "c"]]


def test_irv_final_round_ties_order_the_runners_up() -> None:
    options = ["a", "b", "c", "status_quo"]
    ballots = [B("c", 5), B("a", 1), B("b", 1), B("status_quo", 1)]
    result = compute_result("irv", options, ballots)
    assert result["details"]["rounds"] == [{"a": 1, "b": 1, "c": 5, "status_quo": 1}]
    assert result["ranking"] == ["c", "status_quo", "a", "b"]
    assert result["ties_broken"] == [["status_quo", "a", "b"]]


def test_irv_all_ballots_exhausted_falls_back_to_tie_break_order() -> None:
    options = ["a", "b", "c"]
    ballots = [B(()), B(())]
    result = compute_result("irv", options, ballots)
    assert result["details"]["rounds"] == [{"a": 0, "b": 0, "c": 0}, {"a": 0, "b": 0}, {"a": 0}]
    assert result["details"]["eliminated"] == ["c", "b"]
    assert result["ranking"] == ["a", "b", "c"]
    assert result["ties_broken"] == [["a", "b"], ["a", "b", "c"]]
    assert result["abstentions"] == 2


def test_borda_equal_scores_are_a_tie_group() -> None:
    result = compute_result("borda", ["a", "b", "c"], [B("a b c"), B("b a c")])
    assert result["details"]["scores"] == {"a": 3, "b": 3, "c": 0}
    assert result["ties_broken"] == [["a", "b"]]


# --------------------------------------------------------------------------- partial and empty


def test_partial_rankings_put_unlisted_options_tied_below() -> None:
    result = compute_result("schulze", ["a", "b", "c"], [B("b"), B("c a")])
    d = result["details"]["pairwise"]
    assert d == {"a": {"b": 1, "c": 0}, "b": {"a": 1, "c": 1}, "c": {"a": 1, "b": 1}}


def test_borda_gives_unlisted_options_nothing() -> None:
    result = compute_result("borda", ["a", "b", "c", "d"], [B("c", 2), B("b a")])
    assert result["details"]["scores"] == {"a": 2, "b": 3, "c": 6, "d": 0}


def test_empty_ranking_is_a_counted_abstention() -> None:
    options = ["a", "b"]
    result = compute_result("schulze", options, [B("a b"), WeightedBallot((), 5)])
    assert (result["counted"], result["weight_counted"], result["abstentions"]) == (2, 6, 1)
    assert result["details"]["pairwise"] == {"a": {"b": 1}, "b": {"a": 0}}
    irv = compute_result("irv", options, [B("a b"), WeightedBallot((), 5)])
    assert irv["details"]["rounds"] == [{"a": 1, "b": 0}]


@pytest.mark.parametrize("method", RANKED)
def test_zero_ballots(method: str) -> None:
    options = ["a", "b", "status_quo"]
    result = compute_result(method, options, [])
    assert result["winner"] == "status_quo"
    assert result["ranking"][0] == "status_quo"
    assert (result["counted"], result["weight_counted"], result["abstentions"]) == (0, 0, 0)
    assert result == reference_result(method, options, [])


@pytest.mark.parametrize("method", RANKED)
def test_single_option(method: str) -> None:
    result = compute_result(method, ["only"], [B("only", 3), B(())])
    assert result["ranking"] == ["only"]
    assert result["ties_broken"] == []


def test_result_shape_and_pairwise_excludes_the_diagonal() -> None:
    result = compute_result("schulze", ["a", "b"], [B("a")])
    assert set(result) == {"method", "ranking", "winner", "ties_broken", "details", "counted", "weight_counted", "abstentions"}
    assert result["details"] == {"pairwise": {"a": {"b": 1}, "b": {"a": 0}}, "strongest_paths": {"a": {"b": 1}, "b": {"a": 0}}}


def test_voters_and_weight_are_counted_apart() -> None:
    result = compute_result("plurality", ["a", "b"], [WeightedBallot(("a",), weight=3, voters=1), WeightedBallot((), 2, 2)])
    assert (result["counted"], result["weight_counted"], result["abstentions"]) == (3, 5, 2)
    assert result["details"]["scores"] == {"a": 3, "b": 0}


def test_ballots_may_be_a_generator_and_rankings_lists() -> None:
    gen = (WeightedBallot(["a", "b"], 1) for _ in range(3))  # type: ignore[arg-type]
    assert compute_result("borda", ["a", "b"], gen)["details"]["scores"] == {"a": 3, "b": 0}


@pytest.mark.parametrize("method", RANKED)
def test_weights_beyond_int64_stay_exact(method: str) -> None:
    big = 2**70
    options = ["a", "b", "c"]
    ballots = [B("a b c", big), B("b c", big + 1), B("c", 3)]
    assert compute_result(method, options, ballots) == reference_result(method, options, ballots)


@pytest.mark.parametrize("method", ["schulze", "irv", "plurality"])
def test_weights_beyond_float_precision_stay_exact(method: str) -> None:
    w = 2**53 + 1  # not representable in float64
    options = ["a", "b"]
    ballots = [B("a b", w), B("b a", w - 2)]
    result = compute_result(method, options, ballots)
    assert result == reference_result(method, options, ballots)
    assert result["winner"] == "a"


# --------------------------------------------------------------------------- yes/no


def yes_no(yes: int, no: int, abstain: int, rule: Rule, roll_weight: int, empty: int = 0) -> dict[str, Any]:
    ballots = [B("yes", yes)] * bool(yes) + [B("no", no)] * bool(no) + [B("abstain", abstain)] * bool(abstain)
    ballots += [B((), empty)] * bool(empty)
    options = ["yes", "no", "abstain"]
    result = compute_result("yes_no", options, ballots, rule=rule, roll_weight=roll_weight)
    assert result == reference_result("yes_no", options, ballots, rule, roll_weight)
    return result


@pytest.mark.parametrize(
    ("yes", "no", "passed"),
    [(3, 3, False), (4, 3, True), (0, 0, False)],
)
def test_simple_majority(yes: int, no: int, passed: bool) -> None:
    result = yes_no(yes, no, 1, Rule("simple", 0), 10)
    assert result["details"]["passed"] is passed
    assert result["winner"] == ("yes" if passed else "no")
    assert result["ranking"] == (["yes", "no", "abstain"] if passed else ["no", "yes", "abstain"])
    assert result["ties_broken"] == []


@pytest.mark.parametrize(("yes", "passed"), [(5, False), (6, True)])
def test_absolute_majority_needs_more_than_half_the_roll(yes: int, passed: bool) -> None:
    result = yes_no(yes, 0, 0, Rule("absolute", 0), 10)  # exactly half of 10 is not enough
    assert result["details"]["passed"] is passed


def test_absolute_majority_on_an_odd_roll() -> None:
    assert yes_no(5, 0, 0, Rule("absolute", 0), 11)["details"]["passed"] is False
    assert yes_no(6, 0, 0, Rule("absolute", 0), 11)["details"]["passed"] is True


@pytest.mark.parametrize(
    ("yes", "no", "passed"),
    [(2, 1, True), (4, 2, True), (3, 2, False), (199, 100, False), (200, 100, True)],
)
def test_two_thirds_majority_exactly_at_the_threshold(yes: int, no: int, passed: bool) -> None:
    result = yes_no(yes, no, 7, Rule("two_thirds", 0), 400)  # abstentions do not count against
    assert result["details"]["passed"] is passed


def test_two_thirds_with_no_yes_or_no_passes_as_the_formula_says() -> None:
    # PROTOCOL §4: 3*yes >= 2*(yes+no) holds for 0 >= 0; documented in docs/counting.md
    result = yes_no(0, 0, 4, Rule("two_thirds", 0), 10)
    assert result["details"] == {"yes": 0, "no": 0, "abstain": 4, "quorum_met": True, "passed": True}


@pytest.mark.parametrize(
    ("counted", "roll", "quorum", "met"),
    [(5, 10, 50, True), (4, 10, 50, False), (1, 3, 33, True), (1, 3, 34, False), (2, 3, 66, True), (2, 3, 67, False), (3, 3, 100, True), (0, 0, 100, True)],
)
def test_quorum_exactly_met_or_missed(counted: int, roll: int, quorum: int, met: bool) -> None:
    # quorum counts abstentions too: everyone here abstains but one yes voter
    yes = 1 if counted else 0
    result = yes_no(yes, 0, counted - yes, Rule("simple", quorum), roll)
    assert result["details"]["quorum_met"] is met
    assert result["details"]["passed"] is (met and yes > 0)


def test_quorum_missed_fails_even_a_unanimous_yes() -> None:
    result = yes_no(4, 0, 0, Rule("simple", 50), 10)
    assert result["details"] == {"yes": 4, "no": 0, "abstain": 0, "quorum_met": False, "passed": False}
    assert result["winner"] == "no"


def test_empty_yes_no_ballot_is_an_abstention() -> None:
    result = yes_no(2, 1, 1, Rule("simple", 0), 10, empty=3)
    assert result["details"]["abstain"] == 4
    assert (result["counted"], result["abstentions"]) == (4, 2)


def test_yes_no_without_abstain_option_still_accepts_abstain() -> None:
    result = compute_result("yes_no", ["no", "yes"], [B("abstain"), B("yes")], rule=Rule("simple", 0), roll_weight=2)
    assert result["ranking"] == ["yes", "no"]
    assert result["details"]["abstain"] == 1


# --------------------------------------------------------------------------- errors


def test_unknown_method() -> None:
    with pytest.raises(CountingError, match=r"method must be one of \[.*\], got 'approval'"):
        compute_result("approval", ["a"], [])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ([], "at least one option id, got none"),
        (["a", "a"], r"options\[1\] repeats option id 'a'"),
        (["a", 3], r"options\[1\] must be a string option id, got 3"),
        ("ab", "options must be a sequence of option ids, got str"),
    ],
)
def test_bad_options(options: Any, message: str) -> None:
    with pytest.raises(CountingError, match=message):
        compute_result("schulze", options, [])


def test_yes_no_options_are_fixed() -> None:
    with pytest.raises(CountingError, match=r"yes_no options must be 'yes', 'no' and optionally 'abstain', got \['yes', 'maybe'\]"):
        compute_result("yes_no", ["yes", "maybe"], [], rule=Rule("simple", 0), roll_weight=1)


@pytest.mark.parametrize("method", RANKED)
def test_unknown_option_in_a_ranking(method: str) -> None:
    with pytest.raises(CountingError, match=r"ballots\[1\]: unknown option 'z' at ranking\[1\], want one of \['a', 'b'\]"):
        compute_result(method, ["a", "b"], [B("a"), B("b z")])


@pytest.mark.parametrize("method", RANKED)
def test_duplicate_option_in_a_ranking(method: str) -> None:
    with pytest.raises(CountingError, match=r"ballots\[2\]: option 'a' appears twice"):
        compute_result(method, ["a", "b"], [B("a"), B("b"), B("a b a")])


def test_unhashable_ranking_entry() -> None:
    with pytest.raises(CountingError, match=r"ballots\[0\]: unknown option \['a'\] at ranking\[0\]"):
        compute_result("irv", ["a"], [WeightedBallot((["a"],))])  # type: ignore[arg-type]


def test_ranking_must_be_a_sequence() -> None:
    with pytest.raises(CountingError, match=r"ballots\[0\]: ranking must be a sequence of option ids, got str"):
        compute_result("irv", ["a"], [WeightedBallot("a")])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ballot", "message"),
    [
        (WeightedBallot(("a",), 0), r"ballots\[0\].weight must be an integer >= 1, got 0"),
        (WeightedBallot(("a",), True), r"ballots\[0\].weight must be an integer >= 1, got True"),
        (WeightedBallot(("a",), 1, 1.5), r"ballots\[0\].voters must be an integer >= 1, got 1.5"),  # type: ignore[arg-type]
    ],
)
def test_bad_weight_or_voters(ballot: WeightedBallot, message: str) -> None:
    with pytest.raises(CountingError, match=message):
        compute_result("borda", ["a"], [ballot])


def test_ballots_must_be_weighted_ballots() -> None:
    with pytest.raises(CountingError, match=r"ballots\[0\] must be a WeightedBallot, got tuple"):
        compute_result("borda", ["a"], [("a",)])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("ranking", "message"),
    [
        (("yes", "no"), r"at most one of yes, no, abstain, got \['yes', 'no'\]"),
        (("maybe",), r"unknown option 'maybe' at ranking\[0\], want one of \['yes', 'no', 'abstain'\]"),
    ],
)
def test_bad_yes_no_ranking(ranking: tuple[str, ...], message: str) -> None:
    with pytest.raises(CountingError, match=message):
        compute_result("yes_no", ["yes", "no"], [WeightedBallot(ranking)], rule=Rule("simple", 0), roll_weight=1)


def test_yes_no_needs_rule_and_roll_weight() -> None:
    with pytest.raises(CountingError, match=r"yes_no needs a Rule\(majority, quorum_percent\), got None"):
        compute_result("yes_no", ["yes", "no"], [], roll_weight=1)
    with pytest.raises(CountingError, match="yes_no needs roll_weight, .* got None"):
        compute_result("yes_no", ["yes", "no"], [], rule=Rule("simple", 0))


def test_roll_weight_below_the_weight_counted() -> None:
    with pytest.raises(CountingError, match="roll_weight must be at least the weight counted 3, got 2"):
        compute_result("yes_no", ["yes", "no"], [B("yes", 3)], rule=Rule("simple", 0), roll_weight=2)


def test_rule_only_for_yes_no() -> None:
    with pytest.raises(CountingError, match="a rule applies to yes_no only, got one for method 'borda'"):
        compute_result("borda", ["a"], [], rule=Rule("simple", 0))


@pytest.mark.parametrize(
    ("majority", "quorum", "message"),
    [
        ("most", 0, r"rule majority must be one of \['simple', 'absolute', 'two_thirds'\], got 'most'"),
        ("simple", 101, "rule quorum_percent must be an integer in 0..100, got 101"),
        ("simple", -1, "rule quorum_percent must be an integer in 0..100, got -1"),
        ("simple", True, "rule quorum_percent must be an integer in 0..100, got True"),
    ],
)
def test_bad_rule(majority: str, quorum: Any, message: str) -> None:
    with pytest.raises(CountingError, match=message):
        Rule(majority, quorum)


def test_counting_error_is_a_value_error() -> None:
    assert issubclass(CountingError, ValueError)
    assert set(METHODS) == {"schulze", "ranked_pairs", "irv", "borda", "plurality", "yes_no"}


def test_errors_carry_protocol_codes() -> None:
    from voting.core.errors import VotingError

    cases = [
        (lambda: compute_result("irv", ["a"], [B("b")]), "unknown_option"),
        (lambda: compute_result("irv", ["a"], [B("a a")]), "duplicate_option"),
        (lambda: compute_result("yes_no", ["yes", "no"], [B("yes no")], rule=Rule("simple", 0), roll_weight=1), "malformed_ballot"),
        (lambda: compute_result("irv", [], []), "counting_error"),
    ]
    for call, code in cases:
        with pytest.raises(CountingError) as caught:
            call()
        assert isinstance(caught.value, VotingError)
        assert caught.value.code == code
