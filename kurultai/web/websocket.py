"""The websocket endpoint `/ws/assemblies/{aid}?since=N` (PROTOCOL §6; docs/realtime.md).

One handler task per socket sends; one small task reads client messages. The sequence:

1. Origin check (before accepting: a refused handshake gets HTTP 403).
2. Who is it: the browser session cookie (or a bearer token) gives the viewer's role; without
   one the viewer is an anonymous observer. An authenticated socket keeps the token's hash and
   kind: the rights watch (rights.py) closes it with 4401 or 4403 when the token ends or the
   rights change, and from then on nothing more is sent on it.
3. Attach to the process's feed of the assembly: live events start queueing, in seq order.
4. The first frame: a replay of the log after `since` (when `since` is within the replay window)
   or a snapshot at seq N.
5. Live: queued frames go out strictly in seq order. A frame whose seq is past the next one
   expected (only possible just after the start) is preceded by the missing events, read from
   the log. Frames at or below the last seq sent are dropped. While the send loop waits with
   nothing queued, the feed sends the next event itself (`Session.send_now`): the ASGI send runs
   at once when the socket can take it, else the unfinished send is passed to the send loop,
   which completes it before anything queued after it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import types
from collections.abc import Coroutine, Generator
from typing import Any

from litestar import WebSocket, websocket
from litestar.params import FromPath

from deliberation.accounts import lookup_token, token_hash
from deliberation.assemblies import memberships_of
from kurultai.unit_of_work import format_ms
from kurultai.web.auth import SESSION_COOKIE
from kurultai.web.live_pages import page_variant
from realtime.core.ordering import plan_start
from realtime.core.protocol import (
    CloseCode,
    Viewer,
    heartbeat_frame,
    pong_frame,
    resume_reason,
    snapshot_frame,
)
from realtime.core.rights import Credential
from realtime.core.throttle import TokenBucket, origin_allowed
from realtime.hub import HEARTBEAT, LOG_PAGE, PONG, Connection, ConnState, Hub, NoSuchAssembly, frame_for
from kurultai.unit_of_work import events_after
from realtime.schemas import BadClientMessage, Ping, decode_client
from realtime.snapshot import build_snapshot

log = logging.getLogger("kurultai.realtime")

#: How long a closing handshake may wait on a client that does not read before the socket is
#: dropped.
CLOSE_WAIT_S = 10.0


class Closing(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def resolve_viewer(socket: WebSocket, assembly_id: int, now_ms: int) -> tuple[Viewer, Credential | None]:
    """The session cookie (browsers) or a bearer token (other clients); else an observer.

    Also the credential the viewer was resolved from (None for an observer), which the rights
    watch checks again while the socket is open."""
    token, kind = socket.cookies.get(SESSION_COOKIE), "session"
    header = socket.headers.get("authorization", "")
    if header.lower().startswith("bearer ") and header[7:].strip():
        token, kind = header[7:].strip(), "bearer"
    if not token:
        return Viewer(), None
    found = await lookup_token(token, kind, now_ms)
    if found is None:
        return Viewer(), None
    user = found[0]
    role = (await memberships_of(user.id)).get(assembly_id)
    return Viewer(user_id=user.id, role=role, is_admin=user.is_admin), Credential(token_hash(token), kind)


def parse_since(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise Closing(CloseCode.BAD_MESSAGE, f"since must be a non-negative integer, got {raw[:40]!r}")
    return int(raw)


@websocket("/ws/assemblies/{aid:int}")
async def live_events(socket: WebSocket, aid: FromPath[int]) -> None:
    app = socket.app
    settings = app.state.settings
    hub: Hub = app.state.hub
    if not origin_allowed(socket.headers.get("origin"), socket.headers.get("host"), settings.allowed_origins):
        await socket.close(code=CloseCode.BAD_MESSAGE, reason="origin not allowed")  # before accept: HTTP 403
        return
    await socket.accept()
    handler_task = asyncio.current_task()
    assert handler_task is not None
    conn: Connection | None = None
    session: Session | None = None
    reader: asyncio.Task[None] | None = None
    try:
        since = parse_since(socket.query_params.get("since"))
        viewer, credential = await resolve_viewer(socket, aid, app.state.ctx.now())
        session = Session(socket, aid, viewer, settings, handler_task, credential)
        conn = session.conn
        conn.page = page_variant(socket.query_params, viewer)  # before attaching: the next render includes it
        feed = await hub.attach(aid, conn)  # reads the assembly's last seq once per process
        reader = asyncio.create_task(session.read_loop(), name="kurultai-ws-reader")
        reader.add_done_callback(session.reader_done)
        last = feed.buffer.last
        await session.start(since, app.state.snapshot_sections, last)
        if conn.page is not None:
            rendered = socket.query_params.get("rendered")  # the seq of the regions the page shows
            app.state.live_pages.joined(aid, conn, int(rendered) if rendered and rendered.isascii() and rendered.isdigit() and len(rendered) <= 18 else None, last)
        await session.send_loop()
    except Closing as c:
        await _close(socket, c.code, c.reason)
    except NoSuchAssembly as exc:
        await _close(socket, CloseCode.NOT_FOUND, str(exc))
    except asyncio.CancelledError:
        # Cancelled by Connection.offer on overflow (the send was stuck on a slow client), or by
        # the server shutting down. Only the former is ours to finish.
        if conn is None or not conn.overflowed:
            raise
        handler_task.uncancel()
        await _close(socket, CloseCode.OVERFLOW, resume_reason(conn.last_sent, "too far behind"))
    finally:
        if conn is not None:
            conn.state = ConnState.CLOSING
            conn.idle = False
            hub.detach(aid, conn)
        if session is not None:
            session.drop_pending()
        if reader is not None:
            reader.cancel()


async def _close(socket: WebSocket, code: int, reason: str) -> None:
    try:
        await asyncio.wait_for(socket.close(code=code, reason=reason), CLOSE_WAIT_S)
    except Exception:  # already gone, or it never read its backlog: uvicorn drops the socket
        pass


@types.coroutine
def _resume(coro: Coroutine[Any, Any, Any], yielded: Any) -> Generator[Any, Any, Any]:
    """Run to its end, in the awaiting task, a coroutine that was stepped outside any task and
    suspended at `yielded` (what it yielded: the future it waits on). As `await coro` would."""
    while True:
        try:
            sent = yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            try:
                yielded = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                yielded = coro.send(sent)
            except StopIteration as stop:
                return stop.value


class Session:
    """The sending side of one socket."""

    def __init__(self, socket: WebSocket, assembly_id: int, viewer: Viewer, settings: Any, handler: asyncio.Task[Any], credential: Credential | None = None) -> None:
        self.socket = socket
        self.assembly_id = assembly_id
        self.settings = settings
        self.handler = handler
        self.sending = False
        self.conn = Connection(viewer, settings.ws_queue_max, on_overflow=self._overflowed, credential=credential)
        self.conn.send_now = self.send_now
        # A send started by `send_now` that could not finish at once: (seq, coroutine, what it
        # waits on); or the error it raised. The send loop finishes or raises it.
        self.pending: tuple[int, Coroutine[Any, Any, Any], Any] | None = None
        self.error: BaseException | None = None

    @property
    def viewer(self) -> Viewer:
        """The connection's viewer: the rights watch may replace it just before closing it."""
        return self.conn.viewer

    def _overflowed(self) -> None:
        # If the handler is stuck sending to this slow client, interrupt it so it closes now.
        if self.sending:
            self.handler.cancel()

    def reader_done(self, task: asyncio.Task[None]) -> None:
        """Whatever ends the reader (a disconnect, an error) must end the sender too."""
        if not task.cancelled() and task.exception() is not None:
            log.debug("websocket reader ended: %r", task.exception())
        self.conn.request_close(1000, "")

    async def send(self, frame: str) -> None:
        self.sending = True
        try:
            await self.socket.send({"type": "websocket.send", "text": frame})
        finally:
            self.sending = False

    def send_now(self, seq: int, frame: str) -> None:
        """Send the next event (or a control frame, seq 0) from the feed's task while the send
        loop is idle (`Connection.offer`).

        Uvicorn's send returns without suspending while the transport takes data, so this
        usually completes here, without waking the send loop. When it does suspend (a slow
        client: the transport paused writing), the loop completes it; meanwhile it counts as a
        send in progress (`sending`), as if the loop had started it."""
        conn = self.conn
        coro = self.socket.send({"type": "websocket.send", "text": frame})
        try:
            yielded = coro.send(None)
        except StopIteration:
            if seq:  # 0: a control frame, outside the event sequence
                conn.last_sent = seq
            return
        except Exception as exc:  # the socket is gone: the send loop raises it, as its own send would
            self.error = exc
        else:
            self.pending = (seq, coro, yielded)
            self.sending = True
        conn.notify()

    async def _finish_pending(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        if self.pending is None:
            return
        seq, coro, yielded = self.pending
        self.pending = None
        self.sending = True
        try:
            await _resume(coro, yielded)
        finally:
            self.sending = False
        if seq:
            self.conn.last_sent = seq

    def drop_pending(self) -> None:
        if self.pending is not None:
            coro = self.pending[1]
            self.pending = None
            coro.close()

    async def start(self, since: int | None, sections: Any, last: int) -> None:
        """`last`: the feed's last released seq. Every event up to it has committed, and every
        event after it reaches this connection's queue (it attached first), so it is a safe
        snapshot seq and catch-up bound without reading the database."""
        plan = plan_start(since, last, self.settings.ws_replay_window)
        if plan.kind == "snapshot":
            now = self.socket.app.state.ctx.now()
            cache = self.socket.app.state.snapshot_cache
            seq, state = await build_snapshot(self.assembly_id, self.viewer, now, sections, cache, seq=last)
            await self.send(snapshot_frame(seq, format_ms(now), state))
            self.conn.last_sent = seq
        else:
            self.conn.last_sent = plan.since
        await self.catch_up(last)
        self.conn.state = ConnState.LIVE

    async def catch_up(self, upto: int) -> None:
        """Send the log's events after the last seq sent, up to `upto`; stop early when the
        connection is to close (its rights ended while it was catching up)."""
        conn = self.conn
        while conn.last_sent < upto and not conn.overflowed:
            if conn.close_request is not None:
                raise Closing(*conn.close_request)
            records = await events_after(self.assembly_id, conn.last_sent, limit=min(LOG_PAGE, upto - conn.last_sent))
            if not records:
                break
            for r in records:
                if conn.close_request is not None:
                    raise Closing(*conn.close_request)
                if r.seq != conn.last_sent + 1:
                    raise Closing(CloseCode.OVERFLOW, resume_reason(conn.last_sent, "event log has a gap"))
                await self.send(frame_for(r, self.viewer))
                conn.last_sent = r.seq

    async def send_loop(self) -> None:
        conn = self.conn
        queue = conn.queue
        while True:
            if conn.overflowed:
                raise Closing(CloseCode.OVERFLOW, resume_reason(conn.last_sent, "too far behind"))
            if conn.close_request is not None:
                raise Closing(*conn.close_request)
            if not queue:
                conn.wake.clear()
                conn.idle = True
                try:
                    await conn.wake.wait()
                finally:
                    conn.idle = False
                await self._finish_pending()
                continue
            seq, frame = queue.popleft()
            if seq == 0:  # a control frame: a heartbeat, a pong, or a page's pushed regions
                if frame == HEARTBEAT or frame == PONG:
                    ts = format_ms(int(time.time() * 1000))
                    frame = heartbeat_frame(conn.last_sent, ts) if frame == HEARTBEAT else pong_frame(conn.last_sent, ts)
                await self.send(frame)
                continue
            if seq <= conn.last_sent:
                continue
            if seq > conn.last_sent + 1:
                await self.catch_up(seq - 1)
                if conn.close_request is not None:  # the frame was made for the rights it had
                    raise Closing(*conn.close_request)
                if conn.last_sent != seq - 1:
                    raise Closing(CloseCode.OVERFLOW, resume_reason(conn.last_sent, "could not fill a gap"))
            await self.send(frame)
            conn.last_sent = seq

    async def read_loop(self) -> None:
        """Client messages: rate-limited, size-limited, and only `{"type":"ping"}` is known."""
        conn = self.conn
        bucket = TokenBucket(self.settings.ws_client_rate, self.settings.ws_client_burst)
        limit = self.settings.ws_max_frame_bytes
        while True:
            message = await self.socket.receive()
            if message["type"] == "websocket.disconnect":
                conn.request_close(1000, "")
                return
            if not bucket.take(time.monotonic()):
                conn.request_close(CloseCode.RATE_LIMITED, resume_reason(conn.last_sent, "too many messages"))
                return
            text = message.get("text")
            if text is None:
                conn.request_close(CloseCode.BAD_MESSAGE, "binary frames are not accepted; send JSON text")
                return
            if len(text) > limit or len(text.encode()) > limit:
                conn.request_close(CloseCode.TOO_BIG, f"frame larger than {limit} bytes")
                return
            try:
                msg = decode_client(text)
            except BadClientMessage as exc:
                conn.request_close(CloseCode.BAD_MESSAGE, str(exc)[:120])
                return
            if isinstance(msg, Ping):
                conn.offer(0, PONG)
