"""Render once, send to all (issue #16): the live view's regions pushed over real websockets."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from typing import Any

from tests.ws.conftest import ServerFactory, recv_events, recv_json


async def next_regions(ws: Any, timeout: float = 5.0) -> dict[str, Any]:
    """The next `regions` frame (events, heartbeats and pongs skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "regions":
                return frame


async def no_regions(ws: Any, wait: float = 0.8) -> list[str]:
    """The frame types that arrive within `wait` seconds (for sockets that must get no regions)."""
    types: list[str] = []
    try:
        async with asyncio.timeout(wait):
            while True:
                types.append(json.loads(await ws.recv())["type"])
    except TimeoutError:
        return types


async def test_one_render_per_language_reaches_every_live_page_and_no_protocol_client(live_server: ServerFactory) -> None:
    from deliberation import agenda, draft

    live = await live_server()
    p = await draft.add_provision(live.ctx, live.assembly, "seed", number="1", kind="article", title="Registration", text="Text one.", after=None)
    item = await agenda.create_item(live.ctx, live.assembly, "seed", title="Item one", provisions=[p["id"]])
    pages = live.app.state.live_pages
    last = await _last(live)
    base = f"?view=live&since={last}&rendered={last}"
    async with (
        live.connect_raw(base + "&lang=en") as en1,
        live.connect_raw(base + "&lang=en") as en2,
        live.connect_raw(base + "&lang=kk") as kk,
        live.connect() as protocol,
    ):
        assert (await recv_json(protocol))["type"] == "snapshot"
        await asyncio.sleep(0.3)  # every socket attached, up to date: nothing to render
        before = pages.renders
        await agenda.set_phase(live.ctx, item["id"], "seed", "debate")
        frames = [await next_regions(ws) for ws in (en1, en2, kk)]
        assert pages.renders - before == 2, "one render per language, whatever the number of pages"
        assert frames[0] == frames[1]
        assert set(frames[0]["regions"]) == {"live-item", "floor", "live-votes"}
        assert frames[0]["seq"] == await _last(live) and isinstance(frames[0]["now"], int)
        assert "Item one" in frames[0]["regions"]["live-item"] and "Item one" in frames[2]["regions"]["live-item"]
        assert frames[0]["regions"]["floor"] != frames[2]["regions"]["floor"]  # the headings are in Kazakh
        assert "regions" not in await no_regions(protocol)


async def _last(live: Any) -> int:
    from realtime.hub import read_last_seq

    return int(await read_last_seq(live.assembly) or 0)


async def test_a_page_that_joins_behind_the_feed_gets_a_render_and_one_up_to_date_gets_none(live_server: ServerFactory) -> None:
    from deliberation import agenda

    live = await live_server()
    await agenda.create_item(live.ctx, live.assembly, "seed", title="Item one")
    last = await _last(live)
    async with live.connect_raw(f"?view=live&lang=ru&since={last}&rendered={last}") as current:
        assert "regions" not in await no_regions(current)
    async with live.connect_raw(f"?view=live&lang=ru&since={last - 1}&rendered={last - 1}") as behind:
        frame = await next_regions(behind)
        assert "Item one" in frame["regions"]["live-item"]
    async with live.connect_raw("?view=live&lang=ru") as fresh:  # no since: a snapshot, then the regions
        assert (await recv_json(fresh))["type"] == "snapshot"
        assert "Item one" in (await next_regions(fresh))["regions"]["live-item"]


async def test_unknown_views_and_languages_are_protocol_sockets(live_server: ServerFactory) -> None:
    from deliberation import agenda

    live = await live_server()
    async with live.connect_raw("?view=live&lang=xx") as odd, live.connect_raw("?view=chair&lang=en") as other:
        for ws in (odd, other):
            assert (await recv_json(ws))["type"] == "snapshot"
        await agenda.create_item(live.ctx, live.assembly, "seed", title="Item one")
        for ws in (odd, other):
            types = await no_regions(ws)
            assert "agenda.updated" in types and "regions" not in types


async def test_tree_heads_come_with_their_consistency_proofs(live_server: ServerFactory) -> None:
    """During a vote each pushed frame carries, for a changed tree head, the proof from the head
    pushed before: a live page audits the board without one request per head."""
    import httpx

    from tests.api.voting_helpers import open_amendment_election
    from tests.conftest import seed_world
    from voting.core.merkle import verify_consistency

    live = await live_server(live_interval_ms=50)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{live.port}", timeout=30) as client:
        w = await seed_world(client, live.app)
        live.assembly = w.assembly
        eid, election, voters, amendments = await open_amendment_election(w)
        async with live.connect_raw(f"?view=live&lang=en&item={w.item}") as page:
            assert (await recv_json(page))["type"] == "snapshot"
            heads: list[dict[str, Any]] = []
            proofs: list[dict[str, Any]] = []
            for n, voter in enumerate(voters):  # two ballots: two heads, the second with its proof from the first
                await w.ok("POST", f"/api/elections/{eid}/ballots", None, voter.ballot(election, _ranking(election)), status=201)
                async with asyncio.timeout(10):
                    while True:
                        frame = await next_regions(page)
                        sth = _sth(frame, eid)
                        if sth and sth["signed"]["tree_size"] == n + 1:
                            break
                heads.append(sth)
                proofs.append(frame.get("proofs", {}).get(str(eid), {}))
    assert proofs[1]["first"] == 1 and proofs[1]["second"] == 2
    verify_consistency(1, 2, [bytes.fromhex(h) for h in proofs[1]["proof"]], bytes.fromhex(heads[0]["signed"]["root_hash"]), bytes.fromhex(heads[1]["signed"]["root_hash"]))


def _ranking(election: dict[str, Any]) -> list[str]:
    return [o["id"] for o in election["signed"]["options"]]


def _sth(frame: dict[str, Any], eid: Any) -> dict[str, Any] | None:
    import re

    m = re.search(r'<script type="application/json" class="sth-data" data-election="%s">(.*?)</script>' % eid, frame["regions"]["live-votes"])
    return json.loads(m.group(1)) if m else None


async def test_made_up_items_cost_no_extra_renders(live_server: ServerFactory) -> None:
    from deliberation import agenda

    live = await live_server()
    await agenda.create_item(live.ctx, live.assembly, "seed", title="Item one")
    pages = live.app.state.live_pages
    last = await _last(live)
    queries = [f"?view=live&lang=en&since={last}&rendered={last}&item={n}" for n in range(1000, 1030)] + [f"?view=live&lang=en&since={last}&rendered={last}"]
    async with AsyncExitStack() as stack:
        opened = [await stack.enter_async_context(live.connect_raw(q)) for q in queries]
        await asyncio.sleep(0.3)
        before = pages.renders
        await agenda.create_item(live.ctx, live.assembly, "seed", title="Item two")
        frames = [await next_regions(ws) for ws in opened]
        assert pages.renders - before == 1, "thirty made-up items and the default: one render"
        assert all(f == frames[0] for f in frames)


async def test_a_page_that_drops_before_its_render_gets_one_when_it_comes_back(live_server: ServerFactory) -> None:
    """The page resumes its events from the last one it saw, but its regions are as old as the
    last render it applied (`rendered=`): coming back, it gets a render although it missed no
    event."""
    from deliberation import agenda

    live = await live_server()
    await agenda.create_item(live.ctx, live.assembly, "seed", title="Item one")
    shown = await _last(live)
    async with live.connect_raw(f"?view=live&lang=en&since={shown}&rendered={shown}"):
        await agenda.create_item(live.ctx, live.assembly, "seed", title="Item two")
        seq = await _last(live)  # closed at once: before the render (250 ms later) is pushed
    await asyncio.sleep(0.5)
    async with live.connect_raw(f"?view=live&lang=en&since={seq}&rendered={shown}") as page:
        assert "Item one" in (await next_regions(page))["regions"]["live-item"]
    async with live.connect_raw(f"?view=live&lang=en&since={seq}&rendered={seq}") as page:
        assert "regions" not in await no_regions(page)  # it shows the current render already


async def test_a_joining_page_gets_the_last_render_alone(live_server: ServerFactory) -> None:
    from deliberation import agenda

    live = await live_server()
    await agenda.create_item(live.ctx, live.assembly, "seed", title="Item one")
    pages = live.app.state.live_pages
    async with live.connect_raw(f"?view=live&lang=kk&since={await _last(live)}") as first:
        await agenda.create_item(live.ctx, live.assembly, "seed", title="Item two")
        pushed = await next_regions(first)
        renders = pages.renders
        for _ in range(5):  # a page reloading again and again costs no render, and nobody else sees it
            async with live.connect_raw(f"?view=live&lang=kk&since={pushed['seq'] - 1}&rendered={pushed['seq'] - 1}") as again:
                assert await next_regions(again) == pushed
        assert pages.renders == renders
        assert "regions" not in await no_regions(first, 0.5)


async def test_odd_item_values_ask_for_the_default_item(live_server: ServerFactory) -> None:
    from deliberation import agenda

    live = await live_server()
    await agenda.create_item(live.ctx, live.assembly, "seed", title="Item one")
    for item in ("%C2%B2", "12345678901", "-1", "x"):  # "²" is a digit to str.isdigit
        async with live.connect_raw(f"?view=live&lang=ru&item={item}") as page:
            assert (await recv_json(page))["type"] == "snapshot"
            assert "Item one" in (await next_regions(page))["regions"]["live-item"]
    async with live.connect_raw("?since=%C2%B2") as bad:
        from websockets.exceptions import ConnectionClosed

        try:
            await recv_json(bad)
        except ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 4400
        else:
            raise AssertionError("a non-ASCII digit in since= must close the socket with 4400")


async def test_the_shared_render_is_the_same_for_a_chair_two_delegates_and_an_observer(live_server: ServerFactory) -> None:
    """Nothing personal in a pushed frame: sockets opened with a moderator's and two delegates'
    session cookies get byte for byte the frames an anonymous observer gets: no delegate's own
    controls, no session token."""
    from deliberation import accounts, agenda, assemblies, speakers

    live = await live_server()
    item = await agenda.create_item(live.ctx, live.assembly, "seed", title="Item one")
    await agenda.set_phase(live.ctx, item["id"], "seed", "debate")
    sessions = {}
    for name, role in (("chair-aigerim", "moderator"), ("delegate-arman", "delegate"), ("delegate-dana", "delegate")):
        user = await accounts.create_user(live.ctx, name, None)
        await assemblies.set_member(live.ctx, live.assembly, "seed", name, role)
        sessions[name] = ((await accounts.issue_token(live.ctx, user.id, "session", 3_600_000))[0], user.id)
    last = await _last(live)
    query = f"?view=live&lang=en&since={last}&rendered={last}"
    async with AsyncExitStack() as stack:
        sockets = {name: await stack.enter_async_context(live.connect_raw(query, additional_headers={"Cookie": f"kurultai_session={token}"})) for name, (token, _) in sessions.items()}
        sockets["observer"] = await stack.enter_async_context(live.connect_raw(query))
        await asyncio.sleep(0.3)
        await speakers.request_floor(live.ctx, item["id"], sessions["delegate-dana"][1], "speech")
        frames = {name: await next_regions(ws) for name, ws in sockets.items()}
    assert len({json.dumps(f, sort_keys=True) for f in frames.values()}) == 1
    text = json.dumps(frames["observer"])
    assert "withdraw" not in text.lower() and "request-floor" not in text  # no delegate's own controls
    for token, _ in sessions.values():
        assert token not in text


async def test_live_pages_get_regions_instead_of_events(live_server: ServerFactory) -> None:
    """A live page's socket gets the pushed regions and no event frames (protocol clients get
    every event); it resumes from the last frame's seq."""
    from deliberation import agenda

    live = await live_server()
    last = await _last(live)
    async with live.connect_raw(f"?view=live&lang=en&since={last}&rendered={last}") as page, live.connect(since=last) as protocol:
        for n in range(3):
            await agenda.create_item(live.ctx, live.assembly, "seed", title=f"Item {n}")
        types = await no_regions(page, 1.0)
        assert types and set(types) == {"regions"}, types
        assert [f["type"] for f in await recv_events(protocol, 3)] == ["agenda.updated"] * 3


async def test_a_page_that_has_the_push_before_gets_only_the_regions_that_changed(live_server: ServerFactory) -> None:
    """Deltas: a push sends a page that was offered the push before only the regions whose HTML
    changed; applied on top of what it had, the page shows what a page joining now gets whole."""
    from deliberation import agenda

    live = await live_server()
    item = await agenda.create_item(live.ctx, live.assembly, "seed", title="Item one")
    async with live.connect_raw(f"?view=live&lang=ru&since={await _last(live)}") as page:
        await agenda.set_phase(live.ctx, item["id"], "seed", "debate")
        first = await next_regions(page)
        assert set(first["regions"]) == {"live-item", "floor", "live-votes"}, "the first push is whole"
        await agenda.set_phase(live.ctx, item["id"], "seed", "amendments")
        delta = await next_regions(page)
        assert 0 < len(delta["regions"]) < 3 and delta["seq"] > first["seq"]
        seq = delta["seq"]
        async with live.connect_raw(f"?view=live&lang=ru&since={seq - 1}&rendered={seq - 1}") as joining:
            whole = await next_regions(joining)
        assert whole["seq"] == seq and set(whole["regions"]) == {"live-item", "floor", "live-votes"}
        assert {**first["regions"], **delta["regions"]} == whole["regions"]
        assert all(first["regions"][i] != html for i, html in delta["regions"].items())
