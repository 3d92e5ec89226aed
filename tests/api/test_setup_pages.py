"""The set-up pages (issue #18) with a browser session: who may open them, the assembly form and
its errors in the page's language, appointing, and the draft upload's preview, confirmation and
errors (nothing written)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import World
from tests.draft_fixtures import docx_bytes, russian_law


async def browser(world: World, app: Any, who: str, lang: str = "en") -> tuple[httpx.AsyncClient, str]:
    """A client with `who`'s session cookie (as after the login form) and its CSRF token."""
    from deliberation import accounts

    token, csrf = await accounts.issue_token(app.state.ctx, world.users[who], "session", 3_600_000)
    c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver", cookies={"kurultai_session": token, "kurultai_lang": lang}, headers={"accept": "text/html"})
    return c, csrf


async def test_who_may_open_the_setup_pages(world: World, app: Any) -> None:
    a = world.assembly
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as anon:
        r = await anon.get(f"/assemblies/{a}/setup")
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
        assert (await anon.get("/assemblies/new")).status_code == 303
    for who, status in (("admin", 200), ("moderator", 200), ("delegate", 403), ("observer", 403), ("outsider", 403)):
        c, _ = await browser(world, app, who)
        async with c:
            assert (await c.get(f"/assemblies/{a}/setup")).status_code == status, who
            assert (await c.get("/assemblies/new")).status_code == (200 if who == "admin" else 403), who
            index = (await c.get("/")).text
            assert ('href="/assemblies/new"' in index) == (who == "admin")
            assert (f'href="/assemblies/{a}/setup"' in index) == (status == 200)
    c, _ = await browser(world, app, "admin")
    async with c:
        assert (await c.get("/assemblies/999999/setup")).status_code == 404


async def test_create_and_edit_an_assembly_in_three_languages(world: World, app: Any) -> None:
    c, csrf = await browser(world, app, "admin", "ru")
    async with c:
        r = await c.post("/assemblies/new", data={"csrf_token": csrf, "title_kk": "", "title_ru": "", "lang_kk": "1"})
        assert r.status_code == 400 and "Укажите название хотя бы на одном языке." in r.text
        r = await c.post("/assemblies/new", data={"csrf_token": "forged", "title_ru": "Совет"})
        assert r.status_code == 403
        r = await c.post("/assemblies/new", data={"csrf_token": csrf, "title_ru": "Совет", "title_en": "Council", "description_en": "About", "lang_ru": "1", "lang_en": "1"})
        assert r.status_code == 303, r.text
        aid = int(re.search(r"/assemblies/(\d+)/setup", r.headers["location"]).group(1))
        view = (await c.get(f"/api/assemblies/{aid}")).json()
        assert (view["title"], view["titles"], view["description"], view["descriptions"], view["languages"]) == ("Совет", {"ru": "Совет", "en": "Council"}, "About", {"en": "About"}, ["ru", "en"])
        # Kazakh page: no Kazakh title, so the main one (the first of kk, ru, en given).
        c.cookies.set("kurultai_lang", "kk")
        assert "<h1>Совет</h1>" in (await c.get(f"/assemblies/{aid}/setup")).text
        c.cookies.set("kurultai_lang", "en")
        assert "<h1>Council</h1>" in (await c.get(f"/assemblies/{aid}/setup")).text
        assert "<p>About</p>" in (await c.get(f"/assemblies/{aid}")).text
        r = await c.post(f"/assemblies/{aid}/setup", data={"csrf_token": csrf, "title_kk": "Кеңес", "description_kk": "Сипаттама", "lang_kk": "1"})
        assert r.status_code == 303
        view = (await c.get(f"/api/assemblies/{aid}")).json()
        assert (view["title"], view["titles"], view["descriptions"], view["languages"]) == ("Кеңес", {"kk": "Кеңес"}, {"kk": "Сипаттама"}, ["kk"])
        r = await c.post(f"/assemblies/{aid}/setup", data={"csrf_token": csrf, "title_kk": "x" * 301})
        assert r.status_code == 400 and "A title may have at most 300 characters." in r.text and "Choose at least one language of the assembly." in r.text


async def test_the_admin_appoints_a_secretary_who_gets_an_invitation(world: World, app: Any, clock: Any) -> None:
    a = world.other_assembly
    c, csrf = await browser(world, app, "admin", "kk")
    async with c:
        r = await c.post(f"/assemblies/{a}/setup/appoint", data={"csrf_token": csrf, "username": "new.secretary", "display_name": "Жаңа Хатшы", "role": "secretary"})
        assert r.status_code == 200 and 'id="appointed"' in r.text
        link = re.search(r'class="mono invite-link" readonly value="([^"]+)"', r.text).group(1)
        assert "/invite/" in link
        r = await c.post(f"/assemblies/{a}/setup/appoint", data={"csrf_token": csrf, "username": "delegate2", "role": "moderator"})
        assert r.status_code == 200 and 'id="appointed"' in r.text  # delegate2 has no password yet: a link too
        # The form sent again from the page that showed the link (a refresh): no other link, the first stands.
        clock.advance(1000)
        shown = re.search(r'name="shown_ms" value="(\d+)"', (await c.get(f"/assemblies/{a}/setup")).text).group(1)  # shown after the first link
        clock.advance(1000)
        form = {"csrf_token": csrf, "username": "new.secretary", "display_name": "Жаңа Хатшы", "role": "secretary", "shown_ms": shown}
        r = await c.post(f"/assemblies/{a}/setup/appoint", data=form)
        again = re.search(r'class="mono invite-link" readonly value="([^"]+)"', r.text).group(1)
        assert again != link
        clock.advance(1000)
        r = await c.post(f"/assemblies/{a}/setup/appoint", data=form)
        assert r.status_code == 200 and 'id="appointed-again"' in r.text and "invite-link" not in r.text
        assert "осы бет көрсетілгеннен кейін берілген" in r.text
        link = again
        r = await c.post(f"/assemblies/{a}/setup/appoint", data={"csrf_token": csrf, "username": "no spaces", "role": "secretary"})
        assert r.status_code == 400 and 'data-error="username"' in r.text
        r = await c.post(f"/assemblies/{a}/setup/appoint", data={"csrf_token": csrf, "username": "delegate", "role": "king"})
        assert r.status_code == 400 and 'data-error="role"' in r.text
    members = {m["username"]: m["role"] for m in (await world.ok("GET", f"/api/assemblies/{a}/members"))}
    assert members["new.secretary"] == "secretary" and members["delegate2"] == "moderator"
    r = await world.call("POST", "/api/auth/invite", None, {"token": link.rsplit("/", 1)[1], "password": "the secretary's password"})
    assert r.status_code == 200, r.text  # the link shown before the form was sent again still works
    c, csrf = await browser(world, app, "moderator")
    async with c:  # a chair of the first assembly cannot appoint there either
        r = await c.post(f"/assemblies/{world.assembly}/setup/appoint", data={"csrf_token": csrf, "username": "delegate", "role": "secretary"})
        assert r.status_code == 403


async def test_upload_preview_confirm_and_build_the_agenda(world: World, app: Any) -> None:
    from deliberation import assemblies

    await assemblies.set_member(app.state.ctx, world.other_assembly, "seed", "delegate2", "secretary")
    a = world.other_assembly
    c, csrf = await browser(world, app, "delegate2", "ru")
    async with c:
        files = {"document": ("закон.docx", docx_bytes(russian_law(12)))}
        r = await c.post(f"/assemblies/{a}/draft/upload", data={"csrf_token": "forged"}, files=files)
        assert r.status_code == 403
        r = await c.post(f"/assemblies/{a}/draft/upload", data={"csrf_token": csrf}, files={"document": ("x.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64))})
        assert r.status_code == 400 and 'data-error="encrypted_document"' in r.text and "Документ защищён паролем" in r.text
        r = await c.post(f"/assemblies/{a}/draft/upload", data={"csrf_token": csrf})
        assert r.status_code == 400 and 'data-error="no_file"' in r.text
        r = await c.post(f"/assemblies/{a}/draft/upload", data={"csrf_token": csrf}, files=files)
        assert r.status_code == 303, r.text
        preview = await c.get(r.headers["location"])
        assert preview.status_code == 200 and preview.text.count('<tr class="article">') == 12
        token = re.search(r'name="token" value="([^"]+)"', preview.text).group(1)
        assert (await world.ok("GET", f"/api/assemblies/{a}/document"))["provisions"] == []
        other, other_csrf = await browser(world, app, "admin")
        async with other:  # the staged file is its uploader's
            r = await other.post(f"/assemblies/{a}/draft/confirm", data={"csrf_token": other_csrf, "token": token})
            assert r.status_code == 404 and 'data-error="expired"' in r.text
        r = await c.post(f"/assemblies/{a}/draft/confirm", data={"csrf_token": csrf, "token": token, "name": "закон.docx"})
        assert r.status_code == 303 and "done=imported&n=12" in r.headers["location"]
        assert len((await world.ok("GET", f"/api/assemblies/{a}/document"))["provisions"]) == 12
        r = await c.post(f"/assemblies/{a}/draft/confirm", data={"csrf_token": csrf, "token": token})
        assert r.status_code == 404  # used once
        r = await c.post(f"/assemblies/{a}/agenda/build", data={"csrf_token": csrf, "per": "chapter"})
        assert r.status_code == 303 and "done=agenda&n=3" in r.headers["location"]
        page = await c.get(r.headers["location"])
        assert "Добавлено пунктов: 3" in page.text
        r = await c.post(f"/assemblies/{a}/agenda/build", data={"csrf_token": csrf, "per": "article"})
        assert r.status_code == 400 and 'data-error="agenda_nothing"' in r.text
