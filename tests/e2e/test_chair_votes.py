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
