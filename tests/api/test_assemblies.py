"""Assemblies and members, every role allowed and denied."""

from __future__ import annotations

import pytest

from tests.conftest import World


async def test_list_and_get_are_public(world: World) -> None:
    listed = await world.ok("GET", "/api/assemblies")
    assert [a["title"] for a in listed] == ["Test assembly", "Other assembly"]
    got = await world.ok("GET", f"/api/assemblies/{world.assembly}")
    assert got["languages"] == ["kk", "ru", "en"]
    assert got["cosponsor_threshold"] == 2


async def test_admin_creates_assembly(world: World) -> None:
    body = {"title": "Congress", "languages": ["kk", "ru"], "titles": {"kk": "Құрылтай", "ru": "Съезд"}}
    created = await world.ok("POST", "/api/assemblies", "admin", body, status=201)
    assert created["titles"]["kk"] == "Құрылтай"
    assert created["languages"] == ["kk", "ru"]


@pytest.mark.parametrize("who,status", [(None, 401), ("moderator", 403), ("delegate", 403), ("observer", 403)])
async def test_only_admin_creates_assembly(world: World, who: str | None, status: int) -> None:
    r = await world.call("POST", "/api/assemblies", who, {"title": "x"})
    assert r.status_code == status
    assert r.json()["error"] in ("not_authenticated", "forbidden")


async def test_moderator_updates_assembly_and_it_is_audited(world: World) -> None:
    updated = await world.ok("PATCH", f"/api/assemblies/{world.assembly}", "moderator", {"description": "New", "cosponsor_threshold": 3})
    assert updated["description"] == "New" and updated["cosponsor_threshold"] == 3
    audit = await world.ok("GET", f"/api/assemblies/{world.assembly}/audit", "moderator")
    assert audit["verified"] is True
    assert audit["entries"][-1]["action"] == "assembly.updated"
    assert audit["entries"][-1]["actor"] == "moderator"


@pytest.mark.parametrize("who,status", [(None, 401), ("delegate", 403), ("observer", 403), ("outsider", 403)])
async def test_update_assembly_denied(world: World, who: str | None, status: int) -> None:
    r = await world.call("PATCH", f"/api/assemblies/{world.assembly}", who, {"description": "x"})
    assert r.status_code == status


async def test_members_set_and_remove(world: World) -> None:
    m = await world.ok("POST", f"/api/assemblies/{world.assembly}/members", "moderator", {"username": "outsider", "role": "observer"})
    assert m["role"] == "observer"
    members = await world.ok("GET", f"/api/assemblies/{world.assembly}/members")
    assert {x["username"]: x["role"] for x in members}["outsider"] == "observer"
    r = await world.call("DELETE", f"/api/assemblies/{world.assembly}/members/outsider", "moderator")
    assert r.status_code == 204
    members = await world.ok("GET", f"/api/assemblies/{world.assembly}/members")
    assert "outsider" not in {x["username"] for x in members}


async def test_member_errors(world: World) -> None:
    r = await world.call("POST", f"/api/assemblies/{world.assembly}/members", "moderator", {"username": "nobody", "role": "delegate"})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await world.call("POST", f"/api/assemblies/{world.assembly}/members", "moderator", {"username": "delegate", "role": "king"})
    assert r.status_code == 400 and "role must be one of" in r.json()["detail"]
    r = await world.call("POST", f"/api/assemblies/{world.assembly}/members", "delegate", {"username": "delegate2", "role": "moderator"})
    assert r.status_code == 403


async def test_unknown_assembly_is_404(world: World) -> None:
    for path in ("/api/assemblies/9999", "/api/assemblies/9999/agenda", "/api/assemblies/99999999999999999999/document"):
        r = await world.call("GET", path)
        assert r.status_code == 404, path
        assert r.json()["error"] == "not_found"


async def test_audit_log_needs_moderator(world: World) -> None:
    for who in (None, "delegate", "observer", "outsider"):
        r = await world.call("GET", f"/api/assemblies/{world.assembly}/audit", who)
        assert r.status_code in (401, 403), who
    r = await world.call("GET", "/api/audit", "moderator")
    assert r.status_code == 403
    glob = await world.ok("GET", "/api/audit", "admin")
    assert glob["verified"] is True
    assert [e["action"] for e in glob["entries"]].count("user.created") == 6
