"""A secret vote in the browser (issue #17): nothing says who has voted, on no page and in no
websocket frame, as an observer or as a delegate (named votes: test_named_register.py; an
assembly holds one kind or the other, so this one runs on a server of its own)."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from tests.e2e.conftest import Server

expect.set_options(timeout=10_000)

from tests.e2e.test_named_register import REGISTER_MARKS, cast_yes_no, room_of_three  # noqa: E402


def test_a_secret_vote_names_nobody(browser: Any, server: Server) -> None:
    room = room_of_three(browser, server)
    chair_token, names, frames = room.chair_token, room.names, room.frames
    live, public, pa, pb = room.live, room.public, room.pa, room.pb

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
