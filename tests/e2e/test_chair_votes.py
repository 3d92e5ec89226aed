"""The chair console creates a yes/no vote with its majority rule and quorum (issue #6)."""

from __future__ import annotations

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
