"""The draft: provisions, numbering, version history, the document at any version and exports."""

from __future__ import annotations

import pytest

from tests.conftest import World


def _numbers(doc: dict) -> list[str]:
    return [p["number"] for p in doc["provisions"]]


async def test_document_of_the_seeded_draft(world: World) -> None:
    doc = await world.ok("GET", f"/api/assemblies/{world.assembly}/document")
    assert doc["version"] == doc["current_version"] == 3
    assert _numbers(doc) == ["1", "2", "3"]
    assert doc["provisions"][0] == {
        "id": world.provisions[0],
        "number": "1",
        "kind": "article",
        "title": "Title 1",
        "text": "The first provision text.",
        "version": 1,
    }


@pytest.mark.parametrize("who", ["moderator", "admin"])
async def test_moderator_creates_provision(world: World, who: str) -> None:
    body = {"number": "4", "kind": "paragraph", "title": "Fourth", "text": "Four."}
    p = await world.ok("POST", f"/api/assemblies/{world.assembly}/provisions", who, body, status=201)
    assert (p["number"], p["kind"], p["title"], p["text"], p["deleted"]) == ("4", "paragraph", "Fourth", "Four.", False)
    assert [h["document_version"] for h in p["history"]] == [4]
    doc = await world.ok("GET", f"/api/assemblies/{world.assembly}/document")
    assert _numbers(doc) == ["1", "2", "3", "4"] and doc["version"] == 4


@pytest.mark.parametrize(
    "who,status,code",
    [(None, 401, "not_authenticated"), ("delegate", 403, "forbidden"), ("observer", 403, "forbidden"), ("outsider", 403, "forbidden")],
)
async def test_create_provision_denied(world: World, who: str | None, status: int, code: str) -> None:
    r = await world.call("POST", f"/api/assemblies/{world.assembly}/provisions", who, {"number": "9", "text": "x"})
    assert r.status_code == status and r.json()["error"] == code
    doc = await world.ok("GET", f"/api/assemblies/{world.assembly}/document")
    assert doc["current_version"] == 3


async def test_provision_errors(world: World) -> None:
    path = f"/api/assemblies/{world.assembly}/provisions"
    r = await world.call("POST", path, "moderator", {"number": "1", "text": "dup"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input" and "already exists" in r.json()["detail"]
    r = await world.call("POST", path, "moderator", {"text": "no number, no after"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    r = await world.call("POST", path, "moderator", {"number": "5", "kind": "chapter", "text": "x"})
    assert r.status_code == 400 and "kind" in r.json()["detail"]
    r = await world.call("POST", path, "moderator", {"text": "x", "after": 9999})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await world.call("POST", "/api/assemblies/9999/provisions", "admin", {"number": "1", "text": "x"})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    # a provision of another assembly cannot anchor an insertion here
    other = await world.ok("POST", f"/api/assemblies/{world.other_assembly}/provisions", "admin", {"number": "1", "text": "elsewhere"}, status=201)
    r = await world.call("POST", path, "moderator", {"text": "x", "after": other["id"]})
    assert r.status_code in (400, 404), r.text
    assert r.json()["error"] in ("invalid_input", "not_found")
    doc = await world.ok("GET", f"/api/assemblies/{world.assembly}/document")
    assert doc["current_version"] == 3 and _numbers(doc) == ["1", "2", "3"]


async def test_insert_after_derives_number_and_position(world: World) -> None:
    path = f"/api/assemblies/{world.assembly}/provisions"
    a = await world.ok("POST", path, "moderator", {"text": "Inserted.", "after": world.provisions[0]}, status=201)
    assert a["number"] == "1a"
    b = await world.ok("POST", path, "moderator", {"text": "Inserted again.", "after": world.provisions[0]}, status=201)
    assert b["number"] == "1b"
    c = await world.ok("POST", path, "moderator", {"text": "After 1a.", "after": a["id"]}, status=201)
    assert c["number"] == "1aa"
    doc = await world.ok("GET", f"/api/assemblies/{world.assembly}/document")
    # each insertion lands right after its anchor
    assert _numbers(doc) == ["1", "1b", "1a", "1aa", "2", "3"]
    # the earlier version does not contain the later insertions
    doc4 = await world.ok("GET", f"/api/assemblies/{world.assembly}/document?version=4")
    assert _numbers(doc4) == ["1", "1a", "2", "3"]


async def test_many_inserts_at_one_place_keep_order(world: World) -> None:
    """Repeated insertion right after the same anchor exhausts the gap and forces a respacing."""
    path = f"/api/assemblies/{world.assembly}/provisions"
    anchor = world.provisions[0]
    for i in range(12):
        await world.ok("POST", path, "moderator", {"number": f"x{i}", "text": f"x{i}", "after": anchor}, status=201)
    doc = await world.ok("GET", f"/api/assemblies/{world.assembly}/document")
    assert _numbers(doc) == ["1", *[f"x{i}" for i in reversed(range(12))], "2", "3"]
    for v in range(4, 16):  # every intermediate version is consistent too
        d = await world.ok("GET", f"/api/assemblies/{world.assembly}/document?version={v}")
        assert _numbers(d) == ["1", *[f"x{i}" for i in reversed(range(v - 3))], "2", "3"]


async def test_edit_creates_new_version_and_history(world: World) -> None:
    pid = world.provisions[1]
    p = await world.ok("PATCH", f"/api/provisions/{pid}", "moderator", {"text": "The second, edited."})
    assert p["text"] == "The second, edited." and p["title"] == "Title 2"
    p = await world.ok("PATCH", f"/api/provisions/{pid}", "moderator", {"title": "Renamed"})
    assert p["text"] == "The second, edited." and p["title"] == "Renamed"
    got = await world.ok("GET", f"/api/provisions/{pid}")
    assert [(h["document_version"], h["title"], h["text"]) for h in got["history"]] == [
        (2, "Title 2", "The second provision text."),
        (4, "Title 2", "The second, edited."),
        (5, "Renamed", "The second, edited."),
    ]
    for version, text in ((3, "The second provision text."), (4, "The second, edited."), (5, "The second, edited.")):
        doc = await world.ok("GET", f"/api/assemblies/{world.assembly}/document?version={version}")
        assert doc["provisions"][1]["text"] == text
    audit = await world.ok("GET", f"/api/assemblies/{world.assembly}/audit", "moderator")
    assert [e["action"] for e in audit["entries"]][-2:] == ["provision.edited", "provision.edited"]
    assert audit["verified"] is True


async def test_delete_provision(world: World) -> None:
    pid = world.provisions[2]
    p = await world.ok("PATCH", f"/api/provisions/{pid}", "moderator", {"delete": True})
    assert p["deleted"] is True and p["text"] is None
    doc = await world.ok("GET", f"/api/assemblies/{world.assembly}/document")
    assert _numbers(doc) == ["1", "2"] and doc["version"] == 4
    old = await world.ok("GET", f"/api/assemblies/{world.assembly}/document?version=3")
    assert _numbers(old) == ["1", "2", "3"]
    r = await world.call("PATCH", f"/api/provisions/{pid}", "moderator", {"text": "revive"})
    assert r.status_code == 400 and "deleted" in r.json()["detail"]
    r = await world.call("PATCH", f"/api/provisions/{pid}", "moderator", {"delete": True})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    audit = await world.ok("GET", f"/api/assemblies/{world.assembly}/audit", "moderator")
    assert audit["entries"][-1]["action"] == "provision.deleted"


async def test_edit_errors_and_denials(world: World) -> None:
    pid = world.provisions[0]
    r = await world.call("PATCH", f"/api/provisions/{pid}", "moderator", {})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    r = await world.call("PATCH", "/api/provisions/9999", "moderator", {"text": "x"})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    for who, status in ((None, 401), ("delegate", 403), ("observer", 403), ("outsider", 403)):
        r = await world.call("PATCH", f"/api/provisions/{pid}", who, {"text": "hijack"})
        assert r.status_code == status, who
    got = await world.ok("GET", f"/api/provisions/{pid}")
    assert got["text"] == "The first provision text." and len(got["history"]) == 1
    r = await world.call("GET", "/api/provisions/9999")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


@pytest.mark.parametrize("version", ["-1", "4", "1000", str(2**70)])
async def test_bad_versions(world: World, version: str) -> None:
    for suffix in ("document", "document.md", "document.html"):
        r = await world.call("GET", f"/api/assemblies/{world.assembly}/{suffix}?version={version}")
        assert r.status_code == 400, (suffix, r.text)
        assert r.json()["error"] in ("invalid_input", "bad_request")


async def test_non_integer_version(world: World) -> None:
    r = await world.call("GET", f"/api/assemblies/{world.assembly}/document?version=two")
    assert r.status_code == 400
    assert set(r.json()) == {"error", "detail"}


async def test_version_zero_is_empty(world: World) -> None:
    doc = await world.ok("GET", f"/api/assemblies/{world.assembly}/document?version=0")
    assert doc["provisions"] == [] and doc["version"] == 0 and doc["current_version"] == 3


async def test_markdown_and_html_export_escape(world: World) -> None:
    evil = "Before <script>alert('x')</script> & *stars* # hash"
    await world.ok("PATCH", f"/api/provisions/{world.provisions[0]}", "moderator", {"text": evil, "title": "<b>T</b>"})
    r = await world.call("GET", f"/api/assemblies/{world.assembly}/document.md")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown")
    md = r.text
    assert md.startswith("# Test assembly\n")
    assert "*Consolidated text, version 4.*" in md
    assert "<script>" not in md and "\\<script\\>" in md
    assert "\\*stars\\*" in md
    assert "## Article 2. Title 2" in md
    r = await world.call("GET", f"/api/assemblies/{world.assembly}/document.html")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;T&lt;/b&gt;" in page
    assert "The second provision text." in page
    # an older version is exported as it was
    old = (await world.call("GET", f"/api/assemblies/{world.assembly}/document.md?version=3")).text
    assert "The first provision text." in old and "script" not in old
    assert "*Consolidated text, version 3.*" in old


async def test_exports_of_unknown_assembly(world: World) -> None:
    for suffix in ("document", "document.md", "document.html"):
        r = await world.call("GET", f"/api/assemblies/9999/{suffix}")
        assert r.status_code == 404 and r.json()["error"] == "not_found"


async def test_a_provision_is_edited_directly_only_until_its_debate_opens(world: World) -> None:
    """Issue #18: editable (versioned) until the debate of its item opens; then only amendments
    change it. A provision on no item stays editable."""
    on_item, free = world.provisions[0], world.provisions[2]
    await world.ok("PATCH", f"/api/provisions/{on_item}", "moderator", {"text": "Edited while pending."})
    await world.ok("POST", f"/api/agenda/{world.item}/phase", "moderator", {"phase": "debate"})
    for body in ({"text": "Edited in the debate."}, {"title": "Renamed"}, {"delete": True}):
        r = await world.call("PATCH", f"/api/provisions/{on_item}", "moderator", body)
        assert r.status_code == 409 and r.json()["error"] == "illegal_transition", r.text
    got = await world.ok("GET", f"/api/provisions/{on_item}")
    assert got["text"] == "Edited while pending." and got["title"] == "Title 1"
    await world.ok("PATCH", f"/api/provisions/{free}", "moderator", {"text": "Still editable."})
