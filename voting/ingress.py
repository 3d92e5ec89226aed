"""`POST /api/elections/{eid}/ballots` at the ASGI level, in front of the framework.

During a vote ballots arrive thousands of times a second, and for them the framework's
per-request work (routing, dependency resolution, the request object, response hooks) cost
several times the ballot's own checks. `BallotIngress` wraps the app's ASGI handler: it answers
exactly this path and method itself and passes everything else on. The answer is the same as
the Litestar handler's (`voting.controllers.cast_ballot_h` documents the operation in the
OpenAPI schema): the same checks in `cast_ballot`, the same 413 for a body over
`BALLOT_MAX_BYTES`, the same `{"error", "detail"}` bodies and the same security headers.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from litestar.datastructures import State
from litestar.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from kurultai.errors import ApiError, error_parts
from voting.controllers import BALLOT_MAX_BYTES, cast_ballot

log = logging.getLogger("kurultai")

BALLOT_PATH = re.compile(r"/api/elections/([0-9]{1,10})/ballots")


class _Disconnected(Exception):
    """The client went away before its body arrived: there is nobody to answer."""


class BallotIngress:
    def __init__(self, app: ASGIApp, state: State, headers: Mapping[str, str]) -> None:
        self.app = app
        self.state = state
        self.headers = [(b"content-type", b"application/json"), *((k.encode(), v.encode()) for k, v in headers.items())]
        # The same headers as uvicorn writes them (names lowercased), for `BallotProtocol`.
        self.header_block = b"".join(name.lower() + b": " + value + b"\r\n" for name, value in self.headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = BALLOT_PATH.fullmatch(scope["path"])
            if match is not None:
                await self.cast(scope, receive, send, int(match[1]))
                return
        await self.app(scope, receive, send)

    async def cast(self, scope: Scope, receive: Receive, send: Send, eid: int) -> None:
        client = scope.get("client")
        body = functools.partial(read_body, scope, receive, BALLOT_MAX_BYTES)
        try:
            status, payload = await answer(self.state, client[0] if client else "unknown", body, eid)
        except _Disconnected:
            return
        headers = [*self.headers, (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


async def answer(state: State, client: str, body: bytes | Callable[[], Awaitable[bytes]], eid: int) -> tuple[int, bytes]:
    """`cast_ballot`, with every error turned into its `{"error", "detail"}` answer."""
    try:
        return await cast_ballot(state, client, body, eid)
    except _Disconnected:
        raise
    except Exception as exc:
        parts = error_parts(exc)
        if parts is None:
            log.exception("unhandled error on POST /api/elections/%d/ballots", eid)
            parts = (500, "internal_error", "internal server error")
        return parts[0], json.dumps({"error": parts[1], "detail": parts[2]}, ensure_ascii=False).encode()


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request body, refused with 413 `payload_too_large` past `limit` bytes (by its
    Content-Length before reading, or while reading a chunked body)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise _too_large(int(value), limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Any = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large(size: int, limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"a ballot body holds at most {limit} bytes, got {size}")


# -- below the ASGI level ---------------------------------------------------------------------

_FAST_URL = re.compile(rb"/api/elections/([0-9]{1,10})/ballots(?:\?[^#]*)?")
# Requests with these headers take the ASGI path: chunked bodies, 100-continue, and addresses
# that uvicorn's proxy-headers middleware would rewrite.
_ASGI_ONLY_HEADERS = frozenset({b"transfer-encoding", b"expect", b"x-forwarded-for", b"x-forwarded-proto", b"forwarded", b"upgrade"})


class BallotProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering plain ballot POSTs without the ASGI cycle.

    `kurultai serve` runs uvicorn with this protocol. Under load, uvicorn's per-request work for
    an ASGI app (the scope, a request-response cycle with its event, `receive`, `send` with its
    header checks, the middleware, two writes) cost ~80 µs of the event loop per ballot on the
    benchmark machine, as much as a third of the ballot's whole path. A request that is exactly
    `POST /api/elections/{eid}/ballots` over keep-alive HTTP/1.1 with a `Content-Length` of at
    most `BALLOT_MAX_BYTES`, no pipelined request before it and none of `_ASGI_ONLY_HEADERS`, is
    answered here by the same `answer` as `BallotIngress`, with the same bytes (status line,
    uvicorn's default headers, our headers) in one write. Every other request, and every case
    where this is unsure, goes the usual way (scope, cycle, app), which `BallotIngress` still
    answers for ballots.
    """

    _ingress: BallotIngress | None | bool = False  # not looked up yet

    def on_message_begin(self) -> None:
        # The scope is built in on_headers_complete, and only for requests that need it.
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def on_headers_complete(self) -> None:
        eid = self._ballot_request()
        if eid is not None:
            assert isinstance(self._ingress, BallotIngress)
            self.cycle = _BallotCycle(self, self._ingress, eid)  # type: ignore[assignment]
            return
        url, headers, expect = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()
        self.url, self.headers, self.expect_100_continue = url, headers, expect
        self.scope["headers"] = headers
        super().on_headers_complete()

    def _ballot_request(self) -> int | None:
        parser = self.parser
        if parser.get_method() != b"POST" or (match := _FAST_URL.fullmatch(self.url)) is None:
            return None
        if (
            self.root_path
            or self.limit_concurrency is not None
            or parser.get_http_version() != "1.1"
            or not parser.should_keep_alive()
            or parser.should_upgrade()
            or (self.cycle is not None and not self.cycle.response_complete)
        ):
            return None
        length = None
        for name, value in self.headers:
            if name == b"content-length":
                if length is not None or not value.isdigit():
                    return None
                length = int(value)
            elif name in _ASGI_ONLY_HEADERS:
                return None
        if length is None or length > BALLOT_MAX_BYTES:
            return None
        if self._ingress is False:
            self._ingress = _find_ingress(self.app)
        return int(match[1]) if self._ingress is not None else None


def _find_ingress(app: Any) -> BallotIngress | None:
    """The `BallotIngress` inside uvicorn's middleware around our app, if there is one."""
    for _ in range(16):
        handler = getattr(app, "asgi_handler", None)
        if isinstance(handler, BallotIngress):
            return handler
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


class _BallotCycle:
    """Stands in for uvicorn's `RequestResponseCycle` while a ballot is answered. The protocol
    appends the body to `body` and calls `message_event.set()` (at each part, at the end, and when
    the client goes away); a pipelined request waits while `response_complete` is false; `shutdown`
    clears `keep_alive`."""

    def __init__(self, protocol: BallotProtocol, ingress: BallotIngress, eid: int) -> None:
        self.protocol = protocol
        self.ingress = ingress
        self.eid = eid
        self.body = bytearray()
        self.more_body = True
        self.response_complete = False
        self.disconnected = False
        self.keep_alive = True
        self.message_event = self
        self.started = False

    def set(self) -> None:
        if self.more_body or self.started or self.disconnected:
            return
        self.started = True
        protocol = self.protocol
        task = protocol.loop.create_task(self.run())
        protocol.tasks.add(task)
        task.add_done_callback(protocol.tasks.discard)

    async def run(self) -> None:
        protocol = self.protocol
        client = protocol.client
        status, payload = await answer(self.ingress.state, client[0] if client else "unknown", bytes(self.body), self.eid)
        if self.disconnected:
            return
        head = [STATUS_LINE[status]]
        for name, value in protocol.server_state.default_headers:
            head += (name.lower(), b": ", value, b"\r\n")
        head += (self.ingress.header_block, b"content-length: %d\r\n\r\n" % len(payload), payload)
        protocol.transport.write(b"".join(head))
        self.response_complete = True
        if protocol.access_log:
            protocol.access_logger.info('%s - "%s %s HTTP/%s" %d', "%s:%d" % client if client else "", "POST", protocol.url.decode("latin-1"), "1.1", status)
        if not self.keep_alive:
            protocol.transport.close()
        protocol.on_response_complete()
