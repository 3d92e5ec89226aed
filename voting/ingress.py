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
from collections.abc import Mapping
from typing import Any

from litestar.datastructures import State
from litestar.types import ASGIApp, Receive, Scope, Send

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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = BALLOT_PATH.fullmatch(scope["path"])
            if match is not None:
                await self.cast(scope, receive, send, int(match[1]))
                return
        await self.app(scope, receive, send)

    async def cast(self, scope: Scope, receive: Receive, send: Send, eid: int) -> None:
        try:
            client = scope.get("client")
            body = functools.partial(read_body, scope, receive, BALLOT_MAX_BYTES)
            status, payload = await cast_ballot(self.state, client[0] if client else "unknown", body, eid)
        except _Disconnected:
            return
        except Exception as exc:
            parts = error_parts(exc)
            if parts is None:
                log.exception("unhandled error on POST %s", scope["path"])
                parts = (500, "internal_error", "internal server error")
            status, payload = parts[0], json.dumps({"error": parts[1], "detail": parts[2]}, ensure_ascii=False).encode()
        headers = [*self.headers, (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


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
