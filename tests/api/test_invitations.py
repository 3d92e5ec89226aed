"""Invitation cards (issue #18): the PDF has a card per member without a password, each QR code
decodes (pdftoppm, then zbarimg) to a link that sets the password and logs in; a reprint, a
revocation and the expiry (KURULTAI_INVITE_TTL_HOURS, on the test clock) make links fail; the
roles; the set-up page's form; `kurultai invitations`. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from deliberation import accounts, assemblies, audit_log
from deliberation.tables import User
from kurultai.settings import Settings
from kurultai.web.auth import CSRF_COOKIE, SESSION_COOKIE
from tests.api.conftest import run
from tests.conftest import World

PASSWORD = "a long enough password"
HOUR_MS = 3600 * 1000


def qr_links(pdf: bytes, tmp_path: Path, pages: int = 1) -> list[str]:
    """The QR codes of the first `pages` pages of `pdf` (pdftoppm -r 150, then zbarimg)."""
    if not shutil.which("zbarimg"):
        if os.environ.get("CI"):
            pytest.fail("zbarimg is missing: .ci/run installs zbar-tools")
        pytest.skip("zbarimg (Debian's zbar-tools) is not installed")
    folder = tmp_path / "cards"
    folder.mkdir(exist_ok=True)
    (folder / "cards.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "150", "-f", "1", "-l", str(pages), str(folder / "cards.pdf"), str(folder / "page")], check=True)
    # One image per card (2 x 4 on an A4 page), as a phone sees one card: zbar reading a whole
    # page of eight codes now and then misses one.
    from PIL import Image

    cells: list[str] = []
    for page in sorted(folder.glob("page*.png")):
        with Image.open(page) as image:
            w, h = image.size
            for row in range(4):
                for col in range(2):
                    cell = folder / f"{page.stem}-{row}-{col}.png"
                    image.crop((col * w // 2, row * h // 4, (col + 1) * w // 2, (row + 1) * h // 4)).save(cell)
                    cells.append(str(cell))
    proc = subprocess.run(["zbarimg", "--quiet", "--raw", *cells], capture_output=True, text=True)
    assert proc.returncode in (0, 4), proc.stderr
    return [line for line in proc.stdout.splitlines() if line]


def pdf_info(pdf: bytes, tmp_path: Path) -> tuple[int, str]:
    """(pages, text) of `pdf` (poppler's pdfinfo and pdftotext)."""
    path = tmp_path / "info.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    text = subprocess.run(["pdftotext", "-raw", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"Pages:\s+(\d+)", info).group(1)), text  # type: ignore[union-attr]


async def add_secretary(w: World, app: Any) -> None:
    ctx = app.state.ctx
    user = await accounts.create_user(ctx, "secretary", None, display_name="Сәуле Секретарь")
    await assemblies.set_member(ctx, w.assembly, "seed", "secretary", "secretary")
    w.users["secretary"] = user.id
    w.tokens["secretary"], _ = await accounts.issue_token(ctx, user.id, "bearer", 3_600_000)


async def without_password(aid: int) -> set[str]:
    from kurultai.record.cards import members_without_password

    return {m["username"] for m in await members_without_password(aid)}


async def invited() -> set[str]:
    return {r["username"] for r in await User.select(User.username).where(User.invite_hash.is_not_null())}


async def test_cards_decode_to_links_that_set_the_password(world: World, app: Any, tmp_path: Path) -> None:
    w = world
    await add_secretary(w, app)
    await User.update({User.password_hash: "set-elsewhere"}).where(User.id == w.users["moderator"])  # has a password: no card
    await User.update({User.display_name: "Әлихан Бөкейханов"}).where(User.id == w.users["delegate"])
    assert await without_password(w.assembly) == {"delegate", "delegate2", "observer", "secretary"}
    expected = {"delegate", "delegate2", "observer"}  # a secretary's account is an administrator's to invite

    r = await w.call("POST", f"/api/assemblies/{w.assembly}/invitations.pdf?lang=kk", "secretary")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.headers["cache-control"] == "no-store"
    assert r.headers["content-disposition"] == f'attachment; filename="invitations-{w.assembly}-kk.pdf"'
    assert r.headers["x-cards"] == str(len(expected))
    pages, text = pdf_info(r.content, tmp_path)
    text = " ".join(text.split())
    assert pages == 1
    assert "Әлихан Бөкейханов" in text and "Test assembly" in text and "шақыру" in text.lower()  # the name, the assembly, the kk label
    links = qr_links(r.content, tmp_path)
    assert len(links) == len(expected) and all(re.fullmatch(r"http://testserver/invite/[A-Za-z0-9_-]{43}", link) for link in links), links
    for link in links:
        assert link in "".join(text.split())  # the link is printed as text too
    assert await invited() == expected
    entries = [e for e in await audit_log.entries(w.assembly) if e.action == "user.invited"]
    assert sorted(e.payload["username"] for e in entries) == sorted(expected) and {e.actor for e in entries} == {"secretary"}

    # A card's link sets the password (the API way), then the delegate logs in with it.
    token = links[0].rsplit("/", 1)[1]
    accepted = await w.ok("POST", "/api/auth/invite", None, {"token": token, "password": PASSWORD})
    assert accepted["username"] in expected
    r = await w.call("POST", "/api/auth/token", None, {"username": accepted["username"], "password": PASSWORD})
    assert r.status_code == 200
    r = await w.call("POST", "/api/auth/invite", None, {"token": token, "password": PASSWORD})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"  # used once

    # A reprint has one card fewer, and the links printed before stop working.
    r = await w.call("POST", f"/api/assemblies/{w.assembly}/invitations.pdf?lang=ru", "moderator")
    assert r.status_code == 200 and r.headers["x-cards"] == str(len(expected) - 1)
    _, text = pdf_info(r.content, tmp_path)
    assert "приглашение" in text.lower()
    for old in links[1:]:
        r = await w.call("POST", "/api/auth/invite", None, {"token": old.rsplit("/", 1)[1], "password": PASSWORD})
        assert r.status_code == 400, old


async def test_a_print_for_late_additions_keeps_the_cards_handed_out(world: World, app: Any, tmp_path: Path) -> None:
    """`only_new`: cards only for members who hold no working link (never invited, or their link
    expired); the cards printed before keep working."""
    w = world
    await add_secretary(w, app)
    r = await w.call("POST", f"/api/assemblies/{w.assembly}/invitations.pdf?lang=en", "secretary")
    first = qr_links(r.content, tmp_path)
    assert r.status_code == 200 and len(first) == 3  # delegate, delegate2, observer (not the chair, not the secretary)
    r = await w.call("POST", f"/api/assemblies/{w.assembly}/invitations.pdf?lang=en&only_new=true", "secretary")
    assert r.status_code == 200 and r.headers["x-cards"] == "0", "everybody holds a working link"
    late = await accounts.create_user(app.state.ctx, "latecomer", None, display_name="Late Comer")
    await assemblies.set_member(app.state.ctx, w.assembly, "seed", "latecomer", "delegate")
    r = await w.call("POST", f"/api/assemblies/{w.assembly}/invitations.pdf?lang=en&only_new=true", "secretary")
    assert r.status_code == 200 and r.headers["x-cards"] == "1"
    (link,) = qr_links(r.content, tmp_path)
    assert "Late Comer" in pdf_info(r.content, tmp_path)[1] and late.username == "latecomer"
    for old in [*first, link]:  # the cards handed out before and the new one all work
        r = await w.call("POST", "/api/auth/invite", None, {"token": old.rsplit("/", 1)[1], "password": PASSWORD})
        assert r.status_code == 200, old


async def test_a_card_on_a_phone_sets_the_password_and_logs_in(world: World, app: Any) -> None:
    """The page the QR code opens: the form, then a session cookie and the assembly."""
    w = world
    token = (await accounts.create_invites(app.state.ctx, [w.users["delegate"]], "test", assembly_id=w.assembly))[w.users["delegate"]]
    c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with c:
        page = await c.get(f"/invite/{token}", headers={"accept-language": "kk"})
        assert page.status_code == 200 and f'action="/invite/{token}"' in page.text
        r = await c.post(f"/invite/{token}", data={"password": PASSWORD, "csrf_token": c.cookies[CSRF_COOKIE]})
        assert r.status_code == 303 and r.headers["location"] == f"/assemblies/{w.assembly}"
        assert c.cookies.get(SESSION_COOKIE)
        me = await c.get("/api/me")
        assert me.status_code == 200 and me.json()["username"] == "delegate"
        assert (await c.get(f"/assemblies/{w.assembly}")).status_code == 200


async def test_revoked_and_expired_links_fail(world: World, app: Any, clock: Any) -> None:
    w = world
    await add_secretary(w, app)
    ctx = app.state.ctx
    tokens = await accounts.create_invites(ctx, [w.users["delegate"], w.users["delegate2"]], "test", assembly_id=w.assembly)
    uid = w.users["delegate"]
    assert (await w.call("DELETE", f"/api/assemblies/{w.assembly}/members/{uid}/invite", "delegate2")).status_code == 403
    assert (await w.call("DELETE", f"/api/assemblies/{w.assembly}/members/{uid}/invite", None)).status_code == 401
    assert (await w.call("DELETE", f"/api/assemblies/{w.assembly}/members/{w.users['outsider']}/invite", "secretary")).status_code == 404  # not a member here
    assert (await w.call("DELETE", f"/api/assemblies/{w.assembly}/members/99999999999999999999/invite", "secretary")).status_code == 404
    assert (await w.call("DELETE", f"/api/assemblies/999999/members/{uid}/invite", "secretary")).status_code == 404
    r = await w.ok("DELETE", f"/api/assemblies/{w.assembly}/members/{uid}/invite", "secretary")
    assert r == {"username": "delegate", "revoked": True}
    r = await w.call("POST", "/api/auth/invite", None, {"token": tokens[uid], "password": PASSWORD})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    assert await w.ok("DELETE", f"/api/assemblies/{w.assembly}/members/{uid}/invite", "secretary") == {"username": "delegate", "revoked": False}
    revoked = [e for e in await audit_log.entries(w.assembly) if e.action == "user.invite_revoked"]
    assert [(e.actor, e.payload) for e in revoked] == [("secretary", {"username": "delegate"})]  # once: the second had nothing to revoke

    # The other link lives KURULTAI_INVITE_TTL_HOURS (default 168) and not a millisecond more.
    assert app.state.settings.invite_ttl_hours == 168
    clock.advance(168 * HOUR_MS)
    r = await w.call("POST", "/api/auth/invite", None, {"token": tokens[w.users["delegate2"]], "password": PASSWORD})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"


def test_the_lifetime_is_a_setting() -> None:
    assert Settings.from_env({}).invite_ttl_hours == 168
    assert Settings.from_env({"KURULTAI_INVITE_TTL_HOURS": "2"}).invite_ttl_hours == 2
    for bad in ("0", "-3", "week"):
        with pytest.raises(SystemExit, match="KURULTAI_INVITE_TTL_HOURS must be"):
            Settings.from_env({"KURULTAI_INVITE_TTL_HOURS": bad})


async def test_links_expire_after_the_setting(world: World, app: Any, clock: Any) -> None:
    w = world
    app.state.ctx.db.settings = app.state.settings.with_(invite_ttl_hours=2)
    token = await accounts.create_invite(app.state.ctx, w.users["delegate"], "test")
    clock.advance(2 * HOUR_MS - 1)
    assert await accounts.find_invite(token, clock()) is not None
    clock.advance(1)
    r = await w.call("POST", "/api/auth/invite", None, {"token": token, "password": PASSWORD})
    assert r.status_code == 400


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_eight_cards_a_page_every_code_readable(world: World, app: Any, tmp_path: Path) -> None:
    w = world
    ctx = app.state.ctx
    for n in range(17):
        await accounts.create_user(ctx, f"hall{n:02d}", None, display_name=f"Делегат {n}")
        await assemblies.set_member(ctx, w.assembly, "seed", f"hall{n:02d}", "delegate")
    expected = await without_password(w.assembly)
    assert len(expected) == 21  # the seeded members (not the admin or the other assembly's) and the hall
    r = await w.call("POST", f"/api/assemblies/{w.assembly}/invitations.pdf?lang=en", "admin")
    assert r.status_code == 200 and r.headers["x-cards"] == "21"
    pages, text = pdf_info(r.content, tmp_path)
    assert pages == 3  # 8 + 8 + 5
    links = qr_links(r.content, tmp_path, pages=3)
    assert len(links) == len(set(links)) == 21
    usernames = {(await w.ok("POST", "/api/auth/invite", None, {"token": link.rsplit("/", 1)[1], "password": PASSWORD}))["username"] for link in links[:2]}
    assert usernames <= expected and len(usernames) == 2


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_only_the_assemblys_preparers_print_and_bad_input_issues_nothing(world: World, app: Any) -> None:
    w = world
    await add_secretary(w, app)
    path = f"/api/assemblies/{w.assembly}/invitations.pdf"
    for who, status in ((None, 401), ("delegate", 403), ("observer", 403), ("outsider", 403)):
        r = await w.call("POST", path, who)
        assert r.status_code == status and r.json()["error"] in ("not_authenticated", "forbidden"), (who, r.text)
    r = await w.call("POST", f"{path}?lang=de", "secretary")
    assert r.status_code == 400 and r.json()["error"] == "invalid_input" and "language" in r.json()["detail"]
    assert (await w.call("POST", "/api/assemblies/999999/invitations.pdf", "admin")).status_code == 404
    assert await invited() == set()  # nothing issued by a refused or bad request
    r = await w.client.post(path, headers={**w.headers("admin"), "accept-language": "ru"})
    assert r.status_code == 200 and r.headers["content-disposition"].endswith('-ru.pdf"')  # the page language by default


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_setup_page_prints_the_cards(world: World, app: Any) -> None:
    w = world
    await add_secretary(w, app)
    token, _ = await accounts.issue_token(app.state.ctx, w.users["secretary"], "session", 3_600_000)
    c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with c:
        c.cookies.set(SESSION_COOKIE, token)
        page = await c.get(f"/assemblies/{w.assembly}/setup", headers={"accept-language": "ru"})
        assert page.status_code == 200 and 'id="print-invitations"' in page.text and f'action="/assemblies/{w.assembly}/invitations.pdf"' in page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        r = await c.post(f"/assemblies/{w.assembly}/invitations.pdf", data={"csrf_token": "forged", "lang": "kk"}, headers={"accept-language": "ru"})
        assert r.status_code == 403 and "text/html" in r.headers["content-type"] and "Срок действия формы истёк" in r.text
        r = await c.post(f"/assemblies/{w.assembly}/invitations.pdf", data={"csrf_token": csrf, "lang": "xx"})
        assert r.status_code == 400 and "text/html" in r.headers["content-type"]
        assert await invited() == set()
        r = await c.post(f"/assemblies/{w.assembly}/invitations.pdf", data={"csrf_token": csrf, "lang": "kk"})
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF")
        assert r.headers["x-cards"] == "3"  # delegate, delegate2, observer: the chair and the secretary are an administrator's to invite
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with anonymous:
        r = await anonymous.post(f"/assemblies/{w.assembly}/invitations.pdf", data={"lang": "kk"})
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_command_writes_the_cards_and_refuses_bad_input(world: World, app: Any, settings: Settings, tmp_path: Path) -> None:
    w = world
    env = {**os.environ, "KURULTAI_DATA_DIR": str(settings.data_dir)}
    env.pop("KURULTAI_DATABASE_URL", None)
    out = tmp_path / "out" / "cards.pdf"
    out.parent.mkdir()
    bad = [
        (["invitations", str(w.assembly), "--pdf", str(out), "--lang", "de"], "language must be one of"),
        (["invitations", str(w.assembly), "--pdf", str(tmp_path / "cards.txt")], "must end in .pdf"),
        (["invitations", str(w.assembly), "--pdf", str(tmp_path / "nowhere" / "cards.pdf")], "cannot write into"),
        (["invitations", str(w.assembly), "--pdf", str(out), "--base-url", "ftp://x"], "--base-url must be"),
        (["invitations", "999999", "--pdf", str(out)], "no assembly with id 999999"),
    ]
    for args, reason in bad:
        proc = run(env, *args, check=False)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert reason in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not out.exists() and await invited() == set()
    proc = run(env, "invitations", str(w.assembly), "--pdf", str(out), "--lang", "ru", "--base-url", "https://kurultai.example/")
    n = len(await without_password(w.assembly))
    assert proc.stdout.startswith(f"wrote {n} invitation cards of assembly {w.assembly} (ru,"), proc.stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and out.read_bytes().startswith(b"%PDF")
    assert [p.name for p in out.parent.iterdir()] == ["cards.pdf"]  # written atomically: no part file left
    links = qr_links(out.read_bytes(), tmp_path)
    assert len(links) == n and all(link.startswith("https://kurultai.example/invite/") for link in links)
