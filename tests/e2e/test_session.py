"""A whole session in the browser, one context per person (issue #6)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

expect.set_options(timeout=10_000)

from tests.e2e.conftest import SCREENSHOTS, Server, login  # noqa: E402  (after expect.set_options, on purpose)

NEW_TEXT = "Every organization shall publish an annual report on its activities and finances in the public register within four months after the end of the year."


def confirm(page: Any) -> None:
    page.locator("#confirm-ok").click()


def test_full_session(browser: Any, server: Server) -> None:
    demo = server.demo
    aid = demo["assembly"]
    d1, d2, d3 = demo["delegates"][:3]
    item = 3  # "Articles 5-7", pending in the demo
    mod = login(browser, server, demo["moderator"])
    observer_ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
    live = observer_ctx.new_page()
    live.goto(f"{server.url}/assemblies/{aid}/live?item={item}")
    live_requests: list[str] = []  # the live page is pushed its regions and proofs: it asks for nothing
    live.on("request", lambda r: live_requests.append(r.url))
    expect(live.locator("body")).to_have_attribute("data-live", "online")
    loads = live.evaluate("performance.getEntriesByType('navigation').length")

    # Every page but its first load is pushed: no person's page fetches a page (or a chart) again.
    page_fetches: list[str] = []

    def count_fetches(page: Any) -> None:
        page.on("request", lambda r: page_fetches.append(r.url) if r.method == "GET" and "/assemblies/" in r.url else None)

    # 1. the moderator opens the item (a confirmation step first)
    mod.goto(f"{server.url}/assemblies/{aid}/chair?item={item}")
    count_fetches(mod)
    mod.locator("#advance-phase").click()
    expect(mod.locator("#confirm-dialog")).to_be_visible()
    confirm(mod)
    expect(mod.locator("#chair-item .phase")).to_have_text("debate")
    expect(live.locator("#live-item .phase")).to_have_text("debate")

    # 2. a delegate asks for the floor and gets it
    p1 = login(browser, server, d1)
    p1.goto(f"{server.url}/assemblies/{aid}?item={item}")
    count_fetches(p1)
    p1.locator("#request-floor").click()
    expect(p1.locator(f"#queue li[data-username='{d1['username']}']")).to_be_visible()
    expect(mod.locator(f"#chair-queue li[data-username='{d1['username']}']")).to_be_visible()
    mod.locator("#give-floor").click()
    expect(mod.locator("#current-speaker")).to_have_attribute("data-username", d1["username"])
    # giving the floor starts the timer; the chair pauses and resumes it
    mod.locator("#timer-pause").click()
    expect(mod.locator(".timer.running")).to_have_count(0)
    mod.locator("#timer-resume").click()
    expect(mod.locator("#timer-pause")).to_be_visible()
    expect(live.locator("#current-speaker")).to_have_attribute("data-username", d1["username"])
    expect(live.locator(".timer.running")).to_be_visible()
    expect(p1.locator("#current-speaker")).to_have_attribute("data-username", d1["username"])
    mod.locator("#end-speech").click()
    expect(live.locator("#current-speaker-none")).to_be_visible()

    # 2b. speech types (#17): a delegate asks to speak against, the chair adds another delegate
    # with a point of order, which goes first; a Russian page shows the types as labels
    p1.select_option("#speech-type", "contra")
    p1.locator("#request-floor").click()
    expect(mod.locator(f"#chair-queue li[data-username='{d1['username']}'] [data-speech-type='contra']")).to_be_visible()
    mod.locator("details.add-speaker summary").click()
    mod.select_option("#add-speaker-who", d2["username"])
    mod.select_option("#add-speaker-kind", "point_of_order")
    mod.locator("#add-speaker").click()
    ru = login(browser, server, d3, locale="ru-RU")
    ru.goto(f"{server.url}/assemblies/{aid}?item={item}")
    queue = ru.locator("#queue li")
    expect(queue).to_have_count(2)
    expect(queue.nth(0)).to_have_attribute("data-username", d2["username"])
    expect(queue.nth(0).locator(".badge")).to_have_text("к порядку ведения")
    expect(queue.nth(1).locator(".badge")).to_have_text("против")
    expect(ru.locator("#speech-type option[value='pro']")).to_have_text("за")
    expect(live.locator("#queue li").nth(0).locator(".badge")).to_have_text("point of order")
    mod.locator("#give-floor").click()
    expect(ru.locator("#current-speaker")).to_have_attribute("data-username", d2["username"])
    expect(ru.locator("#floor .speaker .badge")).to_have_text("к порядку ведения")
    mod.locator("#end-speech").click()
    entry = mod.locator(f"#chair-queue li[data-username='{d1['username']}']").get_attribute("data-entry")
    mod.locator(f"#remove-{entry}").click()
    confirm(mod)
    expect(ru.locator("#queue li")).to_have_count(0)
    ru.context.close()

    # 3. another delegate proposes an amendment (in the amendments phase)
    mod.locator("#advance-phase").click()
    confirm(mod)
    expect(mod.locator("#chair-item .phase")).to_have_text("amendments")
    p2 = login(browser, server, d2)
    p2.goto(f"{server.url}/assemblies/{aid}?item={item}")
    count_fetches(p2)
    provision = p2.locator("#provisions article.provision").first
    pid = int(provision.get_attribute("id").split("-")[1])
    provision.locator("details.amend-box summary").click()
    p2.fill(f"#am-title-{pid}", "Four months")
    p2.fill(f"#am-text-{pid}", NEW_TEXT)
    p2.fill(f"#am-why-{pid}", "A date makes the duty enforceable.")
    p2.locator(f"#propose-{pid}").click()
    expect(p2.locator("#provisions")).to_contain_text("Four months")

    # 4. the moderator admits it and opens a vote
    amendment = mod.locator("#chair-amendments li", has_text="Four months")
    expect(amendment).to_be_visible()
    amendment.locator("button[id^=admit-]").click()
    expect(mod.locator("#chair-amendments li", has_text="Four months").locator(".status")).to_have_text("admitted")
    mod.locator("#advance-phase").click()
    confirm(mod)
    expect(mod.locator("#chair-item .phase")).to_have_text("voting")
    mod.locator("details.create-election summary").click()
    mod.select_option("#el-provision", str(pid))
    mod.fill("#el-title", "Article 5: reporting")
    mod.locator("#create-election").click()
    election = mod.locator("#chair-elections article.election")
    expect(election).to_have_count(1)
    eid = election.get_attribute("data-election")

    # 5. three delegates create keys; the registrar approves them; the vote opens
    p3 = login(browser, server, d3)
    p3.goto(f"{server.url}/assemblies/{aid}?item={item}")
    count_fetches(p3)
    for p in (p1, p2, p3):
        p.locator("#create-key").click()
        expect(p.locator("[data-keys]")).to_have_attribute("data-state", "pending")
    for d in (d1, d2, d3):
        key = mod.locator("#chair-keys li", has_text=d["username"]).filter(has=mod.locator("button.approve"))
        key.locator("button.approve").click()
        expect(mod.locator("#chair-keys li.key-approved", has_text=d["username"])).to_have_count(1)
    for p in (p1, p2, p3):
        expect(p.locator("[data-keys]")).to_have_attribute("data-state", "approved")
    mod.locator(f"#open-{eid}").click()
    confirm(mod)
    expect(mod.locator(f"#election-{eid}")).to_have_attribute("data-status", "open")

    ranking = f"#ranking-{eid} li[data-option]"
    # by mouse: drag the amendment above the current text
    expect(p1.locator(ranking)).to_have_count(2)
    p1.locator(ranking).nth(1).drag_to(p1.locator(ranking).nth(0))
    expect(p1.locator(ranking).first).to_have_attribute("data-option", re.compile("^amendment-"))
    # by keyboard: focus the amendment and press the up arrow
    expect(p2.locator(ranking)).to_have_count(2)
    p2.locator(ranking).nth(1).focus()
    p2.keyboard.press("ArrowUp")
    expect(p2.locator(ranking).first).to_have_attribute("data-option", re.compile("^amendment-"))
    expect(p2.locator(ranking).first).to_be_focused()
    # the third keeps the current text first
    expect(p3.locator(ranking).first).to_have_attribute("data-option", "status_quo")
    for p in (p1, p2, p3):
        p.locator(f"#cast-{eid}").click()
    for p in (p1, p2, p3):
        expect(p.locator("#receipt-panel")).to_have_attribute("data-state", "recorded", timeout=15000)
        expect(p.locator("#receipt-status")).to_contain_text("Recorded")
    # the ranking stays as cast (it does not jump back to the default order), locked
    expect(p1.locator(ranking).first).to_have_attribute("data-option", re.compile("^amendment-"))
    expect(p1.locator(f"#cast-{eid}")).to_be_hidden()
    # vote again: "Change my vote", a new revision, verified the same way; the receipt can be downloaded
    p3.locator(f"#change-vote-{eid}").click()
    p3.locator(ranking).nth(1).locator("[data-move=up]").click()
    p3.locator(f"#cast-{eid}").click()
    expect(p3.locator("#receipt-details")).to_contain_text("2")
    expect(p3.locator("#receipt-panel")).to_have_attribute("data-state", "recorded", timeout=15000)
    with p3.expect_download() as dl:
        p3.locator("#receipt-download").click()
    assert '"inclusion_proof"' in Path(dl.value.path()).read_text(encoding="utf-8")

    # 6. the observer follows, without a reload, and audits the tree heads
    expect(live.locator(f"#election-{eid} [data-turnout]")).to_contain_text("3 of 3")
    expect(live.locator("body")).to_have_attribute("data-history", "ok")
    expect(live.locator("#history-warning")).to_be_hidden()
    assert live_requests == [], live_requests
    assert page_fetches == [], page_fetches
    turnout = httpx.get(f"{server.url}/api/elections/{eid}").json()["turnout"]
    for p in (mod, p1, live):
        expect(p.locator(f"#election-{eid} [data-turnout]")).to_contain_text(f"{turnout['voted']} of {turnout['roll_size']}")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    p1.screenshot(path=str(SCREENSHOTS / "delegate.png"), full_page=True)

    # 7. the result and the consolidated text
    mod.locator(f"#close-{eid}").click()
    confirm(mod)
    expect(live.locator(f"#result-{eid}")).to_contain_text("Four months")
    expect(live.locator(f'[data-provision-text="{pid}"]')).to_have_text(NEW_TEXT)
    expect(p1.locator(f'[data-provision-text="{pid}"]')).to_have_text(NEW_TEXT)
    chart = live.request.get(f"{server.url}/assemblies/{aid}/elections/{eid}/chart.svg")
    assert chart.ok and "<svg" in chart.text() and "Four months" in chart.text()
    assert live.evaluate("performance.getEntriesByType('navigation').length") == loads
    assert live.evaluate("document.body.dataset.refreshed") not in (None, "0")
    live.screenshot(path=str(SCREENSHOTS / "live.png"), full_page=True)
    assert not server.page_errors, server.page_errors
    mod.screenshot(path=str(SCREENSHOTS / "chair.png"), full_page=True)
    for c in (mod.context, p1.context, p2.context, p3.context, observer_ctx):
        c.close()
