"""Presence and quorum in the browser (issue #17): a delegate checks in, the chair checks in
another, and a yes/no vote opened on the basis of the members present measures its quorum and
turnout against them and says so."""

from __future__ import annotations

import base64
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from playwright.sync_api import expect

from tests.e2e.conftest import Server, login


def _register_key(server: Server, who: dict[str, str], aid: int) -> None:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    server.call("POST", "/api/me/keys", server.token(who["username"], who["password"]), {"assembly": aid, "public_key": base64.urlsafe_b64encode(raw).rstrip(b"=").decode()})


def test_check_in_and_a_vote_of_the_members_present(browser: Any, server: Server) -> None:
    demo = server.demo
    aid = demo["assembly"]
    n = len(demo["delegates"])
    first, second, third = demo["delegates"][:3]
    chair_token = server.token(demo["moderator"]["username"], demo["moderator"]["password"])
    for who in (first, second, third):  # three keys approved; only two of them will be in the room
        _register_key(server, who, aid)
    server.call("POST", f"/api/assemblies/{aid}/keys/approve-pending", chair_token)

    delegate = login(browser, server, first)
    delegate.goto(f"{server.url}/assemblies/{aid}?item=1")
    expect(delegate.locator("body")).to_have_attribute("data-live", "online")
    expect(delegate.locator("#presence")).to_contain_text(f"0 of {n} delegates")
    expect(delegate.locator("#check-out")).to_be_hidden()
    delegate.locator("#check-in").click()
    expect(delegate.locator("#presence")).to_contain_text(f"1 of {n} delegates")
    expect(delegate.locator("#check-out")).to_be_visible()
    expect(delegate.locator("#check-in")).to_be_hidden()

    chair = login(browser, server, demo["moderator"])
    chair.goto(f"{server.url}/assemblies/{aid}/chair?item=1")
    expect(chair.locator("body")).to_have_attribute("data-live", "online")
    expect(chair.locator(f'#attendance li[data-username="{first["username"]}"]')).to_have_attribute("data-present", "1")
    chair.locator(f"#check-in-{second['username']}").click()
    expect(chair.locator(f'#attendance li[data-username="{second["username"]}"]')).to_have_attribute("data-present", "1")
    expect(chair.locator("#chair-presence")).to_contain_text(f"2 of {n} delegates")
    # Every row laid out alike at 1920×1080, whatever the name's length: the button on the
    # right of its name, level with it, all in one column; the state under the name.
    chair.set_viewport_size({"width": 1920, "height": 1080})
    rows = chair.evaluate(
        """() => Array.from(document.querySelectorAll('#attendance li.member')).map((li) => {
          const box = (sel) => li.querySelector(sel).getBoundingClientRect();
          const n = box('.name'), b = box('.badge'), f = box('button');
          return {name: li.dataset.username, nameRight: n.right, nameTop: n.top, badgeTop: b.top, nameBottom: n.bottom, buttonLeft: f.left, buttonRight: f.right, buttonTop: f.top, buttonBottom: f.bottom};
        })"""
    )
    assert len(rows) == n
    assert len({round(r["buttonRight"]) for r in rows}) == 1, rows  # one column of buttons, flush right
    for r in rows:
        assert r["nameRight"] <= r["buttonLeft"], r  # beside the name, never under it
        assert r["buttonTop"] < r["nameBottom"] and r["badgeTop"] >= r["nameBottom"] - 1, r
    keys = chair.locator(f'#chair-keys li:has-text("({first["username"]})")')
    expect(keys.first).to_contain_text(next(m["display_name"] for m in httpx.get(f"{server.url}/api/assemblies/{aid}/presence").json()["members"] if m["username"] == first["username"]))
    expect(delegate.locator("#presence")).to_contain_text(f"2 of {n} delegates")  # pushed to the delegate too

    vote = server.call("POST", "/api/agenda/1/elections", chair_token, {"kind": "yes_no", "title": "Present basis", "rule": {"majority": "simple", "quorum_percent": 50}})
    eid = vote["id"]
    expect(chair.locator(f"#basis-{eid}")).to_have_value("all")  # the default
    third_name = next(m["display_name"] or m["username"] for m in httpx.get(f"{server.url}/api/assemblies/{aid}/presence").json()["members"] if m["username"] == third["username"])
    absent_notice = chair.locator(f"#absent-before-open-{eid}")
    expect(absent_notice).to_be_hidden()  # only with the basis "present"
    chair.select_option(f"#basis-{eid}", "present")
    expect(absent_notice).to_be_visible()
    expect(absent_notice).to_contain_text(f"Not checked in — will not be on the roll: {third_name}.")
    chair.locator(f"#open-{eid}").click()
    expect(chair.locator("#confirm-text")).to_contain_text("on the basis of the delegates present")
    expect(chair.locator("#confirm-text")).to_contain_text("the 2 delegates checked in now with an approved key")
    chair.locator("#confirm-ok").click()
    article = chair.locator(f"#election-{eid}")
    expect(article).to_have_attribute("data-status", "open")
    expect(article.locator(".basis")).to_contain_text("of the delegates present with an approved key when the vote opened: 2.")
    expect(article.locator(".basis")).to_contain_text(f"2 of {n} delegates were checked in when it opened.")
    expect(article.locator(".turnout")).to_contain_text("0 of 2")
    roll = httpx.get(f"{server.url}/api/elections/{eid}/roll").json()["signed"]
    assert len(roll["voters"]) == 2  # the third delegate's approved key is not on it: not in the room

    absent = login(browser, server, third)  # approved in time, but not in the room when it opened
    absent.goto(f"{server.url}/assemblies/{aid}?item=1")
    note = absent.locator(f'[data-ballot="{eid}"] [data-roll-note]')
    expect(note).to_be_visible()
    expect(note).to_contain_text("you were not checked in when it opened")
    expect(absent.locator(f"#cast-{eid}")).to_be_hidden()

    live = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    live.goto(f"{server.url}/assemblies/{aid}/live?item=1")
    expect(live.locator(f"#election-{eid} .basis")).to_contain_text(f"2 of {n} delegates were checked in when it opened.")
    expect(live.locator("#live-votes .presence-count")).to_contain_text(f"2 of {n} delegates")

    chair.locator("#check-everyone-out").click()  # a break: the open vote's text does not change
    chair.locator("#confirm-ok").click()
    expect(live.locator("#live-votes .presence-count")).to_contain_text(f"0 of {n} delegates")
    expect(chair.locator(f'#attendance li[data-username="{first["username"]}"]')).to_have_attribute("data-present", "0")
    expect(live.locator(f"#election-{eid} .basis")).to_contain_text(f"2 of {n} delegates were checked in when it opened.")

    server.call("POST", f"/api/elections/{eid}/close", chair_token)  # nobody voted: no quorum of the two present
    expect(live.locator(f"#result-{eid}")).to_contain_text("Not adopted: no quorum")
    result = httpx.get(f"{server.url}/api/elections/{eid}/result").json()["signed"]
    assert result["details"]["quorum_met"] is False and result["winner"] == "no"
    assert not server.page_errors, server.page_errors
