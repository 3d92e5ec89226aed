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
