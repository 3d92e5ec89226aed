"""Keys at scale (issue #18): the registrar sees the pending keys of the delegates present and
approves exactly those in one action, each approval audited one by one as a single one is; the
chair console offers it with the list in its confirmation. On SQLite and PostgreSQL."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from deliberation import accounts, assemblies
from kurultai.web.auth import SESSION_COOKIE
from tests.conftest import World
from voting.core.encoding import b64u_encode
from voting.core.keys import Signer


async def register(w: World, who: str) -> str:
    signer = Signer.generate()
    r = await w.ok("POST", "/api/me/keys", who, {"assembly": w.assembly, "public_key": b64u_encode(signer.public_key_raw)}, status=201)
    return r["key_id"]


async def check_in(w: World, who: str) -> None:
    await w.ok("POST", f"/api/assemblies/{w.assembly}/presence/{who}", "moderator", {"present": True})


async def test_the_pending_keys_of_the_delegates_present_are_approved_one_by_one(world: World, app: Any) -> None:
    w = world
    here = await register(w, "delegate")
    away = await register(w, "delegate2")
    await check_in(w, "delegate")
    base = f"/api/assemblies/{w.assembly}/keys"
    assert [k["key_id"] for k in await w.ok("GET", f"{base}/pending", "moderator")] == [here, away]
    shown = await w.ok("GET", f"{base}/pending?present=1", "moderator")
    assert [(k["key_id"], k["username"], k["status"]) for k in shown] == [(here, "delegate", "pending")]

    r = await w.ok("POST", f"{base}/approve-present", "moderator", {"key_ids": [here, away, "no-such-key", here]})
    assert [(k["key_id"], k["status"], k["decided_by"]) for k in r["approved"]] == [(here, "approved", "moderator")]
    assert r["skipped"] == [{"key_id": away, "reason": "not_present"}, {"key_id": "no-such-key", "reason": "unknown"}]
    assert {k["key_id"]: k["status"] for k in await w.ok("GET", base, "moderator")} == {here: "approved", away: "pending"}
    assert await w.ok("GET", f"{base}/pending?present=1", "moderator") == []

    # Approved meanwhile: reported, not approved twice. A key the registrar did not see is left alone.
    await check_in(w, "delegate2")
    r = await w.ok("POST", f"{base}/approve-present", "moderator", {"key_ids": [here]})
    assert r == {"approved": [], "skipped": [{"key_id": here, "reason": "not_pending"}]}
    assert {k["key_id"]: k["status"] for k in await w.ok("GET", base, "moderator")}[away] == "pending"
    r = await w.ok("POST", f"{base}/approve-present", "admin", {"key_ids": [away]})
    assert [k["key_id"] for k in r["approved"]] == [away] and r["skipped"] == []

    audit = await w.ok("GET", f"/api/assemblies/{w.assembly}/audit", "moderator")
    approvals = [(e["actor"], e["payload"]) for e in audit["entries"] if e["action"] == "key.approved"]
    assert approvals == [("moderator", {"key_id": here, "user": w.users["delegate"]}), ("admin", {"key_id": away, "user": w.users["delegate2"]})]


async def test_who_may_approve_and_bad_input(world: World, app: Any) -> None:
    w = world
    ctx = app.state.ctx
    secretary = await accounts.create_user(ctx, "secretary", None)
    await assemblies.set_member(ctx, w.assembly, "seed", "secretary", "secretary")
    w.tokens["secretary"], _ = await accounts.issue_token(ctx, secretary.id, "bearer", 3_600_000)
    key = await register(w, "delegate")
    await check_in(w, "delegate")
    base = f"/api/assemblies/{w.assembly}/keys"
    for who, status in ((None, 401), ("delegate", 403), ("observer", 403), ("outsider", 403), ("secretary", 403)):
        assert (await w.call("GET", f"{base}/pending?present=1", who)).status_code == status, who
        r = await w.call("POST", f"{base}/approve-present", who, {"key_ids": [key]})
        assert r.status_code == status and r.json()["error"] in ("not_authenticated", "forbidden"), (who, r.text)
    for body in ({}, {"key_ids": "x"}, {"key_ids": [1]}, {"key_ids": [""]}, {"key_ids": ["k" * 129]}, {"key_ids": [], "more": 1}, {"key_ids": ["k"] * 10_001}):
        r = await w.call("POST", f"{base}/approve-present", "moderator", body)
        assert r.status_code in (400, 413) and "error" in r.json(), (str(body)[:40], r.text[:200])
    assert (await w.call("POST", "/api/assemblies/999999/keys/approve-present", "admin", {"key_ids": []})).status_code == 404
    assert (await w.call("GET", "/api/assemblies/999999/keys/pending", "admin")).status_code == 404
    assert (await w.ok("GET", base, "moderator"))[0]["status"] == "pending"  # nothing approved by any of it


async def test_the_chair_console_shows_the_list_before_approving(world: World, app: Any) -> None:
    w = world
    here = await register(w, "delegate")
    await register(w, "delegate2")  # not checked in: not on the list
    await check_in(w, "delegate")
    token, _ = await accounts.issue_token(app.state.ctx, w.users["moderator"], "session", 3_600_000)
    r = await w.client.get(f"/assemblies/{w.assembly}/chair", headers={"accept-language": "ru", "cookie": f"{SESSION_COOKIE}={token}"})
    assert r.status_code == 200
    form = re.search(r'<form class="api inline" data-url="/api/assemblies/\d+/keys/approve-present"[^>]*>', r.text)
    assert form, "no approve-present form"
    body = re.search(r"data-body='([^']*)'", form.group(0))
    confirm = re.search(r'data-confirm="([^"]*)"', form.group(0))
    assert body and confirm
    assert json.loads(html.unescape(body.group(1))) == {"key_ids": [here]}
    assert html.unescape(confirm.group(1)) == "Одобрить ключи этих присутствующих делегатов (1)? delegate"
    assert "Одобрить ключи присутствующих делегатов (1)" in r.text
