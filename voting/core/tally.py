"""An incremental tally for live elections: each ballot updates the count without a recount.

The state kept per method is exactly what `voting.core.counting` turns into a result:

- schulze, ranked_pairs: the pairwise matrix d (numpy int64, m x m); a ballot adds or
  subtracts its m x m contribution, O(m^2);
- irv: the weight of each distinct ranking (ranking -> weight), O(m) per ballot;
- borda, plurality: the scores, O(m) per ballot;
- yes_no: the yes/no/abstain totals, O(1) per ballot.

`result()` hands that state to the same `finish_*` functions `compute_result` uses, so it equals
a full recount of the voters' latest ballots (a property test checks this).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from voting.core.ballot import revision_supersedes
from voting.core.counting import (
    PAIRWISE_METHODS,
    YES_NO_CHOICES,
    CountingError,
    Rule,
    check_count,
    check_method,
    check_options,
    check_rule_args,
    encode_choice,
    encode_ranking,
    finish_irv,
    finish_pairwise,
    finish_scores,
    finish_yes_no,
    irv_table,
)

_INT64_SAFE = 2**62
#: Rankings whose pairwise matrix is kept for reuse (a matrix is m*m bytes).
ABOVE_CACHE_MAX = 4096

# A voter's counted ballot: (encoded ranking or yes_no choice, weight, revision).
_Entry = tuple[tuple[int, ...] | str, int, int]


class IncrementalTally:
    """The live count of one election: the latest ballot of each voter, by revision."""

    def __init__(
        self,
        method: str,
        options: Sequence[str],
        rule: Rule | None = None,
        roll_weight: int | None = None,
    ) -> None:
        self.method = check_method(method)
        self.options = check_options(self.method, options)
        check_rule_args(self.method, rule, roll_weight)
        self.rule = rule
        self.roll_weight = roll_weight
        m = len(self.options)
        self._m = m
        self._index = {o: i for i, o in enumerate(self.options)}
        self._arange = np.arange(m, dtype=np.int64)
        self._above: dict[tuple[int, ...], Any] = {}  # ranking -> its pairwise "ranked above" matrix
        self._voters: dict[str, _Entry] = {}
        self.counted = 0
        self.weight_counted = 0
        self.abstentions = 0
        self._matrix = np.zeros((m, m), dtype=np.int64)
        self._groups: dict[tuple[int, ...], int] = {}
        self._scores = [0] * m
        self._totals = dict.fromkeys(YES_NO_CHOICES, 0)

    @classmethod
    def rebuild(
        cls,
        method: str,
        options: Sequence[str],
        ballots: Iterable[tuple[str, Sequence[str], int, int]],
        rule: Rule | None = None,
        roll_weight: int | None = None,
    ) -> IncrementalTally:
        """The tally of (voter, ranking, weight, revision) ballots, e.g. replayed from the board.

        Order does not matter: each voter's ballot with the highest revision counts. Two ballots
        of one voter with the same revision are an error.
        """
        tally = cls(method, options, rule, roll_weight)
        latest: dict[str, tuple[Sequence[str], int, int]] = {}
        for i, item in enumerate(ballots):
            if not isinstance(item, tuple) or len(item) != 4:
                raise CountingError(f"ballots[{i}] must be (voter, ranking, weight, revision), got {item!r}")
            voter, ranking, weight, revision = item
            if not isinstance(voter, str):
                raise CountingError(f"ballots[{i}]: voter must be a key_id string, got {voter!r}")
            check_count(revision, f"ballots[{i}] revision")
            held = latest.get(voter)
            if held is not None and held[2] == revision:
                raise CountingError(f"ballots[{i}]: voter {voter!r} has two ballots with revision {revision}")
            if held is None or revision_supersedes(revision, held[2]):
                latest[voter] = (ranking, weight, revision)
        for voter, (ranking, weight, revision) in latest.items():
            tally.add(voter, ranking, weight, revision)
        return tally

    def __len__(self) -> int:
        return len(self._voters)

    def revision(self, voter: str) -> int | None:
        """The revision of the voter's counted ballot, or None when they have not voted."""
        entry = self._voters.get(voter)
        return None if entry is None else entry[2]

    def add(self, voter: str, ranking: Sequence[str], weight: int, revision: int) -> None:
        """Count the voter's ballot, replacing their earlier one; a revision not above it is stale."""
        if not isinstance(voter, str):
            raise CountingError(f"voter must be a key_id string, got {voter!r}")
        check_count(weight, "weight")
        check_count(revision, "revision")
        old = self._voters.get(voter)
        if old is not None and not revision_supersedes(revision, old[2]):
            raise CountingError(f"stale revision {revision} for voter {voter!r}, want above {old[2]}", code="stale_revision")
        where = f"ballot of {voter!r}"
        if self.method == "yes_no":
            ballot: tuple[int, ...] | str = encode_choice(ranking, where)
        else:
            ballot = encode_ranking(ranking, self._index, where)
        if old is not None:
            self._apply(old[0], old[1], -1)
        self._apply(ballot, weight, 1)
        self._voters[voter] = (ballot, weight, revision)

    def _apply(self, ballot: tuple[int, ...] | str, weight: int, sign: int) -> None:
        """Add (sign 1) or remove (sign -1) one voter's ballot."""
        empty = ballot == () or ballot == "abstain"
        self.counted += sign
        self.weight_counted += sign * weight
        if empty:
            self.abstentions += sign
        method = self.method
        if method in PAIRWISE_METHODS:
            if empty:
                return
            if self.weight_counted >= _INT64_SAFE and self._matrix.dtype != object:
                self._matrix = self._matrix.astype(object)
            assert isinstance(ballot, tuple)
            above = self._above.get(ballot)
            if above is None:
                pos = np.full(self._m, self._m, dtype=np.int64)
                pos[list(ballot)] = self._arange[: len(ballot)]
                above = pos[:, None] < pos[None, :]
                if len(self._above) < ABOVE_CACHE_MAX:  # voters mostly repeat a few rankings
                    self._above[ballot] = above
            if weight == 1:
                if sign > 0:
                    self._matrix += above
                else:
                    self._matrix -= above
            else:
                self._matrix += above * (sign * weight)
        elif method == "irv":
            assert isinstance(ballot, tuple)
            left = self._groups.get(ballot, 0) + sign * weight
            if left:
                self._groups[ballot] = left
            else:
                del self._groups[ballot]
        elif method == "borda":
            assert isinstance(ballot, tuple)
            top = self._m - 1
            for place, code in enumerate(ballot):
                self._scores[int(code)] += sign * weight * (top - place)
        elif method == "plurality":
            if not empty:
                self._scores[int(ballot[0])] += sign * weight
        else:
            assert isinstance(ballot, str)
            self._totals[ballot] += sign * weight

    def result(self) -> dict[str, Any]:
        """The count of the latest ballots; equal to compute_result over them."""
        tally = (self.counted, self.weight_counted, self.abstentions)
        method = self.method
        if method in PAIRWISE_METHODS:
            return finish_pairwise(method, self.options, self._matrix, *tally)
        if method == "irv":
            rankings = list(self._groups)
            dtype: Any = np.int64 if self.weight_counted < _INT64_SAFE else object
            weights = np.array([self._groups[r] for r in rankings], dtype=dtype)
            if not rankings:
                weights = np.zeros(0, dtype=np.int64)
            return finish_irv(self.options, irv_table(rankings, self._m), weights, *tally)
        if method in ("borda", "plurality"):
            return finish_scores(method, self.options, self._scores, *tally)
        assert self.rule is not None and self.roll_weight is not None
        return finish_yes_no(self.options, dict(self._totals), self.rule, self.roll_weight, *tally)
