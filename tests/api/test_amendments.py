"""Amendments: kinds, redlines, the status machine, co-sponsors, adoption and the audit trail."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import World

NEW_TEXT = "The first provision text, amended."


async def _amend(world: World, who: str = "delegate", *, kind: str = "replace", text: str | None = NEW_TEXT, provision: int | None = None, **extra: Any) -> dict:
    body: dict[str, Any] = {"provision": provision or world.provisions[0], "kind": kind, **extra}
    if text is not None:
        body["text"] = text
    return await world.ok("POST", f"/api/assemblies/{world.assembly}/amendments", who, body, status=201)


async def _audit(world: World) -> dict:
    audit = await world.ok("GET", f"/api/assemblies/{world.assembly}/audit", "moderator")
    assert audit["verified"] is True and audit["problem"] is None
    return audit


@pytest.mark.parametrize("who", ["delegate", "moderator", "admin"])
async def test_create_replace_with_redline(world: World, who: str) -> None:
    a = await _amend(world, who, title="Amend 1", rationale="Because.")
    assert a["status"] == "draft" and a["kind"] == "replace" and a["author"] == who
    assert a["current_text"] == "The first provision text." and a["base_document_version"] == 3
    assert a["redline"] == [
        {"op": "equal", "text": "The first provision text"},
        {"op": "insert", "text": ", amended"},
        {"op": "equal", "text": "."},
    ]
    got = await world.ok("GET", f"/api/amendments/{a['id']}")
    assert got == a


async def test_kinds_and_their_text_rules(world: World) -> None:
    ins = await _amend(world, kind="insert_after", text="A new paragraph.")
    assert ins["redline"] == [{"op": "insert", "text": "A new paragraph."}]
    dele = await _amend(world, kind="delete", text=None)
    assert dele["text"] is None
    assert dele["redline"] == [{"op": "delete", "text": "The first provision text."}]
    path = f"/api/assemblies/{world.assembly}/amendments"
    for body in (
        {"provision": world.provisions[0], "kind": "replace"},
        {"provision": world.provisions[0], "kind": "replace", "text": "   "},
        {"provision": world.provisions[0], "kind": "insert_after", "text": ""},
        {"provision": world.provisions[0], "kind": "delete", "text": "but why text"},
        {"provision": world.provisions[0], "kind": "rewrite", "text": "x"},
    ):
        r = await world.call("POST", path, "delegate", body)
        assert r.status_code == 400, body
        assert r.json()["error"] == "invalid_input"
    r = await world.call("POST", path, "delegate", {"provision": 9999, "kind": "delete"})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    other = await world.ok("POST", f"/api/assemblies/{world.other_assembly}/provisions", "admin", {"number": "1", "text": "t"}, status=201)
    r = await world.call("POST", path, "delegate", {"provision": other["id"], "kind": "delete"})
    assert r.status_code == 400 and "not part of assembly" in r.json()["detail"]
    listed = await world.ok("GET", path)
    assert [a["id"] for a in listed] == [ins["id"], dele["id"]]


@pytest.mark.parametrize("who,status", [(None, 401), ("observer", 403), ("outsider", 403)])
async def test_create_denied(world: World, who: str | None, status: int) -> None:
    r = await world.call("POST", f"/api/assemblies/{world.assembly}/amendments", who, {"provision": world.provisions[0], "kind": "delete"})
    assert r.status_code == status and r.json()["error"] in ("not_authenticated", "forbidden")
    assert await world.ok("GET", f"/api/assemblies/{world.assembly}/amendments") == []


async def test_list_filters(world: World) -> None:
    a = await _amend(world)
    b = await _amend(world, provision=world.provisions[1], text="Second, changed.", submit=True)
    base = f"/api/assemblies/{world.assembly}/amendments"
    assert [x["id"] for x in await world.ok("GET", f"{base}?provision={world.provisions[1]}")] == [b["id"]]
    assert [x["id"] for x in await world.ok("GET", f"{base}?status=draft")] == [a["id"]]
    assert [x["id"] for x in await world.ok("GET", f"{base}?status=submitted")] == [b["id"]]
    r = await world.call("GET", "/api/assemblies/9999/amendments")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await world.call("GET", "/api/amendments/9999")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


async def test_edit_draft_by_author_only(world: World) -> None:
    a = await _amend(world)
    e = await world.ok("PATCH", f"/api/amendments/{a['id']}", "delegate", {"text": "Replaced entirely.", "title": "T"})
    assert e["text"] == "Replaced entirely." and e["title"] == "T"
    e = await world.ok("PATCH", f"/api/amendments/{a['id']}", "delegate", {"kind": "delete"})
    assert e["kind"] == "delete" and e["text"] is None
    r = await world.call("PATCH", f"/api/amendments/{a['id']}", "delegate", {"kind": "replace"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    r = await world.call("PATCH", f"/api/amendments/{a['id']}", "delegate2", {"title": "mine now"})
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    r = await world.call("PATCH", f"/api/amendments/{a['id']}", "observer", {"title": "x"})
    assert r.status_code == 403
    await world.ok("POST", f"/api/amendments/{a['id']}/submit", "delegate")
    r = await world.call("PATCH", f"/api/amendments/{a['id']}", "delegate", {"title": "late"})
    assert r.status_code == 409 and r.json()["error"] == "illegal_transition"
    assert (await world.ok("GET", f"/api/amendments/{a['id']}"))["title"] == "T"


async def test_submit_admit_reject_flow_is_audited(world: World) -> None:
    a = await _amend(world)
    r = await world.call("POST", f"/api/amendments/{a['id']}/submit", "delegate2")
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    s = await world.ok("POST", f"/api/amendments/{a['id']}/submit", "delegate")
    assert s["status"] == "submitted"
    for who, status in (("delegate", 403), ("delegate2", 403), ("observer", 403), (None, 401)):
        r = await world.call("POST", f"/api/amendments/{a['id']}/admit", who, {})
        assert r.status_code == status, who
    adm = await world.ok("POST", f"/api/amendments/{a['id']}/admit", "moderator", {"reason": "In order."})
    assert adm["status"] == "admitted" and adm["reason"] == "In order."
    b = await _amend(world, "delegate2", text="Rejected text.", submit=True)
    rej = await world.ok("POST", f"/api/amendments/{b['id']}/reject", "moderator", {"reason": "Out of scope."})
    assert rej["status"] == "rejected" and rej["reason"] == "Out of scope."
    entries = (await _audit(world))["entries"]
    tail = [(e["actor"], e["action"], e["payload"]["amendment"], e["payload"]["reason"]) for e in entries[-2:]]
    assert tail == [("moderator", "amendment.admit", a["id"], "In order."), ("moderator", "amendment.reject", b["id"], "Out of scope.")]


async def test_withdraw_by_author_only(world: World) -> None:
    a = await _amend(world, submit=True)
    for who in ("delegate2", "moderator"):
        r = await world.call("POST", f"/api/amendments/{a['id']}/withdraw", who)
        assert r.status_code == 403 and r.json()["error"] == "forbidden", who
    w = await world.ok("POST", f"/api/amendments/{a['id']}/withdraw", "delegate")
    assert w["status"] == "withdrawn"
    r = await world.call("POST", f"/api/amendments/{a['id']}/withdraw", "delegate")
    assert r.status_code == 409 and r.json()["error"] == "illegal_transition"


@pytest.mark.parametrize(
    "setup,action,who",
    [
        ([], "admit", "moderator"),
        ([], "adopt", "moderator"),
        ([], "reject", "moderator"),
        (["submit"], "submit", "delegate"),
        (["submit"], "adopt", "moderator"),
        (["submit", "admit"], "admit", "moderator"),
        (["submit", "admit"], "submit", "delegate"),
        (["submit", "reject"], "admit", "moderator"),
        (["submit", "reject"], "withdraw", "delegate"),
        (["withdraw"], "submit", "delegate"),
        (["submit", "admit", "adopt"], "reject", "moderator"),
        (["submit", "admit", "adopt"], "withdraw", "delegate"),
        (["submit", "admit", "adopt"], "adopt", "moderator"),
    ],
)
async def test_illegal_status_transitions(world: World, setup: list[str], action: str, who: str) -> None:
    a = await _amend(world)
    for step in setup:
        actor = "delegate" if step in ("submit", "withdraw") else "moderator"
        await world.ok("POST", f"/api/amendments/{a['id']}/{step}", actor, {} if actor == "moderator" else None)
    before = await world.ok("GET", f"/api/amendments/{a['id']}")
    r = await world.call("POST", f"/api/amendments/{a['id']}/{action}", who, {} if who == "moderator" else None)
    assert r.status_code == 409 and r.json()["error"] == "illegal_transition"
    assert f"cannot {action} an amendment that is {before['status']!r}" in r.json()["detail"]
    assert await world.ok("GET", f"/api/amendments/{a['id']}") == before


async def test_cosponsors_and_auto_admission(world: World) -> None:
    a = await _amend(world, submit=True)
    r = await world.call("POST", f"/api/amendments/{a['id']}/cosponsors", "delegate")
    assert r.status_code == 400 and "author" in r.json()["detail"]
    for who, status in (("observer", 403), ("outsider", 403), (None, 401)):
        r = await world.call("POST", f"/api/amendments/{a['id']}/cosponsors", who)
        assert r.status_code == status, who
    c = await world.ok("POST", f"/api/amendments/{a['id']}/cosponsors", "delegate2")
    assert c["cosponsors"] == ["delegate2"] and c["status"] == "submitted"
    c = await world.ok("POST", f"/api/amendments/{a['id']}/cosponsors", "delegate2")  # idempotent
    assert c["cosponsors"] == ["delegate2"] and c["status"] == "submitted"
    c = await world.ok("DELETE", f"/api/amendments/{a['id']}/cosponsors", "delegate2")
    assert c["cosponsors"] == []
    await world.ok("POST", f"/api/amendments/{a['id']}/cosponsors", "delegate2")
    c = await world.ok("POST", f"/api/amendments/{a['id']}/cosponsors", "moderator")
    assert c["cosponsors"] == ["delegate2", "moderator"]
    assert c["status"] == "admitted"  # the threshold of the world assembly is 2
    assert "threshold" in c["reason"]
    last = (await _audit(world))["entries"][-1]
    assert last["action"] == "amendment.admit" and last["actor"] is None and last["payload"]["amendment"] == a["id"]


async def test_cosponsored_draft_is_admitted_on_submit(world: World) -> None:
    a = await _amend(world)
    await world.ok("POST", f"/api/amendments/{a['id']}/cosponsors", "delegate2")
    c = await world.ok("POST", f"/api/amendments/{a['id']}/cosponsors", "moderator")
    assert c["status"] == "draft"
    s = await world.ok("POST", f"/api/amendments/{a['id']}/submit", "delegate")
    assert s["status"] == "admitted"


async def test_cosponsor_closed_amendment_is_409(world: World) -> None:
    a = await _amend(world, submit=True)
    await world.ok("POST", f"/api/amendments/{a['id']}/withdraw", "delegate")
    r = await world.call("POST", f"/api/amendments/{a['id']}/cosponsors", "delegate2")
    assert r.status_code == 409 and r.json()["error"] == "illegal_transition"


async def _admitted(world: World, **kw: Any) -> dict:
    a = await _amend(world, submit=True, **kw)
    return await world.ok("POST", f"/api/amendments/{a['id']}/admit", "moderator", {})


async def test_adopt_replace(world: World) -> None:
    a = await _admitted(world)
    for who in ("delegate", "observer"):
        r = await world.call("POST", f"/api/amendments/{a['id']}/adopt", who, {})
        assert r.status_code == 403
    adopted = await world.ok("POST", f"/api/amendments/{a['id']}/adopt", "moderator", {})
    assert adopted["status"] == "adopted"
    doc = await world.ok("GET", f"/api/assemblies/{world.assembly}/document")
    assert doc["version"] == 4 and doc["provisions"][0]["text"] == NEW_TEXT and doc["provisions"][0]["version"] == 4
    old = await world.ok("GET", f"/api/assemblies/{world.assembly}/document?version=3")
    assert old["provisions"][0]["text"] == "The first provision text."
    prov = await world.ok("GET", f"/api/provisions/{world.provisions[0]}")
    assert prov["history"][-1]["amendment"] == a["id"] and prov["history"][-1]["document_version"] == 4
    last = (await _audit(world))["entries"][-1]
    assert (last["actor"], last["action"], last["payload"]) == ("moderator", "amendment.adopt", {"amendment": a["id"], "document_version": 4})


async def test_adopt_delete(world: World) -> None:
    a = await _admitted(world, kind="delete", text=None, provision=world.provisions[1])
    await world.ok("POST", f"/api/amendments/{a['id']}/adopt", "moderator", {})
    doc = await world.ok("GET", f"/api/assemblies/{world.assembly}/document")
    assert [p["number"] for p in doc["provisions"]] == ["1", "3"] and doc["version"] == 4
    old = await world.ok("GET", f"/api/assemblies/{world.assembly}/document?version=3")
    assert [p["number"] for p in old["provisions"]] == ["1", "2", "3"]
    # a deleted provision takes no new amendments
    r = await world.call("POST", f"/api/assemblies/{world.assembly}/amendments", "delegate", {"provision": world.provisions[1], "kind": "delete"})
    assert r.status_code == 400 and "deleted" in r.json()["detail"]


async def test_adopt_insert_after(world: World) -> None:
    a = await _admitted(world, kind="insert_after", text="An inserted provision.", title="New")
    await world.ok("POST", f"/api/amendments/{a['id']}/adopt", "moderator", {})
    doc = await world.ok("GET", f"/api/assemblies/{world.assembly}/document")
    assert [(p["number"], p["text"]) for p in doc["provisions"]][:2] == [("1", "The first provision text."), ("1a", "An inserted provision.")]
    assert doc["version"] == 4 and len(doc["provisions"]) == 4
    old = await world.ok("GET", f"/api/assemblies/{world.assembly}/document?version=3")
    assert [p["number"] for p in old["provisions"]] == ["1", "2", "3"]


async def test_competing_amendments_adopt_one_after_another(world: World) -> None:
    a = await _admitted(world)
    b = await _admitted(world, text="Another wording of the first provision.")
    await world.ok("POST", f"/api/amendments/{a['id']}/adopt", "moderator", {})
    # the redline of the other amendment is now against the adopted text
    b_now = await world.ok("GET", f"/api/amendments/{b['id']}")
    assert b_now["current_text"] == NEW_TEXT
    await world.ok("POST", f"/api/amendments/{b['id']}/adopt", "moderator", {})
    doc = await world.ok("GET", f"/api/assemblies/{world.assembly}/document")
    assert doc["version"] == 5 and doc["provisions"][0]["text"] == "Another wording of the first provision."
    mid = await world.ok("GET", f"/api/assemblies/{world.assembly}/document?version=4")
    assert mid["provisions"][0]["text"] == NEW_TEXT


async def test_amendments_refused_once_voting(world: World) -> None:
    draft = await _amend(world)
    for phase in ("debate", "amendments", "voting"):
        await world.ok("POST", f"/api/agenda/{world.item}/phase", "moderator", {"phase": phase})
    r = await world.call("POST", f"/api/assemblies/{world.assembly}/amendments", "delegate", {"provision": world.provisions[0], "kind": "delete"})
    assert r.status_code == 409 and r.json()["error"] == "illegal_transition" and "voting" in r.json()["detail"]
    r = await world.call("POST", f"/api/amendments/{draft['id']}/submit", "delegate")
    assert r.status_code == 409 and r.json()["error"] == "illegal_transition"
    # provision 3 is not on that item: still open
    ok = await _amend(world, provision=world.provisions[2], text="Still open.")
    assert ok["status"] == "draft"
    await world.ok("POST", f"/api/agenda/{world.item}/phase", "moderator", {"phase": "closed"})
    r = await world.call("POST", f"/api/assemblies/{world.assembly}/amendments", "delegate", {"provision": world.provisions[1], "kind": "delete"})
    assert r.status_code == 409 and "closed" in r.json()["detail"]
    listed = await world.ok("GET", f"/api/assemblies/{world.assembly}/amendments")
    assert [(x["id"], x["status"]) for x in listed] == [(draft["id"], "draft"), (ok["id"], "draft")]


async def test_moderator_actions_all_audited(world: World) -> None:
    a = await _admitted(world)
    b = await _amend(world, "delegate2", submit=True, text="B.")
    await world.ok("POST", f"/api/amendments/{b['id']}/reject", "moderator", {"reason": "No."})
    await world.ok("POST", f"/api/amendments/{a['id']}/adopt", "admin", {})
    audit = await _audit(world)
    actions = [(e["actor"], e["action"]) for e in audit["entries"] if e["action"].startswith("amendment.")]
    assert actions == [("moderator", "amendment.admit"), ("moderator", "amendment.reject"), ("admin", "amendment.adopt")]
    seqs = [e["seq"] for e in audit["entries"]]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_adopted_amendment_keeps_its_redline(world: World) -> None:
    a = await world.ok(
        "POST", f"/api/assemblies/{world.assembly}/amendments", "delegate", {"provision": world.provisions[0], "kind": "replace", "text": "The first provision, improved.", "submit": True}, status=201
    )
    await world.ok("POST", f"/api/amendments/{a['id']}/admit", "moderator", {})
    adopted = await world.ok("POST", f"/api/amendments/{a['id']}/adopt", "moderator", {})
    assert adopted["status"] == "adopted"
    ops = {seg["op"] for seg in adopted["redline"]}
    assert {"insert", "delete"} <= ops
    old = "".join(s["text"] for s in adopted["redline"] if s["op"] != "insert")
    assert old == "The first provision text."


async def test_the_list_shows_each_amendment_as_its_own_page_does(world: World) -> None:
    """The list reads authors, cosponsors and provision texts once for all its amendments; each
    entry must equal what GET /api/amendments/{id} (which reads them alone) shows."""
    a = await _admitted(world)
    b = await _admitted(world, who="delegate2", text="Another wording of the first provision.")
    await _amend(world, kind="delete", text=None, provision=world.provisions[1], submit=True)
    await _amend(world, "moderator", kind="insert_after", text="An inserted provision.", title="New")
    for who in ("delegate2", "moderator"):
        await world.ok("POST", f"/api/amendments/{a['id']}/cosponsors", who)
    await world.ok("POST", f"/api/amendments/{b['id']}/cosponsors", "delegate")
    await world.ok("POST", f"/api/amendments/{a['id']}/adopt", "moderator", {})  # b's redline moves on
    listed = await world.ok("GET", f"/api/assemblies/{world.assembly}/amendments")
    assert len(listed) == 4
    for entry in listed:
        assert entry == await world.ok("GET", f"/api/amendments/{entry['id']}")
    by_id = {e["id"]: e for e in listed}
    assert by_id[a["id"]]["cosponsors"] == ["delegate2", "moderator"] and by_id[a["id"]]["author"] == "delegate"
    assert by_id[b["id"]]["cosponsors"] == ["delegate"] and by_id[b["id"]]["author"] == "delegate2"
    assert by_id[b["id"]]["current_text"] == NEW_TEXT and by_id[a["id"]]["status"] == "adopted"
    assert await world.ok("GET", f"/api/assemblies/{world.assembly}/amendments?status=withdrawn") == []


async def test_a_rejected_amendment_keeps_the_redline_against_the_text_it_was_proposed_for(world: World) -> None:
    """Issue #17, point 9: after another amendment to the same provision is adopted, a rejected
    (or withdrawn) one still shows what it would have changed in the text its author saw."""
    adopted = await _admitted(world)
    rejected = await _admitted(world, text="A quite different provision text.")
    withdrawn = await _amend(world, submit=True, text="Another text altogether.")
    await world.ok("POST", f"/api/amendments/{rejected['id']}/reject", "moderator", {"reason": "Out of scope."})
    await world.ok("POST", f"/api/amendments/{withdrawn['id']}/withdraw", "delegate", {})
    await world.ok("POST", f"/api/amendments/{adopted['id']}/adopt", "moderator", {})
    listed = {a["id"]: a for a in await world.ok("GET", f"/api/assemblies/{world.assembly}/amendments")}

    def before(a: dict) -> str:
        return "".join(op["text"] for op in a["redline"] if op["op"] in ("equal", "delete"))

    def after(a: dict) -> str:
        return "".join(op["text"] for op in a["redline"] if op["op"] in ("equal", "insert"))

    assert before(listed[rejected["id"]]) == "The first provision text." and after(listed[rejected["id"]]) == "A quite different provision text."
    assert before(listed[withdrawn["id"]]) == "The first provision text."
    assert before(listed[adopted["id"]]) == "The first provision text." and after(listed[adopted["id"]]) == NEW_TEXT
