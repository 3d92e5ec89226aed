"""The publisher: committed events go to Litestar Channels, one channel per assembly.

`Ctx.publish` is called after a write transaction has committed, with its events in seq order.
The in-process memory backend is the default; with `KURULTAI_REDIS_URL` the Redis pub/sub backend
carries the events to every process. Neither keeps history: the event table does (outbox.py).
A message lost on the way (a crash between commit and publish, a Redis hiccup) is recovered by
the hubs, which fill every gap from the event log.
"""

from __future__ import annotations

import logging
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend

from kurultai.settings import Settings
from realtime.outbox import EventRecord
from realtime.schemas import BusMessage, bus_encoder

log = logging.getLogger("kurultai.realtime")

#: The Channels subscriber backlog of each hub (one subscriber per assembly and process).
#: Overflow drops the oldest message; the hub then sees a gap and reads it from the log.
HUB_BACKLOG = 10_000


def channel_name(settings: Settings, assembly_id: int) -> str:
    return f"{settings.redis_prefix}assembly.{assembly_id}"


def make_backend(settings: Settings) -> ChannelsBackend:
    if settings.redis_url:
        from litestar.channels.backends.redis import RedisChannelsPubSubBackend
        from redis.asyncio import Redis

        return RedisChannelsPubSubBackend(redis=Redis.from_url(settings.redis_url))
    return MemoryChannelsBackend()


def make_channels(settings: Settings) -> ChannelsPlugin:
    return ChannelsPlugin(
        backend=make_backend(settings),
        arbitrary_channels_allowed=True,
        subscriber_max_backlog=HUB_BACKLOG,
        subscriber_backlog_strategy="dropleft",
    )


def encode(event: EventRecord) -> bytes:
    return bus_encoder.encode(BusMessage(event.assembly_id, event.seq, event.type, event.ts_ms, event.data))


class ChannelsPublisher:
    """`await publisher(events)`: queue each committed event on its assembly's channel.

    `ChannelsPlugin.publish` only enqueues (it never waits on the network), so a write's caller
    is not slowed by the fan-out, and events of one call keep their order.
    """

    def __init__(self, channels: ChannelsPlugin, settings: Settings) -> None:
        self.channels = channels
        self.settings = settings

    async def __call__(self, events: list[EventRecord]) -> None:
        for event in events:
            try:
                self.channels.publish(encode(event), channel_name(self.settings, event.assembly_id))
            except RuntimeError as exc:  # not started (a CLI run): the log has the event anyway
                log.debug("event %s/%s not published: %s", event.assembly_id, event.seq, exc)
