"""Counting methods of PROTOCOL §4: pure functions over plain data.

`compute_result` is the one entry point for a full count. The `finish_*` functions turn a
method's accumulated state (pairwise matrix, grouped IRV ballots, scores, yes/no totals) into
the result dict; `voting.core.tally.IncrementalTally` maintains the same state ballot by
ballot and calls the same functions, so a live tally and a recount cannot drift apart.

Every integer is exact: numpy float64 sums are used only while every total stays at or below
2**53 (where float64 represents integers exactly); above that the code switches to Python
integers. docs/counting.md explains each method and the choices the protocol leaves open.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any, cast

import numpy as np

from voting.core.errors import VotingError

METHODS: tuple[str, ...] = ("schulze", "ranked_pairs", "irv", "borda", "plurality", "yes_no")
PAIRWISE_METHODS: frozenset[str] = frozenset({"schulze", "ranked_pairs"})
MAJORITIES: tuple[str, ...] = ("simple", "absolute", "two_thirds")
YES_NO_CHOICES: tuple[str, ...] = ("yes", "no", "abstain")
YES_NO_INDEX = {c: i for i, c in enumerate(YES_NO_CHOICES)}
STATUS_QUO = "status_quo"

_FLOAT_EXACT = 2**53  # every integer up to this is exact in float64
_INT64_SAFE = 2**62  # sums below this cannot overflow int64


class CountingError(VotingError, ValueError):
    """Input that PROTOCOL §3-4 does not allow; the message says what was expected and what came.

    `code` is the PROTOCOL §5 error code where one fits a ballot (`unknown_option`,
    `duplicate_option`, `stale_revision`, `malformed_ballot`), else `counting_error`.
    """

    code = "counting_error"


@dataclass(frozen=True)
class Rule:
    """The yes/no rule of an election (PROTOCOL §3 `rule`)."""

    majority: str  # "simple" | "absolute" | "two_thirds"
    quorum_percent: int

    def __post_init__(self) -> None:
        if self.majority not in MAJORITIES:
            raise CountingError(f"rule majority must be one of {list(MAJORITIES)}, got {self.majority!r}")
        q = self.quorum_percent
        if type(q) is not int or not 0 <= q <= 100:
            raise CountingError(f"rule quorum_percent must be an integer in 0..100, got {q!r}")


@dataclass(frozen=True)
class WeightedBallot:
    """One counted ballot: `weight` is the voter's roll weight; `voters` how many voters it stands for.

    The server passes one ballot per voter (voters=1). The tally CLI maps an entry with
    `"count": k` to WeightedBallot(ranking, weight=k, voters=k): k voters of weight 1.
    """

    ranking: tuple[str, ...]
    weight: int = 1
    voters: int = 1


# --------------------------------------------------------------------------- validation


def check_method(method: object) -> str:
    if not isinstance(method, str) or method not in METHODS:
        raise CountingError(f"method must be one of {list(METHODS)}, got {method!r}")
    return method


def check_options(method: str, options: object) -> tuple[str, ...]:
    """The election's option ids, in their signed order; raises CountingError when unusable."""
    if isinstance(options, (str, bytes)) or not isinstance(options, Sequence):
        raise CountingError(f"options must be a sequence of option ids, got {type(options).__name__}")
    opts = tuple(options)
    if not opts:
        raise CountingError("options must hold at least one option id, got none")
    seen: set[str] = set()
    for i, o in enumerate(opts):
        if not isinstance(o, str):
            raise CountingError(f"options[{i}] must be a string option id, got {o!r}")
        if o in seen:
            raise CountingError(f"options[{i}] repeats option id {o!r}; each option id must be unique")
        seen.add(o)
    if method == "yes_no" and seen not in ({"yes", "no"}, {"yes", "no", "abstain"}):
        raise CountingError(f"yes_no options must be 'yes', 'no' and optionally 'abstain', got {list(opts)!r}")
    return opts


def check_count(value: object, name: str, minimum: int = 1) -> int:
    if type(value) is not int or value < minimum:
        raise CountingError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def tie_break_order(options: Sequence[str]) -> tuple[str, ...]:
    """PROTOCOL §4 tie-break order: `status_quo` first when present, then the order of `options`."""
    if STATUS_QUO in options:
        return (STATUS_QUO, *(o for o in options if o != STATUS_QUO))
    return tuple(options)


def encode_ranking(ranking: object, index: dict[str, int], where: str) -> tuple[int, ...]:
    """A ranking as option positions in `options`; rejects non-lists, unknown ids and duplicates."""
    if isinstance(ranking, (str, bytes)) or not isinstance(ranking, Sequence):
        raise CountingError(f"{where}: ranking must be a sequence of option ids, got {type(ranking).__name__}")
    codes = []
    for j, o in enumerate(ranking):
        code = index.get(o) if isinstance(o, str) else None
        if code is None:
            raise CountingError(f"{where}: unknown option {o!r} at ranking[{j}], want one of {list(index)!r}", code="unknown_option")
        codes.append(code)
    if len(set(codes)) != len(codes):
        dup = next(o for j, o in enumerate(ranking) if codes.index(codes[j]) != j)
        raise CountingError(f"{where}: option {dup!r} appears twice in the ranking; each may appear once", code="duplicate_option")
    return tuple(codes)


def encode_choice(ranking: object, where: str) -> str:
    """A yes_no ranking as its choice: "yes", "no" or "abstain" (an empty ranking abstains)."""
    if isinstance(ranking, (str, bytes)) or not isinstance(ranking, Sequence):
        raise CountingError(f"{where}: ranking must be a sequence of option ids, got {type(ranking).__name__}")
    encode_ranking(ranking, YES_NO_INDEX, where)  # PROTOCOL §5 checks 8 and 9 first, as for any ranking
    if len(ranking) > 1:
        raise CountingError(
            f"{where}: a yes_no ranking holds at most one of yes, no, abstain, got {list(ranking)!r}",
            code="malformed_ballot",
        )
    return str(ranking[0]) if ranking else "abstain"


def check_rule_args(method: str, rule: Rule | None, roll_weight: int | None) -> None:
    if method != "yes_no":
        if rule is not None:
            raise CountingError(f"a rule applies to yes_no only, got one for method {method!r}")
        return
    if not isinstance(rule, Rule):
        raise CountingError(f"yes_no needs a Rule(majority, quorum_percent), got {rule!r}")
    if type(roll_weight) is not int or roll_weight < 0:
        raise CountingError(f"yes_no needs roll_weight, the roll's total weight as an integer >= 0, got {roll_weight!r}")


# --------------------------------------------------------------------------- helpers


def _result(
    method: str,
    ranking: list[str],
    ties: list[list[str]],
    details: dict[str, Any],
    counted: int,
    weight_counted: int,
    abstentions: int,
) -> dict[str, Any]:
    return {
        "method": method,
        "ranking": ranking,
        "winner": ranking[0],
        "ties_broken": ties,
        "details": details,
        "counted": counted,
        "weight_counted": weight_counted,
        "abstentions": abstentions,
    }


def _order_rank(options: Sequence[str]) -> list[int]:
    """order_rank[i] = place of options[i] in the tie-break order."""
    place = {o: k for k, o in enumerate(tie_break_order(options))}
    return [place[o] for o in options]


def _index_dtype(m: int) -> type[np.signedinteger[Any]]:
    return np.int16 if m < 2**15 - 1 else np.int32


def weighted_sums(keys: np.ndarray, weights: np.ndarray, size: int, bound: int) -> list[int]:
    """out[k] = sum of weights[i] where keys[i] == k, exactly; `bound` caps every partial sum."""
    if bound <= _FLOAT_EXACT and weights.dtype != object:
        sums = np.bincount(keys, weights=weights.astype(np.float64), minlength=size)
        return [int(s) for s in sums.tolist()]
    out = [0] * size
    for k, w in zip(keys.tolist(), weights.tolist()):
        out[k] += w
    return out


def _layers_to_result(layers: list[list[int]], options: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    ranking = [options[i] for layer in layers for i in layer]
    ties = [[options[i] for i in layer] for layer in layers if len(layer) > 1]
    return ranking, ties


def _undominated_layers(beats: np.ndarray, order_rank: list[int]) -> list[list[int]]:
    """Repeatedly take the remaining options that no remaining option beats (beats[y, x]: y beats x)."""
    remaining = list(range(beats.shape[0]))
    layers: list[list[int]] = []
    while remaining:
        sub = beats[np.ix_(remaining, remaining)]
        beaten = sub.any(axis=0)
        flags = cast("list[bool]", beaten.tolist())
        layer = [x for x, b in zip(remaining, flags) if not b]
        assert layer, "the beat relation has a cycle"  # impossible for Schulze and a locked DAG
        layer.sort(key=order_rank.__getitem__)
        layers.append(layer)
        taken = set(layer)
        remaining = [x for x in remaining if x not in taken]
    return layers


def _score_layers(candidates: Iterable[int], scores: Sequence[int], order_rank: list[int]) -> list[list[int]]:
    """`candidates` (option positions) by score, highest first; equal scores form one layer."""
    layers: list[list[int]] = []
    for i in sorted(candidates, key=lambda i: (-scores[i], order_rank[i])):
        if layers and scores[layers[-1][0]] == scores[i]:
            layers[-1].append(i)
        else:
            layers.append([i])
    return layers


# --------------------------------------------------------------------------- finishing


def finish_pairwise(
    method: str,
    options: Sequence[str],
    d: np.ndarray,
    counted: int,
    weight_counted: int,
    abstentions: int,
) -> dict[str, Any]:
    """Schulze or ranked pairs from the pairwise matrix d[x, y] (int64 or Python-int object array)."""
    m = len(options)
    order_rank = _order_rank(options)
    dl: list[list[int]] = [[int(v) for v in row] for row in d.tolist()]
    pairwise = {options[x]: {options[y]: dl[x][y] for y in range(m) if y != x} for x in range(m)}
    if method == "schulze":
        p = np.where(d > d.T, d, 0)
        for k in range(m):
            p = np.maximum(p, np.minimum(p[:, k : k + 1], p[k : k + 1, :]))
        np.fill_diagonal(p, 0)  # a path from x back to x is not part of the result
        pl = [[int(v) for v in row] for row in p.tolist()]
        beats = np.array([[pl[y][x] > pl[x][y] for x in range(m)] for y in range(m)], dtype=bool)
        strongest = {options[x]: {options[y]: pl[x][y] for y in range(m) if y != x} for x in range(m)}
        details: dict[str, Any] = {"pairwise": pairwise, "strongest_paths": strongest}
    elif method == "ranked_pairs":
        majorities = [(x, y) for x in range(m) for y in range(m) if dl[x][y] > dl[y][x]]
        majorities.sort(key=lambda xy: (-dl[xy[0]][xy[1]], dl[xy[1]][xy[0]], order_rank[xy[0]], order_rank[xy[1]]))
        beats = np.zeros((m, m), dtype=bool)
        reach = np.eye(m, dtype=bool)  # reach[a, b]: a path a -> ... -> b of locked edges (or a == b)
        locked: list[list[str]] = []
        for x, y in majorities:
            if reach[y, x]:
                continue  # x -> y would close a cycle
            beats[x, y] = True
            reach |= np.outer(reach[:, x], reach[y, :])
            locked.append([options[x], options[y]])
        details = {"pairwise": pairwise, "locked": locked}
    else:
        raise CountingError(f"finish_pairwise counts schulze or ranked_pairs, got {method!r}")
    ranking, ties = _layers_to_result(_undominated_layers(beats, order_rank), options)
    return _result(method, ranking, ties, details, counted, weight_counted, abstentions)


def finish_scores(
    method: str,
    options: Sequence[str],
    scores: Sequence[int],
    counted: int,
    weight_counted: int,
    abstentions: int,
) -> dict[str, Any]:
    """Borda or plurality: highest score first, equal scores by the tie-break order."""
    layers = _score_layers(range(len(options)), scores, _order_rank(options))
    ranking, ties = _layers_to_result(layers, options)
    details = {"scores": {o: int(s) for o, s in zip(options, scores)}}
    return _result(method, ranking, ties, details, counted, weight_counted, abstentions)


def finish_irv(
    options: Sequence[str],
    table: np.ndarray,
    weights: np.ndarray,
    counted: int,
    weight_counted: int,
    abstentions: int,
) -> dict[str, Any]:
    """Instant-runoff from `table` (one row per ballot: option positions most preferred first,
    padded with len(options), which marks an exhausted ballot) and the rows' weights.

    One option is eliminated per round. The count stops when an option holds more than half of
    the non-exhausted weight, or when one option remains (all ballots exhausted, or none cast).
    """
    m = len(options)
    order_rank = _order_rank(options)
    n = table.shape[0]
    ptr = np.zeros(n, dtype=np.intp)
    top = table[:, 0].astype(np.intp)
    gone = np.zeros(m + 1, dtype=bool)  # gone[m] stays False: an exhausted ballot stays exhausted
    remaining = list(range(m))
    rounds: list[dict[str, int]] = []
    eliminated: list[int] = []
    elimination_ties: list[list[int]] = []
    exact_float = weight_counted <= _FLOAT_EXACT and weights.dtype != object
    float_weights = weights.astype(np.float64) if exact_float else weights
    while True:
        if exact_float:
            counts = [int(c) for c in np.bincount(top, weights=float_weights, minlength=m + 1).tolist()]
        else:
            counts = weighted_sums(top, weights, m + 1, weight_counted)
        rounds.append({options[i]: counts[i] for i in remaining})
        active = sum(counts[i] for i in remaining)
        leader = max(remaining, key=counts.__getitem__)
        if len(remaining) == 1 or 2 * counts[leader] > active:
            winner = leader
            break
        least = min(counts[i] for i in remaining)
        tied = sorted((i for i in remaining if counts[i] == least), key=order_rank.__getitem__)
        loser = tied[-1]
        if len(tied) > 1:
            elimination_ties.append(tied)
        eliminated.append(loser)
        remaining.remove(loser)
        gone[loser] = True
        moving = np.flatnonzero(top == loser)
        while moving.size:  # move these ballots to their next option still in the count
            ptr[moving] += 1
            top[moving] = table[moving, ptr[moving]]
            moving = moving[gone[top[moving]]]
    final_layers = _score_layers([i for i in remaining if i != winner], counts, order_rank)
    ranking_idx = [winner, *(i for layer in final_layers for i in layer), *reversed(eliminated)]
    ties = [layer for layer in final_layers if len(layer) > 1] + list(reversed(elimination_ties))
    details = {"rounds": rounds, "eliminated": [options[i] for i in eliminated]}
    return _result(
        "irv",
        [options[i] for i in ranking_idx],
        [[options[i] for i in group] for group in ties],
        details,
        counted,
        weight_counted,
        abstentions,
    )


def irv_table(rankings: Sequence[Sequence[int]], m: int) -> np.ndarray:
    """The padded ranking table finish_irv reads, from rankings given as option positions."""
    table = np.full((len(rankings), m + 1), m, dtype=_index_dtype(m))
    for row, codes in enumerate(rankings):
        table[row, : len(codes)] = codes
    return table


def finish_yes_no(
    options: Sequence[str],
    totals: dict[str, int],
    rule: Rule,
    roll_weight: int,
    counted: int,
    weight_counted: int,
    abstentions: int,
) -> dict[str, Any]:
    """yes/no/abstain totals against the rule; the winner is "yes" when passed, else "no"."""
    if roll_weight < weight_counted:
        raise CountingError(f"roll_weight must be at least the weight counted {weight_counted}, got {roll_weight}")
    yes, no, abstain = totals["yes"], totals["no"], totals["abstain"]
    quorum_met = 100 * weight_counted >= rule.quorum_percent * roll_weight
    if rule.majority == "simple":
        majority = yes > no
    elif rule.majority == "absolute":
        majority = 2 * yes > roll_weight
    else:
        majority = 3 * yes >= 2 * (yes + no)
    passed = quorum_met and majority
    ranking = ["yes", "no"] if passed else ["no", "yes"]
    if "abstain" in options:
        ranking.append("abstain")
    details = {"yes": yes, "no": no, "abstain": abstain, "quorum_met": quorum_met, "passed": passed}
    return _result("yes_no", ranking, [], details, counted, weight_counted, abstentions)


# --------------------------------------------------------------------------- full count


@dataclass(frozen=True)
class _Profile:
    """All ballots of a ranked count, vectorised: one row per ballot."""

    codes: np.ndarray  # option positions of every ranking, concatenated
    lengths: np.ndarray  # ranking length per ballot
    rows: np.ndarray  # ballot row of each entry of codes
    ranks: np.ndarray  # place (0-based) of each entry of codes within its ranking
    weights: np.ndarray  # int64, or object (Python ints) when the total could overflow int64
    weight_counted: int
    counted: int
    abstentions: int


def _ballot_list(ballots: Iterable[WeightedBallot]) -> list[WeightedBallot]:
    items = ballots if isinstance(ballots, list) else list(ballots)
    if not set(map(type, items)) <= {WeightedBallot}:
        for i, b in enumerate(items):
            if not isinstance(b, WeightedBallot):
                raise CountingError(f"ballots[{i}] must be a WeightedBallot, got {type(b).__name__}")
    return items


def _check_numbers(values: list[Any], name: str) -> int:
    if not set(map(type, values)) <= {int} or (values and min(values) < 1):
        for i, v in enumerate(values):
            check_count(v, f"ballots[{i}].{name}")
    return sum(values)


def _encode_profile(options: tuple[str, ...], ballots: list[WeightedBallot]) -> _Profile:
    m, n = len(options), len(ballots)
    index = {o: i for i, o in enumerate(options)}
    rankings = [b.ranking for b in ballots]
    weight_list = [b.weight for b in ballots]
    voter_list = [b.voters for b in ballots]
    weight_counted = _check_numbers(weight_list, "weight")
    counted = _check_numbers(voter_list, "voters")
    if not set(map(type, rankings)) <= {tuple, list}:
        for i, r in enumerate(rankings):
            if not isinstance(r, (tuple, list)):
                raise CountingError(f"ballots[{i}]: ranking must be a sequence of option ids, got {type(r).__name__}")
    lengths = np.fromiter(map(len, rankings), dtype=np.int64, count=n)
    total = int(lengths.sum())
    try:
        codes = np.fromiter(map(index.get, chain.from_iterable(rankings), repeat(-1)), dtype=np.int64, count=total)
    except TypeError:  # an unhashable ranking entry
        codes = np.fromiter(
            (index.get(o, -1) if isinstance(o, str) else -1 for o in chain.from_iterable(rankings)),
            dtype=np.int64,
            count=total,
        )
    ends = np.cumsum(lengths)
    starts = ends - lengths
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        i = int(np.searchsorted(ends, bad[0], side="right"))
        encode_ranking(rankings[i], index, f"ballots[{i}]")  # raises with the precise message
    rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
    ranks = np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)
    seen = np.zeros((n, m), dtype=bool)
    seen[rows, codes] = True
    dup = np.flatnonzero(seen.sum(axis=1) != lengths)
    if dup.size:
        i = int(dup[0])
        encode_ranking(rankings[i], index, f"ballots[{i}]")
    abstentions = sum(voter_list[i] for i in np.flatnonzero(lengths == 0).tolist())
    dtype: Any = np.int64 if weight_counted < _INT64_SAFE else object
    weights = np.array(weight_list, dtype=dtype) if n else np.zeros(0, dtype=np.int64)
    return _Profile(codes, lengths, rows, ranks, weights, weight_counted, counted, abstentions)


def _pairwise_matrix(p: _Profile, m: int) -> np.ndarray:
    n = p.lengths.shape[0]
    pos = np.full((n, m), m, dtype=_index_dtype(m))  # unlisted options share the place m
    pos[p.rows, p.codes] = p.ranks
    if p.weight_counted <= _FLOAT_EXACT and p.weights.dtype != object:
        w: np.ndarray = p.weights.astype(np.float64)
        d = np.empty((m, m), dtype=np.int64)
        for x in range(m):
            d[x] = w @ (pos[:, x : x + 1] < pos)
        return d
    wo = p.weights.astype(object)
    dobj = np.empty((m, m), dtype=object)
    for x in range(m):
        dobj[x] = wo @ (pos[:, x : x + 1] < pos).astype(object) if n else [0] * m
    return dobj


def compute_result(
    method: str,
    options: Sequence[str],
    ballots: Iterable[WeightedBallot],
    *,
    rule: Rule | None = None,
    roll_weight: int | None = None,
) -> dict[str, Any]:
    """Count `ballots` by `method` (PROTOCOL §4).

    Returns {"method", "ranking", "winner", "ties_broken", "details", "counted",
    "weight_counted", "abstentions"}. `rule` and `roll_weight` are required for yes_no;
    `roll_weight` is ignored by the other methods, and a `rule` for them is an error.
    """
    method = check_method(method)
    opts = check_options(method, options)
    check_rule_args(method, rule, roll_weight)
    items = _ballot_list(ballots)
    m = len(opts)
    if method == "yes_no":
        assert rule is not None and roll_weight is not None
        weight_counted = _check_numbers([b.weight for b in items], "weight")
        counted = _check_numbers([b.voters for b in items], "voters")
        totals = dict.fromkeys(YES_NO_CHOICES, 0)
        abstentions = 0
        for i, b in enumerate(items):
            choice = encode_choice(b.ranking, f"ballots[{i}]")
            totals[choice] += b.weight
            if choice == "abstain":
                abstentions += b.voters
        return finish_yes_no(opts, totals, rule, roll_weight, counted, weight_counted, abstentions)
    p = _encode_profile(opts, items)
    tally = (p.counted, p.weight_counted, p.abstentions)
    if method in PAIRWISE_METHODS:
        return finish_pairwise(method, opts, _pairwise_matrix(p, m), *tally)
    if method == "irv":
        n = p.lengths.shape[0]
        table = np.full((n, m + 1), m, dtype=_index_dtype(m))
        table[p.rows, p.ranks] = p.codes
        return finish_irv(opts, table, p.weights, *tally)
    if method == "borda":
        bound = p.weight_counted * max(m - 1, 1)
        weights = p.weights if bound < _INT64_SAFE else p.weights.astype(object)
        points = (m - 1 - p.ranks) * weights[p.rows]
        scores = weighted_sums(p.codes, points, m, bound)
        return finish_scores(method, opts, scores, *tally)
    first = np.flatnonzero(p.lengths > 0)
    first_codes = p.codes[(np.cumsum(p.lengths) - p.lengths)[first]]
    scores = weighted_sums(first_codes, p.weights[first], m, p.weight_counted)
    return finish_scores("plurality", opts, scores, *tally)
