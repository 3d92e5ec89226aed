"""Named votes (issue #17): `named` is unsigned metadata chosen while the vote is a draft; a named
vote's register says who on the roll has voted and how many ballots each cast; a secret vote has
no register (409 `election_secret`), and the signed election object is the same either way."""

from __future__ import annotations

import json
from pathlib import Path

from tests.api.test_record import check_archive, pdf_text
from tests.api.test_record_minutes import docx_all_text
from tests.api.voting_helpers import register_and_approve, to_voting
from tests.conftest import World

YES_NO = {"kind": "yes_no", "rule": {"majority": "simple", "quorum_percent": 0}}


async def _cast(w: World, eid: str, envelope: object) -> int:
    r = await w.client.post(f"/api/elections/{eid}/ballots", content=json.dumps(envelope).encode(), headers={"content-type": "application/json"})
    return r.status_code


async def test_a_named_vote_publishes_who_has_voted(world: World) -> None:
    w = world
    first, second = [await register_and_approve(w, who) for who in ("delegate", "delegate2")]
    await to_voting(w)
    e = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", {**YES_NO, "named": True}, status=201)
    assert e["named"] is True
    r = await w.call("GET", f"/api/elections/{e['id']}/register")
    assert r.status_code == 409 and r.json()["error"] == "election_not_open" and "draft" in r.json()["detail"]
    opened = await w.ok("POST", f"/api/elections/{e['id']}/open", "moderator")
    assert opened["named"] is True and "named" not in opened["election"]["signed"]  # unsigned: PROTOCOL §3 unchanged
    reg = await w.ok("GET", f"/api/elections/{e['id']}/register")
    assert (reg["voted"], reg["roll_size"], reg["status"]) == (0, 2, "open")
    assert [(x["username"], x["ballots"], x["revision"]) for x in reg["entries"]] == [("delegate", 0, None), ("delegate2", 0, None)]
    envelope = opened["election"]
    assert await _cast(w, e["id"], first.ballot(envelope, ["yes"])) == 201
    assert await _cast(w, e["id"], first.ballot(envelope, ["no"], revision=2)) == 201
    reg = await w.ok("GET", f"/api/elections/{e['id']}/register")
    by_name = {x["username"]: x for x in reg["entries"]}
    assert reg["voted"] == 1
    assert (by_name["delegate"]["ballots"], by_name["delegate"]["revision"], by_name["delegate"]["key_id"]) == (2, 2, first.key_id)
    assert (by_name["delegate2"]["ballots"], by_name["delegate2"]["key_id"]) == (0, second.key_id)
    await w.ok("POST", f"/api/elections/{e['id']}/close", "moderator")
    assert (await w.ok("GET", f"/api/elections/{e['id']}/register"))["status"] == "closed"
    audit = await w.ok("GET", f"/api/assemblies/{w.assembly}/audit", "moderator")
    entries = {x["action"]: x["payload"] for x in audit["entries"] if x["payload"].get("election") == int(e["id"])}
    assert entries["election.created"]["named"] is True and entries["election.opened"]["named"] is True


async def test_a_secret_vote_has_no_register(world: World) -> None:
    w = world
    await register_and_approve(w, "delegate")
    await to_voting(w)
    e = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", YES_NO, status=201)
    assert e["named"] is False  # the default
    opened = await w.ok("POST", f"/api/elections/{e['id']}/open", "moderator")
    assert opened["named"] is False
    r = await w.call("GET", f"/api/elections/{e['id']}/register")
    assert r.status_code == 409 and r.json()["error"] == "election_secret" and "secret" in r.json()["detail"]
    assert (await w.call("GET", "/api/elections/999999/register")).status_code == 404
    audit = await w.ok("GET", f"/api/assemblies/{w.assembly}/audit", "moderator")
    assert next(x for x in audit["entries"] if x["action"] == "election.opened")["payload"]["named"] is False


async def test_named_is_chosen_before_the_vote_opens(world: World) -> None:
    w = world
    await register_and_approve(w, "delegate")
    await to_voting(w)
    e = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", YES_NO, status=201)
    assert (await w.ok("PATCH", f"/api/elections/{e['id']}", "moderator", {"named": True}))["named"] is True
    r = await w.call("PATCH", f"/api/elections/{e['id']}", "moderator", {"named": "yes"})
    assert r.status_code == 400
    opened = await w.ok("POST", f"/api/elections/{e['id']}/open", "moderator", {"named": False})  # the chair's last word, when opening
    assert opened["named"] is False
    r = await w.call("PATCH", f"/api/elections/{e['id']}", "moderator", {"named": True})
    assert r.status_code == 409  # frozen once open: a secret vote never becomes named
    assert (await w.ok("GET", f"/api/elections/{e['id']}"))["named"] is False
    # An assembly holds named votes or secret ones, never both: one key per delegate is used in
    # every vote, so a named vote's register would reveal the secret ballots cast with it.
    other = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", YES_NO, status=201)
    r = await w.call("POST", f"/api/elections/{other['id']}/open", "moderator", {"named": True})
    assert r.status_code == 409 and r.json()["error"] == "illegal_transition" and "secret" in r.json()["detail"]
    assert (await w.ok("GET", f"/api/elections/{other['id']}"))["status"] == "draft"
    assert (await w.ok("POST", f"/api/elections/{other['id']}/open", "moderator"))["named"] is False


async def test_an_assembly_that_held_a_named_vote_holds_no_secret_one(world: World) -> None:
    w = world
    await register_and_approve(w, "delegate")
    await to_voting(w)
    first = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", {**YES_NO, "named": True}, status=201)
    await w.ok("POST", f"/api/elections/{first['id']}/open", "moderator")
    second = await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", YES_NO, status=201)
    r = await w.call("POST", f"/api/elections/{second['id']}/open", "moderator")
    assert r.status_code == 409 and "named votes" in r.json()["detail"]
    assert (await w.ok("POST", f"/api/elections/{second['id']}/open", "moderator", {"named": True}))["named"] is True


async def test_the_archive_holds_a_named_votes_register(world: World, tmp_path: Path) -> None:
    """The open-data archive (issue #19) says which votes were named and holds the register of
    each one that opened, as GET …/register serves it (an open one's too; a named draft has no
    folder and no register; a secret vote's folder has none, see test_record); the minutes name
    who has voted and who has not."""
    w = world
    first, second = [await register_and_approve(w, who) for who in ("delegate", "delegate2")]
    await to_voting(w)
    closed, still_open, draft = [await w.ok("POST", f"/api/agenda/{w.item}/elections", "moderator", {**YES_NO, "named": True}, status=201) for _ in range(3)]
    opened = await w.ok("POST", f"/api/elections/{closed['id']}/open", "moderator")
    assert await _cast(w, closed["id"], first.ballot(opened["election"], ["yes"])) == 201
    await w.ok("POST", f"/api/elections/{closed['id']}/close", "moderator")
    opened = await w.ok("POST", f"/api/elections/{still_open['id']}/open", "moderator")
    assert await _cast(w, still_open["id"], second.ballot(opened["election"], ["no"])) == 201
    served = {e["id"]: await w.ok("GET", f"/api/elections/{e['id']}/register") for e in (closed, still_open)}
    r = await w.client.get(f"/api/assemblies/{w.assembly}/archive.zip")
    assert r.status_code == 200, r.text
    unpacked = check_archive(r.content, w.assembly, [closed["id"], still_open["id"]], tmp_path)  # register.json validates against its schema
    listed = json.loads((unpacked / "elections.json").read_text())
    assert [(x["id"], x["named"], x["directory"]) for x in listed] == [
        (closed["id"], True, f"elections/{closed['id']}/"),
        (still_open["id"], True, f"elections/{still_open['id']}/"),
        (draft["id"], True, None),
    ]
    for eid, status in ((closed["id"], "closed"), (still_open["id"], "open")):
        register = json.loads((unpacked / "elections" / eid / "register.json").read_text())
        assert register == served[eid] and (register["status"], register["voted"], register["roll_size"]) == (status, 1, 2)
    assert not (unpacked / "elections" / draft["id"]).exists()
    manifest = json.loads((unpacked / "manifest.json").read_text())
    assert manifest["format_version"] == 2
    schema = json.loads((unpacked / "schemas" / "manifest.schema.json").read_text())
    assert schema["$id"].endswith("/open-data/2/schemas/manifest.schema.json")

    # the minutes name who has voted and who has not, in each format and language
    names = {x["username"]: x["display_name"] for x in served[closed["id"]]["entries"]}
    for lang, voted, did_not, not_yet in (
        ("en", "Voted (named vote)", "Did not vote", "Not yet voted"),
        ("ru", "Проголосовали (поимённое голосование)", "Не голосовали", "Ещё не проголосовали"),
    ):
        r = await w.client.get(f"/api/assemblies/{w.assembly}/minutes.pdf", params={"lang": lang})
        assert r.status_code == 200, r.text
        text = " ".join(pdf_text(r.content, tmp_path).split())
        assert f"{voted}: {names['delegate']} {did_not}: {names['delegate2']}" in text, text[:3000]  # the closed vote
        assert f"{voted}: {names['delegate2']} {not_yet}: {names['delegate']}" in text, text[:3000]  # the open one
    r = await w.client.get(f"/api/assemblies/{w.assembly}/minutes.docx", params={"lang": "kk"})
    text = docx_all_text(r.content)
    assert f"Дауыс бергендер (атаулы дауыс беру): {names['delegate']}" in text and f"Дауыс бермегендер: {names['delegate2']}" in text
    assert f"Әлі дауыс бермегендер: {names['delegate']}" in text
