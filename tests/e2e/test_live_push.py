"""The live view renders once and is pushed (issue #16): projectors in two languages follow the
speakers' list without fetching anything after load, the timer counts down from the server's
clock, and they end showing what the API shows."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from tests.e2e.conftest import SCREENSHOTS, Server

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
        expect(page.locator(f"#queue li[data-username='{speaker['username']}']")).to_be_visible()
    server.call("POST", "/api/agenda/1/speakers/next", chair, {})
    for page in (en, kk):
        expect(page.locator("#current-speaker")).to_have_attribute("data-username", speaker["username"])
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
        expect(page.locator(f"#queue li[data-username='{ru_who['username']}']")).to_be_visible()
    expect(chair.locator(f"#chair-queue li[data-username='{ru_who['username']}']")).to_be_visible()
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
        expect(page.locator("#current-speaker")).to_have_attribute("data-username", ru_who["username"])
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


def test_the_chair_adds_and_removes_speakers_and_the_room_sees_names_and_overtime(browser: Any, server: Server) -> None:
    """Issue #17, point 5: the chair adds a member to the list by name and takes one off; the
    projector shows display names, not logins; the timer counts overtime (+m:ss) after 0:00."""
    from tests.e2e.conftest import login

    demo = server.demo
    aid = demo["assembly"]
    item = 2
    chair_token = server.token(demo["moderator"]["username"], demo["moderator"]["password"])
    server.call("PATCH", f"/api/agenda/{item}", chair_token, {"speaking_time_s": 10})
    chair = login(browser, server, demo["moderator"])
    chair.goto(f"{server.url}/assemblies/{aid}/chair?item={item}")
    expect(chair.locator("body")).to_have_attribute("data-live", "online")
    wall, _ = projector(browser, server, "ru-RU")
    wall.goto(f"{server.url}/assemblies/{aid}/live?item={item}")
    expect(wall.locator("body")).to_have_attribute("data-live", "online")
    members = {m["username"]: m for m in httpx.get(f"{server.url}/api/assemblies/{aid}/members").json()}
    first, second = demo["delegates"][3]["username"], demo["delegates"][4]["username"]
    for who in (first, second):
        chair.locator("details.add-speaker summary").click()
        chair.select_option("#add-speaker-who", who)
        chair.locator("#add-speaker").click()
        expect(chair.locator(f"#chair-queue li[data-username='{who}']")).to_be_visible()
    first_name = members[first]["display_name"]
    assert first_name and first_name != first
    expect(wall.locator("#queue")).to_contain_text(first_name)
    assert first not in (wall.locator("#queue").text_content() or ""), "display names, not logins"
    entry = chair.locator(f"#chair-queue li[data-username='{second}']").get_attribute("data-entry")
    chair.locator(f"#remove-{entry}").click()
    chair.locator("#confirm-ok").click()
    expect(chair.locator(f"#chair-queue li[data-username='{second}']")).to_have_count(0)
    expect(wall.locator(f"#queue li[data-username='{second}']")).to_have_count(0)
    chair.locator("#give-floor").click()
    expect(wall.locator("#current-speaker")).to_have_text(first_name)
    expect(wall.locator("#announcer")).to_contain_text(first_name)  # said to screen readers
    expect(wall.locator(".timer")).to_contain_text("+", timeout=16_000)  # overtime counts up after 0:00
    expect(wall.locator(".timer.over")).to_be_visible()
    chair.locator("#end-speech").click()
    expect(chair.locator(f"#speaking-totals li[data-username='{first}']")).to_be_visible()
    server.call("PATCH", f"/api/agenda/{item}", chair_token, {"speaking_time_s": 180})
    for page in (chair, wall):
        page.context.close()
    assert not server.page_errors, server.page_errors


def test_the_projector_wall_fits_one_screen(browser: Any, server: Server) -> None:
    """Issue #17, point 6: `/live?wall=1` at 1920×1080 and 1280×720 shows the item, the floor,
    the vote's options, turnout, ballots received, the chart and the verification badge without
    scrolling and without the header."""
    aid, eid = server.open_demo_vote(11)
    for lang, (w, h) in (("ru-RU", (1920, 1080)), ("kk-KZ", (1280, 720)), ("en-US", (1280, 720))):
        context = browser.new_context(locale=lang, viewport={"width": w, "height": h})
        wall = context.new_page()
        wall.on("pageerror", lambda exc: server.page_errors.append(f"wall: {exc}"))
        wall.goto(f"{server.url}/assemblies/{aid}/live?wall=1&item=1")
        expect(wall.locator("body")).to_have_attribute("data-live", "online")
        assert wall.evaluate("document.documentElement.scrollHeight") <= h, "no vertical scrolling"
        assert wall.evaluate("document.documentElement.scrollWidth") <= w, "no horizontal scrolling"
        expect(wall.locator("header.top")).to_be_hidden()
        for sel in (
            "#li-h",
            "#floor",
            f"#election-{eid} h3",
            f"#election-{eid} .options",
            f"#election-{eid} [data-turnout]",
            f"#election-{eid} [data-received]",
            f"#chart-{eid}",
            f"#election-{eid} .verify-badge",
        ):
            box = wall.locator(sel).first.bounding_box()
            assert box is not None, sel
            assert box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= w + 1 and box["y"] + box["height"] <= h + 1, (lang, sel, box)
        font = wall.evaluate(f"parseFloat(getComputedStyle(document.querySelector('#election-{eid} .options')).fontSize)")
        assert font >= 18, f"options in large type, got {font}px"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        wall.screenshot(path=str(SCREENSHOTS / f"projector-{lang[:2]}-{w}x{h}.png"))
        context.close()
    assert not server.page_errors, server.page_errors
