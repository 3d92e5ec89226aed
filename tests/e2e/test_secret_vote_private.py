"""A secret vote in the browser (issue #17): nothing says who has voted, on no page and in no
websocket frame, as an observer or as a delegate (named votes: test_named_register.py; an
assembly holds one kind or the other, so this one runs on a server of its own)."""

from __future__ import annotations

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


def test_a_secret_vote_names_nobody(browser: Any, server: Server) -> None:
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

    # A secret vote (the default), cast by two of them and closed: nothing says who voted.
    secret = server.call("POST", "/api/agenda/1/elections", chair_token, {"kind": "yes_no", "title": "A secret vote", "rule": {"majority": "simple", "quorum_percent": 0}})
    sid = str(secret["id"])
    assert secret["named"] is False
    server.call("POST", f"/api/elections/{sid}/open", chair_token)
    cast_yes_no(pa, sid, "yes")
    cast_yes_no(pb, sid, "no")
    expect(live.locator(f"#election-{sid} [data-turnout]")).to_contain_text("2 of")
    server.call("POST", f"/api/elections/{sid}/close", chair_token)
    for page in (live, public, pb):
        expect(page.locator(f"#result-{sid}")).to_be_visible()
    r = httpx.get(f"{server.url}/api/elections/{sid}/register")
    assert r.status_code == 409 and r.json()["error"] == "election_secret"
    pages = {"observer live": live, "observer delegate view": public, "delegate": pb}
    for who, page in pages.items():
        marks = (*REGISTER_MARKS, *(n for n in names if who != "delegate" or n != names[1]))  # the delegate's own name is in the header
        html = page.content()
        for mark in marks:
            assert mark not in html, (who, mark)
        assert frames[who], f"{who}: no websocket frame seen"
        for frame in frames[who]:
            for mark in marks:
                assert mark not in frame, (who, mark, frame[:300])
