"""Presence (issue #17): a check-in is pushed to every open view as its present count."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from typing import Any

from tests.ws.conftest import ServerFactory


async def _collect(ws: Any, into: list[dict[str, Any]]) -> None:
    try:
        async for message in ws:
            into.append(json.loads(message))
    except Exception:
        pass


async def _wait_for(frames: list[dict[str, Any]], pred: Any, timeout: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            for f in frames:
                if pred(f):
                    return f
            await asyncio.sleep(0.02)


async def test_the_present_count_is_pushed_to_every_view(live_server: ServerFactory) -> None:
    from deliberation import accounts, agenda, assemblies, presence
    from realtime.hub import read_last_seq

    live = await live_server()
    await agenda.create_item(live.ctx, live.assembly, "seed", title="Item one")
    tokens = {}
    for name, role in (("chair-p", "moderator"), ("delegate-p1", "delegate"), ("delegate-p2", "delegate")):
        user = await accounts.create_user(live.ctx, name, None)
        await assemblies.set_member(live.ctx, live.assembly, "seed", name, role)
        tokens[name] = (await accounts.issue_token(live.ctx, user.id, "session", 3_600_000))[0]
    last = int(await read_last_seq(live.assembly) or 0)
    views = {"live": (None, "live", "regions", "live-votes"), "delegate": ("delegate-p1", "delegate", "regions", "presence"), "chair": ("chair-p", "chair", "regions", "chair-presence")}
    frames: dict[str, list[dict[str, Any]]] = {name: [] for name in views}
    events: list[dict[str, Any]] = []
    async with AsyncExitStack() as stack:
        tasks = []
        for name, (user, view, _type, _region) in views.items():
            headers = {"Cookie": f"kurultai_session={tokens[user]}"} if user else {}
            ws = await stack.enter_async_context(live.connect_raw(f"?view={view}&lang=en&since={last}&rendered={last}", additional_headers=headers))
            tasks.append(asyncio.create_task(_collect(ws, frames[name])))
        protocol = await stack.enter_async_context(live.connect_raw(f"?since={last}"))  # a protocol client gets the event itself
        tasks.append(asyncio.create_task(_collect(protocol, events)))
        await asyncio.sleep(0.3)
        await presence.set_presence(live.ctx, live.assembly, "chair-p", "delegate-p2", True)
        for name, (_user, _view, _type, region) in views.items():
            frame = await _wait_for(frames[name], lambda f, r=region: f["type"] == "regions" and "1 of 2 delegates" in f["regions"].get(r, ""))
            assert 'data-present="1"' in frame["regions"][region], name
        chair = frames["chair"][-1]["regions"]["chair-presence"]
        assert 'data-username="delegate-p2" data-present="1"' in chair and 'data-username="delegate-p1" data-present="0"' in chair
        event = await _wait_for(events, lambda f: f.get("type") == "presence.changed")
        assert event["data"] == {"username": "delegate-p2", "present": True, "present_count": 1, "delegates": 2}
        await presence.set_presence(live.ctx, live.assembly, "delegate-p1", "delegate-p1", True)
        await _wait_for(frames["live"], lambda f: f["type"] == "regions" and "2 of 2 delegates" in f["regions"].get("live-votes", ""))
        async with live.connect_raw("") as fresh:  # a client without a position starts from a snapshot
            snapshot = json.loads(await fresh.recv())
            assert snapshot["type"] == "snapshot" and snapshot["data"]["presence"]["present_count"] == 2
            assert snapshot["data"]["elections"] == []  # the board's section is there too (none opened here)
        for t in tasks:
            t.cancel()
