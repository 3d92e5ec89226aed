"""A minimal websocket client for the fan-out benchmark (bench/fanout.py): many observers per process.

Why hand-written: the benchmark's observers stand in for thousands of separate devices, but on
the benchmark machine they run in a few client processes that share the server's cores. With the
`websockets` library each received message costs the client ~30–50 µs of Python (frame parsing,
UTF-8 decode, a task wake-up, `json.loads`), so at 10,000 observers the clients took as much CPU
as the server and the measured delay was partly the clients' own queueing. Here a socket is a
bare `asyncio.Protocol`: after the HTTP upgrade, `data_received` walks the server's frames in
the buffer (unmasked, 7-bit/16-bit/64-bit lengths, fragments reassembled, pings answered, a close
answered), and for each complete text message looks up only the event timestamp with a bytes
search; the timestamp string → epoch seconds conversion is cached (every socket receives the same
few timestamps). Receipt time is read once per `data_received` call. A message costs a few µs.

It is a benchmark tool, not a general client: no TLS, no UTF-8 validation, and the only
extension is permessage-deflate, offered when asked (`deflate=True`, as browsers do): then the
server compresses every message and the client inflates it (zlib, one context per socket).
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time
import zlib
from collections import Counter
from collections.abc import Callable
from typing import Any
from datetime import datetime
from urllib.parse import urlsplit

EVENT_MARK = b'"type":"election.turnout","ts":"'
TS_LEN = len("2026-11-25T03:00:00.123Z")


class Stats:
    """What one client process has received: delay histogram (ms) and counters."""

    def __init__(self, wait_first: bool, event_mark: bytes = EVENT_MARK) -> None:
        self.wait_first = wait_first  # ready once the first message (the snapshot) is in
        self.event_mark = event_mark
        self.hist: Counter[int] = Counter()
        self.events = 0
        self.messages = 0
        self.open = 0
        self.closed = 0
        self.failed = 0
        self.stopping = False
        self._ts_cache: dict[bytes, float] = {}

    def ts_seconds(self, ts: bytes) -> float:
        t = self._ts_cache.get(ts)
        if t is None:
            if len(self._ts_cache) > 4096:
                self._ts_cache.clear()
            t = self._ts_cache[ts] = datetime.fromisoformat(ts.decode()).timestamp()
        return t


class LeanClient(asyncio.Protocol):
    """One websocket connection; reports to a shared `Stats`."""

    __slots__ = ("stats", "request", "transport", "handshake", "buf", "frag", "frag_rsv1", "got_first", "closed_sent", "done", "inflate", "on_message")

    def __init__(self, stats: Stats, request: bytes, done: Callable[[LeanClient], None] | None = None, on_message: Callable[[bytes], None] | None = None) -> None:
        self.stats = stats
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.buf = b""
        self.frag: list[bytes] | None = None
        self.frag_rsv1 = False
        self.inflate: Any = None  # a zlib decompressor once permessage-deflate is agreed
        self.got_first = False
        self.closed_sent = False
        self.done = done
        # Each complete text message goes here instead of the event-timestamp search (the live
        # pages benchmark reads what a page shows from its pushed regions).
        self.on_message = on_message

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport subclass
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionError("closed during the handshake"))
        elif not self.stats.stopping:
            self.stats.closed += 1
        if self.done is not None:
            self.done(self)

    def data_received(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
            self.buf = b""
        if not self.handshake.done():
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buf = data
                return
            status = data[: data.find(b"\r\n")]
            if b" 101 " not in status + b" ":
                self.handshake.set_exception(ConnectionError(status.decode("latin-1")))
                assert self.transport is not None
                self.transport.close()
                return
            if b"permessage-deflate" in data[:end].lower():
                self.inflate = zlib.decompressobj(wbits=-15)
            self.handshake.set_result(None)
            if not self.stats.wait_first:
                self.stats.open += 1
            data = data[end + 4 :]
        self._frames(data)

    # -- frames ------------------------------------------------------------------------

    def _frames(self, data: bytes) -> None:
        n = len(data)
        pos = 0
        now = 0.0
        stats = self.stats
        mark = stats.event_mark
        while True:
            if n - pos < 2:
                break
            b0 = data[pos]
            length = data[pos + 1] & 0x7F  # a server never masks
            start = pos + 2
            if length == 126:
                if n - pos < 4:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                start = pos + 4
            elif length == 127:
                if n - pos < 10:
                    break
                (length,) = struct.unpack_from(">Q", data, pos + 2)
                start = pos + 10
            end = start + length
            if end > n:
                break
            pos = end
            opcode = b0 & 0x0F
            if opcode >= 8:  # control frames are never fragmented
                if opcode == 9:
                    self._send(0xA, data[start:end])
                elif opcode == 8:
                    if not self.closed_sent:
                        self._send(0x8, data[start : min(end, start + 2)])
                        self.closed_sent = True
                    assert self.transport is not None
                    self.transport.close()
                    return
                continue
            if not b0 & 0x80:  # a fragment: keep it until the final one
                if self.frag is None:
                    self.frag = []
                    self.frag_rsv1 = bool(b0 & 0x40)
                self.frag.append(data[start:end])
                continue
            if self.frag is not None:
                self.frag.append(data[start:end])
                msg = b"".join(self.frag)
                self.frag = None
                compressed = self.frag_rsv1
                msg_start, msg_end = 0, len(msg)
            else:
                compressed = bool(b0 & 0x40)
                msg, msg_start, msg_end = data, start, end
            if compressed:
                msg = self.inflate.decompress(msg[msg_start:msg_end] + b"\x00\x00\xff\xff")
                msg_start, msg_end = 0, len(msg)
            stats.messages += 1
            if not self.got_first:
                self.got_first = True
                if stats.wait_first:
                    stats.open += 1
            if self.on_message is not None:
                self.on_message(msg if msg_start == 0 and msg_end == len(msg) else msg[msg_start:msg_end])
                continue
            i = msg.find(mark, msg_start, msg_end)
            if i >= 0:
                i += len(mark)
                if not now:
                    now = time.time()
                stats.hist[int((now - stats.ts_seconds(msg[i : i + TS_LEN])) * 1000)] += 1
                stats.events += 1
        if pos < n:
            self.buf = data[pos:]

    def _send(self, opcode: int, payload: bytes) -> None:
        """A client frame: always masked (RFC 6455 §5.3); only small control frames here."""
        assert self.transport is not None and len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        self.transport.write(bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked)

    def close(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if not self.closed_sent:
            self.closed_sent = True
            self._send(0x8, struct.pack(">H", 1000))
        self.transport.close()


def upgrade_request(url: str, deflate: bool = False) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    if parts.scheme != "ws":
        raise ValueError("only ws:// URLs")
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n" + ("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" if deflate else "") + "\r\n"
    )
    return host, port, request.encode()


async def connect(url: str, stats: Stats, timeout: float = 60.0, done: Callable[[LeanClient], None] | None = None, deflate: bool = False) -> LeanClient:
    host, port, request = upgrade_request(url, deflate)
    loop = asyncio.get_running_loop()
    _, proto = await asyncio.wait_for(loop.create_connection(lambda: LeanClient(stats, request, done), host, port), timeout)
    try:
        await asyncio.wait_for(asyncio.shield(proto.handshake), timeout)
    except BaseException:
        if proto.transport is not None:
            proto.transport.close()
        raise
    return proto
