"""The board's leaves checked in chunks, on forked worker processes, and merged in seq order."""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from voting.core.board_checks import BallotMerge, LeafScan
from voting.core.counting import WeightedBallot
from voting.core.leaves import BoardLines, line_breaks
from voting.core.merkle import compute_root
from voting.core.signed import Election, Roll

from .model import BoardFile

if TYPE_CHECKING:
    from .checks import _Verifier

# The per-leaf work that needs nothing but the leaf, the election and a key (canonicalizing,
# hashing, the leaf's own checks, the signature: `voting.core.board_checks.LeafScan`) runs over
# chunks of CHUNK_SIZE leaves, on worker processes when the board is large (forked: they
# inherit the parsed board, and they share no GIL with the caller), in the calling thread
# otherwise. The calling thread meanwhile checks the roll, then merges the chunks' small
# results in seq order (`BallotMerge`): the revision order, the roll checks, the failures
# (exactly as one pass over the board would report them), the latest ballot of each voter.
#
# A chunk is a power of two of aligned leaves: a complete subtree of the Merkle tree (RFC 6962
# splits at the largest power of two), so a worker returns its root, not its leaf hashes.

#: Leaves per task, rounded down to a power of two (a complete subtree of the Merkle tree):
#: large enough that scheduling costs nothing, small enough that the workers end together.
CHUNK_SIZE = 512
#: Boards with fewer leaves are checked in the calling process: forking costs more.
POOL_MIN_LEAVES = 1024


#: The scans the worker processes inherit (by fork), by token.
_SCANS: dict[int, LeafScan] = {}


def _chunk_in_worker(token: int, lo: int, hi: int) -> tuple[bytes | None, list[Any]]:
    return _SCANS[token].chunk(lo, hi)


def _worker_init() -> None:
    # Ctrl-C reaches the whole process group: the caller handles it (and shuts the pool down).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Deferred:
    """A chunk computed in the calling thread when its result is asked for."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.fn, self.args = fn, args

    def result(self) -> Any:
        return self.fn(*self.args)


def _chunk_size() -> int:
    return 1 << (max(CHUNK_SIZE, 1).bit_length() - 1)  # a power of two: a complete subtree


class _BoardCheck:
    """Every leaf: shape, seq, ballot, roll, election, options, revisions, signature, leaf hash.

    :meth:`start` hands the chunks to the workers (before the roll is checked), :meth:`finish`
    merges them once the roll is known. Failures are reported only by :meth:`finish`, in the
    order of one pass over the board.
    """

    def __init__(self, v: _Verifier, election: Election | None, election_digest: str | None) -> None:
        self.v = v
        self.election = election
        self.proven: set[str] = set()  # voters with at least one valid signature
        self.pool: Executor | None = None
        self.token = 0
        self.futures: list[Any] = []
        self.bounds: list[tuple[int, int]] = []
        self.leaves: Sequence[Any] = []
        self.scan = LeafScan.of(election, election_digest, v.bundle.roll)

    def start(self, leaves: Sequence[Any], workers: int) -> None:
        """Submit every chunk: to forked processes for a large board, else computed in-process."""
        self.leaves = self.scan.leaves = leaves
        size = _chunk_size()
        bounds = [(lo, min(lo + size, len(leaves))) for lo in range(0, len(leaves), size)]
        self.bounds = bounds
        workers = min(workers, len(bounds))
        if workers > 1 and len(leaves) >= POOL_MIN_LEAVES:
            try:
                if "fork" in multiprocessing.get_all_start_methods():
                    self.token = id(self.scan)
                    _SCANS[self.token] = self.scan
                    self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_worker_init)
                    self.futures = [self.pool.submit(_chunk_in_worker, self.token, lo, hi) for lo, hi in bounds]
                else:  # pragma: no cover - no fork (Windows): threads, which share the GIL
                    self.pool = ThreadPoolExecutor(workers, thread_name_prefix="verify")
                    self.futures = [self.pool.submit(self.scan.chunk, lo, hi) for lo, hi in bounds]
                return
            except Exception:  # noqa: BLE001 - no pool here (a daemonic process...): in-process, then
                self.close()
        self.futures = [_Deferred(self.scan.chunk, lo, hi) for lo, hi in bounds]

    def close(self) -> None:
        """Stop the workers (pending chunks are cancelled); safe to call twice."""
        _SCANS.pop(self.token, None)
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def finish(self, roll: Roll | None, bad_keys: set[str], progress: Callable[[int], None] | None = None) -> tuple[bytes | None, list[WeightedBallot] | None]:
        """(Merkle root or None when a leaf cannot be hashed, counted ballots or None when unknowable)."""
        merge = BallotMerge(self.v.fail, self.election, roll, bad_keys, self.proven)
        roots: list[bytes] | None = []
        for future, (lo, hi) in zip(self.futures, self.bounds):
            try:
                root, records = future.result()
            except BrokenExecutor:  # a worker died (killed, out of memory): this chunk in-process
                root, records = self.scan.chunk(lo, hi)
            if root is None:
                roots = None
            elif roots is not None:
                roots.append(root)
            checked = merge.add(records, self.leaves)
            if progress is not None and checked:
                progress(checked)
        merge.report_signatures()
        root = compute_root(roots) if roots is not None else None
        if self.election is None or roll is None:
            return root, None
        return root, merge.counted()


def _board_lines(board: BoardFile, workers: int) -> BoardLines | None:
    """The board file's leaves for the workers, or None when it is to be parsed here (small,
    no pool, or not one leaf per line)."""
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    breaks = line_breaks(board.data)
    if breaks is None or len(breaks) - 1 < max(POOL_MIN_LEAVES, 1):
        return None
    return BoardLines(board.data, breaks)
