"""Languages in the browser (Accept-Language, the switch, kk and ru rendering) and the live view
reconnecting and resuming after the server restarts."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import Server, login

expect.set_options(timeout=10_000)


def test_language_switch(browser: Any, server: Server) -> None:
    aid = server.demo["assembly"]
    page = login(browser, server, server.demo["delegates"][5], locale="ru-RU")
    page.goto(f"{server.url}/assemblies/{aid}")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.locator("#agenda-h")).to_have_text("Повестка дня")
    expect(page.locator("#floor-h")).to_have_text("Слово")
    assert json.loads(page.locator("#i18n").text_content())["recorded"].startswith("Учтено")
    page.locator("button.lang-btn[value=kk]").click()
    expect(page.locator("html")).to_have_attribute("lang", "kk")
    expect(page.locator("#agenda-h")).to_have_text("Күн тәртібі")
    expect(page.locator("#vote-h")).to_have_text("Дауыс беру")
    expect(page.locator(".langs button[aria-pressed=true]")).to_have_text("Қазақша")
    page.goto(f"{server.url}/assemblies/{aid}/live")  # remembered
    expect(page.locator("html")).to_have_attribute("lang", "kk")
    expect(page.locator("body")).to_have_attribute("data-live", "online")
    expect(page.locator("#live-status")).to_have_text("Тікелей")
    page.locator("button.lang-btn[value=en]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.context.close()


def test_reconnect_after_restart(browser: Any, server: Server) -> None:
    aid = server.demo["assembly"]
    delegate = server.demo["delegates"][6]
    context = browser.new_context()
    live = context.new_page()
    live.goto(f"{server.url}/assemblies/{aid}/live?item=2")
    expect(live.locator("body")).to_have_attribute("data-live", "online")
    server.restart()
    expect(live.locator("body")).to_have_attribute("data-live", "online", timeout=20_000)
    token = server.token(delegate["username"], delegate["password"])
    server.call("POST", "/api/agenda/2/speakers", token, {"kind": "point_of_order"})
    expect(live.locator(f"#queue li[data-username='{delegate['username']}']")).to_be_visible(timeout=20_000)
    assert live.evaluate("performance.getEntriesByType('navigation').length") == 1
    context.close()
