"""A monitor of an open election: `verify_election`'s checks, one signed tree head at a time.

Like a Certificate Transparency monitor, :class:`Monitor` follows an election's signed tree
heads while the board grows. It checks the election and the roll once, as `verify_election`
does; then, for each tree head it is given (:meth:`Monitor.update`):

- the server's signature on the head, its fields, and that it names this election;
- that it is consistent with the last verified head (RFC 6962 consistency proof, PROTOCOL §3):
  a newer head extends it, an older one is a prefix of it, one of the same size has its root;
- every new leaf, with the same per-leaf checks as `verify_election` (`voting.core.board_checks`:
  shape, seq, election, options, roll, signature, revision order);
- the Merkle root over every leaf so far (kept as a compact range) equals the head's root;
- the tally so far, recounted; a live tally the server published for a verified tree size
  (:meth:`Monitor.check_tally`) must equal it.

When the result is published, :meth:`Monitor.finish` checks it exactly as `verify_election`
checks a closed election's. It does no I/O: the caller hands it the objects and two functions
that fetch a consistency proof and a range of leaves (`voting.client.follow_election`).
Failures accumulate in :attr:`Monitor.failures`; a caller stops at the first head that adds one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from voting.core.board_checks import BallotMerge, LeafScan
from voting.core.errors import ProofError, VotingError
from voting.core.merkle import EMPTY_ROOT, CompactRange, verify_consistency
from voting.core.signed import Sth, parse_election, parse_result, parse_sth

from .checks import _Verifier
from .model import Bundle, Failure, Report, Summary

__all__ = ["Monitor"]

#: Leaves fetched and checked at a time (a page of the board at most; progress in between).
STEP = 4096
#: Verified tree sizes whose root and recount are kept, for live tallies that arrive late.
HEADS_KEPT = 16

#: ``proof(first, second)``: the server's answer to `GET .../proof/consistency?first=&second=`.
ProofFetcher = Callable[[int, int], Any]
#: ``leaves(start, end)``: the board's leaf objects for seq in [start, end), in order.
LeafFetcher = Callable[[int, int], Sequence[Any]]


class Monitor:
    """The checks of one open election, head by head. Never raises on what the server sends."""

    def __init__(self, election: Any, roll: Any, server_public_key: bytes, problems: Sequence[Failure] = ()) -> None:
        bundle = Bundle(election, roll, None, None, None, server_public_key, tuple(problems), open=True)
        self.v = v = _Verifier(bundle, workers=1)
        v.failures.extend(problems)
        self.key = v.server_key()
        _, self.election, digest = v.server_object("election", election, parse_election, self.key)
        self.election_digest = digest if self.election is not None else None
        roll_env, _, roll_digest = v.server_object("roll", roll, lambda signed: None, self.key)
        self.roll, bad_keys = v.parse_roll(roll_env.signed) if roll_env is not None else (None, set())
        v.check_roll_header(self.election, self.roll, roll_digest)
        if self.roll is not None:
            v.check_roll_keys(self.roll, set())  # every key, in full: no signature has proven one yet
        self.scan = LeafScan.of(self.election, self.election_digest, roll)
        self.merge = BallotMerge(v.fail, self.election, self.roll, bad_keys, set())
        self.tree = CompactRange()  # the right frontier of the verified board: its root in O(log n)
        self.head: Sth | None = None  # the last verified tree head
        self.heads = 0  # tree heads verified
        self.tallies = 0  # live tallies compared with the recount
        self.recount: dict[str, Any] | None = None  # the tally so far, at the last verified head
        self._kept: OrderedDict[int, tuple[bytes, dict[str, Any] | None]] = OrderedDict()  # size -> (root, recount)
        self._pending: dict[int, Any] = {}  # live tallies for tree sizes not verified yet
        self._deferred: list[Sth] = []  # heads inside leaves already checked: proven against the next head
        self.result: Any = None

    @property
    def failures(self) -> tuple[Failure, ...]:
        return tuple(self.v.failures)

    @property
    def ok(self) -> bool:
        return not self.v.failures

    @property
    def size(self) -> int:
        """The leaves verified so far."""
        return self.tree.size

    def update(self, sth: Any, proof: ProofFetcher, leaves: LeafFetcher, progress: Callable[[int], None] | None = None) -> bool:
        """Check a signed tree head (an envelope); True when it was newer and is now the verified
        head, False when it was not (known, older, or a check failed: see :attr:`failures`).

        ``proof`` and ``leaves`` may raise: what they raise (a network error) goes to the
        caller, except a :class:`VotingError`, which is the consistency check's failure.
        ``progress(n)`` is called as each step of n new leaves is checked.
        """
        before = len(self.v.failures)
        _, head, _ = self.v.server_object("sth", sth, parse_sth, self.key)
        if head is None or len(self.v.failures) > before:
            return False
        if self.election is not None and head.election != self.election.id:
            self.v.fail("sth.election", f"want {self.election.id!r}, got {head.election!r}")
            return False
        if not self.consistent(head, proof):
            return False
        old = self.head
        if old is not None and head.tree_size <= old.tree_size:
            return False  # a known tree, proven to be a prefix of the verified one (or the same)
        if head.tree_size < self.size:  # the leaves of a head left unfinished (the fetcher raised) cover it
            self._deferred.append(head)
            return False
        if not self.add_leaves(head.tree_size, leaves, progress):
            return False
        root = self.tree.root()
        self.v.check_tree("sth", head.tree_size, head.root_hash, self.size, root)
        if len(self.v.failures) > before:
            return False
        self.recount = self.v.recount(self.election, self.roll, self.counted(), None)
        self.head = head
        self.heads += 1
        while self._deferred:  # consistent with the head before (above) and with this one
            self.consistent(self._deferred[0], proof)  # (kept for the next head if the fetcher raises)
            self._deferred.pop(0)
        self._kept[head.tree_size] = (root, self.recount)
        while len(self._kept) > HEADS_KEPT:
            self._kept.popitem(last=False)
        pending = self._pending.pop(head.tree_size, None)
        for size in [s for s in self._pending if s < head.tree_size]:  # sizes this monitor skipped
            del self._pending[size]
        if pending is not None:
            self.check_tally(pending)
        return len(self.v.failures) == before

    def consistent(self, head: Sth, proof: ProofFetcher) -> bool:
        """Whether ``head`` and the last verified head are consistent (RFC 6962 §2.1.2)."""
        old = self.head
        if old is None:
            return True  # the first head: its root is checked against the leaves
        first, second = sorted((old, head), key=lambda h: h.tree_size)
        try:
            if first.tree_size == 0:  # the empty tree is a prefix of every tree: only its root to check
                if first.root_hash != EMPTY_ROOT:
                    raise ProofError(f"the empty tree's root hash is {EMPTY_ROOT.hex()}, the head says {first.root_hash.hex()}")
                return True
            hashes: list[bytes] = []
            if first.tree_size != second.tree_size:
                hashes = _proof_hashes(proof(first.tree_size, second.tree_size))
            verify_consistency(first.tree_size, second.tree_size, hashes, first.root_hash, second.root_hash)
        except VotingError as exc:
            self.v.fail("sth.consistency", f"tree head {head.tree_size} ({head.timestamp}) is not consistent with tree head {old.tree_size} ({old.timestamp}): {exc}")
            return False
        return True

    def add_leaves(self, size: int, leaves: LeafFetcher, progress: Callable[[int], None] | None) -> bool:
        """Fetch and check the leaves from the verified size up to ``size``; False on a failure
        (every leaf is checked all the same, so that each failure of this head is reported)."""
        before = len(self.v.failures)
        while self.size < size:
            start = self.size
            end = min(size, start + STEP)
            batch = leaves(start, end)
            if len(batch) != end - start:
                self.v.fail("board", f"want the {end - start} leaves {start}..{end - 1}, got {len(batch)}")
                break
            self.scan.leaves, self.scan.offset = batch, start
            hashes, records = self.scan.scan(start, end)
            self.merge.add(records, batch, offset=start)
            self.merge.report_signatures()
            self.scan.leaves = []
            if hashes is None:  # the leaf's own failure says why
                self.v.fail("board.root_hash", "cannot compute the root hash: a leaf cannot be canonicalized")
                break
            self.tree.extend(hashes)
            if progress is not None:
                progress(end - start)
        return len(self.v.failures) == before

    def counted(self) -> list[Any] | None:
        return self.merge.counted() if self.election is not None and self.roll is not None else None

    def check_tally(self, tally: Any) -> bool:
        """Check a live tally (`tally.updated` data or `GET /tally`) against the recount of its tree
        size, when that size is verified or once it is; False when a check failed."""
        before = len(self.v.failures)
        size = tally.get("tree_size") if type(tally) is dict else None
        if type(size) is int and size not in self._kept:
            if self.head is None or size > self.head.tree_size:
                self._pending[size] = tally  # checked when a head of that size is verified
            return True  # an older size this monitor did not verify: nothing to compare it with
        root, recount = self._kept[size] if type(size) is int else (None, None)
        self.v.check_tally(tally, recount, size if type(size) is int else -1, root)
        self.tallies += 1
        return len(self.v.failures) == before

    def finish(self, result: Any) -> Report:
        """Check the signed result against the verified board, as `verify_election` does for a
        closed election, and report. The caller first brings the monitor to the final tree head."""
        self.result = result
        _, parsed, _ = self.v.server_object("result", result, parse_result, self.key)
        if parsed is not None:
            self.v.check_result(parsed, self.election, self.election_digest, self.size, self.tree.root())
            self.recount = self.v.recount(self.election, self.roll, self.counted(), result["signed"])
        return self.report()

    def report(self) -> Report:
        """What was verified so far (open, unless :meth:`finish` checked a result)."""
        recount = self.recount
        summary = Summary(
            election=self.election.id if self.election is not None else None,
            method=self.election.method if self.election is not None else None,
            ballots=self.size,
            voters=len(self.roll.voters) if self.roll is not None else 0,
            counted=recount["counted"] if recount else None,
            winner=recount["winner"] if recount else None,
            ranking=tuple(recount["ranking"]) if recount else None,
            tree_size=self.size,
            root_hash=self.tree.root().hex(),
            open=self.result is None,
        )
        return Report(self.failures, summary)


def _proof_hashes(answer: Any) -> list[bytes]:
    """The hashes of a `{"consistency_proof": [hex, ...]}` answer; raises ProofError when malformed."""
    proof = answer.get("consistency_proof") if type(answer) is dict else None
    if type(proof) is not list:
        raise ProofError(f'want {{"consistency_proof": [hex, ...]}}, got {type(answer).__name__}')
    hashes = []
    for i, item in enumerate(proof):
        if type(item) is not str or len(item) != 64 or item.strip("0123456789abcdef"):
            raise ProofError(f"consistency_proof[{i}]: want 64 lowercase hex characters, got {item!r:.80}")
        hashes.append(bytes.fromhex(item))
    return hashes
