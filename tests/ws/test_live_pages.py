"""Render once, send to all (issue #16): the live view's regions pushed over real websockets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.ws.conftest import ServerFactory, recv_json


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
    base = f"?view=live&since={await _last(live)}"
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
    async with live.connect_raw(f"?view=live&lang=ru&since={last}") as current:
        assert "regions" not in await no_regions(current)
    async with live.connect_raw(f"?view=live&lang=ru&since={last - 1}") as behind:
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
