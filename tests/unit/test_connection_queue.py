"""A page's socket holds at most one pushed render of each kind (issue #16): a newer `regions`
frame replaces one still queued, in place; events and other control frames are kept."""

from __future__ import annotations

from realtime.core.protocol import Viewer
from realtime.hub import Connection

REGIONS = '{"type":"regions"'


def test_a_newer_render_replaces_the_queued_one_and_nothing_else() -> None:
    conn = Connection(Viewer(), max_queue=4)
    conn.offer(0, '{"type":"heartbeat"}')
    for n in range(50):  # a slow page: fifty renders while it reads nothing
        conn.offer_latest(f'{REGIONS},"seq":{n}}}', REGIONS)
    conn.offer_latest('{"type":"mine","regions":{}}', '{"type":"mine"')
    conn.offer(7, '{"type":"agenda.updated","seq":7}')
    assert list(conn.queue) == [(0, '{"type":"heartbeat"}'), (0, f'{REGIONS},"seq":49}}'), (0, '{"type":"mine","regions":{}}'), (7, '{"type":"agenda.updated","seq":7}')]
    assert not conn.overflowed


def test_without_a_queued_render_a_new_one_is_queued_and_counts_toward_the_bound() -> None:
    conn = Connection(Viewer(), max_queue=2)
    conn.offer(1, "a")
    conn.offer(2, "b")
    conn.offer_latest(f'{REGIONS},"seq":3}}', REGIONS)
    assert conn.overflowed and not conn.queue  # a full queue closes the socket, as for any frame


def test_an_idle_socket_gets_a_render_at_once_and_a_heartbeat_through_its_loop() -> None:
    """A pushed render needs no formatting: an idle socket's send loop is not woken for it
    (`send_now`, as for the next event); it stays outside the event sequence (seq 0)."""
    conn = Connection(Viewer(), max_queue=4)
    sent: list[tuple[int, str]] = []
    conn.send_now = lambda seq, frame: sent.append((seq, frame))
    conn.last_sent = 5
    conn.idle = True
    conn.offer_latest(f'{REGIONS},"seq":5}}', REGIONS)
    conn.offer(6, '{"type":"agenda.updated","seq":6}')
    conn.offer(0, "heartbeat")  # formatted by the loop with the last seq sent: queued
    assert sent == [(0, f'{REGIONS},"seq":5}}'), (6, '{"type":"agenda.updated","seq":6}')]
    assert list(conn.queue) == [(0, "heartbeat")] and conn.wake.is_set()


def test_a_delta_that_would_replace_a_queued_render_is_replaced_by_the_whole_render() -> None:
    """A delta holds only the regions changed since the render before: when that render is still
    queued (never sent), the page must get the whole new render in its place."""
    conn = Connection(Viewer(), max_queue=4)
    conn.offer_latest(f'{REGIONS},"seq":1,"regions":{{"a":"1","b":"1"}}}}', REGIONS)
    conn.offer_latest(f'{REGIONS},"seq":2,"regions":{{"b":"2"}}}}', REGIONS, f'{REGIONS},"seq":2,"regions":{{"a":"1","b":"2"}}}}')
    assert list(conn.queue) == [(0, f'{REGIONS},"seq":2,"regions":{{"a":"1","b":"2"}}}}')]
    conn.queue.clear()  # sent: the next delta goes as it is
    conn.offer_latest(f'{REGIONS},"seq":3,"regions":{{"a":"3"}}}}', REGIONS, "whole")
    assert list(conn.queue) == [(0, f'{REGIONS},"seq":3,"regions":{{"a":"3"}}}}')]
