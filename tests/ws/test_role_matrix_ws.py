"""The role matrix of the websocket (issue #7), beside the HTTP one in tests/security.

The websocket is read-only: its only client message is `{"type":"ping"}`. Every websocket
action × anonymous, observer, delegate of another assembly, moderator of another assembly,
delegate, moderator and admin, against the table below:

- connect: everybody gets the snapshot first (observers need no login);
- ping: everybody gets a pong;
- an event for moderators: the assembly's moderators and admins get it whole, everybody else a
  `redacted` frame at the same seq (in the live stream and in a replay);
- anything else a client sends (an attempt to act: set a phase, hide a comment, subscribe to
  another assembly, cast a ballot) closes that connection with BAD_MESSAGE for every role, and
  the event log does not move: zero escalations.
"""

from __future__ import annotations

import json
from typing import Any

from deliberation import accounts, assemblies
from kurultai.unit_of_work import Event
from realtime.core.protocol import CloseCode
from tests.ws.conftest import Live, ServerFactory, recv_events, recv_json
from tests.ws.test_live import close_code

ROLES = ("anonymous", "observer", "outsider", "outside_moderator", "delegate", "moderator", "admin")
SEES_MODERATOR_EVENTS = frozenset({"moderator", "admin"})
ACTIONS = [
    {"type": "set_phase", "item": 1, "phase": "voting"},
    {"type": "hide_comment", "id": 1, "reason": "x"},
    {"type": "subscribe", "assembly": 2},
    {"type": "ballot", "election": 1, "ballot": {}},
    {"type": "ping", "as": "admin", "role": "moderator"},
]


async def _headers(live: Live) -> dict[str, dict[str, str]]:
    """A session cookie per role (none for anonymous)."""
    ctx = live.ctx
    other = await assemblies.create_assembly(ctx, "seed", title="Another assembly")
    members = {
        "observer": (live.assembly, "observer"),
        "outsider": (other["id"], "delegate"),
        "outside_moderator": (other["id"], "moderator"),
        "delegate": (live.assembly, "delegate"),
        "moderator": (live.assembly, "moderator"),
    }
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    for role in ROLES[1:]:
        user = await accounts.create_user(ctx, f"u_{role}", None, is_admin=role == "admin")
        if role in members:
            aid, member_role = members[role]
            await assemblies.set_member(ctx, aid, "seed", user.username, member_role)
        session, _csrf = await accounts.issue_token(ctx, user.id, "session", 3_600_000)
        headers[role] = {"Cookie": f"kurultai_session={session}"}
    return headers


async def _events() -> list[tuple[int, int]]:
    """(assembly, seq) of every event of every assembly: any change would add one."""
    return [(r["assembly_id"], r["seq"]) for r in await Event.select(Event.assembly_id, Event.seq)]


async def test_every_websocket_action_for_every_role(live_server: ServerFactory) -> None:
    live = await live_server()
    headers = await _headers(live)
    await live.emit("test.ping", {})
    got: dict[str, dict[str, Any]] = {}
    for role in ROLES:
        async with live.connect(additional_headers=headers[role]) as ws:
            first = await recv_json(ws)
            await ws.send('{"type":"ping"}')
            pong = await recv_json(ws)
            public = await live.emit("test.public", {"x": 1})
            secret = await live.emit("test.secret", {"audience": "moderators", "secret": "s3"})
            frames = await recv_events(ws, 2)
            got[role] = {"first": first["type"], "pong": pong["type"], "frames": frames, "seqs": (public, secret)}
        async with live.connect(since=secret - 1, additional_headers=headers[role]) as replay:  # from the log
            got[role]["replay"] = await recv_events(replay, 1)

    for role in ROLES:
        g = got[role]
        assert (g["first"], g["pong"]) == ("snapshot", "pong"), (role, g)
        public, secret = g["frames"]
        assert public["type"] == "test.public" and public["seq"] == g["seqs"][0], role
        whole = role in SEES_MODERATOR_EVENTS
        for frame in (secret, *g["replay"]):
            if whole:
                assert frame["type"] == "test.secret" and frame["data"]["secret"] == "s3", role
            else:
                assert frame == {"seq": g["seqs"][1], "type": "redacted", "ts": frame["ts"], "data": {}}, (role, frame)
        assert g["replay"][0]["seq"] == g["seqs"][1], role


async def test_no_client_message_acts_for_any_role(live_server: ServerFactory) -> None:
    live = await live_server()
    headers = await _headers(live)
    await live.emit("test.ping", {})
    before = await _events()
    for role in ROLES:
        for action in ACTIONS:
            async with live.connect(additional_headers=headers[role]) as ws:
                await recv_json(ws)
                await ws.send(json.dumps(action))
                code, _reason = await close_code(ws)
                assert code == CloseCode.BAD_MESSAGE, (role, action, code)
    assert await _events() == before
