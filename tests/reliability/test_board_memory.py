"""Bounded memory of the ballot board (issue #14): the board drops the states of elections that
take no ballots past a few, and of idle ones, and a dropped state is rebuilt at its next use.

Reading closed elections keeps few states, and the view and tree head of a closed election are
read again without rebuilding its state. The other tests drop states on purpose (the board's
clock moved past its idle time) at the moments that matter: between ballots, while a batch
waits, while a signature is checked, while a close commits, before the live events of a batch
are written.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from realtime.outbox import events_after
from tests.api.voting_helpers import Voter, register_and_approve, to_voting
from tests.conftest import World
from voting import elections
from voting.board import Board
from voting.core.encoding import b64u_decode
from voting.core.merkle import verify_consistency, verify_inclusion
from voting.core.signed import parse_receipt, verify_receipt


# -- dropped states, in process ----------------------------------------------------------------


def pass_idle_time(board: Board) -> None:
    """Move the board's clock past its idle time and sweep, as the next read or batch would."""
    later = board.clock() + board.idle_s
    board.clock = lambda: later
    board.sweep()


async def yes_no_election(w: World) -> tuple[int, dict[str, Any]]:
    spec = {"kind": "yes_no", "method": "yes_no", "rule": {"majority": "simple", "quorum_percent": 0}}
    e = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", spec, status=201)
    return int(e["id"]), (await w.ok("POST", f"/api/elections/{e['id']}/open", "moderator"))["election"]


async def voters(w: World) -> list[Voter]:
    registered = [await register_and_approve(w, who) for who in ("delegate", "delegate2")]
    await to_voting(w)
    return registered


async def cast(w: World, eid: int, envelope: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    r = await w.client.post(f"/api/elections/{eid}/ballots", json=envelope)
    return r.status_code, r.json()


async def test_closed_elections_keep_a_few_states_and_their_summaries(world: World, app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import voting.board

    w, board = world, app.state.board
    board.keep_closed = 2
    alice, bob = await voters(w)
    ids = []
    for n in range(5):
        eid, election = await yes_no_election(w)
        for v in (alice, bob):
            assert (await cast(w, eid, v.ballot(election, ["yes" if n % 2 else "no"])))[0] == 201
        await w.ok("POST", f"/api/elections/{eid}/close", "moderator")
        ids.append(eid)
        assert len(board.states) <= 2
    async with asyncio.timeout(10):  # the live events of the last ballots are written (a rebuild, if dropped)
        while app.state.coalescer._pending:
            await asyncio.sleep(0.05)
    loads: list[int] = []
    real_load = voting.board.load_state

    async def counted_load(election_id: int) -> Any:
        loads.append(election_id)
        return await real_load(election_id)

    monkeypatch.setattr(voting.board, "load_state", counted_load)
    for eid in ids:
        view = await w.ok("GET", f"/api/elections/{eid}")
        assert view["turnout"] == {"voted": 2, "roll_size": 2, "ballots": 2}
        assert (await w.ok("GET", f"/api/elections/{eid}/sth"))["signed"]["tree_size"] == 2
        proof = await w.ok("GET", f"/api/elections/{eid}/proof/inclusion?seq=1&tree_size=2")
        assert len(proof["inclusion_proof"]) == 1
        assert eid in board.states and len(board.states) <= 2
    rebuilt = len(loads)
    assert rebuilt <= len(ids)
    for eid in ids:  # the view and tree head of a closed election are kept: no state is rebuilt
        assert (await w.ok("GET", f"/api/elections/{eid}"))["turnout"]["ballots"] == 2
        assert (await w.ok("GET", f"/api/elections/{eid}/sth"))["signed"]["tree_size"] == 2
    assert len(loads) == rebuilt
    # the most recently used are kept: proofs of the last two need no rebuild, the first does
    for eid in ids[-2:]:
        await w.ok("GET", f"/api/elections/{eid}/proof/consistency?first=1&second=2")
    assert len(loads) == rebuilt
    await w.ok("GET", f"/api/elections/{ids[0]}/proof/consistency?first=1&second=2")
    assert loads[rebuilt:] == [ids[0]] and ids[-2] not in board.states


async def test_an_idle_open_election_is_dropped_and_takes_ballots_again(world: World, app: Any) -> None:
    w, board = world, app.state.board
    alice, bob = await voters(w)
    pub = b64u_decode((await w.ok("GET", "/api/server-key"))["public_key"])
    eid, election = await yes_no_election(w)
    first = alice.ballot(election, ["yes"])
    status, r1 = await cast(w, eid, first)
    assert status == 201 and r1["seq"] == 0
    worker = board.states[eid].worker
    assert worker is not None
    pass_idle_time(board)
    assert eid not in board.states
    await asyncio.sleep(0)
    assert worker.done()  # the idle ingestion task went with its state
    # rebuilt from the database: the accepted ballots (a repeat), the revisions, the tree
    status, again = await cast(w, eid, first)
    assert (status, again) == (200, r1)
    status, stale = await cast(w, eid, alice.ballot(election, ["no"]))
    assert (status, stale["error"]) == (409, "stale_revision")
    status, r2 = await cast(w, eid, bob.ballot(election, ["no"]))
    assert status == 201 and r2["seq"] == 1
    sth = verify_receipt(parse_receipt(r2), bytes.fromhex(r2["leaf_hash"]), pub, str(eid))
    assert sth.tree_size == 2
    root1, root2 = bytes.fromhex(r1["sth"]["signed"]["root_hash"]), bytes.fromhex(r2["sth"]["signed"]["root_hash"])
    pass_idle_time(board)
    assert (await w.ok("GET", f"/api/elections/{eid}/sth")) == r2["sth"]
    cons = await w.ok("GET", f"/api/elections/{eid}/proof/consistency?first=1&second=2")
    verify_consistency(1, 2, [bytes.fromhex(h) for h in cons["consistency_proof"]], root1, root2)
    incl = await w.ok("GET", f"/api/elections/{eid}/proof/inclusion?seq=0&tree_size=2")
    verify_inclusion(0, 2, bytes.fromhex(r1["leaf_hash"]), [bytes.fromhex(h) for h in incl["inclusion_proof"]], root2)
    assert (await w.ok("GET", f"/api/elections/{eid}/tally"))["counted"] == 2
    pass_idle_time(board)
    closed = await w.ok("POST", f"/api/elections/{eid}/close", "moderator")
    assert closed["tree_size"] == 2 and closed["root_hash"] == root2.hex()
    result = (await w.ok("GET", f"/api/elections/{eid}/result"))["signed"]
    assert result["counted"] == 2 and result["details"]["yes"] == 1 and result["details"]["no"] == 1


async def test_a_state_with_a_batch_in_hand_is_kept(world: World, app: Any) -> None:
    """The worker took the batch from the queue and waits for the commit lock: the queue is
    empty and, the moment the lock is released, nothing is locked either."""
    w, board = world, app.state.board
    alice, _bob = await voters(w)
    eid, election = await yes_no_election(w)
    await board.state(eid)
    lock = board._committing.setdefault(eid, asyncio.Lock())
    await lock.acquire()
    task = asyncio.create_task(cast(w, eid, alice.ballot(election, ["yes"])))
    async with asyncio.timeout(10):
        while eid not in board._batches:
            await asyncio.sleep(0.01)
    queue = board.states[eid].queue
    assert queue is not None and queue.empty()
    pass_idle_time(board)
    assert eid in board.states
    lock.release()
    pass_idle_time(board)  # the worker has not run since: only its batch keeps the state
    assert eid in board.states
    status, receipt = await asyncio.wait_for(task, 10)
    assert status == 201 and receipt["seq"] == 0


async def test_a_state_dropped_while_a_signature_is_checked(world: World, app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    w, board = world, app.state.board
    alice, bob = await voters(w)
    eid, election = await yes_no_election(w)
    assert (await cast(w, eid, alice.ballot(election, ["yes"])))[0] == 201
    checks = app.state.signature_checks
    real_verify = checks.verify
    checking, go_on = asyncio.Event(), asyncio.Event()

    async def slow(public_key: bytes, message: bytes, signature: bytes) -> bool:
        checking.set()
        await go_on.wait()
        return await real_verify(public_key, message, signature)

    monkeypatch.setattr(checks, "verify", slow)
    task = asyncio.create_task(cast(w, eid, bob.ballot(election, ["no"])))
    await asyncio.wait_for(checking.wait(), 10)
    old = board.states[eid]
    pass_idle_time(board)
    assert eid not in board.states
    go_on.set()
    status, receipt = await asyncio.wait_for(task, 10)
    assert status == 201 and receipt["seq"] == 1
    assert board.states[eid] is not old and board.states[eid].size == 2
    assert (await w.ok("GET", f"/api/elections/{eid}/sth"))["signed"]["tree_size"] == 2


async def test_a_ballot_on_a_state_rebuilt_while_the_close_commits(world: World, app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The close marks the held state closed, the state is dropped, a ballot rebuilds it from the
    database before the close has committed (so: open), and its batch runs after the close: the
    batch must not trust that state."""
    w, board = world, app.state.board
    alice, bob = await voters(w)
    eid, election = await yes_no_election(w)
    assert (await cast(w, eid, alice.ballot(election, ["yes"])))[0] == 201
    real_outcome = elections._apply_outcome
    closing, go_on = asyncio.Event(), asyncio.Event()

    async def paused(*args: Any) -> None:
        closing.set()
        await go_on.wait()
        await real_outcome(*args)

    monkeypatch.setattr(elections, "_apply_outcome", paused)
    close = asyncio.create_task(w.call("POST", f"/api/elections/{eid}/close", "moderator"))
    await asyncio.wait_for(closing.wait(), 10)
    assert board.states[eid].status == "closed"  # marked inside the closing transaction
    pass_idle_time(board)
    assert eid not in board.states
    ballot = asyncio.create_task(cast(w, eid, bob.ballot(election, ["no"])))
    async with asyncio.timeout(10):
        while eid not in board._batches:
            await asyncio.sleep(0.01)
    assert board.states[eid].status == "open"  # read before the close committed
    go_on.set()
    assert (await asyncio.wait_for(close, 10)).status_code == 200
    status, body = await asyncio.wait_for(ballot, 10)
    assert (status, body["error"]) == (409, "election_not_open")
    result = (await w.ok("GET", f"/api/elections/{eid}/result"))["signed"]
    assert result["tree_size"] == 1 and (await w.ok("GET", f"/api/elections/{eid}/sth"))["signed"]["tree_size"] == 1
    assert [e["seq"] for e in (await w.ok("GET", f"/api/elections/{eid}/board"))["entries"]] == [0]


async def test_live_events_of_a_batch_whose_state_was_dropped(world: World, app: Any) -> None:
    w, board = world, app.state.board
    alice, bob = await voters(w)
    eid, election = await yes_no_election(w)
    assert (await cast(w, eid, alice.ballot(election, ["yes"])))[0] == 201
    assert (await cast(w, eid, bob.ballot(election, ["no"])))[0] == 201  # within the interval: written later
    pass_idle_time(board)
    assert eid not in board.states
    async with asyncio.timeout(10):
        while True:
            events = await events_after(w.assembly, 0)
            sizes = [e.data["sth"]["signed"]["tree_size"] for e in events if e.type == "sth.updated"]
            if sizes[-1] == 2:
                break
            await asyncio.sleep(0.05)
    turnout = [e.data for e in events if e.type == "election.turnout"]
    assert turnout[-1] == {"election": str(eid), "voted": 2, "roll_size": 2, "ballots": 2}
