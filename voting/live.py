"""Coalesced live events: `election.turnout`, `tally.updated` (live elections only) and
`sth.updated` are written to the event log at most once per election per interval (250 ms by
default), and never later than one interval plus one write after the ballots they cover."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from deliberation.context import Ctx
from kurultai.unit_of_work import Tx
from voting.board import Board, ElectionState

log = logging.getLogger("kurultai.voting")


def tally_payload(state: ElectionState) -> dict[str, Any]:
    assert state.tally is not None
    result = state.tally.result()
    return {
        "election": str(state.id),
        "tree_size": state.size,
        "root_hash": state.root_hex(),
        "counted": result["counted"],
        "ranking": result["ranking"],
        "winner": result["winner"],
        "ties_broken": result["ties_broken"],
        "details": result["details"],
    }


def turnout_payload(state: ElectionState) -> dict[str, Any]:
    return {
        "election": str(state.id),
        "voted": state.voted,
        "roll_size": len(state.roll.voters) if state.roll else 0,
        "ballots": state.size,
    }


class Coalescer:
    def __init__(self, ctx: Ctx, board: Board, interval_s: float = 0.25) -> None:
        self.ctx = ctx
        self.board = board
        self.interval_s = interval_s
        self._last: dict[int, float] = {}
        self._pending: dict[int, asyncio.Task[None]] = {}
        self._dirty: set[int] = set()
        self._stopping = False

    def mark(self, state: ElectionState) -> None:
        self._schedule(state.id)

    def _schedule(self, election_id: int) -> None:
        self._dirty.add(election_id)
        if election_id in self._pending:
            return
        delay = max(0.0, self._last.get(election_id, 0.0) + self.interval_s - time.monotonic())
        self._pending[election_id] = asyncio.create_task(self._flush_later(election_id, delay), name=f"coalesce-{election_id}")

    async def _flush_later(self, election_id: int, delay: float) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
            self._dirty.discard(election_id)
            self._last[election_id] = time.monotonic()
            await self.flush(election_id)
        except Exception:  # a failed write: the next accepted ballot marks the election again
            log.exception("live events of election %s could not be written", election_id)
        finally:
            self._pending.pop(election_id, None)
            if election_id in self._dirty and not self._stopping:
                self._schedule(election_id)

    async def flush(self, election_id: int) -> None:
        # Looked up by id, not kept: the board may have dropped the state since (and rebuilds it).
        state = await self.board.state(election_id)
        if state is None or state.tally is None:
            return
        turnout = turnout_payload(state)
        tally = tally_payload(state) if state.visibility == "live" else None
        sth = state.sth

        async def run(tx: Tx) -> None:
            await tx.emit(state.assembly, "election.turnout", turnout)
            if tally is not None:
                await tx.emit(state.assembly, "tally.updated", tally)
            if sth is not None:
                await tx.emit(state.assembly, "sth.updated", {"election": str(election_id), "sth": sth})

        await self.ctx.write(run)

    async def stop(self) -> None:
        """Cancel pending flushes and wait for them (none may hold a connection at shutdown)."""
        self._stopping = True
        tasks = list(self._pending.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._pending.clear()


async def elections_snapshot(board: Board, assembly_id: int, viewer: Any = None) -> list[dict[str, Any]]:
    """The `elections` section of the websocket snapshot: every election of the assembly, with
    turnout, the latest signed tree head and (for `live` elections) the tally."""
    from voting.elections import list_elections

    out = []
    for view in await list_elections(assembly_id):
        if view["status"] == "closed":  # kept by the board: no state rebuilt per connection
            summary = await board.summary(int(view["id"]))
            if summary is not None and (turnout := summary.turnout()) is not None:
                view["turnout"] = {"election": view["id"], **turnout}
                view["sth"] = summary.sth
        elif view["status"] != "draft":
            state = await board.state(int(view["id"]), fresh=True)
            if state is not None and state.roll is not None:
                view["turnout"] = turnout_payload(state)
                view["sth"] = state.sth
                if state.visibility == "live" and state.status == "open":
                    view["tally"] = tally_payload(state)
        out.append(view)
    return out
