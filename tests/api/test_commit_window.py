"""Nothing is published before it is durable (issue #15), raced against a commit held open by
the board's test hook (`Board.before_commit`), on SQLite and PostgreSQL: readers, identical
resubmissions and the live events see only the committed prefix, and a batch whose write fails
publishes nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kurultai.unit_of_work import events_after
from tests.api.voting_helpers import open_amendment_election
from tests.conftest import World
from voting.errors import BallotRejected
from voting.live import tally_payload, turnout_payload


class Gate:
    """Holds every batch's commit until `release()`; `entered` is set while one waits."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.open = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self, election_id: int) -> None:
        self.entered.set()
        await self.open.wait()
        if self.fail is not None:
            raise self.fail

    def release(self) -> None:
        self.open.set()


@pytest.fixture
async def gate(app: Any) -> AsyncIterator[Gate]:
    g = Gate()
    app.state.board.before_commit = g
    yield g
    g.release()
    app.state.board.before_commit = None


async def cast(w: World, eid: str, ballot: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    r = await w.client.post(f"/api/elections/{eid}/ballots", json=ballot)
    return r.status_code, r.json()


async def published(w: World, eid: str) -> dict[str, Any]:
    """What a reader sees of the board: the tree head, the view's turnout and the live tally."""
    sth = await w.client.get(f"/api/elections/{eid}/sth")
    view = await w.ok("GET", f"/api/elections/{eid}")
    tally = await w.client.get(f"/api/elections/{eid}/tally")
    return {
        "sth_size": sth.json()["signed"]["tree_size"] if sth.status_code == 200 else None,
        "ballots": view["turnout"]["ballots"],
        "counted": tally.json()["counted"] if tally.status_code == 200 else None,
    }


async def test_readers_and_resubmissions_during_the_commit_see_only_what_is_durable(world: World, app: Any, gate: Gate) -> None:
    w = world
    gate.release()
    eid, env, (v1, v2), (a1, _a2) = await open_amendment_election(w)
    first = v1.ballot(env, [f"amendment-{a1}", "status_quo"])
    status, first_receipt = await cast(w, eid, first)
    assert status == 201
    before = await published(w, eid)
    assert before == {"sth_size": 1, "ballots": 1, "counted": 1}

    gate.open.clear()
    gate.entered.clear()
    second = v2.ballot(env, ["status_quo"])
    original = asyncio.create_task(cast(w, eid, second))
    await asyncio.wait_for(gate.entered.wait(), 10)  # the batch holds leaf 1, not yet durable
    again = [asyncio.create_task(cast(w, eid, second)) for _ in range(3)]  # a client retrying
    readers = [asyncio.create_task(published(w, eid)) for _ in range(3)]
    await asyncio.sleep(0.3)
    # What is read without waiting for the commit (the live events, pages, metrics, snapshots):
    board = app.state.board
    state = board.states[int(eid)]
    assert (state.size, state.sth["signed"]["tree_size"], state.voted) == (1, 1, 1)
    assert tally_payload(state)["tree_size"] == 1 and tally_payload(state)["counted"] == 1
    assert turnout_payload(state) == {"election": eid, "voted": 1, "roll_size": 2, "ballots": 1}
    with pytest.raises(BallotRejected, match="bad_proof|tree_size <= 1"):
        board.inclusion(state, 1, 2)
    # The API's readers either answered from the committed view or wait for the commit.
    assert all(r.result() == before for r in readers if r.done())
    assert await cast(w, eid, first) == (200, first_receipt)  # a repeat of a durable ballot: at once
    assert not original.done() and not any(t.done() for t in again)

    gate.release()
    status, receipt = await asyncio.wait_for(original, 10)
    assert status == 201 and receipt["seq"] == 1
    for t in again:
        repeat_status, repeat = await asyncio.wait_for(t, 10)
        assert repeat_status == 200 and repeat == receipt
    for r in readers:
        assert (await asyncio.wait_for(r, 10)) in (before, {"sth_size": 2, "ballots": 2, "counted": 2})
    assert await published(w, eid) == {"sth_size": 2, "ballots": 2, "counted": 2}


async def test_concurrent_identical_submissions_get_one_receipt(world: World, app: Any) -> None:
    w = world
    eid, env, (v1, _v2), (a1, _a2) = await open_amendment_election(w)
    ballot = v1.ballot(env, [f"amendment-{a1}"])
    answers = await asyncio.gather(*(cast(w, eid, ballot) for _ in range(8)))
    assert sorted(status for status, _ in answers) == [200] * 7 + [201]
    assert all(receipt == answers[0][1] for _, receipt in answers)
    assert (await w.client.get(f"/api/elections/{eid}/board")).json()["entries"][-1]["seq"] == 0


async def test_a_repeat_within_one_batch_gets_that_batchs_receipt(world: World, app: Any, gate: Gate) -> None:
    """Two identical ballots queued while another batch commits go into one batch: one is
    appended (201) and the other gets the same receipt (200, check 7), taken from the batch."""
    w = world
    gate.release()
    eid, env, (v1, v2), _ = await open_amendment_election(w)
    assert (await cast(w, eid, v1.ballot(env, ["status_quo"])))[0] == 201
    gate.open.clear()
    gate.entered.clear()
    holding = asyncio.create_task(cast(w, eid, v1.ballot(env, ["status_quo"], revision=2)))
    await asyncio.wait_for(gate.entered.wait(), 10)
    twice = v2.ballot(env, ["status_quo"])
    first, second = asyncio.create_task(cast(w, eid, twice)), asyncio.create_task(cast(w, eid, twice))
    await asyncio.sleep(0.3)  # both queued behind the held batch
    gate.release()
    held, a, b = await asyncio.gather(holding, first, second)
    assert held[0] == 201 and sorted([a[0], b[0]]) == [200, 201] and a[1] == b[1]
    assert (await w.ok("GET", f"/api/elections/{eid}/sth"))["signed"]["tree_size"] == 3


async def test_live_events_name_only_committed_leaves(world: World, app: Any, gate: Gate) -> None:
    w = world
    gate.release()
    eid, env, (v1, v2), (a1, _a2) = await open_amendment_election(w)
    assert (await cast(w, eid, v1.ballot(env, [f"amendment-{a1}"])))[0] == 201
    gate.open.clear()
    gate.entered.clear()
    pending = asyncio.create_task(cast(w, eid, v2.ballot(env, ["status_quo"])))
    await asyncio.wait_for(gate.entered.wait(), 10)
    # The coalescer writes its events while leaf 1 is in the working tree only. On SQLite the
    # writer is busy with the held batch, so the flush is queued behind it: run it concurrently.
    flush = asyncio.create_task(app.state.coalescer.flush(int(eid)))
    await asyncio.sleep(0.2)
    gate.release()
    await asyncio.wait_for(asyncio.gather(pending, flush), 10)
    events = [e for e in await events_after(w.assembly, 0, limit=10_000) if e.type in ("tally.updated", "sth.updated", "election.turnout")]
    for e in events:
        data = json.loads(e.data) if isinstance(e.data, str) else e.data
        if e.type == "tally.updated":
            assert data["counted"] == data["tree_size"], data  # computed over exactly the prefix it names
        if e.type == "sth.updated":
            assert data["sth"]["signed"]["tree_size"] <= 2
        if e.type == "election.turnout":
            assert data["ballots"] == data["voted"]
    await app.state.coalescer.flush(int(eid))
    last = [e for e in await events_after(w.assembly, 0, limit=10_000) if e.type == "tally.updated"][-1]
    data = json.loads(last.data) if isinstance(last.data, str) else last.data
    assert data["tree_size"] == 2 and data["counted"] == 2


async def test_a_batch_that_fails_publishes_nothing(world: World, app: Any, gate: Gate) -> None:
    w = world
    gate.release()
    eid, env, (v1, v2), (a1, _a2) = await open_amendment_election(w)
    assert (await cast(w, eid, v1.ballot(env, [f"amendment-{a1}"])))[0] == 201
    await app.state.coalescer.flush(int(eid))
    seen = len(await events_after(w.assembly, 0, limit=10_000))
    before = await published(w, eid)
    gate.fail = RuntimeError("the disk is full")
    ballot = v2.ballot(env, ["status_quo"])
    status, body = await cast(w, eid, ballot)
    assert status >= 500 and body["error"] == "internal_error"
    assert await published(w, eid) == before
    await asyncio.sleep(0.5)  # a coalescer flush, had the failed batch marked the election
    later = (await events_after(w.assembly, 0, limit=10_000))[seen:]
    assert [e.data for e in later if e.type == "sth.updated" and e.data["sth"]["signed"]["tree_size"] > 1] == []
    gate.fail = None
    status, receipt = await cast(w, eid, ballot)  # sent again: accepted now, at the next seq
    assert status == 201 and receipt["seq"] == 1 and receipt["sth"]["signed"]["tree_size"] == 2
