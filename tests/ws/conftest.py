"""A real uvicorn server on the test's own event loop, and a `websockets` client helper.

The app is built with `create_app` on a temp SQLite file; tests act through the services with
the app's own `Ctx` (so events go through the real outbox, publisher and hub).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import websockets

from kurultai.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Live:
    app: Any
    port: int
    settings: Settings
    assembly: int

    @property
    def ctx(self) -> Any:
        return self.app.state.ctx

    def url(self, assembly: int | None = None, since: int | None = None) -> str:
        q = "" if since is None else f"?since={since}"
        return f"ws://127.0.0.1:{self.port}/ws/assemblies/{self.assembly if assembly is None else assembly}{q}"

    def connect(self, assembly: int | None = None, since: int | None = None, **kw: Any) -> Any:
        kw.setdefault("open_timeout", 5)
        return websockets.connect(self.url(assembly, since), **kw)

    def connect_raw(self, query: str, **kw: Any) -> Any:
        """A socket with the query string as given (`?view=live&lang=kk&since=3`)."""
        kw.setdefault("open_timeout", 5)
        return websockets.connect(f"ws://127.0.0.1:{self.port}/ws/assemblies/{self.assembly}{query}", **kw)

    async def emit(self, type_: str, data: dict[str, Any], assembly: int | None = None) -> int:
        """Commit one event through the outbox (as a service would) and return its seq."""
        aid = self.assembly if assembly is None else assembly

        async def run(tx: Any) -> int:
            return (await tx.emit(aid, type_, data)).seq

        return int(await self.ctx.write(run))


async def recv_json(ws: Any, timeout: float = 5.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_events(ws: Any, n: int, timeout: float = 10.0, *, skip_control: bool = True) -> list[dict[str, Any]]:
    """The next `n` event frames (heartbeats and pongs skipped)."""
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while len(out) < n:
            frame = json.loads(await ws.recv())
            if skip_control and frame["type"] in ("heartbeat", "pong"):
                continue
            out.append(frame)
    return out


ServerFactory = Callable[..., Awaitable[Live]]


@pytest.fixture
async def live_server(tmp_path: Path) -> AsyncIterator[ServerFactory]:
    """`await live_server(**settings_changes)` starts a server; all are stopped at the end."""
    from deliberation import assemblies
    from kurultai.web.app import create_app

    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(**changes: Any) -> Live:
        settings = Settings(data_dir=tmp_path / f"data{len(servers)}").with_(**changes)
        app = create_app(settings)
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws_max_size=settings.ws_max_frame_bytes, lifespan="on")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        servers.append((server, task))
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        a = await assemblies.create_assembly(app.state.ctx, "seed", title="Live assembly")
        return Live(app=app, port=port, settings=settings, assembly=a["id"])

    yield start
    for server, _task in servers:
        server.should_exit = True
    for _server, task in servers:
        try:
            await asyncio.wait_for(asyncio.shield(task), 8)
        except TimeoutError:
            import sys

            for t in asyncio.all_tasks():
                t.print_stack(file=sys.stderr)
            raise
