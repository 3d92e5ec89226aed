"""Server-rendered pages: content, escaping, form login with CSRF, cookies and security headers."""

from __future__ import annotations

import re
from typing import Any

import httpx

from kurultai.web.auth import CSRF_COOKIE, SESSION_COOKIE
from tests.conftest import World

PASSWORD = "page password 1"
EVIL = "<script>alert('x')</script>"


def _set_cookie_headers(r: httpx.Response, name: str) -> list[str]:
    return [h for h in r.headers.get_list("set-cookie") if h.startswith(f"{name}=")]


def _form_csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no csrf_token field"
    return m.group(1)


async def _form_user(world: World, app: Any, name: str = "formuser") -> None:
    from deliberation import accounts, assemblies

    await accounts.create_user(app.state.ctx, name, PASSWORD)
    await assemblies.set_member(app.state.ctx, world.assembly, "seed", name, "delegate")


async def test_index_lists_assemblies_escaped(world: World) -> None:
    await world.ok("POST", "/api/assemblies", "admin", {"title": f"Evil {EVIL}", "description": EVIL, "titles": {"ru": "Съезд"}}, status=201)
    r = await world.client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert f'<a href="/assemblies/{world.assembly}">Test assembly</a>' in r.text
    assert "Other assembly" in r.text and "Съезд" in r.text
    assert "<script>" not in r.text and "&lt;script&gt;" in r.text


async def test_assembly_page(world: World) -> None:
    a = world.assembly
    await world.ok("POST", f"/api/agenda/{world.item}/phase", "moderator", {"phase": "debate"})
    await world.ok("POST", f"/api/assemblies/{a}/agenda", "moderator", {"title": f"Item {EVIL}", "description": EVIL}, status=201)
    await world.ok("PATCH", f"/api/provisions/{world.provisions[2]}", "moderator", {"text": f"Third {EVIL} text."})
    am = await world.ok(
        "POST",
        f"/api/assemblies/{a}/amendments",
        "delegate",
        {"provision": world.provisions[0], "kind": "replace", "text": "The first <b>changed</b> text.", "title": EVIL, "rationale": EVIL},
        status=201,
    )
    await world.ok("POST", f"/api/assemblies/{a}/comments", "delegate2", {"provision": world.provisions[1], "text": f"Comment {EVIL}", "stance": "against"}, status=201)
    await world.ok("POST", f"/api/assemblies/{a}/comments", "delegate", {"amendment": am["id"], "text": "On the amendment.", "stance": "for"}, status=201)
    r = await world.client.get(f"/assemblies/{a}")
    assert r.status_code == 200
    html = r.text
    assert '<span class="phase phase-debate">debate</span>' in html
    assert '<span class="phase phase-pending">pending</span>' in html
    assert "The second provision text." in html and "Title 1" in html
    assert f'id="amendment-{am["id"]}"' in html
    assert "<del>provision</del>" in html and "<ins>&lt;b&gt;changed&lt;/b&gt;</ins>" in html
    assert "On the amendment." in html and "stance-against" in html
    assert "<script>" not in html and "<b>" not in html
    assert html.count("&lt;script&gt;") >= 6  # item title and description, provision, amendment title and rationale, comment
    r = await world.client.get("/assemblies/9999")
    assert r.status_code == 404


async def test_security_headers(world: World) -> None:
    for path in ("/", f"/assemblies/{world.assembly}", "/login", "/api/assemblies", "/api/nothing"):
        r = await world.client.get(path)
        csp = r.headers["content-security-policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "same-origin"


async def test_form_login_logout(world: World, app: Any) -> None:
    await _form_user(world, app)
    c = world.client
    try:
        r = await c.get("/login?next=/assemblies/1")
        assert r.status_code == 200
        [csrf_cookie] = _set_cookie_headers(r, CSRF_COOKIE)
        assert "HttpOnly" in csrf_cookie and "SameSite=strict" in csrf_cookie.replace("Strict", "strict")
        csrf = c.cookies[CSRF_COOKIE]
        assert _form_csrf(r.text) == csrf
        assert 'name="next" value="/assemblies/1"' in r.text
        # a second visit keeps the same token
        r = await c.get("/login")
        assert _form_csrf(r.text) == csrf and not _set_cookie_headers(r, CSRF_COOKIE)

        form = {"username": "formuser", "password": PASSWORD, "next": "/assemblies/1"}
        r = await c.post("/login", data={**form, "csrf_token": "forged"})
        assert r.status_code == 403 and "The form expired" in r.text and SESSION_COOKIE not in c.cookies
        r = await c.post("/login", data={**form, "password": "wrong password", "csrf_token": csrf})
        assert r.status_code == 401 and "wrong password" in r.text and SESSION_COOKIE not in c.cookies

        r = await c.post("/login", data={**form, "csrf_token": csrf})
        assert r.status_code == 303 and r.headers["location"] == "/assemblies/1"
        [session] = _set_cookie_headers(r, SESSION_COOKIE)
        assert "HttpOnly" in session and "samesite=lax" in session.lower() and "Path=/" in session
        assert "Max-Age=43200" in session
        token = c.cookies[SESSION_COOKIE]
        # login rotates the CSRF token to the session's own; the one from before login is spent
        [rotated] = _set_cookie_headers(r, CSRF_COOKIE)
        assert "HttpOnly" in rotated
        anonymous_csrf, csrf = csrf, c.cookies[CSRF_COOKIE]
        assert csrf != anonymous_csrf

        page = await c.get("/")
        assert "formuser" in page.text and 'action="/logout"' in page.text
        assert _form_csrf(page.text) == csrf and f'<meta name="csrf-token" content="{csrf}">' in page.text
        me = (await c.get("/api/me")).json()
        assert me["username"] == "formuser"
        # the cookie session may write with the CSRF header only
        body = {"provision": world.provisions[0], "text": "via the browser"}
        r = await c.post(f"/api/assemblies/{world.assembly}/comments", json=body)
        assert r.status_code == 403 and r.json()["error"] == "csrf_failed"
        r = await c.post(f"/api/assemblies/{world.assembly}/comments", json=body, headers={"x-csrf-token": anonymous_csrf})
        assert r.status_code == 403 and r.json()["error"] == "csrf_failed"
        r = await c.post(f"/api/assemblies/{world.assembly}/comments", json=body, headers={"x-csrf-token": csrf})
        assert r.status_code == 201 and r.json()["author"] == "formuser"

        # logout without the token does nothing
        r = await c.post("/logout", data={"csrf_token": "forged"})
        assert r.status_code == 303 and (await c.get("/api/me")).status_code == 200
        c.cookies.delete(CSRF_COOKIE)
        c.cookies.set(CSRF_COOKIE, "planted")  # a planted cookie and a field to match: still refused
        r = await c.post("/logout", data={"csrf_token": "planted"})
        assert r.status_code == 303 and (await c.get("/api/me")).status_code == 200
        r = await c.post("/logout", data={"csrf_token": csrf})
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert SESSION_COOKIE not in c.cookies
        c.cookies.set(SESSION_COOKIE, token)  # the old session is revoked on the server
        r = await c.get("/api/me")
        assert r.status_code == 401
    finally:
        c.cookies.clear()


async def test_login_refuses_open_redirects_and_bad_fields(world: World, app: Any) -> None:
    c = world.client
    try:
        r = await c.get("/login?next=//evil.example/x")
        csrf = c.cookies[CSRF_COOKIE]
        assert 'name="next" value="/"' in r.text
        for username in ("no\x00body", "x" * 500):
            r = await c.post("/login", data={"username": username, "password": "p", "csrf_token": csrf, "next": "https://evil.example"})
            assert r.status_code == 401, r.text
        r = await c.post("/login", data={"csrf_token": csrf})
        assert r.status_code == 401
        r = await c.post("/login", data={"username": "a", "password": "b"})  # no token at all
        assert r.status_code == 403
    finally:
        c.cookies.clear()


async def test_invite_page(world: World) -> None:
    u = await world.ok("POST", "/api/users", "admin", {"username": "invitee"}, status=201)
    inv = await world.ok("POST", f"/api/users/{u['id']}/invite", "admin", {"assembly": world.assembly}, status=201)
    c = world.client
    try:
        r = await c.get(f"/invite/{inv['token']}")
        assert r.status_code == 200 and f'action="/invite/{inv["token"]}"' in r.text
        csrf = _form_csrf(r.text)
        assert csrf == c.cookies[CSRF_COOKIE]
        r = await c.post(f"/invite/{inv['token']}", data={"password": PASSWORD, "csrf_token": "forged"})
        assert r.status_code == 403
        r = await c.post(f"/invite/{inv['token']}", data={"password": "short", "csrf_token": csrf})
        assert r.status_code == 400 and "password must be" in r.text
        r = await c.post(f"/invite/{inv['token']}", data={"password": PASSWORD, "csrf_token": csrf})
        assert r.status_code == 303 and r.headers["location"] == f"/assemblies/{world.assembly}", r.text  # logged in, on the assembly
        assert c.cookies.get(SESSION_COOKIE) and (await c.get("/api/me")).json()["username"] == "invitee"
        c.cookies.clear()
        csrf = _form_csrf((await c.get(f"/invite/{inv['token']}")).text)
        r = await c.post(f"/invite/{inv['token']}", data={"password": PASSWORD, "csrf_token": csrf})
        assert r.status_code == 400 and "unknown, used or expired" in r.text
        r = await c.get(f"/invite/{EVIL}")
        assert "<script>" not in r.text
    finally:
        c.cookies.clear()
    r = await c.post("/api/auth/token", json={"username": "invitee", "password": PASSWORD})
    assert r.status_code == 200


async def test_a_browser_gets_error_pages_in_its_language_and_the_api_gets_json(world: World) -> None:
    """Issue #17, point 8: a browser's 404 is a page in its language, not raw JSON; API clients
    (and browsers' fetches of the API) keep the JSON body."""
    for lang, heading in (("ru", "Страница не найдена"), ("kk", "Бет табылмады"), ("en", "Page not found")):
        r = await world.client.get("/assemblies/999999", headers={"accept": "text/html,application/xhtml+xml", "accept-language": lang})
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), r.text[:200]
        assert f"<h1>{heading}</h1>" in r.text and f'<html lang="{lang}">' in r.text
    r = await world.client.get("/assemblies/not-a-number", headers={"accept": "text/html", "accept-language": "ru"})
    assert r.status_code in (400, 404) and "text/html" in r.headers["content-type"]
    r = await world.client.get("/api/assemblies/999999", headers={"accept": "text/html"})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await world.client.get("/assemblies/999999")  # no text/html asked for: JSON, as before
    assert r.status_code == 404 and r.json()["error"] == "not_found"


async def test_the_heading_uses_the_title_in_the_page_language(world: World) -> None:
    await world.ok("PATCH", f"/api/assemblies/{world.assembly}", "moderator", {"titles": {"ru": "Рабочая группа", "kk": "Жұмыс тобы"}})
    for lang, title in (("ru", "Рабочая группа"), ("kk", "Жұмыс тобы")):
        r = await world.client.get(f"/assemblies/{world.assembly}", headers={"accept": "text/html", "accept-language": lang})
        assert f"<h1>{title}</h1>" in r.text


async def test_the_chairs_amendment_list_names_the_article(world: World, app: Any) -> None:
    from deliberation import accounts
    from deliberation.tables import User

    await User.update({User.display_name: "Әсел Нұрланова"}).where(User.id == world.users["delegate"])
    a = await world.ok(
        "POST", f"/api/assemblies/{world.assembly}/amendments", "delegate", {"provision": world.provisions[1], "kind": "replace", "text": "New.", "title": "Shorter", "submit": True}, status=201
    )
    token, _ = await accounts.issue_token(app.state.ctx, world.users["moderator"], "session", 3_600_000)
    r = await world.client.get(f"/assemblies/{world.assembly}/chair", headers={"accept-language": "ru", "cookie": f"{SESSION_COOKIE}={token}"})
    item = re.search(rf'<li class="amendment status-submitted" id="chair-amendment-{a["id"]}">(.*?)</li>', r.text, re.S)
    assert item is not None and "Статья 2" in item.group(1), r.text[:500]
    assert "Әсел Нұрланова" in item.group(1) and ">delegate<" not in item.group(1), "the author by name, not login"
