"""Named votes in the browser (issue #17): the chair makes a vote named in the console; while it
is open, the register of who has voted (display names, ballots per member) is on the chair
console, the projector and the delegate pages, pushed with the turnout. A secret vote shows
nothing of it (test_secret_vote_private.py, on a server of its own: an assembly holds named votes
or secret ones, never both)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.e2e.conftest import Server, login

expect.set_options(timeout=10_000)

#: What a register or a named vote leaves in a page or a pushed frame.
REGISTER_MARKS = ("data-register", "register-list", "data-named", "Who has voted", "Кто проголосовал", "Кім дауыс берді")


def watch_frames(page: Any, into: list[str]) -> None:
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: into.append(payload if isinstance(payload, str) else payload.decode())))


def cast_yes_no(page: Any, eid: str, choice: str) -> None:
    page.locator(f"#choices-{eid} [data-choice={choice}]").click()
    page.locator(f"#cast-{eid}").click()
    expect(page.locator(f"[data-ballot='{eid}'] [data-voted]")).to_be_visible(timeout=15_000)


@dataclass
class Room:
    """Three delegates of the demo with approved keys on their pages (b in Russian), an observer's
    live and delegate-view pages, and the websocket frames of the observer's and b's pages."""

    aid: int
    chair_token: str
    delegates: tuple[dict[str, Any], dict[str, Any], dict[str, Any]]
    names: list[str]
    frames: dict[str, list[str]]
    observer: Any
    live: Any
    public: Any
    pa: Any
    pb: Any
    pc: Any


def room_of_three(browser: Any, server: Server) -> Room:
    demo = server.demo
    aid = demo["assembly"]
    chair_token = server.token(demo["moderator"]["username"], demo["moderator"]["password"])
    a, b, c = demo["delegates"][9:12]  # no demo content names them (comments, speakers)
    members = {m["username"]: m["display_name"] for m in httpx.get(f"{server.url}/api/assemblies/{aid}/members").json()}
    names = [members[x["username"]] for x in (a, b, c)]
    assert all(names)

    frames: dict[str, list[str]] = {"observer live": [], "observer delegate view": [], "delegate": []}
    observer = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    live, public = observer.new_page(), observer.new_page()
    watch_frames(live, frames["observer live"])
    watch_frames(public, frames["observer delegate view"])
    live.goto(f"{server.url}/assemblies/{aid}/live?item=1")
    public.goto(f"{server.url}/assemblies/{aid}?item=1")
    pa = login(browser, server, a)
    pb = login(browser, server, b, "ru-RU")
    watch_frames(pb, frames["delegate"])
    pc = login(browser, server, c)
    for page in (live, public, pa, pb, pc):
        page.goto(page.url if page in (live, public) else f"{server.url}/assemblies/{aid}?item=1")
        expect(page.locator("body")).to_have_attribute("data-live", "online")
    for page in (pa, pb, pc):
        page.locator("#create-key").click()
        expect(page.locator("[data-keys]")).to_have_attribute("data-state", "pending")
    server.call("POST", f"/api/assemblies/{aid}/keys/approve-pending", chair_token)
    for page in (pa, pb, pc):
        expect(page.locator("[data-keys]")).to_have_attribute("data-state", "approved")
    return Room(aid, chair_token, (a, b, c), names, frames, observer, live, public, pa, pb, pc)


def test_a_named_vote_has_a_live_register(browser: Any, server: Server) -> None:
    room = room_of_three(browser, server)
    demo, aid, chair_token, (a, b, c), names = server.demo, room.aid, room.chair_token, room.delegates, room.names
    observer, live, public, pa, pb, pc = room.observer, room.live, room.public, room.pa, room.pb, room.pc

    # The chair makes the next vote named in the console and opens it.
    chair = login(browser, server, demo["moderator"])
    chair.goto(f"{server.url}/assemblies/{aid}/chair?item=1")
    expect(chair.locator("body")).to_have_attribute("data-live", "online")
    chair.locator("details.create-election summary").click()
    chair.select_option("#el-kind", "yes_no")
    chair.fill("#el-quorum", "0")
    chair.fill("#el-title", "A named vote")
    chair.locator("#el-named").check()
    chair.locator("#create-election").click()
    article = chair.locator("#chair-elections article.election", has_text="A named vote")
    expect(article).to_have_count(1)
    nid = article.get_attribute("data-election")
    assert httpx.get(f"{server.url}/api/elections/{nid}").json()["named"] is True
    expect(chair.locator(f"#open-named-{nid}")).to_be_checked()
    chair.locator(f"#open-named-{nid}").uncheck()  # the confirmation says whether the vote is named
    chair.locator(f"#open-{nid}").click()
    expect(chair.locator("#confirm-text")).not_to_contain_text("The vote is named")
    chair.locator("#confirm-cancel").click()
    chair.locator(f"#open-named-{nid}").check()
    chair.locator(f"#open-{nid}").click()
    expect(chair.locator("#confirm-text")).to_contain_text("The vote is named: who has voted will be shown by name on every view.")
    chair.locator("#confirm-ok").click()
    expect(chair.locator(f"#election-{nid}")).to_have_attribute("data-status", "open")
    opened = httpx.get(f"{server.url}/api/elections/{nid}").json()
    assert opened["named"] is True and "named" not in opened["election"]["signed"]

    # Before anyone votes, every view says the vote is named and lists the roll.
    views = {"chair": chair, "projector": live, "observer": public, "delegate": pa, "ru delegate": pb}
    roll_size = opened["turnout"]["roll_size"]
    for page in views.values():
        expect(page.locator(f"#election-{nid} [data-named]")).to_be_visible()
        expect(page.locator(f"#register-{nid} li")).to_have_count(roll_size)
        expect(page.locator(f"#register-{nid} li[data-username='{a['username']}']")).to_have_attribute("data-ballots", "0")
    expect(pb.locator(f"#register-h-{nid}")).to_contain_text("Кто проголосовал")
    expect(pb.locator(f"#register-{nid} li[data-username='{a['username']}'] .badge")).to_have_text("ещё не голосовал(а)")

    # Each ballot is pushed to every view: the name, then the count of their ballots.
    cast_yes_no(pa, nid, "yes")
    for page in views.values():
        expect(page.locator(f"#register-{nid} li[data-username='{a['username']}']")).to_have_attribute("data-ballots", "1")
        expect(page.locator(f"#register-{nid} li[data-username='{a['username']}'] .name")).to_have_text(names[0])
    pa.locator(f"#change-vote-{nid}").click()
    cast_yes_no(pa, nid, "no")
    cast_yes_no(pb, nid, "yes")
    for page in views.values():
        expect(page.locator(f"#register-{nid} li[data-username='{a['username']}']")).to_have_attribute("data-ballots", "2")
        expect(page.locator(f"#register-{nid} li[data-username='{b['username']}']")).to_have_attribute("data-ballots", "1")
        expect(page.locator(f"#register-{nid} li[data-username='{c['username']}']")).to_have_attribute("data-ballots", "0")
    expect(live.locator(f"#register-{nid} li[data-username='{a['username']}'] .badge")).to_have_text("ballots: 2")
    expect(live.locator(f"#register-{nid} [data-register-voted]")).to_have_text(f"2 of {roll_size}")
    register = httpx.get(f"{server.url}/api/elections/{nid}/register").json()
    by_name = {e["username"]: e for e in register["entries"]}
    assert (by_name[a["username"]]["ballots"], by_name[a["username"]]["revision"], by_name[a["username"]]["display_name"]) == (2, 2, names[0])
    assert (by_name[b["username"]]["ballots"], by_name[c["username"]]["ballots"], register["voted"]) == (1, 0, 2)
    # The register is accessible (axe), and in Russian has no English (the no-English detector).
    from tests.e2e.test_accessibility import serious
    from tests.e2e.test_no_english import Detector

    for name, page in (("chair", chair), ("projector", live), ("ru delegate", pb)):
        assert serious(page) == [], name
    det = Detector("ru", {x["username"] for x in demo["delegates"]} | {demo["moderator"]["username"]})
    det.text("ru register", pb.locator(f"#register-{nid}").inner_text() + "\n" + (pb.locator(f"#election-{nid} [data-named]").text_content() or ""))
    assert det.hits == [], det.hits

    server.call("POST", f"/api/elections/{nid}/close", chair_token)
    expect(live.locator(f"#result-{nid}")).to_be_visible()
    expect(live.locator(f"#register-{nid} li[data-username='{a['username']}']")).to_have_attribute("data-ballots", "2")
    # On the wall the result still fits one screen with the register below it.
    wall = browser.new_context(locale="kk-KZ", viewport={"width": 1280, "height": 720}).new_page()
    wall.goto(f"{server.url}/assemblies/{aid}/live?wall=1&item=1")
    expect(wall.locator("body")).to_have_attribute("data-live", "online")
    assert wall.evaluate("document.documentElement.scrollHeight") <= 720
    wall.context.close()
    for page in (chair, pa, pb, pc, observer):
        page.close() if page is observer else page.context.close()
    assert not server.page_errors, server.page_errors
