"""The per-process hub: one Channels subscription per watched assembly, fanned out to sockets.

Each process runs one `Hub`. For every assembly with at least one connected socket it holds a
`Feed`: one Channels subscriber whose messages go through a reorder buffer (core/ordering.py).
A message that arrives after a gap is held until the gap is filled from the event log, so the
feed releases events strictly in seq order, each once. Released events are encoded once (twice
when an audience is set: full and redacted) and offered to every socket's bounded queue with a
synchronous, non-blocking `Connection.offer`: a slow socket never delays the others.

A periodic tick (the heartbeat interval) also compares each feed with the assembly's
`last_event_seq`, so an event whose publish was lost (a crash right after commit) still reaches
every client within one interval, and sends every socket a heartbeat.

The hub also keeps the authenticated sockets apart (`signed_in`), with the assembly each
watches, for the rights watch (realtime/rights.py); anonymous observers are not in it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Hashable
from enum import Enum

from litestar.channels import ChannelsPlugin, Subscriber

from deliberation.common import in_id_range
from deliberation.tables import Assembly
from kurultai.settings import Settings
from kurultai.unit_of_work import EventRecord, events_after, format_ms
from realtime.core.ordering import ReorderBuffer
from realtime.core.protocol import Viewer, event_frame, may_see, redacted_frame
from realtime.core.rights import Credential
from realtime.publisher import channel_name
from realtime.schemas import bus_decoder

log = logging.getLogger("kurultai.realtime")

LOG_PAGE = 1000
#: Sockets offered one event between two yields to the event loop (`Feed._deliver`).
DELIVER_BATCH = 64
HEARTBEAT = "heartbeat"
PONG = "pong"


class NoSuchAssembly(LookupError):
    pass


class ConnState(Enum):
    """The lifecycle of one socket: JOINING (initial snapshot/replay) → LIVE → CLOSING."""

    JOINING = "joining"
    LIVE = "live"
    CLOSING = "closing"


class Connection:
    """One socket's bounded outbound queue of `(seq, frame)`; seq 0 marks a control frame.

    While the socket's send loop is idle (LIVE, nothing queued, waiting) and the frame is the
    next seq, or a ready control frame (a page's pushed regions; a heartbeat or pong is still
    formatted by the loop), `offer` hands it straight to `send_now` instead of queueing it and
    waking the loop: at one frame per socket at a time that saves a task wake-up per message. `send_now` either
    writes it at once or passes the unfinished send on to the loop; the order is the same.
    """

    __slots__ = ("viewer", "credential", "max_queue", "queue", "wake", "overflowed", "close_request", "state", "last_sent", "on_overflow", "idle", "send_now", "page", "shown", "page_seq")

    def __init__(self, viewer: Viewer, max_queue: int, on_overflow: Callable[[], None] | None = None, credential: Credential | None = None) -> None:
        self.viewer = viewer
        self.credential = credential  # the token it was opened with; None for anonymous observers
        self.max_queue = max_queue
        self.queue: deque[tuple[int, str]] = deque()
        self.wake = asyncio.Event()
        self.overflowed = False
        self.close_request: tuple[int, str] | None = None
        self.state = ConnState.JOINING
        self.last_sent = 0
        self.on_overflow = on_overflow
        self.idle = False  # set by the send loop while it waits with an empty queue
        self.send_now: Callable[[int, str], None] | None = None
        # A page's socket: which shared render it shows (the web layer's key, e.g. the live view
        # of one item in one language); None for protocol clients.
        self.page: Hashable | None = None
        # The last pushed render offered to the page (the web layer's key of what it shows and
        # the push it came from): a push may send only what changed since (a delta) to a page
        # that was offered the push before. None until the page gets its first.
        self.shown: Hashable | None = None
        self.page_seq = 0  # the seq of the regions the page showed when it connected (0: unknown)

    def offer(self, seq: int, frame: str) -> None:
        """Queue a frame without ever waiting. A full queue marks the socket for closing."""
        if self.overflowed or self.state is ConnState.CLOSING:
            return
        if self.idle and self.send_now is not None and not self.queue and self.close_request is None and (seq == self.last_sent + 1 or (seq == 0 and frame[:1] == "{")):
            self.send_now(seq, frame)  # the next event, or a page's pushed render: no wake-up
            return
        if len(self.queue) >= self.max_queue:
            self.overflowed = True
            self.queue.clear()  # free the memory now; the client resumes from the log
            self.notify()
            if self.on_overflow is not None:
                self.on_overflow()
            return
        self.queue.append((seq, frame))
        self.notify()

    def offer_latest(self, frame: str, kind: str, replacement: str | None = None) -> None:
        """Offer a control frame that makes a queued control frame of the same `kind` (its
        prefix, e.g. a page's `{"type":"regions"`) obsolete: that one is replaced in place, so a
        slow page holds at most one render of each kind, never a backlog of them. `replacement`:
        what replaces it instead of `frame` (when `frame` only adds to the queued one, as a
        page's delta does, the page must get the whole render)."""
        if not self.overflowed and self.state is not ConnState.CLOSING:
            for i, (seq, queued) in enumerate(self.queue):
                if seq == 0 and queued.startswith(kind):
                    self.queue[i] = (0, replacement or frame)
                    return
        self.offer(0, frame)

    def request_close(self, code: int, reason: str) -> None:
        if self.close_request is None:
            self.close_request = (code, reason)
        self.notify()

    def notify(self) -> None:
        self.idle = False
        self.wake.set()


def record_of(payload: bytes) -> EventRecord:
    m = bus_decoder.decode(payload)
    return EventRecord(m.assembly_id, m.seq, m.type, m.data, m.ts_ms)


def frames_of(event: EventRecord) -> tuple[str, str | None]:
    """The event's frame, and its redacted frame when the event names an audience."""
    ts = format_ms(event.ts_ms)
    full = event_frame(event.seq, event.type, ts, event.data)
    if "audience" in event.data:
        return full, redacted_frame(event.seq, ts)
    return full, None


def frame_for(event: EventRecord, viewer: Viewer) -> str:
    full, redacted = frames_of(event)
    return full if redacted is None or may_see(event.data, viewer) else redacted


async def read_last_seq(assembly_id: int) -> int | None:
    """The assembly's last event seq; None when there is no such assembly (an id out of the
    database's range included)."""
    if not in_id_range(assembly_id):
        return None
    row = await Assembly.select(Assembly.last_event_seq).where(Assembly.id == assembly_id).first()
    return None if row is None else int(row["last_event_seq"])


class Feed:
    """One assembly's ordered stream in this process."""

    def __init__(self, hub: Hub, assembly_id: int) -> None:
        self.hub = hub
        self.assembly_id = assembly_id
        self.buffer: ReorderBuffer[EventRecord] = ReorderBuffer()
        self.conns: set[Connection] = set()
        self.lock = asyncio.Lock()
        self.ready = asyncio.Event()
        self.subscriber: Subscriber | None = None
        self.task: asyncio.Task[None] | None = None
        self.idle_ticks = 0

    async def start(self) -> None:
        channel = channel_name(self.hub.settings, self.assembly_id)
        self.subscriber = await self.hub.channels.subscribe(channel)
        # Subscribe first, then read the base: anything committed after the read arrives on the
        # channel (or is filled from the log); anything before it is each socket's own catch-up.
        base = await read_last_seq(self.assembly_id)
        if base is None:
            await self.stop()
            raise NoSuchAssembly(f"no assembly with id {self.assembly_id}")
        self.buffer.skip_to(base)
        self.task = asyncio.create_task(self._run(), name=f"kurultai-feed-{self.assembly_id}")
        self.ready.set()

    async def stop(self) -> None:
        if self.subscriber is not None:
            try:
                await self.hub.channels.unsubscribe(self.subscriber)
            except Exception:  # the backend is already down (shutdown): nothing to undo
                log.debug("unsubscribing assembly %s failed", self.assembly_id, exc_info=True)
        if self.task is not None:
            self.task.cancel()
            await asyncio.wait([self.task])  # unlike `await task`, never swallows our own cancellation

    async def _run(self) -> None:
        assert self.subscriber is not None
        async for payload in self.subscriber.iter_events():
            try:
                event = record_of(payload)
            except Exception:  # a foreign message on our channel: never fatal
                log.warning("undecodable message on assembly %s's channel", self.assembly_id)
                continue
            async with self.lock:
                ready = self.buffer.offer(event.seq, event)
                if self.buffer.pending:
                    ready += await self._fill(min(self.buffer.pending) - 1)
                await self._deliver(ready)

    async def _fill(self, upto: int) -> list[tuple[int, EventRecord]]:
        """Read seqs after `buffer.last` up to `upto` from the log; return what became ready."""
        ready: list[tuple[int, EventRecord]] = []
        while self.buffer.last < upto:
            want = min(LOG_PAGE, upto - self.buffer.last)
            try:
                records = await events_after(self.assembly_id, self.buffer.last, limit=want)
            except Exception:
                log.exception("reading the event log of assembly %s failed; retrying at the next tick", self.assembly_id)
                break
            if not records:
                break
            ready += self.buffer.fill([(r.seq, r) for r in records])
        return ready

    async def tick(self) -> None:
        """Catch up with the log (a lost publish) at every heartbeat interval."""
        try:
            last = await read_last_seq(self.assembly_id)
        except Exception:
            log.exception("reading last_event_seq of assembly %s failed", self.assembly_id)
            return
        if last is None or last <= self.buffer.last:
            return
        async with self.lock:
            await self._deliver(await self._fill(last))

    async def _deliver(self, ready: list[tuple[int, EventRecord]]) -> None:
        """Offer each released event to every socket, in seq order, yielding to the event loop
        after every `DELIVER_BATCH` sockets: a hall of thousands never holds the loop for one
        event (logins, ballots and pages wait behind it otherwise). The lock is held throughout,
        so the next events wait; a socket attached meanwhile is not in this round's list and
        reads these (committed) events from the log in its own catch-up."""
        for seq, event in ready:
            full, redacted = frames_of(event)
            conns = [c for c in self.conns if c.page is None]  # pages get their regions instead (on_release)
            for start in range(0, len(conns), DELIVER_BATCH):
                if start:
                    await asyncio.sleep(0)
                for conn in conns[start : start + DELIVER_BATCH]:
                    conn.offer(seq, full if redacted is None or may_see(event.data, conn.viewer) else redacted)
        if ready and self.hub.on_release is not None:
            self.hub.on_release(self.assembly_id, [event for _, event in ready])


class Hub:
    def __init__(self, settings: Settings, channels: ChannelsPlugin) -> None:
        self.settings = settings
        self.channels = channels
        self.feeds: dict[int, Feed] = {}
        self.signed_in: dict[Connection, int] = {}  # authenticated sockets -> their assembly
        # Called (without waiting) after a feed released events to its sockets: the web layer
        # renders the pages' shared regions again (kurultai/web/live_pages.py).
        self.on_release: Callable[[int, list[EventRecord]], None] | None = None
        self._ticker: asyncio.Task[None] | None = None

    @property
    def connections(self) -> int:
        return sum(len(f.conns) for f in self.feeds.values())

    async def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick_loop(), name="kurultai-hub-ticker")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.wait([self._ticker])
        feeds, self.feeds = list(self.feeds.values()), {}
        self.signed_in.clear()
        for feed in feeds:
            for conn in feed.conns:
                conn.request_close(1001, "server shutting down")
            await feed.stop()

    async def attach(self, assembly_id: int, conn: Connection) -> Feed:
        """Start offering the assembly's live events to `conn` (from now on, in seq order)."""
        feed = self.feeds.get(assembly_id)
        if feed is None:
            feed = self.feeds[assembly_id] = Feed(self, assembly_id)
            try:
                await feed.start()
            except BaseException:
                self.feeds.pop(assembly_id, None)
                feed.ready.set()
                raise
        await feed.ready.wait()
        if self.feeds.get(assembly_id) is not feed:
            raise NoSuchAssembly(f"no assembly with id {assembly_id} (or its live feed failed to start)")
        feed.conns.add(conn)
        if conn.credential is not None:
            self.signed_in[conn] = assembly_id
        feed.idle_ticks = 0
        return feed

    def detach(self, assembly_id: int, conn: Connection) -> None:
        self.signed_in.pop(conn, None)
        feed = self.feeds.get(assembly_id)
        if feed is not None:
            feed.conns.discard(conn)

    async def _tick_loop(self) -> None:
        interval = self.settings.ws_heartbeat_s
        while True:
            await asyncio.sleep(interval)
            try:
                await self.tick()
            except Exception:  # keep ticking whatever happens
                log.exception("hub tick failed")

    async def tick(self) -> None:
        for assembly_id, feed in list(self.feeds.items()):
            if not feed.conns:
                feed.idle_ticks += 1
                if feed.idle_ticks >= 2 and self.feeds.get(assembly_id) is feed:
                    del self.feeds[assembly_id]
                    await feed.stop()
                continue
            await feed.tick()
            for conn in list(feed.conns):
                conn.offer(0, HEARTBEAT)
