"""Security hygiene (issue #7): cookie flags, CSRF on every form and every cookie-authenticated
write, security headers (a CSP without 'unsafe-inline') on pages, API answers and errors, and the
ballot rate limits per client address and per voter key. SQLite only."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from kurultai.web.throttle import DEVICE_COOKIE
from kurultai.web.auth import CSRF_COOKIE, SESSION_COOKIE
from kurultai.settings import Settings
from tests.api.voting_helpers import Voter, open_amendment_election
from tests.conftest import World
from tests.security.test_role_matrix import EXPECTED, build_targets, fill, snapshot
from voting.core.keys import Signer

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "hygiene password 1"


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """SQLite, with per-test overrides through indirect parametrization."""
    overrides = getattr(request, "param", {})
    return Settings(data_dir=tmp_path / "data", **overrides)


def cookies_named(r: httpx.Response, name: str) -> list[str]:
    return [h for h in r.headers.get_list("set-cookie") if h.startswith(f"{name}=")]


def attributes(set_cookie: str) -> dict[str, str]:
    parts = [p.strip() for p in set_cookie.split(";")[1:]]
    return {p.partition("=")[0].lower(): p.partition("=")[2].lower() for p in parts if p}


def form_csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no csrf_token field"
    return m.group(1)


async def password_user(w: World, app: Any, name: str, role: str | None = "moderator") -> None:
    from deliberation import accounts, assemblies

    await accounts.create_user(app.state.ctx, name, PASSWORD)
    if role:
        await assemblies.set_member(app.state.ctx, w.assembly, "seed", name, role)


async def browser_login(c: httpx.AsyncClient, name: str) -> tuple[str, httpx.Response]:
    r = await c.get("/login")
    csrf = form_csrf(r.text)
    r = await c.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": csrf, "next": "/"})
    assert r.status_code == 303, r.text
    session_csrf = form_csrf((await c.get("/")).text)  # login rotates the token to the session's
    assert session_csrf != csrf
    return session_csrf, r


# -- cookies ------------------------------------------------------------------------------------


def test_cookie_secure_setting_is_read_from_the_environment() -> None:
    assert Settings.from_env({"KURULTAI_COOKIE_SECURE": "1"}).cookie_secure is True
    assert Settings.from_env({}).cookie_secure is False
    assert Settings.from_env({"KURULTAI_BALLOT_RATE": "7", "KURULTAI_BALLOT_CLIENT_RATE": "9"}).ballot_rate_per_minute == 7


@pytest.mark.parametrize(
    ("settings", "scheme"),
    [({}, "http"), ({}, "https"), ({"cookie_secure": True}, "https")],
    indirect=["settings"],
    ids=["plain", "https", "secure-setting"],
)
async def test_cookie_flags(world: World, app: Any, settings: Settings, scheme: str) -> None:
    """Cookies are Secure when the request came over HTTPS (directly or, through a trusted proxy,
    by X-Forwarded-Proto: tests/api/test_hall_logins.py) or KURULTAI_COOKIE_SECURE says so."""
    c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"{scheme}://testserver")
    await password_user(world, app, "cookieuser")
    r = await c.get("/login")
    [csrf_cookie] = cookies_named(r, CSRF_COOKIE)
    csrf, r = await browser_login(c, "cookieuser")
    [session] = cookies_named(r, SESSION_COOKIE)
    [device] = cookies_named(r, DEVICE_COOKIE)
    r = await c.post("/lang", data={"lang": "ru", "csrf_token": csrf, "next": "/"})
    [lang] = [h for h in r.headers.get_list("set-cookie") if not h.startswith((CSRF_COOKIE, SESSION_COOKIE))]
    secure = settings.cookie_secure or scheme == "https"
    for cookie, samesite, httponly in ((csrf_cookie, "strict", True), (session, "lax", True), (device, "lax", True), (lang, "lax", False)):
        attrs = attributes(cookie)
        assert attrs.get("samesite") == samesite, cookie
        assert attrs.get("path") == "/", cookie
        if httponly:
            assert "httponly" in attrs, cookie
        assert ("secure" in attrs) == secure, cookie
    hsts = r.headers.get("strict-transport-security")
    assert hsts == ("max-age=63072000" if scheme == "https" else None)
    await c.aclose()


# -- CSRF ---------------------------------------------------------------------------------------

#: Every native form (method="post") a page can render, and what a POST without the token gets.
FORMS_REFUSED = {"/login", "/invite/{token}"}  # a 403 page
FORMS_IGNORED = {"/logout", "/lang"}  # redirected with nothing done (no session ended, no cookie)


async def test_every_form_needs_its_csrf_token(world: World, app: Any, settings: Settings) -> None:
    w, c = world, world.client
    await password_user(w, app, "formmod")
    csrf, _ = await browser_login(c, "formmod")
    pages = ["/", "/login", "/invite/some-token", f"/assemblies/{w.assembly}", f"/assemblies/{w.assembly}/chair", f"/assemblies/{w.assembly}/live"]
    native: set[str] = set()
    api_forms: set[tuple[str, str, str]] = set()
    for path in pages:
        r = await c.get(path)
        assert r.status_code == 200, (path, r.status_code)
        for form in re.findall(r"<form\b[^>]*>", r.text):
            if re.search(r'\smethod="post"', form, re.IGNORECASE):
                action = re.search(r'action="([^"]*)"', form)
                assert action, form
                native.add(re.sub(r"^/invite/[^/]+$", "/invite/{token}", action.group(1)))
            url = re.search(r'data-url="([^"]*)"', form)
            if url:
                method = re.search(r'data-method="([^"]*)"', form)
                body = re.search(r"data-body='([^']*)'", form)
                api_forms.add(((method.group(1) if method else "POST").upper(), url.group(1), html.unescape(body.group(1)) if body else "{}"))
    assert native, "no form found"
    assert native <= FORMS_REFUSED | FORMS_IGNORED, f"a new form needs a CSRF expectation: {native - FORMS_REFUSED - FORMS_IGNORED}"

    before = snapshot(settings.sqlite_path)
    r = await c.post("/login", data={"username": "formmod", "password": PASSWORD, "next": "/"})
    assert r.status_code == 403 and SESSION_COOKIE not in "".join(r.headers.get_list("set-cookie"))
    r = await c.post("/invite/some-token", data={"password": "a long new password"})
    assert r.status_code == 403
    r = await c.post("/logout", data={"csrf_token": "forged"})
    assert r.status_code == 303 and (await c.get("/api/me")).status_code == 200
    r = await c.post("/lang", data={"lang": "ru", "next": "/"})
    assert r.status_code == 303 and not r.headers.get_list("set-cookie")
    # The forms that call the API send the x-csrf-token header; each one's operation is among
    # those the next test sends without it (and all of those are refused with csrf_failed).
    assert api_forms
    for method, url, _body in sorted(api_forms):
        op = operation_of(method, url)
        assert op is not None and op not in NO_SESSION, (method, url)
        r = await c.request(method, url, content=_body, headers={"content-type": "application/json", "x-csrf-token": csrf + "x"})
        assert r.status_code in (400, 403), (method, url, r.text)
    assert snapshot(settings.sqlite_path) == before
    c.cookies.clear()


def operation_of(method: str, url: str) -> tuple[str, str] | None:
    for m, template in EXPECTED:
        if m == method and re.fullmatch(re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(template)), url.split("?")[0]):
            return m, template
    return None


#: Unsafe operations that take no session at all (their credential is in the body).
NO_SESSION = {("POST", "/api/auth/token"), ("POST", "/api/auth/invite"), ("POST", "/api/elections/{eid}/ballots")}


async def test_every_cookie_authenticated_write_needs_the_csrf_header(world: World, app: Any, settings: Settings) -> None:
    from deliberation import accounts

    w, c = world, world.client
    _, requests = await build_targets(w, app)
    token, _ = await accounts.issue_token(app.state.ctx, w.users["admin"], "session", 3_600_000)
    c.cookies.set(SESSION_COOKIE, token)
    c.cookies.set(CSRF_COOKIE, "the-csrf-cookie")
    before = snapshot(settings.sqlite_path)
    unsafe = sorted(op for op in EXPECTED if op[0] in ("POST", "PATCH", "PUT", "DELETE") and op not in NO_SESSION)
    assert len(unsafe) >= 36
    for op in unsafe:
        path, body = requests[op]
        # the CSRF cookie is not the session's token: a header that merely matches it is refused
        for headers in ({}, {"x-csrf-token": "another value"}, {"x-csrf-token": "the-csrf-cookie"}):
            if isinstance(body, bytes):  # an upload (a draft document) is sent as the raw body
                r = await c.request(op[0], path, content=body, headers=headers)
            else:
                r = await c.request(op[0], path, json=fill(body, "admin") if body is not None else None, headers=headers)
            assert (r.status_code, r.json().get("error")) == (403, "csrf_failed"), (op, headers, r.text)
    assert snapshot(settings.sqlite_path) == before
    r = await c.get("/api/me")  # reads need no token
    assert r.status_code == 200 and r.json()["username"] == "admin"
    c.cookies.clear()


# -- headers ------------------------------------------------------------------------------------


def check_headers(r: httpx.Response, what: str) -> None:
    csp = r.headers.get("content-security-policy", "")
    directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, what
    assert directives.get("default-src") == "default-src 'self'", (what, csp)
    assert directives.get("script-src") == "script-src 'self'", (what, csp)
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", (what, csp)
    assert directives.get("base-uri") == "base-uri 'self'", (what, csp)
    assert r.headers.get("x-content-type-options") == "nosniff", what
    assert r.headers.get("x-frame-options") == "DENY", what
    assert r.headers.get("referrer-policy") == "same-origin", what


@pytest.mark.parametrize("settings", [{"ballot_client_rate_per_minute": 3}], indirect=True)
async def test_security_headers_on_pages_api_answers_and_errors(world: World, app: Any) -> None:
    w, c = world, world.client
    static = sorted(p.name for p in (ROOT / "static").iterdir() if p.is_file())
    checks: list[tuple[str, str, dict[str, Any], int]] = [
        ("GET", "/", {}, 200),
        ("GET", "/login", {}, 200),
        ("GET", f"/assemblies/{w.assembly}", {}, 200),
        ("GET", "/invite/x", {}, 200),
        ("GET", f"/static/{static[0]}", {}, 200),
        ("GET", "/api/health", {}, 200),
        ("GET", "/api/assemblies", {}, 200),
        ("GET", f"/api/assemblies/{w.assembly}/document.html", {}, 200),
        ("GET", "/api/server-key", {}, 200),
        ("GET", "/schema/openapi.json", {}, 200),
        ("GET", "/api/nothing", {}, 404),
        ("GET", "/no-such-page", {}, 404),
        ("GET", "/api/assemblies/999", {}, 404),
        ("DELETE", "/api/health", {}, 405),
        ("GET", "/api/me", {}, 401),
        ("GET", "/api/me", {"headers": {"authorization": "Basic abc"}}, 401),
        ("GET", "/api/audit", {"headers": w.headers("delegate")}, 403),
        ("POST", "/api/assemblies", {"headers": w.headers("admin"), "json": {"title": 5}}, 400),
        ("POST", "/api/assemblies", {"headers": {**w.headers("admin"), "content-type": "application/json"}, "content": b"{"}, 400),
        ("POST", "/api/assemblies", {"headers": w.headers("admin"), "content": b"x" * (300 * 1024)}, 413),
        ("POST", f"/api/agenda/{w.item}/phase", {"headers": w.headers("moderator"), "json": {"phase": "closed"}}, 409),
    ]
    for method, path, kw, status in checks:
        r = await c.request(method, path, **kw)
        assert r.status_code == status, (method, path, r.status_code, r.text[:200])
        check_headers(r, f"{method} {path} -> {status}")
        if path.startswith("/api/") and status >= 400:
            body = r.json()
            assert set(body) == {"error", "detail"}, (path, body)
    # ballot answers: 413, 400 and then 429 once the client is over its allowance
    eid = "1"
    got = []
    for content in (b"x" * 70_000, b"{", b"{", b"{"):
        r = await c.post(f"/api/elections/{eid}/ballots", content=content)
        check_headers(r, f"ballot {r.status_code}")
        got.append((r.status_code, r.json()["error"]))
    assert got == [(413, "payload_too_large"), (400, "malformed_ballot"), (400, "malformed_ballot"), (429, "rate_limited")], got


def test_templates_have_no_inline_script_style_or_handlers() -> None:
    """The CSP forbids inline code, so pages must not need it (data blocks are not code). The
    record's templates (templates/record/) are never served to a browser: WeasyPrint renders
    them to PDF offline, and their print CSS is inline by design."""
    for template in sorted((ROOT / "templates").rglob("*.html")):
        if template.parent.name == "record":
            continue
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag or 'type="application/json"' in tag, (template.name, tag)
        assert not re.search(r"<style\b", text), template.name
        assert not re.search(r"\s(style|on[a-z]+)\s*=", text), template.name
        assert "javascript:" not in text.lower(), template.name


# -- ballot rate limits ---------------------------------------------------------------------------


async def post(c: httpx.AsyncClient, eid: str, envelope: Any) -> tuple[int, dict[str, Any]]:
    r = await c.post(f"/api/elections/{eid}/ballots", content=json.dumps(envelope).encode())
    return r.status_code, r.json()


@pytest.mark.parametrize("settings", [{"ballot_rate_per_minute": 3}], indirect=True)
async def test_ballot_rate_limit_per_voter_key(world: World) -> None:
    w = world
    eid, election, (alice, bob), _ = await open_amendment_election(w)
    # forged ballots naming alice do not use up her allowance, nor do her ballots refused by the
    # checks: the limit counts the ballots to be appended
    for i in range(5):
        forged = alice.ballot(election, ["status_quo"], revision=1)
        forged["signed"]["revision"] = 50 + i
        assert (await post(w.client, eid, forged))[1]["error"] == "bad_signature"
    for _ in range(5):
        assert (await post(w.client, eid, alice.ballot(election, ["nonsense"])))[1]["error"] == "unknown_option"
    accepted = [alice.ballot(election, ["status_quo"], revision=rev) for rev in (1, 2, 3)]
    answers = [await post(w.client, eid, ballot) for ballot in accepted]
    assert [status for status, _ in answers] == [201, 201, 201]
    sth = await w.ok("GET", f"/api/elections/{eid}/sth")
    status, body = await post(w.client, eid, alice.ballot(election, ["status_quo"], revision=4))
    assert (status, body["error"]) == (429, "rate_limited") and "retry in" in body["detail"]
    assert await w.ok("GET", f"/api/elections/{eid}/sth") == sth  # nothing appended
    # a ballot sent again unchanged is not a new one (check 7): its receipt comes back however
    # often, over the limit too, and a refused ballot is not counted either
    for _ in range(5):
        assert await post(w.client, eid, accepted[2]) == (200, answers[2][1])
    assert (await post(w.client, eid, alice.ballot(election, ["status_quo"], revision=3)))[1]["error"] == "stale_revision"
    # another voter is not affected
    assert (await post(w.client, eid, bob.ballot(election, ["status_quo"])))[0] == 201


@pytest.mark.parametrize("settings", [{"ballot_client_rate_per_minute": 4}], indirect=True)
async def test_ballot_rate_limit_per_client(world: World, app: Any) -> None:
    w = world
    eid, election, (alice, bob), _ = await open_amendment_election(w)
    stranger = Voter("stranger", Signer.generate())
    for _ in range(4):  # any ballot request counts, even a refused one
        assert (await post(w.client, eid, stranger.ballot(election, ["status_quo"])))[0] == 403
    sth = await w.ok("GET", f"/api/elections/{eid}/sth")
    status, body = await post(w.client, eid, alice.ballot(election, ["status_quo"]))
    assert (status, body["error"]) == (429, "rate_limited")
    assert await w.ok("GET", f"/api/elections/{eid}/sth") == sth
    # a client at another address is not affected
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("10.1.2.3", 40000)), base_url="http://testserver")
    async with other:
        assert (await post(other, eid, alice.ballot(election, ["status_quo"])))[0] == 201
