"""A serving process whose election state is behind the database (another process of `serve
--workers N` appended a batch) catches up on the leaves it missed instead of reloading the whole
election (`voting.board.catch_up`, one query: the leaves and the tree head their batch ended at),
on the read path and inside a batch, on SQLite and PostgreSQL; and a batch whose writes the
database refuses publishes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import World
from tests.reliability.test_board_memory import cast, count_state_loads, voters, yes_no_election
from voting.board import catch_up, load_state
from voting.tables import Election, Leaf, MerkleNode, TreeHead


async def _behind(app: Any, eid: int, stale: Any) -> None:
    """Make this process hold `stale` (a state read before the last batch) for `eid`."""
    board = app.state.board
    current = board.states[eid]
    stale.queue, stale.worker = current.queue, current.worker
    board.states[eid] = stale


@pytest.mark.parametrize("second_head", [False, True], ids=["one-head", "two-heads-at-one-size"])
async def test_a_state_behind_catches_up_without_a_reload(world: World, app: Any, monkeypatch: pytest.MonkeyPatch, second_head: bool) -> None:
    w = world
    alice, bob = await voters(w)
    eid, election = await yes_no_election(w)
    assert (await cast(w, eid, alice.ballot(election, ["yes"])))[0] == 201
    stale_for_read, stale_for_batch = await load_state(eid), await load_state(eid)  # 1 leaf each
    status, second = await cast(w, eid, bob.ballot(election, ["no"]))  # "the other process"
    assert status == 201 and second["seq"] == 1
    if second_head:  # nothing writes two heads at one size; if one ever did, catching up still works
        await TreeHead.insert(TreeHead(election=eid, tree_size=2, envelope=json.dumps(second["sth"]), created_ms=0))
    reloads = count_state_loads(monkeypatch)

    await _behind(app, eid, stale_for_read)  # the read path: a fresh look at the election
    assert await w.ok("GET", f"/api/elections/{eid}/sth") == second["sth"]
    await _behind(app, eid, stale_for_batch)  # the batch path, under the election's lock
    status, third = await cast(w, eid, alice.ballot(election, ["no"], revision=2))
    assert status == 201 and third["seq"] == 2 and third["sth"]["signed"]["tree_size"] == 3, third
    tally = await w.ok("GET", f"/api/elections/{eid}/tally")
    assert (tally["tree_size"], tally["counted"]) == (3, 2)
    assert reloads == []  # caught up both times, never rebuilt from the whole board


async def test_a_batch_the_database_refuses_publishes_nothing(world: World, app: Any) -> None:
    """The batch's writes go as one statement on PostgreSQL (four on SQLite): a row they collide
    with fails them all, and no leaf, node, tree head or tree size of the batch remains."""
    w = world
    alice, bob = await voters(w)
    eid, election = await yes_no_election(w)
    assert (await cast(w, eid, alice.ballot(election, ["yes"])))[0] == 201
    before = await w.ok("GET", f"/api/elections/{eid}/sth")
    heads = await TreeHead.count().where(TreeHead.election == eid)
    await MerkleNode.insert(MerkleNode(election=eid, level=1, idx=0, hash="00" * 32))  # the node the next batch writes
    ballot = bob.ballot(election, ["no"])
    status, body = await cast(w, eid, ballot)
    assert (status, body["error"]) == (409, "conflict"), body  # "nothing was written: look again and retry"
    assert await w.ok("GET", f"/api/elections/{eid}/sth") == before
    assert await TreeHead.count().where(TreeHead.election == eid) == heads
    assert (await Election.select(Election.tree_size).where(Election.id == eid).first())["tree_size"] == 1
    assert len((await w.ok("GET", f"/api/elections/{eid}/board"))["entries"]) == 1
    await MerkleNode.delete().where((MerkleNode.election == eid) & (MerkleNode.level == 1))
    status, receipt = await cast(w, eid, ballot)  # sent again: accepted now, at the seq the failed batch had taken
    assert status == 201 and receipt["seq"] == 1 and receipt["sth"]["signed"]["tree_size"] == 2, receipt


async def test_leaves_that_do_not_follow_on_change_nothing(world: World, app: Any) -> None:
    """A catch-up that finds a gap among the leaves it reads (a database not as this process
    left it) applies none of them: the tree and the tally stay as they were, for a rebuild."""
    w = world
    alice, bob = await voters(w)
    eid, election = await yes_no_election(w)
    assert (await cast(w, eid, alice.ballot(election, ["yes"])))[0] == 201
    stale = await load_state(eid)
    assert (await cast(w, eid, bob.ballot(election, ["no"])))[0] == 201
    assert (await cast(w, eid, alice.ballot(election, ["no"], revision=2)))[0] == 201
    await Leaf.delete().where((Leaf.election == eid) & (Leaf.seq == 2))  # seq 1 is there, 2 is not
    assert stale.tally is not None
    before = (stale.tree.size, stale.tally.counted, stale.tally.result(), dict(stale.revisions))
    assert await catch_up(stale, 3) is False
    after = (stale.tree.size, stale.tally.counted, stale.tally.result(), dict(stale.revisions))
    assert after == before and before[:2] == (1, 1)
