"""Live events over real websocket connections (PROTOCOL §6, docs/realtime.md)."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import time
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from deliberation.context import Ctx
from realtime.core.protocol import CloseCode
from tests.ws.conftest import ServerFactory, recv_events, recv_json


def seqs(frames: list[dict[str, Any]]) -> list[int]:
    return [f["seq"] for f in frames]


async def close_code(ws: Any, timeout: float = 10.0) -> tuple[int | None, str]:
    """Read until the server closes; return its close code and reason."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    except ConnectionClosed as exc:
        rcvd = exc.rcvd
        return (rcvd.code, rcvd.reason) if rcvd else (None, "")
    raise AssertionError("unreachable")


async def test_first_frame_is_a_snapshot_then_events_in_order(live_server: ServerFactory) -> None:
    from deliberation import agenda, draft

    live = await live_server()
    p = await draft.add_provision(live.ctx, live.assembly, "seed", number="1", kind="article", title="T", text="Text.", after=None)
    await agenda.create_item(live.ctx, live.assembly, "seed", title="Item one", provisions=[p["id"]])
    async with live.connect() as ws:
        snap = await recv_json(ws)
        assert snap["type"] == "snapshot" and snap["seq"] == 2
        state = snap["data"]
        assert state["assembly"]["id"] == live.assembly
        assert [i["title"] for i in state["agenda"]] == ["Item one"]
        assert set(state["speakers"]) == {str(state["agenda"][0]["id"])}
        assert [x["text"] for x in state["document"]["provisions"]] == ["Text."]
        assert state["amendments"] == [] and state["comments"] == [] and state["members"] == []
        await agenda.create_item(live.ctx, live.assembly, "seed", title="Item two")
        await live.emit("test.ping", {"n": 1})
        frames = await recv_events(ws, 2)
        assert seqs(frames) == [3, 4]
        assert frames[0]["type"] == "agenda.updated" and frames[0]["data"]["item"]["title"] == "Item two"
        assert frames[0]["ts"].endswith("Z") and frames[1]["data"] == {"n": 1}


async def test_replay_after_since_then_live(live_server: ServerFactory) -> None:
    live = await live_server()
    for n in range(1, 8):
        await live.emit("test.ping", {"n": n})
    async with live.connect(since=3) as ws:
        frames = await recv_events(ws, 4)
        assert seqs(frames) == [4, 5, 6, 7] and frames[0]["data"] == {"n": 4}
        await live.emit("test.ping", {"n": 8})
        assert seqs(await recv_events(ws, 1)) == [8]
    async with live.connect(since=7) as ws:  # up to date: nothing until the next event
        await live.emit("test.ping", {"n": 9})
        assert seqs(await recv_events(ws, 1)) == [8]


async def test_concurrent_writes_arrive_in_order_without_gaps(live_server: ServerFactory) -> None:
    live = await live_server()
    async with live.connect() as a, live.connect(since=0) as b:
        assert (await recv_json(a))["type"] == "snapshot"
        await asyncio.gather(*(live.emit("test.ping", {"n": n}) for n in range(200)))
        for ws in (a, b):
            assert seqs(await recv_events(ws, 200)) == list(range(1, 201))


async def test_one_event_to_a_hall_yields_to_the_loop_between_batches(live_server: ServerFactory) -> None:
    """Broadcasting one event to many sockets gives the event loop back after every
    `DELIVER_BATCH` sockets (a login, a ballot or a page waits less), and each socket still gets
    every event once, in order."""
    from contextlib import AsyncExitStack

    from realtime.hub import DELIVER_BATCH

    live = await live_server()
    n = 3 * DELIVER_BATCH + 5
    async with AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(live.connect()) for _ in range(n)]
        for ws in sockets:
            assert (await recv_json(ws))["type"] == "snapshot"
        feed = live.app.state.hub.feeds[live.assembly]
        assert len(feed.conns) == n
        seen: set[int] = set()  # how many sockets had the event each time the loop got a turn
        stop = False

        async def probe() -> None:
            while not stop:
                seen.add(sum(1 for c in feed.conns if c.last_sent >= seq))
                await asyncio.sleep(0)

        seq = feed.buffer.last + 1
        task = asyncio.create_task(probe())
        assert await live.emit("test.ping", {"n": 1}) == seq
        for ws in sockets:
            assert seqs(await recv_events(ws, 1)) == [seq]
        stop = True
        await task
        assert {0, n} <= seen
        assert seen & set(range(1, n)), f"the loop never ran while the event went out: {sorted(seen)}"
        await live.emit("test.ping", {"n": 2})
        for ws in sockets:
            assert seqs(await recv_events(ws, 1)) == [seq + 1]


async def test_resume_after_disconnect_misses_nothing(live_server: ServerFactory) -> None:
    live = await live_server()
    async with live.connect() as ws:
        await recv_json(ws)
        for n in range(5):
            await live.emit("test.ping", {"n": n})
        last = seqs(await recv_events(ws, 5))[-1]
    for n in range(5, 12):  # while disconnected
        await live.emit("test.ping", {"n": n})
    async with live.connect(since=last) as ws:
        frames = await recv_events(ws, 7)
        assert seqs(frames) == list(range(6, 13))
        assert [f["data"]["n"] for f in frames] == list(range(5, 12))


async def test_snapshot_when_since_is_too_old_or_unknown(live_server: ServerFactory) -> None:
    live = await live_server(ws_replay_window=5)
    for n in range(10):
        await live.emit("test.ping", {"n": n})
    for since in (1, 4, 11):  # beyond the replay window, or past the end of the log
        async with live.connect(since=since) as ws:
            snap = await recv_json(ws)
            assert snap["type"] == "snapshot" and snap["seq"] == 10
    async with live.connect(since=5) as ws:  # exactly at the window's edge: a replay
        assert seqs(await recv_events(ws, 5)) == [6, 7, 8, 9, 10]


async def test_gap_and_reordering_are_filled_from_the_log(live_server: ServerFactory) -> None:
    """Events that committed but were never published (or were published out of order) are read
    from the event log before anything later is sent."""
    live = await live_server()
    silent = Ctx(db=live.ctx.db, clock=live.ctx.clock)  # commits without publishing

    async def commit_silently(n: int) -> Any:
        return await silent.write(lambda tx: tx.emit(live.assembly, "test.ping", {"n": n}))

    async with live.connect() as ws:
        await recv_json(ws)
        await commit_silently(1)
        await commit_silently(2)
        await live.emit("test.ping", {"n": 3})  # published: seq 3 arrives first, 1 and 2 are missing
        assert [f["data"]["n"] for f in await recv_events(ws, 3)] == [1, 2, 3]
        e4 = await commit_silently(4)
        e5 = await commit_silently(5)
        await live.app.state.realtime.publisher([e5, e4])  # out of order
        assert seqs(await recv_events(ws, 2)) == [4, 5]
        await live.app.state.realtime.publisher([e4, e5])  # duplicates are dropped
        await live.emit("test.ping", {"n": 6})
        assert seqs(await recv_events(ws, 1)) == [6]


async def test_a_lost_publish_arrives_with_the_next_tick(live_server: ServerFactory) -> None:
    live = await live_server(ws_heartbeat_s=0.2)
    silent = Ctx(db=live.ctx.db, clock=live.ctx.clock)
    async with live.connect() as ws:
        await recv_json(ws)
        await silent.write(lambda tx: tx.emit(live.assembly, "test.ping", {"n": 1}))
        assert seqs(await recv_events(ws, 1, timeout=3)) == [1]


async def test_heartbeats_carry_the_last_seq_sent(live_server: ServerFactory) -> None:
    live = await live_server(ws_heartbeat_s=0.1)
    await live.emit("test.ping", {})
    async with live.connect(since=0) as ws:
        assert seqs(await recv_events(ws, 1)) == [1]
        beat = await recv_json(ws, timeout=3)
        assert beat["type"] == "heartbeat" and beat["seq"] == 1 and beat["ts"].endswith("Z")
        await ws.send(json.dumps({"type": "ping"}))
        async with asyncio.timeout(3):
            while (frame := await recv_json(ws))["type"] != "pong":
                assert frame["type"] == "heartbeat"
        assert frame["seq"] == 1


async def test_a_slow_client_does_not_delay_a_fast_one_and_is_closed(live_server: ServerFactory) -> None:
    live = await live_server(ws_queue_max=20)
    pad = secrets.token_hex(30_000)  # incompressible: permessage-deflate must not shrink it
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # so the server feels the back-pressure
    sock.connect(("127.0.0.1", live.port))
    slow = await websockets.connect(live.url(), sock=sock, max_queue=1, max_size=None)  # reads nothing until the end
    async with live.connect(max_size=None) as fast:
        await recv_json(fast)
        started = time.monotonic()
        for n in range(150):  # ~9 MB: more than the socket buffers of the slow client hold
            await live.emit("test.pad", {"n": n, "pad": pad})
        frames, (code, reason) = await asyncio.gather(recv_events(fast, 150, timeout=20), close_code(slow))
        assert seqs(frames) == list(range(1, 151))
        assert time.monotonic() - started < 10
    await slow.close()
    assert code == CloseCode.OVERFLOW
    assert "since=" in reason
    async with live.connect(since=int(reason.rsplit("=", 1)[1]), max_size=None) as again:  # resume
        rest = await recv_events(again, 1)
        assert rest[0]["type"] == "test.pad"


async def test_moderator_only_events_are_redacted_for_others(live_server: ServerFactory) -> None:
    from deliberation import accounts, assemblies

    live = await live_server()
    mod = await accounts.create_user(live.ctx, "mod", None)
    await assemblies.set_member(live.ctx, live.assembly, "seed", "mod", "moderator")
    dele = await accounts.create_user(live.ctx, "dele", None)
    await assemblies.set_member(live.ctx, live.assembly, "seed", "dele", "delegate")
    mod_session, _ = await accounts.issue_token(live.ctx, mod.id, "session", 3_600_000)
    del_session, _ = await accounts.issue_token(live.ctx, dele.id, "session", 3_600_000)
    start = await live.emit("test.ping", {})
    cookie = lambda t: {"Cookie": f"kurultai_session={t}"}  # noqa: E731
    async with (
        live.connect(since=start, additional_headers=cookie(mod_session)) as m,
        live.connect(since=start, additional_headers=cookie(del_session)) as d,
        live.connect(since=start, additional_headers=cookie("not-a-session")) as o,
    ):
        await live.emit("test.public", {"x": 1})
        await live.emit("test.secret", {"audience": "moderators", "secret": "s3"})
        await live.emit("test.public", {"x": 2})
        got_m = await recv_events(m, 3)
        assert [f["type"] for f in got_m] == ["test.public", "test.secret", "test.public"]
        assert got_m[1]["data"]["secret"] == "s3"
        for ws in (d, o):
            got = await recv_events(ws, 3)
            assert seqs(got) == seqs(got_m)
            assert got[1] == {"seq": got_m[1]["seq"], "type": "redacted", "ts": got_m[1]["ts"], "data": {}}
    async with live.connect(since=start) as replay:  # the replay from the log is filtered too
        assert [f["type"] for f in await recv_events(replay, 3)] == ["test.public", "redacted", "test.public"]


async def test_hidden_comments_arrive_without_text(live_server: ServerFactory) -> None:
    from deliberation import accounts, assemblies, comments, draft

    live = await live_server()
    user = await accounts.create_user(live.ctx, "dele", None)
    await assemblies.set_member(live.ctx, live.assembly, "seed", "dele", "delegate")
    p = await draft.add_provision(live.ctx, live.assembly, "seed", number="1", kind="article", title="T", text="Text.", after=None)
    async with live.connect() as ws:
        await recv_json(ws)
        c = await comments.create_comment(live.ctx, live.assembly, user.id, provision=p["id"], amendment=None, parent=None, stance="for", text="rude words")
        await comments.hide_comment(live.ctx, c["id"], "seed", "off topic")
        created, hidden = await recv_events(ws, 2)
        assert created["type"] == "comment.created"
        assert hidden == {**hidden, "type": "comment.hidden", "data": {"id": c["id"], "reason": "off topic"}}
        assert "rude" not in json.dumps(hidden)
    async with live.connect() as ws:
        snap = await recv_json(ws)
        assert snap["data"]["comments"][0]["text"] is None
        assert "rude" not in json.dumps(snap)


async def test_origin_allow_list(live_server: ServerFactory) -> None:
    live = await live_server(allowed_origins=("https://delegates.example",))
    with pytest.raises(InvalidStatus) as info:
        async with live.connect(origin="http://evil.example"):
            pass
    assert info.value.response.status_code == 403
    for origin in (f"http://127.0.0.1:{live.port}", "https://delegates.example", None):
        async with live.connect(origin=origin) as ws:
            assert (await recv_json(ws))["type"] == "snapshot"


@pytest.mark.parametrize(
    "frame,code",
    [
        ("not json", CloseCode.BAD_MESSAGE),
        ('{"type":"subscribe"}', CloseCode.BAD_MESSAGE),
        ("[1,2,3]", CloseCode.BAD_MESSAGE),
        (b"\x00\x01binary", CloseCode.BAD_MESSAGE),
        ("x" * 5000, CloseCode.TOO_BIG),
    ],
    ids=["not-json", "unknown-type", "wrong-shape", "binary", "oversize"],
)
async def test_garbage_and_oversize_frames_close_that_connection(live_server: ServerFactory, frame: Any, code: int) -> None:
    live = await live_server()
    async with live.connect() as bystander, live.connect() as ws:
        await recv_json(bystander)
        await recv_json(ws)
        await ws.send(frame)
        assert (await close_code(ws))[0] == code
        await live.emit("test.ping", {})  # the server and the other connection are fine
        assert seqs(await recv_events(bystander, 1)) == [1]


async def test_oversize_frame_is_refused_by_the_handler_as_well(live_server: ServerFactory) -> None:
    live = await live_server(ws_max_frame_bytes=100)
    async with live.connect() as ws:
        await recv_json(ws)
        await ws.send(json.dumps({"type": "ping", "pad": "y" * 200}))
        assert (await close_code(ws))[0] == CloseCode.TOO_BIG


async def test_a_message_flood_is_rate_limited(live_server: ServerFactory) -> None:
    live = await live_server(ws_client_rate=2.0, ws_client_burst=5.0)
    async with live.connect() as ws:
        await recv_json(ws)
        for _ in range(5):
            await ws.send('{"type":"ping"}')
        assert [(await recv_json(ws))["type"] for _ in range(5)] == ["pong"] * 5
        for _ in range(50):
            try:
                await ws.send('{"type":"ping"}')
            except ConnectionClosed:
                break
        code, reason = await close_code(ws)
        assert code == CloseCode.RATE_LIMITED and "since=0" in reason


async def test_unknown_assembly_and_bad_since(live_server: ServerFactory) -> None:
    live = await live_server()
    for unknown in (999, 2**70):  # the second is beyond the database's integers
        async with live.connect(assembly=unknown) as ws:
            assert (await close_code(ws))[0] == CloseCode.NOT_FOUND
    async with websockets.connect(live.url() + "?since=-3") as ws:
        assert (await close_code(ws))[0] == CloseCode.BAD_MESSAGE
