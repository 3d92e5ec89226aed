"""The chair console creates a yes/no vote with its majority rule and quorum (issue #6)."""

from __future__ import annotations

import time
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.e2e.conftest import Server, login


def test_chair_creates_a_yes_no_vote(browser: Any, server: Server) -> None:
    demo = server.demo
    aid = demo["assembly"]
    item = 1  # the demo's first item is in its voting phase
    mod = login(browser, server, demo["moderator"])
    mod.goto(f"{server.url}/assemblies/{aid}/chair?item={item}")
    mod.locator("details.create-election summary").click()
    expect(mod.locator("#el-majority")).to_be_hidden()
    mod.select_option("#el-kind", "yes_no")
    expect(mod.locator("#el-method")).to_be_hidden()
    mod.select_option("#el-majority", "two_thirds")
    mod.fill("#el-quorum", "60")
    mod.fill("#el-title", "Final vote on Article 3")
    mod.locator("#create-election").click()
    expect(mod.locator("#chair-elections")).to_contain_text("Final vote on Article 3")
    elections = httpx.get(f"{server.url}/api/assemblies/{aid}/elections").json()
    final = next(e for e in elections if e["title"] == "Final vote on Article 3")
    assert final["kind"] == "yes_no" and final["method"] == "yes_no"
    assert final["rule"] == {"majority": "two_thirds", "quorum_percent": 60}
    assert not server.page_errors, server.page_errors


def test_a_live_update_keeps_the_half_filled_vote_form(browser: Any, server: Server) -> None:
    """A chair who has chosen "yes or no" in the create-a-vote form keeps the choice while a live
    event updates the page (the refresh skips a region whose form differs from its defaults:
    text, checkboxes and selects alike), and the region catches up after the form is sent."""
    demo = server.demo
    aid = demo["assembly"]
    mod = login(browser, server, demo["moderator"])
    mod.goto(f"{server.url}/assemblies/{aid}/chair?item=1")
    expect(mod.locator("body")).to_have_attribute("data-live", "online")
    mod.locator("details.create-election summary").click()
    mod.select_option("#el-kind", "yes_no")
    expect(mod.locator("#el-majority")).to_be_visible()
    before = int(mod.locator("body").get_attribute("data-refreshed") or 0)
    token = server.token(demo["moderator"]["username"], demo["moderator"]["password"])
    server.call("POST", "/api/agenda/1/elections", token, {"kind": "yes_no", "title": "Created elsewhere", "rule": {"majority": "simple", "quorum_percent": 50}})
    deadline = time.monotonic() + 15  # (wait_for_function evaluates strings: the page's CSP forbids it)
    while int(mod.locator("body").get_attribute("data-refreshed") or 0) <= before:
        assert time.monotonic() < deadline, "the live event did not refresh the page"
        mod.wait_for_timeout(50)
    expect(mod.locator("#el-kind")).to_have_value("yes_no")
    expect(mod.locator("#el-majority")).to_be_visible()
    mod.fill("#el-title", "Made in the form")
    mod.locator("#create-election").click()
    expect(mod.locator("#chair-elections")).to_contain_text("Made in the form")
    expect(mod.locator("#chair-elections")).to_contain_text("Created elsewhere")
    assert not server.page_errors, server.page_errors


def test_yes_no_votes_are_cast_with_three_buttons_and_zero_ballots_say_why_nothing_passed(browser: Any, server: Server) -> None:
    """Issue #17, point 1: a yes/no vote is cast by pressing one of yes, no and abstain (one
    choice, not a ranking of three); the result says adopted or not, with the counts, and a vote
    without ballots says "no quorum" when its quorum was not met, and only then."""
    demo = server.demo
    aid = demo["assembly"]
    chair = server.token(demo["moderator"]["username"], demo["moderator"]["password"])
    people = demo["delegates"][5:8]
    pages = [login(browser, server, who, locale) for who, locale in zip(people, ("en-US", "ru-RU", "kk-KZ"))]
    for page in pages:
        page.goto(f"{server.url}/assemblies/{aid}?item=1")
        expect(page.locator("body")).to_have_attribute("data-live", "online")
        page.locator("#create-key").click()
        expect(page.locator("[data-keys]")).to_have_attribute("data-state", "pending")
    names = {who["username"] for who in people}
    for k in server.call("GET", f"/api/assemblies/{aid}/keys", chair):
        if k["username"] in names and k["status"] == "pending":
            server.call("POST", f"/api/assemblies/{aid}/keys/{k['key_id']}/approve", chair)
    for page in pages:
        expect(page.locator("[data-keys]")).to_have_attribute("data-state", "approved")

    def yes_no(title: str, quorum: int) -> str:
        made = server.call("POST", "/api/agenda/1/elections", chair, {"kind": "yes_no", "title": title, "rule": {"majority": "simple", "quorum_percent": quorum}})
        server.call("POST", f"/api/elections/{made['id']}/open", chair)
        return str(made["id"])

    late = login(browser, server, demo["delegates"][9])
    late.goto(f"{server.url}/assemblies/{aid}?item=1")
    expect(late.locator("body")).to_have_attribute("data-live", "online")
    eid = yes_no("Adopt Article 3 as amended", 20)
    # Issue #17, point 2: a delegate who is not on the roll is told why before casting.
    expect(late.locator(f"#election-{eid} [data-roll-note]")).to_contain_text("no approved voting key")
    expect(late.locator(f"#cast-{eid}")).to_be_hidden()
    expect(late.locator(f"#choices-{eid} [data-choice=yes]")).to_be_disabled()
    late.locator("#create-key").click()
    expect(late.locator("[data-keys]")).to_have_attribute("data-state", "pending")
    expect(late.locator(f"#election-{eid} [data-roll-note]")).to_contain_text("waiting for approval")
    for k in server.call("GET", f"/api/assemblies/{aid}/keys", chair):
        if k["username"] == demo["delegates"][9]["username"] and k["status"] == "pending":
            server.call("POST", f"/api/assemblies/{aid}/keys/{k['key_id']}/approve", chair)
    expect(late.locator(f"#election-{eid} [data-roll-note]")).to_contain_text("approved after the vote opened")
    expect(late.locator(f"#cast-{eid}")).to_be_hidden()
    for page in pages:
        expect(page.locator(f"#election-{eid} [data-roll-note]")).to_be_hidden()
    late.context.close()
    # Issue #17 (accessibility): the opening is announced; on a phone the open ballot comes first.
    expect(pages[0].locator("#announcer")).to_contain_text("Adopt Article 3 as amended")
    pages[1].set_viewport_size({"width": 390, "height": 844})
    vote_box, provisions_box = pages[1].locator("#vote").bounding_box(), pages[1].locator("#provisions").bounding_box()
    assert vote_box and provisions_box and vote_box["y"] < provisions_box["y"], (vote_box, provisions_box)
    for page, choice in zip(pages, ("yes", "yes", "no")):
        choices = page.locator(f"#choices-{eid} [data-choice]")
        expect(choices).to_have_count(3)
        page.locator(f"#cast-{eid}").click()  # nothing chosen yet: told to choose, nothing sent
        expect(page.locator("#toast")).to_be_visible()
        page.locator(f"#choices-{eid} [data-choice={choice}]").click()
        expect(page.locator(f"#choices-{eid} [aria-pressed=true]")).to_have_count(1)
        page.locator(f"#cast-{eid}").click()
        expect(page.locator("#receipt-panel")).to_have_attribute("data-state", "recorded", timeout=15000)
        # "You have voted": the choice stays pressed and locked, the receipt in view
        expect(page.locator(f"[data-ballot='{eid}'] [data-voted]")).to_be_visible()
        expect(page.locator(f"#choices-{eid} [data-choice={choice}]")).to_have_attribute("aria-pressed", "true")
        expect(page.locator(f"#choices-{eid} [data-choice={choice}]")).to_be_disabled()
        expect(page.locator("#receipt-panel")).to_be_in_viewport()
    # After a reload the vote is still shown; "Change my vote" unlocks it; the new one is revision 2.
    third = pages[2]
    third.reload()
    expect(third.locator(f"[data-ballot='{eid}'] [data-voted-text]")).to_contain_text("1")
    expect(third.locator(f"#choices-{eid} [data-choice=no]")).to_have_attribute("aria-pressed", "true")
    expect(third.locator(f"#choices-{eid} [data-choice=yes]")).to_be_disabled()
    expect(third.locator(f"#cast-{eid}")).to_be_hidden()
    third.locator(f"#change-vote-{eid}").click()
    third.locator(f"#choices-{eid} [data-choice=yes]").click()
    third.locator(f"#cast-{eid}").click()
    expect(third.locator(f"[data-ballot='{eid}'] [data-voted-text]")).to_contain_text("2", timeout=15000)
    expect(third.locator(f"#choices-{eid} [data-choice=yes]")).to_have_attribute("aria-pressed", "true")
    server.call("POST", f"/api/elections/{eid}/close", chair)
    result = httpx.get(f"{server.url}/api/elections/{eid}/result").json()["signed"]["details"]
    assert (result["yes"], result["no"], result["abstain"], result["passed"]) == (3, 0, 0, True)
    expect(pages[0].locator(f"#result-{eid}")).to_contain_text("Adopted")
    expect(pages[0].locator(f"#result-{eid} .counts")).to_contain_text("Yes 3 · No 0 · Abstain 0")
    expect(pages[1].locator(f"#result-{eid}")).to_contain_text("Принято")

    empty = yes_no("Nobody votes, quorum 50 %", 50)
    server.call("POST", f"/api/elections/{empty}/close", chair)
    expect(pages[0].locator(f"#result-{empty}")).to_contain_text("Not adopted: no quorum")
    free = yes_no("Nobody votes, no quorum needed", 0)
    server.call("POST", f"/api/elections/{free}/close", chair)
    expect(pages[0].locator(f"#result-{free} strong")).to_have_text("Not adopted")
    for page in pages:
        page.context.close()
    assert not server.page_errors, server.page_errors


def test_the_chair_puts_an_item_on_the_floor_and_reopens_a_phase(browser: Any, server: Server) -> None:
    """Issue #17, point 4: the room (projector and delegates, no item asked for) follows the item
    the chair puts on the floor; the chair reopens the phase before with a reason."""
    demo = server.demo
    aid = demo["assembly"]
    chair = login(browser, server, demo["moderator"])
    chair.goto(f"{server.url}/assemblies/{aid}/chair?item=2")
    expect(chair.locator("body")).to_have_attribute("data-live", "online")
    projector = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
    projector.goto(f"{server.url}/assemblies/{aid}/live")
    delegate = login(browser, server, demo["delegates"][8], "ru-RU")
    delegate.goto(f"{server.url}/assemblies/{aid}")
    for page in (projector, delegate):
        expect(page.locator("body")).to_have_attribute("data-live", "online")
    expect(projector.locator("#li-h")).to_contain_text("Статья 3")
    chair.locator("#put-this-on-floor").click()
    expect(projector.locator("#li-h")).to_contain_text("Статья 4")
    expect(delegate.locator("#item-h")).to_contain_text("Статья 4")
    expect(delegate.locator("#item-2 .on-floor")).to_be_visible()
    expect(chair.locator("#chair-agenda-2 .on-floor")).to_be_visible()
    expect(chair.locator("#put-this-on-floor")).to_have_count(0)
    assert httpx.get(f"{server.url}/api/assemblies/{aid}").json()["current_item"] == 2

    # Back to the first item from the agenda list, then reopen its amendments phase.
    chair.goto(f"{server.url}/assemblies/{aid}/chair?item=1")
    chair.locator("#put-on-floor-1").click()
    expect(projector.locator("#li-h")).to_contain_text("Статья 3")
    chair.locator("details.reopen summary").click()
    chair.fill("#reopen-why", "An amendment was left out by mistake")
    chair.locator("#reopen-phase").click()
    chair.locator("#confirm-ok").click()
    expect(chair.locator("#chair-item .phase")).to_have_text("amendments")
    expect(projector.locator("#live-item .phase")).to_have_text("amendments")
    expect(delegate.locator("#item .phase")).to_have_text("поправки")
    token = server.token(demo["moderator"]["username"], demo["moderator"]["password"])
    audit = server.call("GET", f"/api/assemblies/{aid}/audit", token)
    reopened = [e["payload"] for e in audit["entries"] if e["action"] == "agenda.phase" and e["payload"].get("reopened")]
    assert reopened[-1]["reason"] == "An amendment was left out by mistake"
    chair.locator("#advance-phase").click()
    chair.locator("#confirm-ok").click()
    expect(chair.locator("#chair-item .phase")).to_have_text("voting")
    for page in (chair, projector, delegate):
        page.context.close()
    assert not server.page_errors, server.page_errors
