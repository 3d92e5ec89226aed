"""Reshaping the agenda (issue #18): move, merge and split items, and every refusal, through the
API (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import World


async def _item(world: World, title: str, provisions: list[int]) -> dict:
    return await world.ok("POST", f"/api/assemblies/{world.assembly}/agenda", "moderator", {"title": title, "provisions": provisions}, status=201)


async def _agenda(world: World) -> list[tuple[str, int, list[int]]]:
    listed = await world.ok("GET", f"/api/assemblies/{world.assembly}/agenda")
    return [(i["title"], i["position"], i["provisions"]) for i in listed]


async def _events(world: World, type_: str) -> list[dict[str, Any]]:
    from kurultai.unit_of_work import Event

    rows = await Event.select(Event.data).where((Event.assembly_id == world.assembly) & (Event.type == type_)).order_by(Event.seq)
    return [json.loads(r["data"]) for r in rows]


async def _replayed(world: World) -> list[tuple[str, int, list[int]]]:
    """The agenda as a client that only follows the events sees it: the last `agenda.updated`
    of each item not since removed, in the positions those events name."""
    from kurultai.unit_of_work import Event

    items: dict[int, dict[str, Any]] = {}
    rows = await Event.select(Event.type, Event.data).where((Event.assembly_id == world.assembly) & Event.type.is_in(["agenda.updated", "agenda.removed"])).order_by(Event.seq)
    for r in rows:
        data = json.loads(r["data"])
        if r["type"] == "agenda.removed":
            items.pop(data["item"], None)
        else:
            items[data["item"]["id"]] = data["item"]
    return sorted((i["title"], i["position"], i["provisions"]) for i in items.values())


async def _audit(world: World, action: str) -> list[dict[str, Any]]:
    audit = await world.ok("GET", f"/api/assemblies/{world.assembly}/audit", "moderator")
    return [e["payload"] for e in audit["entries"] if e["action"] == action]


async def test_move_item(world: World) -> None:
    p = world.provisions
    two = await _item(world, "Two", [p[2]])
    await world.ok("PATCH", f"/api/agenda/{two['id']}", "moderator", {"position": 1})
    assert await _agenda(world) == [("Two", 1, [p[2]]), ("Item one", 2, p[:2])]
    assert await _replayed(world) == sorted(await _agenda(world))  # the item it shifted down is announced too
    # moved from 3 to 2, "Three" and "Item one" swap: "Two", still first, is not announced
    three = await _item(world, "Three", [])
    before = len(await _events(world, "agenda.updated"))
    await world.ok("PATCH", f"/api/agenda/{three['id']}", "moderator", {"position": 2})
    assert await _agenda(world) == [("Two", 1, [p[2]]), ("Three", 2, []), ("Item one", 3, p[:2])]
    assert sorted(e["item"]["id"] for e in (await _events(world, "agenda.updated"))[before:]) == sorted([three["id"], world.item])
    assert await _replayed(world) == sorted(await _agenda(world))


async def test_merge_items(world: World) -> None:
    p = world.provisions
    two = await _item(world, "Two", [p[1], p[2]])  # p[1] is on both items: kept once
    three = await _item(world, "Three", [])
    await world.ok("POST", f"/api/assemblies/{world.assembly}/current", "moderator", {"item": two["id"]})
    merged = await world.ok("POST", f"/api/agenda/{two['id']}/merge", "moderator", {"into": world.item})
    assert merged["id"] == world.item and merged["title"] == "Item one" and merged["provisions"] == [p[0], p[1], p[2]]
    assert await _agenda(world) == [("Item one", 1, p), ("Three", 2, [])]
    r = await world.call("GET", f"/api/agenda/{two['id']}")
    assert r.status_code == 404
    assert (await world.ok("GET", f"/api/assemblies/{world.assembly}"))["current_item"] is None  # it was the item removed
    assert (await _events(world, "agenda.current"))[-1] == {"item": None}  # and the floor's clients are told
    assert await _audit(world, "agenda.merged") == [{"item": two["id"], "into": world.item}]
    assert await _events(world, "agenda.removed") == [{"item": two["id"]}]
    assert {"item": merged} in (await _events(world, "agenda.updated"))[-2:]
    assert await _replayed(world) == sorted(await _agenda(world))  # "Three" moved up from 3 to 2
    # A secretary merges too; the current item stays when it is not the one removed.
    merged = await world.ok("POST", f"/api/agenda/{world.item}/merge", "admin", {"into": three["id"]})
    assert merged["provisions"] == p and await _agenda(world) == [("Three", 1, p)]


async def test_merge_keeps_another_current_item(world: World) -> None:
    two = await _item(world, "Two", [world.provisions[2]])
    await world.ok("POST", f"/api/assemblies/{world.assembly}/current", "moderator", {"item": world.item})
    await world.ok("POST", f"/api/agenda/{two['id']}/merge", "moderator", {"into": world.item})
    assert (await world.ok("GET", f"/api/assemblies/{world.assembly}"))["current_item"] == world.item
    assert [e["item"] for e in await _events(world, "agenda.current")] == [world.item]  # no second one


async def test_split_item(world: World) -> None:
    p = world.provisions
    await _item(world, "Two", [p[2]])
    await world.ok("PATCH", f"/api/agenda/{world.item}", "moderator", {"planned_minutes": 25, "speaking_time_s": 90})
    first, second = await world.ok("POST", f"/api/agenda/{world.item}/split", "moderator", {"provisions": [p[0]], "title": "  Article   1  "})
    assert (first["id"], first["provisions"], first["position"]) == (world.item, [p[1]], 1)
    assert (second["title"], second["provisions"], second["position"], second["phase"]) == ("Article 1", [p[0]], 2, "pending")
    assert (second["planned_minutes"], second["speaking_time_s"], second["timer"]["limit_ms"]) == (25, 90, 90_000)
    assert await _agenda(world) == [("Item one", 1, [p[1]]), ("Article 1", 2, [p[0]]), ("Two", 3, [p[2]])]
    assert await _audit(world, "agenda.split") == [{"item": world.item, "new": second["id"], "provisions": [p[0]], "title": "Article 1"}]
    assert [e["item"]["id"] for e in await _events(world, "agenda.updated")][-3:-1] == [world.item, second["id"]]
    assert await _replayed(world) == sorted(await _agenda(world))  # "Two" moved down from 2 to 3
    # Merged back, the provisions follow the item's own.
    merged = await world.ok("POST", f"/api/agenda/{second['id']}/merge", "moderator", {"into": world.item})
    assert merged["provisions"] == [p[1], p[0]]


async def _add_rows(app: Any, rows: list[Any]) -> None:
    async def run(tx: Any) -> None:
        for row in rows:
            await row.save()

    await app.state.ctx.write(run)


@pytest.mark.parametrize("blocker", ["debate", "speaker", "election"])
async def test_merge_and_split_refused_once_the_item_is_used(world: World, app: Any, blocker: str) -> None:
    from deliberation.tables import SpeakerEntry
    from voting.tables import Election

    p = world.provisions
    two = await _item(world, "Two", [p[2]])
    if blocker == "debate":
        await world.ok("POST", f"/api/agenda/{world.item}/phase", "moderator", {"phase": "debate"})
        want = "phase 'debate'"
    elif blocker == "speaker":
        await _add_rows(app, [SpeakerEntry(agenda_item=world.item, user=world.users["delegate"], kind="speech", position=1)])
        want = "has speakers"
    else:
        await _add_rows(app, [Election(assembly=world.assembly, agenda_item=world.item, kind="yes_no", title="Vote", method="plurality")])
        want = "has a vote"
    before = await _agenda(world)
    for path, body in [
        (f"/api/agenda/{world.item}/merge", {"into": two["id"]}),
        (f"/api/agenda/{two['id']}/merge", {"into": world.item}),
        (f"/api/agenda/{world.item}/split", {"provisions": [p[0]], "title": "New"}),
    ]:
        r = await world.call("POST", path, "moderator", body)
        assert r.status_code == 409 and r.json()["error"] == "illegal_transition", r.text
        assert want in r.json()["detail"]
    assert await _agenda(world) == before


async def test_merge_errors(world: World) -> None:
    other_item = await world.ok("POST", f"/api/assemblies/{world.other_assembly}/agenda", "admin", {"title": "Elsewhere"}, status=201)
    two = await _item(world, "Two", [world.provisions[2]])
    path = f"/api/agenda/{two['id']}/merge"
    for body, detail in [
        ({"into": two["id"]}, "cannot be merged into itself"),
        ({"into": other_item["id"]}, f"agenda item {other_item['id']} is not part of assembly {world.assembly}"),
        ({"into": 999_999}, "agenda item 999999 is not part of assembly"),
    ]:
        r = await world.call("POST", path, "moderator", body)
        assert r.status_code == 400 and r.json()["error"] == "invalid_input" and detail in r.json()["detail"], r.text
    for body in [{}, {"into": 0}, {"into": "x"}, {"into": 1, "extra": 1}]:
        r = await world.call("POST", path, "moderator", body)
        assert r.status_code == 400, (body, r.text)
    r = await world.call("POST", "/api/agenda/999999/merge", "moderator", {"into": two["id"]})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert await _agenda(world) == [("Item one", 1, world.provisions[:2]), ("Two", 2, [world.provisions[2]])]


async def test_split_errors(world: World) -> None:
    p = world.provisions
    path = f"/api/agenda/{world.item}/split"
    for body, detail in [
        ({"provisions": p[:2], "title": "All"}, "not none or all"),
        ({"provisions": [p[2]], "title": "Not on it"}, "not none or all"),
        ({"provisions": [p[0], p[0]], "title": "Twice"}, "must not repeat"),
        ({"provisions": [p[0]], "title": "   "}, "title must have 1 to 300 characters"),
    ]:
        r = await world.call("POST", path, "moderator", body)
        assert r.status_code == 400 and r.json()["error"] == "invalid_input" and detail in r.json()["detail"], r.text
    for body in [{"provisions": [], "title": "x"}, {"provisions": [p[0]], "title": ""}, {"provisions": [p[0]], "title": "x" * 301}, {"provisions": [p[0]]}, {"title": "x"}]:
        r = await world.call("POST", path, "moderator", body)
        assert r.status_code == 400, (body, r.text)
    r = await world.call("POST", "/api/agenda/999999/split", "moderator", {"provisions": [p[0]], "title": "x"})
    assert r.status_code == 404
    assert await _agenda(world) == [("Item one", 1, p[:2])]


@pytest.mark.parametrize("who,status", [(None, 401), ("delegate", 403), ("observer", 403), ("outsider", 403)])
async def test_merge_and_split_denied(world: World, who: str | None, status: int) -> None:
    two = await _item(world, "Two", [world.provisions[2]])
    r = await world.call("POST", f"/api/agenda/{two['id']}/merge", who, {"into": world.item})
    assert r.status_code == status and r.json()["error"] in ("not_authenticated", "forbidden")
    r = await world.call("POST", f"/api/agenda/{world.item}/split", who, {"provisions": [world.provisions[0]], "title": "x"})
    assert r.status_code == status and r.json()["error"] in ("not_authenticated", "forbidden")
    assert len(await _agenda(world)) == 2


async def test_the_setup_page_moves_merges_and_splits(world: World, app: Any) -> None:
    """The plain forms of the set-up page: 303 back to the agenda, or the error in the page's
    language; CSRF checked; an item of another assembly is 404."""
    from tests.api.test_setup_pages import browser

    p, a = world.provisions, world.assembly
    two = await _item(world, "Two", [p[2]])
    c, csrf = await browser(world, app, "moderator", "ru")
    async with c:
        page = (await c.get(f"/assemblies/{a}/setup")).text
        assert "Положения: 1, 2" in page and "Переместить ниже" in page and "Объединить с пунктом выше" in page
        assert f'name="provision-{p[0]}"' in page and "Выделить отмеченные положения" in page
        r = await c.post(f"/assemblies/{a}/agenda/{two['id']}/move", data={"csrf_token": csrf, "direction": "up"})
        assert r.status_code == 303 and r.headers["location"] == f"/assemblies/{a}/setup#agenda"
        assert await _agenda(world) == [("Two", 1, [p[2]]), ("Item one", 2, p[:2])]
        r = await c.post(f"/assemblies/{a}/agenda/{two['id']}/move", data={"csrf_token": csrf, "direction": "up"})
        assert r.status_code == 400 and 'data-error="agenda_changed"' in r.text and "Тем временем повестка изменилась." in r.text
        r = await c.post(f"/assemblies/{a}/agenda/{two['id']}/move", data={"csrf_token": csrf, "direction": "sideways"})
        assert r.status_code == 400 and 'data-error="invalid"' in r.text
        r = await c.post(f"/assemblies/{a}/agenda/{world.item}/split", data={"csrf_token": csrf, "title": "Статья 2", f"provision-{p[1]}": "1"})
        assert r.status_code == 303
        assert await _agenda(world) == [("Two", 1, [p[2]]), ("Item one", 2, [p[0]]), ("Статья 2", 3, [p[1]])]
        three = (await world.ok("GET", f"/api/assemblies/{a}/agenda"))[2]["id"]
        r = await c.post(f"/assemblies/{a}/agenda/{three}/merge", data={"csrf_token": csrf, "into": str(two["id"])})
        assert r.status_code == 303
        assert await _agenda(world) == [("Two", 1, [p[2], p[1]]), ("Item one", 2, [p[0]])]
        # Refusals: nothing changes.
        for path, data, status, error in [
            (f"{two['id']}/split", {"title": "x", f"provision-{p[2]}": "1", f"provision-{p[1]}": "1"}, 400, "agenda_split"),
            (f"{two['id']}/split", {"title": "x"}, 400, "agenda_split"),
            (f"{two['id']}/split", {"title": "  ", f"provision-{p[2]}": "1"}, 400, "agenda_title"),
            (f"{two['id']}/merge", {"into": "x"}, 400, "invalid"),
            (f"{two['id']}/merge", {"into": str(two["id"])}, 400, "agenda_changed"),
        ]:
            r = await c.post(f"/assemblies/{a}/agenda/{path}", data={"csrf_token": csrf, **data})
            assert r.status_code == status and f'data-error="{error}"' in r.text, (path, data, r.status_code)
        r = await c.post(f"/assemblies/{a}/agenda/{two['id']}/move", data={"csrf_token": "forged", "direction": "down"})
        assert r.status_code == 403 and 'data-error="csrf"' in r.text
        await world.ok("POST", f"/api/agenda/{two['id']}/phase", "moderator", {"phase": "debate"})
        r = await c.post(f"/assemblies/{a}/agenda/{world.item}/merge", data={"csrf_token": csrf, "into": str(two["id"])})
        assert r.status_code == 409 and "Этот пункт уже нельзя объединить или разделить" in r.text
        other = await world.ok("POST", f"/api/assemblies/{world.other_assembly}/agenda", "admin", {"title": "Elsewhere"}, status=201)
        r = await c.post(f"/assemblies/{a}/agenda/{other['id']}/move", data={"csrf_token": csrf, "direction": "down"})
        assert r.status_code == 404
        page = (await c.get(f"/assemblies/{a}/setup")).text
        assert f"/agenda/{two['id']}/move" not in page  # the item in debate has no controls
    assert await _agenda(world) == [("Two", 1, [p[2], p[1]]), ("Item one", 2, [p[0]])]
    d, dcsrf = await browser(world, app, "delegate")
    async with d:
        r = await d.post(f"/assemblies/{a}/agenda/{world.item}/move", data={"csrf_token": dcsrf, "direction": "up"})
        assert r.status_code == 403
    assert await _agenda(world) == [("Two", 1, [p[2], p[1]]), ("Item one", 2, [p[0]])]
