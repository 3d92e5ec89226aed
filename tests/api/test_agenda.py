"""Agenda items: CRUD, order, provisions on the floor and the phase machine."""

from __future__ import annotations

import pytest

from tests.conftest import World

PHASES = ["pending", "debate", "amendments", "voting", "closed"]


async def _new_item(world: World, title: str, **extra: object) -> dict:
    return await world.ok("POST", f"/api/assemblies/{world.assembly}/agenda", "moderator", {"title": title, **extra}, status=201)


async def test_create_and_list_items(world: World) -> None:
    item = await _new_item(world, "Item two", description="Desc", planned_minutes=40, speaking_time_s=120, provisions=[world.provisions[2]])
    assert item["position"] == 2 and item["phase"] == "pending"
    assert item["planned_minutes"] == 40 and item["speaking_time_s"] == 120
    assert item["provisions"] == [world.provisions[2]]
    assert item["timer"] == {"running": False, "started_at_ms": None, "elapsed_ms": 0, "remaining_ms": 120_000, "limit_ms": 120_000}
    listed = await world.ok("GET", f"/api/assemblies/{world.assembly}/agenda")
    assert [(i["title"], i["position"]) for i in listed] == [("Item one", 1), ("Item two", 2)]
    assert listed[0]["provisions"] == world.provisions[:2]
    assert listed[0]["speaking_time_s"] == 180  # the assembly's default
    got = await world.ok("GET", f"/api/agenda/{item['id']}")
    assert got == item
    audit = await world.ok("GET", f"/api/assemblies/{world.assembly}/audit", "moderator")
    assert audit["entries"][-1]["action"] == "agenda.created" and audit["entries"][-1]["actor"] == "moderator"


@pytest.mark.parametrize("who,status", [(None, 401), ("delegate", 403), ("observer", 403), ("outsider", 403)])
async def test_create_and_update_denied(world: World, who: str | None, status: int) -> None:
    r = await world.call("POST", f"/api/assemblies/{world.assembly}/agenda", who, {"title": "x"})
    assert r.status_code == status and r.json()["error"] in ("not_authenticated", "forbidden")
    r = await world.call("PATCH", f"/api/agenda/{world.item}", who, {"title": "x"})
    assert r.status_code == status and r.json()["error"] in ("not_authenticated", "forbidden")
    listed = await world.ok("GET", f"/api/assemblies/{world.assembly}/agenda")
    assert [i["title"] for i in listed] == ["Item one"]


async def test_item_errors(world: World) -> None:
    path = f"/api/assemblies/{world.assembly}/agenda"
    r = await world.call("POST", path, "moderator", {"title": "x", "provisions": [world.provisions[0], world.provisions[0]]})
    assert r.status_code == 400 and "repeat" in r.json()["detail"]
    other = await world.ok("POST", f"/api/assemblies/{world.other_assembly}/provisions", "admin", {"number": "1", "text": "t"}, status=201)
    r = await world.call("POST", path, "moderator", {"title": "x", "provisions": [other["id"]]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    r = await world.call("POST", path, "moderator", {"title": "x", "provisions": [9999]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    r = await world.call("POST", path, "moderator", {"title": ""})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    r = await world.call("POST", path, "moderator", {"title": "x", "planned_minutes": 0})
    assert r.status_code == 400
    r = await world.call("PATCH", f"/api/agenda/{world.item}", "moderator", {"position": 2})
    assert r.status_code == 400 and "position must be between 1 and 1" in r.json()["detail"]
    r = await world.call("PATCH", f"/api/agenda/{world.item}", "moderator", {"provisions": [other["id"]]})
    assert r.status_code == 400
    for path in ("/api/agenda/9999", "/api/assemblies/9999/agenda"):
        r = await world.call("GET", path)
        assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await world.call("PATCH", "/api/agenda/9999", "moderator", {"title": "x"})
    assert r.status_code == 404
    got = await world.ok("GET", f"/api/agenda/{world.item}")
    assert got["provisions"] == world.provisions[:2] and got["position"] == 1


async def test_update_item(world: World) -> None:
    updated = await world.ok(
        "PATCH",
        f"/api/agenda/{world.item}",
        "moderator",
        {"title": "Renamed", "description": "D", "planned_minutes": 5, "speaking_time_s": 60, "provisions": [world.provisions[2]]},
    )
    assert (updated["title"], updated["description"], updated["planned_minutes"]) == ("Renamed", "D", 5)
    assert updated["speaking_time_s"] == 60 and updated["timer"]["limit_ms"] == 60_000
    assert updated["provisions"] == [world.provisions[2]]
    audit = await world.ok("GET", f"/api/assemblies/{world.assembly}/audit", "moderator")
    last = audit["entries"][-1]
    assert last["action"] == "agenda.updated" and last["payload"]["fields"] == sorted(["title", "description", "planned_minutes", "speaking_time_s", "provisions"])


async def test_reorder_by_position(world: World) -> None:
    two = await _new_item(world, "Two")
    three = await _new_item(world, "Three")
    await world.ok("PATCH", f"/api/agenda/{three['id']}", "moderator", {"position": 1})
    listed = await world.ok("GET", f"/api/assemblies/{world.assembly}/agenda")
    assert [(i["title"], i["position"]) for i in listed] == [("Three", 1), ("Item one", 2), ("Two", 3)]
    await world.ok("PATCH", f"/api/agenda/{three['id']}", "moderator", {"position": 3})
    listed = await world.ok("GET", f"/api/assemblies/{world.assembly}/agenda")
    assert [(i["title"], i["position"]) for i in listed] == [("Item one", 1), ("Two", 2), ("Three", 3)]
    await world.ok("PATCH", f"/api/agenda/{two['id']}", "admin", {"position": 2})  # same place: no change
    listed = await world.ok("GET", f"/api/assemblies/{world.assembly}/agenda")
    assert [i["title"] for i in listed] == ["Item one", "Two", "Three"]
    # positions are per assembly: the other assembly's items are untouched
    other = await world.ok("POST", f"/api/assemblies/{world.other_assembly}/agenda", "admin", {"title": "Elsewhere"}, status=201)
    assert other["position"] == 1


@pytest.mark.parametrize("who", ["moderator", "admin"])
async def test_every_legal_phase_step(world: World, who: str) -> None:
    for _current, requested in zip(PHASES, PHASES[1:]):
        item = await world.ok("POST", f"/api/agenda/{world.item}/phase", who, {"phase": requested})
        assert item["phase"] == requested
    audit = await world.ok("GET", f"/api/assemblies/{world.assembly}/audit", "moderator")
    steps = [(e["payload"]["from"], e["payload"]["to"]) for e in audit["entries"] if e["action"] == "agenda.phase"]
    assert steps == list(zip(PHASES, PHASES[1:]))
    assert audit["verified"] is True


# Forward one step is legal; so is back one step with a reason (a reopening), except to pending.
REOPEN = [(a, b) for i, a in enumerate(PHASES) for j, b in enumerate(PHASES) if j == i - 1 and j > 0]
ILLEGAL = [(a, b) for i, a in enumerate(PHASES) for j, b in enumerate(PHASES) if j != i + 1 and (a, b) not in REOPEN]


async def _bring_to(world: World, phase: str) -> None:
    for p in PHASES[1 : PHASES.index(phase) + 1]:
        await world.ok("POST", f"/api/agenda/{world.item}/phase", "moderator", {"phase": p})


@pytest.mark.parametrize("current", PHASES)
async def test_every_illegal_jump_is_409(world: World, current: str) -> None:
    await _bring_to(world, current)
    for requested in [b for a, b in ILLEGAL if a == current]:
        r = await world.call("POST", f"/api/agenda/{world.item}/phase", "moderator", {"phase": requested})
        assert r.status_code == 409, (current, requested)
        body = r.json()
        assert body["error"] == "illegal_transition"
        assert f"from {current!r} to {requested!r}" in body["detail"]
    item = await world.ok("GET", f"/api/agenda/{world.item}")
    assert item["phase"] == current


@pytest.mark.parametrize(("current", "previous"), REOPEN)
async def test_a_chair_reopens_the_phase_before_with_a_reason_that_is_audited(world: World, current: str, previous: str) -> None:
    await _bring_to(world, current)
    r = await world.call("POST", f"/api/agenda/{world.item}/phase", "moderator", {"phase": previous})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input" and "reason" in r.json()["detail"]
    r = await world.call("POST", f"/api/agenda/{world.item}/phase", "moderator", {"phase": previous, "reason": "   "})
    assert r.status_code == 400
    r = await world.call("POST", f"/api/agenda/{world.item}/phase", "delegate", {"phase": previous, "reason": "mine"})
    assert r.status_code == 403
    item = await world.ok("POST", f"/api/agenda/{world.item}/phase", "moderator", {"phase": previous, "reason": "A speaker was skipped"})
    assert item["phase"] == previous
    audit = await world.ok("GET", f"/api/assemblies/{world.assembly}/audit", "moderator")
    last = [e for e in audit["entries"] if e["action"] == "agenda.phase"][-1]
    assert last["payload"] == {"item": world.item, "from": current, "to": previous, "reopened": True, "reason": "A speaker was skipped"}
    assert audit["verified"] is True
    # and forward again, as usual
    assert (await world.ok("POST", f"/api/agenda/{world.item}/phase", "moderator", {"phase": current}))["phase"] == current


async def test_the_chair_puts_an_item_on_the_floor(world: World) -> None:
    two = await world.ok("POST", f"/api/assemblies/{world.assembly}/agenda", "moderator", {"title": "Two"}, status=201)
    assembly = await world.ok("GET", f"/api/assemblies/{world.assembly}")
    assert assembly["current_item"] is None
    r = await world.call("POST", f"/api/assemblies/{world.assembly}/current", "delegate", {"item": two["id"]})
    assert r.status_code == 403
    elsewhere = await world.ok("POST", f"/api/assemblies/{world.other_assembly}/agenda", "admin", {"title": "Elsewhere"}, status=201)
    r = await world.call("POST", f"/api/assemblies/{world.assembly}/current", "moderator", {"item": elsewhere["id"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    r = await world.call("POST", f"/api/assemblies/{world.assembly}/current", "moderator", {"item": "two"})
    assert r.status_code == 400
    done = await world.ok("POST", f"/api/assemblies/{world.assembly}/current", "moderator", {"item": two["id"]})
    assert done == {"assembly": world.assembly, "current_item": two["id"]}
    assert (await world.ok("GET", f"/api/assemblies/{world.assembly}"))["current_item"] == two["id"]
    page = await world.client.get(f"/assemblies/{world.assembly}/live")
    assert 'id="li-h">Two' in page.text, "the live view shows the item on the floor"
    await world.ok("POST", f"/api/assemblies/{world.assembly}/current", "moderator", {"item": None})
    assert (await world.ok("GET", f"/api/assemblies/{world.assembly}"))["current_item"] is None
    audit = await world.ok("GET", f"/api/assemblies/{world.assembly}/audit", "moderator")
    assert [e["payload"] for e in audit["entries"] if e["action"] == "agenda.current"] == [{"item": two["id"]}, {"item": None}]


async def test_unknown_phase_is_400(world: World) -> None:
    for phase in ("finished", "", "DEBATE"):
        r = await world.call("POST", f"/api/agenda/{world.item}/phase", "moderator", {"phase": phase})
        assert r.status_code == 400 and r.json()["error"] == "invalid_input"
        assert "unknown phase" in r.json()["detail"]
    r = await world.call("POST", f"/api/agenda/{world.item}/phase", "moderator", {})
    assert r.status_code == 400
    r = await world.call("POST", "/api/agenda/9999/phase", "moderator", {"phase": "debate"})
    assert r.status_code == 404 and r.json()["error"] == "not_found"


@pytest.mark.parametrize("who,status", [(None, 401), ("delegate", 403), ("delegate2", 403), ("observer", 403), ("outsider", 403)])
async def test_only_moderators_change_phase(world: World, who: str | None, status: int) -> None:
    r = await world.call("POST", f"/api/agenda/{world.item}/phase", who, {"phase": "debate"})
    assert r.status_code == status
    assert r.json()["error"] == ("not_authenticated" if who is None else "forbidden")
    item = await world.ok("GET", f"/api/agenda/{world.item}")
    assert item["phase"] == "pending"


async def test_moderator_of_another_assembly_cannot_change_phase(world: World) -> None:
    await world.ok("POST", f"/api/assemblies/{world.other_assembly}/members", "admin", {"username": "delegate2", "role": "moderator"})
    r = await world.call("POST", f"/api/agenda/{world.item}/phase", "delegate2", {"phase": "debate"})
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
