"""Members from a spreadsheet in the browser (issue #18): a secretary (in Russian) uploads a CSV
of 200 delegates with Kazakh and Russian names (UTF-8 with a BOM, semicolons), sees the preview,
imports it, the members list shows the 200 delegates, and their invitation cards print (25
pages; a card's QR code opens a link that sets the password); a wrong list is refused in Russian with
its row errors, and nothing is written; a member's weight is changed in the table."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

expect.set_options(timeout=15_000)

from tests.e2e.conftest import Server  # noqa: E402  (after expect.set_options, on purpose)
from tests.api.test_invitations import qr_links  # noqa: E402
from tests.e2e.test_accessibility import serious  # noqa: E402

FIRST = ["Әсел", "Нұрлан", "Айгерим", "Ерлан", "Жанна", "Бақыт", "Гүлнар", "Қайрат", "Мария", "Иван", "Ольга", "Сергей", "Дәурен", "Ұлжан", "Өмірзақ", "Татьяна", "Алексей", "Сәуле", "Ғалым", "Елена"]
LAST = ["Нұрланова", "Петров", "Сейітқалиев", "Щукина", "Әбенов", "Иванова", "Жұмабаев", "Кузнецов", "Төлеуова", "Ермеков"]


def delegates_csv(n: int = 200) -> bytes:
    lines = ["display_name;username;email;role;weight;language;примечание"]
    for i in range(n):
        name = f"{FIRST[i % len(FIRST)]} {LAST[i // len(FIRST) % len(LAST)]}"
        lang = ("kk", "ru", "")[i % 3]
        lines.append(f"{name};;;delegate;{1 + i % 2};{lang};ряд {i + 1}")
    return b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n"


def _api(server: Server, method: str, path: str, token: str, body: Any = None) -> Any:
    r = httpx.request(method, f"{server.url}{path}", json=body, headers={"authorization": f"Bearer {token}"})
    assert r.status_code < 300, r.text
    return r.json()


def test_the_secretary_imports_200_delegates(browser: Any, server: Server, tmp_path: Path) -> None:
    admin = {"username": "admin18m", "password": "admin password 18m"}
    subprocess.run(server.kurultai("user", "add", admin["username"], "--admin"), env=server.env(), input=admin["password"] + "\n", text=True, check=True, capture_output=True)
    token = server.token(admin["username"], admin["password"])
    aid = _api(server, "POST", "/api/assemblies", token, {"title": "Съезд", "titles": {"ru": "Съезд делегатов", "kk": "Делегаттар съезі"}})["id"]
    _api(server, "POST", "/api/users", token, {"username": "sekr18", "password": "secretary password 18", "display_name": "Секретарь"})
    _api(server, "POST", f"/api/assemblies/{aid}/members", token, {"username": "sekr18", "role": "secretary"})

    ctx = browser.new_context(locale="ru-RU", viewport={"width": 1280, "height": 900})
    sec = ctx.new_page()
    sec.on("pageerror", lambda exc: server.page_errors.append(f"sekr18: {exc}"))
    sec.goto(f"{server.url}/login?next=/assemblies/{aid}/setup")
    sec.fill("#username", "sekr18")
    sec.fill("#password", "secretary password 18")
    sec.locator("form.stack button[type=submit]").click()
    sec.wait_for_url(f"{server.url}/assemblies/{aid}/setup")

    # A wrong file: refused in Russian, nothing written.
    sec.set_input_files("#members-file", files=[{"name": "список.csv", "mimeType": "text/csv", "buffer": b"name;email\nAsel;a@b.kz\n"}])
    sec.locator("#members-preview").click()
    expect(sec.locator("#members-error")).to_have_attribute("data-error", "missing_column")
    expect(sec.locator("#members-error")).to_contain_text("В первой строке должны быть названия столбцов")
    assert serious(sec) == []  # (axe on the 200-row table below would take 15 s)

    # A list with row errors: the preview names them, and offers no import.
    bad = "\ufeffdisplay_name;weight;language\nӘсел Нұрланова;0;kk\n;1;ru\nИван Петров;2;de\n".encode()
    sec.set_input_files("#members-file", files=[{"name": "список.csv", "mimeType": "text/csv", "buffer": bad}])
    sec.locator("#members-preview").click()
    sec.wait_for_url(re.compile(r"/members/preview\?token="))
    expect(sec.locator("#members-errors")).to_contain_text("Строк с ошибками: 3")
    expect(sec.locator("#members-rows [data-code=bad_weight]")).to_have_text("вес должен быть целым числом от 1 до 1 000 000")
    expect(sec.locator("#members-rows [data-code=empty_name]")).to_have_count(1)
    expect(sec.locator("#members-rows [data-code=bad_language]")).to_have_count(1)
    expect(sec.locator("#confirm-members")).to_have_count(0)
    assert serious(sec) == []

    # The 200 delegates: preview, then import.
    sec.goto(f"{server.url}/assemblies/{aid}/setup")
    sec.set_input_files("#members-file", files=[{"name": "делегаты.csv", "mimeType": "text/csv", "buffer": delegates_csv()}])
    sec.locator("#members-preview").click()
    sec.wait_for_url(re.compile(r"/members/preview\?token="))
    expect(sec.locator("#members-rows tr.member-row")).to_have_count(200)
    expect(sec.locator("#members-rows tr.has-error")).to_have_count(0)
    expect(sec.locator("#members-summary")).to_contain_text("200")
    expect(sec.locator("#members-rows tr.member-row").first).to_contain_text("asel.nurlanova")
    assert len(httpx.get(f"{server.url}/api/assemblies/{aid}/members").json()) == 1  # the preview wrote nothing
    sec.locator("#confirm-members").click()
    sec.wait_for_url(re.compile(rf"/assemblies/{aid}/setup\?done=members"))
    expect(sec.locator("#members-imported")).to_contain_text("Участники импортированы: 200")
    expect(sec.locator("#members-list tr.member[data-role=delegate]")).to_have_count(200)

    members = httpx.get(f"{server.url}/api/assemblies/{aid}/members").json()
    delegates = [m for m in members if m["role"] == "delegate"]
    assert len(delegates) == 200 and len({m["username"] for m in delegates}) == 200
    assert sorted({m["weight"] for m in delegates}) == [1, 2]
    assert delegates[0]["display_name"] == "Әсел Нұрланова" and delegates[0]["username"] == "asel.nurlanova"

    # A member's weight, changed in the table.
    row = sec.locator("#members-list tr[data-username='asel.nurlanova']")
    row.locator("input[name=weight]").fill("5")
    row.locator("button[type=submit]").first.click()
    sec.wait_for_url(re.compile(rf"/assemblies/{aid}/setup\?done=member"))
    weights = {m["username"]: m["weight"] for m in httpx.get(f"{server.url}/api/assemblies/{aid}/members").json()}
    assert weights["asel.nurlanova"] == 5

    # The invitation cards of the 200 (and nobody else: the secretary has a password), printed
    # from the page in Kazakh: 25 pages of eight, and a card's code opens a working link.
    sec.select_option("#cards-lang", "kk")
    with sec.expect_download(timeout=60_000) as download:
        sec.locator("#print-invitations").click()
    pdf = tmp_path / "cards.pdf"
    download.value.save_as(pdf)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Pages:\s+25$", info, re.M), info
    links = qr_links(pdf.read_bytes(), tmp_path)
    assert len(links) == 8 and all(link.startswith(f"{server.url}/invite/") for link in links), links
    r = httpx.post(f"{server.url}/api/auth/invite", json={"token": links[0].rsplit("/", 1)[1], "password": "a delegate's password"})
    assert r.status_code == 200 and r.json()["username"] == "asel.nurlanova", r.text

    # On a phone the table scrolls sideways; its caption still starts on the screen.
    sec.set_viewport_size({"width": 390, "height": 844})
    sec.goto(f"{server.url}/assemblies/{aid}/setup")
    text = sec.locator("#members-list caption").evaluate("c => { const r = document.createRange(); r.selectNodeContents(c); const b = r.getBoundingClientRect(); return [b.left, b.right]; }")
    assert 0 <= text[0] and text[1] <= 390, text
    ctx.close()
    assert not server.page_errors, server.page_errors
