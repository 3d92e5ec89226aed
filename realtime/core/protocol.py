"""Wire facts of the live stream: close codes, server frame shapes and visibility.

Server frames are JSON text. Events: `{"seq", "type", "ts", "data"}` (PROTOCOL §6). Control
frames are not log events and never advance the client's position: `snapshot` (carries the seq
its state is at), `heartbeat` and `pong` (carry the last seq sent on this connection).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class CloseCode(IntEnum):
    """Websocket close codes the server uses. 4xxx are ours (RFC 6455 leaves 4000-4999 to apps)."""

    GOING_AWAY = 1001  # the server is shutting down: reconnect with since=<last seq>
    TOO_BIG = 1009  # a client frame above the maximum frame size
    OVERFLOW = 4008  # this connection fell too far behind: reconnect with since=<last seq>
    BAD_MESSAGE = 4400  # a frame that is not a known client message (garbage, binary, bad since)
    SESSION_ENDED = 4401  # the socket's token was revoked or expired: reconnect with since=<last seq>
    RIGHTS_CHANGED = 4403  # the user's role or admin flag changed: reconnect with since=<last seq>
    NOT_FOUND = 4404  # no such assembly
    RATE_LIMITED = 4429  # too many client messages: reconnect with since=<last seq>


#: Close codes after which the client should reconnect with `since=<last seq it received>`.
RESUMABLE = frozenset({CloseCode.GOING_AWAY, CloseCode.OVERFLOW, CloseCode.SESSION_ENDED, CloseCode.RIGHTS_CHANGED, CloseCode.RATE_LIMITED})

AUDIENCE_KEY = "audience"
MODERATORS = "moderators"
REDACTED = "redacted"


@dataclass(frozen=True)
class Viewer:
    """Who holds a connection: anonymous observers have no user and no role."""

    user_id: int | None = None
    role: str | None = None
    is_admin: bool = False

    @property
    def is_moderator(self) -> bool:
        return self.is_admin or self.role == "moderator"


def may_see(data: dict[str, Any], viewer: Viewer) -> bool:
    """An event whose data names an audience is shown only to that audience.

    The only audience today is "moderators" (moderators of the assembly and admins). An unknown
    audience fails closed: nobody but admins sees it.
    """
    audience = data.get(AUDIENCE_KEY)
    if audience is None:
        return True
    if audience == MODERATORS:
        return viewer.is_moderator
    return viewer.is_admin


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def event_frame(seq: int, type_: str, ts: str, data: dict[str, Any]) -> str:
    return dumps({"seq": seq, "type": type_, "ts": ts, "data": data})


def redacted_frame(seq: int, ts: str) -> str:
    """What a viewer outside an event's audience receives: the seq stays contiguous."""
    return dumps({"seq": seq, "type": REDACTED, "ts": ts, "data": {}})


def snapshot_frame(seq: int, ts: str, state: dict[str, Any]) -> str:
    return dumps({"type": "snapshot", "seq": seq, "ts": ts, "data": state})


def heartbeat_frame(seq: int, ts: str) -> str:
    return dumps({"type": "heartbeat", "seq": seq, "ts": ts})


def pong_frame(seq: int, ts: str) -> str:
    return dumps({"type": "pong", "seq": seq, "ts": ts})


def resume_reason(last_seq: int, why: str) -> str:
    """A close reason (at most 123 bytes) telling the client where to resume."""
    return f"{why}; reconnect with since={last_seq}"[:123]
