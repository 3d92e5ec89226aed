"""The speakers' list and the server-owned speaking timer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Clock, World


async def _request(world: World, who: str, kind: str = "speech") -> dict:
    return await world.ok("POST", f"/api/agenda/{world.item}/speakers", who, {"kind": kind}, status=201)


def _queue(view: dict) -> list[tuple[str, str]]:
    return [(e["username"], e["kind"]) for e in view["queue"]]


async def _mod(world: World, action: str, body: Any = None) -> dict:
    return await world.ok("POST", f"/api/agenda/{world.item}/{action}", "moderator", body)


async def test_points_of_order_go_first(world: World) -> None:
    await _request(world, "delegate")
    await _request(world, "delegate2")
    v = await _request(world, "moderator", "point_of_order")
    assert _queue(v) == [("moderator", "point_of_order"), ("delegate", "speech"), ("delegate2", "speech")]
    v = await _request(world, "delegate", "point_of_order")  # another kind: allowed
    assert _queue(v)[:2] == [("moderator", "point_of_order"), ("delegate", "point_of_order")]
    got = await world.ok("GET", f"/api/agenda/{world.item}/speakers")
    assert got["queue"] == v["queue"] and got["current"] is None and got["done"] == []
    assert all(e["status"] == "waiting" and e["requested_at"] == "2026-11-24T10:00:00.000Z" for e in got["queue"])


async def test_request_errors(world: World) -> None:
    await _request(world, "delegate")
    r = await world.call("POST", f"/api/agenda/{world.item}/speakers", "delegate", {"kind": "speech"})
    assert r.status_code == 409 and r.json()["error"] == "illegal_transition"
    r = await world.call("POST", f"/api/agenda/{world.item}/speakers", "delegate2", {"kind": "shout"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    r = await world.call("POST", "/api/agenda/9999/speakers", "delegate", {})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    for who, status in ((None, 401), ("observer", 403), ("outsider", 403)):
        r = await world.call("POST", f"/api/agenda/{world.item}/speakers", who, {})
        assert r.status_code == status, who
    v = await world.ok("GET", f"/api/agenda/{world.item}/speakers")
    assert _queue(v) == [("delegate", "speech")]


async def test_withdraw(world: World) -> None:
    v = await _request(world, "delegate")
    v = await _request(world, "delegate2")
    mine, theirs = (e["id"] for e in v["queue"])
    r = await world.call("POST", f"/api/speakers/{mine}/withdraw", "delegate2")
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    r = await world.call("POST", f"/api/speakers/{mine}/withdraw", None)
    assert r.status_code == 401
    v = await world.ok("POST", f"/api/speakers/{mine}/withdraw", "delegate")
    assert _queue(v) == [("delegate2", "speech")]
    r = await world.call("POST", f"/api/speakers/{mine}/withdraw", "delegate")
    assert r.status_code == 409 and r.json()["error"] == "illegal_transition"
    v = await world.ok("POST", f"/api/speakers/{theirs}/withdraw", "moderator")
    assert v["queue"] == []
    audit = await world.ok("GET", f"/api/assemblies/{world.assembly}/audit", "moderator")
    assert audit["entries"][-1]["action"] == "speakers.removed" and audit["entries"][-1]["payload"]["entry"] == theirs
    r = await world.call("POST", "/api/speakers/9999/withdraw", "delegate")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    # withdrawn entries can ask again
    v = await _request(world, "delegate")
    assert _queue(v) == [("delegate", "speech")]


async def test_give_floor_end_speech_and_timer(world: World, clock: Clock) -> None:
    await _request(world, "delegate")
    await _request(world, "delegate2")
    v = await _mod(world, "speakers/next", {})
    start = clock.now_ms
    assert v["current"]["username"] == "delegate" and v["current"]["status"] == "speaking"
    assert _queue(v) == [("delegate2", "speech")]
    assert v["timer"] == {"running": True, "started_at_ms": start, "elapsed_ms": 0, "remaining_ms": 180_000, "limit_ms": 180_000}
    clock.advance(30_000)
    v = await world.ok("GET", f"/api/agenda/{world.item}/speakers")
    assert (v["timer"]["elapsed_ms"], v["timer"]["remaining_ms"]) == (30_000, 150_000)
    item = await world.ok("GET", f"/api/agenda/{world.item}")
    assert item["timer"] == v["timer"] and item["current_speaker"] == v["current"]["id"]

    v = await _mod(world, "timer", {"action": "pause"})
    assert v["timer"]["running"] is False and v["timer"]["elapsed_ms"] == 30_000
    clock.advance(60_000)  # paused time does not count
    v = await world.ok("GET", f"/api/agenda/{world.item}/speakers")
    assert v["timer"]["elapsed_ms"] == 30_000
    v = await _mod(world, "timer", {"action": "resume"})
    assert v["timer"]["running"] is True and v["timer"]["started_at_ms"] == clock.now_ms
    clock.advance(160_000)  # overtime shows as a negative remaining
    v = await world.ok("GET", f"/api/agenda/{world.item}/speakers")
    assert (v["timer"]["elapsed_ms"], v["timer"]["remaining_ms"]) == (190_000, -10_000)

    v = await _mod(world, "speakers/end")
    assert v["current"] is None and [e["username"] for e in v["done"]] == ["delegate"]
    assert v["timer"]["running"] is False and v["timer"]["elapsed_ms"] == 190_000
    assert v["done"][0]["started_at"] == "2026-11-24T10:00:00.000Z"
    r = await world.call("POST", f"/api/agenda/{world.item}/speakers/end", "moderator")
    assert r.status_code == 409 and r.json()["error"] == "illegal_transition"

    v = await _mod(world, "speakers/next", {})
    assert v["current"]["username"] == "delegate2" and v["timer"]["elapsed_ms"] == 0
    v = await _mod(world, "timer", {"action": "stop"})
    assert v["timer"]["running"] is False
    v = await _mod(world, "timer", {"action": "start"})
    assert v["timer"]["running"] is True and v["timer"]["elapsed_ms"] == 0
    audit = await world.ok("GET", f"/api/assemblies/{world.assembly}/audit", "moderator")
    actions = [e["action"] for e in audit["entries"] if e["action"].startswith(("speakers.", "timer."))]
    assert actions == [
        "speakers.floor_given",
        "timer.pause",
        "timer.resume",
        "speakers.speech_ended",
        "speakers.floor_given",
        "timer.stop",
        "timer.start",
    ]
    assert audit["verified"] is True


async def test_give_floor_to_specific_entry_ends_current(world: World) -> None:
    await _request(world, "delegate")
    v = await _request(world, "delegate2")
    first, second = (e["id"] for e in v["queue"])
    v = await _mod(world, "speakers/next", {"entry": second})
    assert v["current"]["id"] == second and [e["id"] for e in v["queue"]] == [first]
    v = await _mod(world, "speakers/next", {"entry": first})
    assert v["current"]["id"] == first and [e["id"] for e in v["done"]] == [second]
    r = await world.call("POST", f"/api/agenda/{world.item}/speakers/next", "moderator", {"entry": second})
    assert r.status_code == 409 and "'done'" in r.json()["detail"]
    r = await world.call("POST", f"/api/agenda/{world.item}/speakers/next", "moderator", {"entry": 9999})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await world.call("POST", f"/api/agenda/{world.item}/speakers/next", "moderator", {})
    assert r.status_code == 409 and "empty" in r.json()["detail"]
    # an entry of another item
    other = await world.ok("POST", f"/api/assemblies/{world.assembly}/agenda", "moderator", {"title": "Other"}, status=201)
    o = await world.ok("POST", f"/api/agenda/{other['id']}/speakers", "delegate", {}, status=201)
    r = await world.call("POST", f"/api/agenda/{world.item}/speakers/next", "moderator", {"entry": o["queue"][0]["id"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    v = await world.ok("GET", f"/api/agenda/{world.item}/speakers")
    assert v["current"]["id"] == first


async def test_reorder(world: World) -> None:
    for who in ("delegate", "delegate2", "moderator"):
        v = await _request(world, who)
    a, b, c = (e["id"] for e in v["queue"])
    v = await _mod(world, "speakers/order", {"order": [c, a, b]})
    assert [e["id"] for e in v["queue"]] == [c, a, b]
    poo = await _request(world, "delegate2", "point_of_order")
    p = poo["queue"][0]["id"]
    v = await _mod(world, "speakers/order", {"order": [c, a, b, p]})
    assert [e["id"] for e in v["queue"]] == [p, c, a, b]  # points of order stay first
    for bad in ([a, b], [a, b, c, p, p], [a, b, c, 9999], []):
        r = await world.call("POST", f"/api/agenda/{world.item}/speakers/order", "moderator", {"order": bad})
        assert r.status_code == 400 and r.json()["error"] == "invalid_input", bad
    v = await world.ok("GET", f"/api/agenda/{world.item}/speakers")
    assert [e["id"] for e in v["queue"]] == [p, c, a, b]


async def test_timer_errors(world: World) -> None:
    r = await world.call("POST", f"/api/agenda/{world.item}/timer", "moderator", {"action": "pause"})
    assert r.status_code == 409 and r.json()["error"] == "illegal_transition"
    await _mod(world, "timer", {"action": "start"})
    for action in ("start", "resume"):
        r = await world.call("POST", f"/api/agenda/{world.item}/timer", "moderator", {"action": action})
        assert r.status_code == 409 and r.json()["error"] == "illegal_transition", action
    r = await world.call("POST", f"/api/agenda/{world.item}/timer", "moderator", {"action": "rewind"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    r = await world.call("POST", "/api/agenda/9999/timer", "moderator", {"action": "start"})
    assert r.status_code == 404


async def test_closed_item_refuses_the_list(world: World) -> None:
    v = await _request(world, "delegate")
    entry = v["queue"][0]["id"]
    for phase in ("debate", "amendments", "voting", "closed"):
        await world.ok("POST", f"/api/agenda/{world.item}/phase", "moderator", {"phase": phase})
    calls = [
        ("delegate2", "speakers", {"kind": "speech"}),
        ("moderator", "speakers/next", {}),
        ("moderator", "speakers/order", {"order": [entry]}),
        ("moderator", "timer", {"action": "start"}),
    ]
    for who, action, body in calls:
        r = await world.call("POST", f"/api/agenda/{world.item}/{action}", who, body)
        assert r.status_code == 409 and r.json()["error"] == "illegal_transition", action
        assert "closed" in r.json()["detail"]


@pytest.mark.parametrize("who,status", [(None, 401), ("delegate", 403), ("observer", 403), ("outsider", 403)])
async def test_moderator_actions_denied(world: World, who: str | None, status: int) -> None:
    v = await _request(world, "delegate2")
    entry = v["queue"][0]["id"]
    for action, body in (
        ("speakers/next", {}),
        ("speakers/end", None),
        ("speakers/order", {"order": [entry]}),
        ("timer", {"action": "start"}),
    ):
        r = await world.call("POST", f"/api/agenda/{world.item}/{action}", who, body)
        assert r.status_code == status, action
        assert r.json()["error"] == ("not_authenticated" if who is None else "forbidden")
    v = await world.ok("GET", f"/api/agenda/{world.item}/speakers")
    assert v["current"] is None and v["timer"]["running"] is False and len(v["queue"]) == 1


async def test_speakers_of_unknown_item(world: World) -> None:
    r = await world.call("GET", "/api/agenda/9999/speakers")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


async def test_the_chair_adds_and_removes_speakers_by_name(world: World, clock: Clock) -> None:
    """Issue #17, point 5: people without a device (or who raise a hand) are put on the list by
    the chair, by username; the chair takes people off it; both are audited; names are shown as
    display names; each member's speaking time on the item is counted without pauses."""
    url = f"/api/agenda/{world.item}/speakers"
    v = await world.ok("POST", url, "moderator", {"username": "delegate2", "kind": "point_of_order"}, status=201)
    assert _queue(v) == [("delegate2", "point_of_order")]
    assert v["queue"][0]["display_name"]
    for who, body, status in (
        ("delegate", {"username": "delegate2"}, 403),  # only a chair adds somebody else
        ("moderator", {"username": "observer"}, 400),  # observers do not speak
        ("moderator", {"username": "nobody-at-all"}, 400),
        ("moderator", {"username": "outsider"}, 400),  # a delegate of another assembly
        ("moderator", {"username": "delegate2", "kind": "point_of_order"}, 409),  # already waiting
        ("moderator", {"username": "x" * 65}, 400),
    ):
        r = await world.call("POST", url, who, body)
        assert r.status_code == status, (who, body, r.text)
        assert set(r.json()) == {"error", "detail"}
    entry = v["queue"][0]["id"]
    await world.ok("POST", url, "moderator", {"username": "delegate"}, status=201)
    v = await world.ok("POST", f"/api/speakers/{entry}/withdraw", "moderator")
    assert _queue(v) == [("delegate", "speech")]
    v = await _mod(world, "speakers/next", {})
    clock.advance(20_000)
    await _mod(world, "timer", {"action": "pause"})
    clock.advance(50_000)  # a pause is not speaking time
    v = await world.ok("GET", url)
    assert [(t["username"], t["spoken_ms"], t["speeches"]) for t in v["totals"]] == [("delegate", 20_000, 1)]
    await _mod(world, "timer", {"action": "resume"})
    clock.advance(5_000)
    v = await _mod(world, "speakers/end")
    assert [(t["username"], t["spoken_ms"]) for t in v["totals"]] == [("delegate", 25_000)]
    audit = await world.ok("GET", f"/api/assemblies/{world.assembly}/audit", "moderator")
    added = [e["payload"] for e in audit["entries"] if e["action"] == "speakers.added"]
    assert [(p["kind"]) for p in added] == ["point_of_order", "speech"]
    assert [e["action"] for e in audit["entries"] if e["action"] == "speakers.removed"] == ["speakers.removed"]


# -- speech types (issue #17) ---------------------------------------------------------------------

SPEECH_TYPES = ["contribution", "pro", "contra", "point_of_order", "question", "intervention"]


def _types(view: dict) -> list[tuple[str, str]]:
    return [(e["username"], e["speech_type"]) for e in view["queue"]]


@pytest.mark.parametrize("speech_type", SPEECH_TYPES)
async def test_each_speech_type_by_a_delegate_and_by_the_chair(world: World, speech_type: str) -> None:
    url = f"/api/agenda/{world.item}/speakers"
    kind = "point_of_order" if speech_type == "point_of_order" else "speech"
    v = await world.ok("POST", url, "delegate", {"speech_type": speech_type}, status=201)
    assert [(e["username"], e["kind"], e["speech_type"]) for e in v["queue"]] == [("delegate", kind, speech_type)]
    v = await world.ok("POST", url, "moderator", {"username": "delegate2", "speech_type": speech_type}, status=201)
    assert _types(v) == [("delegate", speech_type), ("delegate2", speech_type)]
    assert (await world.ok("GET", url))["queue"] == v["queue"]
    v = await _mod(world, "speakers/next", {})
    assert v["current"]["speech_type"] == speech_type
    v = await _mod(world, "speakers/end")
    assert [e["speech_type"] for e in v["done"]] == [speech_type]
    audit = await world.ok("GET", f"/api/assemblies/{world.assembly}/audit", "moderator")
    added = [e["payload"] for e in audit["entries"] if e["action"] == "speakers.added"]
    assert [(p["kind"], p["speech_type"]) for p in added] == [(kind, speech_type)]


async def test_speech_type_defaults_and_the_older_kind(world: World) -> None:
    """No type is a contribution; `kind` alone still works (speech: a contribution); a type and a
    kind that disagree are refused."""
    url = f"/api/agenda/{world.item}/speakers"
    assert _types(await world.ok("POST", url, "delegate", {}, status=201)) == [("delegate", "contribution")]
    v = await world.ok("POST", url, "delegate", {"kind": "point_of_order"}, status=201)
    assert _types(v) == [("delegate", "point_of_order"), ("delegate", "contribution")]
    v = await world.ok("POST", url, "delegate2", {"kind": "speech", "speech_type": "contra"}, status=201)
    assert _types(v)[-1] == ("delegate2", "contra")


@pytest.mark.parametrize(
    "body,match",
    [
        ({"speech_type": "rant"}, "unknown speech type 'rant'"),
        ({"speech_type": "Pro"}, "unknown speech type 'Pro'"),
        ({"speech_type": ""}, "unknown speech type ''"),
        ({"speech_type": "x" * 25}, "speech_type"),
        ({"speech_type": 3}, "speech_type"),
        ({"speech_type": "pro", "kind": "point_of_order"}, "speech type 'pro' is of kind 'speech'"),
        ({"speech_type": "point_of_order", "kind": "speech"}, "is of kind 'point_of_order'"),
        ({"username": "delegate2", "speech_type": "shout"}, "unknown speech type 'shout'"),
    ],
)
async def test_unknown_speech_type_is_refused(world: World, body: dict, match: str) -> None:
    who = "moderator" if "username" in body else "delegate"
    r = await world.call("POST", f"/api/agenda/{world.item}/speakers", who, body)
    assert r.status_code == 400, r.text
    assert set(r.json()) == {"error", "detail"} and r.json()["error"] == "invalid_input"
    assert match in r.json()["detail"]
    assert (await world.ok("GET", f"/api/agenda/{world.item}/speakers"))["queue"] == []


async def test_points_of_order_go_to_the_top_of_the_waiting_list(world: World) -> None:
    """As in OpenSlides: a point of order is placed before every speech, after the points of order
    already waiting; the other types keep the order they were asked in (the chair may move them).
    A member waits once for a speech of any type and once with a point of order."""
    url = f"/api/agenda/{world.item}/speakers"
    await world.ok("POST", url, "delegate", {"speech_type": "pro"}, status=201)
    await world.ok("POST", url, "delegate2", {"speech_type": "contra"}, status=201)
    await world.ok("POST", url, "moderator", {"speech_type": "question"}, status=201)
    v = await world.ok("POST", url, "delegate2", {"speech_type": "point_of_order"}, status=201)
    assert _types(v) == [("delegate2", "point_of_order"), ("delegate", "pro"), ("delegate2", "contra"), ("moderator", "question")]
    v = await world.ok("POST", url, "delegate", {"speech_type": "point_of_order"}, status=201)
    assert _types(v)[:3] == [("delegate2", "point_of_order"), ("delegate", "point_of_order"), ("delegate", "pro")]
    r = await world.call("POST", url, "delegate", {"speech_type": "intervention"})  # already waiting for a speech
    assert r.status_code == 409 and r.json()["error"] == "illegal_transition"
    v = await _mod(world, "speakers/next", {})
    assert (v["current"]["username"], v["current"]["speech_type"]) == ("delegate2", "point_of_order")
    r = await world.call("POST", url, "moderator", {"username": "delegate2", "speech_type": "intervention"})
    assert r.status_code == 409  # delegate2's contra still waits
    contra = next(e["id"] for e in v["queue"] if e["speech_type"] == "contra")
    await world.ok("POST", f"/api/speakers/{contra}/withdraw", "delegate2")
    v = await world.ok("POST", url, "moderator", {"username": "delegate2", "speech_type": "intervention"}, status=201)
    assert _types(v) == [("delegate", "point_of_order"), ("delegate", "pro"), ("moderator", "question"), ("delegate2", "intervention")]
    from kurultai.unit_of_work import Event

    events = await Event.select(Event.type, Event.data).where((Event.assembly_id == world.assembly) & Event.type.is_in(["speakers.updated", "timer.updated"])).order_by(Event.seq)
    last = json.loads(events[-1]["data"])  # the live events carry the types too
    assert events[-1]["type"] == "speakers.updated" and [e["speech_type"] for e in last["queue"]] == ["point_of_order", "pro", "question", "intervention"]
    timer = next(json.loads(e["data"]) for e in reversed(events) if e["type"] == "timer.updated")
    assert timer["current"]["speech_type"] == "point_of_order"


async def test_points_of_order_keep_their_type_on_upgrade(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migration m0010: entries from before it are contributions, except points of order."""
    import kurultai.db as kdb
    from deliberation.tables import SpeakerEntry
    from kurultai.db import Database
    from kurultai.settings import Settings

    every = kdb.load_migrations()
    before = [m for m in every if m.ID < "2026-12-03T22:00"]
    monkeypatch.setattr(kdb, "load_migrations", lambda: before)
    db = Database(Settings(data_dir=tmp_path / "data"))
    with db.use():  # not started: no database is open, so it names its own
        await db.migrate()
        await SpeakerEntry.raw("INSERT INTO kurultai_user (username) VALUES ('a')")
        await SpeakerEntry.raw("INSERT INTO assembly (title) VALUES ('t')")
        await SpeakerEntry.raw("INSERT INTO agenda_item (assembly, title, position) VALUES (1, 'i', 1)")
        for kind, pos in (("speech", 1), ("point_of_order", 2)):
            await SpeakerEntry.raw('INSERT INTO speaker_entry (agenda_item, "user", kind, position) VALUES (1, 1, {}, {})', kind, pos)
        monkeypatch.setattr(kdb, "load_migrations", lambda: every)
        applied = await db.migrate()
        assert applied[:2] == ["2026-12-03T22:00:00:000000", "2026-12-03T22:01:00:000000"]
        rows = await SpeakerEntry.select(SpeakerEntry.kind, SpeakerEntry.speech_type).order_by(SpeakerEntry.position)
        assert [(r["kind"], r["speech_type"]) for r in rows] == [("speech", "contribution"), ("point_of_order", "point_of_order")]
