"""The pure core of live events: reorder buffer, start plan, visibility, throttle, origins.
(Kept beside the websocket tests, which own realtime/.)"""

from __future__ import annotations

import pytest

from realtime.core.ordering import ReorderBuffer, plan_start
from realtime.core.protocol import Viewer, may_see, resume_reason
from realtime.core.throttle import TokenBucket, origin_allowed
from realtime.schemas import BadClientMessage, Ping, decode_client


def test_reorder_buffer_releases_in_order_once() -> None:
    b: ReorderBuffer[str] = ReorderBuffer()
    assert b.offer(2, "b") == [] and b.gap() == (0, 2)
    assert b.offer(1, "a") == [(1, "a"), (2, "b")]
    assert b.offer(2, "b") == [] and b.offer(1, "a") == []  # duplicates
    assert b.offer(5, "e") == [] and b.gap() == (2, 5)
    assert b.fill([(4, "d"), (3, "c")]) == [(3, "c"), (4, "d"), (5, "e")]
    assert b.gap() is None and b.last == 5
    b.skip_to(9)
    assert b.offer(9, "x") == [] and b.offer(10, "y") == [(10, "y")]


def test_reorder_buffer_is_bounded() -> None:
    b: ReorderBuffer[int] = ReorderBuffer(max_pending=2)
    for s in (3, 4, 5):
        b.offer(s, s)
    assert sorted(b.pending) == [3, 4]


@pytest.mark.parametrize(
    "since,last,window,kind",
    [(None, 5, 10, "snapshot"), (0, 5, 10, "replay"), (5, 5, 10, "replay"), (6, 5, 10, "snapshot"), (-1, 5, 10, "snapshot"), (3, 20, 10, "snapshot"), (10, 20, 10, "replay")],
)
def test_plan_start(since: int | None, last: int, window: int, kind: str) -> None:
    assert plan_start(since, last, window).kind == kind


def test_visibility() -> None:
    public, secret, odd = {"x": 1}, {"audience": "moderators"}, {"audience": "auditors"}
    anon, mod, admin = Viewer(), Viewer(1, "moderator"), Viewer(2, None, True)
    assert may_see(public, anon) and not may_see(secret, anon) and not may_see(secret, Viewer(3, "delegate"))
    assert may_see(secret, mod) and may_see(secret, admin)
    assert not may_see(odd, mod) and may_see(odd, admin)  # unknown audiences fail closed


def test_token_bucket() -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.5) is True and bucket.take(0.5) is False


@pytest.mark.parametrize(
    "origin,host,allowed,ok",
    [
        (None, "h:8000", (), True),
        ("http://h:8000", "h:8000", (), True),
        ("https://h", "h", (), True),
        ("http://h", "h:80", (), True),
        ("http://evil", "h:8000", (), False),
        ("null", "h", (), False),
        ("https://ok.example", "h", ("https://ok.example/",), True),
        ("https://any", "h", ("*",), True),
        ("http://h:8000", None, (), False),
    ],
)
def test_origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...], ok: bool) -> None:
    assert origin_allowed(origin, host, allowed) is ok


def test_client_messages() -> None:
    assert isinstance(decode_client('{"type":"ping"}'), Ping)
    for bad in ("", "nope", '{"type":"pong"}', "{}", "[]"):
        with pytest.raises(BadClientMessage, match="expected a client message"):
            decode_client(bad)
    assert "since=7" in resume_reason(7, "x") and len(resume_reason(7, "y" * 500).encode()) <= 123
