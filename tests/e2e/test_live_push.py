"""The live view renders once and is pushed (issue #16): projectors in two languages follow the
speakers' list without fetching anything after load, the timer counts down from the server's
clock, and they end showing what the API shows."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from tests.e2e.conftest import Server

expect.set_options(timeout=10_000)


def projector(browser: Any, server: Server, locale: str) -> tuple[Any, list[str]]:
    """An anonymous live page at 1920×1080; and the list of the HTTP requests it makes after load."""
    context = browser.new_context(locale=locale, viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.on("pageerror", lambda exc: server.page_errors.append(f"projector {locale}: {exc}"))
    page.goto(f"{server.url}/assemblies/{server.demo['assembly']}/live")
    expect(page.locator("body")).to_have_attribute("data-live", "online")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    return page, requests


def test_projectors_follow_the_floor_without_fetching(browser: Any, server: Server) -> None:
    demo = server.demo
    en, en_requests = projector(browser, server, "en-US")
    kk, kk_requests = projector(browser, server, "kk-KZ")
    expect(kk.locator("html")).to_have_attribute("lang", "kk")
    speaker = demo["delegates"][8]
    delegate = server.token(speaker["username"], speaker["password"])
    chair = server.token(demo["moderator"]["username"], demo["moderator"]["password"])
    server.call("POST", "/api/agenda/1/speakers", delegate, {"kind": "speech"})
    for page in (en, kk):
        expect(page.locator("#queue")).to_contain_text(speaker["username"])
    server.call("POST", "/api/agenda/1/speakers/next", chair, {})
    for page in (en, kk):
        expect(page.locator("#current-speaker")).to_have_text(speaker["username"])
        expect(page.locator(".timer.running")).to_be_visible()
    first = en.locator(".timer").text_content()
    en.wait_for_timeout(2200)
    assert en.locator(".timer").text_content() != first, "the pushed timer counts down"
    assert en.locator("#floor-h").text_content() != kk.locator("#floor-h").text_content()  # each in its language
    assert int(en.locator("body").get_attribute("data-pushed") or 0) >= 2
    assert en_requests == [] and kk_requests == [], (en_requests, kk_requests)
    api = httpx.get(f"{server.url}/api/agenda/1/speakers").json()
    assert api["current"]["username"] == speaker["username"]
    server.call("POST", "/api/agenda/1/speakers/end", chair, {})
    for page in (en, kk):
        expect(page.locator("#current-speaker-none")).to_be_visible()
        page.context.close()
    assert not server.page_errors, server.page_errors
