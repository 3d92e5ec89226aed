"""PROTOCOL §5's checks and §4's counted ballots, on the board's leaves in bulk.

What `check_ballot` checks of one ballot as it arrives, a reader of the board checks of every
leaf after the fact (`voting.verifier` and its monitor): the leaf's shape and seq, its election,
its ranking (the same checks as the count), its signature with the voter's roll key; then, in
seq order, the revision order, the roll, and the latest valid ballot of each voter, which is
what PROTOCOL §4 counts. The same rules as the server's, from the same functions
(`revision_supersedes`, `encode_ranking`, `verify_signature`), written for a board of
100,000 leaves:

- :class:`LeafScan` checks a range of leaves on its own (the per-leaf work: canonicalizing,
  hashing, the leaf's own checks, the signature), so that ranges can be checked on worker
  processes. It takes each voter's key from the roll as published (the last entry with that
  key_id), before the roll is checked; each record carries the key a signature was checked with.
- :class:`BallotMerge` merges the ranges' records in seq order, with the checked roll: it
  re-checks, in-process, any ballot whose key is not the one the checked roll holds (a tampered
  roll; never an honest one), and reports each failure as one pass over the board would.
- :func:`counted_ballots`: the ballots PROTOCOL §4 counts, grouped by ranking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .ballot import revision_supersedes
from .counting import CountingError, WeightedBallot, encode_choice, encode_ranking
from .encoding import b64u_decode_matched
from .errors import VotingError
from .keys import verify_signature
from .leaves import BoardLines, fast_fields, fast_leaf, ignore_problem, slow_leaf
from .merkle import compute_root
from .signed import Election, Roll

#: Distinct rankings whose check each scan remembers (a few hundred for five options).
RANKINGS_KEPT = 4096


@dataclass
class LeafScan:
    """What a chunk's worker needs: the board, the election's facts and the published roll."""

    leaves: Sequence[Any]  # a list, or a board file's BoardLines
    election_id: str | None
    election_digest: str | None
    yes_no: bool
    index: dict[str, int]
    roll_voters: list[Any] | None  # the roll's `voters` array as published, or None
    offset: int = 0  # the seq of leaves[0] (a monitor scans the new leaves of a growing board)
    _keys: dict[str, str] | None = None
    _ranked: dict[bytes, tuple[Any, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, election: Election | None, election_digest: str | None, roll: Any) -> LeafScan:
        """The scan of a board of this election, with the keys of ``roll`` (the envelope as published)."""
        return cls(
            leaves=[],
            election_id=election.id if election is not None else None,
            election_digest=election_digest,
            yes_no=election is not None and election.method == "yes_no",
            index={o: i for i, o in enumerate(election.option_ids)} if election is not None else {},
            roll_voters=published_voters(roll),
        )

    def keys(self) -> dict[str, str]:
        """key_id -> public_key (b64u) of the published roll, the last entry winning, unchecked."""
        keys = self._keys
        if keys is None:
            keys = {}
            for item in self.roll_voters or ():
                if type(item) is dict:
                    kid, b64 = item.get("key_id"), item.get("public_key")
                    if type(kid) is str and type(b64) is str:
                        keys[kid] = b64
            self._keys = keys
        return keys

    def ranked(self, raw: bytes) -> tuple[bytes | tuple[Any, ...] | None, tuple[str, str] | None]:
        """(`check_ranking` of a ranking read from a line, as the bytes between its brackets
        (plain strings), or None; the failure it raises, or None), remembered for each ranking."""
        known = self._ranked.get(raw)
        if known is None:
            ranking = raw[1:-1].decode("utf-8").split('","') if raw else []
            try:
                known = (self.check_ranking(ranking), None)
            except CountingError as exc:
                known = (None, (f"ballot.{exc.code}", str(exc)))
            if len(self._ranked) < RANKINGS_KEPT:
                self._ranked[raw] = known
        return known

    def check_ranking(self, ranking: Sequence[str]) -> bytes | tuple[Any, ...]:
        """The ranking as option indexes (or as a tuple); raises CountingError for an unknown or
        repeated option (the same checks as the count)."""
        if self.yes_no:
            encode_choice(ranking, "ballot")
        else:
            index = self.index
            try:
                codes = bytes(map(index.__getitem__, ranking))
            except (KeyError, TypeError, ValueError):
                codes = None
            if codes is not None and len(set(codes)) == len(codes):
                return codes
            encode_ranking(ranking, index, "ballot")
        try:
            return bytes(map(self.index.__getitem__, ranking))
        except (KeyError, TypeError, ValueError):
            return tuple(ranking)

    def chunk(self, lo: int, hi: int) -> tuple[bytes | None, list[tuple[Any, ...]]]:
        """(Merkle root of leaves lo..hi or None when one cannot be hashed, a record per leaf)."""
        hashes, records = self.scan(lo, hi)
        return (compute_root(hashes) if hashes is not None else None), records

    def scan(self, lo: int, hi: int) -> tuple[list[bytes] | None, list[tuple[Any, ...]]]:
        """(leaf hashes of leaves lo..hi or None when one cannot be hashed, a record per leaf).

        A record is ``(None, failures)`` for a leaf that does not parse, else ``(voter,
        revision, ranking, key, bad, before, after)``: the ranking as option indexes (bytes) or
        a tuple, None when invalid; the key the signature was checked with (None when not
        checked) and why it failed (None when it holds); the leaf's own failures that one pass
        reports before the revision check and after it (None when there are none).
        """
        keys = self.keys()
        parsed = type(self.leaves) is BoardLines
        # A board file's lines: read from their bytes, or parsed here (raising NotOneLeafPerLine)
        raw = self.leaves.raw(lo, hi) if parsed else None  # type: ignore[attr-defined]
        leaves = raw if raw is not None else self.leaves[lo - self.offset : hi - self.offset]
        election_id, election_digest = self.election_id, self.election_digest
        check_election = election_id is not None and election_digest is not None
        check_ranking, ranked = self.check_ranking, self.ranked
        hashes: list[bytes] | None = []
        records: list[tuple[Any, ...]] = []
        append = records.append
        for seq, obj in enumerate(leaves, lo):
            data = obj if raw is not None else fast_fields(obj, parsed)
            if data is None:
                problems: list[tuple[str, str]] = []
                hashed, slow = slow_leaf(obj, seq, lambda check, message, _seq: problems.append((check, message)))  # noqa: B023  (called at once, in this iteration)
                if hashed is None:
                    hashes = None
                elif hashes is not None:
                    hashes.append(hashed)
                if slow is None:
                    append((None, problems))
                    continue
                data = tuple(slow)
            elif hashes is not None:
                hashes.append(data[0])
            _, message, signature, leaf_seq, voter, revision, ranking, election, digest = data
            before: tuple[tuple[str, str], ...] | None = None
            after: tuple[tuple[str, str], ...] | None = None
            if leaf_seq != seq:
                before = (("leaf.seq", f"want {seq} (the leaf's position on the board), got {leaf_seq}"),)
            codes: bytes | tuple[Any, ...] | None = None
            if check_election:
                if type(ranking) is bytes:  # read from the line: the same bytes, the same answer
                    codes, problem = ranked(ranking)
                else:
                    try:
                        codes, problem = check_ranking(ranking), None
                    except CountingError as exc:
                        codes, problem = None, (f"ballot.{exc.code}", str(exc))
                if election == election_id and digest == election_digest:
                    if problem is not None:
                        after = (problem,)
                else:
                    codes = None
                    problems = []
                    if election != election_id:
                        problems.append(("ballot.election", f"ballot.election: want {election_id!r}, got {election!r}"))
                    if digest != election_digest:
                        problems.append(("ballot.election", f"ballot.election_digest: want {election_digest}, got {digest}"))
                    if problem is not None:
                        problems.append(problem)
                    after = tuple(problems)
            key: bytes | None = None
            bad: str | None = None
            b64 = keys.get(voter)
            if b64 is not None:
                try:
                    key = b64u_decode_matched(b64.encode("ascii"))  # as published, unchecked: the merge compares it with the checked roll's
                    verify_signature(key, message, signature)
                except VotingError as exc:
                    bad = str(exc)
                except Exception:  # noqa: BLE001 - an undecodable key: the merge checks it if it matters
                    key = None
            append((voter, revision, codes, key, bad, before, after))
        return hashes, records


class BallotMerge:
    """The chunks' records merged in seq order: the revision order, the roll checks, the
    failures (as one pass over the board reports them), the latest ballot of each voter.

    It keeps its state between calls, so that leaves can be added as the board grows
    (`voting.verifier.monitor`); :meth:`report_signatures` reports the bad signatures met
    so far, which one pass reports after every other failure of the board.
    """

    def __init__(self, fail: Callable[[str, str, int | None], None], election: Election | None, roll: Roll | None, bad_keys: set[str], proven: set[str]) -> None:
        self.fail = fail
        self.election = election
        self.roll = roll
        self.bad_keys = bad_keys
        self.proven = proven  # voters with at least one valid signature
        # voter -> (revision, ranking as option indexes or a tuple, weight) of the highest valid revision so far
        self.latest: dict[str, tuple[int, Any, int]] = {}
        self.last_revision: dict[str, int] = {}
        self.bad_signatures: list[tuple[int, str]] = []
        self.seq = 0  # the seq of the next record

    def add(self, records: list[tuple[Any, ...]], leaves: Sequence[Any], offset: int = 0) -> int:
        """Merge the records of the next leaves; ``leaves[seq - offset]`` is the leaf of ``seq``.
        Returns the number of signatures checked with a roll key."""
        fail, election, bad_keys, proven = self.fail, self.election, self.bad_keys, self.proven
        latest, last_revision, bad_signatures = self.latest, self.last_revision, self.bad_signatures
        roll_get = self.roll._by_key_id.get if self.roll is not None else None  # = roll.get, without a call per leaf
        seq = self.seq
        checked = 0
        for record in records:
            voter = record[0]
            if voter is None:  # the leaf did not parse
                for check, message in record[1]:
                    fail(check, message, seq)
                seq += 1
                continue
            _, revision, ranking, key, bad, before, after = record
            ok = True
            if before is not None:
                for check, message in before:
                    fail(check, message, seq)
                ok = False
            previous = last_revision.get(voter)
            if not revision_supersedes(revision, previous):
                fail("ballot.revision", f"want a revision above {previous} (this voter's previous ballot), got {revision}", seq)
                ok = False  # (the voter's highest revision stays the previous one)
            else:
                last_revision[voter] = revision
            if after is not None:
                for check, message in after:
                    fail(check, message, seq)
                ok = False
            entry = roll_get(voter) if roll_get is not None else None
            if voter in bad_keys:
                fail("ballot.bad_key", f"voter {voter} has an unusable key on the roll", seq)
                ok = False
            elif roll_get is not None and entry is None:
                fail("ballot.not_on_roll", f"voter {voter} is not on the roll", seq)
                ok = False
            if entry is not None:
                checked += 1
                if key != entry.public_key:  # checked with another key (or not at all): check here
                    bad = leaf_signature_problem(leaves[seq - offset], seq, entry.public_key)
                if bad is not None:
                    bad_signatures.append((seq, bad))
                else:
                    proven.add(voter)
                    if ok and election is not None:
                        current = latest.get(voter)
                        if revision_supersedes(revision, current[0] if current is not None else None):
                            latest[voter] = (revision, ranking, entry.weight)
            seq += 1
        self.seq = seq
        return checked

    def report_signatures(self) -> None:
        """Report the bad signatures met since the last call."""
        for seq, message in self.bad_signatures:
            self.fail("ballot.signature", message, seq)
        self.bad_signatures.clear()

    def counted(self) -> list[WeightedBallot]:
        """The counted ballots so far (needs the election)."""
        assert self.election is not None
        return counted_ballots(self.latest.values(), self.election.option_ids)


def counted_ballots(latest: Iterable[tuple[int, Any, int]], option_ids: Sequence[str]) -> list[WeightedBallot]:
    """The counted ballots: one per ranking, standing for the voters who chose it (``voters``)
    with their summed weight, in the order the rankings first appear.

    The same count as a ballot per voter: every method sums weights, and the tally CLI's
    `"count": k` means the same thing (tests/unit/test_verifier_fast_paths.py compares them).
    """
    totals: dict[Any, list[int]] = {}
    for _, ranking, weight in latest:
        total = totals.get(ranking)
        if total is None:
            totals[ranking] = [weight, 1]
        else:
            total[0] += weight
            total[1] += 1
    return [WeightedBallot(tuple(option_ids[i] for i in ranking) if type(ranking) is bytes else tuple(ranking), weight, voters) for ranking, (weight, voters) in totals.items()]


def published_voters(roll: Any) -> list[Any] | None:
    """The roll's voters array as published, when it is where it should be (for the workers' keys)."""
    if type(roll) is dict and type(signed := roll.get("signed")) is dict and type(voters := signed.get("voters")) is list:
        return voters
    return None


def leaf_signature_problem(obj: Any, seq: int, public_key: bytes) -> str | None:
    """Why the leaf's ballot signature fails with ``public_key``, None when it holds."""
    data = fast_leaf(obj)
    if data is None:
        data = slow_leaf(obj, seq, ignore_problem)[1]
    assert data is not None  # the worker parsed this leaf
    try:
        verify_signature(public_key, data.message, data.signature)
    except VotingError as exc:
        return str(exc)
    return None
