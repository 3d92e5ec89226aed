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


def test_chair_and_delegates_follow_without_fetching_and_keep_what_they_type(browser: Any, server: Server) -> None:
    """The delegate view and the chair console are pushed too: a chair and two delegates in two
    languages follow the speakers' list and each other's comments without fetching a page after
    load; each delegate sees their own controls only; a delegate typing a comment keeps the
    text through a push, is told the part changed, and sees it brought up to date once sent."""
    from tests.e2e.conftest import login

    demo = server.demo
    aid = demo["assembly"]
    item = 2  # "Article 4: Funding", in debate in the demo
    en_who, ru_who = demo["delegates"][10], demo["delegates"][11]
    people = {"chair": (demo["moderator"], "en-US", "chair"), "en": (en_who, "en-US", ""), "ru": (ru_who, "ru-RU", "")}
    pages: dict[str, Any] = {}
    fetched: dict[str, list[str]] = {}
    for name, (who, locale, view) in people.items():
        page = login(browser, server, who, locale)
        page.goto(f"{server.url}/assemblies/{aid}{'/' + view if view else ''}?item={item}")
        expect(page.locator("body")).to_have_attribute("data-live", "online")
        fetched[name] = []
        page.on("request", lambda r, into=fetched[name]: into.append(r.url) if r.method == "GET" and "/assemblies/" in r.url else None)
        pages[name] = page
    en, ru, chair = pages["en"], pages["ru"], pages["chair"]
    expect(ru.locator("#floor-h")).not_to_have_text(en.locator("#floor-h").text_content() or "")

    # The English delegate starts a comment on the provision and leaves it unsent.
    box = en.locator("#provisions details.comment-box").first
    box.locator("summary").click()
    draft = "I support this, with one change to the deadline"
    box.locator("textarea").fill(draft)

    # The Russian delegate asks for the floor: everybody sees the queue; only she may withdraw.
    ru.locator("#request-floor").click()
    for page in (en, ru):
        expect(page.locator("#queue")).to_contain_text(ru_who["username"])
    expect(chair.locator("#chair-queue")).to_contain_text(ru_who["username"])
    expect(ru.locator("#queue form[data-if-me] button")).to_be_visible()
    expect(en.locator("#queue form[data-if-me] button")).to_be_hidden()
    expect(ru.locator("#request-floor")).to_be_hidden()
    expect(en.locator("#request-floor")).to_be_visible()

    # Her comment changes the provisions region while he types: his text stays, with a note.
    token = server.token(ru_who["username"], ru_who["password"])
    provision = int((en.locator("#provisions article.provision").first.get_attribute("id") or "").split("-")[1])
    server.call("POST", f"/api/assemblies/{aid}/comments", token, {"provision": provision, "text": "Давайте обсудим срок", "stance": "for"})
    expect(ru.locator("#provisions")).to_contain_text("Давайте обсудим срок")
    expect(en.locator("#provisions .stale-note")).to_be_visible()
    expect(box.locator("textarea")).to_have_value(draft)
    box.locator("button[type=submit]").click()
    expect(en.locator("#provisions")).to_contain_text("Давайте обсудим срок")
    expect(en.locator("#provisions")).to_contain_text(draft)
    expect(en.locator("#provisions .stale-note")).to_have_count(0)

    # The chair gives her the floor from the console.
    chair.locator("#give-floor").click()
    for page in (en, ru):
        expect(page.locator("#current-speaker")).to_have_text(ru_who["username"])
    expect(chair.locator("#timer-pause")).to_be_visible()
    chair.locator("#end-speech").click()
    for page in (en, ru):
        expect(page.locator("#current-speaker-none")).to_be_visible()
    assert fetched == {"chair": [], "en": [], "ru": []}, fetched
    api = httpx.get(f"{server.url}/api/agenda/{item}/speakers").json()
    assert api["current"] is None
    for page in pages.values():
        page.context.close()
    assert not server.page_errors, server.page_errors
