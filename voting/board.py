"""The ballot board of one election: ingestion with group commit, the Merkle tree, tree heads,
receipts and proofs.

Each process keeps an `ElectionState` per open election: the roll, the compact range of the
tree, the stored node hashes (for O(log n) proofs), the voters' highest revisions, the digests
of accepted ballots (idempotency) and the live tally. Ballots pass the stateless checks of
PROTOCOL §5 in the request (signature checks run in worker processes, off the event loop,
batched by `voting.signatures`), then wait in the election's queue. One task per election drains
the queue into batches; a batch is one write transaction that re-checks against the database
(another process may have appended), appends the leaves and node hashes, signs one tree head for
the batch and stores every receipt. Futures resolve only after the commit, so a receipt is never
handed out for a ballot that is not durable.

Nothing is published before it is durable (issue #15). A batch appends its leaves to the
working tree, node store, revisions and accepted digests while it prepares its write; readers
see only the committed view: `size`, `root_hex()`, `voted`, `sth` and the tally, which change
together, without an await in between, once the write has committed (`publish_committed`). So a
tree head, a proof, a live event or a page never names a leaf that is not durable, and a batch
whose write fails publishes nothing (its state is rebuilt from the database). A ballot identical
to one still being committed waits for that commit and gets its stored receipt.

Memory (issue #14). A state costs about 250 bytes per ballot and 400 per voter on the roll, and
reading an election (its view, tree head, proofs) builds one, so the board does not keep them for
ever. `Board(keep_closed=16, idle_s=600)`: of the elections that take no ballots (closed, or
still drafts) it keeps the `keep_closed` most recently used states; and it drops the state of any
election not used (no read, no batch of ballots) for `idle_s` seconds, checked at most every
`idle_s / 10` seconds on a read or a batch (no timer task). A state is never dropped while
ballots wait in its queue, a batch of them is being committed or it is being reloaded; a dropped
state is rebuilt from the database at its next use (`load_state`), so whoever still holds the old
object looks the election up again (`submit`, the coalescer). A closed election never changes:
its `Summary` (turnout and latest tree head, about 1 KB) stays after its state is dropped, for the
`keep_summaries=1024` most recently read, so that reading it again rebuilds nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from deliberation.context import Ctx
from voting.core.ballot import BallotBoard, BallotElection, check_ballot, check_on_board, revision_supersedes
from voting.core.counting import Rule
from voting.core.encoding import format_time
from voting.core.keys import Signer
from voting.core.merkle import EMPTY_ROOT, CompactRange, PackedNodeStore, consistency_proof, inclusion_proof, inclusion_proofs, leaf_hash
from voting.core.signed import Ballot, Roll, RollVoter, ballot_leaf_bytes, parse_roll
from voting.core.tally import IncrementalTally
from voting.errors import BallotRejected, BallotRetry
from voting.tables import Election, ElectionRoll, Leaf, MerkleNode, TreeHead

log = logging.getLogger("kurultai.voting")

BATCH_MAX = 500
KEEP_CLOSED = 16  # states kept of elections that take no ballots (closed, drafts), most recently used
IDLE_S = 600.0  # a state not used for this long is dropped
KEEP_SUMMARIES = 1024  # summaries kept of closed elections, most recently read
_encode = msgspec.json.Encoder().encode  # compact JSON, UTF-8
LEAF_SQL = "INSERT INTO board_leaf (election, seq, leaf, leaf_hash, signed_digest, voter, revision, ranking, receipt, received_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
NODE_SQL = "INSERT INTO merkle_node (election, level, idx, hash) VALUES (?, ?, ?, ?)"
HEAD_SQL = "INSERT INTO tree_head (election, tree_size, envelope, created_ms) VALUES (?, ?, ?, ?)"
TREE_SQL = "UPDATE election SET tree_size = ?, root_hash = ?, compact_range = ? WHERE id = ?"
#: The four above as one statement for PostgreSQL, each INSERT over columns sent as arrays: a
#: batch's writes cost one round trip while the election's row is locked, not four (the other
#: serving processes wait for that lock).
PG_BATCH_SQL = (
    "WITH leaves AS (INSERT INTO board_leaf (election, seq, leaf, leaf_hash, signed_digest, voter, revision, ranking, receipt, received_ms)"
    " SELECT * FROM unnest(?::integer[], ?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[], ?::text[], ?::bigint[])),"
    " nodes AS (INSERT INTO merkle_node (election, level, idx, hash) SELECT * FROM unnest(?::integer[], ?::integer[], ?::bigint[], ?::text[])),"
    " head AS (INSERT INTO tree_head (election, tree_size, envelope, created_ms) VALUES (?, ?, ?, ?))"
    " UPDATE election SET tree_size = ?, root_hash = ?, compact_range = ? WHERE id = ?"
)


def batch_statements(sqlite: bool, leaves: list[tuple[Any, ...]], nodes: list[tuple[Any, ...]], head: tuple[Any, ...], tree: tuple[Any, ...]) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """A batch's writes: its leaves' rows, its new Merkle nodes, its tree head and the election's
    tree (the rows of LEAF_SQL, NODE_SQL, HEAD_SQL and TREE_SQL), as `Database.write_statements`
    runs them: four statements on SQLite (one call on the writer's thread anyway), one on
    PostgreSQL (PG_BATCH_SQL, each column of the leaves and the nodes as an array)."""
    if sqlite:
        return [(LEAF_SQL, leaves), (NODE_SQL, nodes), (HEAD_SQL, [head]), (TREE_SQL, [tree])]

    def columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
        return [list(column) for column in zip(*rows)] if rows else [[] for _ in range(width)]

    return [(PG_BATCH_SQL, [(*columns(leaves, 10), *columns(nodes, 4), *head, *tree)])]


@dataclass
class Pending:
    envelope: dict[str, Any]
    ballot: Ballot
    signed_digest: bytes  # H(JCS(signed)), raw
    signed_bytes: bytes  # JCS(signed)
    future: asyncio.Future[tuple[int, bytes]]


@dataclass
class ElectionState:
    id: int
    assembly: int
    status: str
    method: str
    visibility: str
    options: list[str]
    rule: Rule | None
    digest: str
    roll: Roll | None
    tree: CompactRange = field(default_factory=CompactRange)
    store: PackedNodeStore = field(default_factory=PackedNodeStore)
    revisions: dict[str, int] = field(default_factory=dict)
    accepted: dict[bytes, int] = field(default_factory=dict)  # raw signed digest -> seq (32-byte keys: memory)
    tally: IncrementalTally | None = None
    sth: dict[str, Any] | None = None
    queue: asyncio.Queue[Pending] | None = None
    worker: asyncio.Task[None] | None = None
    known_options: frozenset[str] = frozenset()  # what a ranking may name (set in __post_init__)
    used: float = 0.0  # the board's clock at the last read or batch (the idle sweep)
    # Status and size checked against the database inside a write (`Board._locked_state`): on
    # SQLite only then may a batch trust them without reading the row again.
    confirmed: bool = False
    # The committed view, what readers see (see the module docstring): the durable prefix of the
    # tree, its root, and how many voters it holds a ballot of.
    committed: int = 0
    committed_root: bytes = EMPTY_ROOT
    voted: int = 0

    def __post_init__(self) -> None:
        self.known_options = frozenset(self.options) | ({"yes", "no", "abstain"} if self.method == "yes_no" else frozenset())

    @property
    def size(self) -> int:
        """Leaves that are durable (the working tree may be ahead while a batch commits)."""
        return self.committed

    def publish_committed(self) -> None:
        """The working tree is durable: make it the committed view. Call with nothing pending
        in the working tree but what has just committed (after a commit, a load or a catch-up)."""
        self.committed = self.tree.size
        self.committed_root = self.tree.root() if self.tree.size else EMPTY_ROOT
        self.voted = len(self.revisions)

    # -- what the ballot checks read (voting.core.ballot: BallotElection, BallotBoard) --------------

    @property
    def election_id(self) -> str:
        return str(self.id)

    def repeat_of(self, signed_digest: bytes) -> int | None:
        """Check 7 before the queue: the seq of an identical ballot that is durable. One still
        being committed is not (its batch answers the repeat once that commit is durable)."""
        seq = self.accepted.get(signed_digest)
        return seq if seq is not None and seq < self.committed else None

    def highest_revision(self, voter: str) -> int | None:
        """Check 10 before the queue; None while a batch commits: `revisions` then holds revisions
        that may not become durable, and the batch that takes the ballot decides (`at_commit`)."""
        return self.revisions.get(voter, 0) if self.tree.size == self.committed else None

    def at_commit(self) -> _AtCommit:
        """Checks 7 and 10 inside a batch's write, against the working tree (durable up to this
        batch, plus the ballots of this batch before the one checked)."""
        return _AtCommit(self)

    @property
    def roll_weight(self) -> int:
        return self.roll.total_weight if self.roll else 0

    def root_hex(self) -> str:
        return self.committed_root.hex()


@dataclass(frozen=True)
class _AtCommit:
    state: ElectionState

    def repeat_of(self, signed_digest: bytes) -> int | None:
        return self.state.accepted.get(signed_digest)

    def highest_revision(self, voter: str) -> int:
        return self.state.revisions.get(voter, 0)


@dataclass(frozen=True)
class Summary:
    """What the read paths show of an election besides its row: the turnout and the latest
    signed tree head."""

    status: str
    voted: int
    roll_size: int | None  # None: a draft, no roll yet
    ballots: int
    sth: dict[str, Any] | None

    @classmethod
    def of(cls, state: ElectionState) -> Summary:
        roll_size = len(state.roll.voters) if state.roll is not None else None
        return cls(state.status, state.voted, roll_size, state.size, state.sth)

    def turnout(self) -> dict[str, int] | None:
        if self.roll_size is None:
            return None
        return {"voted": self.voted, "roll_size": self.roll_size, "ballots": self.ballots}


def _rule(text: str) -> Rule | None:
    if not text:
        return None
    r = json.loads(text)
    return Rule(r["majority"], r["quorum_percent"])


async def load_state(election_id: int) -> ElectionState | None:
    """Rebuild an election's state from the database (at start, or after another process wrote)."""
    row = await Election.select().where(Election.id == election_id).first()
    if row is None:
        return None
    options = [o["id"] for o in json.loads(row["options"])]
    roll_text = await stored_roll(election_id)
    roll = parse_roll(json.loads(roll_text)["signed"], decode_points=False) if roll_text else None  # its own roll: keys checked at registration
    rule = _rule(row["rule"])
    state = ElectionState(
        id=row["id"],
        assembly=row["assembly"],
        status=row["status"],
        method=row["method"],
        visibility=row["visibility"],
        options=options,
        rule=rule,
        digest=row["election_digest"],
        roll=roll,
    )
    if roll is None:
        return state
    state.tally = IncrementalTally(row["method"], options, rule, roll.total_weight if row["method"] == "yes_no" else None)
    leaves = await Leaf.select(Leaf.seq, Leaf.leaf_hash, Leaf.signed_digest, Leaf.voter, Leaf.revision, Leaf.ranking).where(Leaf.election == election_id).order_by(Leaf.seq)
    for lf in leaves:
        _apply_stored_leaf(state, lf, levels=1)  # higher levels come from the stored node hashes
    nodes = await MerkleNode.select(MerkleNode.level, MerkleNode.idx, MerkleNode.hash).where(MerkleNode.election == election_id)
    state.store.add((n["level"], n["idx"], bytes.fromhex(n["hash"])) for n in nodes)
    state.sth = await _head_of(election_id, state.tree.size)
    state.publish_committed()
    return state


async def _head_of(election_id: int, tree_size: int) -> dict[str, Any] | None:
    """The stored tree head of exactly `tree_size` leaves (not the latest: a batch may have
    committed since the leaves were read), or None (no ballot yet, or a head never signed)."""
    head = await TreeHead.select(TreeHead.envelope).where((TreeHead.election == election_id) & (TreeHead.tree_size == tree_size)).first()
    return json.loads(head["envelope"]) if head else None


#: The leaves from one size to another, the last carrying the tree head at the second size. The
#: head's lookup names the election by parameter, so it runs once (an InitPlan), not per row,
#: and only the last row carries the envelope.
#: Parameters: tree_size - 1, election, tree_size, election, from, tree_size.
CATCH_UP_SQL = (
    "SELECT l.seq, l.leaf_hash, l.signed_digest, l.voter, l.revision, l.ranking,"
    " CASE WHEN l.seq = {} THEN (SELECT h.envelope FROM tree_head h WHERE h.election = {} AND h.tree_size = {} LIMIT 1) END AS head"
    " FROM board_leaf l WHERE l.election = {} AND l.seq >= {} AND l.seq < {} ORDER BY l.seq"
)


def _apply_stored_leaf(state: ElectionState, lf: dict[str, Any], levels: int | None = None) -> None:
    """Add one stored leaf to the in-memory tree, node store, revisions and tally."""
    assert state.roll is not None and state.tally is not None
    nodes = state.tree.append(bytes.fromhex(lf["leaf_hash"]))
    state.store.add(nodes if levels is None else nodes[:levels])
    state.accepted[bytes.fromhex(lf["signed_digest"])] = lf["seq"]
    if revision_supersedes(lf["revision"], state.revisions.get(lf["voter"], 0)):
        state.revisions[lf["voter"]] = lf["revision"]
        voter = state.roll.get(lf["voter"])
        state.tally.add(lf["voter"], json.loads(lf["ranking"]), voter.weight if voter else 1, lf["revision"])


async def catch_up(state: ElectionState, tree_size: int) -> bool:
    """Append the leaves another process added since this state was built, instead of rebuilding
    the whole state (which would make two busy workers reload O(n) per batch). False when the
    state cannot be caught up (it is ahead of the database, or has no roll, or the leaves read are
    not exactly the ones missing): then nothing of it has changed."""
    if state.roll is None or state.tally is None or tree_size < state.tree.size or state.tree.size != state.committed:
        return False
    # One query (one round trip while a batch holds the election's row): the leaves up to
    # `tree_size` (the end of a batch: its row was read with them), each row carrying the tree
    # head signed at that size.
    leaves = await Leaf.raw(CATCH_UP_SQL, tree_size - 1, state.id, tree_size, state.id, state.tree.size, tree_size)
    if [lf["seq"] for lf in leaves] != list(range(state.tree.size, tree_size)):
        return False  # checked before any is applied: the state (its tally too) is left as it was
    for lf in leaves:
        _apply_stored_leaf(state, lf)
    if leaves and leaves[-1]["head"] is not None:
        state.sth = json.loads(leaves[-1]["head"])  # else the head held stays
    state.publish_committed()  # every leaf applied was read from the database: durable
    return state.tree.size == tree_size


def receipt_json(seq: int, leaf_hash_raw: bytes, middle: bytes, proof_json: list[bytes]) -> bytes:
    """The receipt `{"seq", "leaf_hash", "sth", "inclusion_proof"}` as compact JSON, the bytes
    msgspec writes for that dict, put together from parts a batch shares (`middle` holds the
    encoded tree head; `proof_json` the proof's hashes as JSON strings)."""
    return b'{"seq":%d,"leaf_hash":"%s%s%s]}' % (seq, leaf_hash_raw.hex().encode(), middle, b",".join(proof_json))


class Board:
    """The election states this process holds (see "Memory" above), and their ingestion tasks."""

    def __init__(
        self,
        ctx: Ctx,
        signer: Signer,
        on_accepted: Callable[[ElectionState], None],
        *,
        keep_closed: int = KEEP_CLOSED,
        idle_s: float = IDLE_S,
        keep_summaries: int = KEEP_SUMMARIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert keep_closed >= 0 and idle_s > 0 and keep_summaries >= 0
        self.ctx = ctx
        self.signer = signer
        self.on_accepted = on_accepted
        self.keep_closed = keep_closed
        self.idle_s = idle_s
        self.keep_summaries = keep_summaries
        self.clock = clock
        self.states: dict[int, ElectionState] = {}
        # Locks by election; an entry goes when no task holds its lock (states come and go).
        self._loading: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        # Held while a batch is prepared and committed: its leaves are in the in-memory tree
        # before they are in the database, so a fresh read must not replace the state meanwhile.
        self._committing: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._batches: set[int] = set()  # elections whose worker holds a batch taken from the queue
        self._no_ballots: OrderedDict[int, None] = OrderedDict()  # held states not open, least recently used first
        self._summaries: OrderedDict[int, Summary] = OrderedDict()  # of closed elections, least recently read first
        self._swept = clock()
        # A test hook: awaited inside a batch's write, after its leaves are in the working tree
        # and before the commit, to hold the commit window open (tests race readers against it).
        self.before_commit: Callable[[int], Awaitable[None]] | None = None
        # A test hook: awaited inside an opening's write, after the roll's keys and the attendance
        # are read and before they are signed (tests race check-ins against it).
        self.before_open: Callable[[int], Awaitable[None]] | None = None

    async def state(self, election_id: int, *, fresh: bool = False) -> ElectionState | None:
        if not fresh and (current := self.states.get(election_id)) is not None:
            return self._use(current)  # no lock (cast_ballot looks `states` up itself, once per ballot)
        lock = self._loading.get(election_id) or self._loading.setdefault(election_id, asyncio.Lock())
        async with lock:
            current = self.states.get(election_id)
            if current is not None and not fresh:
                return self._use(current)
            async with self._committing.setdefault(election_id, asyncio.Lock()):
                current = self.states.get(election_id)
                if current is not None and fresh:
                    row = await Election.select(Election.tree_size, Election.status).where(Election.id == election_id).first()
                    if row and row["status"] == current.status:
                        if row["tree_size"] == current.size or await catch_up(current, row["tree_size"]):
                            return self._use(current)
                loaded = await load_state(election_id)
                if loaded is None:
                    return None
                if current is not None:
                    loaded.queue, loaded.worker = current.queue, current.worker
                return self._put(loaded)

    async def summary(self, election_id: int) -> Summary | None:
        """The turnout and latest tree head that `state(election_id, fresh=True)` shows. A closed
        election's is kept (it never changes again): reading it again rebuilds no state."""
        kept = self._summaries.get(election_id)
        if kept is not None:
            self._summaries.move_to_end(election_id)
            return kept
        state = await self.state(election_id, fresh=True)
        if state is None:
            return None
        summary = Summary.of(state)
        if state.status == "closed":  # as the database said just now (fresh), not only marked
            self._summaries[election_id] = summary
            if len(self._summaries) > self.keep_summaries:
                self._summaries.popitem(last=False)
        return summary

    # -- which states are kept -------------------------------------------------------------------

    def _put(self, state: ElectionState) -> ElectionState:
        self.states[state.id] = state
        return self._use(state)

    def _use(self, state: ElectionState) -> ElectionState:
        """Note a read or a batch: the state is the most recently used; drop others past the limits."""
        now = self.clock()
        state.used = now
        if state.status == "open":
            self._no_ballots.pop(state.id, None)
        else:
            self._no_ballots[state.id] = None
            self._no_ballots.move_to_end(state.id)
        if len(self._no_ballots) > self.keep_closed:
            self._drop_least_recent()
        if now - self._swept >= self.idle_s / 10:
            self.sweep(now)
        return state

    def _busy(self, state: ElectionState) -> bool:
        """Ballots wait in its queue or in a batch, or a batch or a reload holds its lock."""
        if state.id in self._batches or (state.queue is not None and not state.queue.empty()):
            return True
        return any((lock := locks.get(state.id)) is not None and lock.locked() for locks in (self._committing, self._loading))

    def _drop_least_recent(self) -> None:
        """Drop the least recently used states of elections that take no ballots, down to `keep_closed`."""
        excess = len(self._no_ballots) - self.keep_closed
        for election_id in list(self._no_ballots):
            if excess <= 0:
                break
            state = self.states.get(election_id)
            if state is None or not self._busy(state):
                self._drop(election_id)
                excess -= 1

    def sweep(self, now: float | None = None) -> None:
        """Drop every state not used for `idle_s` (reads and batches run this every `idle_s / 10`)."""
        now = self.clock() if now is None else now
        self._swept = now
        for election_id, state in list(self.states.items()):
            if now - state.used >= self.idle_s and not self._busy(state):
                self._drop(election_id)

    def _drop(self, election_id: int) -> None:
        self._no_ballots.pop(election_id, None)
        state = self.states.pop(election_id, None)
        if state is not None and state.worker is not None:
            state.worker.cancel()  # idle (nothing queued): it waits on a queue no ballot will reach

    def mark_closed(self, election_id: int) -> None:
        """Called inside the closing transaction: later batches see the election closed."""
        state = self.states.get(election_id)
        if state is not None:
            state.status = "closed"

    def forget(self, election_id: int) -> None:
        self._summaries.pop(election_id, None)
        self._drop(election_id)

    async def stop(self) -> None:
        """Cancel the ingestion tasks and wait for them, so that none is left holding a
        database connection when the database stops."""
        workers = [state.worker for state in self.states.values() if state.worker]
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self.states.clear()
        self._no_ballots.clear()
        self._summaries.clear()

    # -- casting ---------------------------------------------------------------------------

    async def cast(
        self,
        body: bytes,
        lookup: Callable[[], Awaitable[ElectionState]],
        verify: Callable[[RollVoter, bytes, bytes], Awaitable[bool]],
        admit: Callable[[str], Awaitable[None]] | None = None,
    ) -> tuple[int, bytes]:
        """PROTOCOL §5 for one ballot body (`voting.core.ballot.check_ballot`), then the append:
        (HTTP status, receipt as JSON bytes) once durable. ``lookup()`` gives the election's
        state after the body parsed (it raises the caller's not-found); ``verify(voter, message,
        signature)`` is check 6 (`voting.signatures`, batched off the loop); ``admit(voter key
        id)`` may refuse a ballot that passed every check and is to be appended (the per-key rate
        limit): a repeat of a durable ballot gets its receipt without it."""
        seen: list[ElectionState] = []

        async def election() -> BallotElection:
            seen.append(await lookup())
            return seen[-1]

        async def board(_election: BallotElection) -> BallotBoard:
            state = seen[-1]
            if self.states.get(state.id) is not state:  # dropped or rebuilt while we waited (the signature check, the limit)
                current = await self.state(state.id)
                if current is None or current.status != "open":
                    raise BallotRejected("election_not_open", f"election {state.id} is {current.status if current else 'gone'}")
                seen.append(current)
            return seen[-1]

        checked = await check_ballot(body, election, verify, board)
        if checked.repeat_of is not None:
            return 200, await stored_receipt(seen[-1].id, checked.repeat_of)  # 7: a repeat of a durable ballot
        if admit is not None:
            await admit(checked.ballot.voter)
            await board(seen[-1])  # the state the ballot is queued on is the one in use (its batch checks 7-10 again)
        return await self._enqueue(seen[-1], checked.ballot, checked.envelope_json, checked.signed_jcs, checked.signed_digest)

    async def _enqueue(self, state: ElectionState, ballot: Ballot, envelope_json: dict[str, Any], signed_bytes: bytes, signed_digest: bytes) -> tuple[int, bytes]:
        """Queue a ballot that passed checks 1-10 (or is identical to one being committed: its
        batch answers it with the stored receipt once that commit is durable, or appends it, if
        that commit failed); its batch checks 7 and 10 again under the lock."""
        if state.queue is None:
            state.queue = asyncio.Queue()
        if state.worker is None or state.worker.done():
            state.worker = asyncio.create_task(self._drain(state.id), name=f"ingest-{state.id}")
        future: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        state.queue.put_nowait(Pending(envelope_json, ballot, signed_digest, signed_bytes, future))  # unbounded: never waits
        return await future

    async def _drain(self, election_id: int) -> None:
        while True:
            state = self.states.get(election_id)
            if state is None or state.queue is None:
                return
            queue = state.queue
            del state  # not kept while waiting: a state rebuilt meanwhile frees the old one
            batch = [await queue.get()]
            while len(batch) < BATCH_MAX and not queue.empty():
                batch.append(queue.get_nowait())
            self._batches.add(election_id)  # until its futures are resolved: the state is kept
            try:
                async with self._committing.setdefault(election_id, asyncio.Lock()):
                    try:
                        await self._commit_batch(election_id, batch)
                    except Exception as exc:  # the transaction failed: nothing is durable, reload state
                        for p in batch:
                            if not p.future.done():
                                p.future.set_exception(exc)
                        await self._reload(election_id, "a failed batch")
            finally:
                self._batches.discard(election_id)

    async def _reload(self, election_id: int, after: str) -> bool:
        """The in-memory state may be ahead of (or behind) the database: no batch trusts it from
        now on (before any await), and it is read again from the database. False when that failed."""
        damaged = self.states.get(election_id)
        if damaged is not None:
            damaged.confirmed = False
        try:
            fresh = await load_state(election_id)
        except Exception:  # the next batch reloads it (its working tree is ahead of its committed view)
            log.exception("election %s: reloading the board after %s failed", election_id, after)
            return False
        if fresh is not None and (old := self.states.get(election_id)) is not None:
            fresh.queue, fresh.worker = old.queue, old.worker
            self._put(fresh)
        return True

    async def _commit_batch(self, election_id: int, batch: list[Pending]) -> None:
        outcomes: dict[int, tuple[int, Any]] = {}
        appended: list[tuple[str, list[str], int, int]] = []
        signed_head: list[dict[str, Any]] = []  # the batch's tree head, published after the commit
        receipts: dict[int, bytes] = {}  # seq -> receipt of this batch's new leaves (a repeat within the batch)

        async def prepare() -> tuple[list[Any], ElectionState]:
            outcomes.clear()
            appended.clear()
            signed_head.clear()
            receipts.clear()
            now_ms = self.ctx.now()
            state = await self._locked_state(election_id)
            if state.status != "open":
                for i, _p in enumerate(batch):
                    outcomes[i] = (0, BallotRejected("election_not_open", f"election {election_id} is {state.status}"))
                return [], state
            received_at = format_time(now_ms)
            new_leaves: list[tuple[int, Pending, int, bytes, bytes]] = []
            new_nodes: list[tuple[int, int, bytes]] = []
            at_commit = state.at_commit()
            for i, p in enumerate(batch):
                try:
                    repeat = check_on_board(p.ballot, p.signed_digest, state, at_commit)  # 7-10 again, under the lock
                except BallotRejected as exc:  # 10: a revision accepted since the ballot was queued
                    outcomes[i] = (0, exc)
                    continue
                if repeat is not None:
                    outcomes[i] = (-1, repeat)  # 7: the original receipt
                    continue
                seq = state.tree.size
                leaf_bytes = ballot_leaf_bytes(seq, p.envelope["signature"], p.signed_bytes, p.envelope["signer"], received_at)
                lh = leaf_hash(leaf_bytes)
                nodes = state.tree.append(lh)
                state.store.add(nodes)
                new_nodes.extend(nodes)
                state.revisions[p.ballot.voter] = p.ballot.revision
                state.accepted[p.signed_digest] = seq
                new_leaves.append((i, p, seq, leaf_bytes, lh))
            if not new_leaves:
                return [], state
            size, root = state.tree.size, state.tree.root()
            sth = self.sign_sth(election_id, size, root, now_ms)
            signed_head.append(sth)
            rows = []
            proofs = inclusion_proofs([seq for _i, _p, seq, _b, _h in new_leaves], size, state.store)
            receipt_middle = b'","sth":' + _encode(sth) + b',"inclusion_proof":['
            for (i, p, seq, leaf_bytes, lh), proof in zip(new_leaves, proofs):
                receipt_bytes = receipt_json(seq, lh, receipt_middle, [b'"%s"' % h.hex().encode() for h in proof])
                outcomes[i] = (201, receipt_bytes)
                receipts[seq] = receipt_bytes
                voter = state.roll.get(p.ballot.voter) if state.roll else None
                appended.append((p.ballot.voter, list(p.ballot.ranking), voter.weight if voter else 1, p.ballot.revision))
                rows.append(
                    (
                        election_id,
                        seq,
                        leaf_bytes.decode(),
                        lh.hex(),
                        p.signed_digest.hex(),
                        p.ballot.voter,
                        p.ballot.revision,
                        _encode(p.ballot.ranking).decode(),
                        receipt_bytes.decode(),
                        now_ms,
                    )
                )
            statements = batch_statements(
                self.ctx.db.is_sqlite,
                rows,
                # Level 0 is the leaf hash, stored with the leaf; higher levels are complete subtrees.
                [(election_id, lv, ix, h.hex()) for lv, ix, h in new_nodes if lv > 0],
                (election_id, size, json.dumps(sth, ensure_ascii=False), now_ms),
                (size, root.hex(), json.dumps([h.hex() for h in state.tree.to_hashes()]), election_id),
            )
            if self.before_commit is not None:
                await self.before_commit(election_id)
            return statements, state

        # One write for the whole batch, in order with every other write (Database.write_statements).
        state = await self.ctx.db.write_statements(prepare)
        # Durable. From here on every ballot of the batch gets its answer, whatever fails: an
        # error below must not tell a voter whose ballot is on the board that it failed.
        try:  # publish the committed view in one step (no await until it is whole)
            for voter, ranking, weight, revision in appended:
                if state.tally is not None:
                    state.tally.add(voter, ranking, weight, revision)
            if signed_head:
                state.sth = signed_head[0]
            state.publish_committed()
        except Exception:  # a bug: the view is not whole, so it is read again from the database
            log.exception("election %s: updating the board after a commit failed", election_id)
            if not await self._reload(election_id, "a commit whose view failed"):
                appended.clear()  # no live event from a view that is not whole
            state = self.states.get(election_id, state)
        for i, p in enumerate(batch):
            kind, value = outcomes[i]
            if kind == -1:  # 7: identical to a durable ballot, of this batch or an earlier one
                try:
                    value = receipts[value] if value in receipts else await stored_receipt(election_id, value)
                except BallotRetry as exc:
                    kind, value = 0, exc
                except Exception:  # the database could not be read: the ballot is durable, it may be sent again
                    log.exception("election %s: reading the stored receipt of ballot %s failed", election_id, value)
                    kind, value = 0, BallotRetry(f"the receipt of ballot {value} could not be read; send the ballot again")
            if p.future.done():  # its request was cancelled (the server is stopping)
                continue
            if kind == 0:
                p.future.set_exception(value)
            else:
                p.future.set_result((200 if kind == -1 else kind, value))
        try:  # not the transaction's failure: it committed and every ballot has its answer
            self._use(state)
            if appended:
                self.on_accepted(state)
        except Exception:
            log.exception("election %s: after a committed batch", election_id)

    async def _locked_state(self, election_id: int) -> ElectionState:
        """Inside a write transaction: lock the election row (PostgreSQL) and make sure the
        in-memory state matches the database, reloading when another process appended."""
        state = self.states.get(election_id)
        if self.ctx.db.is_sqlite and state is not None and state.status == "open" and state.confirmed and state.tree.size == state.committed:
            # One process owns a SQLite file and every write goes through its single writer, so a
            # state checked inside an earlier write cannot have changed behind our back (close
            # marks it closed itself). A state built outside the writer (a read, or after it was
            # dropped) may predate a close that committed since: it is checked once, below.
            return state
        if self.ctx.db.is_sqlite:
            row = await Election.select(Election.tree_size, Election.status).where(Election.id == election_id).first()
        else:  # lock the row and read it in one round trip: the lock is held until the commit
            rows = await Election.raw("SELECT tree_size, status FROM election WHERE id = {} FOR UPDATE", election_id)
            row = rows[0] if rows else None
        if state is not None and row is not None and row["status"] == state.status and row["tree_size"] > state.tree.size:
            if await catch_up(state, row["tree_size"]):
                state.confirmed = True
                return state
        if state is None or row is None or row["tree_size"] != state.tree.size or row["tree_size"] != state.committed or row["status"] != state.status:
            fresh = await load_state(election_id)
            if fresh is None:
                raise BallotRejected("election_not_open", f"election {election_id} no longer exists")
            if state is not None:
                fresh.queue, fresh.worker = state.queue, state.worker
            state = self._put(fresh)
        state.confirmed = True
        return state

    # -- tree heads and proofs -------------------------------------------------------------------

    def sign_sth(self, election_id: int, size: int, root: bytes, now_ms: int) -> dict[str, Any]:
        from voting.core.keys import sign_object

        signed = {"v": 1, "type": "sth", "election": str(election_id), "tree_size": size, "root_hash": root.hex(), "timestamp": format_time(now_ms)}
        return sign_object(self.signer, signed)

    def inclusion(self, state: ElectionState, seq: int, tree_size: int) -> list[str]:
        if not (0 <= seq < tree_size <= state.size):
            raise BallotRejected("bad_proof", f"want 0 <= seq < tree_size <= {state.size}, got seq={seq}, tree_size={tree_size}")
        return [h.hex() for h in inclusion_proof(seq, tree_size, state.store)]

    def consistency(self, state: ElectionState, first: int, second: int) -> list[str]:
        if not (0 <= first <= second <= state.size):
            raise BallotRejected("bad_proof", f"want 0 <= first <= second <= {state.size}, got first={first}, second={second}")
        return [h.hex() for h in consistency_proof(first, second, state.store)]


async def stored_roll(election_id: int) -> str:
    """The signed roll as stored (JSON text), or "" while the election is a draft."""
    row = await ElectionRoll.select(ElectionRoll.envelope).where(ElectionRoll.election == election_id).first()
    return row["envelope"] if row else ""


async def stored_receipt(election_id: int, seq: int) -> bytes:
    """The receipt handed out when the ballot was accepted, as stored (JSON bytes). Only asked
    for leaves of the committed view; should one be missing all the same (its state was rebuilt
    by a process that had not seen the commit), the client is told to send the ballot again."""
    row = await Leaf.select(Leaf.receipt).where((Leaf.election == election_id) & (Leaf.seq == seq)).first()
    if row is None:
        raise BallotRetry(f"ballot {seq} of election {election_id} is being written; send it again")
    return row["receipt"].encode()


async def board_page(election_id: int, start: int, end: int | None, limit: int = 5000) -> bytes:
    """`{"entries": [...]}` as JSON bytes, built from the stored canonical leaves (no re-encoding)."""
    stop = start + limit if end is None else min(end, start + limit)
    rows = await Leaf.select(Leaf.seq, Leaf.leaf, Leaf.leaf_hash).where((Leaf.election == election_id) & (Leaf.seq >= start) & (Leaf.seq < stop)).order_by(Leaf.seq)
    parts = [f'{{"seq":{r["seq"]},"leaf":{r["leaf"]},"leaf_hash":"{r["leaf_hash"]}"}}' for r in rows]
    return ('{"entries":[' + ",".join(parts) + "]}").encode()
