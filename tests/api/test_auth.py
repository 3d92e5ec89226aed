"""Accounts: users, passwords, bearer tokens, expiry, invitations, cookie sessions with CSRF and
the login throttle (tests/api/test_login_throttle.py). Password hashing (argon2) is slow, so each test hashes as little as it can."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kurultai.web.auth import CSRF_COOKIE, SESSION_COOKIE
from kurultai.settings import Settings
from tests.conftest import Clock, World

PASSWORD = "correct horse battery"


async def _login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/api/auth/token", json={"username": username, "password": password})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_create_user_login_me_and_revoke(world: World) -> None:
    u = await world.ok("POST", "/api/users", "admin", {"username": "aliya", "password": PASSWORD, "display_name": "Aliya"}, status=201)
    assert u == {"id": u["id"], "username": "aliya", "display_name": "Aliya", "is_admin": False}
    r = await _login(world.client, "aliya", PASSWORD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 12 * 3600
    token = body["token"]
    me = (await world.client.get("/api/me", headers=_bearer(token))).json()
    assert me["username"] == "aliya" and me["memberships"] == {}
    r = await world.client.delete("/api/auth/token", headers=_bearer(token))
    assert r.status_code == 204
    r = await world.client.get("/api/me", headers=_bearer(token))
    assert r.status_code == 401 and r.json()["error"] == "not_authenticated"
    r = await world.client.delete("/api/auth/token")
    assert r.status_code == 401 and r.json()["error"] == "not_authenticated"


async def test_wrong_password_and_unknown_user(world: World) -> None:
    await world.ok("POST", "/api/users", "admin", {"username": "berik", "password": PASSWORD}, status=201)
    for username, password in (("berik", "wrong password"), ("nobody", PASSWORD), ("delegate", PASSWORD)):
        r = await _login(world.client, username, password)
        assert r.status_code == 401, username
        assert r.json() == {"error": "bad_credentials", "detail": "unknown username or wrong password"}


async def test_me_lists_memberships(world: World) -> None:
    me = await world.ok("GET", "/api/me", "delegate")
    assert me["username"] == "delegate" and me["is_admin"] is False
    assert me["memberships"] == {str(world.assembly): "delegate"}
    me = await world.ok("GET", "/api/me", "admin")
    assert me["is_admin"] is True and me["memberships"] == {}
    r = await world.call("GET", "/api/me")
    assert r.status_code == 401 and r.json()["error"] == "not_authenticated"


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer    ", "Bearer unknown-token", "token"])
async def test_bad_authorization_headers(world: World, header: str) -> None:
    r = await world.client.get("/api/me", headers={"Authorization": header})
    assert r.status_code == 401 and r.json()["error"] == "not_authenticated"


async def test_expired_token(world: World, clock: Clock, settings: Settings) -> None:
    await world.ok("GET", "/api/me", "delegate")
    clock.advance(3_600_000)  # the world's tokens live one hour
    r = await world.call("GET", "/api/me", "delegate")
    assert r.status_code == 401 and "expired" in r.json()["detail"]


async def test_login_token_expires_after_ttl(world: World, clock: Clock, settings: Settings) -> None:
    await world.ok("POST", "/api/users", "admin", {"username": "chingiz", "password": PASSWORD}, status=201)
    token = (await _login(world.client, "chingiz", PASSWORD)).json()["token"]
    ttl_ms = settings.token_ttl_hours * 3600 * 1000
    clock.advance(ttl_ms - 1)
    assert (await world.client.get("/api/me", headers=_bearer(token))).status_code == 200
    clock.advance(1)
    r = await world.client.get("/api/me", headers=_bearer(token))
    assert r.status_code == 401 and r.json()["error"] == "not_authenticated"


async def test_user_creation_errors(world: World) -> None:
    cases: list[tuple[str | None, dict[str, Any], int, str]] = [
        (None, {"username": "x1"}, 401, "not_authenticated"),
        ("moderator", {"username": "x1"}, 403, "forbidden"),
        ("delegate", {"username": "x1", "is_admin": True}, 403, "forbidden"),
        ("admin", {"username": "delegate"}, 409, "conflict"),
        ("admin", {"username": "has space"}, 400, "invalid_input"),
        ("admin", {"username": "x"}, 400, "invalid_input"),
        ("admin", {"username": "shortpw", "password": "short"}, 400, "invalid_input"),
    ]
    for who, body, status, code in cases:
        r = await world.call("POST", "/api/users", who, body)
        assert r.status_code == status, (who, body, r.text)
        assert r.json()["error"] == code
    glob = await world.ok("GET", "/api/audit", "admin")
    assert [e["action"] for e in glob["entries"]].count("user.created") == 6


async def test_get_user(world: World) -> None:
    me = await world.ok("GET", f"/api/users/{world.users['delegate']}", "delegate")
    assert me["username"] == "delegate"
    r = await world.call("GET", f"/api/users/{world.users['delegate2']}", "delegate")
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert (await world.ok("GET", f"/api/users/{world.users['delegate2']}", "admin"))["username"] == "delegate2"
    for uid in ("9999", str(2**70)):
        r = await world.call("GET", f"/api/users/{uid}", "admin")
        assert r.status_code == 404 and r.json()["error"] == "not_found"


async def test_invitation(world: World) -> None:
    u = await world.ok("POST", "/api/users", "admin", {"username": "dana"}, status=201)
    r = await _login(world.client, "dana", "")  # no password yet: cannot log in
    assert r.status_code == 401 and r.json()["error"] == "bad_credentials"
    for who, status in (("moderator", 403), ("delegate", 403), (None, 401)):
        r = await world.call("POST", f"/api/users/{u['id']}/invite", who, {})
        assert r.status_code == status, who
    inv = await world.ok("POST", f"/api/users/{u['id']}/invite", "admin", {"assembly": world.assembly, "role": "delegate"}, status=201)
    assert inv["username"] == "dana" and inv["url"] == f"http://testserver/invite/{inv['token']}"
    members = await world.ok("GET", f"/api/assemblies/{world.assembly}/members")
    assert {m["username"]: m["role"] for m in members}["dana"] == "delegate"
    r = await world.client.post("/api/auth/invite", json={"token": inv["token"], "password": "short"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    r = await world.client.post("/api/auth/invite", json={"token": inv["token"], "password": PASSWORD})
    assert r.status_code == 200 and r.json()["username"] == "dana"
    r = await world.client.post("/api/auth/invite", json={"token": inv["token"], "password": "another password"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input" and "unknown, used or expired" in r.json()["detail"]
    r = await _login(world.client, "dana", PASSWORD)
    assert r.status_code == 200
    me = (await world.client.get("/api/me", headers=_bearer(r.json()["token"]))).json()
    assert me["memberships"] == {str(world.assembly): "delegate"}
    glob = await world.ok("GET", "/api/audit", "admin")
    assert [e["action"] for e in glob["entries"]][-2:] == ["user.invited", "user.password_set"]


async def test_invitation_errors(world: World, clock: Clock) -> None:
    uid = world.users["observer"]
    r = await world.call("POST", "/api/users/9999/invite", "admin", {})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await world.call("POST", f"/api/users/{uid}/invite", "admin", {"assembly": 9999})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await world.call("POST", f"/api/users/{uid}/invite", "admin", {"assembly": world.assembly, "role": "king"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    r = await world.client.post("/api/auth/invite", json={"token": "not-a-token", "password": PASSWORD})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    inv = await world.ok("POST", f"/api/users/{uid}/invite", "admin", {}, status=201)
    clock.advance(7 * 24 * 3600 * 1000)  # invitations last a week
    r = await world.client.post("/api/auth/invite", json={"token": inv["token"], "password": PASSWORD})
    assert r.status_code == 400 and "expired" in r.json()["detail"]


async def _session(world: World, app: Any, who: str) -> tuple[str, str]:
    """A browser session issued by the service (the form login is tested in test_pages)."""
    from deliberation import accounts

    return await accounts.issue_token(app.state.ctx, world.users[who], "session", 3_600_000)


async def test_cookie_session_needs_csrf_header(world: World, app: Any) -> None:
    token, csrf = await _session(world, app, "moderator")
    c = world.client
    c.cookies.set(SESSION_COOKIE, token)
    c.cookies.set(CSRF_COOKIE, csrf)
    try:
        me = (await c.get("/api/me")).json()  # safe methods need no CSRF header
        assert me["username"] == "moderator"
        path = f"/api/assemblies/{world.assembly}"
        r = await c.patch(path, json={"description": "via cookie"})
        assert r.status_code == 403 and r.json()["error"] == "csrf_failed"
        r = await c.patch(path, json={"description": "via cookie"}, headers={"x-csrf-token": "something else"})
        assert r.status_code == 403 and r.json()["error"] == "csrf_failed"
        assert (await c.get(path)).json()["description"] == ""
        r = await c.patch(path, json={"description": "via cookie"}, headers={"x-csrf-token": csrf})
        assert r.status_code == 200 and r.json()["description"] == "via cookie"
        c.cookies.delete(CSRF_COOKIE)
        r = await c.patch(path, json={"description": "x"}, headers={"x-csrf-token": ""})
        assert r.status_code == 403 and r.json()["error"] == "csrf_failed"
        # The token is bound to the session: without the CSRF cookie the session's token still
        # works, and a cookie planted by someone else (with a header to match) does not.
        r = await c.patch(path, json={"description": "no cookie"}, headers={"x-csrf-token": csrf})
        assert r.status_code == 200 and r.json()["description"] == "no cookie"
        c.cookies.set(CSRF_COOKIE, "planted-by-a-sibling-domain")
        r = await c.patch(path, json={"description": "planted"}, headers={"x-csrf-token": "planted-by-a-sibling-domain"})
        assert r.status_code == 403 and r.json()["error"] == "csrf_failed"
        # another session's token does not open this one
        _other, other_csrf = await _session(world, app, "moderator")
        r = await c.patch(path, json={"description": "other"}, headers={"x-csrf-token": other_csrf})
        assert r.status_code == 403 and r.json()["error"] == "csrf_failed"
        assert (await c.get(path)).json()["description"] == "no cookie"
    finally:
        c.cookies.clear()


async def test_bearer_token_is_not_a_session_and_back(world: World, app: Any) -> None:
    token, csrf = await _session(world, app, "delegate")
    r = await world.client.get("/api/me", headers=_bearer(token))  # a session is not a bearer token
    assert r.status_code == 401
    world.client.cookies.set(SESSION_COOKIE, world.tokens["delegate"])  # nor a bearer token a session
    try:
        r = await world.client.get("/api/me")
        assert r.status_code == 401
    finally:
        world.client.cookies.clear()
