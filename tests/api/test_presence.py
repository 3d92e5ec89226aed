"""Presence and quorum (issue #17): checking in and out, the attendance list, and votes whose roll
(and so quorum and turnout) is the delegates present when the vote opened."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.api.voting_helpers import register_and_approve, to_voting
from tests.conftest import World
from voting.core.counting import Rule, WeightedBallot, compute_result


def _present(view: dict) -> list[str]:
    return [m["username"] for m in view["members"] if m["present"]]


async def _cast(w: World, eid: str, envelope: object) -> tuple[int, dict]:
    r = await w.client.post(f"/api/elections/{eid}/ballots", content=json.dumps(envelope).encode(), headers={"content-type": "application/json"})
    return r.status_code, r.json()


async def test_check_in_and_out(world: World) -> None:
    w = world
    path = f"/api/assemblies/{w.assembly}/presence"
    v = await w.ok("GET", path)
    assert (v["present_count"], v["delegates"]) == (0, 2)  # delegates only: not the chair, the observer or another assembly's
    assert [(m["username"], m["present"], m["since"]) for m in v["members"]] == [("delegate", False, None), ("delegate2", False, None)]
    v = await w.ok("POST", path, "delegate", {"present": True})
    assert _present(v) == ["delegate"] and v["present_count"] == 1
    assert next(m for m in v["members"] if m["username"] == "delegate")["since"] == "2026-11-24T10:00:00.000Z"
    again = await w.ok("POST", path, "delegate", {"present": True})  # no change: nothing recorded
    assert again == v
    v = await w.ok("POST", f"{path}/delegate2", "moderator", {"present": True})
    assert _present(v) == ["delegate", "delegate2"]
    v = await w.ok("POST", path, "delegate", {"present": False})  # a delegate leaves
    assert _present(v) == ["delegate2"]
    v = await w.ok("POST", f"{path}/delegate2", "moderator", {"present": False})
    assert _present(v) == [] and await w.ok("GET", path) == v
    audit = await w.ok("GET", f"/api/assemblies/{w.assembly}/audit", "moderator")
    changes = [(e["actor"], e["payload"]) for e in audit["entries"] if e["action"] == "presence.changed"]
    assert changes == [
        ("delegate", {"username": "delegate", "present": True, "present_count": 1}),
        ("moderator", {"username": "delegate2", "present": True, "present_count": 2}),
        ("delegate", {"username": "delegate", "present": False, "present_count": 1}),
        ("moderator", {"username": "delegate2", "present": False, "present_count": 0}),
    ]
    from kurultai.unit_of_work import Event

    events = await Event.select(Event.data).where((Event.assembly_id == w.assembly) & (Event.type == "presence.changed")).order_by(Event.seq)
    assert [json.loads(e["data"]) for e in events][0] == {"username": "delegate", "present": True, "present_count": 1, "delegates": 2}


async def test_presence_errors(world: World) -> None:
    w = world
    path = f"/api/assemblies/{w.assembly}/presence"
    for who, status in ((None, 401), ("observer", 403), ("outsider", 403), ("moderator", 403)):
        r = await w.call("POST", path, who, {"present": True})
        assert r.status_code == status, who
    for who, status in ((None, 401), ("delegate", 403), ("observer", 403)):
        r = await w.call("POST", f"{path}/delegate2", who, {"present": True})
        assert r.status_code == status, who
    for body in ({}, {"present": "yes"}, {"present": True, "extra": 1}, None):
        r = await w.call("POST", path, "delegate", body)
        assert r.status_code == 400 and set(r.json()) == {"error", "detail"}, body
    for name in ("observer", "nobody", "outsider", "x" * 64):  # not a delegate of this assembly
        r = await w.call("POST", f"{path}/{name}", "moderator", {"present": True})
        assert r.status_code == 400 and r.json()["error"] == "invalid_input", name
    r = await w.call("GET", "/api/assemblies/9999/presence")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await w.call("POST", "/api/assemblies/9999/presence", "delegate", {"present": True})
    assert r.status_code == 404


async def test_a_vote_on_the_basis_of_members_present(world: World) -> None:
    """The roll of a "present" vote is the delegates checked in when it opens: its quorum and
    turnout are measured against them, and the signed result is what PROTOCOL §4 computes from
    that roll (a verifier needs nothing new)."""
    w = world
    voters = [await register_and_approve(w, who) for who in ("delegate", "delegate2")]
    await w.ok("POST", f"/api/assemblies/{w.assembly}/presence", "delegate", {"present": True})
    await to_voting(w)
    e = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", {"kind": "yes_no", "rule": {"majority": "absolute", "quorum_percent": 60}}, status=201)
    assert e["quorum_basis"] == "all" and e["present_at_open"] is None
    r = await w.call("POST", f"/api/elections/{e['id']}/open", "moderator", {"quorum_basis": "everyone"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    opened = await w.ok("POST", f"/api/elections/{e['id']}/open", "moderator", {"quorum_basis": "present"})
    assert opened["quorum_basis"] == "present" and opened["present_at_open"] == 1
    election = opened["election"]
    assert set(election["signed"]) == {"v", "type", "id", "assembly", "agenda_item", "title", "options", "method", "visibility", "roll_digest", "opened_at", "rule"}
    roll = (await w.ok("GET", f"/api/elections/{e['id']}/roll"))["signed"]
    assert [v["key_id"] for v in roll["voters"]] == [voters[0].key_id]
    # delegate2 was not checked in: not on the roll, and told why before casting
    await w.ok("POST", f"/api/assemblies/{w.assembly}/presence/delegate2", "moderator", {"present": True})  # too late for this vote
    from voting.elections import voter_status

    assert (await voter_status(w.assembly, w.users["delegate2"]))[e["id"]] == {"status": "absent"}
    s, body = await _cast(w, e["id"], voters[1].ballot(election, ["yes"]))
    assert (s, body["error"]) == (403, "not_on_roll")
    s, _ = await _cast(w, e["id"], voters[0].ballot(election, ["yes"]))
    assert s == 201
    got = await w.ok("GET", f"/api/elections/{e['id']}")
    assert got["turnout"]["voted"] == 1 and got["turnout"]["roll_size"] == 1
    await w.ok("POST", f"/api/elections/{e['id']}/close", "moderator")
    result = (await w.ok("GET", f"/api/elections/{e['id']}/result"))["signed"]
    assert result["details"] == {"yes": 1, "no": 0, "abstain": 0, "quorum_met": True, "passed": True}
    recount = compute_result("yes_no", ["yes", "no", "abstain"], [WeightedBallot(("yes",), 1)], rule=Rule("absolute", 60), roll_weight=sum(v["weight"] for v in roll["voters"]))
    assert recount["details"] == result["details"] and recount["winner"] == result["winner"]
    audit = await w.ok("GET", f"/api/assemblies/{w.assembly}/audit", "moderator")
    opened_entry = next(x for x in audit["entries"] if x["action"] == "election.opened")
    assert opened_entry["payload"]["quorum_basis"] == "present" and opened_entry["payload"]["present"] == 1
    # who was in the room, recorded in the audit entry and published beside the election
    assert {k: opened_entry["payload"][k] for k in ("delegates", "checked_in", "left_off", "roll_size")} == {"delegates": 2, "checked_in": ["delegate"], "left_off": ["delegate2"], "roll_size": 1}
    assert (got["delegates_at_open"], got["present_at_open"], got["checked_in_at_open"], got["left_off_roll"]) == (2, 1, ["delegate"], ["delegate2"])
    # what an outside auditor checks: the roll is no longer than the published list of those present
    assert len(roll["voters"]) <= len(got["checked_in_at_open"]) == got["present_at_open"]
    await w.ok("POST", f"/api/assemblies/{w.assembly}/members", "moderator", {"username": "observer", "role": "delegate"})
    later = await w.ok("GET", f"/api/elections/{e['id']}")
    assert (later["delegates_at_open"], later["present_at_open"], later["checked_in_at_open"]) == (2, 1, ["delegate"])  # what happened at opening stays


async def test_zero_ballot_yes_no_on_the_basis_of_members_present(world: World) -> None:
    w = world
    await register_and_approve(w, "delegate")
    await register_and_approve(w, "delegate2")
    await w.ok("POST", f"/api/assemblies/{w.assembly}/presence/delegate", "moderator", {"present": True})
    await to_voting(w)
    e = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", {"kind": "yes_no", "rule": {"majority": "simple", "quorum_percent": 50}, "quorum_basis": "present"}, status=201)
    assert e["quorum_basis"] == "present"
    opened = await w.ok("POST", f"/api/elections/{e['id']}/open", "moderator")  # the election's own basis
    assert opened["quorum_basis"] == "present" and opened["present_at_open"] == 1
    await w.ok("POST", f"/api/elections/{e['id']}/close", "moderator")
    result = (await w.ok("GET", f"/api/elections/{e['id']}/result"))["signed"]
    assert result["details"] == {"yes": 0, "no": 0, "abstain": 0, "quorum_met": False, "passed": False}
    assert result["winner"] == "no" and result["counted"] == 0


async def test_present_basis_needs_somebody_present(world: World) -> None:
    w = world
    await register_and_approve(w, "delegate")
    await to_voting(w)
    e = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", {"kind": "yes_no", "rule": {"majority": "simple", "quorum_percent": 0}}, status=201)
    r = await w.call("PATCH", f"/api/elections/{e['id']}", "moderator", {"quorum_basis": "half"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    await w.ok("PATCH", f"/api/elections/{e['id']}", "moderator", {"quorum_basis": "present"})
    r = await w.call("POST", f"/api/elections/{e['id']}/open", "moderator")
    assert r.status_code == 409 and r.json()["error"] == "illegal_transition"
    opened = await w.ok("POST", f"/api/elections/{e['id']}/open", "moderator", {"quorum_basis": "all"})  # the chair opens it for all members
    assert opened["quorum_basis"] == "all" and opened["present_at_open"] == 0
    assert (opened["delegates_at_open"], opened["checked_in_at_open"], opened["left_off_roll"]) == (2, [], [])  # "all": nobody left off for being away


async def test_absent_is_exactly_who_was_left_off(world: World) -> None:
    """`absent` is said only to a delegate left off the roll for not being checked in (the list
    stored at opening), not to one whose key was approved later, at the same millisecond."""
    from voting.elections import voter_status

    w = world
    await register_and_approve(w, "delegate")
    await w.ok("POST", f"/api/assemblies/{w.assembly}/presence", "delegate", {"present": True})
    await to_voting(w)
    e = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", {"kind": "yes_no", "rule": {"majority": "simple", "quorum_percent": 0}, "quorum_basis": "present"}, status=201)
    opened = await w.ok("POST", f"/api/elections/{e['id']}/open", "moderator")
    assert opened["left_off_roll"] == []
    await register_and_approve(w, "delegate2")  # approved after the vote opened (the test clock stands still)
    assert (await voter_status(w.assembly, w.users["delegate2"]))[e["id"]] == {"status": "late"}


async def test_attendance_goes_with_the_membership(world: World) -> None:
    """Removing a delegate or changing their role forgets their attendance (audited when they
    were checked in); made a delegate again, they start checked out."""
    w = world
    path = f"/api/assemblies/{w.assembly}/presence"
    await w.ok("POST", path, "delegate", {"present": True})
    await w.ok("POST", path, "delegate2", {"present": True})
    await w.ok("POST", f"/api/assemblies/{w.assembly}/members", "moderator", {"username": "delegate", "role": "observer"})
    await w.call("DELETE", f"/api/assemblies/{w.assembly}/members/delegate2", "moderator")
    for name in ("delegate", "delegate2"):
        await w.ok("POST", f"/api/assemblies/{w.assembly}/members", "moderator", {"username": name, "role": "delegate"})
    view = await w.ok("GET", path)
    assert (view["present_count"], _present(view)) == (0, [])
    assert all(m["since"] is None for m in view["members"])
    audit = await w.ok("GET", f"/api/assemblies/{w.assembly}/audit", "moderator")
    changes = [(e["actor"], e["payload"]) for e in audit["entries"] if e["action"] == "presence.changed"][2:]
    assert changes == [
        ("moderator", {"username": "delegate", "present": False, "present_count": 1, "reason": "role changed"}),
        ("moderator", {"username": "delegate2", "present": False, "present_count": 0, "reason": "member removed"}),
    ]
    await w.ok("POST", f"/api/assemblies/{w.assembly}/members", "moderator", {"username": "delegate", "role": "delegate"})  # the same role: nothing to forget
    assert len([e for e in (await w.ok("GET", f"/api/assemblies/{w.assembly}/audit", "moderator"))["entries"] if e["action"] == "presence.changed"]) == 4


async def test_the_chair_checks_everyone_out(world: World) -> None:
    from kurultai.unit_of_work import Event

    w = world
    path = f"/api/assemblies/{w.assembly}/presence"
    assert (await w.ok("DELETE", path, "moderator"))["present_count"] == 0  # nobody in: nothing recorded
    await w.ok("POST", path, "delegate", {"present": True})
    await w.ok("POST", f"{path}/delegate2", "moderator", {"present": True})
    for who, status in ((None, 401), ("delegate", 403), ("observer", 403)):
        assert (await w.call("DELETE", path, who)).status_code == status, who
    view = await w.ok("DELETE", path, "moderator")
    assert (view["present_count"], _present(view)) == (0, []) and await w.ok("GET", path) == view
    assert all(m["since"] == "2026-11-24T10:00:00.000Z" for m in view["members"])
    audit = await w.ok("GET", f"/api/assemblies/{w.assembly}/audit", "moderator")
    cleared = [(e["actor"], e["payload"]) for e in audit["entries"] if e["action"] == "presence.cleared"]
    assert cleared == [("moderator", {"usernames": ["delegate", "delegate2"], "present_count": 0})]
    events = await Event.select(Event.type, Event.data).where(Event.assembly_id == w.assembly).order_by(Event.seq)
    assert events[-1]["type"] == "presence.cleared" and json.loads(events[-1]["data"]) == {"usernames": ["delegate", "delegate2"], "present_count": 0, "delegates": 2}


async def test_one_attendance_row_per_member(world: World) -> None:
    import pytest

    from deliberation.tables import Attendance

    w = world
    await w.ok("POST", f"/api/assemblies/{w.assembly}/presence", "delegate", {"present": True})
    with pytest.raises(Exception):  # the unique index (migrations/m0012_presence_at_open_index)
        await Attendance.insert(Attendance(assembly=w.assembly, user=w.users["delegate"], present=False, changed_ms=0, changed_by="x"))


def _present_before(entries: list[dict], action: str, election: int) -> set[str]:
    """Who the audit log says was checked in just before `action` of `election`: its check-ins and
    check-outs replayed in chain order."""
    here: set[str] = set()
    for e in entries:
        p = e["payload"]
        if e["action"] == action and p.get("election") == election:
            return here
        if e["action"] == "presence.changed":
            (here.add if p["present"] else here.discard)(p["username"])
        elif e["action"] == "presence.cleared":
            here.clear()
    raise AssertionError(f"no {action} of election {election} in the audit log")


async def test_a_check_out_while_the_vote_opens_waits_for_the_roll(world: World, app: Any) -> None:
    """The roll of a "present" vote and the attendance recorded with it are read under the
    assembly's lock: a check-out sent while the opening holds its roll (the board's test hook)
    lands after it in the audit chain, so the roll, the published list of those present and the
    audit log agree (on PostgreSQL, readers do not wait for writers: without the lock, the
    check-out committed in between and the roll held a delegate the log says had left)."""
    w = world
    voters = {who: await register_and_approve(w, who) for who in ("delegate", "delegate2")}
    for who in voters:
        await w.ok("POST", f"/api/assemblies/{w.assembly}/presence", who, {"present": True})
    await to_voting(w)
    e = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", {"kind": "yes_no", "rule": {"majority": "simple", "quorum_percent": 50}, "quorum_basis": "present"}, status=201)
    entered, release = asyncio.Event(), asyncio.Event()

    async def hold(election_id: int) -> None:
        entered.set()
        await release.wait()

    app.state.board.before_open = hold
    try:
        opening = asyncio.create_task(w.call("POST", f"/api/elections/{e['id']}/open", "moderator"))
        await asyncio.wait_for(entered.wait(), 10)
        leaving = asyncio.create_task(w.call("POST", f"/api/assemblies/{w.assembly}/presence", "delegate2", {"present": False}))
        await asyncio.sleep(0.5)  # time enough for the check-out to commit, were it not held
        release.set()
        opened, left = await asyncio.wait_for(asyncio.gather(opening, leaving), 10)
    finally:
        release.set()
        app.state.board.before_open = None
    assert opened.status_code == 200 and left.status_code == 200, (opened.text, left.text)
    view = await w.ok("GET", f"/api/elections/{e['id']}")
    roll = {v["key_id"] for v in (await w.ok("GET", f"/api/elections/{e['id']}/roll"))["signed"]["voters"]}
    audit = (await w.ok("GET", f"/api/assemblies/{w.assembly}/audit", "moderator"))["entries"]
    opened_entry = next(x for x in audit if x["action"] == "election.opened")
    logged = _present_before(audit, "election.opened", int(e["id"]))
    assert sorted(logged) == opened_entry["payload"]["checked_in"] == view["checked_in_at_open"]
    assert roll == {voters[who].key_id for who in logged}
    assert _present((await w.ok("GET", f"/api/assemblies/{w.assembly}/presence"))) == ["delegate"]  # the check-out did happen, after
