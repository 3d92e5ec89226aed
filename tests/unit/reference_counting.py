"""A slow, obviously correct count of PROTOCOL §4, written apart from voting.core.counting.

Everything works on raw ballots with plain loops: pairwise counts by asking each ballot about
each pair, Schulze's strongest paths by enumerating every simple path (small m only), ranked
pairs with a depth-first cycle check, IRV round by round from the raw ballots. It shares no
code with the fast implementation except the WeightedBallot and Rule data classes.
"""

from __future__ import annotations

from itertools import permutations
from typing import Any

from voting.core.counting import Rule, WeightedBallot


def tie_order(options: list[str]) -> list[str]:
    """status_quo first (when present), then the order of options."""
    return sorted(options, key=lambda o: (o != "status_quo", options.index(o)))


def ranks_above(ranking: tuple[str, ...], x: str, y: str) -> bool:
    """Does the ballot put x above y? Listed above unlisted; two unlisted options are tied."""
    if x not in ranking:
        return False
    if y not in ranking:
        return True
    return ranking.index(x) < ranking.index(y)


def pairwise(options: list[str], ballots: list[WeightedBallot]) -> dict[str, dict[str, int]]:
    return {x: {y: sum(b.weight for b in ballots if ranks_above(b.ranking, x, y)) for y in options if y != x} for x in options}


def layers(options: list[str], beats: Any) -> list[list[str]]:
    """Repeatedly take the remaining options no remaining option beats; beats(y, x) = y beats x."""
    remaining = tie_order(options)
    out = []
    while remaining:
        top = [x for x in remaining if not any(beats(y, x) for y in remaining if y != x)]
        assert top, "cycle"
        out.append(top)
        remaining = [x for x in remaining if x not in top]
    return out


def groups_by_score(candidates: list[str], score: dict[str, int], options: list[str]) -> list[list[str]]:
    """Candidates by score, highest first; equal scores form one group in tie-break order."""
    out: list[list[str]] = []
    for value in sorted({score[c] for c in candidates}, reverse=True):
        out.append([c for c in tie_order(options) if c in candidates and score[c] == value])
    return out


def strongest_paths(options: list[str], d: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """The widest path between every two options, by enumerating every simple path."""

    def link(a: str, b: str) -> int:
        return d[a][b] if d[a][b] > d[b][a] else 0

    p: dict[str, dict[str, int]] = {}
    for x in options:
        p[x] = {}
        for y in options:
            if y == x:
                continue
            middle = [o for o in options if o not in (x, y)]
            best = 0
            for k in range(len(middle) + 1):
                for inner in permutations(middle, k):
                    path = [x, *inner, y]
                    best = max(best, min(link(a, b) for a, b in zip(path, path[1:])))
            p[x][y] = best
    return p


def _result(method: str, ranking: list[str], ties: list[list[str]], details: dict[str, Any], ballots: list[WeightedBallot], abstaining: Any) -> dict[str, Any]:
    return {
        "method": method,
        "ranking": ranking,
        "winner": ranking[0],
        "ties_broken": ties,
        "details": details,
        "counted": sum(b.voters for b in ballots),
        "weight_counted": sum(b.weight for b in ballots),
        "abstentions": sum(b.voters for b in ballots if abstaining(b)),
    }


def reference_result(
    method: str,
    options: list[str],
    ballots: list[WeightedBallot],
    rule: Rule | None = None,
    roll_weight: int | None = None,
) -> dict[str, Any]:
    options = list(options)
    ballots = list(ballots)
    empty = lambda b: len(b.ranking) == 0  # noqa: E731

    if method in ("schulze", "ranked_pairs"):
        d = pairwise(options, ballots)
        if method == "schulze":
            p = strongest_paths(options, d)
            found = layers(options, lambda y, x: p[y][x] > p[x][y])
            details: dict[str, Any] = {"pairwise": d, "strongest_paths": p}
        else:
            order = tie_order(options)
            majorities = [(x, y) for x in options for y in options if x != y and d[x][y] > d[y][x]]
            majorities.sort(key=lambda e: (-d[e[0]][e[1]], d[e[1]][e[0]], order.index(e[0]), order.index(e[1])))
            locked: list[tuple[str, str]] = []

            def reaches(a: str, b: str) -> bool:
                stack, seen = [a], {a}
                while stack:
                    node = stack.pop()
                    if node == b:
                        return True
                    for u, v in locked:
                        if u == node and v not in seen:
                            seen.add(v)
                            stack.append(v)
                return False

            for x, y in majorities:
                if not reaches(y, x):
                    locked.append((x, y))
            found = layers(options, lambda y, x: (y, x) in locked)
            details = {"pairwise": d, "locked": [[x, y] for x, y in locked]}
        ranking = [o for group in found for o in group]
        return _result(method, ranking, [g for g in found if len(g) > 1], details, ballots, empty)

    if method in ("borda", "plurality"):
        m = len(options)
        score = dict.fromkeys(options, 0)
        for b in ballots:
            for place, o in enumerate(b.ranking):
                if method == "borda":
                    score[o] += b.weight * (m - 1 - place)
                elif place == 0:
                    score[o] += b.weight
        found = groups_by_score(options, score, options)
        ranking = [o for group in found for o in group]
        return _result(method, ranking, [g for g in found if len(g) > 1], {"scores": score}, ballots, empty)

    if method == "irv":
        remaining = list(options)
        rounds, eliminated, elimination_ties = [], [], []
        while True:
            counts = {o: 0 for o in options if o in remaining}
            for b in ballots:
                first = next((o for o in b.ranking if o in remaining), None)
                if first is not None:
                    counts[first] += b.weight
            rounds.append(counts)
            active = sum(counts.values())
            majority = [o for o in remaining if 2 * counts[o] > active]
            if len(remaining) == 1 or majority:
                winner = majority[0] if majority else remaining[0]
                break
            least = min(counts.values())
            tied = [o for o in tie_order(options) if o in remaining and counts[o] == least]
            if len(tied) > 1:
                elimination_ties.append(tied)
            eliminated.append(tied[-1])
            remaining.remove(tied[-1])
        final = groups_by_score([o for o in remaining if o != winner], counts, options)
        ranking = [winner, *(o for g in final for o in g), *reversed(eliminated)]
        ties = [g for g in final if len(g) > 1] + list(reversed(elimination_ties))
        return _result("irv", ranking, ties, {"rounds": rounds, "eliminated": eliminated}, ballots, empty)

    if method == "yes_no":
        assert rule is not None and roll_weight is not None
        totals = {"yes": 0, "no": 0, "abstain": 0}
        for b in ballots:
            totals[b.ranking[0] if b.ranking else "abstain"] += b.weight
        counted_weight = sum(b.weight for b in ballots)
        # quorum: counted / roll >= quorum_percent / 100, cross-multiplied
        quorum_met = counted_weight * 100 >= rule.quorum_percent * roll_weight
        yes, no = totals["yes"], totals["no"]
        if rule.majority == "simple":
            won = yes > no
        elif rule.majority == "absolute":
            won = yes * 2 > roll_weight
        else:
            won = yes * 3 >= (yes + no) * 2
        passed = quorum_met and won
        ranking = ["yes", "no"] if passed else ["no", "yes"]
        if "abstain" in options:
            ranking.append("abstain")
        details = {**totals, "quorum_met": quorum_met, "passed": passed}
        return _result("yes_no", ranking, [], details, ballots, lambda b: not b.ranking or b.ranking[0] == "abstain")

    raise ValueError(method)
