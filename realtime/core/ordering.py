"""Ordering of the live stream: a reorder buffer over per-assembly `seq`, and the choice between
a replay and a snapshot when a client connects.

`seq` is assigned by the database (see kurultai/unit_of_work.py): it starts at 1 and has no gaps, and
seq S exists only once every seq below S has committed. So whenever a message with seq S arrives
before S-1, the missing ones are already in the event log and the shell reads them from there
instead of waiting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

#: How far back a client may resume with `since` before it gets a snapshot instead of a replay.
DEFAULT_REPLAY_WINDOW = 10_000


@dataclass
class ReorderBuffer(Generic[T]):
    """Releases items strictly in seq order, each exactly once.

    `last` is the highest seq released. `offer` returns what became releasable; anything after a
    gap waits in `pending` until `fill` supplies the gap (from the event log) or it arrives late.
    Seqs at or below `last` are duplicates and are dropped.
    """

    last: int = 0
    pending: dict[int, T] = field(default_factory=dict)
    max_pending: int = 100_000

    def offer(self, seq: int, item: T) -> list[tuple[int, T]]:
        if seq <= self.last or seq in self.pending:
            return []
        if seq != self.last + 1:
            if len(self.pending) >= self.max_pending:  # bound memory: forget the newest, the log has it
                return []
            self.pending[seq] = item
            return []
        self.last = seq
        out = [(seq, item)]
        out.extend(self._drain())
        return out

    def fill(self, items: list[tuple[int, T]]) -> list[tuple[int, T]]:
        """Items read from the log (in any order); returns what became releasable, in order."""
        out: list[tuple[int, T]] = []
        for seq, item in sorted(items, key=lambda p: p[0]):
            out.extend(self.offer(seq, item))
        return out

    def _drain(self) -> list[tuple[int, T]]:
        out = []
        while self.last + 1 in self.pending:
            self.last += 1
            out.append((self.last, self.pending.pop(self.last)))
        return out

    def gap(self) -> tuple[int, int] | None:
        """The missing range `(after, upto)`: seqs after..upto-1 are missing, upto is waiting."""
        if not self.pending:
            return None
        return self.last, min(self.pending)

    def skip_to(self, seq: int) -> None:
        """Forget everything up to `seq` (used when the base is read from the database)."""
        if seq > self.last:
            self.last = seq
            for s in [s for s in self.pending if s <= seq]:
                del self.pending[s]


@dataclass(frozen=True)
class StartPlan:
    """How a new connection starts: replay the log after `since`, or send a snapshot."""

    kind: str  # "replay" or "snapshot"
    since: int  # for a replay: the client's position


def plan_start(since: int | None, last_seq: int, window: int = DEFAULT_REPLAY_WINDOW) -> StartPlan:
    """A replay when the client's `since` is within the replay window of the log, else a snapshot.

    `since` above `last_seq` (a client from another database, or from the future) also gets a
    snapshot: its position means nothing here.
    """
    if since is None or since < 0 or since > last_seq or since < max(0, last_seq - window):
        return StartPlan("snapshot", 0)
    return StartPlan("replay", since)
