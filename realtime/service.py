"""`Realtime`: the publisher, the Channels backend, the hub and the rights watch, built together by `create_app` and started and stopped inside its lifespan.

The Channels plugin is entered as a context manager inside that lifespan (rather than registered
as a Litestar plugin) so that the hub stops before the backend it subscribes to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from kurultai.settings import Settings
from realtime.hub import Hub
from realtime.publisher import ChannelsPublisher, make_channels
from realtime.rights import RIGHTS_CHECK_S, RightsWatch, wall_clock_ms
from realtime.snapshot import Section, SnapshotCache


class Realtime:
    """`clock` (milliseconds) decides when a socket's token has expired: pass the clock tokens
    are issued with. `rights_check_s` is how often open sockets are checked against their
    tokens and rights (realtime/rights.py)."""

    def __init__(
        self,
        settings: Settings,
        snapshot_sections: Mapping[str, Section] | None = None,
        *,
        clock: Callable[[], int] = wall_clock_ms,
        rights_check_s: float = RIGHTS_CHECK_S,
    ) -> None:
        self.settings = settings
        self.channels = make_channels(settings)
        self.publisher = ChannelsPublisher(self.channels, settings)
        self.hub = Hub(settings, self.channels)
        self.rights = RightsWatch(self.hub, clock, rights_check_s)
        self.snapshot_sections: dict[str, Section] = dict(snapshot_sections or {})
        self.snapshot_cache = SnapshotCache()

    def state(self) -> dict[str, Any]:
        return {"hub": self.hub, "realtime": self, "snapshot_sections": self.snapshot_sections, "snapshot_cache": self.snapshot_cache}

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self.channels:
            await self.hub.start()
            await self.rights.start()
            try:
                yield
            finally:
                await self.rights.stop()
                await self.hub.stop()
