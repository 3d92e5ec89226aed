"""Threaded comments on provisions and amendments; hiding by a moderator."""

from __future__ import annotations

import json

from typing import Any

import pytest

from tests.conftest import World


async def _comment(world: World, who: str = "delegate", **body: Any) -> dict:
    return await world.ok("POST", f"/api/assemblies/{world.assembly}/comments", who, body, status=201)


async def _amendment(world: World) -> dict:
    body = {"provision": world.provisions[0], "kind": "replace", "text": "New text.", "submit": True}
    return await world.ok("POST", f"/api/assemblies/{world.assembly}/amendments", "delegate", body, status=201)


async def test_threads_on_provisions_and_amendments(world: World) -> None:
    c1 = await _comment(world, provision=world.provisions[0], stance="for", text="I support this.")
    assert (c1["author"], c1["stance"], c1["text"], c1["provision"], c1["amendment"], c1["parent"]) == ("delegate", "for", "I support this.", world.provisions[0], None, None)
    reply = await _comment(world, "delegate2", parent=c1["id"], stance="against", text="I do not.")
    assert reply["provision"] == world.provisions[0] and reply["parent"] == c1["id"]
    a = await _amendment(world)
    c2 = await _comment(world, "moderator", amendment=a["id"], text="Neutral by default.")
    assert c2["stance"] == "neutral" and c2["amendment"] == a["id"] and c2["provision"] is None
    r2 = await _comment(world, "admin", parent=c2["id"], amendment=a["id"], text="Reply on the amendment.")
    assert r2["amendment"] == a["id"]
    base = f"/api/assemblies/{world.assembly}/comments"
    assert [c["id"] for c in await world.ok("GET", base)] == [c1["id"], reply["id"], c2["id"], r2["id"]]
    assert [c["id"] for c in await world.ok("GET", f"{base}?provision={world.provisions[0]}")] == [c1["id"], reply["id"]]
    assert [c["id"] for c in await world.ok("GET", f"{base}?amendment={a['id']}")] == [c2["id"], r2["id"]]
    assert await world.ok("GET", f"{base}?provision={world.provisions[1]}") == []


async def test_comment_validation(world: World) -> None:
    base = f"/api/assemblies/{world.assembly}/comments"
    p = world.provisions[0]
    a = await _amendment(world)
    c = await _comment(world, provision=p, text="root")
    other = await world.ok("POST", f"/api/assemblies/{world.other_assembly}/provisions", "admin", {"number": "1", "text": "t"}, status=201)
    other_c = await world.ok("POST", f"/api/assemblies/{world.other_assembly}/comments", "outsider", {"provision": other["id"], "text": "x"}, status=201)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"provision": p, "text": ""}, 400, "invalid_input"),
        ({"provision": p, "text": "   "}, 400, "invalid_input"),
        ({"provision": p, "text": "x" * 10_001}, 400, "invalid_input"),
        ({"provision": p, "text": "x", "stance": "maybe"}, 400, "invalid_input"),
        ({"text": "on nothing"}, 400, "invalid_input"),
        ({"provision": p, "amendment": a["id"], "text": "on both"}, 400, "invalid_input"),
        ({"provision": 9999, "text": "x"}, 404, "not_found"),
        ({"amendment": 9999, "text": "x"}, 404, "not_found"),
        ({"parent": 9999, "text": "x"}, 404, "not_found"),
        ({"provision": other["id"], "text": "x"}, 400, "invalid_input"),
        ({"parent": other_c["id"], "text": "x"}, 400, "invalid_input"),
        ({"parent": c["id"], "provision": world.provisions[1], "text": "x"}, 400, "invalid_input"),
        ({"parent": c["id"], "amendment": a["id"], "text": "x"}, 400, "invalid_input"),
    ]
    for body, status, code in cases:
        r = await world.call("POST", base, "delegate", body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"] == code, body
    assert [x["id"] for x in await world.ok("GET", base)] == [c["id"]]


@pytest.mark.parametrize("who,status", [(None, 401), ("observer", 403), ("outsider", 403)])
async def test_comment_denied(world: World, who: str | None, status: int) -> None:
    r = await world.call("POST", f"/api/assemblies/{world.assembly}/comments", who, {"provision": world.provisions[0], "text": "x"})
    assert r.status_code == status and r.json()["error"] in ("not_authenticated", "forbidden")


async def test_hide_comment(world: World) -> None:
    secret = "Offensive words <script>alert(1)</script>"
    c = await _comment(world, provision=world.provisions[0], stance="against", text=secret)
    keep = await _comment(world, "delegate2", provision=world.provisions[0], text="A civil remark.")
    for who, status in ((None, 401), ("delegate", 403), ("delegate2", 403), ("observer", 403), ("outsider", 403)):
        r = await world.call("POST", f"/api/comments/{c['id']}/hide", who, {"reason": "x"})
        assert r.status_code == status, who
    r = await world.call("POST", f"/api/comments/{c['id']}/hide", "moderator", {"reason": ""})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    r = await world.call("POST", f"/api/comments/{c['id']}/hide", "moderator", {"reason": "   "})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    h = await world.ok("POST", f"/api/comments/{c['id']}/hide", "moderator", {"reason": "Insults a delegate."})
    assert h["hidden"] is True and h["text"] is None and h["hidden_reason"] == "Insults a delegate."
    r = await world.call("POST", f"/api/comments/{c['id']}/hide", "moderator", {"reason": "again"})
    assert r.status_code == 409 and r.json()["error"] == "illegal_transition"
    r = await world.call("POST", "/api/comments/9999/hide", "moderator", {"reason": "x"})
    assert r.status_code == 404 and r.json()["error"] == "not_found"

    listed = await world.ok("GET", f"/api/assemblies/{world.assembly}/comments")
    assert [(x["id"], x["text"], x["hidden_reason"]) for x in listed] == [
        (c["id"], None, "Insults a delegate."),
        (keep["id"], "A civil remark.", None),
    ]
    page = await world.client.get(f"/assemblies/{world.assembly}")
    assert page.status_code == 200
    assert "Offensive words" not in page.text and "alert(1)" not in page.text
    assert "Insults a delegate." in page.text and "A civil remark." in page.text

    audit = await world.ok("GET", f"/api/assemblies/{world.assembly}/audit", "moderator")
    last = audit["entries"][-1]
    assert last["action"] == "comment.hidden" and last["actor"] == "moderator"
    assert last["payload"] == {"comment": c["id"], "reason": "Insults a delegate.", "text": secret}
    assert audit["verified"] is True
    r = await world.call("GET", f"/api/assemblies/{world.assembly}/audit", "delegate")
    assert r.status_code == 403 and secret not in r.text


async def test_reply_to_hidden_comment_still_threads(world: World) -> None:
    c = await _comment(world, provision=world.provisions[0], text="root")
    await world.ok("POST", f"/api/comments/{c['id']}/hide", "moderator", {"reason": "r"})
    reply = await _comment(world, "delegate2", parent=c["id"], text="reply")
    assert reply["provision"] == world.provisions[0] and reply["parent"] == c["id"]


async def test_list_comments_of_unknown_assembly(world: World) -> None:
    r = await world.call("GET", "/api/assemblies/9999/comments")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


async def test_hidden_text_leaves_the_event_log(world: World) -> None:
    """A replay of the event log never shows a hidden comment's text (seq kept, no gap)."""
    from kurultai.unit_of_work import events_after

    c = await world.ok("POST", f"/api/assemblies/{world.assembly}/comments", "delegate", {"provision": world.provisions[0], "text": "Rude words here", "stance": "against"}, status=201)
    await world.ok("POST", f"/api/comments/{c['id']}/hide", "moderator", {"reason": "insult"})
    events = await events_after(world.assembly, 0)
    created = [e for e in events if e.type == "comment.created" and e.data["id"] == c["id"]]
    assert len(created) == 1 and created[0].data["text"] is None and created[0].data["hidden_reason"] == "insult"
    assert all("Rude words" not in json.dumps(e.data) for e in events)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
