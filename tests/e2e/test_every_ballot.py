"""The ballots of issue #17 the other browser tests leave out: a vote of every ranked counting
method cast by several delegates (in en, kk and ru), a delegate moving to a second device (they
revoke their own key and register a new one), the projector showing a closed vote's result on one
screen at 1920×1080 and 1280×720, and the phone layout putting an open ballot first in kk and ru.

(Schulze and yes/no are also cast in test_session.py and test_chair_votes.py; the late delegate,
the changed vote, the zero-ballot yes/no votes, the item, the reopened phase, the speakers added
by name and the overtime are in test_chair_votes.py and test_live_push.py.)"""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from tests.e2e.conftest import SCREENSHOTS, Server, login

expect.set_options(timeout=10_000)

RANKED = ("schulze", "ranked_pairs", "irv", "borda", "plurality")
PENDING_KK = "Бұл дауыс беруге қатыса алмайсыз: дауыс беру ашылғанда кілтіңіз әлі мақұлдауды күтіп тұрды."


def within(page: Any, selector: str, width: int, height: int) -> dict[str, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    assert box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= width + 1 and box["y"] + box["height"] <= height + 1, (selector, box, width, height)
    return box


def approve_pending(server: Server, aid: int) -> None:
    chair = server.token(server.demo["moderator"]["username"], server.demo["moderator"]["password"])
    server.call("POST", f"/api/assemblies/{aid}/keys/approve-pending", chair)


def test_every_ranked_method_is_cast_by_several_delegates_and_the_wall_shows_a_result(browser: Any, server: Server) -> None:
    demo = server.demo
    aid = demo["assembly"]
    chair = server.token(demo["moderator"]["username"], demo["moderator"]["password"])
    people = demo["delegates"][:3]
    pages = [login(browser, server, who, locale) for who, locale in zip(people, ("en-US", "kk-KZ", "ru-RU"))]
    for page in pages:
        page.goto(f"{server.url}/assemblies/{aid}?item=1")
        expect(page.locator("body")).to_have_attribute("data-live", "online")
        page.locator("#create-key").click()
        expect(page.locator("[data-keys]")).to_have_attribute("data-state", "pending")
    approve_pending(server, aid)
    for page in pages:
        expect(page.locator("[data-keys]")).to_have_attribute("data-state", "approved")
    provision = server.call("GET", "/api/agenda/1", chair)["provisions"][0]
    eids = {}
    for method in RANKED:
        made = server.call("POST", "/api/agenda/1/elections", chair, {"provision": provision, "method": method, "title": f"By {method}"})
        opened = server.call("POST", f"/api/elections/{made['id']}/open", chair)
        assert len(opened["election"]["signed"]["options"]) >= 3, "status quo and two admitted amendments"
        eids[method] = str(made["id"])
    for eid in eids.values():
        for n, page in enumerate(pages):
            ranking = page.locator(f"#ranking-{eid} li[data-option]")
            expect(ranking).to_have_count(3)
            if n == 1:  # one of them puts the first amendment first; the others keep the current text first
                # the first delegate's ballot has reached this page: a push of it cannot move the list under the click
                expect(page.locator(f"#election-{eid} [data-tree-size]")).to_have_text("1")
                ranking.nth(1).locator("[data-move=up]").click()
                expect(ranking.first).not_to_have_attribute("data-option", "status_quo")
            page.locator(f"#cast-{eid}").click()
            expect(page.locator(f"[data-ballot='{eid}'] [data-voted]")).to_be_visible(timeout=15_000)
        expect(pages[0].locator(f"#election-{eid} [data-turnout]")).to_contain_text("3 of")
    for method, eid in eids.items():
        server.call("POST", f"/api/elections/{eid}/close", chair)
        result = httpx.get(f"{server.url}/api/elections/{eid}/result").json()["signed"]
        assert (result["method"], result["counted"], result["winner"]) == (method, 3, "status_quo"), result
        for page in pages:
            expect(page.locator(f"#result-{eid}")).to_be_visible()
    expect(pages[0].locator(f"#result-{eids['irv']}")).to_contain_text("Keep the current text")

    # The projector, a vote closed on the item shown: the result fits one screen (item 2, one vote).
    for phase in ("amendments", "voting"):
        server.call("POST", "/api/agenda/2/phase", chair, {"phase": phase})
    made = server.call("POST", "/api/agenda/2/elections", chair, {"kind": "yes_no", "title": "Adopt Article 4", "rule": {"majority": "simple", "quorum_percent": 0}})
    eid = str(made["id"])
    server.call("POST", f"/api/elections/{eid}/open", chair)
    pages[2].goto(f"{server.url}/assemblies/{aid}?item=2")
    pages[2].locator(f"#choices-{eid} [data-choice=yes]").click()
    pages[2].locator(f"#cast-{eid}").click()
    expect(pages[2].locator(f"[data-ballot='{eid}'] [data-voted]")).to_be_visible(timeout=15_000)
    server.call("POST", f"/api/elections/{eid}/close", chair)
    for locale, (w, h) in (("ru-RU", (1920, 1080)), ("kk-KZ", (1280, 720))):
        context = browser.new_context(locale=locale, viewport={"width": w, "height": h})
        wall = context.new_page()
        wall.on("pageerror", lambda exc: server.page_errors.append(f"wall: {exc}"))
        wall.goto(f"{server.url}/assemblies/{aid}/live?wall=1&item=2")
        expect(wall.locator("body")).to_have_attribute("data-live", "online")
        expect(wall.locator(f"#result-{eid}")).to_have_attribute("data-passed", "1")
        assert wall.evaluate("document.documentElement.scrollHeight") <= h and wall.evaluate("document.documentElement.scrollWidth") <= w
        for sel in ("#li-h", f"#election-{eid} h3", f"#result-{eid}", f"#result-{eid} .counts", f"#election-{eid} .options", f"#chart-{eid}", f"#election-{eid} [data-received]"):
            within(wall, sel, w, h)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        wall.screenshot(path=str(SCREENSHOTS / f"projector-result-{locale[:2]}-{w}x{h}.png"))
        context.close()
    for page in pages:
        page.context.close()
    assert not server.page_errors, server.page_errors


def test_a_delegate_moves_to_a_second_device(browser: Any, server: Server) -> None:
    """The first device's key is approved; on the second the delegate is told it is elsewhere,
    revokes it there, registers the new device's key and, once approved, votes from it; the old
    device is told its key is not the one on the roll."""
    demo = server.demo
    aid = demo["assembly"]
    chair = server.token(demo["moderator"]["username"], demo["moderator"]["password"])
    who = demo["delegates"][3]
    first = login(browser, server, who)
    first.goto(f"{server.url}/assemblies/{aid}?item=1")
    expect(first.locator("body")).to_have_attribute("data-live", "online")
    first.locator("#create-key").click()
    expect(first.locator("[data-keys]")).to_have_attribute("data-state", "pending")
    approve_pending(server, aid)
    expect(first.locator("[data-keys]")).to_have_attribute("data-state", "approved")
    old_key = first.locator("[data-keys] li[data-key-status=approved]").first.get_attribute("data-key-id") or ""

    second = login(browser, server, who, "ru-RU")  # another browser: no key of its own
    second.goto(f"{server.url}/assemblies/{aid}?item=1")
    expect(second.locator("body")).to_have_attribute("data-live", "online")
    expect(second.locator("[data-keys]")).to_have_attribute("data-state", "elsewhere")
    expect(second.locator("#create-key")).to_be_hidden()
    second.locator(f"#revoke-key-{old_key[:16]}").click()
    second.locator("#confirm-ok").click()
    expect(second.locator(f"[data-keys] li[data-key-id='{old_key}']")).to_have_attribute("data-key-status", "revoked")
    expect(second.locator("#create-key")).to_be_visible()
    second.locator("#create-key").click()
    expect(second.locator("[data-keys]")).to_have_attribute("data-state", "pending")
    approve_pending(server, aid)
    expect(second.locator("[data-keys]")).to_have_attribute("data-state", "approved")
    expect(first.locator("[data-keys]")).to_have_attribute("data-state", "elsewhere")  # the active key is now the other device's

    made = server.call("POST", "/api/agenda/1/elections", chair, {"kind": "yes_no", "title": "From the new device", "rule": {"majority": "simple", "quorum_percent": 0}})
    eid = str(made["id"])
    server.call("POST", f"/api/elections/{eid}/open", chair)
    roll = {v["key_id"] for v in httpx.get(f"{server.url}/api/elections/{eid}/roll").json()["signed"]["voters"]}
    new_key = second.locator("[data-keys] li[data-key-status=approved]").first.get_attribute("data-key-id")
    assert new_key in roll and old_key not in roll
    expect(first.locator(f"[data-ballot='{eid}'] [data-roll-note]")).to_be_visible()
    expect(first.locator(f"#cast-{eid}")).to_be_hidden()
    expect(second.locator(f"[data-ballot='{eid}'] [data-roll-note]")).to_be_hidden()
    second.locator(f"#choices-{eid} [data-choice=no]").click()
    second.locator(f"#cast-{eid}").click()
    expect(second.locator("#receipt-panel")).to_have_attribute("data-state", "recorded", timeout=15_000)
    server.call("POST", f"/api/elections/{eid}/close", chair)
    assert httpx.get(f"{server.url}/api/elections/{eid}/result").json()["signed"]["details"]["no"] == 1
    for page in (first, second):
        page.context.close()
    assert not server.page_errors, server.page_errors


def test_on_a_phone_an_open_ballot_comes_first(browser: Any, server: Server) -> None:
    """At 390×844, in kk and ru (long headers), a delegate's open ballot starts above the fold
    and before the assembly's title and description, the floor, the provisions and the agenda
    (after the heading of the item it is on)."""
    demo = server.demo
    aid = demo["assembly"]
    chair = server.token(demo["moderator"]["username"], demo["moderator"]["password"])
    approve_pending(server, aid)
    if not any(k["status"] == "approved" for k in server.call("GET", f"/api/assemblies/{aid}/keys", chair)):
        server.open_demo_vote(6)  # a roll needs a key
    # A yes/no vote: closing it rejects no amendment (the ranked votes of the first test need them).
    made = server.call("POST", "/api/agenda/1/elections", chair, {"kind": "yes_no", "title": "On a phone", "rule": {"majority": "simple", "quorum_percent": 0}})
    eid = str(made["id"])
    server.call("POST", f"/api/elections/{eid}/open", chair)
    for who, locale in ((demo["delegates"][7], "kk-KZ"), (demo["delegates"][8], "ru-RU")):
        page = login(browser, server, who, locale)
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{server.url}/assemblies/{aid}")  # the item on the floor, as the room sees it
        expect(page.locator("body")).to_have_attribute("data-live", "online")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"phone-ballot-{locale[:2]}.png"))
        first = page.locator("[data-ballot]").first  # the first open ballot on the page (the demo's vote may be open too)
        expect(first.locator("[data-cast]")).to_be_attached()
        ballot = within(page, "[data-ballot]", 390, 10_000)
        control = within(page, "[data-ballot] [data-move], [data-ballot] [data-choice]", 390, 844)  # its first control in view
        assert control["y"] > ballot["y"]
        for later in ("main > h1", "#floor", "#provisions", "#presence", "#agenda"):  # the assembly title and description too
            box = page.locator(later).first.bounding_box()
            assert box is not None and ballot["y"] < box["y"], (locale, later, ballot, box)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, f"{locale}: no horizontal scrolling"
        page.context.close()
    server.call("POST", f"/api/elections/{eid}/close", chair)
    assert not server.page_errors, server.page_errors


def test_a_key_pending_at_opening_is_told_before_casting(browser: Any, server: Server) -> None:
    """A delegate registers a key that the chair has not approved when the vote opens: the
    console's open-vote form names them beside "Approve all pending keys"; the vote opens
    anyway; the delegate's ballot says why they cannot vote, with no cast button, and after a
    late approval says that it came after the opening."""
    demo = server.demo
    aid = demo["assembly"]
    chair_token = server.token(demo["moderator"]["username"], demo["moderator"]["password"])
    approve_pending(server, aid)  # only this test's key waits
    if not any(k["status"] == "approved" for k in server.call("GET", f"/api/assemblies/{aid}/keys", chair_token)):
        server.open_demo_vote(6)  # a roll needs a key
    who = demo["delegates"][4]
    late = login(browser, server, who, "kk-KZ")
    late.goto(f"{server.url}/assemblies/{aid}?item=1")
    expect(late.locator("body")).to_have_attribute("data-live", "online")
    late.locator("#create-key").click()
    expect(late.locator("[data-keys]")).to_have_attribute("data-state", "pending")
    made = server.call("POST", "/api/agenda/1/elections", chair_token, {"kind": "yes_no", "title": "Pending at opening", "rule": {"majority": "simple", "quorum_percent": 0}})
    eid = str(made["id"])
    chair = login(browser, server, demo["moderator"])
    chair.goto(f"{server.url}/assemblies/{aid}/chair?item=1")
    expect(chair.locator("body")).to_have_attribute("data-live", "online")
    notice = chair.locator(f"#pending-before-open-{eid}")
    expect(notice).to_contain_text(who["username"])
    expect(notice.locator("button")).to_contain_text("Approve all pending keys (1)")
    chair.locator(f"#open-{eid}").click()
    expect(chair.locator("#confirm-text")).to_contain_text("1 keys still wait for approval and will not be on the roll.")
    chair.locator("#confirm-ok").click()
    expect(chair.locator(f"#election-{eid}")).to_have_attribute("data-status", "open")
    note = late.locator(f"[data-ballot='{eid}'] [data-roll-note]")
    expect(note).to_have_text(PENDING_KK)
    expect(late.locator(f"#cast-{eid}")).to_be_hidden()
    expect(late.locator(f"#choices-{eid} [data-choice=yes]")).to_be_disabled()
    approve_pending(server, aid)
    expect(late.locator("[data-keys]")).to_have_attribute("data-state", "approved")
    expect(note).to_have_text("Бұл дауыс беруге қатыса алмайсыз: кілтіңіз дауыс беру ашылғаннан кейін мақұлданды. Келесі дауыс беру туралы төрағадан сұраңыз.")
    expect(late.locator(f"#cast-{eid}")).to_be_hidden()
    server.call("POST", f"/api/elections/{eid}/close", chair_token)
    for page in (late, chair):
        page.context.close()
    assert not server.page_errors, server.page_errors
