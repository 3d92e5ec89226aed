"""Setting up an assembly in the browser (issue #18): an administrator creates an assembly and
appoints a secretary; the secretary (in Russian) imports a 30-article Russian .docx, previews it,
imports it, builds the agenda, moves an item, merges two and splits one."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import httpx
from playwright.sync_api import expect

expect.set_options(timeout=15_000)

from tests.draft_fixtures import docx_bytes, russian_law  # noqa: E402
from tests.e2e.conftest import SCREENSHOTS, Server, login  # noqa: E402  (after expect.set_options, on purpose)
from tests.e2e.test_accessibility import serious  # noqa: E402

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def test_admin_creates_an_assembly_and_the_secretary_imports_the_draft(browser: Any, server: Server) -> None:
    admin = {"username": "admin18", "password": "admin password 18"}
    subprocess.run(server.kurultai("user", "add", admin["username"], "--admin"), env=server.env(), input=admin["password"] + "\n", text=True, check=True, capture_output=True)

    # 1. The administrator creates the assembly (a Russian and a Kazakh title, no English one).
    page = login(browser, server, admin)
    page.locator("a[href='/assemblies/new']").click()
    page.fill("#title_ru", "Общественный совет: проект закона")
    page.fill("#title_kk", "Қоғамдық кеңес: заң жобасы")
    page.fill("#description_ru", "Рассмотрение проекта закона об общественных советах.")
    page.locator("form.setup-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/assemblies/\d+/setup$"))
    aid = int(page.url.rsplit("/", 2)[-2])
    expect(page.locator("h1")).to_have_text("Қоғамдық кеңес: заң жобасы")  # no English title: the first in kk, ru, en
    assert serious(page) == []

    # An empty form is answered in the page's language.
    page.fill("#title_ru", "")
    page.fill("#title_kk", "")
    page.locator("#details form button[type=submit]").click()
    expect(page.locator("#form-errors")).to_contain_text("Give a title in at least one language.")
    page.fill("#title_ru", "Общественный совет: проект закона")
    page.fill("#title_kk", "Қоғамдық кеңес: заң жобасы")

    # 2. … and appoints a new secretary, who gets a one-time link.
    page.fill("#appoint-username", "sekretar")
    page.fill("#appoint-name", "Айгерим Секретарь")
    page.select_option("#appoint-role", "secretary")
    page.locator("#officers form button[type=submit]").click()
    expect(page.locator("#appointed")).to_be_visible()
    invite = page.locator("#appointed .invite-link").input_value()
    assert "/invite/" in invite
    expect(page.locator(".officers")).to_contain_text("sekretar")
    page.context.close()

    # 3. The secretary sets a password with the link, logs in (in Russian) and opens the set-up page.
    ctx = browser.new_context(locale="ru-RU", viewport={"width": 1280, "height": 900})
    sec = ctx.new_page()
    sec.on("pageerror", lambda exc: server.page_errors.append(f"sekretar: {exc}"))
    sec.goto(invite.replace("http://127.0.0.1", "http://localhost"))
    sec.fill("#password", "secretary password")
    sec.locator("form.stack button[type=submit]").click()
    sec.goto(f"{server.url}/login?next=/assemblies/{aid}/setup")
    sec.fill("#username", "sekretar")
    sec.fill("#password", "secretary password")
    sec.locator("form.stack button[type=submit]").click()
    sec.wait_for_url(f"{server.url}/assemblies/{aid}/setup")
    expect(sec.locator("h1")).to_have_text("Общественный совет: проект закона")
    expect(sec.locator("#officers")).to_contain_text("Председателя и секретарей назначает только администратор.")

    # 4. A wrong file first: refused, in Russian, nothing written.
    sec.set_input_files("#document", files=[{"name": "проект.docx", "mimeType": DOCX, "buffer": b"not a document"}])
    sec.locator("#draft form button[type=submit]").click()
    expect(sec.locator("#setup-error")).to_have_attribute("data-error", "malformed_document")
    expect(sec.locator("#setup-error")).to_contain_text("Файл повреждён")

    # 5. The 30-article draft: preview, then import.
    sec.set_input_files("#document", files=[{"name": "проект.docx", "mimeType": DOCX, "buffer": docx_bytes(russian_law(30))}])
    sec.locator("#draft form button[type=submit]").click()
    sec.wait_for_url(re.compile(r"/draft/preview\?token="))
    expect(sec.locator("table.preview tr.article")).to_have_count(30)
    expect(sec.locator("table.preview tr.chapter")).to_have_count(6)
    expect(sec.locator("table.preview tr.article").first).to_contain_text("Заголовок статьи 1")
    expect(sec.locator(".skipped li")).to_have_count(2)  # the law's title lines
    expect(sec.locator("#preview-summary")).to_contain_text("статей: 30, глав: 6")
    assert httpx.get(f"{server.url}/api/assemblies/{aid}/document").json()["provisions"] == []  # the preview wrote nothing
    sec.screenshot(path=str(SCREENSHOTS / "setup-preview-ru.png"), full_page=False)
    assert serious(sec) == []
    sec.locator("#confirm-import").click()
    sec.wait_for_url(re.compile(rf"/assemblies/{aid}/setup\?done=imported"))
    expect(sec.locator("#imported")).to_contain_text("Записано положений: 30")

    doc = httpx.get(f"{server.url}/api/assemblies/{aid}/document").json()
    assert [p["number"] for p in doc["provisions"]] == [str(n) for n in range(1, 31)]
    assert doc["provisions"][29]["title"] == "Заголовок статьи 30"
    assert doc["provisions"][29]["text"] == "1. Первый пункт статьи 30.\n2. Второй пункт статьи 30."

    # 6. The agenda in one step: one item per article.
    sec.locator("#agenda input[value=article]").check()
    sec.locator("#agenda-build button[type=submit]").click()
    sec.wait_for_url(re.compile(rf"/assemblies/{aid}/setup\?done=agenda"))
    expect(sec.locator("#agenda-built")).to_contain_text("Добавлено пунктов: 30")
    expect(sec.locator(".setup-agenda > li")).to_have_count(30)
    expect(sec.locator(".setup-agenda .agenda-title").first).to_have_text("Статья 1. Заголовок статьи 1")
    expect(sec.locator("#agenda-build button[type=submit]")).to_be_disabled()
    items = httpx.get(f"{server.url}/api/assemblies/{aid}/agenda").json()
    assert [i["provisions"] for i in items] == [[p["id"]] for p in doc["provisions"]]
    sec.screenshot(path=str(SCREENSHOTS / "setup-ru.png"), full_page=False)
    assert serious(sec) == []

    # 7. Reshape the agenda: article 2 up, article 1 merged into it, then split off again.
    one, two = items[0]["id"], items[1]["id"]
    p1, p2 = doc["provisions"][0]["id"], doc["provisions"][1]["id"]
    titles = sec.locator(".setup-agenda .agenda-title")
    expect(sec.locator(f"#agenda-item-{one} .move-up")).to_have_count(0)  # the first item
    with sec.expect_navigation():
        sec.locator(f"#agenda-item-{two} .move-up").click()
    expect(titles.nth(0)).to_have_text("Статья 2. Заголовок статьи 2")
    expect(titles.nth(1)).to_have_text("Статья 1. Заголовок статьи 1")
    with sec.expect_navigation():
        sec.locator(f"#agenda-item-{one} .merge-up", has_text="Объединить с пунктом выше").click()
    expect(sec.locator(".setup-agenda > li")).to_have_count(29)
    expect(sec.locator(f"#agenda-item-{two} .agenda-provisions")).to_have_text("Положения: 2, 1")
    sec.locator(f"#agenda-item-{two} input[name=provision-{p1}]").check()
    sec.fill(f"#split-title-{two}", "Статья 1 (выделена)")
    with sec.expect_navigation():
        sec.locator(f"#agenda-item-{two} .split").click()
    expect(sec.locator(".setup-agenda > li")).to_have_count(30)
    expect(titles.nth(1)).to_have_text("Статья 1 (выделена)")
    expect(sec.locator(".setup-agenda .agenda-provisions").nth(0)).to_have_text("Положения: 2")
    expect(sec.locator(".setup-agenda .agenda-provisions").nth(1)).to_have_text("Положения: 1")
    items = httpx.get(f"{server.url}/api/assemblies/{aid}/agenda").json()
    assert [(i["position"], i["provisions"]) for i in items[:3]] == [(1, [p2]), (2, [p1]), (3, [doc["provisions"][2]["id"]])]
    assert serious(sec) == []
    ctx.close()
    assert not server.page_errors, server.page_errors
